//! The walk behind `Model::validate`: each member is checked against its shape's type and
//! constraints, and every violation is worded the way AWS's front end words it.

use serde_json::Value;
use std::fmt::{self, Display, Write as _};

use super::{Model, ShapeKind};

/// Where a value sits in the request, in Coral's spelling: `primaryContainer.image`,
/// `tags.1.member.value`, `environment.KEY`. Lives on the stack; only rendered for errors.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'static str),
    Index(&'a Path<'a>, usize),
    Key(&'a Path<'a>, &'a str),
}

impl Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (parent, sep) = match self {
            Path::Root => return Ok(()),
            Path::Member(p, _) | Path::Index(p, _) | Path::Key(p, _) => {
                (p, !matches!(p, Path::Root))
            }
        };
        parent.fmt(f)?;
        if sep {
            f.write_char('.')?;
        }
        match self {
            Path::Root => Ok(()),
            Path::Member(_, name) => {
                let mut chars = name.chars();
                if let Some(first) = chars.next() {
                    f.write_char(first.to_ascii_lowercase())?;
                }
                f.write_str(chars.as_str())
            }
            Path::Index(_, i) => write!(f, "{}.member", i + 1),
            Path::Key(_, key) => f.write_str(key),
        }
    }
}

/// One constraint of a scalar shape, phrased as Coral phrases it.
pub(super) enum Constraint {
    MaxLength(i64),
    MinLength(i64),
    MaxValue(Bound),
    MinValue(Bound),
    Pattern(&'static str),
    Enum(&'static [&'static str]),
}

#[derive(Clone, Copy)]
pub(super) enum Bound {
    Int(i64),
    Float(f64),
}

impl Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Int(n) => write!(f, "{n}"),
            Bound::Float(x) => write!(f, "{x}"),
        }
    }
}

impl Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Constraint::MaxLength(n) => {
                write!(f, "Member must have length less than or equal to {n}")
            }
            Constraint::MinLength(n) => {
                write!(f, "Member must have length greater than or equal to {n}")
            }
            Constraint::MaxValue(b) => {
                write!(f, "Member must have value less than or equal to {b}")
            }
            Constraint::MinValue(b) => {
                write!(f, "Member must have value greater than or equal to {b}")
            }
            Constraint::Pattern(p) => {
                write!(f, "Member must satisfy regular expression pattern: {p}")
            }
            Constraint::Enum(values) => write!(
                f,
                "Member must satisfy enum value set: [{}]",
                values.join(", ")
            ),
        }
    }
}

pub(super) struct Validator<'m> {
    pub(super) model: &'m Model,
    /// Rendered errors; stays unallocated while the input is valid.
    pub(super) errors: Vec<String>,
}

/// `Err` carries a SerializationException message: a wrong type ends validation at once.
type Walk = Result<(), String>;

impl Validator<'_> {
    pub(super) fn value(&mut self, shape: &str, v: &Value, path: &Path<'_>) -> Walk {
        // Every target resolves in generated tables (a test checks); a miss is not the caller's fault.
        let Some(shape) = self.model.shape(shape) else {
            return Ok(());
        };
        match &shape.kind {
            ShapeKind::Structure { members, required } => {
                let Value::Object(obj) = v else {
                    return Err(type_error(path, "structure"));
                };
                for m in members.iter() {
                    let member_path = Path::Member(path, m.name);
                    match obj.get(m.name) {
                        None | Some(Value::Null) if required.contains(&m.name) => {
                            self.push(None, &member_path, "Member must not be null")
                        }
                        None | Some(Value::Null) => {}
                        Some(x) => self.value(m.target, x, &member_path)?,
                    }
                }
                Ok(())
            }
            ShapeKind::List { member, min, max } => {
                let Value::Array(items) = v else {
                    return Err(type_error(path, "list"));
                };
                self.length(v, items.len(), *min, *max, path);
                let elements = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| (Path::Index(path, i), x));
                self.entries(member, "Member must satisfy constraint", v, path, elements)
            }
            ShapeKind::Map {
                key,
                value,
                min,
                max,
            } => {
                let Value::Object(obj) = v else {
                    return Err(type_error(path, "map"));
                };
                self.length(v, obj.len(), *min, *max, path);
                if let Some(key_shape) = self.model.shape(key)
                    && !obj.keys().all(|k| string_ok(&key_shape.kind, k))
                {
                    self.push_aggregate(
                        v,
                        path,
                        "Map keys must satisfy constraint",
                        &key_shape.kind,
                    );
                }
                let values = obj.iter().map(|(k, x)| (Path::Key(path, k), x));
                self.entries(value, "Map value must satisfy constraint", v, path, values)
            }
            kind => {
                check_type(kind, v, path)?;
                let shown = match kind {
                    ShapeKind::String {
                        sensitive: true, ..
                    } => Shown::Hidden,
                    _ => Shown::Value(v),
                };
                violations(kind, v, |c| self.push(Some(shown), path, c));
                Ok(())
            }
        }
    }

    /// The elements of a list or the values of a map, all of shape `target`. Coral reports scalars
    /// that break their constraints once, against the whole collection (`{what}: [...]`); other
    /// shapes are walked one by one.
    fn entries<'a>(
        &mut self,
        target: &str,
        what: &str,
        whole: &Value,
        path: &Path<'_>,
        entries: impl Iterator<Item = (Path<'a>, &'a Value)>,
    ) -> Walk {
        let Some(shape) = self.model.shape(target) else {
            return Ok(());
        };
        if is_scalar(&shape.kind) {
            let mut bad = false;
            for (entry_path, x) in entries {
                bad |= !self.scalar_ok(&shape.kind, x, &entry_path)?;
            }
            if bad {
                self.push_aggregate(whole, path, what, &shape.kind);
            }
            return Ok(());
        }
        for (entry_path, x) in entries {
            if x.is_null() {
                self.push(None, &entry_path, "Member must not be null");
            } else {
                self.value(target, x, &entry_path)?;
            }
        }
        Ok(())
    }

    /// Length of a list or map; strings and blobs are checked in `violations`.
    fn length(
        &mut self,
        v: &Value,
        len: usize,
        min: Option<i64>,
        max: Option<i64>,
        path: &Path<'_>,
    ) {
        length_violations(len, min, max, &mut |c| {
            self.push(Some(Shown::Value(v)), path, c)
        });
    }

    /// Type-checks one scalar element (a wrong type is still a SerializationException) and says
    /// whether it meets its shape's constraints. A null element fails them.
    fn scalar_ok(&mut self, kind: &ShapeKind, x: &Value, path: &Path<'_>) -> Result<bool, String> {
        if x.is_null() {
            return Ok(false);
        }
        check_type(kind, x, path)?;
        let mut ok = true;
        violations(kind, x, |_| ok = false);
        Ok(ok)
    }

    /// `Value '{v}' at '{path}' failed to satisfy constraint: {what}: [every constraint of the shape]`.
    fn push_aggregate(&mut self, v: &Value, path: &Path<'_>, what: &str, element: &ShapeKind) {
        let mut all = String::new();
        for (i, c) in constraints(element).into_iter().flatten().enumerate() {
            if i > 0 {
                all.push_str(", ");
            }
            all.push_str(&c.to_string());
        }
        self.push(Some(Shown::Value(v)), path, format_args!("{what}: [{all}]"));
    }

    pub(super) fn push(
        &mut self,
        value: Option<Shown<'_>>,
        path: &Path<'_>,
        constraint: impl Display,
    ) {
        let value = match value {
            None => " null".to_string(),
            Some(Shown::Hidden) => String::new(),
            Some(Shown::Value(v)) => {
                let mut s = String::from(" '");
                render(v, &mut s);
                s.push('\'');
                s
            }
        };
        self.errors.push(format!(
            "Value{value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }
}

/// How a value appears in an error: quoted, or left out when the model marks it sensitive.
#[derive(Clone, Copy)]
pub(super) enum Shown<'a> {
    Value(&'a Value),
    Hidden,
}

fn is_scalar(kind: &ShapeKind) -> bool {
    !matches!(
        kind,
        ShapeKind::Structure { .. } | ShapeKind::List { .. } | ShapeKind::Map { .. }
    )
}

fn type_error(path: &Path<'_>, expected: &str) -> String {
    format!("Unexpected value type for member '{path}': expected {expected}")
}

/// The JSON type awsJson uses for each scalar shape.
fn check_type(kind: &ShapeKind, v: &Value, path: &Path<'_>) -> Walk {
    let (ok, expected) = match kind {
        ShapeKind::String { .. } => (v.is_string(), "string"),
        ShapeKind::Blob { .. } => (v.is_string(), "base64 string"),
        ShapeKind::Boolean => (v.is_boolean(), "boolean"),
        ShapeKind::Integer { .. } => (
            v.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "integer",
        ),
        ShapeKind::Long { .. } => (v.as_i64().is_some(), "long"),
        ShapeKind::Float { .. } | ShapeKind::Double { .. } => (v.is_number(), "number"),
        ShapeKind::Timestamp => (
            v.is_number()
                || v.as_str()
                    .is_some_and(|s| crate::aws::time::parse_timestamp(s).is_some()),
            "timestamp",
        ),
        ShapeKind::Structure { .. } | ShapeKind::List { .. } | ShapeKind::Map { .. } => (true, ""),
    };
    if ok {
        Ok(())
    } else {
        Err(type_error(path, expected))
    }
}

/// Calls `failed` for each constraint a type-checked scalar breaks, in Coral's order.
pub(super) fn violations(kind: &ShapeKind, v: &Value, mut failed: impl FnMut(Constraint)) {
    match (kind, v) {
        (ShapeKind::String { .. }, Value::String(s)) => string_violations(kind, s, &mut failed),
        (ShapeKind::Blob { min, max }, Value::String(s)) => {
            length_violations(base64_decoded_len(s), *min, *max, &mut failed);
        }
        (ShapeKind::Integer { min, max } | ShapeKind::Long { min, max }, Value::Number(n)) => {
            if let Some(n) = n.as_i64() {
                range_violations(n, *min, *max, Bound::Int, &mut failed);
            }
        }
        (ShapeKind::Float { min, max } | ShapeKind::Double { min, max }, Value::Number(n)) => {
            if let Some(x) = n.as_f64() {
                range_violations(x, *min, *max, Bound::Float, &mut failed);
            }
        }
        _ => {}
    }
}

fn string_violations(kind: &ShapeKind, s: &str, failed: &mut impl FnMut(Constraint)) {
    let ShapeKind::String {
        min,
        max,
        pattern,
        enum_values,
        ..
    } = kind
    else {
        return;
    };
    if let Some(p) = pattern.filter(|p| !p.is_match(s)) {
        failed(Constraint::Pattern(p.source));
    }
    length_violations(s.chars().count(), *min, *max, failed);
    if !enum_values.is_empty() && !enum_values.contains(&s) {
        failed(Constraint::Enum(enum_values));
    }
}

fn length_violations(
    len: usize,
    min: Option<i64>,
    max: Option<i64>,
    failed: &mut impl FnMut(Constraint),
) {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    if let Some(max) = max.filter(|&max| len > max) {
        failed(Constraint::MaxLength(max));
    }
    if let Some(min) = min.filter(|&min| len < min) {
        failed(Constraint::MinLength(min));
    }
}

fn range_violations<T: PartialOrd + Copy>(
    x: T,
    min: Option<T>,
    max: Option<T>,
    bound: fn(T) -> Bound,
    failed: &mut impl FnMut(Constraint),
) {
    if let Some(max) = max.filter(|&max| x > max) {
        failed(Constraint::MaxValue(bound(max)));
    }
    if let Some(min) = min.filter(|&min| x < min) {
        failed(Constraint::MinValue(bound(min)));
    }
}

/// Whether a map key meets its (string) shape's constraints.
fn string_ok(kind: &ShapeKind, key: &str) -> bool {
    let mut ok = true;
    string_violations(kind, key, &mut |_| ok = false);
    ok
}

/// Every constraint a scalar shape declares, as Coral lists them inside `[...]`: max, min, pattern, enum.
fn constraints(kind: &ShapeKind) -> [Option<Constraint>; 4] {
    match kind {
        ShapeKind::String {
            min,
            max,
            pattern,
            enum_values,
            ..
        } => [
            max.map(Constraint::MaxLength),
            min.map(Constraint::MinLength),
            pattern.map(|p| Constraint::Pattern(p.source)),
            (!enum_values.is_empty()).then_some(Constraint::Enum(enum_values)),
        ],
        ShapeKind::Blob { min, max } => [
            max.map(Constraint::MaxLength),
            min.map(Constraint::MinLength),
            None,
            None,
        ],
        ShapeKind::Integer { min, max } | ShapeKind::Long { min, max } => [
            max.map(|n| Constraint::MaxValue(Bound::Int(n))),
            min.map(|n| Constraint::MinValue(Bound::Int(n))),
            None,
            None,
        ],
        ShapeKind::Float { min, max } | ShapeKind::Double { min, max } => [
            max.map(|x| Constraint::MaxValue(Bound::Float(x))),
            min.map(|x| Constraint::MinValue(Bound::Float(x))),
            None,
            None,
        ],
        _ => [None, None, None, None],
    }
}

/// Bytes that a base64 text decodes to, without decoding it.
fn base64_decoded_len(s: &str) -> usize {
    let s = s.trim_end_matches('=');
    s.len() * 3 / 4
}

/// A value as Java's `toString` would show it: `abc`, `5`, `[a, b]`, `{k=v}`.
fn render(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => {
            out.push_str(if *b { "true" } else { "false" });
        }
        Value::Number(n) => {
            out.push_str(&n.to_string());
        }
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(x, out);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            out.push('{');
            for (i, (k, x)) in obj.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                render(x, out);
            }
            out.push('}');
        }
    }
}

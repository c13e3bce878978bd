//! Request validation against botocore's service models, the way AWS's "Coral" front end does it.
//!
//! `tools/gen_models.py` turns each botocore model into a table module (`sagemaker`, `logs`): the
//! operations sagebox implements, the shapes their inputs reach, and every operation name in the
//! model; `typed` holds serde types for those shapes, and `unicode` the character classes the
//! tables' patterns share. This module holds the table types and the one validator that walks a parsed awsJson body
//! against them. Wrong JSON types are a `SerializationException`; constraint violations are all
//! collected, in model order, into one `ValidationException` worded exactly as AWS words it.
//!
//! Validation runs on every request, so a valid body allocates nothing: shapes are found by binary
//! search, paths are built on the stack, and text is only formatted once something is wrong.

#[rustfmt::skip]
pub mod logs;
#[rustfmt::skip]
pub mod sagemaker;
pub mod typed;
#[rustfmt::skip]
pub mod unicode;

use std::fmt::{self, Display, Write as _};
use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

/// One AWS service's tables, as generated.
pub struct Model {
    pub service: &'static str,
    /// The operations sagebox implements, sorted by name.
    pub operations: &'static [Operation],
    /// The shapes reachable from those operations' inputs, sorted by name.
    pub shapes: &'static [Shape],
    /// Every operation in the botocore model, sorted.
    pub all_operations: &'static [&'static str],
}

pub struct Operation {
    pub name: &'static str,
    /// The input shape's name; `None` for operations that take no input.
    pub input: Option<&'static str>,
}

pub struct Shape {
    pub name: &'static str,
    pub kind: ShapeKind,
}

/// A botocore shape type with the constraints AWS checks. Lengths count characters for strings,
/// elements for lists, entries for maps and bytes for blobs.
pub enum ShapeKind {
    Structure {
        members: &'static [Member],
        required: &'static [&'static str],
    },
    List {
        member: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    Map {
        key: &'static str,
        value: &'static str,
        min: Option<i64>,
        max: Option<i64>,
    },
    String {
        min: Option<i64>,
        max: Option<i64>,
        pattern: Option<&'static Pattern>,
        /// Allowed values in model order; empty when any value is allowed.
        enum_values: &'static [&'static str],
        /// AWS leaves sensitive values out of its error messages.
        sensitive: bool,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Long {
        min: Option<i64>,
        max: Option<i64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    Double {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    /// Epoch seconds as a JSON number, or a date string.
    Timestamp,
    /// Base64 text on the wire.
    Blob {
        min: Option<i64>,
        max: Option<i64>,
    },
}

/// A structure member: its wire name and the name of its shape.
pub struct Member {
    pub name: &'static str,
    pub target: &'static str,
}

/// A model pattern. `source` is the model's (Java) text, which error messages quote; `rust` is the
/// same pattern in `regex` syntax, in pieces to concatenate (empty: `source` as is). It compiles on
/// first use, anchored to the whole value as Java's `matches()` is.
pub struct Pattern {
    pub source: &'static str,
    rust: &'static [&'static str],
    regex: OnceLock<Option<Regex>>,
}

impl Pattern {
    pub const fn new(source: &'static str, rust: &'static [&'static str]) -> Self {
        Pattern {
            source,
            rust,
            regex: OnceLock::new(),
        }
    }

    /// The compiled pattern, or `None` if the generator could not express it for `regex`; the
    /// check is then skipped (the tests keep that list empty for the generated tables).
    pub fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| {
                let mut text = String::from("^(?:");
                if self.rust.is_empty() {
                    text.push_str(self.source);
                } else {
                    self.rust.iter().for_each(|piece| text.push_str(piece));
                }
                text.push_str(")$");
                match Regex::new(&text) {
                    Ok(re) => Some(re),
                    Err(e) => {
                        tracing::warn!(pattern = self.source, error = %e, "model pattern not checked");
                        None
                    }
                }
            })
            .as_ref()
    }

    fn is_match(&self, value: &str) -> bool {
        self.regex().is_none_or(|re| re.is_match(value))
    }
}

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// Wrong JSON type for a member, or a body that is not an object: awsJson `SerializationException`.
    #[error("{0}")]
    Serialization(String),
    /// Constraint violations: `ValidationException`, worded as AWS does.
    #[error("{0}")]
    Validation(String),
}

impl Model {
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        let i = self
            .operations
            .binary_search_by(|op| op.name.cmp(name))
            .ok()?;
        Some(&self.operations[i])
    }

    /// Whether the service has this operation at all, implemented by sagebox or not.
    pub fn is_known_operation(&self, name: &str) -> bool {
        self.all_operations.binary_search(&name).is_ok()
    }

    pub fn shape(&self, name: &str) -> Option<&Shape> {
        let i = self.shapes.binary_search_by(|s| s.name.cmp(name)).ok()?;
        Some(&self.shapes[i])
    }

    /// Checks members against operation `op`'s input shape by name, as a request of the API
    /// would be (the console builds requests from forms); the message is AWS's.
    pub fn validate_named(&self, op: &str, input: &Value) -> Result<(), String> {
        let Some(operation) = self.operation(op) else {
            return Err(format!("{op} is not implemented"));
        };
        self.validate(operation, input).map_err(|e| e.to_string())
    }

    /// Validate an awsJson request body (already parsed) against the operation's input shape.
    pub fn validate(&self, op: &Operation, input: &Value) -> Result<(), InputError> {
        let Some(shape) = op.input else { return Ok(()) };
        if !input.is_object() {
            return Err(InputError::Serialization(
                "The request body must be a JSON object.".into(),
            ));
        }
        let mut v = Validator {
            model: self,
            errors: Vec::new(),
        };
        v.value(shape, input, &Path::Root)
            .map_err(InputError::Serialization)?;
        match v.errors.len() {
            0 => Ok(()),
            n => Err(InputError::Validation(format!(
                "{n} validation error{} detected: {}",
                if n == 1 { "" } else { "s" },
                v.errors.join("; ")
            ))),
        }
    }
}

/// Where a value sits in the request, in Coral's spelling: `primaryContainer.image`,
/// `tags.1.member.value`, `environment.KEY`. Lives on the stack; only rendered for errors.
#[derive(Clone, Copy)]
enum Path<'a> {
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
enum Constraint {
    MaxLength(i64),
    MinLength(i64),
    MaxValue(Bound),
    MinValue(Bound),
    Pattern(&'static str),
    Enum(&'static [&'static str]),
}

#[derive(Clone, Copy)]
enum Bound {
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

struct Validator<'m> {
    model: &'m Model,
    /// Rendered errors; stays unallocated while the input is valid.
    errors: Vec<String>,
}

/// `Err` carries a SerializationException message: a wrong type ends validation at once.
type Walk = Result<(), String>;

impl Validator<'_> {
    fn value(&mut self, shape: &str, v: &Value, path: &Path<'_>) -> Walk {
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

    fn push(&mut self, value: Option<Shown<'_>>, path: &Path<'_>, constraint: impl Display) {
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
enum Shown<'a> {
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
fn violations(kind: &ShapeKind, v: &Value, mut failed: impl FnMut(Constraint)) {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(model: &Model, op: &str, input: Value) -> Result<(), InputError> {
        model.validate(model.operation(op).expect("implemented operation"), &input)
    }

    fn validation(model: &Model, op: &str, input: Value) -> String {
        match check(model, op, input) {
            Err(InputError::Validation(m)) => m,
            other => panic!("expected a ValidationException, got {other:?}"),
        }
    }

    fn create_model() -> Value {
        json!({
            "ModelName": "my-model",
            "PrimaryContainer": {
                "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1",
                "ModelDataUrl": "s3://bucket/model.tar.gz",
                "Environment": {"SAGEMAKER_PROGRAM": "serve.py"}
            },
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "Tags": [{"Key": "team", "Value": "Grüße ½ ml"}],
            "EnableNetworkIsolation": false,
            "SomethingNew": {"ignored": true}
        })
    }

    #[test]
    fn valid_create_model_passes() {
        assert_eq!(
            check(&sagemaker::MODEL, "CreateModel", create_model()),
            Ok(())
        );
    }

    #[test]
    fn missing_required_member_is_not_null() {
        assert_eq!(
            validation(&sagemaker::MODEL, "CreateModel", json!({})),
            "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: \
             Member must not be null"
        );
        // JSON null counts as absent.
        let msg = validation(
            &sagemaker::MODEL,
            "DescribeModel",
            json!({"ModelName": null}),
        );
        assert!(msg.ends_with(
            "Value null at 'modelName' failed to satisfy constraint: Member must not be null"
        ));
    }

    #[test]
    fn too_long_name_reports_max_length() {
        let mut body = create_model();
        body["ModelName"] = json!("a".repeat(64));
        assert_eq!(
            validation(&sagemaker::MODEL, "CreateModel", body),
            format!(
                "1 validation error detected: Value '{}' at 'modelName' failed to satisfy constraint: \
                 Member must have length less than or equal to 63",
                "a".repeat(64)
            )
        );
    }

    #[test]
    fn pattern_mismatch_quotes_the_model_pattern() {
        let msg = validation(
            &sagemaker::MODEL,
            "DescribeModel",
            json!({"ModelName": "my_model"}),
        );
        assert_eq!(
            msg,
            r"1 validation error detected: Value 'my_model' at 'modelName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?"
        );
        // The whole value must match, not a substring.
        assert!(
            check(
                &sagemaker::MODEL,
                "DescribeModel",
                json!({"ModelName": "ok-"})
            )
            .is_err()
        );
    }

    #[test]
    fn enum_mismatch_lists_values_in_model_order() {
        assert_eq!(
            validation(&sagemaker::MODEL, "ListModels", json!({"SortBy": "Size"})),
            "1 validation error detected: Value 'Size' at 'sortBy' failed to satisfy constraint: \
             Member must satisfy enum value set: [Name, CreationTime]"
        );
    }

    #[test]
    fn integer_range_is_checked_both_ways() {
        let prefix = "1 validation error detected: Value";
        assert_eq!(
            validation(&sagemaker::MODEL, "ListModels", json!({"MaxResults": 0})),
            format!(
                "{prefix} '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
            )
        );
        assert_eq!(
            validation(&sagemaker::MODEL, "ListModels", json!({"MaxResults": 101})),
            format!(
                "{prefix} '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100"
            )
        );
        assert_eq!(
            check(&sagemaker::MODEL, "ListModels", json!({"MaxResults": 100})),
            Ok(())
        );
    }

    #[test]
    fn list_elements_are_named_index_then_member() {
        let mut body = create_model();
        body["Tags"] = json!([{"Key": "a", "Value": "b"}, {"Key": "c"}]);
        assert_eq!(
            validation(&sagemaker::MODEL, "CreateModel", body),
            "1 validation error detected: Value null at 'tags.2.member.value' failed to satisfy constraint: \
             Member must not be null"
        );
    }

    #[test]
    fn errors_are_all_reported_in_model_order() {
        let body = json!({
            "ModelName": "bad_name",
            "PrimaryContainer": {"Image": "x".repeat(300)},
            "ExecutionRoleArn": "role"
        });
        let msg = validation(&sagemaker::MODEL, "CreateModel", body);
        assert!(
            msg.starts_with("4 validation errors detected: Value 'bad_name' at 'modelName' "),
            "{msg}"
        );
        let paths: Vec<_> = msg
            .split("; ")
            .map(|e| e.split('\'').nth(3).unwrap_or_default())
            .collect();
        assert_eq!(
            paths,
            [
                "modelName",
                "primaryContainer.image",
                "executionRoleArn",
                "executionRoleArn"
            ]
        );
        assert!(msg.contains(
            "Value 'role' at 'executionRoleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: \
             arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+; Value 'role' at 'executionRoleArn' \
             failed to satisfy constraint: Member must have length greater than or equal to 20"
        ));
    }

    #[test]
    fn bad_scalar_list_elements_are_reported_once_for_the_list() {
        let mut body = create_model();
        body["VpcConfig"] =
            json!({"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-1", "bad subnet"]});
        assert_eq!(
            validation(&sagemaker::MODEL, "CreateModel", body),
            "1 validation error detected: Value '[subnet-1, bad subnet]' at 'vpcConfig.subnets' failed to satisfy \
             constraint: Member must satisfy constraint: [Member must have length less than or equal to 32, \
             Member must have length greater than or equal to 0, Member must satisfy regular expression pattern: [-0-9a-zA-Z]+]"
        );
    }

    #[test]
    fn bad_map_keys_are_reported_for_the_map() {
        let mut body = create_model();
        body["PrimaryContainer"]["Environment"] = json!({"1BAD": "x"});
        let msg = validation(&sagemaker::MODEL, "CreateModel", body);
        assert!(msg.starts_with(
            "1 validation error detected: Value '{1BAD=x}' at 'primaryContainer.environment' failed to satisfy \
             constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024"
        ), "{msg}");
    }

    #[test]
    fn wrong_json_type_is_a_serialization_error() {
        assert_eq!(
            check(&sagemaker::MODEL, "ListModels", json!({"MaxResults": "10"})),
            Err(InputError::Serialization(
                "Unexpected value type for member 'maxResults': expected integer".into()
            ))
        );
        assert!(matches!(
            check(
                &sagemaker::MODEL,
                "CreateModel",
                json!({"ModelName": "m", "Tags": {"Key": "a"}})
            ),
            Err(InputError::Serialization(_))
        ));
        assert!(matches!(
            check(&sagemaker::MODEL, "ListModels", json!([])),
            Err(InputError::Serialization(_))
        ));
        // A type error wins over constraint errors found before it.
        assert!(matches!(
            check(
                &sagemaker::MODEL,
                "ListModels",
                json!({"SortBy": "x", "MaxResults": 1.5})
            ),
            Err(InputError::Serialization(_))
        ));
    }

    #[test]
    fn logs_requests_validate() {
        let put = json!({
            "logGroupName": "/aws/sagemaker/Endpoints/e",
            "logStreamName": "AllTraffic/i-0",
            "logEvents": [{"timestamp": 1_700_000_000_000_i64, "message": "hello"}]
        });
        assert_eq!(check(&logs::MODEL, "PutLogEvents", put), Ok(()));
        let msg = validation(
            &logs::MODEL,
            "CreateLogGroup",
            json!({"logGroupName": "bad name"}),
        );
        assert!(
            msg.starts_with("1 validation error detected: Value 'bad name' at 'logGroupName' "),
            "{msg}"
        );
        assert_eq!(
            check(
                &logs::MODEL,
                "CreateLogGroup",
                json!({"logGroupName": "g", "tags": {"Grüße": "½ ²"}})
            ),
            Ok(())
        );
        assert!(
            check(
                &logs::MODEL,
                "CreateLogGroup",
                json!({"logGroupName": "g", "tags": {"a": "no*"}})
            )
            .is_err()
        );
    }

    #[test]
    fn operations_known_and_implemented_are_told_apart() {
        let m = &sagemaker::MODEL;
        assert!(m.is_known_operation("CreateProcessingJob"));
        assert!(m.operation("CreateProcessingJob").is_none());
        assert!(m.operation("CreateModel").is_some());
        assert!(!m.is_known_operation("CreateTeapot"));
        assert!(logs::MODEL.is_known_operation("PutLogEvents"));
    }

    #[test]
    fn tables_are_sorted_and_every_target_resolves() {
        for model in [&sagemaker::MODEL, &logs::MODEL] {
            assert!(model.shapes.windows(2).all(|w| w[0].name < w[1].name));
            assert!(model.operations.windows(2).all(|w| w[0].name < w[1].name));
            assert!(model.all_operations.windows(2).all(|w| w[0] < w[1]));
            let resolves = |name: &str| {
                assert!(
                    model.shape(name).is_some(),
                    "{}: no shape {name}",
                    model.service
                )
            };
            for op in model.operations {
                assert!(model.is_known_operation(op.name));
                op.input.map(resolves);
            }
            for shape in model.shapes {
                match &shape.kind {
                    ShapeKind::Structure { members, required } => {
                        members.iter().for_each(|m| resolves(m.target));
                        assert!(
                            required
                                .iter()
                                .all(|r| members.iter().any(|m| m.name == *r))
                        );
                    }
                    ShapeKind::List { member, .. } => resolves(member),
                    ShapeKind::Map { key, value, .. } => {
                        resolves(key);
                        resolves(value);
                    }
                    _ => {}
                }
            }
        }
    }

    #[test]
    fn every_model_pattern_compiles() {
        let mut broken = Vec::new();
        for model in [&sagemaker::MODEL, &logs::MODEL] {
            for shape in model.shapes {
                if let ShapeKind::String {
                    pattern: Some(p), ..
                } = &shape.kind
                    && p.regex().is_none()
                {
                    broken.push(format!("{}.{}: {}", model.service, shape.name, p.source));
                }
            }
        }
        assert!(
            broken.is_empty(),
            "patterns that would go unchecked: {broken:#?}"
        );
    }

    #[test]
    fn java_pattern_semantics_are_kept() {
        let p = |model: &Model, name: &str| match model.shape(name).map(|s| &s.kind) {
            Some(ShapeKind::String {
                pattern: Some(p), ..
            }) => *p,
            _ => panic!("{name} has no pattern"),
        };
        // Java's \d is ASCII; Rust's would take Arabic-Indic digits.
        assert!(p(&logs::MODEL, "AccountId").is_match("123456789012"));
        assert!(!p(&logs::MODEL, "AccountId").is_match("١٢٣٤٥٦٧٨٩٠١٢"));
        // Java's '.' stops at line terminators.
        assert!(!p(&sagemaker::MODEL, "RoleArn").is_match("arn:aws:iam::123456789012:role/a\nb"));
        // (?<!-) rewritten: a versioned name may not end with '-'.
        let versioned = p(&sagemaker::MODEL, "VersionedArnOrName");
        assert!(versioned.is_match("my-package"));
        assert!(
            versioned
                .is_match("arn:aws:sagemaker:us-east-1:123456789012:model-package/my-package/3")
        );
        assert!(!versioned.is_match("my-package-"));
        // \p{L}\p{Z}\p{N} spelled out: letters, spaces and numbers of any script.
        let tag = p(&sagemaker::MODEL, "TagValue");
        assert!(tag.is_match("Grüße 東京 ½ ٣"));
        assert!(!tag.is_match("tab\there"));
    }

    #[test]
    fn sensitive_values_are_left_out() {
        let mut v = Validator {
            model: &sagemaker::MODEL,
            errors: Vec::new(),
        };
        let kind = ShapeKind::String {
            min: Some(5),
            max: None,
            pattern: None,
            enum_values: &[],
            sensitive: true,
        };
        let shown = Shown::Hidden;
        violations(&kind, &json!("abc"), |c| {
            v.push(Some(shown), &Path::Member(&Path::Root, "Secret"), c)
        });
        assert_eq!(
            v.errors,
            [
                "Value at 'secret' failed to satisfy constraint: Member must have length greater than or equal to 5"
            ]
        );
    }
}

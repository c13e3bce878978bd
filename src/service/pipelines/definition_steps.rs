//! How `Definition::parse` reads one step object: its members, and for a Condition step its
//! branches, which become steps of their own beside it.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::super::expr;
use super::{CacheConfig, PropertyFile, RETRY_EXCEPTION_TYPES, RetryPolicy, STEP_TYPES, StepDef};

/// The Step members `StepDef` holds in fields of their own; any other member goes to `extra`.
const STEP_MEMBERS: &[&str] = &[
    "Name",
    "Type",
    "Arguments",
    "DependsOn",
    "DisplayName",
    "Description",
    "CacheConfig",
    "RetryPolicies",
    "PropertyFiles",
    "OutputParameters",
];

/// The SDK's caps on a retry policy (`sagemaker.workflow.retry`).
const MAX_ATTEMPTS_CAP: u64 = 20;
const MAX_EXPIRE_AFTER_MIN: u64 = 14400;

/// Reads `list` (a Steps list or a Condition's IfSteps/ElseSteps) into `out`, each step before
/// the steps of its own branches. Names must be unique across everything already in `out`.
pub(super) fn parse_steps(
    list: &[Value],
    branch_of: Option<(String, bool)>,
    out: &mut Vec<StepDef>,
) -> Result<(), String> {
    for (i, raw) in list.iter().enumerate() {
        let Some(obj) = raw.as_object() else {
            return Err(format!(
                "Invalid pipeline definition: step {} is not a JSON object",
                where_(&branch_of, i)
            ));
        };
        let (mut step, branches) = parse_step(obj, &branch_of, i)?;
        if out.iter().any(|s| s.name == step.name) {
            return Err(format!(
                "Invalid pipeline definition: step name '{}' is used more than once",
                step.name
            ));
        }
        let name = step.name.clone();
        let Some((if_list, else_list)) = branches else {
            out.push(step);
            continue;
        };
        step.if_steps = names_of(&if_list);
        step.else_steps = names_of(&else_list);
        out.push(step);
        parse_steps(&if_list, Some((name.clone(), true)), out)?;
        parse_steps(&else_list, Some((name, false)), out)?;
    }
    Ok(())
}

fn where_(branch_of: &Option<(String, bool)>, i: usize) -> String {
    match branch_of {
        None => format!("Steps[{i}]"),
        Some((c, true)) => format!("'{c}' IfSteps[{i}]"),
        Some((c, false)) => format!("'{c}' ElseSteps[{i}]"),
    }
}

fn names_of(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter_map(|s| s.get("Name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

type Branches = Option<(Vec<Value>, Vec<Value>)>;

/// One step's own members; for a Condition step also its IfSteps and ElseSteps, unparsed.
fn parse_step(
    obj: &Map<String, Value>,
    branch_of: &Option<(String, bool)>,
    i: usize,
) -> Result<(StepDef, Branches), String> {
    let name = match obj.get("Name") {
        Some(Value::String(n)) if valid_step_name(n) => n.clone(),
        Some(n) => {
            return Err(format!(
                "Invalid pipeline definition: step name {n} must be 1 to 64 letters, digits, \
                 '-' or '_'"
            ));
        }
        None => {
            return Err(format!(
                "Invalid pipeline definition: step {} has no Name",
                where_(branch_of, i)
            ));
        }
    };
    let err = |msg: String| format!("Invalid pipeline definition: step '{name}': {msg}");
    let kind = match obj.get("Type").and_then(Value::as_str) {
        Some(t) if STEP_TYPES.contains(&t) => t.to_string(),
        Some(t) => {
            return Err(err(format!(
                "Type '{t}' is not one of {}",
                STEP_TYPES.join(", ")
            )));
        }
        None => return Err(err("Type is required".into())),
    };
    let mut arguments = match obj.get("Arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v.clone(),
        // A Lambda's or Callback's inputs are an object too; anything else is not a request.
        Some(_) => return Err(err("Arguments must be a JSON object".into())),
    };
    let mut branches = None;
    if kind == "Condition" {
        let (conditions, if_list, else_list) = condition_arguments(&arguments).map_err(err)?;
        arguments = Value::Object(Map::from_iter([(
            "Conditions".to_string(),
            Value::Array(conditions),
        )]));
        branches = Some((if_list, else_list));
    }
    let depends_on = string_list(obj.get("DependsOn"))
        .ok_or_else(|| err("DependsOn must be a list of step names".into()))?;
    if depends_on.contains(&name) {
        return Err(err("a step cannot depend on itself".into()));
    }
    let extra: BTreeMap<String, Value> = obj
        .iter()
        .filter(|(k, _)| !STEP_MEMBERS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut references = expr::references(&arguments);
    for v in extra.values() {
        references.extend(expr::references(v));
    }
    let step = StepDef {
        display_name: optional_string(obj, "DisplayName").map_err(err)?,
        description: optional_string(obj, "Description").map_err(err)?,
        cache: parse_cache(obj.get("CacheConfig")).map_err(err)?,
        retry_policies: parse_retry_policies(obj.get("RetryPolicies")).map_err(err)?,
        property_files: parse_property_files(obj.get("PropertyFiles")).map_err(err)?,
        output_parameters: parse_output_parameters(obj.get("OutputParameters")).map_err(err)?,
        name,
        kind,
        arguments,
        depends_on,
        references,
        branch_of: branch_of.clone(),
        if_steps: Vec::new(),
        else_steps: Vec::new(),
        extra,
    };
    Ok((step, branches))
}

/// A Condition step's (Conditions, IfSteps, ElseSteps).
type ConditionArguments = (Vec<Value>, Vec<Value>, Vec<Value>);

fn condition_arguments(args: &Value) -> Result<ConditionArguments, String> {
    let conditions = match args.get("Conditions") {
        Some(Value::Array(c)) if !c.is_empty() => c.clone(),
        _ => return Err("a Condition step needs a non-empty Conditions list".into()),
    };
    if let Some(bad) = conditions.iter().find(|c| !c.is_object()) {
        return Err(format!("condition {bad} is not a JSON object"));
    }
    let branch = |key: &str| match args.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => Ok(list.clone()),
        Some(_) => Err(format!("{key} must be a list of steps")),
    };
    Ok((conditions, branch("IfSteps")?, branch("ElseSteps")?))
}

fn valid_step_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn optional_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn string_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(_) => None,
    }
}

/// `CacheConfig`: None when absent or not Enabled.
fn parse_cache(v: Option<&Value>) -> Result<Option<CacheConfig>, String> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let enabled = match v.get("Enabled") {
        Some(Value::Bool(b)) => *b,
        _ => return Err("CacheConfig.Enabled must be true or false".into()),
    };
    if !enabled {
        return Ok(None);
    }
    let expire_after_secs = match v.get("ExpireAfter") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(iso8601_duration_secs(s).ok_or_else(|| {
            format!("CacheConfig.ExpireAfter '{s}' is not an ISO 8601 duration (e.g. PT1H, P30D)")
        })?),
        Some(other) => {
            return Err(format!(
                "CacheConfig.ExpireAfter {other} is not an ISO 8601 duration"
            ));
        }
    };
    Ok(Some(CacheConfig { expire_after_secs }))
}

/// An ISO 8601 duration (`P[nY][nM][nW][nD][T[nH][nM][nS]]`) in seconds; a year counts 365
/// days and a month 30, as a cache lifetime needs no calendar.
pub fn iso8601_duration_secs(text: &str) -> Option<f64> {
    let rest = text.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    const DAY: f64 = 86_400.0;
    let date_units = [
        ('Y', 365.0 * DAY),
        ('M', 30.0 * DAY),
        ('W', 7.0 * DAY),
        ('D', DAY),
    ];
    let time_units = [('H', 3600.0), ('M', 60.0), ('S', 1.0)];
    let mut total = duration_part(date, &date_units)?;
    if let Some(t) = time {
        total += duration_part(t, &time_units)?;
    }
    if date.is_empty() && time.is_none() {
        return None;
    }
    Some(total)
}

/// Sums `<number><unit>` pairs whose units appear in `units`' order, each at most once.
fn duration_part(text: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut next_unit = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
            continue;
        }
        let pos = units[next_unit..].iter().position(|(u, _)| *u == c)? + next_unit;
        let n: f64 = number.parse().ok()?;
        total += n * units[pos].1;
        number.clear();
        next_unit = pos + 1;
    }
    number.is_empty().then_some(total)
}

fn parse_retry_policies(v: Option<&Value>) -> Result<Vec<RetryPolicy>, String> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("RetryPolicies must be a list".into()),
    };
    list.iter()
        .enumerate()
        .map(|(i, p)| parse_retry_policy(i, p))
        .collect()
}

fn parse_retry_policy(i: usize, p: &Value) -> Result<RetryPolicy, String> {
    let at = format!("RetryPolicies[{i}]");
    let exception_types = match string_list(p.get("ExceptionType")) {
        Some(types) if !types.is_empty() => types,
        _ => return Err(format!("{at}.ExceptionType must be a non-empty list")),
    };
    if let Some(bad) = exception_types
        .iter()
        .find(|t| !RETRY_EXCEPTION_TYPES.contains(&t.as_str()))
    {
        return Err(format!(
            "{at}.ExceptionType '{bad}' is not one of {}",
            RETRY_EXCEPTION_TYPES.join(", ")
        ));
    }
    let number = |key: &str, default: f64| match p.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|n| *n >= 0.0)
            .ok_or_else(|| format!("{at}.{key} must be a non-negative number")),
    };
    let whole = |key: &str, min: u64, max: u64| match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| format!("{at}.{key} must be a whole number from {min} to {max}")),
    };
    let max_attempts = whole("MaxAttempts", 1, MAX_ATTEMPTS_CAP)?;
    let expire_after_min = whole("ExpireAfterMin", 0, MAX_EXPIRE_AFTER_MIN)?;
    Ok(RetryPolicy {
        exception_types,
        interval_secs: number("IntervalSeconds", 1.0)?,
        backoff_rate: number("BackoffRate", 2.0)?,
        max_attempts: max_attempts.map(|n| n as u32),
        expire_after_secs: expire_after_min.map(|m| m as f64 * 60.0),
    })
}

fn parse_property_files(v: Option<&Value>) -> Result<Vec<PropertyFile>, String> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("PropertyFiles must be a list".into()),
    };
    let mut out: Vec<PropertyFile> = Vec::new();
    for (i, f) in list.iter().enumerate() {
        let member = |key: &str| {
            f.get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .ok_or_else(|| format!("PropertyFiles[{i}].{key} must be a non-empty string"))
        };
        let file = PropertyFile {
            name: member("PropertyFileName")?,
            output_name: member("OutputName")?,
            file_path: member("FilePath")?,
        };
        if out.iter().any(|o| o.name == file.name) {
            return Err(format!(
                "property file '{}' is defined more than once",
                file.name
            ));
        }
        out.push(file);
    }
    Ok(out)
}

/// A Callback's or Lambda's OutputParameters: (OutputName, OutputType), the type String
/// when not written.
fn parse_output_parameters(v: Option<&Value>) -> Result<Vec<(String, String)>, String> {
    let list = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("OutputParameters must be a list".into()),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    for (i, p) in list.iter().enumerate() {
        let Some(name) = p.get("OutputName").and_then(Value::as_str) else {
            return Err(format!("OutputParameters[{i}].OutputName must be a string"));
        };
        let kind = match p.get("OutputType") {
            None | Some(Value::Null) => "String",
            Some(Value::String(t))
                if ["String", "Integer", "Boolean", "Float"].contains(&t.as_str()) =>
            {
                t.as_str()
            }
            Some(t) => {
                return Err(format!(
                    "OutputParameters[{i}].OutputType {t} is not one of String, Integer, \
                     Boolean, Float"
                ));
            }
        };
        if out.iter().any(|(n, _)| n == name) {
            return Err(format!(
                "output parameter '{name}' is defined more than once"
            ));
        }
        out.push((name.to_string(), kind.to_string()));
    }
    Ok(out)
}

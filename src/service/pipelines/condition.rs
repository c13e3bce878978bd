//! A Condition step's conditions, as `sagemaker.workflow.conditions` writes them: comparisons
//! (`Equals`, `GreaterThan`, `GreaterThanOrEqualTo`, `LessThan`, `LessThanOrEqualTo` over
//! `LeftValue` and `RightValue`), `In` (`QueryValue` among `Values`), `Not` (`Condition`) and
//! `Or` (`Conditions`). Operands are expressions, resolved before they are compared.
//!
//! How values compare: two numbers numerically (an Integer parameter equals the Float 3.0);
//! a number and a string holding a number numerically too, because property files, Lambda and
//! Callback outputs often carry numbers as text; two strings as strings (ordering is by
//! Unicode code point); a boolean and `"true"`/`"false"` (any case) as booleans. Other pairs
//! are never Equal, and ordering them (or booleans, lists, objects, nulls) is an error.

use std::cmp::Ordering;

use serde_json::Value;

use super::expr::{Scope, resolve};

/// Whether every condition in `conditions` (a Condition step's `Conditions`) holds.
pub fn evaluate_all(conditions: &[Value], scope: &dyn Scope) -> Result<bool, String> {
    for condition in conditions {
        if !evaluate(condition, scope)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether one condition holds.
pub fn evaluate(condition: &Value, scope: &dyn Scope) -> Result<bool, String> {
    let kind = condition.get("Type").and_then(Value::as_str).unwrap_or("");
    let operand = |key: &str| {
        condition
            .get(key)
            .ok_or_else(|| format!("Condition {kind} has no {key}"))
            .and_then(|v| resolve(v, scope))
    };
    match kind {
        "Equals" => Ok(equal(&operand("LeftValue")?, &operand("RightValue")?)),
        "GreaterThan" | "GreaterThanOrEqualTo" | "LessThan" | "LessThanOrEqualTo" => {
            let (left, right) = (operand("LeftValue")?, operand("RightValue")?);
            let order = compare(&left, &right)
                .ok_or_else(|| format!("Condition {kind} cannot compare {left} with {right}"))?;
            Ok(match kind {
                "GreaterThan" => order == Ordering::Greater,
                "GreaterThanOrEqualTo" => order != Ordering::Less,
                "LessThan" => order == Ordering::Less,
                _ => order != Ordering::Greater,
            })
        }
        "In" => {
            let query = operand("QueryValue")?;
            let Value::Array(values) = operand("Values")? else {
                return Err("Condition In: Values must be a list".into());
            };
            Ok(values.iter().any(|v| equal(&query, v)))
        }
        "Not" => {
            let inner = condition
                .get("Condition")
                .ok_or("Condition Not has no Condition")?;
            Ok(!evaluate(inner, scope)?)
        }
        "Or" => {
            let Some(Value::Array(inner)) = condition.get("Conditions") else {
                return Err("Condition Or: Conditions must be a list".into());
            };
            for c in inner {
                if evaluate(c, scope)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        "" => Err(format!("Condition {condition} has no Type")),
        other => Err(format!(
            "Condition Type '{other}' is not one of Equals, GreaterThan, GreaterThanOrEqualTo, \
             LessThan, LessThanOrEqualTo, In, Not, Or"
        )),
    }
}

/// A number, or a string that holds one.
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Equality under the rules in the module comment.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            matches!((as_number(a), as_number(b)), (Some(x), Some(y)) if x == y)
        }
        (Value::Bool(_), _) | (_, Value::Bool(_)) => {
            matches!((as_bool(a), as_bool(b)), (Some(x), Some(y)) if x == y)
        }
        _ => a == b,
    }
}

/// Order under the rules in the module comment; None where the pair has no order.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Number(_), _) | (_, Value::Number(_)) => as_number(a)?.partial_cmp(&as_number(b)?),
        _ => None,
    }
}

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;

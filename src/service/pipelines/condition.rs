//! A Condition step's conditions.
//! SKELETON: signatures fixed; bodies are being written.

use serde_json::Value;

use super::expr::Scope;

/// Whether every condition in `conditions` (a Condition step's `Conditions`) holds.
pub fn evaluate_all(conditions: &[Value], scope: &dyn Scope) -> Result<bool, String> {
    let _ = (conditions, scope);
    Err("conditions are not evaluated yet".into())
}

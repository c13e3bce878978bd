//! Operations the stored-resource engine answers (service/stored): every operation of the model
//! that has no hand-written handler. The catalog says which rule each follows; this module calls
//! the service and renders the output shape from the same catalog: each output member from the
//! stored request, the ARN, the times, the status or a generated identifier, and a minimal
//! value for each member the shape requires that sagebox has no value for.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Answer;
use crate::aws::time::now_epoch;
use crate::service::stored::catalog::{
    Family, OperationRule, OutKind, OutMember, RuleKind, catalog,
};
use crate::service::{Request, ServiceError, Services};
use crate::store::stored::StoredRow;

pub(super) async fn answer(s: &Services, op: &str, req: Request) -> Answer {
    let Some(rule) = catalog().rule(op) else {
        return Err(ServiceError::Internal(format!(
            "{op} has no rule in the catalog"
        )));
    };
    match rule.rule {
        RuleKind::Real => Err(ServiceError::Internal(format!(
            "operation {op} is implemented by hand but not dispatched"
        ))),
        RuleKind::Refused => Err(ServiceError::Validation(format!(
            "sagebox does not support {op}: {}.",
            rule.reason
                .as_deref()
                .unwrap_or("it has no local equivalent")
        ))),
        RuleKind::Family => family_op(s, rule, req).await,
        RuleKind::Policy => {
            let p = s.stored_policy(rule, op, &req).await?;
            let mut out = Map::new();
            for m in &rule.output {
                let v = if m.ends_with("Arn") {
                    Some(Value::String(p.arn.clone()))
                } else if m.ends_with("Name") {
                    Some(Value::String(p.name.clone()))
                } else {
                    p.document.as_ref().and_then(|d| d.get(m)).cloned()
                };
                if let Some(v) = v {
                    out.insert(m.clone(), v);
                }
            }
            Ok(Value::Object(out))
        }
        RuleKind::List | RuleKind::Describe | RuleKind::Action => {
            let parents = s
                .stored_other(rule, &req, rule.rule == RuleKind::Describe)
                .await?;
            Ok(other_answer(rule, &req, &parents))
        }
    }
}

/// Defaults for what the output requires, the request's members the output echoes, and, for
/// an answer about a parent, the parent's members of the same names.
fn other_answer(rule: &OperationRule, req: &Request, parents: &[StoredRow]) -> Value {
    let mut out = match &rule.defaults {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for row in parents {
        let Some(fam) = catalog().family(&row.family) else {
            continue;
        };
        for m in &rule.output {
            if let Some(v) = member_value(fam, row, m, None, now_epoch()) {
                out.insert(m.clone(), v);
            }
        }
    }
    for m in rule.echo.iter().chain(&rule.output) {
        if let Some(v) = req.get(m) {
            out.insert(m.clone(), v.clone());
        }
    }
    Value::Object(out)
}

/// ListAliases: the aliases of an image's versions (one version's, when Version is given),
/// only the one asked for when Alias is given.
pub(super) async fn list_aliases(s: &Services, req: Request) -> Answer {
    let versions = catalog()
        .family("ImageVersion")
        .ok_or_else(|| ServiceError::Internal("no ImageVersion family".into()))?;
    let image = crate::service::required_str(&req, "ImageName")?;
    let mut rows = s
        .stored_rows(versions)
        .await?
        .into_iter()
        .filter(|r| {
            r.request["ImageName"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(image))
        })
        .collect::<Vec<_>>();
    if rows.is_empty() {
        let image_family = catalog().family("Image").expect("the model defines Image");
        s.stored_find(image_family, &req, "Describe").await?;
    }
    if let Some(v) = req.get("Version").and_then(Value::as_i64) {
        rows.retain(|r| r.derived["Version"].as_i64() == Some(v));
        if rows.is_empty() {
            let message = format!("Could not find image version \"{image}/{v}\".");
            return Err(ServiceError::NotFound(message));
        }
    }
    let wanted = req.get("Alias").and_then(Value::as_str);
    let names: Vec<Value> = rows
        .iter()
        .flat_map(crate::service::stored::aliases)
        .filter(|a| wanted.is_none_or(|w| w == *a))
        .map(|a| json!(a))
        .collect();
    super::paged(&req, "SageMakerImageVersionAliases", names)
}

/// A List answer, limited to the resources with these ARNs when given.
pub(super) async fn list_among(
    s: &Services,
    fam: &Family,
    req: &Request,
    among: Option<&[String]>,
) -> Answer {
    let page = s.stored_list_among(fam, req, among).await?;
    let list = fam.list_member.clone().unwrap_or_else(|| "Items".into());
    let now = now_epoch();
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|r| {
            let shape = (&fam.summary, &fam.summary_defaults, &fam.summary_fill);
            render(fam, r, shape, now)
        })
        .collect();
    let mut out = json!({ list: items });
    if let Some(t) = page.next_token {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

/// A family operation's answer (Create, Describe, List, Update, Delete, Start, Stop).
pub(super) async fn family_op(s: &Services, rule: &OperationRule, req: Request) -> Answer {
    let fam = rule
        .family
        .as_deref()
        .and_then(|f| catalog().family(f))
        .ok_or_else(|| ServiceError::Internal("a family rule without its family".into()))?;
    let verb = rule.verb.as_deref().unwrap_or_default();
    let row = match verb {
        "Create" => s.stored_create(fam, req).await?,
        "Describe" => {
            let row = s.stored_describe(fam, &req).await?;
            return Ok(describe(fam, hold(s, fam, &req, row).await?));
        }
        "List" => return list_among(s, fam, &req, None).await,
        "Update" => s.stored_update(fam, req).await?,
        "Delete" => s.stored_delete(fam, &req).await?,
        "Start" | "Stop" => s.stored_run_state(fam, &req, verb).await?,
        other => {
            return Err(ServiceError::Internal(format!("no stored verb {other}")));
        }
    };
    let now = now_epoch();
    let mut out = match &rule.defaults {
        Value::Object(d) => d.clone(),
        _ => Map::new(),
    };
    for m in &rule.output {
        // an Update of a Workforce answers the whole Workforce, as its Describe does
        if fam.nest.as_deref() == Some(m.as_str()) {
            out.insert(m.clone(), describe_body(fam, &row));
        } else if let Some(v) = member_value(fam, &row, m, None, now) {
            out.insert(m.clone(), v);
        }
    }
    Ok(Value::Object(out))
}

/// A client's Describe of a resource whose status is about to settle waits for it (within
/// `--describe-hold`), as the hand-written families' Describes do (see `hold`).
async fn hold(
    s: &Services,
    fam: &Family,
    req: &Request,
    row: StoredRow,
) -> Result<StoredRow, ServiceError> {
    let limit = s.config().describe_hold as f64;
    match row.next_at {
        Some(at) if limit > 0.0 && at - now_epoch() <= limit => {
            // Until the wall clock, which the status is read against (to the millisecond), has
            // passed `at`: a sleep on the monotonic clock can end just before it, and the answer
            // was then the status being left (seen once in CI, 36 ms before the settle).
            let mut left = at - now_epoch();
            while (0.0..=limit).contains(&left) {
                tokio::time::sleep(Duration::from_secs_f64(left + 0.001)).await;
                left = at - now_epoch();
            }
            s.stored_describe(fam, req).await
        }
        _ => Ok(row),
    }
}

pub(super) fn describe(fam: &Family, row: StoredRow) -> Value {
    let body = describe_body(fam, &row);
    match &fam.nest {
        Some(n) => json!({ n: body }),
        None => body,
    }
}

fn describe_body(fam: &Family, row: &StoredRow) -> Value {
    let shape = (&fam.describe, &fam.describe_defaults, &fam.describe_fill);
    render(fam, row, shape, now_epoch())
}

/// An output structure's members, their defaults, and what structures inside require.
type OutShape<'a> = (
    &'a Vec<OutMember>,
    &'a Map<String, Value>,
    &'a Map<String, Value>,
);

/// One resource as an output structure: the shape's defaults, overlaid with each member's value;
/// a structure the request carried gets what the output requires inside it filled in.
fn render(fam: &Family, row: &StoredRow, shape: OutShape<'_>, now: f64) -> Value {
    let (members, defaults, fill) = shape;
    let mut out = defaults.clone();
    for m in members {
        let how = Some((m.kind, m.from.as_deref()));
        let Some(mut v) = member_value(fam, row, &m.name, how, now) else {
            continue;
        };
        if let Some(f) = fill.get(&m.name) {
            fill_missing(&mut v, f);
        }
        out.insert(m.name.clone(), v);
    }
    Value::Object(out)
}

/// Adds what `defaults` has and `v` lacks, structure by structure.
fn fill_missing(v: &mut Value, defaults: &Value) {
    if let (Value::Object(have), Value::Object(want)) = (v, defaults) {
        for (k, d) in want {
            match have.get_mut(k) {
                Some(existing) => fill_missing(existing, d),
                None => {
                    have.insert(k.clone(), d.clone());
                }
            }
        }
    }
}

/// The first value of a member of this name inside the request's structures and lists.
fn nested<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m
            .get(name)
            .or_else(|| m.values().find_map(|x| nested(x, name))),
        Value::Array(a) => a.iter().find_map(|x| nested(x, name)),
        _ => None,
    }
}

/// One output member's value; `how` (its kind, and the request member it echoes) as the
/// catalog classified it, or worked out from the name.
fn member_value(
    fam: &Family,
    row: &StoredRow,
    name: &str,
    how: Option<(OutKind, Option<&str>)>,
    now: f64,
) -> Option<Value> {
    let (kind, from) = how.unwrap_or_else(|| {
        let kind = if fam.arn_member.as_deref() == Some(name) {
            OutKind::Arn
        } else if fam.generated.contains_key(name) {
            OutKind::Generated
        } else if fam.status.as_ref().is_some_and(|s| s.member == name) {
            OutKind::Status
        } else {
            OutKind::Echo
        };
        (kind, None)
    });
    match kind {
        OutKind::Arn => Some(Value::String(row.arn.clone())),
        OutKind::Created => Some(json!(row.created)),
        OutKind::Modified => Some(json!(row.modified)),
        OutKind::Status => row.status_at(now).map(|s| Value::String(s.to_string())),
        OutKind::Generated | OutKind::Echo => row
            .request
            .get(from.unwrap_or(name))
            .or_else(|| row.derived.get(name))
            .cloned(),
        OutKind::Deep => nested(&row.request, name).cloned(),
    }
}

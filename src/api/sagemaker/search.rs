//! Search: SageMaker's query over training jobs, experiments, trials, trial components,
//! endpoints, models, model packages, pipelines and the other kinds its `Resource` enum names.
//!
//! Each candidate is the resource as its Describe answers it, plus its Tags (and, for a trial
//! component, its Parents and metric summaries), cut down to the SearchRecord member's shape.
//! A SearchExpression's Filters, NestedFilters and SubExpressions are evaluated on that record:
//! a filter's Name is a dotted path ("Parents.ExperimentName", "Tags.team", "Metrics.loss.Min",
//! "Parameters.lr", "HyperParameters.eta") where a list step picks the elements whose
//! Name/MetricName/Key is the next segment, or reaches into every element.

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use super::{Answer, dispatch, stored};
use crate::service::experiments::summary_json;
use crate::service::stored::catalog::{SearchSpec, catalog};
use crate::service::{Request, ServiceError, Services, required_str};
use crate::store::ResourceKind;

/// Hand-written kinds: their Describe operation and the member it takes (ARN or name).
fn hand_written(resource: &str) -> Option<(ResourceKind, &'static str, &'static str, bool)> {
    Some(match resource {
        "TrainingJob" => (
            ResourceKind::TrainingJob,
            "DescribeTrainingJob",
            "TrainingJobName",
            false,
        ),
        "Endpoint" => (
            ResourceKind::Endpoint,
            "DescribeEndpoint",
            "EndpointName",
            false,
        ),
        "Model" => (ResourceKind::Model, "DescribeModel", "ModelName", false),
        "ModelPackage" => (
            ResourceKind::ModelPackage,
            "DescribeModelPackage",
            "ModelPackageName",
            true,
        ),
        "ModelPackageGroup" => (
            ResourceKind::ModelPackageGroup,
            "DescribeModelPackageGroup",
            "ModelPackageGroupName",
            false,
        ),
        "Pipeline" => (
            ResourceKind::Pipeline,
            "DescribePipeline",
            "PipelineName",
            false,
        ),
        "PipelineExecution" => (
            ResourceKind::PipelineExecution,
            "DescribePipelineExecution",
            "PipelineExecutionArn",
            true,
        ),
        "HyperParameterTuningJob" => (
            ResourceKind::HyperParameterTuningJob,
            "DescribeHyperParameterTuningJob",
            "HyperParameterTuningJobName",
            false,
        ),
        _ => return None,
    })
}

pub(super) async fn search(s: &Services, req: Request) -> Answer {
    let resource = required_str(&req, "Resource")?;
    let spec = catalog().search.get(resource).ok_or_else(|| {
        ServiceError::Validation(format!("Search does not support resource type {resource}."))
    })?;
    let mut records = Vec::new();
    for mut record in candidates(s, resource, spec).await? {
        if let Some(arn) = arn_of(&record) {
            let tags = s.list_tags(&arn, 50, None).await?.items;
            let tags: Vec<Value> = tags
                .iter()
                .map(|(k, v)| json!({"Key": k, "Value": v}))
                .collect();
            record.insert("Tags".into(), json!(tags));
        }
        let record = Value::Object(record);
        if req
            .get("SearchExpression")
            .is_none_or(|e| matches(&record, e))
        {
            records.push(record);
        }
    }
    let by = req
        .get("SortBy")
        .and_then(Value::as_str)
        .unwrap_or("CreationTime");
    records.sort_by(|a, b| order(first(a, by).as_ref(), first(b, by).as_ref()));
    if req.get("SortOrder").and_then(Value::as_str) != Some("Ascending") {
        records.reverse();
    }
    let results = records
        .into_iter()
        .map(|r| {
            let kept: Map<String, Value> = match r {
                Value::Object(m) => m
                    .into_iter()
                    .filter(|(k, _)| spec.members.contains(k))
                    .collect(),
                _ => Map::new(),
            };
            json!({ &spec.record: kept })
        })
        .collect();
    super::paged(&req, "Results", results)
}

fn arn_of(record: &Map<String, Value>) -> Option<String> {
    record
        .iter()
        .find(|(k, v)| {
            k.ends_with("Arn")
                && v.as_str()
                    .is_some_and(|a| a.starts_with("arn:aws:sagemaker:"))
                && !k.contains("Role")
        })
        .and_then(|(_, v)| v.as_str().map(str::to_string))
}

/// Every resource of the kind, as its Describe answers it.
async fn candidates(
    s: &Services,
    resource: &str,
    spec: &SearchSpec,
) -> Result<Vec<Map<String, Value>>, ServiceError> {
    let mut out = Vec::new();
    if let Some((kind, op, member, by_arn)) = hand_written(resource) {
        for (name, arn) in s.resource_names(kind).await? {
            let mut req = Request::new();
            req.insert(member.into(), json!(if by_arn { arn } else { name }));
            if let Ok(Value::Object(m)) = dispatch(s, op, req).await {
                out.push(m);
            }
        }
        return Ok(out);
    }
    let Some(fam) = spec.family.as_deref().and_then(|f| catalog().family(f)) else {
        return Ok(out);
    };
    for row in s.stored_rows(fam).await? {
        let (arn, key) = (row.arn.clone(), row.key.clone());
        let Value::Object(mut m) = stored::describe(fam, row) else {
            continue;
        };
        if fam.name == "TrialComponent" {
            let parents = s.trial_component_parents(&arn).await?;
            let parents: Vec<Value> = parents
                .into_iter()
                .map(|(t, e)| json!({"TrialName": t, "ExperimentName": e}))
                .collect();
            m.insert("Parents".into(), json!(parents));
            let metrics = s.trial_metric_summaries(&key).await?;
            let metrics: Vec<Value> = metrics.iter().map(|x| summary_json(x, None)).collect();
            m.insert("Metrics".into(), json!(metrics));
        }
        if fam.name == "Trial" {
            let mut summaries = Vec::new();
            for tc_arn in s.trial_components_of_trial(&arn).await? {
                if let Some(tc) = s.stored_by_arn(&tc_arn).await? {
                    let get = |k: &str| tc.request.get(k).cloned().unwrap_or(Value::Null);
                    let mut summary = json!({
                        "TrialComponentName": get("TrialComponentName"),
                        "TrialComponentArn": tc.arn,
                        "CreationTime": tc.created,
                    });
                    if let Some(source) = tc.request.get("Source") {
                        summary["TrialComponentSource"] = source.clone();
                    }
                    summaries.push(summary);
                }
            }
            m.insert("TrialComponentSummaries".into(), json!(summaries));
        }
        out.push(m);
    }
    Ok(out)
}

/// A SearchExpression: its Filters, NestedFilters and SubExpressions joined by its Operator.
fn matches(record: &Value, expr: &Value) -> bool {
    let mut results = Vec::new();
    for f in expr
        .get("Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        results.push(filter(record, f));
    }
    for n in expr
        .get("NestedFilters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        results.push(nested(record, n));
    }
    for sub in expr
        .get("SubExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        results.push(matches(record, sub));
    }
    if expr.get("Operator").and_then(Value::as_str) == Some("Or") {
        results.iter().any(|r| *r)
    } else {
        results.iter().all(|r| *r)
    }
}

/// A NestedFilters entry: some one element of the list property satisfies all its filters.
fn nested(record: &Value, n: &Value) -> bool {
    let Some(prop) = n.get("NestedPropertyName").and_then(Value::as_str) else {
        return false;
    };
    let filters: Vec<&Value> = n
        .get("Filters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let Some(items) = record.get(prop).and_then(Value::as_array) else {
        return false;
    };
    items.iter().any(|item| {
        let mut one = record.clone();
        one[prop] = json!([item]);
        filters.iter().all(|f| filter(&one, f))
    })
}

/// The values a dotted path reaches in a record.
fn resolve(record: &Value, path: &str) -> Vec<Value> {
    let mut current = vec![record.clone()];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for v in current {
            match v {
                Value::Object(m) => next.extend(m.get(seg).cloned()),
                Value::Array(items) => {
                    for item in items {
                        let named = ["Name", "MetricName", "Key"]
                            .iter()
                            .any(|k| item.get(k).and_then(Value::as_str) == Some(seg));
                        if named {
                            next.push(item);
                        } else if let Some(x) = item.get(seg) {
                            next.push(x.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        current = next;
    }
    current.into_iter().map(scalar).collect()
}

/// A parameter ({StringValue | NumberValue}) or a tag ({Key, Value}) as its value.
fn scalar(v: Value) -> Value {
    for k in ["StringValue", "NumberValue", "Value"] {
        if let Some(x) = v.get(k) {
            return x.clone();
        }
    }
    v
}

fn first(record: &Value, path: &str) -> Option<Value> {
    resolve(record, path).into_iter().next()
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s
            .parse()
            .ok()
            .or_else(|| crate::aws::time::parse_timestamp(s)),
        _ => None,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Numbers (and timestamps) compare as numbers, anything else as text.
fn compare(have: &Value, want: &Value) -> Ordering {
    match (number(have), number(want)) {
        (Some(a), Some(b)) if have.is_number() || want.is_number() => a.total_cmp(&b),
        _ => text(have).cmp(&text(want)),
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => compare(a, b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

fn filter(record: &Value, f: &Value) -> bool {
    let name = f.get("Name").and_then(Value::as_str).unwrap_or_default();
    let op = f
        .get("Operator")
        .and_then(Value::as_str)
        .unwrap_or("Equals");
    let want = f.get("Value").cloned().unwrap_or(Value::Null);
    let found = resolve(record, name);
    match op {
        "Exists" => !found.is_empty(),
        "NotExists" => found.is_empty(),
        "NotEquals" => found.iter().all(|v| compare(v, &want) != Ordering::Equal),
        "In" => {
            let options: Vec<Value> = text(&want).split(',').map(|o| json!(o.trim())).collect();
            found
                .iter()
                .any(|v| options.iter().any(|o| compare(v, o) == Ordering::Equal))
        }
        "Contains" => found.iter().any(|v| match v {
            Value::Array(items) => items.iter().any(|i| compare(i, &want) == Ordering::Equal),
            other => text(other).contains(&text(&want)),
        }),
        _ => found.iter().any(|v| {
            let c = compare(v, &want);
            match op {
                "GreaterThan" => c == Ordering::Greater,
                "GreaterThanOrEqualTo" => c != Ordering::Less,
                "LessThan" => c == Ordering::Less,
                "LessThanOrEqualTo" => c != Ordering::Greater,
                _ => c == Ordering::Equal,
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component() -> Value {
        json!({
            "TrialComponentName": "run-1",
            "CreationTime": 100.0,
            "Parameters": {"lr": {"NumberValue": 0.1}, "opt": {"StringValue": "adam"}},
            "Metrics": [{"MetricName": "loss", "Min": 0.2, "Max": 0.9}],
            "Parents": [{"TrialName": "t1", "ExperimentName": "e1"}, {"TrialName": "t2", "ExperimentName": "e2"}],
            "Tags": [{"Key": "team", "Value": "ml"}]
        })
    }

    fn f(name: &str, op: &str, value: Value) -> Value {
        json!({"Name": name, "Operator": op, "Value": value})
    }

    #[test]
    fn paths_reach_parameters_metrics_parents_and_tags() {
        let c = component();
        assert!(filter(
            &c,
            &f("Parents.ExperimentName", "Equals", json!("e2"))
        ));
        assert!(filter(&c, &f("Parameters.lr", "LessThan", json!("0.5"))));
        assert!(filter(&c, &f("Parameters.opt", "Equals", json!("adam"))));
        assert!(filter(
            &c,
            &f("Metrics.loss.Min", "GreaterThanOrEqualTo", json!("0.2"))
        ));
        assert!(filter(&c, &f("Tags.team", "Equals", json!("ml"))));
        assert!(!filter(&c, &f("Tags.owner", "Exists", Value::Null)));
        assert!(filter(
            &c,
            &f("TrialComponentName", "Contains", json!("run"))
        ));
        assert!(filter(
            &c,
            &f("CreationTime", "GreaterThan", json!("1970-01-01T00:00:10Z"))
        ));
    }

    #[test]
    fn nested_filters_hold_within_one_element() {
        let c = component();
        let both = |t: &str, e: &str| {
            json!({"NestedPropertyName": "Parents", "Filters": [
                f("Parents.TrialName", "Equals", json!(t)),
                f("Parents.ExperimentName", "Equals", json!(e)),
            ]})
        };
        assert!(nested(&c, &both("t1", "e1")));
        assert!(!nested(&c, &both("t1", "e2")));
    }

    #[test]
    fn expressions_join_by_their_operator() {
        let c = component();
        let no = f("Parameters.opt", "Equals", json!("sgd"));
        let yes = f("Parameters.opt", "Equals", json!("adam"));
        assert!(!matches(&c, &json!({"Filters": [yes.clone(), no.clone()]})));
        assert!(matches(
            &c,
            &json!({"Filters": [yes, no], "Operator": "Or"})
        ));
    }
}

//! Experiments' operations beyond stored metadata: trial component associations, lineage
//! associations, the trial-component and trial lists filtered by them, DescribeTrialComponent
//! with its metric summaries, and the deletes that take associations and metrics along. The
//! family answers themselves come from the stored engine (`stored::family_op`).

use serde_json::{Value, json};

use super::{Answer, stored};
use crate::service::experiments::summary_json;
use crate::service::stored::catalog::catalog;
use crate::service::{Request, Services, required_str};

fn rule(op: &str) -> &'static crate::service::stored::catalog::OperationRule {
    catalog()
        .rule(op)
        .expect("every operation of the model has a rule")
}

fn family(name: &str) -> &'static crate::service::stored::catalog::Family {
    catalog().family(name).expect("the model defines it")
}

pub(super) async fn associate_trial_component(s: &Services, req: Request) -> Answer {
    let (tc, trial) = s
        .associate_trial_component(
            required_str(&req, "TrialComponentName")?,
            required_str(&req, "TrialName")?,
        )
        .await?;
    Ok(json!({ "TrialComponentArn": tc, "TrialArn": trial }))
}

pub(super) async fn disassociate_trial_component(s: &Services, req: Request) -> Answer {
    let (tc, trial) = s
        .disassociate_trial_component(
            required_str(&req, "TrialComponentName")?,
            required_str(&req, "TrialName")?,
        )
        .await?;
    Ok(json!({ "TrialComponentArn": tc, "TrialArn": trial }))
}

pub(super) async fn add_association(s: &Services, req: Request) -> Answer {
    let (source, destination) = (
        required_str(&req, "SourceArn")?,
        required_str(&req, "DestinationArn")?,
    );
    let kind = req.get("AssociationType").and_then(Value::as_str);
    s.add_association(source, destination, kind).await?;
    Ok(json!({ "SourceArn": source, "DestinationArn": destination }))
}

pub(super) async fn delete_association(s: &Services, req: Request) -> Answer {
    let (source, destination) = (
        required_str(&req, "SourceArn")?,
        required_str(&req, "DestinationArn")?,
    );
    s.delete_association(source, destination).await?;
    Ok(json!({ "SourceArn": source, "DestinationArn": destination }))
}

/// ListAssociations: filtered by the members it offers, newest first unless asked otherwise.
pub(super) async fn list_associations(s: &Services, req: Request) -> Answer {
    let get = |m: &str| req.get(m).and_then(Value::as_str);
    let mut edges = s
        .list_associations(get("SourceArn"), get("DestinationArn"))
        .await?;
    if let Some(t) = get("AssociationType") {
        edges.retain(|e| e.kind.as_deref() == Some(t));
    }
    let after = super::json::timestamp(&req, "CreatedAfter");
    let before = super::json::timestamp(&req, "CreatedBefore");
    edges.retain(|e| after.is_none_or(|t| e.created > t) && before.is_none_or(|t| e.created < t));
    if get("SortOrder") != Some("Ascending") {
        edges.reverse();
    }
    let mut summaries = Vec::new();
    for e in edges {
        let source_type = s.lineage_type(&e.source).await?;
        let destination_type = s.lineage_type(&e.destination).await?;
        if get("SourceType").is_some_and(|t| t != source_type)
            || get("DestinationType").is_some_and(|t| t != destination_type)
        {
            continue;
        }
        let mut summary = json!({
            "SourceArn": e.source,
            "DestinationArn": e.destination,
            "SourceType": source_type,
            "DestinationType": destination_type,
            "CreationTime": e.created,
        });
        if let Some(k) = e.kind {
            summary["AssociationType"] = json!(k);
        }
        summaries.push(summary);
    }
    super::paged(&req, "AssociationSummaries", summaries)
}

/// ListTrialComponents: ExperimentName and TrialName go through the associations.
pub(super) async fn list_trial_components(s: &Services, req: Request) -> Answer {
    let get = |m: &str| req.get(m).and_then(Value::as_str);
    let fam = family("TrialComponent");
    let mut among = match (get("TrialName"), get("ExperimentName")) {
        (None, None) => None,
        (trial, experiment) => Some(s.trial_components_in(trial, experiment).await?),
    };
    if let Some(source) = get("SourceArn") {
        // the components a training job made: filtered before paging
        let from_source: Vec<String> = s
            .stored_rows(fam)
            .await?
            .into_iter()
            .filter(|r| r.request["Source"]["SourceArn"] == source)
            .map(|r| r.arn)
            .collect();
        among = Some(match among {
            Some(a) => a.into_iter().filter(|x| from_source.contains(x)).collect(),
            None => from_source,
        });
    }
    let mut rest = req.clone();
    for m in ["TrialName", "ExperimentName", "SourceArn"] {
        rest.remove(m);
    }
    stored::list_among(s, fam, &rest, among.as_deref()).await
}

/// ListTrials: TrialComponentName goes through the associations.
pub(super) async fn list_trials(s: &Services, req: Request) -> Answer {
    let among = match req.get("TrialComponentName").and_then(Value::as_str) {
        Some(tc) => Some(s.trials_of(tc).await?),
        None => None,
    };
    let mut rest = req.clone();
    rest.remove("TrialComponentName");
    stored::list_among(s, family("Trial"), &rest, among.as_deref()).await
}

/// DescribeTrialComponent: the stored component and the summaries of its logged metrics.
pub(super) async fn describe_trial_component(s: &Services, req: Request) -> Answer {
    let row = s
        .stored_find(family("TrialComponent"), &req, "Describe")
        .await?;
    let mut answer = stored::family_op(s, rule("DescribeTrialComponent"), req).await?;
    let metrics = s.trial_metric_summaries(&row.key).await?;
    if !metrics.is_empty() {
        answer["Metrics"] = json!(
            metrics
                .iter()
                .map(|m| summary_json(m, None))
                .collect::<Vec<_>>()
        );
    }
    Ok(answer)
}

/// DeleteTrial / DeleteTrialComponent: the resource, its associations and its metrics.
pub(super) async fn delete_experiment_resource(s: &Services, op: &str, req: Request) -> Answer {
    let r = rule(op);
    let fam = family(r.family.as_deref().unwrap_or_default());
    let row = s.stored_find(fam, &req, "Delete").await?;
    s.check_not_associated(&row).await?;
    let answer = stored::family_op(s, r, req).await?;
    s.forget_experiment_resource(&row).await?;
    Ok(answer)
}

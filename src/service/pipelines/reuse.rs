//! Steps whose results come from other executions instead of running: the steps a
//! SelectiveExecutionConfig leaves out (taken from its source execution) and cache hits
//! (CacheConfig: the newest matching run of the step in an execution of the same pipeline).

use std::collections::BTreeSet;

use super::definition::{Definition, StepDef};
use super::state::{ExecutionState, StepRun};
use crate::aws::model::typed::sagemaker::StepStatus;
use crate::aws::time::now_epoch;
use crate::service::Services;
use crate::store::resources::{ListQuery, ResourceKind};

/// Whether step `name` takes part in an execution that selected `selected`: every step when
/// none is selected, else the selected steps and the steps they wait for (directly or not); the
/// others (downstream of the selection, or beside it) do not run.
pub fn in_selection(definition: &Definition, selected: &[String], name: &str) -> bool {
    if selected.is_empty() || selected.iter().any(|s| s == name) {
        return true;
    }
    let mut seen = BTreeSet::new();
    let mut todo = selected.to_vec();
    while let Some(step) = todo.pop() {
        for up in definition.upstream(&step) {
            if up == name {
                return true;
            }
            if seen.insert(up.clone()) {
                todo.push(up);
            }
        }
    }
    false
}

/// Step `step`'s succeeded run in execution `source` (marked with SelectiveExecutionResult),
/// or why there is none to take.
pub async fn from_source(s: &Services, source: &str, step: &str) -> Result<StepRun, String> {
    let taken = s.pipeline_execution_row(source).await.ok().and_then(|row| {
        let st: ExecutionState = serde_json::from_value(row.derived.clone()).ok()?;
        let mut run = st
            .step(step)
            .filter(|r| r.status == StepStatus::Succeeded)?
            .clone();
        run.selective_source = Some(row.arn.clone());
        Some(run)
    });
    taken.ok_or_else(|| {
        format!(
            "Step {step} was not selected and did not succeed in the source pipeline execution {source}, so it has no result to reuse."
        )
    })
}

/// The newest succeeded run of step `def` with cache key `key`, in another execution
/// (`this_execution` is the row name of the asking one) of pipeline `pipeline`, within the
/// cache's ExpireAfter. Its `cache_source` names the execution that really ran it.
pub async fn cached(
    s: &Services,
    pipeline: &str,
    this_execution: &str,
    def: &StepDef,
    key: &str,
) -> Option<StepRun> {
    let expire = def.cache.as_ref()?.expire_after_secs;
    let prefix = format!("{}/execution/", pipeline.to_lowercase());
    let rows = s
        .store
        .list_resources(ResourceKind::PipelineExecution, ListQuery::every(None))
        .await
        .ok()?;
    let now = now_epoch();
    let mut best: Option<(f64, StepRun)> = None;
    for row in rows {
        if !row.name.to_lowercase().starts_with(&prefix) || row.name == this_execution {
            continue;
        }
        let Ok(st) = serde_json::from_value::<ExecutionState>(row.derived.clone()) else {
            continue;
        };
        let Some(r) = st.step(&def.name) else {
            continue;
        };
        let ended = r.end.unwrap_or(0.0);
        let fresh = expire.is_none_or(|e| now - ended <= e);
        if r.status == StepStatus::Succeeded
            && r.cache_key.as_deref() == Some(key)
            && fresh
            && best.as_ref().is_none_or(|(t, _)| ended > *t)
        {
            let mut hit = r.clone();
            hit.cache_source = Some(r.cache_source.clone().unwrap_or(row.arn.clone()));
            best = Some((ended, hit));
        }
    }
    best.map(|(_, r)| r)
}

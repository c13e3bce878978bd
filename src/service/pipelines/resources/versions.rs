//! A pipeline's versions: CreatePipeline makes version 1 and each UpdatePipeline that carries a
//! definition makes the next. They live in the pipeline row's derived `_Versions` (sagebox's
//! own member, never rendered raw); DescribePipeline and ListPipelineVersions read them here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the versions sit in a pipeline row's derived members.
pub const VERSIONS: &str = "_Versions";

/// One version of a pipeline (PipelineVersionSummary, plus the definition it holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineVersion {
    #[serde(rename = "PipelineVersionId")]
    pub id: i64,
    #[serde(rename = "CreationTime")]
    pub created: f64,
    /// The definition's text, as given inline or read from S3.
    #[serde(rename = "PipelineDefinition")]
    pub definition: String,
    /// The last execution started on this version.
    #[serde(
        rename = "LastExecutionPipelineExecutionArn",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_execution: Option<String>,
}

/// The versions stored in `derived`, oldest first; a row without any has none.
pub fn versions(derived: &Value) -> Vec<PipelineVersion> {
    derived
        .get(VERSIONS)
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Stores `versions` in `derived`.
pub fn put_versions(derived: &mut Map<String, Value>, versions: &[PipelineVersion]) {
    let v = serde_json::to_value(versions).unwrap_or(Value::Array(vec![]));
    derived.insert(VERSIONS.into(), v);
}

/// Appends the next version (one past the highest) holding `definition`; answers its id.
pub fn push_version(versions: &mut Vec<PipelineVersion>, definition: String, now: f64) -> i64 {
    let id = versions.iter().map(|v| v.id).max().unwrap_or(0) + 1;
    versions.push(PipelineVersion {
        id,
        created: now,
        definition,
        last_execution: None,
    });
    id
}

/// The version `id`, or the latest when `id` is None.
pub fn pick(versions: &[PipelineVersion], id: Option<i64>) -> Option<&PipelineVersion> {
    match id {
        Some(id) => versions.iter().find(|v| v.id == id),
        None => versions.iter().max_by_key(|v| v.id),
    }
}

/// Records `execution` as the last one started on version `id`.
pub fn note_execution(versions: &mut [PipelineVersion], id: i64, execution: &str) {
    if let Some(v) = versions.iter_mut().find(|v| v.id == id) {
        v.last_execution = Some(execution.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_count_up_from_one_and_the_latest_is_picked_by_default() {
        let mut vs = Vec::new();
        assert_eq!(push_version(&mut vs, "a".into(), 1.0), 1);
        assert_eq!(push_version(&mut vs, "b".into(), 2.0), 2);
        assert_eq!(pick(&vs, None).map(|v| v.definition.as_str()), Some("b"));
        assert_eq!(pick(&vs, Some(1)).map(|v| v.definition.as_str()), Some("a"));
        assert!(pick(&vs, Some(3)).is_none());
        assert!(pick(&[], None).is_none());
    }

    #[test]
    fn versions_round_trip_through_derived_and_note_their_last_execution() {
        let mut vs = Vec::new();
        push_version(&mut vs, "{}".into(), 5.0);
        push_version(&mut vs, "{}".into(), 6.0);
        note_execution(&mut vs, 1, "arn:x");
        let mut d = Map::new();
        put_versions(&mut d, &vs);
        let back = versions(&Value::Object(d));
        assert_eq!(back, vs);
        assert_eq!(back[0].last_execution.as_deref(), Some("arn:x"));
        assert_eq!(back[1].last_execution, None);
        assert!(versions(&json!({})).is_empty());
    }
}

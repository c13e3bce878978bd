//! A feature group as the record API sees it: its stored CreateFeatureGroup request (kept by the
//! stored-resource engine) read into the rules a record must follow — which features exist and
//! of what type, which one identifies the record and which one carries its event time, whether
//! the online store is on, the default TTL, and where the offline store writes.

use std::collections::HashMap;

use serde_json::Value;

use crate::aws::model::typed::sagemaker::{
    CollectionType, FeatureDefinition, FeatureType, OfflineStoreConfig, OnlineStoreConfig,
    TtlDurationUnit,
};
use crate::service::ServiceResult;
use crate::store::stored::StoredRow;

/// One feature's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub kind: FeatureType,
    /// List, Set or Vector: values come as ValueAsStringList.
    pub collection: Option<CollectionType>,
}

/// A feature group, read from its stored row.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub arn: String,
    /// Epoch seconds (the offline store's folder names it).
    pub created: f64,
    pub status: Option<String>,
    /// In definition order: the offline store's columns follow it.
    pub features: Vec<Feature>,
    pub record_identifier: String,
    pub event_time: String,
    pub online: bool,
    /// The group's default TTL in seconds (OnlineStoreConfig.TtlDuration).
    pub ttl: Option<f64>,
    /// `(bucket, key prefix)` of ResolvedOutputS3Uri, when the group has an offline store.
    pub offline: Option<(String, String)>,
}

impl Group {
    pub fn from_row(row: &StoredRow, now: f64) -> ServiceResult<Group> {
        let req = &row.request;
        let text = |m: &str| req.get(m).and_then(Value::as_str).unwrap_or_default();
        let decode = |m: &str| req.get(m).cloned().unwrap_or(Value::Null);
        let definitions: Option<Vec<FeatureDefinition>> =
            crate::service::stored("feature group", &decode("FeatureDefinitions"))?;
        let online: Option<OnlineStoreConfig> =
            crate::service::stored("feature group", &decode("OnlineStoreConfig"))?;
        let offline: Option<OfflineStoreConfig> =
            crate::service::stored("feature group", &decode("OfflineStoreConfig"))?;
        let features = definitions
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| {
                Some(Feature {
                    name: d.feature_name?,
                    kind: d.feature_type?,
                    collection: d.collection_type,
                })
            })
            .collect();
        let resolved = offline
            .and_then(|o| o.s3_storage_config)
            .and_then(|s| s.resolved_output_s3_uri)
            .and_then(|uri| split_s3_uri(&uri));
        Ok(Group {
            name: text("FeatureGroupName").to_string(),
            arn: row.arn.clone(),
            created: row.created,
            status: row.status_at(now).map(str::to_string),
            features,
            record_identifier: text("RecordIdentifierFeatureName").to_string(),
            event_time: text("EventTimeFeatureName").to_string(),
            online: online
                .as_ref()
                .and_then(|o| o.enable_online_store)
                .unwrap_or(false),
            ttl: online
                .and_then(|o| o.ttl_duration)
                .and_then(|t| ttl_seconds(t.unit.map(|u| u.as_str()), t.value)),
            offline: resolved,
        })
    }

    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.iter().find(|f| f.name == name)
    }

    /// Feature positions by name, for building offline rows.
    pub fn positions(&self) -> HashMap<&str, usize> {
        self.features
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.as_str(), i))
            .collect()
    }
}

/// A TtlDuration in seconds, from its unit's name (the control plane's and the record API's
/// models each have their own TtlDurationUnit enum, with the same names) and value.
pub fn ttl_seconds(unit: Option<&str>, value: Option<i64>) -> Option<f64> {
    let unit = match unit?.parse::<TtlDurationUnit>().ok()? {
        TtlDurationUnit::Seconds => 1.0,
        TtlDurationUnit::Minutes => 60.0,
        TtlDurationUnit::Hours => 3600.0,
        TtlDurationUnit::Days => 86_400.0,
        TtlDurationUnit::Weeks => 604_800.0,
    };
    Some(value? as f64 * unit)
}

/// `s3://bucket/some/prefix` → ("bucket", "some/prefix"), without a trailing '/'.
pub fn split_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), key.trim_end_matches('/').to_string()))
}

/// Where a new group's offline store writes: `<S3Uri>/<account>/sagemaker/<region>/
/// offline-store/<name>-<creation epoch seconds>/data`, as SageMaker resolves it.
pub fn resolved_output_uri(
    s3_uri: &str,
    account: &str,
    region: &str,
    name: &str,
    created: f64,
) -> String {
    format!(
        "{}/{account}/sagemaker/{region}/offline-store/{name}-{}/data",
        s3_uri.trim_end_matches('/'),
        created.floor() as i64
    )
}

/// An event time as epoch seconds: a Fractional feature holds epoch seconds, a String feature
/// an ISO-8601 time in UTC (`yyyy-MM-ddTHH:mm:ssZ`, optionally with fractional seconds).
pub fn parse_event_time(kind: FeatureType, value: &str) -> Option<f64> {
    match kind {
        FeatureType::Fractional | FeatureType::Integral => {
            value.parse::<f64>().ok().filter(|t| t.is_finite())
        }
        FeatureType::String => {
            let ok = value.ends_with('Z') && value.len() >= 20 && value.as_bytes()[10] == b'T';
            if ok {
                crate::aws::time::parse_iso8601(value)
            } else {
                None
            }
        }
    }
}

/// `2026-11-24T19:00:42Z`, or with milliseconds when the time has them (ExpiresAt).
pub fn iso_time(epoch: f64) -> String {
    let whole = crate::aws::time::iso8601(epoch);
    let millis = ((epoch - epoch.floor()) * 1000.0).round() as i64;
    if millis == 0 || millis >= 1000 {
        return whole;
    }
    format!("{}.{millis:03}Z", whole.trim_end_matches('Z'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_locations_follow_sagemaker_layout() {
        let uri = resolved_output_uri(
            "s3://b/pre/",
            "000000000000",
            "us-east-1",
            "fg",
            1_700_000_000.7,
        );
        assert_eq!(
            uri,
            "s3://b/pre/000000000000/sagemaker/us-east-1/offline-store/fg-1700000000/data"
        );
        assert_eq!(
            split_s3_uri(&uri),
            Some((
                "b".into(),
                "pre/000000000000/sagemaker/us-east-1/offline-store/fg-1700000000/data".into()
            ))
        );
        assert_eq!(split_s3_uri("s3://b"), Some(("b".into(), String::new())));
        assert_eq!(split_s3_uri("http://b"), None);
    }

    #[test]
    fn event_times_are_epoch_seconds_or_utc_iso_strings() {
        assert_eq!(
            parse_event_time(FeatureType::Fractional, "1700000000.5"),
            Some(1_700_000_000.5)
        );
        assert_eq!(
            parse_event_time(FeatureType::String, "2023-11-14T22:13:20Z"),
            Some(1_700_000_000.0)
        );
        assert_eq!(
            parse_event_time(FeatureType::String, "2023-11-14T22:13:20.250Z"),
            Some(1_700_000_000.25)
        );
        assert_eq!(parse_event_time(FeatureType::String, "1700000000"), None);
        assert_eq!(parse_event_time(FeatureType::Fractional, "soon"), None);
        assert_eq!(iso_time(1_700_000_000.25), "2023-11-14T22:13:20.250Z");
        assert_eq!(iso_time(1_700_000_000.0), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn ttl_units_convert_to_seconds() {
        assert_eq!(ttl_seconds(Some("Hours"), Some(2)), Some(7200.0));
        assert_eq!(ttl_seconds(Some("Fortnights"), Some(2)), None);
    }
}

//! A record checked against its feature group, as PutRecord's validation does it: every feature
//! defined and named once, each value of its feature's type (Integral and Fractional values
//! must parse, collections come as ValueAsStringList and nothing else does), and the record
//! identifier and event time present. What passes is read into what the stores keep.

use std::collections::HashSet;

use super::group::{Group, parse_event_time};
use super::offline::OfflineRow;
use super::parquet::{Cell, ColumnType};
use crate::aws::model::typed::sagemaker::FeatureType;
use crate::aws::model::typed::sagemaker_featurestore_runtime::FeatureValue;
use crate::service::{ServiceError, ServiceResult};

/// A record that passed: its identifier and event time, and a cell per feature column.
#[derive(Debug, Clone)]
pub struct Checked {
    pub record_id: String,
    pub event_time: f64,
    pub cells: Vec<Cell>,
}

fn invalid(message: String) -> ServiceError {
    ServiceError::Validation(message)
}

/// Checks `record` against `group`'s definitions.
pub fn check(group: &Group, record: &[FeatureValue]) -> ServiceResult<Checked> {
    let positions = group.positions();
    let mut cells = vec![Cell::Null; group.features.len()];
    let mut seen = HashSet::new();
    let (mut record_id, mut event_time) = (None, None);
    for value in record {
        let name = value.feature_name.as_deref().unwrap_or_default();
        let (Some(feature), Some(&at)) = (group.feature(name), positions.get(name)) else {
            return Err(invalid(format!(
                "The feature name [{name}] is not defined in the FeatureGroup [{}].",
                group.name
            )));
        };
        if !seen.insert(name) {
            return Err(invalid(format!(
                "The feature name [{name}] appears more than once in the Record."
            )));
        }
        let text = value.value_as_string.as_deref();
        if name == group.record_identifier {
            record_id = text.map(str::to_string);
        }
        if name == group.event_time {
            let parsed = text.and_then(|t| parse_event_time(feature.kind, t));
            event_time = Some(parsed.ok_or_else(|| {
                event_time_error(&group.event_time, text.unwrap_or_default(), feature.kind)
            })?);
        }
        cells[at] = match (&value.value_as_string, &value.value_as_string_list) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid(format!(
                    "The feature [{name}] must have exactly one of ValueAsString and ValueAsStringList."
                )));
            }
            (None, Some(list)) => {
                if feature.collection.is_none() {
                    return Err(invalid(format!(
                        "ValueAsStringList is only allowed for collection features; the feature [{name}] is not a collection type. Use ValueAsString."
                    )));
                }
                for v in list {
                    typed_cell(feature.kind, name, v)?;
                }
                Cell::Utf8(serde_json::to_string(list).unwrap_or_default())
            }
            (Some(v), None) => {
                if let Some(c) = feature.collection {
                    return Err(invalid(format!(
                        "The feature [{name}] is a {c} collection: its value must be given as ValueAsStringList."
                    )));
                }
                typed_cell(feature.kind, name, v)?
            }
        };
    }
    let record_id = record_id.ok_or_else(|| {
        invalid(format!(
            "The Record is missing the RecordIdentifierFeatureName [{}] of the FeatureGroup [{}].",
            group.record_identifier, group.name
        ))
    })?;
    let event_time = event_time.ok_or_else(|| {
        invalid(format!(
            "The Record is missing the EventTimeFeatureName [{}] of the FeatureGroup [{}].",
            group.event_time, group.name
        ))
    })?;
    Ok(Checked {
        record_id,
        event_time,
        cells,
    })
}

/// The error for an event time that does not parse as its feature's type requires.
pub fn event_time_error(feature: &str, value: &str, kind: FeatureType) -> ServiceError {
    let wanted = match kind {
        FeatureType::String => {
            "an ISO-8601 string in UTC: yyyy-MM-dd'T'HH:mm:ssZ or yyyy-MM-dd'T'HH:mm:ss.SSSZ"
        }
        _ => "epoch seconds",
    };
    invalid(format!(
        "Invalid value [{value}] for the EventTime feature [{feature}]: it must be {wanted}."
    ))
}

/// A value as its column holds it; a value that does not fit its feature's type is refused.
fn typed_cell(kind: FeatureType, name: &str, value: &str) -> ServiceResult<Cell> {
    let bad = || {
        invalid(format!(
            "The value [{value}] of the feature [{name}] is not a valid {kind} value."
        ))
    };
    Ok(match kind {
        FeatureType::String => Cell::Utf8(value.to_string()),
        FeatureType::Integral => Cell::Int64(value.trim().parse().map_err(|_| bad())?),
        FeatureType::Fractional => Cell::Double(
            value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(bad)?,
        ),
    })
}

/// The offline store's column types for a group's features (collections as JSON text).
pub fn column_types(group: &Group) -> Vec<(String, ColumnType)> {
    group
        .features
        .iter()
        .map(|f| {
            let kind = match (f.collection, f.kind) {
                (Some(_), _) | (None, FeatureType::String) => ColumnType::Utf8,
                (None, FeatureType::Integral) => ColumnType::Int64,
                (None, FeatureType::Fractional) => ColumnType::Double,
            };
            (f.name.clone(), kind)
        })
        .collect()
}

/// The offline row marking a delete: the identifier and the delete's event time, nulls else.
pub fn deleted_row(group: &Group, record_id: &str, event_time: &str, at: f64) -> OfflineRow {
    let positions = group.positions();
    let mut cells = vec![Cell::Null; group.features.len()];
    let mut put = |name: &str, value: &str| {
        if let (Some(&i), Some(f)) = (positions.get(name), group.feature(name)) {
            cells[i] = typed_cell(f.kind, name, value).unwrap_or(Cell::Null);
        }
    };
    put(&group.record_identifier, record_id);
    put(&group.event_time, event_time);
    OfflineRow {
        cells,
        event_time: group
            .feature(&group.event_time)
            .and_then(|f| parse_event_time(f.kind, event_time))
            .unwrap_or(at),
        api_invocation_time: at,
        is_deleted: true,
    }
}

#[cfg(test)]
mod tests {
    use super::super::group::Feature;
    use super::*;
    use crate::aws::model::typed::sagemaker::CollectionType;

    fn group() -> Group {
        let f = |name: &str, kind, collection| Feature {
            name: name.into(),
            kind,
            collection,
        };
        Group {
            name: "fg".into(),
            arn: "arn".into(),
            created: 0.0,
            status: Some("Created".into()),
            features: vec![
                f("id", FeatureType::String, None),
                f("t", FeatureType::Fractional, None),
                f("n", FeatureType::Integral, None),
                f("tags", FeatureType::String, Some(CollectionType::List)),
            ],
            record_identifier: "id".into(),
            event_time: "t".into(),
            online: true,
            ttl: None,
            offline: None,
        }
    }

    fn value(name: &str, v: &str) -> FeatureValue {
        FeatureValue {
            feature_name: Some(name.into()),
            value_as_string: Some(v.into()),
            value_as_string_list: None,
        }
    }

    #[test]
    fn a_complete_record_passes_with_typed_cells() {
        let mut tags = value("tags", "");
        tags.value_as_string = None;
        tags.value_as_string_list = Some(vec!["a".into(), "b".into()]);
        let rec = [
            value("id", "r1"),
            value("t", "1700000000.5"),
            value("n", "7"),
            tags,
        ];
        let c = check(&group(), &rec).unwrap();
        assert_eq!(
            (c.record_id.as_str(), c.event_time),
            ("r1", 1_700_000_000.5)
        );
        assert_eq!(c.cells[2], Cell::Int64(7));
        assert_eq!(c.cells[3], Cell::Utf8(r#"["a","b"]"#.into()));
    }

    #[test]
    fn records_that_break_the_definitions_are_refused() {
        let g = group();
        let err = |rec: &[FeatureValue]| check(&g, rec).unwrap_err().to_string();
        assert!(err(&[value("id", "r"), value("t", "1"), value("x", "1")]).contains("[x]"));
        assert!(err(&[value("t", "1")]).contains("RecordIdentifierFeatureName [id]"));
        assert!(err(&[value("id", "r")]).contains("EventTimeFeatureName [t]"));
        assert!(err(&[value("id", "r"), value("t", "1"), value("n", "1.5")]).contains("Integral"));
        assert!(err(&[value("id", "r"), value("t", "soon")]).contains("EventTime"));
        assert!(err(&[value("id", "r"), value("t", "1"), value("tags", "a")]).contains("List"));
        assert!(err(&[value("id", "r"), value("id", "s"), value("t", "1")]).contains("once"));
    }

    #[test]
    fn delete_markers_carry_only_the_identifier_and_event_time() {
        let row = deleted_row(&group(), "r1", "1700000000", 5.0);
        assert!(row.is_deleted);
        assert_eq!(row.event_time, 1_700_000_000.0);
        assert_eq!(row.cells[0], Cell::Utf8("r1".into()));
        assert_eq!(row.cells[1], Cell::Double(1_700_000_000.0));
        assert_eq!(row.cells[2], Cell::Null);
    }
}

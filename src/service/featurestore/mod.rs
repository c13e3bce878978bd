//! SageMaker Feature Store's records: PutRecord, GetRecord and DeleteRecord of the
//! `sagemaker-featurestore-runtime` API (the batch calls and ListRecords are in `batch`), against
//! feature groups that the stored-resource engine keeps (CreateFeatureGroup goes through
//! `create_feature_group` here, which adds what SageMaker resolves at creation: the offline
//! store's ResolvedOutputS3Uri and Glue table; Delete is here too).
//!
//! The online store is a table of the latest record per identifier (store/features.rs); the
//! offline store appends every write and delete to Parquet files in the group's S3 location
//! (`offline`). A record's TTL (PutRecord's TtlDuration, else the group's) makes it expire at
//! EventTime + TTL, after which it is no longer served.

mod batch;
pub mod group;
mod offline;
pub mod parquet;
mod records;

use serde_json::{Value, json};

use super::{Request, ServiceError, ServiceResult, Services};
use crate::aws::model::typed::sagemaker::FeatureType;
use crate::aws::model::typed::sagemaker_featurestore_runtime::{
    DeleteRecordRequest, DeletionMode, FeatureValue, GetRecordRequest, PutRecordRequest,
    TargetStore,
};
use crate::aws::time::now_epoch;
use crate::service::stored::catalog::{Family, catalog};
use crate::store::features::{Deleted, OnlineRecord};
use crate::store::stored::StoredRow;
use group::Group;
use offline::{Destination, OfflineRow};

pub use batch::{BatchRecords, WriteFailure};
pub use offline::OfflineBuffer;

/// A record the online store serves: its features (those asked for) and when it expires.
#[derive(Debug, Clone)]
pub struct FoundRecord {
    pub record: Vec<FeatureValue>,
    pub expires_at: Option<f64>,
}

/// How an operation reports a feature group that is not there: GetRecord's model lists
/// ResourceNotFound, PutRecord's and DeleteRecord's do not (SageMaker answers ValidationError).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    NotFound,
    Validation,
}

/// The record API's error code for a service error (the api maps whole calls the same way).
fn code_of(e: &ServiceError) -> &'static str {
    match e {
        ServiceError::NotFound(_) => "ResourceNotFound",
        ServiceError::Internal(_) => "InternalFailure",
        ServiceError::Conflict(_) => "ConflictException",
        _ => "ValidationError",
    }
}

fn family() -> ServiceResult<&'static Family> {
    catalog()
        .family("FeatureGroup")
        .ok_or_else(|| ServiceError::Internal("the catalog has no FeatureGroup family".into()))
}

fn wants(targets: &Option<Vec<TargetStore>>, store: TargetStore) -> bool {
    targets.as_ref().is_none_or(|t| t.contains(&store))
}

impl Services {
    /// CreateFeatureGroup: the stored engine's create, after the checks SageMaker makes of the
    /// definitions, with the offline store's resolved location and Glue table added.
    pub async fn create_feature_group(&self, req: Request) -> ServiceResult<StoredRow> {
        check_definitions(&req)?;
        let fam = family()?;
        let mut row = self.stored_create(fam, req).await?;
        let name = row.request["FeatureGroupName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let created = row.created;
        let config = self.config();
        if let Some(offline) = row.request.get_mut("OfflineStoreConfig")
            && let Some(s3) = offline.get_mut("S3StorageConfig")
            && let Some(uri) = s3.get("S3Uri").and_then(Value::as_str)
        {
            let resolved =
                group::resolved_output_uri(uri, &config.account_id, &config.region, &name, created);
            s3["ResolvedOutputS3Uri"] = json!(resolved);
            let glue = offline.get("DisableGlueTableCreation") != Some(&json!(true));
            if glue && offline.get("DataCatalogConfig").is_none() {
                let table = format!(
                    "{}_{}",
                    name.to_lowercase().replace('-', "_"),
                    created as i64
                );
                offline["DataCatalogConfig"] = json!({
                    "TableName": table, "Catalog": "AwsDataCatalog",
                    "Database": "sagemaker_featurestore"
                });
            }
            self.store.stored_put(row.clone()).await?;
        }
        Ok(row)
    }

    /// DeleteFeatureGroup: the stored engine's delete, and the group's online records with it
    /// (its offline files stay in the user's bucket, as SageMaker leaves them).
    pub async fn delete_feature_group(&self, req: &Request) -> ServiceResult<StoredRow> {
        let row = self.stored_delete(family()?, req).await?;
        if let Some(name) = row.request.get("FeatureGroupName").and_then(Value::as_str) {
            let n = self.store.feature_delete_group(name).await?;
            tracing::debug!(group = name, records = n, "feature group deleted");
        }
        Ok(row)
    }

    /// Every feature group, newest first, read into its rules (for the console).
    pub async fn feature_groups(&self) -> ServiceResult<Vec<Group>> {
        let now = now_epoch();
        let mut rows = self.stored_rows(family()?).await?;
        rows.sort_by(|a, b| b.created.total_cmp(&a.created));
        rows.iter().map(|r| Group::from_row(r, now)).collect()
    }

    /// One feature group by name, whatever its status (for the console).
    pub async fn feature_group_named(&self, name: &str) -> ServiceResult<Group> {
        let mut req = Request::new();
        req.insert("FeatureGroupName".into(), json!(name));
        let row = self.stored_find(family()?, &req, "Describe").await?;
        Group::from_row(&row, now_epoch())
    }

    /// The group a record call names (by name or ARN), once it is Created.
    async fn feature_group(&self, name: &str, missing: Missing) -> ServiceResult<Group> {
        let mut req = Request::new();
        req.insert("FeatureGroupName".into(), json!(name));
        let row = match self.stored_find(family()?, &req, "Describe").await {
            Ok(row) => row,
            Err(ServiceError::NotFound(_) | ServiceError::Validation(_)) => {
                let shown = name.rsplit('/').next().unwrap_or(name);
                let m = format!(
                    "Resource Not Found: Amazon SageMaker can't find a FeatureGroup with name [{shown}]."
                );
                return Err(match missing {
                    Missing::NotFound => ServiceError::NotFound(m),
                    Missing::Validation => ServiceError::Validation(m),
                });
            }
            Err(e) => return Err(e),
        };
        let group = Group::from_row(&row, now_epoch())?;
        match group.status.as_deref() {
            Some("Created") => Ok(group),
            status => Err(ServiceError::Validation(format!(
                "The FeatureGroup [{}] is in [{}] status; records can be used only once it is Created.",
                group.name,
                status.unwrap_or("unknown")
            ))),
        }
    }

    pub async fn put_record(&self, req: PutRecordRequest) -> ServiceResult<()> {
        self.put_record_in(req, Missing::Validation).await
    }

    /// PutRecord, with `missing` saying how an unknown group is reported.
    async fn put_record_in(&self, req: PutRecordRequest, missing: Missing) -> ServiceResult<()> {
        let name = req.feature_group_name.unwrap_or_default();
        let group = self.feature_group(&name, missing).await?;
        let checked = records::check(&group, req.record.as_deref().unwrap_or_default())?;
        let (online, offline) = self.targets(&group, &req.target_stores)?;
        let now = now_epoch();
        if online {
            let ttl = req
                .ttl_duration
                .as_ref()
                .and_then(|t| group::ttl_seconds(t.unit.map(|u| u.as_str()), t.value))
                .or(group.ttl);
            let written = self
                .store
                .feature_put(OnlineRecord {
                    feature_group: group.name.clone(),
                    record_id: checked.record_id.clone(),
                    event_time: checked.event_time,
                    expires_at: ttl.map(|t| checked.event_time + t),
                    deleted: false,
                    record: serde_json::to_value(req.record.unwrap_or_default())
                        .map_err(|e| ServiceError::Internal(e.to_string()))?,
                })
                .await?;
            if !written {
                tracing::debug!(
                    group = group.name,
                    "older record kept out of the online store"
                );
            }
        }
        if offline {
            let row = OfflineRow {
                cells: checked.cells,
                event_time: checked.event_time,
                api_invocation_time: now,
                is_deleted: false,
            };
            self.append_offline(&group, row);
        }
        Ok(())
    }

    /// Which stores a write goes to: those named (each must be one the group has), else all
    /// the group has.
    fn targets(
        &self,
        group: &Group,
        targets: &Option<Vec<TargetStore>>,
    ) -> ServiceResult<(bool, bool)> {
        for t in targets.iter().flatten() {
            let has = match t {
                TargetStore::OnlineStore => group.online,
                TargetStore::OfflineStore => group.offline.is_some(),
            };
            if !has {
                return Err(ServiceError::Validation(format!(
                    "The FeatureGroup [{}] does not have an {t}; remove it from TargetStores.",
                    group.name
                )));
            }
        }
        Ok((
            group.online && wants(targets, TargetStore::OnlineStore),
            group.offline.is_some() && wants(targets, TargetStore::OfflineStore),
        ))
    }

    fn append_offline(&self, group: &Group, row: OfflineRow) {
        let Some((bucket, prefix)) = group.offline.clone() else {
            return;
        };
        let dest = Destination {
            group: group.name.clone(),
            bucket,
            prefix,
            columns: records::column_types(group),
        };
        self.offline.append(&self.objects, dest, row);
    }

    /// Writes the offline store's waiting rows now (the server is stopping).
    pub async fn flush_offline_store(&self) {
        self.offline.flush(&self.objects).await;
    }

    pub async fn get_record(&self, req: GetRecordRequest) -> ServiceResult<Option<FoundRecord>> {
        let name = req.feature_group_name.unwrap_or_default();
        let group = self.feature_group(&name, Missing::NotFound).await?;
        let id = req.record_identifier_value_as_string.unwrap_or_default();
        self.online_record(&group, &id, req.feature_names.as_deref())
            .await
    }

    /// The record an identifier has in the online store, unless deleted or expired; only the
    /// features asked for (all without a list), each of which must be defined.
    async fn online_record(
        &self,
        group: &Group,
        id: &str,
        names: Option<&[String]>,
    ) -> ServiceResult<Option<FoundRecord>> {
        if !group.online {
            return Err(ServiceError::Validation(format!(
                "The FeatureGroup [{}] does not have an OnlineStore enabled.",
                group.name
            )));
        }
        if let Some(bad) = names
            .into_iter()
            .flatten()
            .find(|n| group.feature(n).is_none())
        {
            return Err(ServiceError::Validation(format!(
                "The feature name [{bad}] is not defined in the FeatureGroup [{}].",
                group.name
            )));
        }
        let Some(rec) = self.store.feature_get(&group.name, id).await? else {
            return Ok(None);
        };
        if rec.deleted || rec.expires_at.is_some_and(|t| t <= now_epoch()) {
            return Ok(None);
        }
        let values: Vec<FeatureValue> = crate::service::stored("feature record", &rec.record)?;
        let record: Vec<FeatureValue> = values
            .into_iter()
            .filter(|v| {
                let n = v.feature_name.as_deref().unwrap_or_default();
                names.is_none_or(|wanted| wanted.iter().any(|w| w == n))
            })
            .collect();
        if record.is_empty() {
            return Ok(None);
        }
        Ok(Some(FoundRecord {
            record,
            expires_at: rec.expires_at,
        }))
    }

    pub async fn delete_record(&self, req: DeleteRecordRequest) -> ServiceResult<()> {
        let name = req.feature_group_name.unwrap_or_default();
        let group = self.feature_group(&name, Missing::Validation).await?;
        let id = req.record_identifier_value_as_string.unwrap_or_default();
        let event_text = req.event_time.unwrap_or_default();
        let kind = group
            .feature(&group.event_time)
            .map_or(FeatureType::String, |f| f.kind);
        let event_time = group::parse_event_time(kind, &event_text)
            .ok_or_else(|| records::event_time_error(&group.event_time, &event_text, kind))?;
        let (online, offline) = self.targets(&group, &req.target_stores)?;
        let hard = req.deletion_mode == Some(DeletionMode::HardDelete);
        if online {
            let done = self
                .store
                .feature_delete(&group.name, &id, event_time, hard)
                .await?;
            if done == Deleted::Newer && hard {
                return Err(ServiceError::Validation(format!(
                    "EventTime: the record [{id}] has an EventTime later than the delete's [{event_text}]; it was not deleted."
                )));
            }
        }
        if offline {
            let row = records::deleted_row(&group, &id, &event_text, now_epoch());
            self.append_offline(&group, row);
        }
        Ok(())
    }
}

/// What CreateFeatureGroup checks beyond the model: unique feature names, the record
/// identifier and event time among them, and an event time of type String or Fractional.
fn check_definitions(req: &Request) -> ServiceResult<()> {
    let defs = req
        .get("FeatureDefinitions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let name_of = |d: &Value| {
        d.get("FeatureName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut seen = std::collections::HashSet::new();
    for d in &defs {
        let n = name_of(d);
        if !seen.insert(n.to_lowercase()) {
            return Err(ServiceError::Validation(format!(
                "The feature name [{n}] is defined more than once in FeatureDefinitions."
            )));
        }
    }
    let find = |member: &str| {
        let wanted = req.get(member).and_then(Value::as_str).unwrap_or_default();
        let def = defs.iter().find(|d| name_of(d) == wanted);
        def.ok_or_else(|| {
            ServiceError::Validation(format!(
                "The {member} [{wanted}] must be one of the features in FeatureDefinitions."
            ))
        })
        .cloned()
    };
    find("RecordIdentifierFeatureName")?;
    let event = find("EventTimeFeatureName")?;
    match event.get("FeatureType").and_then(Value::as_str) {
        Some("String" | "Fractional") => Ok(()),
        other => Err(ServiceError::Validation(format!(
            "The EventTimeFeatureName [{}] must be of type String or Fractional, not {}.",
            name_of(&event),
            other.unwrap_or("unset")
        ))),
    }
}

//! The record API's batch and listing calls: BatchGetRecord and BatchWriteRecord answer each
//! entry on its own (a failing one is reported in `Errors` and the rest still go through, as
//! SageMaker does), and ListRecords pages through a group's record identifiers.

use super::{FoundRecord, Missing, code_of};
use crate::aws::model::typed::sagemaker_featurestore_runtime::{
    BatchGetRecordIdentifier, BatchWriteRecordEntry, PutRecordRequest, TtlDuration,
};
use crate::aws::time::now_epoch;
use crate::service::{ServiceError, ServiceResult, Services};
use crate::store::resources::Cursor;

/// BatchGetRecord's answer, per group and identifier.
#[derive(Debug, Default)]
pub struct BatchRecords {
    /// (group as named in the request, record identifier, the record).
    pub records: Vec<(String, String, FoundRecord)>,
    /// (group, record identifier, error code, message).
    pub errors: Vec<(String, String, &'static str, String)>,
}

/// A BatchWriteRecord entry that was not written: the entry, its error code and message.
#[derive(Debug)]
pub struct WriteFailure {
    pub entry: BatchWriteRecordEntry,
    pub code: &'static str,
    pub message: String,
}

/// Most identifiers ListRecords answers at once when MaxResults is not given.
const LIST_PAGE: usize = 100;

impl Services {
    /// BatchGetRecord: each identifier's records; a group that cannot be read is reported
    /// once per record identifier it names, and the rest are still answered.
    pub async fn batch_get_record(
        &self,
        identifiers: Vec<BatchGetRecordIdentifier>,
    ) -> ServiceResult<BatchRecords> {
        let mut out = BatchRecords::default();
        for ident in identifiers {
            let name = ident.feature_group_name.unwrap_or_default();
            let ids = ident.record_identifiers_value_as_string.unwrap_or_default();
            let fail = |out: &mut BatchRecords, e: ServiceError| {
                let code = code_of(&e);
                for id in &ids {
                    out.errors
                        .push((name.clone(), id.clone(), code, e.to_string()));
                }
            };
            let group = match self.feature_group(&name, Missing::NotFound).await {
                Ok(g) => g,
                Err(e) => {
                    fail(&mut out, e);
                    continue;
                }
            };
            for id in &ids {
                match self
                    .online_record(&group, id, ident.feature_names.as_deref())
                    .await
                {
                    Ok(Some(found)) => out.records.push((name.clone(), id.clone(), found)),
                    Ok(None) => {}
                    Err(e) => {
                        fail(&mut out, e);
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// BatchWriteRecord: each entry as a PutRecord (with the request's TtlDuration where the
    /// entry has none); the entries that fail, with why.
    pub async fn batch_write_record(
        &self,
        entries: Vec<BatchWriteRecordEntry>,
        ttl: Option<TtlDuration>,
    ) -> ServiceResult<Vec<WriteFailure>> {
        let mut failures = Vec::new();
        for entry in entries {
            let put = PutRecordRequest {
                feature_group_name: entry.feature_group_name.clone(),
                record: entry.record.clone(),
                target_stores: entry.target_stores.clone(),
                ttl_duration: entry.ttl_duration.clone().or_else(|| ttl.clone()),
            };
            match self.put_record_in(put, Missing::NotFound).await {
                Ok(()) => {}
                Err(ServiceError::Internal(m)) => return Err(ServiceError::Internal(m)),
                Err(e) => failures.push(WriteFailure {
                    entry,
                    code: code_of(&e),
                    message: e.to_string(),
                }),
            }
        }
        Ok(failures)
    }

    /// ListRecords: a page of the group's record identifiers in order (soft-deleted ones only
    /// when asked for; expired ones never), and the token of the next page.
    pub async fn list_records(
        &self,
        name: &str,
        max_results: Option<i64>,
        next_token: Option<&str>,
        include_deleted: bool,
    ) -> ServiceResult<(Vec<String>, Option<String>)> {
        let group = self.feature_group(name, Missing::NotFound).await?;
        if !group.online {
            return Err(ServiceError::Validation(format!(
                "The FeatureGroup [{}] does not have an OnlineStore enabled.",
                group.name
            )));
        }
        let after = match next_token {
            Some(t) => match crate::service::pagination::decode(t)? {
                Cursor::Name(n) => Some(n),
                Cursor::Created(..) => {
                    return Err(ServiceError::Validation(format!(
                        "Invalid pagination token: \"{t}\"."
                    )));
                }
            },
            None => None,
        };
        let limit = max_results.map_or(LIST_PAGE, |m| m.clamp(1, 100) as usize);
        let mut ids = self
            .store
            .feature_ids(&group.name, after, limit + 1, include_deleted, now_epoch())
            .await?;
        let next = if ids.len() > limit {
            ids.truncate(limit);
            ids.last()
                .map(|last| crate::service::pagination::encode(&Cursor::Name(last.clone())))
        } else {
            None
        };
        Ok((ids, next))
    }
}

//! What every stored SageMaker resource shares: create with tags, describe, delete and list with
//! SageMaker's filters, sort orders and pagination. Resource families (hosting, training, ...)
//! add their own rules on top and call these.

use std::sync::Arc;

use serde_json::Value;

use super::{Request, ServiceError, ServiceResult, Services, pagination};
use crate::aws::model::typed::sagemaker::Tag;
use crate::aws::time::now_epoch;
use crate::store::resources::{Cursor, ListQuery, Resource, ResourceKind, SortKey, StateWrite};

/// How often `change_state` reads again a row that changed under it before it gives up: each
/// retry means another writer's write landed, and a resource has at most a few writers.
const CHANGE_TRIES: u32 = 50;

/// How SageMaker names a kind in its messages ("Could not find endpoint configuration ...").
pub fn noun(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Model => "model",
        ResourceKind::EndpointConfig => "endpoint configuration",
        ResourceKind::TrainingJob => "training job",
        ResourceKind::Endpoint => "endpoint",
        ResourceKind::TransformJob => "transform job",
        ResourceKind::NotebookInstance => "notebook instance",
        ResourceKind::NotebookLifecycleConfig => "notebook instance lifecycle configuration",
        ResourceKind::ProcessingJob => "processing job",
        ResourceKind::HyperParameterTuningJob => "hyper parameter tuning job",
        ResourceKind::ModelPackageGroup => "model package group",
        ResourceKind::ModelPackage => "model package",
        ResourceKind::Pipeline => "pipeline",
        ResourceKind::PipelineExecution => "pipeline execution",
    }
}

/// A List* request: the filters and order (the query's cursor is filled in from the token).
#[derive(Debug, Clone)]
pub struct ListParams {
    pub query: ListQuery,
    pub next_token: Option<String>,
}

pub struct Page<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

pub fn not_found(services: &Services, kind: ResourceKind, name: &str) -> ServiceError {
    ServiceError::Validation(format!(
        "Could not find {} \"{}\".",
        noun(kind),
        services.sagemaker_arn(kind.arn_type(), name)
    ))
}

/// `Tags: [{Key, Value}]` from a request, as the pairs the tag table holds.
pub fn tags_member(req: &Request) -> Vec<(String, String)> {
    /// The one member of any Create* input read here.
    #[derive(serde::Deserialize)]
    struct Tagged {
        #[serde(rename = "Tags", default)]
        tags: Option<Vec<Tag>>,
    }
    // the api layer validated Tags against the model, so a request that does not decode has none
    let tagged: Option<Tagged> = crate::aws::model::typed::decode(req).ok();
    tag_pairs(tagged.and_then(|t| t.tags))
}

/// Typed tags as (key, value) pairs; a tag without a key is no tag, one without a value has "".
pub fn tag_pairs(tags: Option<Vec<Tag>>) -> Vec<(String, String)> {
    tags.into_iter()
        .flatten()
        .filter_map(|t| Some((t.key?, t.value.unwrap_or_default())))
        .collect()
}

impl Services {
    /// Every resource of a hand-written kind, oldest first: (name, ARN). For Search.
    pub async fn resource_names(&self, kind: ResourceKind) -> ServiceResult<Vec<(String, String)>> {
        let rows = self
            .store
            .list_bare_resources(kind, crate::store::ListQuery::every(None))
            .await?;
        Ok(rows.into_iter().map(|r| (r.name, r.arn)).collect())
    }

    /// DeleteTrainingJob, DeleteProcessingJob, DeleteHyperParameterTuningJob: a job is deleted
    /// only once it has ended, as SageMaker allows; its logs stay, as CloudWatch's do.
    pub async fn delete_finished_job(&self, kind: ResourceKind, name: &str) -> ServiceResult<()> {
        let res = self.store.resource(kind, name).await?.ok_or_else(|| {
            ServiceError::NotFound(format!("Could not find {} \"{name}\".", noun(kind)))
        })?;
        let status = res.status.as_deref().unwrap_or_default();
        if !matches!(status, "Completed" | "Failed" | "Stopped") {
            let message = format!(
                "The {} \"{name}\" is {status}; only a job that has ended can be deleted. Stop it first.",
                noun(kind)
            );
            return Err(match kind {
                ResourceKind::HyperParameterTuningJob => ServiceError::Validation(message),
                _ => ServiceError::InUse(message),
            });
        }
        self.store.delete_resource(kind, &res.name).await?;
        Ok(())
    }

    /// Stores a new resource and its tags in one transaction. The request is kept as sent
    /// (minus `Tags`, which live in the tag table); `derived` holds what sagebox filled in.
    pub async fn create_resource(
        &self,
        kind: ResourceKind,
        name: &str,
        mut request: Request,
        derived: Value,
        status: Option<&str>,
    ) -> ServiceResult<Arc<Resource>> {
        let tag_list = tags_member(&request);
        super::tags::check_count(&tag_list)?;
        request.remove("Tags");
        let now = now_epoch();
        let arn = self.sagemaker_arn(kind.arn_type(), name);
        let res = Resource {
            name: name.to_string(),
            arn: arn.clone(),
            status: status.map(str::to_string),
            created: now,
            modified: now,
            request: Value::Object(request),
            derived,
        };
        match self.store.create_resource(kind, res, tag_list).await {
            Ok(res) => Ok(res),
            Err(crate::store::StoreError::AlreadyExists) => Err(ServiceError::Duplicate(format!(
                "Cannot create already existing {} \"{arn}\".",
                noun(kind)
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a resource's status and what `edit` changes in its derived members (with
    /// `LastModifiedTime` now), on the row as it stands when it is written (see
    /// `change_state`). A resource that is gone is left alone.
    pub(crate) async fn update_status(
        &self,
        kind: ResourceKind,
        name: &str,
        status: &str,
        edit: impl Fn(&mut serde_json::Map<String, Value>),
    ) -> ServiceResult<()> {
        self.change_state(kind, name, |_, d| {
            edit(d);
            Ok(Some(status.to_string()))
        })
        .await
        .map(|_| ())
    }

    /// A read-decide-write of `name`'s state that loses no write made meanwhile. `decide` gets
    /// the resource as Describe shows it and a copy of its derived members (with
    /// `LastModifiedTime` now) to edit; it answers the status to write, `None` to write nothing,
    /// or an error to hand back. The write happens only if the row is still the one read; when
    /// another writer (a supervisor, a Stop call) got in between, the row is read and `decide`
    /// asked again. Returns whether a state was written (false also when the resource is gone).
    pub(crate) async fn change_state(
        &self,
        kind: ResourceKind,
        name: &str,
        mut decide: impl FnMut(
            &Resource,
            &mut serde_json::Map<String, Value>,
        ) -> ServiceResult<Option<String>>,
    ) -> ServiceResult<bool> {
        for _ in 0..CHANGE_TRIES {
            let Some(row) = self.store.resource(kind, name).await? else {
                return Ok(false);
            };
            let shown = self.unsaved.overlay(kind, row.clone());
            let mut derived = shown.derived.as_object().cloned().unwrap_or_default();
            derived.insert("LastModifiedTime".into(), serde_json::json!(now_epoch()));
            let Some(status) = decide(&shown, &mut derived)? else {
                return Ok(false);
            };
            let write = self
                .store
                .update_resource_state_if(
                    kind,
                    row,
                    Some(status),
                    Value::Object(derived),
                    now_epoch(),
                )
                .await?;
            match write {
                StateWrite::Written => {
                    self.unsaved.forget(kind, name);
                    return Ok(true);
                }
                StateWrite::Gone => return Ok(false),
                StateWrite::Changed => continue,
            }
        }
        Err(ServiceError::Internal(format!(
            "{} {name} changed {CHANGE_TRIES} times while sagebox tried to write its state; try again",
            noun(kind)
        )))
    }

    /// The stored resource, with the terminal state a supervisor reached but could not yet save
    /// laid over it.
    pub async fn describe_resource(
        &self,
        kind: ResourceKind,
        name: &str,
    ) -> ServiceResult<Arc<Resource>> {
        let res = self
            .store
            .resource(kind, name)
            .await?
            .ok_or_else(|| not_found(self, kind, name))?;
        Ok(self.unsaved.overlay(kind, res))
    }

    pub async fn delete_resource(&self, kind: ResourceKind, name: &str) -> ServiceResult<()> {
        if self.store.delete_resource(kind, name).await? {
            self.unsaved.forget(kind, name);
            Ok(())
        } else {
            Err(not_found(self, kind, name))
        }
    }

    pub async fn list_resources(
        &self,
        kind: ResourceKind,
        p: ListParams,
    ) -> ServiceResult<Page<Resource>> {
        self.list_page(kind, p, false).await
    }

    /// A page whose rows carry no JSON documents (`request` and `derived` are Null, but for a
    /// state not saved yet), for summaries made of the name, ARN, status and times alone.
    pub async fn list_bare_resources(
        &self,
        kind: ResourceKind,
        p: ListParams,
    ) -> ServiceResult<Page<Resource>> {
        self.list_page(kind, p, true).await
    }

    async fn list_page(
        &self,
        kind: ResourceKind,
        p: ListParams,
        bare: bool,
    ) -> ServiceResult<Page<Resource>> {
        let ListParams {
            mut query,
            next_token,
        } = p;
        query.after = next_token.as_deref().map(pagination::decode).transpose()?;
        let (limit, sort) = (query.limit, query.sort);
        let wanted = query.status_equals.clone();
        let mut items = if bare {
            self.store.list_bare_resources(kind, query).await?
        } else {
            self.store.list_resources(kind, query).await?
        };
        let next_token = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| {
                pagination::encode(&match sort {
                    SortKey::Name => Cursor::Name(last.name.clone()),
                    SortKey::CreationTime => Cursor::Created(last.created, last.name.clone()),
                })
            })
        } else {
            None
        };
        // a state not saved yet shows here as in Describe; the store filtered by the saved one
        let items = items
            .into_iter()
            .map(|res| Arc::unwrap_or_clone(self.unsaved.overlay(kind, Arc::new(res))))
            .filter(|res| wanted.is_none() || res.status == wanted)
            .collect();
        Ok(Page { items, next_token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_member_reads_key_value_pairs_in_order() {
        let req: Request = serde_json::from_value(serde_json::json!({
            "ModelName": "m",
            "Tags": [{"Key": "team", "Value": "ml"}, {"Key": "empty"}],
        }))
        .expect("a request");
        assert_eq!(
            tags_member(&req),
            [
                ("team".to_string(), "ml".to_string()),
                ("empty".to_string(), String::new())
            ]
        );
        assert!(tags_member(&Request::new()).is_empty());
    }
}

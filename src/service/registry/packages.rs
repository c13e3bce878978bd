//! CreateModelPackage, DescribeModelPackage, ListModelPackages, DeleteModelPackage and
//! BatchDescribeModelPackage. UpdateModelPackage lives in `update.rs`.

use std::sync::Arc;

use serde_json::{Value, json};

use super::COMPLETED;
use crate::aws::model::typed::sagemaker::{
    CreateModelPackageInput, ModelApprovalStatus, ModelPackageType,
};
use crate::aws::time::now_epoch;
use crate::service::described::Record;
use crate::service::resources::Page;
use crate::service::{Input, ServiceError, ServiceResult, Services, pagination};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

/// How many taken version numbers a create steps over before giving up (concurrent creates in
/// one group race for the next number; the store refuses all but one).
const VERSION_TRIES: i64 = 64;

/// A model package (DescribeModelPackage, ListModelPackages). A versioned package's row is
/// named `<group>/<version>`; its derived members hold ModelPackageGroupName,
/// ModelPackageVersion, ModelApprovalStatus and whatever UpdateModelPackage changed, which win
/// over the request's.
#[derive(Debug, Clone)]
pub struct ModelPackage {
    pub record: Record,
    /// ModelPackageStatus: Completed once stored.
    pub status: String,
}

impl ModelPackage {
    pub(crate) fn of(r: &Resource) -> ModelPackage {
        ModelPackage {
            record: Record::from(r),
            status: r.status.clone().unwrap_or_else(|| COMPLETED.into()),
        }
    }

    /// A member as Describe shows it: derived over requested.
    pub fn member(&self, name: &str) -> Option<&Value> {
        self.record
            .derived
            .get(name)
            .or_else(|| self.record.request.get(name))
    }

    /// The group of a versioned package.
    pub fn group(&self) -> Option<&str> {
        self.record
            .derived
            .get("ModelPackageGroupName")
            .and_then(Value::as_str)
    }

    pub fn version(&self) -> Option<i64> {
        self.record
            .derived
            .get("ModelPackageVersion")
            .and_then(Value::as_i64)
    }

    /// ModelPackageName as SageMaker reports it: the group's name for a version.
    pub fn name(&self) -> &str {
        self.group().unwrap_or(&self.record.name)
    }

    pub fn approval(&self) -> Option<ModelApprovalStatus> {
        self.member("ModelApprovalStatus")?.as_str()?.parse().ok()
    }
}

/// ListModelPackages' filters and order.
#[derive(Debug, Clone)]
pub struct ModelPackageListParams {
    /// ModelPackageGroupName, by name or ARN: only that group's versions.
    pub group: Option<String>,
    pub approval: Option<ModelApprovalStatus>,
    /// Unversioned unless asked (or a group is named).
    pub package_type: Option<ModelPackageType>,
    pub name_contains: Option<String>,
    pub created_after: Option<f64>,
    pub created_before: Option<f64>,
    pub by_name: bool,
    pub descending: bool,
    pub limit: usize,
    pub next_token: Option<String>,
}

impl Services {
    pub async fn create_model_package(
        &self,
        input: Input<CreateModelPackageInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        if req.inference_specification.is_none() && req.source_algorithm_specification.is_none() {
            return Err(ServiceError::Validation(
                "Either InferenceSpecification or SourceAlgorithmSpecification must be specified."
                    .into(),
            ));
        }
        match (
            req.model_package_group_name.clone(),
            req.model_package_name.clone(),
        ) {
            (Some(group), None) => self.create_version(&group, input).await,
            (None, Some(name)) => self.create_unversioned(&name, input.raw).await,
            (Some(_), Some(_)) => Err(ServiceError::Validation(
                "ModelPackageName is not applicable to versioned model packages: specify either ModelPackageName (an unversioned package) or ModelPackageGroupName (a new version in that group), not both.".into(),
            )),
            (None, None) => Err(ServiceError::Validation(
                "Either ModelPackageName or ModelPackageGroupName must be specified.".into(),
            )),
        }
    }

    /// The next version in `group`: one past the highest it ever held.
    async fn create_version(
        &self,
        group: &str,
        input: Input<CreateModelPackageInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let group = self.model_package_group(group).await?;
        let versions = self.versions_of(&group.name).await?;
        if let Some(token) = &input.members.client_token {
            let same = |r: &&Resource| r.request.get("ClientToken") == Some(&json!(token));
            if let Some(earlier) = versions.iter().find(same) {
                return Ok(Arc::new(earlier.clone()));
            }
        }
        let highest = versions.iter().filter_map(version_of).max().unwrap_or(0);
        let recorded = group
            .derived
            .get("_last_version")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let approval = input
            .members
            .model_approval_status
            .unwrap_or(ModelApprovalStatus::PendingManualApproval);
        let kind = ResourceKind::ModelPackage;
        let mut version = highest.max(recorded) + 1;
        for _ in 0..VERSION_TRIES {
            let derived = json!({
                "ModelPackageGroupName": group.name,
                "ModelPackageVersion": version,
                "ModelApprovalStatus": approval.as_str(),
                "LastModifiedTime": now_epoch(),
            });
            let name = format!("{}/{version}", group.name);
            let raw = input.raw.clone();
            match self
                .create_resource(kind, &name, raw, derived, Some(COMPLETED))
                .await
            {
                Ok(res) => {
                    self.note_last_version(&group.name, version).await;
                    return Ok(res);
                }
                Err(ServiceError::Duplicate(_)) => version += 1,
                Err(e) => return Err(e),
            }
        }
        Err(ServiceError::Conflict(format!(
            "Could not allocate a version in model package group {}; try again.",
            group.arn
        )))
    }

    /// Keeps the group's highest version, so numbers are not reused after a delete.
    async fn note_last_version(&self, group: &str, version: i64) {
        let kind = ResourceKind::ModelPackageGroup;
        let saved = self
            .update_status(kind, group, COMPLETED, |d| {
                let last = d.get("_last_version").and_then(Value::as_i64).unwrap_or(0);
                d.insert("_last_version".into(), json!(last.max(version)));
            })
            .await;
        if let Err(e) = saved {
            tracing::warn!("model package group {group}: cannot note version {version}: {e}");
        }
    }

    async fn create_unversioned(
        &self,
        name: &str,
        raw: crate::service::Request,
    ) -> ServiceResult<Arc<Resource>> {
        let kind = ResourceKind::ModelPackage;
        let derived = json!({ "LastModifiedTime": now_epoch() });
        match self
            .create_resource(kind, name, raw, derived, Some(COMPLETED))
            .await
        {
            Err(ServiceError::Duplicate(_)) => Err(ServiceError::Validation(format!(
                "Model Package already exists: {}",
                self.sagemaker_arn(kind.arn_type(), name)
            ))),
            other => other,
        }
    }

    pub async fn describe_model_package(&self, name_or_arn: &str) -> ServiceResult<ModelPackage> {
        Ok(ModelPackage::of(&*self.model_package(name_or_arn).await?))
    }

    pub async fn delete_model_package(&self, name_or_arn: &str) -> ServiceResult<()> {
        let row = self.model_package(name_or_arn).await?;
        self.delete_resource(ResourceKind::ModelPackage, &row.name)
            .await
    }

    /// Each ARN described, or the error describing it gave, in the order asked.
    pub async fn batch_describe_model_packages(
        &self,
        arns: &[String],
    ) -> Vec<(String, ServiceResult<ModelPackage>)> {
        let mut out = Vec::new();
        for arn in arns {
            out.push((arn.clone(), self.describe_model_package(arn).await));
        }
        out
    }

    /// Every package the filters match, sorted and cut into pages here (the type, group and
    /// approval filters are no columns the store filters by). The token is an offset.
    pub async fn list_model_packages(
        &self,
        p: ModelPackageListParams,
    ) -> ServiceResult<Page<ModelPackage>> {
        let offset = p
            .next_token
            .as_deref()
            .map(pagination::decode_offset)
            .transpose()?
            .unwrap_or(0);
        let group = match &p.group {
            Some(g) => Some(self.model_package_group(g).await?.name.clone()),
            None => None,
        };
        let rows = self
            .store
            .list_resources(ResourceKind::ModelPackage, ListQuery::every(None))
            .await?;
        let mut found: Vec<ModelPackage> = rows
            .iter()
            .map(ModelPackage::of)
            .filter(|m| listed(m, &p, group.as_deref()))
            .collect();
        found.sort_by(|a, b| {
            let by_created = a.record.created.total_cmp(&b.record.created);
            let order = if p.by_name {
                a.name()
                    .cmp(b.name())
                    .then(a.version().cmp(&b.version()))
                    .then(by_created)
            } else {
                by_created.then_with(|| a.record.name.cmp(&b.record.name))
            };
            if p.descending { order.reverse() } else { order }
        });
        let items: Vec<ModelPackage> = found.iter().skip(offset).take(p.limit).cloned().collect();
        let next_token =
            (offset + p.limit < found.len()).then(|| pagination::encode_offset(offset + p.limit));
        Ok(Page { items, next_token })
    }

    /// The versions a group holds now.
    pub(crate) async fn versions_of(&self, group: &str) -> ServiceResult<Vec<Resource>> {
        let rows = self
            .store
            .list_resources(ResourceKind::ModelPackage, ListQuery::every(None))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.derived.get("ModelPackageGroupName") == Some(&json!(group)))
            .collect())
    }

    /// The package a `VersionedArnOrName` names: an ARN, `<group>/<version>`, or an
    /// unversioned package's name.
    pub(crate) async fn model_package(&self, name_or_arn: &str) -> ServiceResult<Arc<Resource>> {
        self.registry_row(ResourceKind::ModelPackage, name_or_arn)
            .await
    }
}

fn version_of(r: &Resource) -> Option<i64> {
    r.derived.get("ModelPackageVersion").and_then(Value::as_i64)
}

/// Whether ListModelPackages' filters keep `m`.
fn listed(m: &ModelPackage, p: &ModelPackageListParams, group: Option<&str>) -> bool {
    let versioned = m.group().is_some();
    let type_ok = match (group, p.package_type) {
        (Some(g), _) => m.group() == Some(g),
        (None, Some(ModelPackageType::Both)) => true,
        (None, Some(ModelPackageType::Versioned)) => versioned,
        (None, Some(ModelPackageType::Unversioned) | None) => !versioned,
    };
    let created = m.record.created;
    type_ok
        && p.approval.is_none_or(|a| m.approval() == Some(a))
        && p.name_contains
            .as_deref()
            .is_none_or(|n| m.name().to_lowercase().contains(&n.to_lowercase()))
        && p.created_after.is_none_or(|t| created > t)
        && p.created_before.is_none_or(|t| created < t)
}

//! CreateModelPackageGroup, DescribeModelPackageGroup, ListModelPackageGroups,
//! DeleteModelPackageGroup.

use std::sync::Arc;

use serde_json::json;

use super::COMPLETED;
use crate::aws::model::typed::sagemaker::CreateModelPackageGroupInput;
use crate::service::described::Record;
use crate::service::resources::{ListParams, Page};
use crate::service::{Input, ServiceError, ServiceResult, Services, required};
use crate::store::resources::{Resource, ResourceKind};

/// A model package group (DescribeModelPackageGroup, ListModelPackageGroups).
#[derive(Debug, Clone)]
pub struct ModelPackageGroup {
    pub record: Record,
    /// ModelPackageGroupStatus: Completed once stored.
    pub status: String,
}

impl ModelPackageGroup {
    fn of(r: &Resource) -> ModelPackageGroup {
        ModelPackageGroup {
            record: Record::from(r),
            status: r.status.clone().unwrap_or_else(|| COMPLETED.into()),
        }
    }
}

impl Services {
    pub async fn create_model_package_group(
        &self,
        input: Input<CreateModelPackageGroupInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let name = required(
            input.members.model_package_group_name.clone(),
            "ModelPackageGroupName",
        )?;
        let kind = ResourceKind::ModelPackageGroup;
        match self
            .create_resource(kind, &name, input.raw, json!({}), Some(COMPLETED))
            .await
        {
            Err(ServiceError::Duplicate(_)) => Err(ServiceError::Validation(format!(
                "Model Package Group already exists: {}",
                self.sagemaker_arn(kind.arn_type(), &name)
            ))),
            other => other,
        }
    }

    pub async fn describe_model_package_group(
        &self,
        name_or_arn: &str,
    ) -> ServiceResult<ModelPackageGroup> {
        Ok(ModelPackageGroup::of(
            &*self.model_package_group(name_or_arn).await?,
        ))
    }

    pub async fn list_model_package_groups(
        &self,
        params: ListParams,
    ) -> ServiceResult<Page<ModelPackageGroup>> {
        let page = self
            .list_resources(ResourceKind::ModelPackageGroup, params)
            .await?;
        Ok(page.map(|r| ModelPackageGroup::of(&r)))
    }

    /// Refused while the group holds versions, as SageMaker does.
    pub async fn delete_model_package_group(&self, name_or_arn: &str) -> ServiceResult<()> {
        let group = self.model_package_group(name_or_arn).await?;
        if !self.versions_of(&group.name).await?.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "Model Package Group {} has model package versions; delete them before deleting the group.",
                group.arn
            )));
        }
        self.delete_resource(ResourceKind::ModelPackageGroup, &group.name)
            .await
    }

    /// The group a `ModelPackageGroupName` member names (by name or ARN).
    pub(crate) async fn model_package_group(
        &self,
        name_or_arn: &str,
    ) -> ServiceResult<Arc<Resource>> {
        self.registry_row(ResourceKind::ModelPackageGroup, name_or_arn)
            .await
    }
}

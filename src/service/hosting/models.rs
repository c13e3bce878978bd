//! CreateModel, DescribeModel, ListModels, DeleteModel.

use serde_json::json;

use super::required;
use crate::aws::model::typed::sagemaker::CreateModelInput;
use crate::service::described::{Model, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::{Input, ServiceError, ServiceResult, Services};
use std::sync::Arc;

use crate::store::resources::{Resource, ResourceKind};

impl Services {
    pub async fn create_model(
        &self,
        input: Input<CreateModelInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = required(req.model_name.clone(), "ModelName")?;
        match (&req.primary_container, &req.containers) {
            (Some(_), Some(_)) => {
                return Err(ServiceError::Validation(
                    "PrimaryContainer and Containers cannot both be specified.".into(),
                ));
            }
            (None, None) => {
                return Err(ServiceError::Validation(
                    "Either PrimaryContainer or Containers must be specified.".into(),
                ));
            }
            _ => {}
        }
        // Defaults SageMaker reports back in DescribeModel.
        let mut derived = json!({
            "EnableNetworkIsolation": req.enable_network_isolation.unwrap_or(false),
        });
        // a model made from a model package runs the package's container, kept beside the
        // request (which Describe echoes as sent) so it runs even if the package goes
        let given: Vec<_> = req
            .primary_container
            .iter()
            .chain(req.containers.iter().flatten())
            .collect();
        if given.iter().any(|c| c.model_package_name.is_some()) {
            let mut resolved = Vec::new();
            for c in given {
                resolved.push(self.container_from_package(c).await?);
            }
            derived["_containers"] = serde_json::to_value(resolved)
                .map_err(|e| ServiceError::Internal(format!("cannot encode containers: {e}")))?;
        }
        self.create_resource(ResourceKind::Model, &name, input.raw, derived, None)
            .await
    }

    pub async fn describe_model(&self, name: &str) -> ServiceResult<Model> {
        let row = self.stored_model(name).await?;
        Ok(Model {
            record: Record::from(&*row),
        })
    }

    /// The stored row of model `name`, for the services that run it.
    pub(crate) async fn stored_model(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        self.describe_resource(ResourceKind::Model, name).await
    }

    pub async fn delete_model(&self, name: &str) -> ServiceResult<()> {
        self.delete_resource(ResourceKind::Model, name).await
    }

    pub async fn list_models(&self, params: ListParams) -> ServiceResult<Page<Model>> {
        // A ModelSummary is the name, ARN and creation time: the rows' documents are not read.
        let page = self
            .list_bare_resources(ResourceKind::Model, params)
            .await?;
        Ok(page.map(|r| Model {
            record: Record::from(r),
        }))
    }
}

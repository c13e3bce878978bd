//! CreateModel, DescribeModel, ListModels, DeleteModel.

use serde_json::{Value, json};

use crate::service::described::{Model, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::{Request, ServiceError, ServiceResult, Services, required_str};
use std::sync::Arc;

use crate::store::resources::{Resource, ResourceKind};

impl Services {
    pub async fn create_model(&self, req: Request) -> ServiceResult<Arc<Resource>> {
        let name = required_str(&req, "ModelName")?.to_string();
        match (req.get("PrimaryContainer"), req.get("Containers")) {
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
        let derived = json!({
            "EnableNetworkIsolation": req.get("EnableNetworkIsolation").cloned().unwrap_or(Value::Bool(false)),
        });
        self.create_resource(ResourceKind::Model, &name, req, derived, None)
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
        let page = self.list_resources(ResourceKind::Model, params).await?;
        Ok(page.map(|r| Model {
            record: Record::from(&r),
        }))
    }
}

//! CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::service::described::{EndpointConfig, Record};
use crate::service::resources::{ListParams, Page, not_found};
use crate::service::{Request, ServiceError, ServiceResult, Services, required_str};
use std::sync::Arc;

use crate::store::resources::{Resource, ResourceKind};

impl Services {
    pub async fn create_endpoint_config(&self, req: Request) -> ServiceResult<Arc<Resource>> {
        let name = required_str(&req, "EndpointConfigName")?.to_string();
        let variants = req
            .get("ProductionVariants")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();

        let mut seen = HashSet::new();
        let mut models = Vec::new();
        for v in &variants {
            let variant = v
                .get("VariantName")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !seen.insert(variant.to_lowercase()) {
                return Err(ServiceError::Validation(format!(
                    "The variant name(s) \"{variant}\" is/are repeated in the endpoint configuration. Variant names must be unique."
                )));
            }
            if let Some(m) = v.get("ModelName").and_then(Value::as_str) {
                models.push(m.to_string());
            }
        }
        // Every variant's model must exist when the configuration is created.
        for m in &models {
            if self.store.resource(ResourceKind::Model, m).await?.is_none() {
                return Err(not_found(self, ResourceKind::Model, m));
            }
        }

        // SageMaker reports each variant's weight, defaulting to 1.0.
        let filled: Vec<Value> = variants
            .into_iter()
            .map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.entry("InitialVariantWeight").or_insert(json!(1.0));
                }
                v
            })
            .collect();
        let derived = json!({ "ProductionVariants": filled });
        self.create_resource(ResourceKind::EndpointConfig, &name, req, derived, None)
            .await
    }

    pub async fn describe_endpoint_config(&self, name: &str) -> ServiceResult<EndpointConfig> {
        let row = self.stored_endpoint_config(name).await?;
        Ok(EndpointConfig {
            record: Record::from(&*row),
        })
    }

    /// The stored row of endpoint configuration `name`, for the services that deploy it.
    pub(crate) async fn stored_endpoint_config(&self, name: &str) -> ServiceResult<Arc<Resource>> {
        self.describe_resource(ResourceKind::EndpointConfig, name)
            .await
    }

    pub async fn delete_endpoint_config(&self, name: &str) -> ServiceResult<()> {
        self.delete_resource(ResourceKind::EndpointConfig, name)
            .await
    }

    pub async fn list_endpoint_configs(
        &self,
        params: ListParams,
    ) -> ServiceResult<Page<EndpointConfig>> {
        let page = self
            .list_resources(ResourceKind::EndpointConfig, params)
            .await?;
        Ok(page.map(|r| EndpointConfig {
            record: Record::from(&r),
        }))
    }
}

//! CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig.

use std::collections::HashSet;

use serde_json::{Value, json};

use super::required;
use crate::aws::model::typed::sagemaker::{CreateEndpointConfigInput, ProductionVariant};
use crate::service::described::{EndpointConfig, Record};
use crate::service::resources::{ListParams, Page, not_found};
use crate::service::{Input, ServiceError, ServiceResult, Services, stored};
use std::sync::Arc;

use crate::store::resources::{Resource, ResourceKind};

impl Services {
    pub async fn create_endpoint_config(
        &self,
        input: Input<CreateEndpointConfigInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = &input.members;
        let name = required(req.endpoint_config_name.clone(), "EndpointConfigName")?;
        let variants = req.production_variants.as_deref().unwrap_or_default();

        let mut seen = HashSet::new();
        let mut models = Vec::new();
        for v in variants {
            let variant = v.variant_name.as_deref().unwrap_or_default();
            if !seen.insert(variant.to_lowercase()) {
                return Err(ServiceError::Validation(format!(
                    "The variant name(s) \"{variant}\" is/are repeated in the endpoint configuration. Variant names must be unique."
                )));
            }
            if let Some(m) = &v.model_name {
                models.push(m.clone());
            }
        }
        check_component_hosting(req)?;
        // Every variant's model must exist when the configuration is created.
        for m in &models {
            if self.store.resource(ResourceKind::Model, m).await?.is_none() {
                return Err(not_found(self, ResourceKind::Model, m));
            }
        }

        // SageMaker reports each variant's weight, defaulting to 1.0. The variants are filled
        // in as sent (not re-encoded from the typed shape) so their numbers echo unchanged.
        let mut filled = input.raw.get("ProductionVariants").cloned();
        for v in filled.iter_mut().filter_map(Value::as_array_mut).flatten() {
            if let Some(o) = v.as_object_mut() {
                o.entry("InitialVariantWeight").or_insert(json!(1.0));
            }
        }
        let filled = filled.unwrap_or_else(|| Value::Array(Vec::new()));
        let derived = json!({ "ProductionVariants": filled });
        self.create_resource(
            ResourceKind::EndpointConfig,
            &name,
            input.raw,
            derived,
            None,
        )
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
            .list_bare_resources(ResourceKind::EndpointConfig, params)
            .await?;
        // An EndpointConfigSummary is the name, ARN and creation time.
        Ok(page.map(|r| EndpointConfig {
            record: Record::from(r),
        }))
    }
}

/// A configuration whose variants name no model hosts inference components: every variant
/// must then leave ModelName out, give its instances, and the configuration its execution role
/// (the components' containers run with it).
fn check_component_hosting(req: &CreateEndpointConfigInput) -> ServiceResult<()> {
    let variants = req.production_variants.as_deref().unwrap_or_default();
    let without: Vec<&ProductionVariant> =
        variants.iter().filter(|v| v.model_name.is_none()).collect();
    if without.is_empty() {
        return Ok(());
    }
    if without.len() != variants.len() {
        return Err(ServiceError::Validation(
            "ModelName must be specified for either all or none of the production variants. Leave it out of every variant for an endpoint that hosts inference components.".into(),
        ));
    }
    if req.execution_role_arn.is_none() {
        return Err(ServiceError::Validation(
            "ExecutionRoleArn must be specified when the production variants do not specify ModelName (an endpoint that hosts inference components).".into(),
        ));
    }
    for v in without {
        let name = v.variant_name.as_deref().unwrap_or_default();
        if v.serverless_config.is_some() {
            return Err(ServiceError::Validation(format!(
                "Production variant {name} cannot use ServerlessConfig: an endpoint that hosts inference components needs instances. Specify InstanceType and InitialInstanceCount."
            )));
        }
        if v.instance_type.is_none() || v.initial_instance_count.is_none() {
            return Err(ServiceError::Validation(format!(
                "Production variant {name} must specify InstanceType and InitialInstanceCount when it does not specify ModelName."
            )));
        }
    }
    Ok(())
}

/// The production variants of a stored endpoint configuration, weights filled in: the
/// derived members hold them in the request's own shape.
pub(super) fn production_variants(config: &Resource) -> ServiceResult<Vec<ProductionVariant>> {
    let what = format!("endpoint config {}", config.name);
    let derived: CreateEndpointConfigInput = stored(&what, &config.derived)?;
    if let Some(variants) = derived.production_variants {
        return Ok(variants);
    }
    let request: CreateEndpointConfigInput = stored(&what, &config.request)?;
    Ok(request.production_variants.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(body: Value) -> CreateEndpointConfigInput {
        serde_json::from_value(body).expect("a request")
    }

    #[test]
    fn variants_without_a_model_need_instances_and_the_execution_role() {
        let capacity = json!({"VariantName": "AllTraffic", "InstanceType": "ml.m5.large",
                              "InitialInstanceCount": 1});
        let role = "arn:aws:iam::000000000000:role/r";
        let ok = config(json!({"ProductionVariants": [capacity], "ExecutionRoleArn": role}));
        assert!(check_component_hosting(&ok).is_ok());
        let no_role = config(json!({"ProductionVariants": [capacity]}));
        let e = check_component_hosting(&no_role).expect_err("refused");
        assert!(e.to_string().contains("ExecutionRoleArn"), "{e}");
        let mixed = config(json!({"ExecutionRoleArn": role, "ProductionVariants": [
            capacity, {"VariantName": "b", "ModelName": "m", "InstanceType": "ml.m5.large",
                       "InitialInstanceCount": 1}]}));
        assert!(check_component_hosting(&mixed).is_err());
        let no_count = config(json!({"ExecutionRoleArn": role, "ProductionVariants": [
            {"VariantName": "a", "InstanceType": "ml.m5.large"}]}));
        assert!(check_component_hosting(&no_count).is_err());
        let models =
            config(json!({"ProductionVariants": [{"VariantName": "a", "ModelName": "m"}]}));
        assert!(check_component_hosting(&models).is_ok());
    }
}

//! A model made from a model package: CreateModel's `ModelPackageName` containers take the
//! package's first inference container (image, model data, environment under the model's own).

use serde_json::Value;

use super::ModelPackage;
use crate::aws::model::typed::sagemaker::{
    ContainerDefinition, InferenceSpecification, ModelApprovalStatus,
};
use crate::service::{ServiceError, ServiceResult, Services, stored};

impl Services {
    /// `c` as it runs: unchanged without a ModelPackageName, else filled in from the package.
    /// A version must be Approved, as SageMaker requires before it deploys one.
    pub(crate) async fn container_from_package(
        &self,
        c: &ContainerDefinition,
    ) -> ServiceResult<ContainerDefinition> {
        let Some(name) = &c.model_package_name else {
            return Ok(c.clone());
        };
        let package = self.describe_model_package(name).await?;
        let approval = package.approval();
        if package.group().is_some() && approval != Some(ModelApprovalStatus::Approved) {
            return Err(ServiceError::Validation(format!(
                "Model package {} has ModelApprovalStatus {}; only an Approved model package version can be used to create a model.",
                package.record.arn,
                approval.map_or("PendingManualApproval", |a| a.as_str())
            )));
        }
        packaged_container(&package, c)
    }
}

/// `c` with the package's first container under it.
fn packaged_container(
    package: &ModelPackage,
    c: &ContainerDefinition,
) -> ServiceResult<ContainerDefinition> {
    let what = format!("model package {}", package.record.arn);
    let spec: InferenceSpecification = match package.member("InferenceSpecification") {
        Some(v) => stored(&what, v)?,
        None => InferenceSpecification::default(),
    };
    let Some(first) = spec.containers.unwrap_or_default().into_iter().next() else {
        return Err(ServiceError::Validation(format!(
            "The {what} has no InferenceSpecification containers to create a model from."
        )));
    };
    let mut env = first.environment.unwrap_or_default();
    env.extend(c.environment.clone().unwrap_or_default());
    Ok(ContainerDefinition {
        image: first.image,
        model_data_url: first.model_data_url,
        model_data_source: first.model_data_source,
        environment: (!env.is_empty()).then_some(env),
        model_package_name: None,
        ..c.clone()
    })
}

/// The containers a model runs, as sagebox stores them beside the request for one made from a
/// package (`_containers` in its derived members).
pub fn resolved_containers(derived: &Value) -> Option<Vec<ContainerDefinition>> {
    serde_json::from_value(derived.get("_containers")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::described::Record;
    use serde_json::json;

    #[test]
    fn packaged_container_takes_the_first_container_and_keeps_the_models_environment_on_top() {
        let package = ModelPackage {
            record: Record {
                name: "g/1".into(),
                arn: "arn:aws:sagemaker:us-east-1:000000000000:model-package/g/1".into(),
                created: 1.0,
                modified: 1.0,
                request: json!({"InferenceSpecification": {"Containers": [
                    {"Image": "img", "ModelDataUrl": "s3://b/m.tar.gz", "Environment": {"A": "1", "B": "1"}},
                    {"Image": "second"}
                ]}}),
                derived: json!({"ModelPackageGroupName": "g", "ModelPackageVersion": 1}),
            },
            status: "Completed".into(),
        };
        let c: ContainerDefinition =
            serde_json::from_value(json!({"ModelPackageName": "g/1", "Environment": {"B": "2"}}))
                .expect("decodes");
        let out = packaged_container(&package, &c).expect("a container");
        assert_eq!(out.image.as_deref(), Some("img"));
        assert_eq!(out.model_data_url.as_deref(), Some("s3://b/m.tar.gz"));
        let env = out.environment.expect("environment");
        assert_eq!(env["A"], "1");
        assert_eq!(env["B"], "2");
        assert!(out.model_package_name.is_none());
    }
}

//! UpdateModelPackage: approval, customer metadata, more inference specifications, and the
//! members SageMaker lets a package change after it is created. Changes are written to the
//! package's derived members, which Describe lays over the request.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::{COMPLETED, ModelPackage};
use crate::aws::model::typed::sagemaker::UpdateModelPackageInput;
use crate::service::{Input, ServiceError, ServiceResult, Services, required};
use crate::store::resources::{Resource, ResourceKind};

impl Services {
    pub async fn update_model_package(
        &self,
        input: Input<UpdateModelPackageInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let req = input.members;
        let arn = required(req.model_package_arn.clone(), "ModelPackageArn")?;
        let row = self.model_package(&arn).await?;
        let current = ModelPackage::of(&row);
        if req.model_approval_status.is_some() && current.group().is_none() {
            return Err(ServiceError::Validation(format!(
                "ModelApprovalStatus can only be updated for a versioned model package; {} is unversioned.",
                row.arn
            )));
        }
        let changes = changes(&current, &req)?;
        self.update_status(ResourceKind::ModelPackage, &row.name, COMPLETED, |d| {
            d.extend(changes.clone());
        })
        .await?;
        Ok(row)
    }
}

/// The derived members `req` sets, computed from what `current` shows.
fn changes(
    current: &ModelPackage,
    req: &UpdateModelPackageInput,
) -> ServiceResult<Map<String, Value>> {
    let mut out = Map::new();
    if let Some(s) = req.model_approval_status {
        out.insert("ModelApprovalStatus".into(), json!(s.as_str()));
    }
    if let Some(d) = &req.approval_description {
        out.insert("ApprovalDescription".into(), json!(d));
    }
    let adds = req.customer_metadata_properties.as_ref();
    let removes = req.customer_metadata_properties_to_remove.as_ref();
    if adds.is_some() || removes.is_some() {
        let mut meta = current
            .member("CustomerMetadataProperties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (k, v) in adds.into_iter().flatten() {
            meta.insert(k.clone(), json!(v));
        }
        for k in removes.into_iter().flatten() {
            meta.remove(k);
        }
        out.insert("CustomerMetadataProperties".into(), Value::Object(meta));
    }
    if let Some(more) = &req.additional_inference_specifications_to_add {
        let mut all = current
            .member("AdditionalInferenceSpecifications")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for spec in more {
            let name = spec.name.as_deref().unwrap_or_default();
            if all.iter().any(|s| s.get("Name") == Some(&json!(name))) {
                return Err(ServiceError::Validation(format!(
                    "An additional inference specification named {name} already exists in this model package."
                )));
            }
            all.push(to_json(spec)?);
        }
        out.insert(
            "AdditionalInferenceSpecifications".into(),
            Value::Array(all),
        );
    }
    if let Some(spec) = &req.inference_specification {
        out.insert("InferenceSpecification".into(), to_json(spec)?);
    }
    if let Some(uri) = &req.source_uri {
        out.insert("SourceUri".into(), json!(uri));
    }
    if let Some(card) = &req.model_card {
        out.insert("ModelCard".into(), to_json(card)?);
    }
    if let Some(life) = &req.model_life_cycle {
        out.insert("ModelLifeCycle".into(), to_json(life)?);
    }
    if let Some(t) = req.model_package_registration_type {
        out.insert("ModelPackageRegistrationType".into(), json!(t.as_str()));
    }
    Ok(out)
}

fn to_json<T: serde::Serialize>(v: &T) -> ServiceResult<Value> {
    serde_json::to_value(v).map_err(|e| ServiceError::Internal(format!("cannot encode: {e}")))
}

//! Inference components: models placed on an endpoint whose production variants name no model
//! (the endpoint only hosts capacity). CreateInferenceComponent starts `CopyCount` copies of
//! the component's model (or container) on the endpoint's network, each started and checked the
//! way a variant's instance is (`fleet`); InvokeEndpoint with `InferenceComponentName` reaches
//! them round robin (`routes`). Update starts the new copies before the old ones go, the
//! runtime config scales copies up or down, Delete removes them.
//!
//! A component stays a row of the stored-resource engine (which renders Describe and List from
//! the catalog and keeps its tags); this module writes its status from its containers instead
//! of the engine's timer, and keeps in the row's derived members what it learnt while starting
//! them (`ComponentState`). The supervisors are in `component_run`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::endpoint_configs::production_variants;
use super::state::{EndpointState, parse_status as parse_endpoint_status};
use crate::aws::model::typed::sagemaker::{
    CreateInferenceComponentInput, EndpointStatus, InferenceComponentStatus,
    UpdateInferenceComponentInput, UpdateInferenceComponentRuntimeConfigInput,
};
use crate::aws::time::now_epoch;
use crate::service::lifecycle::Lifecycle;
use crate::service::stored::catalog::{Family, catalog};
use crate::service::{Input, Request, ServiceError, ServiceResult, Services, stored};
use crate::store::ResourceKind;
use crate::store::resources::Resource;
use crate::store::stored::StoredRow;

use InferenceComponentStatus::{Creating, Deleting, Failed, InService, Updating};

pub const LOG_GROUP_PREFIX: &str = "/aws/sagemaker/InferenceComponents/";

pub fn log_group(component: &str) -> String {
    format!("{LOG_GROUP_PREFIX}{component}")
}

/// Every status move a component makes. Recovery after a restart starts a serving or updating
/// component again (back to Creating); an update of a failed component may fail again.
pub const COMPONENT_LIFECYCLE: Lifecycle<InferenceComponentStatus> = Lifecycle {
    family: "inference component",
    initial: &[Creating],
    moves: &[
        (Creating, InService),
        (Creating, Failed),
        (Creating, Deleting),
        (InService, Updating),
        (InService, Creating),
        (InService, Deleting),
        (Updating, InService),
        (Updating, Failed),
        (Updating, Creating),
        (Updating, Deleting),
        (Failed, Updating),
        (Failed, Deleting),
    ],
};

/// What sagebox derives for a component, beside the engine's members (EndpointArn).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ComponentState {
    /// The deployment whose containers serve, for re-adopting them by label.
    #[serde(rename = "_Deployment", skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    /// The image as resolved when the copies started (DeployedImage of a Container).
    #[serde(rename = "_DeployedImage", skip_serializing_if = "Option::is_none")]
    pub deployed_image: Option<Value>,
    /// The variant's instance type, read from the endpoint configuration at create.
    #[serde(rename = "_InstanceType", skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A component as DescribeInferenceComponent shows it: the stored row, and its copies.
pub struct InferenceComponent {
    pub row: StoredRow,
    pub desired_copies: usize,
    /// Copies answering /ping now.
    pub current_copies: usize,
    pub deployed_image: Option<Value>,
}

pub(super) fn family() -> &'static Family {
    catalog()
        .family("InferenceComponent")
        .expect("the model defines InferenceComponent")
}

fn name_request(name: &str) -> Request {
    let mut req = Request::new();
    req.insert("InferenceComponentName".into(), json!(name));
    req
}

pub(super) fn status_of(row: &StoredRow) -> Option<InferenceComponentStatus> {
    row.status.as_deref().and_then(|s| s.parse().ok())
}

/// The copy count a stored request asks for.
pub(super) fn desired_copies(row: &StoredRow) -> usize {
    row.request["RuntimeConfig"]["CopyCount"]
        .as_u64()
        .map_or(1, |n| n as usize)
}

fn validation(message: impl Into<String>) -> ServiceError {
    ServiceError::Validation(message.into())
}

impl Services {
    pub async fn create_inference_component(
        &self,
        input: Input<CreateInferenceComponentInput>,
    ) -> ServiceResult<StoredRow> {
        let req = &input.members;
        super::required(
            req.inference_component_name.clone(),
            "InferenceComponentName",
        )?;
        let endpoint_name = super::required(req.endpoint_name.clone(), "EndpointName")?;
        check_specification(req)?;
        let endpoint = self.component_endpoint(&endpoint_name).await?;
        let (variant, instance_type) = self
            .component_variant(&endpoint, req.variant_name.as_deref())
            .await?;
        if let Some(model) = req
            .specification
            .as_ref()
            .and_then(|s| s.model_name.as_ref())
            && self
                .store
                .resource(ResourceKind::Model, model)
                .await?
                .is_none()
        {
            return Err(validation(format!("Could not find model \"{model}\".")));
        }
        let mut raw = input.raw;
        raw.insert("EndpointName".into(), json!(endpoint.name));
        raw.insert("VariantName".into(), json!(variant));
        let mut row = self.stored_create(family(), raw).await?;
        row.status = Some(Creating.as_str().into());
        row.next_status = None;
        row.next_at = None;
        set_member(&mut row.derived, "_InstanceType", json!(instance_type));
        self.store.stored_put(row.clone()).await?;
        self.spawn_component_create(&row);
        Ok(row)
    }

    /// The endpoint a component goes on: it must exist and be serving.
    async fn component_endpoint(&self, name: &str) -> ServiceResult<std::sync::Arc<Resource>> {
        let endpoint = self
            .store
            .resource(ResourceKind::Endpoint, name)
            .await?
            .ok_or_else(|| validation(format!("Could not find endpoint \"{name}\".")))?;
        let status = parse_endpoint_status(&endpoint.name, endpoint.status.as_deref());
        if status != Some(EndpointStatus::InService) {
            let shown = status.map_or("unknown", |s| s.as_str());
            return Err(validation(format!(
                "Endpoint \"{}\" is not in service (its status is {shown}). Create inference components on an endpoint once it is InService.",
                endpoint.arn
            )));
        }
        Ok(endpoint)
    }

    /// The variant a component goes on (the endpoint's only one when none is named) and its
    /// instance type: a variant that names no model.
    async fn component_variant(
        &self,
        endpoint: &Resource,
        wanted: Option<&str>,
    ) -> ServiceResult<(String, String)> {
        let state: EndpointState =
            stored(&format!("endpoint {}", endpoint.name), &endpoint.derived)?;
        let config_name = state.config_name.unwrap_or_default();
        let config = self.stored_endpoint_config(&config_name).await?;
        let variants = production_variants(&config)?;
        let found = match wanted {
            Some(w) => variants
                .iter()
                .find(|v| v.variant_name.as_deref() == Some(w)),
            None if variants.len() == 1 => variants.first(),
            None => {
                return Err(validation(format!(
                    "Endpoint \"{}\" has more than one production variant: specify VariantName.",
                    endpoint.arn
                )));
            }
        };
        let Some(v) = found else {
            return Err(validation(format!(
                "Could not find variant \"{}\" in endpoint \"{}\".",
                wanted.unwrap_or_default(),
                endpoint.arn
            )));
        };
        let name = v.variant_name.clone().unwrap_or_default();
        if let Some(model) = &v.model_name {
            return Err(validation(format!(
                "Production variant \"{name}\" of endpoint \"{}\" hosts model {model}. Inference components need an endpoint whose production variants do not specify ModelName.",
                endpoint.arn
            )));
        }
        let instance_type = v
            .instance_type
            .clone()
            .unwrap_or_else(|| "ml.m5.large".into());
        Ok((name, instance_type))
    }

    /// The stored row of component `name`; a missing one is the engine's ValidationException.
    pub(super) async fn component_row(&self, name: &str) -> ServiceResult<StoredRow> {
        self.stored_find(family(), &name_request(name), "Describe")
            .await
    }

    pub async fn describe_inference_component(
        &self,
        name: &str,
    ) -> ServiceResult<InferenceComponent> {
        let row = self.component_row(name).await?;
        Ok(self.component_view(row))
    }

    /// A row with what its live copies say.
    pub fn component_view(&self, row: StoredRow) -> InferenceComponent {
        let state: ComponentState = serde_json::from_value(row.derived.clone()).unwrap_or_default();
        let current_copies = self
            .hosting
            .component(&row.key)
            .filter(|_| status_of(&row) != Some(Deleting))
            .map_or(0, |d| {
                d.variants
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .map(|v| v.instances.iter().filter(|(i, _)| i.is_up()).count())
                    .sum()
            });
        InferenceComponent {
            desired_copies: desired_copies(&row),
            current_copies,
            deployed_image: state.deployed_image,
            row,
        }
    }

    /// UpdateInferenceComponent: a new Specification starts new copies before the old ones go
    /// (and fails back to the old ones); a RuntimeConfig alone scales the copies.
    pub async fn update_inference_component(
        &self,
        input: Input<UpdateInferenceComponentInput>,
    ) -> ServiceResult<StoredRow> {
        let req = input.members;
        let name = super::required(req.inference_component_name, "InferenceComponentName")?;
        let mut row = self.component_row(&name).await?;
        check_updatable(&row)?;
        if req.specifications.is_some() {
            return Err(validation(
                "sagebox runs one Specification per inference component: Specifications is not supported.",
            ));
        }
        let replace = input.raw.get("Specification").cloned();
        if let Some(Value::Object(new)) = &replace {
            let spec = row.request["Specification"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            let merged = Value::Object(merged_specification(spec, new));
            set_member(&mut row.request, "Specification", merged);
            let check: CreateInferenceComponentInput = stored("update", &row.request)?;
            check_specification(&check)?;
            if let Some(model) = check.specification.and_then(|s| s.model_name)
                && self
                    .store
                    .resource(ResourceKind::Model, &model)
                    .await?
                    .is_none()
            {
                return Err(validation(format!("Could not find model \"{model}\".")));
            }
        }
        if let Some(rc) = input.raw.get("RuntimeConfig") {
            set_member(&mut row.request, "RuntimeConfig", rc.clone());
        }
        self.start_component_update(row, replace.is_some()).await
    }

    /// UpdateInferenceComponentRuntimeConfig: scale the copies.
    pub async fn update_inference_component_runtime_config(
        &self,
        input: Input<UpdateInferenceComponentRuntimeConfigInput>,
    ) -> ServiceResult<StoredRow> {
        let name = super::required(
            input.members.inference_component_name,
            "InferenceComponentName",
        )?;
        let mut row = self.component_row(&name).await?;
        check_updatable(&row)?;
        if status_of(&row) == Some(Failed) {
            return Err(validation(format!(
                "Cannot update the runtime config of failed inference component \"{}\". Update its Specification or delete it.",
                row.arn
            )));
        }
        let copies = input
            .members
            .desired_runtime_config
            .and_then(|c| c.copy_count)
            .unwrap_or(1);
        set_member(
            &mut row.request,
            "RuntimeConfig",
            json!({ "CopyCount": copies }),
        );
        self.start_component_update(row, false).await
    }

    /// Saves the updated request as Updating and starts the work: new copies (`redeploy`, or
    /// a failed component, which has none) or a scale.
    async fn start_component_update(
        &self,
        mut row: StoredRow,
        redeploy: bool,
    ) -> ServiceResult<StoredRow> {
        let redeploy = redeploy || status_of(&row) == Some(Failed);
        row.status = Some(Updating.as_str().into());
        row.next_status = None;
        row.next_at = None;
        row.modified = now_epoch();
        self.store.stored_put(row.clone()).await?;
        self.spawn_component_update(&row, redeploy);
        Ok(row)
    }

    /// DeleteInferenceComponent: Deleting at once (no request reaches it any more), then the
    /// copies go and the component with them.
    pub async fn delete_inference_component(&self, name: &str) -> ServiceResult<()> {
        let mut row = self.component_row(name).await?;
        if status_of(&row) == Some(Deleting) {
            return Ok(());
        }
        row.status = Some(Deleting.as_str().into());
        row.next_status = None;
        row.next_at = None;
        row.modified = now_epoch();
        self.store.stored_put(row.clone()).await?;
        self.hosting.routes.remove_component(&row.key);
        self.spawn_component_delete(&row);
        Ok(())
    }

    /// DeleteEndpoint is refused while components are on the endpoint, as SageMaker refuses it;
    /// so is an UpdateEndpoint to a configuration whose variants run models (`doing` says which).
    pub(super) async fn check_no_components(
        &self,
        endpoint: &Resource,
        doing: &str,
    ) -> ServiceResult<()> {
        let on = self
            .store
            .stored_referencing(&family().name, "EndpointName", &endpoint.name)
            .await?;
        if on.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = on
            .iter()
            .filter_map(|r| r.request["InferenceComponentName"].as_str())
            .collect();
        Err(validation(format!(
            "Cannot {doing} while inference components are deployed to endpoint \"{}\": {}. Delete them first (DeleteInferenceComponent).",
            endpoint.arn,
            names.join(", ")
        )))
    }
}

/// Sets a member of a stored document (always an object; anything else is replaced by one).
fn set_member(doc: &mut Value, member: &str, value: Value) {
    if !doc.is_object() {
        *doc = Value::Object(Map::new());
    }
    if let Value::Object(m) = doc {
        m.insert(member.to_string(), value);
    }
}

/// An update's Specification over the stored one: the members it names replace theirs, and a
/// ModelName replaces a Container (and the other way round).
fn merged_specification(
    mut spec: Map<String, Value>,
    new: &Map<String, Value>,
) -> Map<String, Value> {
    if new.contains_key("ModelName") {
        spec.remove("Container");
    }
    if new.contains_key("Container") {
        spec.remove("ModelName");
    }
    for (k, v) in new {
        spec.insert(k.clone(), v.clone());
    }
    spec
}

/// What sagebox runs: one Specification with either a model or a container (with an image),
/// and a copy count.
fn check_specification(req: &CreateInferenceComponentInput) -> ServiceResult<()> {
    if req.specifications.is_some() {
        return Err(validation(
            "sagebox runs one Specification per inference component: Specifications is not supported.",
        ));
    }
    let Some(spec) = &req.specification else {
        return Err(validation("Specification must be specified."));
    };
    if spec.base_inference_component_name.is_some() {
        return Err(validation(
            "sagebox does not run adapter inference components (BaseInferenceComponentName): specify a ModelName or a Container instead.",
        ));
    }
    match (&spec.model_name, &spec.container) {
        (Some(_), Some(_)) => Err(validation(
            "Specify either ModelName or Container in the Specification, not both.",
        )),
        (None, None) => Err(validation(
            "Specify either ModelName or Container in the Specification.",
        )),
        (None, Some(c)) if c.image.is_none() => Err(validation(
            "Container.Image must be specified when the Specification has no ModelName.",
        )),
        _ if req.runtime_config.is_none() => Err(validation(
            "RuntimeConfig must be specified: the number of copies (CopyCount) to deploy.",
        )),
        _ => Ok(()),
    }
}

fn check_updatable(row: &StoredRow) -> ServiceResult<()> {
    match status_of(row) {
        Some(InService) | Some(Failed) => Ok(()),
        other => Err(validation(format!(
            "Cannot update inference component \"{}\" while its status is {}. Wait until it is InService.",
            row.arn,
            other.map_or("unknown", |s| s.as_str())
        ))),
    }
}

/// The health check timeout a component's StartupParameters ask for.
pub(super) fn health_timeout(row: &StoredRow) -> Duration {
    row.request["Specification"]["StartupParameters"]["ContainerStartupHealthCheckTimeoutInSeconds"]
        .as_u64()
        .map_or(
            super::endpoints::DEFAULT_HEALTH_TIMEOUT,
            Duration::from_secs,
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::model::typed::sagemaker::{
        InferenceComponentContainerSpecification, InferenceComponentRuntimeConfig,
        InferenceComponentSpecification,
    };

    fn request(spec: InferenceComponentSpecification) -> CreateInferenceComponentInput {
        CreateInferenceComponentInput {
            specification: Some(spec),
            runtime_config: Some(InferenceComponentRuntimeConfig {
                copy_count: Some(1),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_specification_names_a_model_or_a_container_with_an_image() {
        let model = InferenceComponentSpecification {
            model_name: Some("m".into()),
            ..Default::default()
        };
        assert!(check_specification(&request(model.clone())).is_ok());
        let both = InferenceComponentSpecification {
            container: Some(InferenceComponentContainerSpecification {
                image: Some("i".into()),
                ..Default::default()
            }),
            ..model.clone()
        };
        assert!(check_specification(&request(both)).is_err());
        assert!(check_specification(&request(Default::default())).is_err());
        let no_image = InferenceComponentSpecification {
            container: Some(Default::default()),
            ..Default::default()
        };
        assert!(check_specification(&request(no_image)).is_err());
        let adapter = InferenceComponentSpecification {
            base_inference_component_name: Some("base".into()),
            ..model.clone()
        };
        assert!(check_specification(&request(adapter)).is_err());
        let mut no_copies = request(model);
        no_copies.runtime_config = None;
        assert!(check_specification(&no_copies).is_err());
    }

    #[test]
    fn an_update_replaces_the_members_it_names() {
        let old = json!({"ModelName": "a", "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 512}});
        let new = json!({"Container": {"Image": "i"}});
        let merged = merged_specification(
            old.as_object().cloned().unwrap_or_default(),
            new.as_object().expect("an object"),
        );
        assert_eq!(
            Value::Object(merged),
            json!({"Container": {"Image": "i"}, "ComputeResourceRequirements": {"MinMemoryRequiredInMb": 512}})
        );
    }

    #[test]
    fn the_lifecycle_reaches_every_status_and_deleting_ends_it() {
        let reached = COMPONENT_LIFECYCLE.reachable();
        for s in [Creating, InService, Updating, Failed, Deleting] {
            assert!(reached.contains(&s), "{s} is reachable");
        }
        assert!(COMPONENT_LIFECYCLE.is_terminal(Deleting));
        assert!(!COMPONENT_LIFECYCLE.allows(Deleting, InService));
    }
}

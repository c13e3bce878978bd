//! CreateEndpoint, DescribeEndpoint, ListEndpoints, UpdateEndpoint,
//! UpdateEndpointWeightsAndCapacities, DeleteEndpoint, and what keeps endpoints serving: one
//! deployment per endpoint (its variants' containers, see `fleet`; started in `deploy`, with a
//! monitor per instance that restarts a container that dies), and `recover_endpoints` after a
//! sagebox restart (`recovery`). The store
//! holds the status first; the deployment is driven in the background, one operation at a time
//! per endpoint.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::fleet::{self, Fleet};
use super::required;
use super::routes::{EndpointRoute, Instance, VariantRoute};
use super::state::{ENDPOINT_LIFECYCLE, SavedVariant, parse_status};
use crate::aws::model::typed::sagemaker::{
    CreateEndpointInput, DesiredWeightAndCapacity, EndpointStatus, UpdateEndpointInput,
    UpdateEndpointWeightsAndCapacitiesInput,
};
use crate::aws::time::now_epoch;
use crate::runtime::engine::ARN_LABEL;
use crate::service::described::{Endpoint, ProductionVariantStatus, Record};
use crate::service::resources::{ListParams, Page};
use crate::service::saving;
use crate::service::{Input, ServiceError, ServiceResult, Services};
use crate::store::resources::{Resource, ResourceKind};

pub const LOG_GROUP_PREFIX: &str = "/aws/sagemaker/Endpoints/";

/// SageMaker's default for ContainerStartupHealthCheckTimeoutInSeconds.
pub(super) const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(600);

/// How long an instance being taken away may keep answering the requests it has: SageMaker's
/// 60-second invocation timeout, and some time to send the last answer.
const DRAIN_LIMIT: Duration = Duration::from_secs(75);

pub fn log_group(endpoint: &str) -> String {
    format!("{LOG_GROUP_PREFIX}{endpoint}")
}

/// One variant of a running deployment.
pub struct VariantFleet {
    pub name: String,
    pub weight: f64,
    pub fleet: Fleet,
    pub instances: Vec<(Arc<Instance>, CancellationToken)>,
    pub deployed_images: Value,
    pub(super) next_index: usize,
    /// Instances that host inference components (a variant without a model): they run no
    /// container of their own; the components' copies run on them.
    pub(super) capacity: Option<usize>,
}

impl VariantFleet {
    /// (current, desired) instance counts: the capacity hosted, or the instances serving.
    fn instance_counts(&self) -> (usize, usize) {
        match self.capacity {
            Some(n) => (n, n),
            None => (
                self.instances.iter().filter(|(i, _)| i.is_up()).count(),
                self.instances.len(),
            ),
        }
    }
}

/// An endpoint's running containers for one endpoint configuration.
pub struct Deployment {
    pub id: String,
    pub config_name: String,
    pub variants: Mutex<Vec<VariantFleet>>,
    pub(super) token: CancellationToken,
    pub(super) gpu_owners: Mutex<Vec<String>>,
}

impl Deployment {
    pub(super) fn new(id: &str, config_name: &str) -> Arc<Deployment> {
        Arc::new(Deployment {
            id: id.to_string(),
            config_name: config_name.to_string(),
            variants: Mutex::new(Vec::new()),
            token: CancellationToken::new(),
            gpu_owners: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn route(&self) -> EndpointRoute {
        let variants = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        let hosts_components =
            !variants.is_empty() && variants.iter().all(|v| v.capacity.is_some());
        EndpointRoute {
            hosts_components,
            variants: variants
                .iter()
                .map(|v| {
                    VariantRoute::new(
                        v.name.clone(),
                        v.weight,
                        v.instances.iter().map(|(i, _)| i.clone()).collect(),
                    )
                })
                .collect(),
        }
    }

    fn instances(&self) -> Vec<Arc<Instance>> {
        let variants = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        variants
            .iter()
            .flat_map(|v| v.instances.iter().map(|(i, _)| i.clone()))
            .collect()
    }

    fn container_ids(&self) -> Vec<String> {
        let variants = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        variants
            .iter()
            .flat_map(|v| v.instances.iter())
            .flat_map(|(i, _)| i.members.iter().map(|m| m.container_id.clone()))
            .collect()
    }

    /// ProductionVariants as saved in the endpoint's derived members, so that a Describe made
    /// while no deployment is live (after a restart, while deleting) still shows the last ones.
    fn variants_view(&self) -> Value {
        let variants = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        let saved: Vec<SavedVariant> = variants
            .iter()
            .map(|v| {
                let (current, desired) = v.instance_counts();
                SavedVariant {
                    variant_name: v.name.clone(),
                    deployed_images: v.deployed_images.clone(),
                    current_weight: v.weight,
                    desired_weight: v.weight,
                    current_instance_count: current,
                    desired_instance_count: desired,
                }
            })
            .collect();
        serde_json::to_value(saved).unwrap_or_else(|e| {
            tracing::warn!("deployment {}: variants do not serialize: {e}", self.id);
            Value::Array(Vec::new())
        })
    }

    /// The variants as DescribeEndpoint reports them (instance counts from what serves).
    fn variant_statuses(&self) -> Vec<ProductionVariantStatus> {
        let variants = self.variants.lock().unwrap_or_else(|e| e.into_inner());
        variants
            .iter()
            .map(|v| {
                let (current, desired) = v.instance_counts();
                ProductionVariantStatus {
                    variant_name: v.name.clone(),
                    deployed_images: v.deployed_images.clone(),
                    weight: v.weight,
                    current_instance_count: current,
                    desired_instance_count: desired,
                }
            })
            .collect()
    }
}

impl Services {
    pub async fn create_endpoint(
        &self,
        input: Input<CreateEndpointInput>,
    ) -> ServiceResult<Arc<Resource>> {
        let name = required(input.members.endpoint_name, "EndpointName")?;
        let config_name = required(input.members.endpoint_config_name, "EndpointConfigName")?;
        let config = self.stored_endpoint_config(&config_name).await?;
        let derived = json!({
            "EndpointConfigName": config.name,
            "LastModifiedTime": now_epoch(),
        });
        let res = self
            .create_resource(
                ResourceKind::Endpoint,
                &name,
                input.raw,
                derived,
                Some(EndpointStatus::Creating.as_str()),
            )
            .await?;
        let services = self.clone();
        let (endpoint, config) = (res.name.clone(), config.name.clone());
        tokio::spawn(async move { services.run_create(&endpoint, &config).await });
        Ok(res)
    }

    pub async fn describe_endpoint(&self, name: &str) -> ServiceResult<Endpoint> {
        let res = self.describe_resource(ResourceKind::Endpoint, name).await?;
        Ok(self.endpoint(&res))
    }

    /// The endpoint of row `res`, with its live variants unless it is being deleted.
    fn endpoint(&self, res: &Resource) -> Endpoint {
        let variants = self
            .hosting
            .deployment(&res.name)
            .filter(|_| res.status.as_deref() != Some(EndpointStatus::Deleting.as_str()))
            .map(|d| d.variant_statuses());
        Endpoint {
            record: Record::from(res),
            status: parse_status(&res.name, res.status.as_deref()),
            variants,
        }
    }

    pub async fn list_endpoints(&self, params: ListParams) -> ServiceResult<Page<Endpoint>> {
        let page = self.list_resources(ResourceKind::Endpoint, params).await?;
        // A summary shows no variants: skip the deployment look-up.
        Ok(page.map(|r| Endpoint {
            status: parse_status(&r.name, r.status.as_deref()),
            record: Record::from(&r),
            variants: None,
        }))
    }

    pub async fn update_endpoint(&self, req: UpdateEndpointInput) -> ServiceResult<String> {
        let name = required(req.endpoint_name, "EndpointName")?;
        let config_name = required(req.endpoint_config_name, "EndpointConfigName")?;
        let res = self
            .describe_resource(ResourceKind::Endpoint, &name)
            .await?;
        check_updatable(&res)?;
        let config = self.stored_endpoint_config(&config_name).await?;
        let runs_models = super::endpoint_configs::production_variants(&config)?
            .iter()
            .any(|v| v.model_name.is_some());
        if runs_models {
            // the components' copies need variants without a model to stay on
            let doing = "update the endpoint to a configuration whose variants specify ModelName";
            self.check_no_components(&res, doing).await?;
        }
        self.save_endpoint(&res.name, EndpointStatus::Updating, |_| {})
            .await?;
        let services = self.clone();
        let (endpoint, config) = (res.name.clone(), config.name.clone());
        tokio::spawn(async move { services.run_update(&endpoint, &config).await });
        Ok(res.arn.clone())
    }

    pub async fn update_endpoint_weights_and_capacities(
        &self,
        req: UpdateEndpointWeightsAndCapacitiesInput,
    ) -> ServiceResult<String> {
        let name = required(req.endpoint_name, "EndpointName")?;
        let res = self
            .describe_resource(ResourceKind::Endpoint, &name)
            .await?;
        check_updatable(&res)?;
        let desired = req.desired_weights_and_capacities.unwrap_or_default();
        let deployment = self.hosting.deployment(&res.name).ok_or_else(|| {
            ServiceError::Validation(format!(
                "Cannot update in-progress endpoint \"{}\".",
                res.arn
            ))
        })?;
        let known: HashSet<String> = deployment
            .variants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|v| v.name.clone())
            .collect();
        let missing: Vec<&str> = desired
            .iter()
            .filter_map(|d| d.variant_name.as_deref())
            .filter(|n| !known.contains(*n))
            .collect();
        if !missing.is_empty() {
            return Err(ServiceError::Validation(format!(
                "The variant name(s) [{}] is/are not present in the endpoint \"{}\".",
                missing.join(", "),
                res.arn
            )));
        }
        self.save_endpoint(&res.name, EndpointStatus::Updating, |_| {})
            .await?;
        let services = self.clone();
        let endpoint = res.name.clone();
        tokio::spawn(async move { services.run_scale(&endpoint, desired).await });
        Ok(res.arn.clone())
    }

    pub async fn delete_endpoint(&self, name: &str) -> ServiceResult<()> {
        let res = self.describe_resource(ResourceKind::Endpoint, name).await?;
        if res.status.as_deref() == Some(EndpointStatus::Deleting.as_str()) {
            return Ok(());
        }
        self.check_no_components(&res, "delete the endpoint")
            .await?;
        self.save_endpoint(&res.name, EndpointStatus::Deleting, |_| {})
            .await?;
        self.hosting.routes.remove(&res.name);
        let services = self.clone();
        let endpoint = res.name.clone();
        tokio::spawn(async move { services.run_delete(&endpoint).await });
        Ok(())
    }

    /// Writes the status (and what `edit` changes in the derived members) of an endpoint, if
    /// `ENDPOINT_LIFECYCLE` allows the move; a move it refuses is an internal error.
    pub(super) async fn save_endpoint(
        &self,
        name: &str,
        status: EndpointStatus,
        edit: impl Fn(&mut Map<String, Value>),
    ) -> ServiceResult<()> {
        self.check_endpoint_move(name, status)
            .await
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.update_status(ResourceKind::Endpoint, name, status.as_str(), edit)
            .await
    }

    /// `save_endpoint` for the background tasks, which have no caller to hand an error to: a
    /// terminal status is retried, a failure (or a refused move) logged with the endpoint's
    /// name (see `saving`).
    pub(super) async fn save_endpoint_logged(
        &self,
        name: &str,
        status: EndpointStatus,
        edit: impl Fn(&mut Map<String, Value>),
    ) {
        if let Err(e) = self.check_endpoint_move(name, status).await {
            tracing::error!("{e}; the status is not written");
            return;
        }
        self.persist_state(ResourceKind::Endpoint, name, status.as_str(), &edit)
            .await;
    }

    /// Whether `name` may move to `to` from the status it shows now (a terminal state still
    /// being retried included). A gone endpoint has nothing to check: its save is a no-op.
    async fn check_endpoint_move(
        &self,
        name: &str,
        to: EndpointStatus,
    ) -> Result<(), crate::service::lifecycle::IllegalMove> {
        let Ok(res) = self.describe_resource(ResourceKind::Endpoint, name).await else {
            return Ok(());
        };
        match parse_status(name, res.status.as_deref()) {
            Some(from) => ENDPOINT_LIFECYCLE.check(name, from, to),
            None => Ok(()),
        }
    }

    async fn endpoint_status(&self, name: &str) -> Option<EndpointStatus> {
        let res = self
            .store
            .resource(ResourceKind::Endpoint, name)
            .await
            .ok()
            .flatten()?;
        parse_status(name, res.status.as_deref())
    }

    pub(super) async fn run_create(&self, endpoint: &str, config: &str) {
        let lock = self.hosting.lock(endpoint);
        let _turn = lock.lock().await;
        if self.endpoint_status(endpoint).await != Some(EndpointStatus::Creating) {
            return;
        }
        match self.deploy(endpoint, config).await {
            Ok(d) => self.go_live(endpoint, d, None).await,
            Err(reason) => {
                tracing::info!("endpoint {endpoint} failed: {reason}");
                self.save_endpoint_logged(endpoint, EndpointStatus::Failed, |d| {
                    d.insert("FailureReason".into(), json!(reason));
                })
                .await;
            }
        }
    }

    async fn run_update(&self, endpoint: &str, config: &str) {
        let lock = self.hosting.lock(endpoint);
        let _turn = lock.lock().await;
        if self.endpoint_status(endpoint).await != Some(EndpointStatus::Updating) {
            return;
        }
        let old = self.hosting.deployment(endpoint);
        match self.deploy(endpoint, config).await {
            // blue/green: the new containers passed /ping; traffic moves, then the old ones go
            Ok(d) => self.go_live(endpoint, d, old).await,
            Err(reason) => {
                self.save_endpoint_logged(endpoint, EndpointStatus::InService, |d| {
                    d.insert(
                        "FailureReason".into(),
                        json!(format!("Failed to update the endpoint to endpoint configuration {config}; it keeps serving its previous configuration. {reason}")),
                    );
                })
                .await;
            }
        }
    }

    /// The new deployment takes the traffic; the previous one (if any) is removed.
    async fn go_live(&self, endpoint: &str, d: Arc<Deployment>, old: Option<Arc<Deployment>>) {
        if self.endpoint_status(endpoint).await == Some(EndpointStatus::Deleting) {
            self.teardown(&d).await;
            return;
        }
        self.hosting.routes.set(endpoint, d.route());
        self.hosting.set_deployment(endpoint, Some(d.clone()));
        let view = d.variants_view();
        let (id, config) = (d.id.clone(), d.config_name.clone());
        self.save_endpoint_logged(endpoint, EndpointStatus::InService, |m| {
            m.remove("FailureReason");
            m.insert("EndpointConfigName".into(), json!(config));
            m.insert("ProductionVariants".into(), view.clone());
            m.insert("_Deployment".into(), json!(id));
        })
        .await;
        if let Some(old) = old {
            self.teardown(&old).await;
        }
    }

    async fn run_scale(&self, endpoint: &str, desired: Vec<DesiredWeightAndCapacity>) {
        let lock = self.hosting.lock(endpoint);
        let _turn = lock.lock().await;
        let Some(d) = self.hosting.deployment(endpoint) else {
            return;
        };
        let mut failure = None;
        for want in &desired {
            let Some(variant) = want.variant_name.as_deref() else {
                continue;
            };
            if let Some(w) = want.desired_weight {
                let mut variants = d.variants.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(v) = variants.iter_mut().find(|v| v.name == variant) {
                    v.weight = w;
                }
            }
            if let Some(n) = want
                .desired_instance_count
                .and_then(|n| usize::try_from(n).ok())
                && let Err(e) = self.scale_variant(&d, variant, n).await
            {
                failure = Some(e);
            }
        }
        self.hosting.routes.set(endpoint, d.route());
        let view = d.variants_view();
        self.save_endpoint_logged(endpoint, EndpointStatus::InService, |m| {
            m.insert("ProductionVariants".into(), view.clone());
            match &failure {
                Some(f) => m.insert("FailureReason".into(), json!(f)),
                None => m.remove("FailureReason"),
            };
        })
        .await;
    }

    pub(super) async fn scale_variant(
        &self,
        d: &Arc<Deployment>,
        variant: &str,
        want: usize,
    ) -> Result<(), String> {
        {
            let mut variants = d.variants.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = variants.iter_mut().find(|v| v.name == variant)
                && v.capacity.is_some()
            {
                // capacity for inference components: no container of its own to start or stop
                v.capacity = Some(want);
                return Ok(());
            }
        }
        let engine = self.runtime.engine().await.map_err(|e| e.to_string())?;
        loop {
            let (have, fleet, index) = {
                let variants = d.variants.lock().unwrap_or_else(|e| e.into_inner());
                let Some(v) = variants.iter().find(|v| v.name == variant) else {
                    return Ok(());
                };
                (v.instances.len(), v.fleet.clone(), v.next_index)
            };
            if have == want {
                return Ok(());
            }
            if have > want {
                let removed = {
                    let mut variants = d.variants.lock().unwrap_or_else(|e| e.into_inner());
                    variants
                        .iter_mut()
                        .find(|v| v.name == variant)
                        .and_then(|v| v.instances.pop())
                };
                if let Some((instance, token)) = removed {
                    drain(std::slice::from_ref(&instance)).await;
                    token.cancel();
                    let ids: Vec<String> = instance
                        .members
                        .iter()
                        .map(|m| m.container_id.clone())
                        .collect();
                    fleet::remove_all(&engine, &ids).await;
                }
                continue;
            }
            let gpus = self.instance_gpus(d, &fleet, index)?;
            let started = fleet.start_instance(self, &engine, index, gpus).await?;
            let token = d.token.child_token();
            self.spawn_monitor(&engine, &fleet, started.instance.clone(), token.clone());
            let mut variants = d.variants.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(v) = variants.iter_mut().find(|v| v.name == variant) {
                v.instances.push((started.instance, token));
                v.next_index += 1;
            }
        }
    }

    pub(super) async fn run_delete(&self, endpoint: &str) {
        let lock = self.hosting.lock(endpoint);
        let _turn = lock.lock().await;
        if let Some(d) = self.hosting.deployment(endpoint) {
            self.teardown(&d).await;
        }
        self.hosting.set_deployment(endpoint, None);
        if let Ok(engine) = self.runtime.engine().await {
            // anything else labelled with this endpoint (a deployment cut short)
            let arn = self.sagemaker_arn("endpoint", endpoint);
            if let Ok(list) = engine.containers_labelled(ARN_LABEL, &arn).await {
                let ids: Vec<String> = list.into_iter().map(|(id, _, _)| id).collect();
                fleet::remove_all(&engine, &ids).await;
            }
            let network = self.endpoint_network(endpoint);
            if let Err(e) = engine.remove_network(&network).await {
                // best effort: the startup sweep removes a network nothing claims
                tracing::debug!("endpoint {endpoint}: cannot remove network {network}: {e}");
            }
        }
        let what = format!("endpoint {endpoint}");
        saving::persist(&what, saving::DELETED, || async {
            // whether it was still there does not matter: gone is the state wanted
            self.store
                .delete_resource(ResourceKind::Endpoint, endpoint)
                .await
                .map(|_existed| ())
        })
        .await;
    }

    /// Stops a deployment's containers once the requests they are answering are done.
    pub(super) async fn teardown(&self, d: &Deployment) {
        drain(&d.instances()).await;
        d.token.cancel();
        if let Ok(engine) = self.runtime.engine().await {
            fleet::remove_all(&engine, &d.container_ids()).await;
        }
        if let Ok(mut pool) = self.runtime.gpus.lock() {
            for owner in d
                .gpu_owners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
            {
                pool.release(owner);
            }
        }
    }

    pub(super) fn endpoint_network(&self, endpoint: &str) -> String {
        format!(
            "sagebox-{}-ep-{}",
            self.runtime.owner,
            endpoint.to_ascii_lowercase()
        )
    }
}

/// Retires instances (no request reaches them any more) and waits until the requests they are
/// answering are done, at most DRAIN_LIMIT.
async fn drain(instances: &[Arc<Instance>]) {
    let waits = instances.iter().map(|i| i.drain(DRAIN_LIMIT));
    let drained = futures_util::future::join_all(waits).await;
    if drained.contains(&false) {
        tracing::warn!(
            "requests were still in flight after {}s; their containers are stopped anyway",
            DRAIN_LIMIT.as_secs()
        );
    }
}

fn check_updatable(res: &Resource) -> ServiceResult<()> {
    match parse_status(&res.name, res.status.as_deref()) {
        Some(EndpointStatus::InService) => Ok(()),
        Some(EndpointStatus::Failed) => Err(ServiceError::Validation(format!(
            "Cannot update failed endpoint \"{}\".",
            res.arn
        ))),
        _ => Err(ServiceError::Validation(format!(
            "Cannot update in-progress endpoint \"{}\".",
            res.arn
        ))),
    }
}

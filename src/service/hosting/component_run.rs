//! What keeps inference components serving: starting a component's copies (each one instance
//! of the component's containers, started, health-checked and watched as a variant's instances
//! are: `fleet`, `deploy::spawn_monitor`), replacing them on update, scaling them, removing
//! them on delete, and taking them back after a sagebox restart. One task at a time per
//! component; every status is written before the work it announces is done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::components::{
    COMPONENT_LIFECYCLE, ComponentState, desired_copies, family, health_timeout, log_group,
    status_of,
};
use super::endpoints::{Deployment, VariantFleet};
use super::fleet::{
    self, DEPLOYMENT_LABEL, Fleet, INSTANCE_LABEL, Limits, MEMBER_LABEL, ModelContainer,
};
use super::routes::{Instance, Member};
use crate::aws::model::typed::sagemaker::{
    CreateInferenceComponentInput, InferenceComponentStatus,
};
use crate::aws::time::now_epoch;
use crate::runtime::engine::{ARN_LABEL, Engine, OWNER_LABEL};
use crate::runtime::instance_types;
use crate::service::logs::LogWriter;
use crate::service::{Services, stored};
use crate::store::stored::StoredRow;

use InferenceComponentStatus::{Creating, Deleting, Failed, InService, Updating};

/// What a component runs, read from its stored request.
struct Plan {
    endpoint: String,
    variant: String,
    instance_type: String,
    model: Option<String>,
    container: Option<ModelContainer>,
    copies: usize,
    limits: Option<Limits>,
}

impl Plan {
    fn of(services: &Services, row: &StoredRow) -> Result<Plan, String> {
        let req: CreateInferenceComponentInput =
            stored(&format!("inference component {}", row.key), &row.request)
                .map_err(|e| e.to_string())?;
        let state: ComponentState = serde_json::from_value(row.derived.clone()).unwrap_or_default();
        let spec = req.specification.unwrap_or_default();
        let instance_type = state.instance_type.unwrap_or_else(|| "ml.m5.large".into());
        let container = spec.container.map(|c| {
            let env = c.environment.unwrap_or_default().into_iter().collect();
            (c.image.unwrap_or_default(), c.artifact_url, env)
        });
        Ok(Plan {
            endpoint: req.endpoint_name.unwrap_or_default(),
            variant: req.variant_name.unwrap_or_else(|| "AllTraffic".into()),
            limits: spec
                .compute_resource_requirements
                .map(|r| limits(services, &instance_type, &r)),
            instance_type,
            model: spec.model_name,
            container,
            copies: desired_copies(row),
        })
    }
}

/// A copy's share of the instance: the cores, memory and accelerators the component asks for,
/// within what the host has.
fn limits(
    services: &Services,
    instance_type: &str,
    r: &crate::aws::model::typed::sagemaker::InferenceComponentComputeResourceRequirements,
) -> Limits {
    let allot = instance_types::allot(instance_type, &services.runtime.host);
    let host = &services.runtime.host;
    let cpus = r
        .number_of_cpu_cores_required
        .map_or(allot.cpus, |c| c.ceil().max(1.0) as u32)
        .clamp(1, host.cpus.max(1));
    let memory = r
        .max_memory_required_in_mb
        .or(r.min_memory_required_in_mb)
        .and_then(|m| u64::try_from(m).ok())
        .map_or(allot.memory_mib, |m| m.max(64));
    let gpus = r
        .number_of_accelerator_devices_required
        .map_or(0, |g| g.ceil().max(0.0) as u32);
    Limits {
        cpus,
        memory_mib: memory,
        gpus,
    }
}

impl Services {
    fn component_lock(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.hosting.lock(&format!("inference-component/{name}"))
    }

    pub(super) fn spawn_component_create(&self, row: &StoredRow) {
        let (services, name) = (self.clone(), row.key.clone());
        tokio::spawn(async move { services.run_component_create(&name).await });
    }

    pub(super) fn spawn_component_update(&self, row: &StoredRow, redeploy: bool) {
        let (services, name) = (self.clone(), row.key.clone());
        tokio::spawn(async move { services.run_component_update(&name, redeploy).await });
    }

    pub(super) fn spawn_component_delete(&self, row: &StoredRow) {
        let (services, name) = (self.clone(), row.key.clone());
        tokio::spawn(async move { services.run_component_delete(&name).await });
    }

    /// The row as it is now, if the component still exists.
    async fn component_now(&self, name: &str) -> Option<StoredRow> {
        self.component_row(name).await.ok()
    }

    /// Writes a component's status (and what `edit` changes in its derived members), if
    /// `COMPONENT_LIFECYCLE` allows the move; a refused move or a failed save is logged.
    async fn save_component(
        &self,
        name: &str,
        status: InferenceComponentStatus,
        edit: impl FnOnce(&mut Map<String, Value>),
    ) {
        let Some(mut row) = self.component_now(name).await else {
            return;
        };
        if let Some(from) = status_of(&row)
            && let Err(e) = COMPONENT_LIFECYCLE.check(name, from, status)
        {
            tracing::error!("{e}; the status is not written");
            return;
        }
        row.status = Some(status.as_str().into());
        row.next_status = None;
        row.next_at = None;
        row.modified = now_epoch();
        if let Value::Object(derived) = &mut row.derived {
            edit(derived);
        }
        if let Err(e) = self.store.stored_put(row).await {
            tracing::error!("inference component {name}: cannot save status {status}: {e}");
        }
    }

    async fn run_component_create(&self, name: &str) {
        let lock = self.component_lock(name);
        let _turn = lock.lock().await;
        let Some(row) = self.component_now(name).await else {
            return;
        };
        if status_of(&row) != Some(Creating) {
            return;
        }
        match self.start_copies(&row).await {
            Ok(d) => self.component_live(&row, d, None).await,
            Err(reason) => {
                tracing::info!("inference component {name} failed: {reason}");
                self.save_component(name, Failed, |m| {
                    m.insert("FailureReason".into(), json!(reason));
                })
                .await;
            }
        }
    }

    async fn run_component_update(&self, name: &str, redeploy: bool) {
        let lock = self.component_lock(name);
        let _turn = lock.lock().await;
        let Some(row) = self.component_now(name).await else {
            return;
        };
        if status_of(&row) != Some(Updating) {
            return;
        }
        let old = self.hosting.component(name);
        let Some(current) = old.clone().filter(|_| !redeploy) else {
            // new copies first; the old ones go once the new ones answer
            match self.start_copies(&row).await {
                Ok(d) => self.component_live(&row, d, old).await,
                Err(reason) => {
                    let (status, reason) = match old {
                        Some(_) => (
                            InService,
                            format!(
                                "Failed to update the inference component; it keeps serving its previous specification. {reason}"
                            ),
                        ),
                        None => (Failed, reason),
                    };
                    self.save_component(name, status, |m| {
                        m.insert("FailureReason".into(), json!(reason));
                    })
                    .await;
                }
            }
            return;
        };
        let plan = match Plan::of(self, &row) {
            Ok(p) => p,
            Err(e) => {
                self.save_component(name, InService, |m| {
                    m.insert("FailureReason".into(), json!(e));
                })
                .await;
                return;
            }
        };
        let failure = self
            .scale_variant(&current, &plan.variant, plan.copies)
            .await
            .err();
        self.hosting
            .routes
            .set_component(name, &plan.endpoint, current.route());
        self.save_component(name, InService, |m| match &failure {
            Some(f) => {
                m.insert("FailureReason".into(), json!(f));
            }
            None => {
                m.remove("FailureReason");
            }
        })
        .await;
    }

    async fn run_component_delete(&self, name: &str) {
        let lock = self.component_lock(name);
        let _turn = lock.lock().await;
        self.hosting.routes.remove_component(name);
        if let Some(d) = self.hosting.component(name) {
            self.teardown(&d).await;
        }
        self.hosting.set_component(name, None);
        let Some(row) = self.component_now(name).await else {
            return;
        };
        self.remove_labelled(&row.arn, None).await;
        let what = format!("inference component {name}");
        crate::service::saving::persist(&what, crate::service::saving::DELETED, || async {
            self.store
                .stored_delete(&row.family, &row.key)
                .await
                .map(|_existed| ())
        })
        .await;
    }

    /// Removes the containers labelled with a component's ARN, but those of `keep`'s deployment.
    async fn remove_labelled(&self, arn: &str, keep: Option<&str>) {
        let Ok(engine) = self.runtime.engine().await else {
            return;
        };
        if let Ok(list) = engine.containers_labelled(ARN_LABEL, arn).await {
            let ids: Vec<String> = list
                .into_iter()
                .filter(|(_, _, labels)| {
                    keep.is_none() || labels.get(DEPLOYMENT_LABEL).map(String::as_str) != keep
                })
                .map(|(id, _, _)| id)
                .collect();
            fleet::remove_all(&engine, &ids).await;
        }
    }

    /// The new copies take the traffic; the previous ones (if any) are removed.
    async fn component_live(
        &self,
        row: &StoredRow,
        d: Arc<Deployment>,
        old: Option<Arc<Deployment>>,
    ) {
        let name = row.key.as_str();
        let now = self.component_now(name).await;
        if now
            .as_ref()
            .and_then(status_of)
            .is_none_or(|s| s == Deleting)
        {
            self.teardown(&d).await;
            return;
        }
        let endpoint = row.request["EndpointName"].as_str().unwrap_or_default();
        self.hosting.routes.set_component(name, endpoint, d.route());
        self.hosting.set_component(name, Some(d.clone()));
        let image = {
            let variants = d.variants.lock().unwrap_or_else(|e| e.into_inner());
            variants
                .first()
                .and_then(|v| v.deployed_images.as_array()?.first().cloned())
        };
        let id = d.id.clone();
        self.save_component(name, InService, |m| {
            m.remove("FailureReason");
            m.insert("_Deployment".into(), json!(id));
            if let Some(image) = image {
                m.insert("_DeployedImage".into(), image);
            }
        })
        .await;
        if let Some(old) = old {
            self.teardown(&old).await;
        }
    }

    /// Starts a component's copies on its endpoint's network; on any failure removes what
    /// started and says why.
    async fn start_copies(&self, row: &StoredRow) -> Result<Arc<Deployment>, String> {
        let plan = Plan::of(self, row)?;
        let name = row.key.as_str();
        let engine = self.runtime.engine().await.map_err(|e| e.to_string())?;
        let (notes, _notes_task) =
            LogWriter::new(self, &log_group(name), &format!("{}/sagebox", plan.variant));
        let d = Deployment::new(&new_id(), name);
        let fleet = self
            .component_fleet(row, &plan, &engine, &d.id, &notes)
            .await?;
        let deployed_images: Vec<Value> = fleet
            .containers
            .iter()
            .map(|c| {
                json!({"SpecifiedImage": c.image_uri, "ResolvedImage": c.image.reference, "ResolutionTime": now_epoch()})
            })
            .collect();
        let mut starts = Vec::new();
        for i in 0..plan.copies {
            let gpus = self.instance_gpus(&d, &fleet, i)?;
            starts.push(fleet.start_instance(self, &engine, i, gpus));
        }
        let mut instances = Vec::new();
        let mut failure = None;
        for r in futures_util::future::join_all(starts).await {
            match r {
                Ok(started) => {
                    let token = d.token.child_token();
                    self.spawn_monitor(&engine, &fleet, started.instance.clone(), token.clone());
                    instances.push((started.instance, token));
                }
                Err(e) => failure = Some(e),
            }
        }
        d.variants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(VariantFleet {
                name: plan.variant.clone(),
                weight: 1.0,
                fleet,
                instances,
                deployed_images: Value::Array(deployed_images),
                next_index: plan.copies,
                capacity: None,
            });
        if let Some(f) = failure {
            notes.line(&format!("[sagebox] {f}"));
            self.teardown(&d).await;
            return Err(format!(
                "{f} Check the CloudWatch logs of this inference component (log group {}).",
                log_group(name)
            ));
        }
        Ok(d)
    }

    /// The fleet of a component's copies: its containers prepared (images resolved, model
    /// data staged) for deployment `id` on the endpoint's network.
    async fn component_fleet(
        &self,
        row: &StoredRow,
        plan: &Plan,
        engine: &Engine,
        id: &str,
        notes: &LogWriter,
    ) -> Result<Fleet, String> {
        let name = row.key.as_str();
        let network = self.component_network(engine, &plan.endpoint).await?;
        let containers = match &plan.model {
            Some(m) => {
                let model = self.stored_model(m).await.map_err(|e| e.to_string())?;
                fleet::prepare(self, &model, &plan.instance_type, notes).await?
            }
            None => {
                let c = plan.container.clone().into_iter().collect();
                fleet::prepare_containers(self, c, &plan.instance_type, notes).await?
            }
        };
        Ok(Fleet {
            arn: row.arn.clone(),
            name_prefix: format!("{network}-ic-{}-{id}", name.to_ascii_lowercase()),
            network,
            group: plan.variant.clone(),
            deployment: id.to_string(),
            instance_type: plan.instance_type.clone(),
            containers,
            log_group: log_group(name),
            stream_prefix: plan.variant.clone(),
            health_timeout: health_timeout(row),
            serves: format!("inference component {name}"),
            limits: plan.limits,
        })
    }

    /// The endpoint's network, made if it is not there (a component outlives a restart of
    /// sagebox that re-made the endpoint's containers).
    async fn component_network(&self, engine: &Engine, endpoint: &str) -> Result<String, String> {
        let network = self.endpoint_network(endpoint);
        let labels = HashMap::from([
            (OWNER_LABEL.to_string(), self.runtime.owner.clone()),
            (
                ARN_LABEL.to_string(),
                self.sagemaker_arn("endpoint", endpoint),
            ),
        ]);
        engine
            .ensure_network(&network, &labels)
            .await
            .map_err(|e| format!("Could not create the endpoint's network: {e}"))?;
        Ok(network)
    }

    /// At startup: components that were serving get their copies back (re-adopted by label
    /// when all are there and answer /ping, otherwise started again); components being deleted
    /// are finished off. Returns the ARNs whose containers are kept.
    pub async fn recover_components(&self) -> HashSet<String> {
        let mut kept = HashSet::new();
        let rows = match self.stored_rows(family()).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!("cannot list inference components to recover: {e}");
                return kept;
            }
        };
        for row in rows {
            let status = status_of(&row);
            if status == Some(Failed) {
                continue;
            }
            kept.insert(row.arn.clone());
            let services = self.clone();
            if status == Some(Deleting) {
                tokio::spawn(async move { services.run_component_delete(&row.key).await });
                continue;
            }
            tokio::spawn(async move { services.recover_component(row).await });
        }
        kept
    }

    async fn recover_component(&self, row: StoredRow) {
        let name = row.key.clone();
        let lock = self.component_lock(&name);
        let turn = lock.lock().await;
        if status_of(&row) == Some(InService)
            && let Some(d) = self.readopt_copies(&row).await
        {
            tracing::info!("inference component {name} re-adopted its copies");
            let endpoint = row.request["EndpointName"].as_str().unwrap_or_default();
            self.hosting
                .routes
                .set_component(&name, endpoint, d.route());
            self.hosting.set_component(&name, Some(d));
            return;
        }
        tracing::info!("inference component {name} is started again");
        self.remove_labelled(&row.arn, None).await;
        self.save_component(&name, Creating, |_| {}).await;
        drop(turn);
        self.run_component_create(&name).await;
    }

    /// Rebuilds a component's copies from the containers labelled with its deployment, if
    /// every copy is there and answers /ping; other containers of the component are removed.
    async fn readopt_copies(&self, row: &StoredRow) -> Option<Arc<Deployment>> {
        let state: ComponentState = serde_json::from_value(row.derived.clone()).ok()?;
        let id = state.deployment?;
        let plan = Plan::of(self, row).ok()?;
        let engine = self.runtime.engine().await.ok()?;
        let list = engine.containers_labelled(ARN_LABEL, &row.arn).await.ok()?;
        self.remove_labelled(&row.arn, Some(&id)).await;
        let mut by_copy: HashMap<usize, (String, String)> = HashMap::new();
        for (cid, cname, labels) in list {
            if labels.get(DEPLOYMENT_LABEL) != Some(&id) {
                continue;
            }
            if labels.get(MEMBER_LABEL).map(String::as_str) != Some("0") {
                return None; // a copy of several containers is started again instead
            }
            let copy = labels.get(INSTANCE_LABEL)?.parse().ok()?;
            by_copy.insert(copy, (cid, cname));
        }
        if by_copy.len() != plan.copies {
            return None;
        }
        let group = log_group(&row.key);
        let (notes, _notes_task) =
            LogWriter::new(self, &group, &format!("{}/sagebox", plan.variant));
        let fleet = self
            .component_fleet(row, &plan, &engine, &id, &notes)
            .await
            .ok()?;
        let d = Deployment::new(&id, &row.key);
        let mut instances = Vec::new();
        let mut copies: Vec<_> = by_copy.into_iter().collect();
        copies.sort_by_key(|(copy, _)| *copy);
        let next_index = copies.last().map_or(0, |(c, _)| c + 1);
        for (_, (cid, cname)) in copies {
            if engine.running(&cid).await.ok().flatten() != Some(true) {
                engine.start(&cid).await.ok()?;
            }
            let member = Member {
                log_stream: format!("{}/{}", plan.variant, &cid[..cid.len().min(12)]),
                container_id: cid.clone(),
                container_name: cname,
                port: std::sync::atomic::AtomicU16::new(0),
            };
            fleet::wait_ready(self, &engine, &member, std::time::Duration::from_secs(120))
                .await
                .ok()?;
            fleet::pump_logs(self, &engine, &cid, &group, &member.log_stream, true);
            let instance = Arc::new(Instance::new(vec![member]));
            let token = d.token.child_token();
            self.spawn_monitor(&engine, &fleet, instance.clone(), token.clone());
            instances.push((instance, token));
        }
        let images = state.deployed_image.map_or_else(Vec::new, |i| vec![i]);
        d.variants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(VariantFleet {
                name: plan.variant,
                weight: 1.0,
                fleet,
                instances,
                deployed_images: Value::Array(images),
                next_index,
                capacity: None,
            });
        Some(d)
    }
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

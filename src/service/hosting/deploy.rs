//! Starting a deployment: every production variant of an endpoint configuration on its
//! instances (each with its GPUs), and a monitor per instance that restarts a container that
//! exits.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::endpoint_configs::production_variants;
use super::endpoints::{DEFAULT_HEALTH_TIMEOUT, Deployment, VariantFleet, log_group};
use super::fleet::{self, Fleet};
use super::routes::Instance;
use crate::aws::model::typed::sagemaker::ProductionVariant;
use crate::aws::time::now_epoch;
use crate::runtime::engine::{ARN_LABEL, Engine, OWNER_LABEL};
use crate::runtime::gpu::GpuGrant;
use crate::runtime::instance_types;
use crate::service::Services;
use crate::service::logs::LogWriter;

impl Services {
    pub(super) fn instance_gpus(
        &self,
        d: &Deployment,
        fleet: &Fleet,
        index: usize,
    ) -> Result<GpuGrant, String> {
        let allot = instance_types::allot(&fleet.instance_type, &self.runtime.host);
        let owner = format!("{}/{}/{}/{index}", fleet.arn, d.id, fleet.group);
        let count = fleet.limits.map_or(allot.gpus, |l| l.gpus);
        let grant = self.grant_gpus(&owner, &fleet.instance_type, count, |w| {
            tracing::warn!("variant {}: {w}", fleet.group)
        })?;
        if !grant.devices.is_empty() {
            d.gpu_owners
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(owner);
        }
        Ok(grant)
    }

    /// Starts every variant of `config` for `endpoint`; on any failure removes what started.
    pub(super) async fn deploy(
        &self,
        endpoint: &str,
        config_name: &str,
    ) -> Result<Arc<Deployment>, String> {
        let config = self
            .stored_endpoint_config(config_name)
            .await
            .map_err(|e| e.to_string())?;
        let engine = self.runtime.engine().await.map_err(|e| e.to_string())?;
        let arn = self.sagemaker_arn("endpoint", endpoint);
        let deployment_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let network = self.endpoint_network(endpoint);
        let labels = HashMap::from([
            (OWNER_LABEL.to_string(), self.runtime.owner.clone()),
            (ARN_LABEL.to_string(), arn.clone()),
        ]);
        engine
            .ensure_network(&network, &labels)
            .await
            .map_err(|e| format!("Could not create the endpoint's network: {e}"))?;
        let group = log_group(endpoint);
        let d = Deployment::new(&deployment_id, &config.name);
        let variants = production_variants(&config).map_err(|e| e.to_string())?;
        let result = self
            .deploy_variants(&engine, &d, &arn, &network, &group, &variants)
            .await;
        if let Err(e) = result {
            self.teardown(&d).await;
            return Err(e);
        }
        Ok(d)
    }

    #[allow(clippy::too_many_arguments)]
    async fn deploy_variants(
        &self,
        engine: &Engine,
        d: &Arc<Deployment>,
        arn: &str,
        network: &str,
        group: &str,
        variants: &[ProductionVariant],
    ) -> Result<(), String> {
        for v in variants {
            let name = v.variant_name.as_deref().unwrap_or("AllTraffic");
            let Some(model_name) = v.model_name.as_deref() else {
                d.variants
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(capacity_variant(arn, network, group, d, v));
                continue;
            };
            let model = self
                .stored_model(model_name)
                .await
                .map_err(|e| e.to_string())?;
            let (notes, _notes_task) = LogWriter::new(self, group, &format!("{name}/sagebox"));
            let instance_type = v
                .instance_type
                .clone()
                .unwrap_or_else(|| "ml.m5.large".to_string());
            let containers = fleet::prepare(self, &model, &instance_type, &notes).await?;
            let count = if v.serverless_config.is_some() {
                1
            } else {
                v.initial_instance_count
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(1)
            };
            let health_timeout = v
                .container_startup_health_check_timeout_in_seconds
                .and_then(|n| u64::try_from(n).ok())
                .map_or(DEFAULT_HEALTH_TIMEOUT, Duration::from_secs);
            let deployed_images: Vec<Value> = containers
                .iter()
                .map(|c| {
                    json!({"SpecifiedImage": c.image_uri, "ResolvedImage": c.image.reference, "ResolutionTime": now_epoch()})
                })
                .collect();
            let fleet = Fleet {
                arn: arn.to_string(),
                name_prefix: format!("{network}-{}-{}", name.to_ascii_lowercase(), d.id),
                network: network.to_string(),
                group: name.to_string(),
                deployment: d.id.clone(),
                instance_type,
                containers,
                log_group: group.to_string(),
                stream_prefix: name.to_string(),
                health_timeout,
                serves: format!("production variant {name}"),
                limits: None,
            };
            let allot = instance_types::allot(&fleet.instance_type, &self.runtime.host);
            for note in &allot.capped {
                notes.line(&format!("[sagebox] {note}"));
            }
            let mut starts = Vec::new();
            for i in 0..count {
                let gpus = self.instance_gpus(d, &fleet, i)?;
                starts.push(fleet.start_instance(self, engine, i, gpus));
            }
            let results = futures_util::future::join_all(starts).await;
            let mut instances = Vec::new();
            let mut failure = None;
            for r in results {
                match r {
                    Ok(started) => {
                        let token = d.token.child_token();
                        self.spawn_monitor(engine, &fleet, started.instance.clone(), token.clone());
                        instances.push((started.instance, token));
                    }
                    Err(e) => failure = Some(e),
                }
            }
            let weight = v.initial_variant_weight.unwrap_or(1.0);
            d.variants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(VariantFleet {
                    name: name.to_string(),
                    weight,
                    fleet,
                    instances,
                    deployed_images: Value::Array(deployed_images),
                    next_index: count,
                    capacity: None,
                });
            if let Some(f) = failure {
                notes.line(&format!("[sagebox] {f}"));
                return Err(format!("{f} Check the CloudWatch logs of this endpoint."));
            }
        }
        Ok(())
    }

    /// Watches one instance: a container that exits is started again (the instance is taken
    /// out of rotation meanwhile, so the variant serves with fewer instances).
    pub(super) fn spawn_monitor(
        &self,
        engine: &Engine,
        fleet: &Fleet,
        instance: Arc<Instance>,
        token: CancellationToken,
    ) {
        let (services, engine, fleet) = (self.clone(), engine.clone(), fleet.clone());
        tokio::spawn(async move {
            loop {
                let waits = instance
                    .members
                    .iter()
                    .map(|m| Box::pin(engine.wait(&m.container_id)));
                let exited = tokio::select! {
                    () = token.cancelled() => return,
                    (code, idx, _) = futures_util::future::select_all(waits) => (idx, code),
                };
                if token.is_cancelled() {
                    return;
                }
                let (idx, code) = exited;
                let member = &instance.members[idx];
                instance
                    .up
                    .store(false, std::sync::atomic::Ordering::Relaxed);
                let (notes, _t) = LogWriter::new(&services, &fleet.log_group, &member.log_stream);
                let code = code.map_or_else(|e| e.to_string(), |c| c.to_string());
                notes.line(&format!(
                    "[sagebox] the container exited ({code}); restarting it. The variant serves with one instance fewer until it answers /ping again."
                ));
                tokio::time::sleep(Duration::from_secs(1)).await;
                if token.is_cancelled() {
                    return;
                }
                if let Err(e) = engine.start(&member.container_id).await {
                    notes.line(&format!("[sagebox] could not restart the container: {e}"));
                    return;
                }
                member.port.store(0, std::sync::atomic::Ordering::Relaxed);
                fleet::pump_logs(
                    &services,
                    &engine,
                    &member.container_id,
                    &fleet.log_group,
                    &member.log_stream,
                    true,
                );
                match fleet::wait_ready(&services, &engine, member, fleet.health_timeout).await {
                    Ok(()) => {
                        instance
                            .up
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        notes.line("[sagebox] the container is serving again.");
                    }
                    Err(e) => notes.line(&format!(
                        "[sagebox] the restarted container is not healthy: {e}"
                    )),
                }
            }
        });
    }
}

/// A variant without a model: instances that host inference components. Nothing runs until a
/// component is created on it; each component starts its own copies (see `components`).
pub(super) fn capacity_variant(
    arn: &str,
    network: &str,
    group: &str,
    d: &Deployment,
    v: &ProductionVariant,
) -> VariantFleet {
    let name = v.variant_name.as_deref().unwrap_or("AllTraffic");
    let count = v
        .initial_instance_count
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(1);
    VariantFleet {
        name: name.to_string(),
        weight: v.initial_variant_weight.unwrap_or(1.0),
        fleet: Fleet {
            arn: arn.to_string(),
            name_prefix: format!("{network}-{}-{}", name.to_ascii_lowercase(), d.id),
            network: network.to_string(),
            group: name.to_string(),
            deployment: d.id.clone(),
            instance_type: v
                .instance_type
                .clone()
                .unwrap_or_else(|| "ml.m5.large".to_string()),
            containers: Vec::new(),
            log_group: group.to_string(),
            stream_prefix: name.to_string(),
            health_timeout: DEFAULT_HEALTH_TIMEOUT,
            serves: format!("production variant {name}"),
            limits: None,
        },
        instances: Vec::new(),
        deployed_images: Value::Array(Vec::new()),
        next_index: 0,
        capacity: Some(count),
    }
}

//! Endpoints after a restart of sagebox: a deployment whose containers all kept running is
//! taken back by its labels; any other serving endpoint is deployed again, and one being
//! deleted is finished off.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::endpoint_configs::production_variants;
use super::endpoints::{DEFAULT_HEALTH_TIMEOUT, Deployment, VariantFleet, log_group};
use super::fleet::{self, DEPLOYMENT_LABEL, Fleet, GROUP_LABEL, INSTANCE_LABEL, MEMBER_LABEL};
use super::routes::{Instance, Member};
use super::state::{EndpointState, SavedVariant, parse_status};
use crate::aws::model::typed::sagemaker::EndpointStatus;
use crate::runtime::engine::ARN_LABEL;
use crate::service::logs::LogWriter;
use crate::service::{Services, stored};
use crate::store::resources::{ListQuery, Resource, ResourceKind};

impl Services {
    /// At startup: endpoints that were serving get their containers back (re-adopted by label
    /// when the deployment's containers are all there, otherwise deployed again); endpoints
    /// being deleted are finished off. Returns the ARNs whose containers are kept.
    pub async fn recover_endpoints(&self) -> HashSet<String> {
        let mut kept = HashSet::new();
        let query = ListQuery::every(None);
        let endpoints = match self
            .store
            .list_resources(ResourceKind::Endpoint, query)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("cannot list endpoints to recover: {e}");
                return kept;
            }
        };
        for ep in endpoints {
            let status = parse_status(&ep.name, ep.status.as_deref());
            if status == Some(EndpointStatus::Failed) {
                continue;
            }
            kept.insert(ep.arn.clone());
            if status == Some(EndpointStatus::Deleting) {
                let services = self.clone();
                tokio::spawn(async move { services.run_delete(&ep.name).await });
                continue;
            }
            let state: EndpointState = match stored(&format!("endpoint {}", ep.name), &ep.derived) {
                Ok(state) => state,
                Err(e) => {
                    tracing::warn!("{e}");
                    EndpointState::default()
                }
            };
            let config = state.config_name.clone().unwrap_or_default();
            let services = self.clone();
            tokio::spawn(async move {
                if let Some(id) = &state.deployment
                    && services.readopt(&ep, &state, &config, id).await
                {
                    tracing::info!("endpoint {} re-adopted its containers", ep.name);
                    if status != Some(EndpointStatus::InService) {
                        services
                            .save_endpoint_logged(&ep.name, EndpointStatus::InService, |_| {})
                            .await;
                    }
                    return;
                }
                tracing::info!("endpoint {} is deployed again", ep.name);
                services
                    .save_endpoint_logged(&ep.name, EndpointStatus::Creating, |_| {})
                    .await;
                if let Ok(engine) = services.runtime.engine().await
                    && let Ok(list) = engine.containers_labelled(ARN_LABEL, &ep.arn).await
                {
                    let ids: Vec<String> = list.into_iter().map(|(id, _, _)| id).collect();
                    fleet::remove_all(&engine, &ids).await;
                }
                services.run_create(&ep.name, &config).await;
            });
        }
        kept
    }

    /// Rebuilds a deployment from the containers labelled with it, if they are all there and
    /// answer /ping.
    async fn readopt(
        &self,
        ep: &Resource,
        state: &EndpointState,
        config_name: &str,
        deployment_id: &str,
    ) -> bool {
        let Ok(engine) = self.runtime.engine().await else {
            return false;
        };
        let Ok(config) = self.stored_endpoint_config(config_name).await else {
            return false;
        };
        let Ok(containers) = engine.containers_labelled(ARN_LABEL, &ep.arn).await else {
            return false;
        };
        let mut by_slot: HashMap<(String, usize, usize), String> = HashMap::new();
        for (id, name, labels) in &containers {
            if labels.get(DEPLOYMENT_LABEL).map(String::as_str) != Some(deployment_id) {
                if let Err(e) = engine.remove(id).await {
                    // best effort: the startup sweep removes containers nothing claims
                    tracing::debug!(
                        "endpoint {}: cannot remove stale container {id}: {e}",
                        ep.name
                    );
                }
                continue;
            }
            let slot = (
                labels.get(GROUP_LABEL).cloned().unwrap_or_default(),
                labels
                    .get(INSTANCE_LABEL)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
                labels
                    .get(MEMBER_LABEL)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            );
            by_slot.insert(slot, format!("{id}\n{name}"));
        }
        let network = self.endpoint_network(&ep.name);
        let group = log_group(&ep.name);
        let d = Deployment::new(deployment_id, &config.name);
        let saved: &[SavedVariant] = state.variants.as_deref().unwrap_or_default();
        let Ok(config_variants) = production_variants(&config) else {
            return false;
        };
        for v in saved {
            let name = v.variant_name.clone();
            let count = v.desired_instance_count;
            let images = v.deployed_images.clone();
            let members_per = images.as_array().map_or(1, Vec::len).max(1);
            let cv = config_variants
                .iter()
                .find(|c| c.variant_name.as_deref() == Some(&name))
                .cloned()
                .unwrap_or_default();
            let Some(model_name) = cv.model_name.as_deref() else {
                let mut capacity =
                    super::deploy::capacity_variant(&ep.arn, &network, &group, &d, &cv);
                capacity.capacity = Some(count);
                capacity.weight = v.current_weight;
                d.variants
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(capacity);
                continue;
            };
            let Ok(Some(model)) = self.store.resource(ResourceKind::Model, model_name).await else {
                return false;
            };
            let (notes, _notes_task) = LogWriter::new(self, &group, &format!("{name}/sagebox"));
            let instance_type = cv
                .instance_type
                .clone()
                .unwrap_or_else(|| "ml.m5.large".to_string());
            let Ok(containers) = fleet::prepare(self, &model, &instance_type, &notes).await else {
                return false;
            };
            let fleet = Fleet {
                arn: ep.arn.clone(),
                name_prefix: format!("{network}-{}-{}", name.to_ascii_lowercase(), d.id),
                network: network.clone(),
                group: name.clone(),
                deployment: d.id.clone(),
                instance_type,
                containers,
                log_group: group.clone(),
                stream_prefix: name.clone(),
                health_timeout: DEFAULT_HEALTH_TIMEOUT,
                serves: format!("production variant {name}"),
                limits: None,
            };
            let mut instances = Vec::new();
            for i in 0..count {
                let mut members = Vec::new();
                for m in 0..members_per {
                    let Some(entry) = by_slot.get(&(name.clone(), i, m)) else {
                        return false;
                    };
                    let (id, cname) = entry.split_once('\n').unwrap_or((entry, ""));
                    if engine.running(id).await.ok().flatten() != Some(true)
                        && engine.start(id).await.is_err()
                    {
                        return false;
                    }
                    let member = Member {
                        container_id: id.to_string(),
                        container_name: cname.to_string(),
                        port: std::sync::atomic::AtomicU16::new(0),
                        log_stream: format!("{name}/{}", &id[..id.len().min(12)]),
                    };
                    if fleet::wait_ready(self, &engine, &member, Duration::from_secs(120))
                        .await
                        .is_err()
                    {
                        return false;
                    }
                    fleet::pump_logs(self, &engine, id, &group, &member.log_stream, true);
                    members.push(member);
                }
                let instance = Arc::new(Instance::new(members));
                let token = d.token.child_token();
                self.spawn_monitor(&engine, &fleet, instance.clone(), token.clone());
                instances.push((instance, token));
            }
            d.variants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(VariantFleet {
                    name: name.clone(),
                    weight: v.current_weight,
                    fleet,
                    instances,
                    deployed_images: images,
                    next_index: count,
                    capacity: None,
                });
        }
        self.hosting.routes.set(&ep.name, d.route());
        self.hosting.set_deployment(&ep.name, Some(d));
        true
    }
}

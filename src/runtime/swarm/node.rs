//! `sagebox doctor --node HOST`: whether one engine can serve as a node of the swarm sagebox
//! runs on: a member of a swarm, able to pull from the registry over plain HTTP, and what GPUs it
//! offers (generic resources, and the runtime that gives a task the GPUs it was assigned).

use super::docker_at;
use super::service::GPU_RESOURCE;
use crate::runtime::doctor::{Check, Verdict, check};

pub async fn checks(host: &str, registry: Option<&str>) -> Vec<Check> {
    let docker = match docker_at(host) {
        Ok(d) => d,
        Err(e) => return vec![check("node", Verdict::Fail, e.to_string())],
    };
    let info = match docker.info().await {
        Ok(i) => i,
        Err(e) => {
            return vec![check(
                "node",
                Verdict::Fail,
                format!("no Docker engine answers at {host}: {e}"),
            )];
        }
    };
    let mut out = Vec::new();
    let swarm = info.swarm.clone().unwrap_or_default();
    let active = swarm.local_node_state == Some(bollard::models::LocalNodeState::ACTIVE);
    out.push(if active {
        check(
            "node",
            Verdict::Ok,
            format!(
                "{} ({}) is a {} of a swarm ({} nodes)",
                info.name.clone().unwrap_or_default(),
                host,
                if swarm.control_available == Some(true) {
                    "manager"
                } else {
                    "worker"
                },
                swarm.nodes.unwrap_or(0)
            ),
        )
    } else {
        check(
            "node",
            Verdict::Fail,
            format!(
                "the engine at {host} is not in a swarm: join it with the command `docker swarm join-token worker` prints on the manager"
            ),
        )
    });
    if let Some(registry) = registry {
        let plain = info
            .registry_config
            .as_ref()
            .and_then(|r| r.index_configs.as_ref())
            .and_then(|c| c.get(registry))
            .is_some_and(|i| i.secure == Some(false));
        out.push(if plain {
            check(
                "registry",
                Verdict::Ok,
                format!("pulls from {registry} over plain HTTP"),
            )
        } else {
            check(
                "registry",
                Verdict::Fail,
                format!(
                    "{registry} is not in this engine's insecure-registries, so it cannot pull sagebox's images: add {{\"insecure-registries\": [\"{registry}\"]}} to its /etc/docker/daemon.json and restart dockerd"
                ),
            )
        });
    }
    let gpus = super::gpu_count(&info.generic_resources.unwrap_or_default());
    let nvidia = info
        .runtimes
        .as_ref()
        .is_some_and(|r| r.contains_key("nvidia"));
    out.push(match (gpus, nvidia) {
        (0, _) => check(
            "gpus",
            Verdict::Ok,
            format!(
                "offers no GPUs (CPU instance types only); a GPU node lists them as \"node-generic-resources\": [\"{GPU_RESOURCE}=GPU-<uuid>\", …] in its daemon.json"
            ),
        ),
        (n, true) => check(
            "gpus",
            Verdict::Ok,
            format!("offers {n} GPUs ({GPU_RESOURCE}) and has the nvidia runtime"),
        ),
        (n, false) => check(
            "gpus",
            Verdict::Warn,
            format!(
                "offers {n} GPUs ({GPU_RESOURCE}) but has no nvidia runtime, so a task it takes sees none: install nvidia-container-toolkit and make nvidia the default runtime (\"default-runtime\": \"nvidia\")"
            ),
        ),
    });
    out
}

//! The GPUs of the swarm's nodes: what each ready node advertises (`NVIDIA-GPU` generic
//! resources), and the refusal of an instance no node can hold.

use super::{EngineError, SwarmEngine, service};

impl SwarmEngine {
    /// The GPUs each ready node advertises (`NVIDIA-GPU` generic resources): (hostname, count).
    pub async fn gpu_nodes(&self) -> Result<Vec<(String, u32)>, EngineError> {
        let nodes = self
            .manager
            .list_nodes(None::<bollard::query_parameters::ListNodesOptions>)
            .await?;
        Ok(nodes
            .into_iter()
            .filter(|n| {
                n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY)
            })
            .map(|n| {
                let description = n.description.unwrap_or_default();
                let gpus = gpu_count(
                    &description
                        .resources
                        .and_then(|r| r.generic_resources)
                        .unwrap_or_default(),
                );
                (description.hostname.unwrap_or_default(), gpus)
            })
            .collect())
    }

    /// Refuses an instance that asks more GPUs than any node advertises (the swarm would keep
    /// its task pending for ever).
    pub(super) async fn check_gpus(&self, wanted: u32) -> Result<(), EngineError> {
        let nodes = self.gpu_nodes().await?;
        if nodes.iter().any(|(_, n)| *n >= wanted) {
            return Ok(());
        }
        let have = nodes
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(h, n)| format!("{h}: {n}"))
            .collect::<Vec<_>>();
        Err(EngineError::Other(format!(
            "no node of the swarm has {wanted} GPUs for one instance ({}); a node offers its GPUs as `node-generic-resources` [\"{}=GPU-<uuid>\", …] in its daemon.json (see the README)",
            if have.is_empty() {
                "no node advertises any".to_string()
            } else {
                format!("the nodes advertise {}", have.join(", "))
            },
            service::GPU_RESOURCE
        )))
    }
}

/// The GPUs among a node's generic resources: a count (`NVIDIA-GPU=4`) or one per named GPU.
pub fn gpu_count(resources: &[bollard::models::GenericResourcesInner]) -> u32 {
    resources
        .iter()
        .map(|g| {
            let discrete = g
                .discrete_resource_spec
                .as_ref()
                .filter(|d| d.kind.as_deref() == Some(service::GPU_RESOURCE))
                .and_then(|d| d.value)
                .unwrap_or(0);
            let named = g
                .named_resource_spec
                .as_ref()
                .is_some_and(|d| d.kind.as_deref() == Some(service::GPU_RESOURCE));
            u32::try_from(discrete).unwrap_or(0) + u32::from(named)
        })
        .sum()
}

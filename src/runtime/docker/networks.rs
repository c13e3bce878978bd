//! Per-job networks, named volumes and the label sweep.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::DockerEngine;
use crate::runtime::engine::{EngineError, OWNER_LABEL};

impl DockerEngine {
    /// A bridge network for one job or endpoint, labelled like its containers.
    pub async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError> {
        let resp = self
            .docker
            .create_network(NetworkCreateRequest {
                name: name.into(),
                driver: Some("bridge".into()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await?;
        Ok(resp.id)
    }

    /// Like `create_network`, but a network of that name already there is used (the engine
    /// would otherwise create a second network with the same name).
    pub async fn ensure_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), EngineError> {
        let inspect = self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await;
        if inspect.is_ok() {
            return Ok(());
        }
        match self.create_network(name, labels).await {
            Ok(_)
            | Err(EngineError::Api {
                status: Some(409), ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates a named volume (kept until `remove_volume`; an existing one is reused).
    pub async fn create_volume(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        let request = bollard::models::VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels),
            ..Default::default()
        };
        self.docker.create_volume(request).await?;
        Ok(())
    }

    /// Removes a named volume and its data; one that is gone already is fine.
    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::RemoveVolumeOptionsBuilder::default()
            .force(true)
            .build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the named volumes `owner` created (notebook instances' home folders).
    pub async fn remove_volumes_of(&self, owner: &str) -> Result<usize, EngineError> {
        let filters =
            HashMap::from([("label".to_string(), vec![format!("{OWNER_LABEL}={owner}")])]);
        let listed = self
            .docker
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await?;
        let mut removed = 0;
        for volume in listed.volumes.unwrap_or_default() {
            self.remove_volume(&volume.name).await?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Removes what this instance created and nobody claims: containers first, then networks.
    /// `keep` sees each object's labels and says whether a service re-adopts it.
    pub async fn sweep(
        &self,
        owner: &str,
        keep: impl Fn(&HashMap<String, String>) -> bool,
    ) -> Result<usize, EngineError> {
        let mut removed = 0;
        for (id, _, labels) in self.containers_labelled(OWNER_LABEL, owner).await? {
            if !keep(&labels) {
                self.remove(&id).await?;
                removed += 1;
            }
        }
        let filters =
            HashMap::from([("label".to_string(), vec![format!("{OWNER_LABEL}={owner}")])]);
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await?;
        for n in networks {
            if let Some(name) = n
                .name
                .filter(|_| !keep(&n.labels.clone().unwrap_or_default()))
            {
                self.remove_network(&name).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

//! Creating, starting, waiting for, stopping and removing containers, their published ports and
//! the labelled listing.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::DockerEngine;
use crate::runtime::engine::{ContainerSpec, EngineError, Listed};

impl DockerEngine {
    /// Creates and starts a container; returns its id.
    pub async fn run(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let mut body = super::spec::create_body(spec);
        if let Some(host_config) = body.host_config.as_mut() {
            host_config.binds = Some(super::spec::bind_strings(
                &self.paths.map_binds(&spec.binds)?,
            ));
        }
        let created = self.docker.create_container(Some(options), body).await?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            if let Err(r) = self.remove(&created.id).await {
                // The start's error is the one to report; a leftover is swept like any other.
                tracing::debug!(
                    "cannot remove container {} after a failed start: {r}",
                    created.id
                );
            }
            return Err(e.into());
        }
        Ok(created.id)
    }

    /// Starts an existing (exited) container again; its published ports may change.
    pub async fn start(&self, id: &str) -> Result<(), EngineError> {
        match self.docker.start_container(id, None).await {
            // already running
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the container if it was created but never started (sagebox stopped between the
    /// two steps); a container that ran and exited is left as it is.
    pub async fn start_if_created(&self, id: &str) -> Result<(), EngineError> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await?;
        let created = c
            .state
            .and_then(|s| s.status)
            .is_some_and(|s| s == bollard::models::ContainerStateStatusEnum::CREATED);
        if created {
            self.start(id).await?;
        }
        Ok(())
    }

    /// Whether the container is running; None when it is gone.
    pub async fn running(&self, id: &str) -> Result<Option<bool>, EngineError> {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Ok(Some(c.state.and_then(|s| s.running).unwrap_or(false))),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The last `n` lines the container wrote (for failure reasons).
    /// Waits for the container to exit; its exit code.
    pub async fn wait(&self, id: &str) -> Result<i64, EngineError> {
        let mut stream = self.docker.wait_container(id, None);
        match stream.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            // bollard reports a non-zero exit as an error carrying the code
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(e.into()),
            None => Err(EngineError::Other(format!(
                "the engine closed the wait for container {id} without an exit code"
            ))),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), EngineError> {
        let options = StopContainerOptionsBuilder::default()
            .t(grace.as_secs().min(i32::MAX as u64) as i32)
            .build();
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // already stopped (304) or gone (404)
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove(&self, id: &str) -> Result<(), EngineError> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            // another removal (a job's own cleanup racing a sweep or purge) is under way: wait
            // for it, so that what comes next (its network) is free to go
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => self.gone(id, &message).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Waits up to 30 s for a container being removed by someone else to be gone.
    async fn gone(&self, id: &str, message: &str) -> Result<(), EngineError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            match self
                .docker
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
            {
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Ok(()),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Err(EngineError::Api {
            status: Some(409),
            message: message.to_string(),
        })
    }

    /// The host port (on 127.0.0.1) that the container's `port`/tcp was published on.
    pub async fn published_port(&self, id: &str, port: u16) -> Result<Option<u16>, EngineError> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await?;
        Ok(c.network_settings
            .and_then(|n| n.ports)
            .and_then(|p| p.get(&format!("{port}/tcp")).cloned().flatten())
            .and_then(|bindings| {
                bindings
                    .into_iter()
                    .find_map(|b| b.host_port.and_then(|p| p.parse().ok()))
            }))
    }

    /// The container's output as lines with the engine's timestamps; with `follow`, until it
    /// exits. `since` (epoch seconds; 0: from the start) skips what was written before it
    /// Containers carrying `label=value`, stopped ones included: (id, name, labels).
    pub async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<Listed>, EngineError> {
        let filter = format!("{label}={value}");
        let filters = HashMap::from([("label".to_string(), vec![filter])]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self.docker.list_containers(Some(options)).await?;
        Ok(list
            .into_iter()
            .map(|c| {
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string();
                (c.id.unwrap_or_default(), name, c.labels.unwrap_or_default())
            })
            .collect())
    }
}

//! The Docker engine, through bollard: connecting (DOCKER_HOST or the default socket, the API
//! version negotiated down to old engines), containers described by a `ContainerSpec`, per-job
//! networks, log streams and the label sweep. Every object sagebox creates carries the labels
//! `sagebox.owner` (this data directory's instance id) and `sagebox.resource-arn`, and is found
//! again by those labels, never by name.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, NetworkingConfig,
    PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use super::gpu::GpuGrant;

pub const OWNER_LABEL: &str = "sagebox.owner";
pub const ARN_LABEL: &str = "sagebox.resource-arn";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "no Docker engine answers at {host}: {detail}. Start Docker (e.g. `sudo systemctl start docker`, or Docker Desktop), or point DOCKER_HOST at a running engine"
    )]
    Unreachable { host: String, detail: String },
    #[error("Docker: {0}")]
    Docker(#[from] bollard::errors::Error),
    #[error("{0}")]
    Other(String),
}

/// Facts about the engine for `doctor` and the console.
#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub host: String,
    pub server_version: String,
    pub api_version: String,
    pub rootless: bool,
    pub cpus: i64,
    pub memory_bytes: i64,
    /// Whether the engine knows an "nvidia" runtime (nvidia-container-toolkit installed).
    pub nvidia_runtime: bool,
}

/// A connected engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl Engine {
    /// Connects and negotiates the API version; a clear error when nothing answers.
    pub async fn connect() -> Result<Engine, EngineError> {
        let host = docker_host();
        let unreachable = |e: bollard::errors::Error| EngineError::Unreachable {
            host: host.clone(),
            detail: e.to_string(),
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| EngineError::Unreachable {
                host: host.clone(),
                detail: "no answer within 10 s".into(),
            })?
            .map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Engine { docker, host })
    }

    /// Where the engine was reached (DOCKER_HOST or the default socket).
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The same engine with a long timeout, for image imports and builds.
    pub fn long(&self) -> Docker {
        self.docker.clone().with_timeout(Duration::from_secs(3600))
    }

    pub async fn info(&self) -> Result<EngineInfo, EngineError> {
        let version = self.docker.version().await?;
        let info = self.docker.info().await?;
        let rootless = info
            .security_options
            .unwrap_or_default()
            .iter()
            .any(|o| o.contains("name=rootless"));
        Ok(EngineInfo {
            host: self.host.clone(),
            server_version: version.version.unwrap_or_default(),
            api_version: self.docker.client_version().to_string(),
            rootless,
            cpus: info.ncpu.unwrap_or(0),
            memory_bytes: info.mem_total.unwrap_or(0),
            nvidia_runtime: info
                .runtimes
                .map(|r| r.contains_key("nvidia"))
                .unwrap_or(false),
        })
    }

    /// The labels of the image `reference`, or None when the engine does not have it.
    pub async fn image_labels(
        &self,
        reference: &str,
    ) -> Result<Option<HashMap<String, String>>, EngineError> {
        match self.docker.inspect_image(reference).await {
            Ok(img) => Ok(Some(img.config.and_then(|c| c.labels).unwrap_or_default())),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pulls `reference` from its registry (where one is reachable).
    pub async fn pull(&self, reference: &str) -> Result<(), EngineError> {
        let options = bollard::query_parameters::CreateImageOptionsBuilder::default()
            .from_image(reference)
            .build();
        let long = self.long();
        let mut stream = long.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(EngineError::Other(e));
            }
        }
        Ok(())
    }

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
            | Err(EngineError::Docker(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                ..
            })) => Ok(()),
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

    /// Creates and starts a container; returns its id.
    pub async fn run(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&spec.name)
            .build();
        let created = self
            .docker
            .create_container(Some(options), spec.body())
            .await?;
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
    pub async fn last_lines(&self, id: &str, n: usize) -> Vec<String> {
        let mut lines: Vec<String> = self.logs(id, false, 0).map(|l| l.text).collect().await;
        let excess = lines.len().saturating_sub(n);
        lines.drain(..excess);
        lines
    }

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
    /// (re-attaching after a restart).
    pub fn logs(
        &self,
        id: &str,
        follow: bool,
        since: i64,
    ) -> impl Stream<Item = LogLine> + Send + 'static {
        let options = LogsOptionsBuilder::default()
            .follow(follow)
            .since(i32::try_from(since).unwrap_or(i32::MAX))
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail("all")
            .build();
        self.docker
            .logs(id, Some(options))
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| std::future::ready(r.ok()))
            .flat_map(|out| {
                let stderr = matches!(out, bollard::container::LogOutput::StdErr { .. });
                futures_util::stream::iter(LogLine::parse_chunk(&out.to_string(), stderr))
            })
    }

    /// Containers carrying `label=value`, stopped ones included: (id, name, labels).
    pub async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<(String, String, HashMap<String, String>)>, EngineError> {
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

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Milliseconds since the epoch, from the engine's timestamp (0 if it had none).
    pub timestamp_ms: i64,
    pub stderr: bool,
    pub text: String,
}

impl LogLine {
    /// A chunk of `docker logs --timestamps` output: one or more `<RFC3339Nano> <text>\n` lines.
    fn parse_chunk(chunk: &str, stderr: bool) -> Vec<LogLine> {
        chunk
            .split_terminator('\n')
            .map(|line| {
                let (ts, text) = match line.split_once(' ') {
                    Some((ts, text)) => match parse_rfc3339_ms(ts) {
                        Some(ms) => (ms, text),
                        None => (0, line),
                    },
                    None => match parse_rfc3339_ms(line) {
                        Some(ms) => (ms, ""),
                        None => (0, line),
                    },
                };
                LogLine {
                    timestamp_ms: ts,
                    stderr,
                    text: text.trim_end_matches('\r').to_string(),
                }
            })
            .collect()
    }
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A bind mount from the host into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: String,
    pub container: String,
    pub read_only: bool,
}

/// Everything a container of sagebox's is created with.
#[derive(Debug, Clone, Default)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Replaces the image's entry point when set.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    pub env: Vec<(String, String)>,
    pub binds: Vec<Bind>,
    pub labels: HashMap<String, String>,
    pub hostname: Option<String>,
    /// A network to join, with the aliases the container answers to there.
    pub network: Option<(String, Vec<String>)>,
    /// Container ports to publish on 127.0.0.1 with an ephemeral host port.
    pub publish: Vec<u16>,
    /// Map `host.docker.internal` to the host (Docker's host-gateway).
    pub host_gateway: bool,
    pub cpus: Option<u32>,
    pub memory_mib: Option<u64>,
    pub gpus: GpuGrant,
    pub shm_size_bytes: Option<i64>,
}

impl ContainerSpec {
    fn body(&self) -> ContainerCreateBody {
        let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = self
            .publish
            .iter()
            .map(|p| {
                (
                    format!("{p}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )
            })
            .collect();
        let host_config = HostConfig {
            binds: Some(
                self.binds
                    .iter()
                    .map(|b| {
                        format!(
                            "{}:{}{}",
                            b.host,
                            b.container,
                            if b.read_only { ":ro" } else { "" }
                        )
                    })
                    .collect(),
            ),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            extra_hosts: self
                .host_gateway
                .then(|| vec!["host.docker.internal:host-gateway".to_string()]),
            network_mode: self.network.as_ref().map(|(n, _)| n.clone()),
            nano_cpus: self.cpus.map(|c| i64::from(c) * 1_000_000_000),
            memory: self.memory_mib.map(|m| (m as i64).saturating_mul(1 << 20)),
            device_requests: self.gpus.device_request().map(|r| vec![r]),
            shm_size: self.shm_size_bytes,
            ..Default::default()
        };
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !self.gpus.devices.is_empty() {
            env.extend(self.gpus.env().into_iter().map(|(k, v)| format!("{k}={v}")));
        }
        ContainerCreateBody {
            image: Some(self.image.clone()),
            entrypoint: self.entrypoint.clone(),
            cmd: (!self.cmd.is_empty()).then(|| self.cmd.clone()),
            env: Some(env),
            labels: Some(self.labels.clone()),
            hostname: self.hostname.clone(),
            exposed_ports: (!self.publish.is_empty())
                .then(|| self.publish.iter().map(|p| format!("{p}/tcp")).collect()),
            host_config: Some(host_config),
            networking_config: self.network.as_ref().map(|(n, aliases)| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    n.clone(),
                    EndpointSettings {
                        aliases: Some(aliases.clone()),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::gpu::GpuDevice;

    #[test]
    fn spec_becomes_a_create_body() {
        let spec = ContainerSpec {
            name: "job-algo-1".into(),
            image: "sagebox/xgboost:latest".into(),
            cmd: vec!["train".into()],
            env: vec![("A".into(), "1".into())],
            binds: vec![Bind {
                host: "/data/x".into(),
                container: "/opt/ml/input/data/train".into(),
                read_only: true,
            }],
            hostname: Some("algo-1".into()),
            network: Some(("sagebox-job".into(), vec!["algo-1".into()])),
            publish: vec![8080],
            host_gateway: true,
            cpus: Some(2),
            memory_mib: Some(4096),
            gpus: GpuGrant {
                devices: vec![GpuDevice {
                    index: 0,
                    name: "g".into(),
                    uuid: "GPU-1".into(),
                    memory_total: 1,
                }],
            },
            ..Default::default()
        };
        let body = spec.body();
        let hc = body.host_config.expect("host config");
        assert_eq!(
            hc.binds,
            Some(vec!["/data/x:/opt/ml/input/data/train:ro".to_string()])
        );
        assert_eq!(hc.nano_cpus, Some(2_000_000_000));
        assert_eq!(hc.memory, Some(4096 << 20));
        assert_eq!(hc.network_mode.as_deref(), Some("sagebox-job"));
        assert_eq!(
            hc.extra_hosts,
            Some(vec!["host.docker.internal:host-gateway".to_string()])
        );
        let ports = hc.port_bindings.expect("ports");
        let b = &ports["8080/tcp"].as_ref().expect("binding")[0];
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(
            hc.device_requests.expect("gpus")[0].device_ids,
            Some(vec!["GPU-1".into()])
        );
        let env = body.env.expect("env");
        assert!(env.contains(&"SM_NUM_GPUS=1".to_string()));
        assert!(env.contains(&"NVIDIA_VISIBLE_DEVICES=GPU-1".to_string()));
        assert_eq!(body.exposed_ports, Some(vec!["8080/tcp".to_string()]));
    }

    #[test]
    fn log_chunks_split_into_timestamped_lines() {
        let lines = LogLine::parse_chunk(
            "2026-11-24T10:00:00.123456789Z hello\n2026-11-24T10:00:01Z world\r\n",
            true,
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text, "hello");
        assert_eq!(lines[0].timestamp_ms, 1_795_514_400_123);
        assert_eq!(lines[1].text, "world");
        assert!(lines[1].stderr);
        let plain = LogLine::parse_chunk("no timestamp here\n", false);
        assert_eq!(plain[0].timestamp_ms, 0);
        assert_eq!(plain[0].text, "no timestamp here");
    }
}

//! A `ContainerSpec` as Docker's create body: binds, published ports, host-gateway, limits, GPUs.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, HostConfigLogConfig, NetworkingConfig,
    PortBinding,
};

use crate::runtime::engine::{Bind, ContainerSpec};

/// Every container logs to Docker's json-file driver, which sagebox follows, with room for a
/// fast writer: sagebox reads a container's output at about 100,000 lines/s through Docker's
/// log API, and a driver rotating at the common daemon setting (10 MB) deletes a file the reader
/// has not finished, after which Docker ends the follow and the rest of the output is lost (seen
/// with a job printing 1,000,000 lines in 3 s: a third of them arrived). What a container
/// prints is stored in sagebox's own log store anyway; the file goes with the container.
fn log_config() -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), "1g".to_string()),
            ("max-file".to_string(), "2".to_string()),
        ])),
    }
}

/// Binds in Docker's `HOST:CONTAINER[:ro]` form.
pub(super) fn bind_strings(binds: &[Bind]) -> Vec<String> {
    binds
        .iter()
        .map(|b| {
            format!(
                "{}:{}{}",
                b.host,
                b.container,
                if b.read_only { ":ro" } else { "" }
            )
        })
        .collect()
}

pub(super) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let port_bindings: HashMap<String, Option<Vec<PortBinding>>> = spec
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
        binds: Some(bind_strings(&spec.binds)),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        extra_hosts: spec
            .host_gateway
            .then(|| vec!["host.docker.internal:host-gateway".to_string()]),
        network_mode: spec.network.as_ref().map(|(n, _)| n.clone()),
        nano_cpus: spec.cpus.map(|c| i64::from(c) * 1_000_000_000),
        memory: spec.memory_mib.map(|m| (m as i64).saturating_mul(1 << 20)),
        device_requests: spec.gpus.device_request().map(|r| vec![r]),
        shm_size: spec.shm_size_bytes,
        log_config: Some(log_config()),
        ..Default::default()
    };
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if !spec.gpus.devices.is_empty() {
        env.extend(spec.gpus.env().into_iter().map(|(k, v)| format!("{k}={v}")));
    }
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        env: Some(env),
        labels: Some(spec.labels.clone()),
        hostname: spec.hostname.clone(),
        exposed_ports: (!spec.publish.is_empty())
            .then(|| spec.publish.iter().map(|p| format!("{p}/tcp")).collect()),
        host_config: Some(host_config),
        networking_config: spec.network.as_ref().map(|(n, aliases)| NetworkingConfig {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::Bind;
    use crate::runtime::gpu::{GpuDevice, GpuGrant};

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
        let body = create_body(&spec);
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
}

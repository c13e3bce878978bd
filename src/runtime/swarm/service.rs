//! A `ContainerSpec` as a Docker Swarm service: one replica that runs once (a job's instance,
//! an endpoint's instance), on the attachable overlay network its job or endpoint has, with the
//! in-task agent in front of the image's own entry point carrying the binds' content.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, EndpointSpecModeEnum, GenericResourcesInner,
    GenericResourcesInnerDiscreteResourceSpec, Limit, NetworkAttachmentConfig, ResourceObject,
    ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec, TaskSpecContainerSpec,
    TaskSpecLogDriver, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use crate::agent::plan::{PLAN_ENV, Plan};
use crate::runtime::engine::ContainerSpec;

/// Where the agent sits in every image the swarm engine pushes, and the words that run it in
/// front of the image's own entry point.
pub const AGENT_PATH: &str = "/opt/sagebox/agent";

pub fn agent_prefix() -> Vec<String> {
    vec![
        AGENT_PATH.to_string(),
        "agent".to_string(),
        "exec".to_string(),
        "--".to_string(),
    ]
}

/// The generic resource nodes advertise their GPUs as (`node-generic-resources` in the node's
/// daemon.json: `["NVIDIA-GPU=GPU-<uuid>", …]`), the name NVIDIA's documentation uses.
pub const GPU_RESOURCE: &str = "NVIDIA-GPU";

/// The variable that names the node an instance runs on.
pub const NODE_ENV: &str = "SAGEBOX_NODE";

/// How long a task has between SIGTERM and SIGKILL when nothing asks otherwise: the agent
/// forwards the SIGTERM and returns the writable binds once the program has exited.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// The least a task with a synced bind (a notebook's home) gets, whatever its stop asks: the
/// agent returns that bind after the program exits, and a large home takes a while. A program
/// that exits at once costs nothing more.
pub const SYNCED_STOP_GRACE: Duration = Duration::from_secs(60);

/// The grace a stop that asks for `requested` gets: at least `SYNCED_STOP_GRACE` with a synced
/// bind.
pub fn stop_grace(requested: Duration, synced: bool) -> Duration {
    if synced {
        requested.max(SYNCED_STOP_GRACE)
    } else {
        requested
    }
}

/// Whether the spec has a writable bind whose content must reach sagebox while it runs.
pub fn has_synced_bind(spec: &ContainerSpec) -> bool {
    spec.binds
        .iter()
        .any(|b| !b.read_only && spec.sync_while_running.contains(&b.container))
}

/// Whether a service's task carries an agent plan with a synced bind (what `has_synced_bind`
/// said of its spec, read back from the service: a stop after a restart of sagebox knows it).
pub fn task_has_synced_bind(task: &TaskSpec) -> bool {
    let prefix = format!("{PLAN_ENV}=");
    task.container_spec
        .as_ref()
        .and_then(|c| c.env.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|var| var.strip_prefix(&prefix))
        .filter_map(|json| serde_json::from_str::<Plan>(json).ok())
        .any(|plan| plan.binds.iter().any(|b| b.sync))
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Sets a task template's stop grace to `requested`, raised for a synced bind; the grace set.
pub fn set_stop_grace(task: &mut TaskSpec, requested: Duration) -> Duration {
    let grace = stop_grace(requested, task_has_synced_bind(task));
    if let Some(c) = task.container_spec.as_mut() {
        c.stop_grace_period = Some(nanos(grace));
    }
    grace
}

/// What the service spec needs beside the container spec.
pub struct Placement<'a> {
    /// The address every node reaches sagebox at (host.docker.internal in the task).
    pub sagebox: IpAddr,
    /// The agent's plan, as the value of its environment variable, when there are binds.
    pub plan: Option<(&'a str, String)>,
    /// GPUs the instance type has (a generic-resource reservation), 0 for none.
    pub gpus: u32,
    /// The words that start the agent (its loader first, when it brings one).
    pub agent: Vec<String>,
}

/// Service names are DNS labels (63 characters at most); a longer container name keeps its
/// start and gets a hash of the whole, so two long names stay apart.
pub fn service_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 63 {
        return clean;
    }
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    format!("{}-{}", clean[..50].trim_end_matches('-'), &hash[..12])
}

pub fn service_spec(spec: &ContainerSpec, placement: &Placement) -> ServiceSpec {
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if let Some((name, value)) = &placement.plan {
        env.push(format!("{name}={value}"));
    }
    // the swarm fills the template in: an algorithm (and its log) can say where it runs
    env.push(format!("{NODE_ENV}={{{{.Node.Hostname}}}}"));
    if placement.gpus > 0 {
        // which GPUs the node gave the task is in DOCKER_RESOURCE_NVIDIA-GPU, set by the node
        env.push(format!("SM_NUM_GPUS={}", placement.gpus));
    }
    // the agent goes in front of a replaced entry point too; with the image's own, it is in the
    // image's entry point already (laid over it when the image was pushed)
    let command = spec
        .entrypoint
        .as_ref()
        .map(|e| placement.agent.iter().chain(e).cloned().collect());
    let container = TaskSpecContainerSpec {
        image: Some(spec.image.clone()),
        labels: Some(spec.labels.clone()),
        command,
        args: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
        hostname: spec.hostname.clone(),
        env: Some(env),
        hosts: Some(vec![format!("{} host.docker.internal", placement.sagebox)]),
        // the agent forwards SIGTERM to the algorithm and uploads what it wrote before exiting
        stop_grace_period: Some(nanos(stop_grace(STOP_GRACE, has_synced_bind(spec)))),
        // an init as PID 1 reaps what the algorithm leaves behind (the agent is its parent only)
        init: Some(true),
        ..Default::default()
    };
    let reservations = (placement.gpus > 0).then(|| ResourceObject {
        generic_resources: Some(vec![GenericResourcesInner {
            discrete_resource_spec: Some(GenericResourcesInnerDiscreteResourceSpec {
                kind: Some(GPU_RESOURCE.to_string()),
                value: Some(i64::from(placement.gpus)),
            }),
            named_resource_spec: None,
        }]),
        ..Default::default()
    });
    let task = TaskSpec {
        container_spec: Some(container),
        resources: Some(TaskSpecResources {
            limits: Some(Limit {
                nano_cpus: spec.cpus.map(|c| i64::from(c) * 1_000_000_000),
                memory_bytes: spec.memory_mib.map(|m| (m as i64).saturating_mul(1 << 20)),
                ..Default::default()
            }),
            reservations,
            ..Default::default()
        }),
        // an instance runs once: sagebox decides what a failure means (a job fails, an
        // endpoint's monitor starts the instance again)
        restart_policy: Some(TaskSpecRestartPolicy {
            condition: Some(TaskSpecRestartPolicyConditionEnum::NONE),
            ..Default::default()
        }),
        networks: spec.network.as_ref().map(|(name, aliases)| {
            vec![NetworkAttachmentConfig {
                target: Some(name.clone()),
                aliases: Some(aliases.clone()),
                ..Default::default()
            }]
        }),
        log_driver: Some(TaskSpecLogDriver {
            name: Some("json-file".into()),
            options: Some(HashMap::from([
                ("max-size".to_string(), "1g".to_string()),
                ("max-file".to_string(), "2".to_string()),
            ])),
        }),
        ..Default::default()
    };
    let ports: Vec<EndpointPortConfig> = spec
        .publish
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(EndpointPortConfigProtocolEnum::TCP),
            target_port: Some(i64::from(*p)),
            // on the node the task runs on, a port the node picks: sagebox reaches each
            // instance itself (no routing mesh in between)
            publish_mode: Some(EndpointPortConfigPublishModeEnum::HOST),
            ..Default::default()
        })
        .collect();
    ServiceSpec {
        name: Some(service_name(&spec.name)),
        labels: Some(spec.labels.clone()),
        task_template: Some(task),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        // names resolve to the task's own address, as an instance's host name does on
        // SageMaker (a virtual IP in front would hide which instance answered)
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ports: (!ports.is_empty()).then_some(ports),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::Bind;

    fn training_spec() -> ContainerSpec {
        ContainerSpec {
            name: "sagebox-train-job-1-abc-algo-2".into(),
            image: "10.1.2.2:5000/sagebox/linear-learner:1-agent-0123".into(),
            cmd: vec!["train".into()],
            env: vec![("AWS_REGION".into(), "us-east-1".into())],
            binds: vec![Bind {
                host: "/data/jobs/x/model".into(),
                container: "/opt/ml/model".into(),
                read_only: false,
            }],
            labels: HashMap::from([("sagebox.owner".to_string(), "o1".to_string())]),
            hostname: Some("algo-2".into()),
            network: Some(("sagebox-train-job-1-abc".into(), vec!["algo-2".into()])),
            host_gateway: true,
            cpus: Some(2),
            memory_mib: Some(1024),
            ..Default::default()
        }
    }

    #[test]
    fn an_instance_becomes_one_replica_that_runs_once_on_its_overlay() {
        let placement = Placement {
            sagebox: "10.1.2.1".parse().expect("ip"),
            plan: Some(("SAGEBOX_AGENT_PLAN", "{}".into())),
            gpus: 0,
            agent: agent_prefix(),
        };
        let s = service_spec(&training_spec(), &placement);
        assert_eq!(s.name.as_deref(), Some("sagebox-train-job-1-abc-algo-2"));
        assert_eq!(
            s.mode.and_then(|m| m.replicated).and_then(|r| r.replicas),
            Some(1)
        );
        let task = s.task_template.expect("task");
        assert_eq!(
            task.restart_policy.and_then(|r| r.condition),
            Some(TaskSpecRestartPolicyConditionEnum::NONE)
        );
        let c = task.container_spec.expect("container");
        assert_eq!(c.hostname.as_deref(), Some("algo-2"));
        assert_eq!(
            c.command, None,
            "the image's own entry point (agent laid over it)"
        );
        assert_eq!(c.args, Some(vec!["train".to_string()]));
        assert_eq!(
            c.hosts,
            Some(vec!["10.1.2.1 host.docker.internal".to_string()])
        );
        let env = c.env.expect("env");
        assert!(env.contains(&"AWS_REGION=us-east-1".to_string()));
        assert!(env.contains(&"SAGEBOX_AGENT_PLAN={}".to_string()));
        assert!(env.contains(&"SAGEBOX_NODE={{.Node.Hostname}}".to_string()));
        assert_eq!(c.mounts, None, "no host path reaches another node");
        let [net] = task.networks.expect("networks").try_into().expect("one");
        assert_eq!(net.target.as_deref(), Some("sagebox-train-job-1-abc"));
        assert_eq!(net.aliases, Some(vec!["algo-2".to_string()]));
        let limits = task.resources.expect("resources").limits.expect("limits");
        assert_eq!(limits.nano_cpus, Some(2_000_000_000));
        assert_eq!(limits.memory_bytes, Some(1 << 30));
        let endpoint = s.endpoint_spec.expect("endpoint spec");
        assert_eq!(endpoint.mode, Some(EndpointSpecModeEnum::DNSRR));
        assert_eq!(endpoint.ports, None);
    }

    #[test]
    fn a_replaced_entry_point_gets_the_agent_in_front_and_ports_publish_on_the_node() {
        let mut spec = training_spec();
        spec.entrypoint = Some(vec!["python".into(), "serve.py".into()]);
        spec.cmd.clear();
        spec.publish = vec![8080];
        let placement = Placement {
            sagebox: "10.1.2.1".parse().expect("ip"),
            plan: None,
            gpus: 2,
            agent: agent_prefix(),
        };
        let s = service_spec(&spec, &placement);
        let task = s.task_template.expect("task");
        let c = task.container_spec.expect("container");
        assert_eq!(
            c.command,
            Some(
                [
                    "/opt/sagebox/agent",
                    "agent",
                    "exec",
                    "--",
                    "python",
                    "serve.py"
                ]
                .map(String::from)
                .to_vec()
            )
        );
        assert_eq!(c.args, None);
        let gpu = &task
            .resources
            .expect("r")
            .reservations
            .expect("res")
            .generic_resources
            .expect("generic")[0];
        let discrete = gpu.discrete_resource_spec.as_ref().expect("discrete");
        assert_eq!(discrete.kind.as_deref(), Some("NVIDIA-GPU"));
        assert_eq!(discrete.value, Some(2));
        let [port] = s
            .endpoint_spec
            .expect("ports")
            .ports
            .expect("p")
            .try_into()
            .expect("one");
        assert_eq!(port.target_port, Some(8080));
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(port.published_port, None);
    }

    #[test]
    fn a_synced_bind_gets_at_least_a_minute_to_come_back_on_a_stop() {
        // the rule: a stop's grace, raised to a minute for a synced bind only
        let five = Duration::from_secs(5);
        assert_eq!(stop_grace(five, false), five);
        assert_eq!(stop_grace(five, true), SYNCED_STOP_GRACE);
        assert_eq!(
            stop_grace(Duration::from_secs(120), true),
            Duration::from_secs(120)
        );

        let mut home = training_spec();
        home.binds[0].container = "/home/ec2-user/SageMaker".into();
        home.sync_while_running = vec!["/home/ec2-user/SageMaker".into()];
        assert!(has_synced_bind(&home));
        assert!(!has_synced_bind(&training_spec()));
        let mut read_only = home.clone();
        read_only.binds[0].read_only = true;
        assert!(
            !has_synced_bind(&read_only),
            "a read-only bind is never returned"
        );

        // the service's own grace, and a stop's, read from the plan the task carries
        let placement = |spec: &ContainerSpec| Placement {
            sagebox: "10.1.2.1".parse().expect("ip"),
            plan: Some((
                PLAN_ENV,
                serde_json::to_string(&crate::agent::plan_for(spec, "http://x:1", b"k"))
                    .expect("json"),
            )),
            gpus: 0,
            agent: agent_prefix(),
        };
        for (spec, synced) in [(home, true), (training_spec(), false)] {
            let mut task = service_spec(&spec, &placement(&spec))
                .task_template
                .expect("task");
            let grace = |t: &TaskSpec| {
                t.container_spec
                    .as_ref()
                    .and_then(|c| c.stop_grace_period)
                    .expect("grace")
            };
            assert_eq!(task_has_synced_bind(&task), synced);
            let (initial, stop): (i64, u64) = if synced { (60, 60) } else { (30, 5) };
            assert_eq!(grace(&task), initial * 1_000_000_000);
            let set = set_stop_grace(&mut task, five);
            assert_eq!(set, Duration::from_secs(stop));
            assert_eq!(
                grace(&task),
                i64::try_from(stop).expect("s") * 1_000_000_000
            );
        }
    }

    #[test]
    fn long_names_become_dns_labels_that_stay_apart() {
        let a = service_name(&format!("{}-algo-1", "j".repeat(70)));
        let b = service_name(&format!("{}-algo-2", "j".repeat(70)));
        assert!(a.len() <= 63 && b.len() <= 63, "{a} {b}");
        assert_ne!(a, b);
        assert_eq!(service_name("a_b.c"), "a-b-c");
    }
}

//! A service's one task as the swarm reports it: its state, exit code, node and published port.
//! The swarm engine's "container" is a service; whether it runs, how it ended and where it
//! answers are read from the newest task of that service.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{Task, TaskState};

use crate::runtime::engine::EngineError;

/// What the newest task of a service says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Scheduled, pulling its image or starting.
    Pending,
    Running,
    /// Ended with an exit code.
    Exited(i64),
    /// Ended without running to an exit: the reason, naming the node where there is one.
    Lost(String),
    /// Its node stopped answering (engine or machine lost): the reason, naming the node.
    NodeLost(String),
}

impl Progress {
    pub fn ended(&self) -> bool {
        matches!(
            self,
            Progress::Exited(_) | Progress::Lost(_) | Progress::NodeLost(_)
        )
    }
}

/// The tasks of `service`, the one the swarm wants running first (a task replaced after its
/// node was lost keeps its last reported state, "running", until the node returns), then the
/// most recently changed.
pub async fn tasks_of(docker: &Docker, service: &str) -> Result<Vec<Task>, EngineError> {
    let options = bollard::query_parameters::ListTasksOptionsBuilder::default()
        .filters(&HashMap::from([("service", vec![service])]))
        .build();
    let mut tasks = docker.list_tasks(Some(options)).await?;
    tasks.sort_by_key(|t| {
        (
            t.desired_state != Some(TaskState::RUNNING),
            std::cmp::Reverse(t.version.as_ref().and_then(|v| v.index).unwrap_or(0)),
        )
    });
    Ok(tasks)
}

/// Where the service stands; None when the service is gone. `node_down(id)` says whether the
/// swarm has marked a node down (its engine stopped answering).
pub async fn progress(docker: &Docker, service: &str) -> Result<Option<Progress>, EngineError> {
    match docker.inspect_service(service, None).await {
        Ok(_) => {}
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let tasks = tasks_of(docker, service).await?;
    let Some(task) = tasks.first() else {
        return Ok(Some(Progress::Pending));
    };
    let state = task.status.as_ref().and_then(|s| s.state);
    let node = match &task.node_id {
        Some(id) if !id.is_empty() => Some(node_facts(docker, id).await),
        _ => None,
    };
    Ok(Some(judge(task, state, node.as_ref())))
}

/// A node's name and whether the swarm still counts it as ready.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub hostname: String,
    pub addr: Option<String>,
    pub down: bool,
}

pub async fn node_facts(docker: &Docker, id: &str) -> NodeFacts {
    match docker.inspect_node(id).await {
        Ok(node) => NodeFacts {
            hostname: node
                .description
                .and_then(|d| d.hostname)
                .unwrap_or_else(|| id.to_string()),
            addr: node.status.as_ref().and_then(|s| s.addr.clone()),
            down: node
                .status
                .and_then(|s| s.state)
                .is_some_and(|s| s == bollard::models::NodeState::DOWN),
        },
        Err(_) => NodeFacts {
            hostname: id.to_string(),
            addr: None,
            down: true,
        },
    }
}

fn judge(task: &Task, state: Option<TaskState>, node: Option<&NodeFacts>) -> Progress {
    let status = task.status.as_ref();
    let exit = status
        .and_then(|s| s.container_status.as_ref())
        .and_then(|c| c.exit_code);
    let message = status
        .and_then(|s| s.err.clone().or_else(|| s.message.clone()))
        .unwrap_or_default();
    let on = |n: Option<&NodeFacts>| {
        n.map(|n| format!(" on node {}", n.hostname))
            .unwrap_or_default()
    };
    match state {
        Some(TaskState::RUNNING) => match node {
            // the swarm keeps a lost node's task "running" until the node comes back
            Some(n) if n.down => Progress::NodeLost(format!(
                "the node {} running it stopped answering (its engine or machine was lost)",
                n.hostname
            )),
            _ => Progress::Running,
        },
        Some(TaskState::COMPLETE) => Progress::Exited(exit.unwrap_or(0)),
        Some(TaskState::FAILED) | Some(TaskState::SHUTDOWN) => match exit {
            Some(code) => Progress::Exited(code),
            None => Progress::Lost(format!("the task failed{}: {message}", on(node))),
        },
        Some(TaskState::REJECTED) => Progress::Lost(format!(
            "the task was rejected{}: {message} (can every node pull the image from the registry? `docker -H <node> pull <image>` shows why not)",
            on(node)
        )),
        Some(TaskState::ORPHANED) | Some(TaskState::REMOVE) => {
            Progress::Lost(format!("the task was lost{}: {message}", on(node)))
        }
        _ => match node {
            Some(n) if n.down => Progress::NodeLost(format!(
                "the node {} it was placed on stopped answering",
                n.hostname
            )),
            _ => Progress::Pending,
        },
    }
}

/// The node address and port `target` is published on by the service's running task.
pub async fn published(
    docker: &Docker,
    service: &str,
    target: u16,
) -> Result<Option<std::net::SocketAddr>, EngineError> {
    let tasks = tasks_of(docker, service).await?;
    let Some(task) = tasks.iter().find(|t| {
        t.desired_state == Some(TaskState::RUNNING)
            && t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING)
    }) else {
        return Ok(None);
    };
    let port = task
        .status
        .as_ref()
        .and_then(|s| s.port_status.as_ref())
        .and_then(|p| p.ports.as_ref())
        .and_then(|ports| {
            ports
                .iter()
                .find(|p| p.target_port == Some(i64::from(target)))
                .and_then(|p| p.published_port)
        });
    let (Some(port), Some(node)) = (port, task.node_id.as_deref()) else {
        return Ok(None);
    };
    let facts = node_facts(docker, node).await;
    let Some(addr) = facts.addr else {
        return Ok(None);
    };
    let ip: std::net::IpAddr = match addr.parse() {
        Ok(ip) => ip,
        Err(_) => return Ok(None),
    };
    Ok(u16::try_from(port)
        .ok()
        .map(|p| std::net::SocketAddr::new(ip, p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerStatus, TaskStatus};

    fn task(state: TaskState, exit: Option<i64>, err: Option<&str>) -> Task {
        Task {
            status: Some(TaskStatus {
                state: Some(state),
                err: err.map(String::from),
                container_status: Some(ContainerStatus {
                    exit_code: exit,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn node(down: bool) -> NodeFacts {
        NodeFacts {
            hostname: "node2".into(),
            addr: Some("10.1.2.12".into()),
            down,
        }
    }

    #[test]
    fn a_task_that_ran_to_the_end_gives_its_exit_code() {
        let t = task(TaskState::COMPLETE, Some(0), None);
        assert_eq!(
            judge(&t, Some(TaskState::COMPLETE), Some(&node(false))),
            Progress::Exited(0)
        );
        let t = task(TaskState::FAILED, Some(3), Some("task: non-zero exit (3)"));
        assert_eq!(
            judge(&t, Some(TaskState::FAILED), Some(&node(false))),
            Progress::Exited(3)
        );
    }

    #[test]
    fn a_running_task_on_a_node_marked_down_is_lost_naming_the_node() {
        let t = task(TaskState::RUNNING, None, None);
        assert_eq!(
            judge(&t, Some(TaskState::RUNNING), Some(&node(false))),
            Progress::Running
        );
        match judge(&t, Some(TaskState::RUNNING), Some(&node(true))) {
            Progress::NodeLost(why) => assert!(why.contains("node2"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rejected_task_says_what_to_check() {
        let t = task(
            TaskState::REJECTED,
            None,
            Some("No such image: 10.1.2.2:5000/x:1"),
        );
        match judge(&t, Some(TaskState::REJECTED), Some(&node(false))) {
            Progress::Lost(why) => {
                assert!(
                    why.contains("No such image") && why.contains("registry"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(&t, Some(TaskState::PREPARING), None),
            Progress::Pending
        );
    }
}

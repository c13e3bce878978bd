//! NVIDIA GPUs: detection through NVML (libnvidia-ml is opened at run time, so the binary starts
//! on hosts without the driver), a pool that hands devices to jobs so concurrent jobs don't share
//! one, and the Docker device request and environment for the devices a container gets.

use std::collections::HashMap;

use bollard::models::DeviceRequest;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: String,
    pub uuid: String,
    /// Total memory in bytes (0 when the driver would not say).
    pub memory_total: u64,
}

/// What NVML found, or why there is nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct GpuReport {
    pub devices: Vec<GpuDevice>,
    pub driver_version: Option<String>,
    pub cuda_version: Option<String>,
    /// Why no GPU is usable, when none is.
    pub unavailable_reason: Option<String>,
}

/// The GPUs of a swarm's nodes ((hostname, count) each) as one report: a device per GPU, named
/// by its node, or why there is none.
pub fn swarm_report(nodes: &[(String, u32)]) -> GpuReport {
    let devices: Vec<GpuDevice> = nodes
        .iter()
        .flat_map(|(host, n)| (0..*n).map(move |i| (host.clone(), i)))
        .enumerate()
        .map(|(index, (host, i))| GpuDevice {
            index: index as u32,
            name: format!("GPU {i} of swarm node {host}"),
            uuid: format!("swarm-{host}-{i}"),
            memory_total: 0,
        })
        .collect();
    let unavailable_reason = devices.is_empty().then(|| {
        "no node of the swarm advertises GPUs (`node-generic-resources` with NVIDIA-GPU in its daemon.json)".to_string()
    });
    GpuReport {
        devices,
        driver_version: None,
        cuda_version: None,
        unavailable_reason,
    }
}

/// Asks NVML. Every failure means "no GPUs", with the reason kept for `doctor` and job errors.
pub fn detect() -> GpuReport {
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            return GpuReport {
                unavailable_reason: Some(format!(
                    "NVML is not available ({e}); install the NVIDIA driver to use GPU instance types"
                )),
                ..Default::default()
            };
        }
    };
    let driver_version = nvml.sys_driver_version().ok();
    let cuda_version = nvml.sys_cuda_driver_version().ok().map(|v| {
        format!(
            "{}.{}",
            nvml_wrapper::cuda_driver_version_major(v),
            nvml_wrapper::cuda_driver_version_minor(v)
        )
    });
    let count = match nvml.device_count() {
        Ok(n) => n,
        Err(e) => {
            return GpuReport {
                driver_version,
                cuda_version,
                unavailable_reason: Some(format!("NVML could not count devices: {e}")),
                ..Default::default()
            };
        }
    };
    let mut devices = Vec::new();
    for i in 0..count {
        // Fields fail one by one on old drivers (missing symbols); keep what answers.
        let Ok(d) = nvml.device_by_index(i) else {
            continue;
        };
        let Ok(uuid) = d.uuid() else { continue };
        devices.push(GpuDevice {
            index: d.index().unwrap_or(i),
            name: d.name().unwrap_or_else(|_| "NVIDIA GPU".into()),
            uuid,
            memory_total: d.memory_info().map(|m| m.total).unwrap_or(0),
        });
    }
    let unavailable_reason = devices
        .is_empty()
        .then(|| "the NVIDIA driver is loaded but reports no GPU".to_string());
    GpuReport {
        devices,
        driver_version,
        cuda_version,
        unavailable_reason,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    #[error(
        "{wanted} GPU(s) requested by instance type {instance_type}, but this host has no usable GPU: {reason}. Use a CPU instance type, or start sagebox with --gpu-fallback cpu to run GPU jobs on CPU"
    )]
    NoGpus {
        wanted: u32,
        instance_type: String,
        reason: String,
    },
    #[error(
        "{wanted} GPU(s) requested by instance type {instance_type}, but this host has {have}. Use an instance type with at most {have} GPU(s)"
    )]
    TooFew {
        wanted: u32,
        have: u32,
        instance_type: String,
    },
    #[error(
        "{wanted} GPU(s) requested but only {free} of {have} are free (others are in use by {busy}); wait for those to finish, or start sagebox with --gpu-sharing"
    )]
    Busy {
        wanted: u32,
        free: u32,
        have: u32,
        busy: String,
    },
}

/// Hands GPUs to owners (a job's or endpoint's ARN) so that two never share one, unless sharing.
#[derive(Debug)]
pub struct GpuPool {
    report: GpuReport,
    sharing: bool,
    /// The GPUs are a swarm's nodes': the pool only counts, and the swarm engine decides
    /// whether a node can hold an instance (naming the nodes when none can).
    swarm: bool,
    /// device uuid → owner
    in_use: HashMap<String, String>,
}

/// The GPUs one container gets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GpuGrant {
    pub devices: Vec<GpuDevice>,
}

impl GpuGrant {
    /// The Docker device request for exactly these devices (driver nvidia, capability gpu).
    pub fn device_request(&self) -> Option<DeviceRequest> {
        if self.devices.is_empty() {
            return None;
        }
        Some(DeviceRequest {
            driver: Some("nvidia".into()),
            device_ids: Some(self.devices.iter().map(|d| d.uuid.clone()).collect()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            ..Default::default()
        })
    }

    /// SM_NUM_GPUS, NVIDIA_VISIBLE_DEVICES and NVIDIA_DRIVER_CAPABILITIES, matching the device request.
    pub fn env(&self) -> Vec<(String, String)> {
        let visible = if self.devices.is_empty() {
            "void".to_string()
        } else {
            self.devices
                .iter()
                .map(|d| d.uuid.as_str())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut env = vec![
            ("SM_NUM_GPUS".into(), self.devices.len().to_string()),
            ("NVIDIA_VISIBLE_DEVICES".into(), visible),
        ];
        // The NVIDIA runtime mounts only the "utility" driver libraries (nvidia-smi, NVML) for an
        // image that asks for nothing; CUDA needs "compute" (libcuda), as NVIDIA's images declare.
        if !self.devices.is_empty() {
            env.push((
                "NVIDIA_DRIVER_CAPABILITIES".into(),
                "compute,utility".into(),
            ));
        }
        env
    }
}

impl GpuPool {
    /// The pool of a swarm's GPUs (`swarm_report`): a grant is as many placeholders as asked.
    pub fn for_swarm(report: GpuReport) -> GpuPool {
        GpuPool {
            swarm: true,
            ..GpuPool::new(report, true)
        }
    }

    pub fn new(report: GpuReport, sharing: bool) -> GpuPool {
        GpuPool {
            report,
            sharing,
            swarm: false,
            in_use: HashMap::new(),
        }
    }

    pub fn report(&self) -> &GpuReport {
        &self.report
    }

    /// Which owner holds each device (for the console and doctor).
    pub fn holders(&self) -> &HashMap<String, String> {
        &self.in_use
    }

    /// `wanted` devices for `owner`, lowest index first among the free ones.
    pub fn allocate(
        &mut self,
        owner: &str,
        instance_type: &str,
        wanted: u32,
    ) -> Result<GpuGrant, GpuError> {
        if wanted == 0 {
            return Ok(GpuGrant::default());
        }
        if self.swarm {
            let devices = (0..wanted)
                .map(|i| GpuDevice {
                    index: i,
                    name: "a GPU of a swarm node".into(),
                    uuid: format!("swarm-gpu-{i}"),
                    memory_total: 0,
                })
                .collect();
            return Ok(GpuGrant { devices });
        }
        let have = self.report.devices.len() as u32;
        if have == 0 {
            return Err(GpuError::NoGpus {
                wanted,
                instance_type: instance_type.into(),
                reason: self
                    .report
                    .unavailable_reason
                    .clone()
                    .unwrap_or_else(|| "no GPU found".into()),
            });
        }
        if wanted > have {
            return Err(GpuError::TooFew {
                wanted,
                have,
                instance_type: instance_type.into(),
            });
        }
        let candidates: Vec<&GpuDevice> = if self.sharing {
            self.report.devices.iter().collect()
        } else {
            self.report
                .devices
                .iter()
                .filter(|d| !self.in_use.contains_key(&d.uuid))
                .collect()
        };
        if (candidates.len() as u32) < wanted {
            let mut busy: Vec<&str> = self.in_use.values().map(String::as_str).collect();
            busy.sort();
            busy.dedup();
            return Err(GpuError::Busy {
                wanted,
                free: candidates.len() as u32,
                have,
                busy: busy.join(", "),
            });
        }
        let devices: Vec<GpuDevice> = candidates
            .into_iter()
            .take(wanted as usize)
            .cloned()
            .collect();
        for d in &devices {
            self.in_use.insert(d.uuid.clone(), owner.to_string());
        }
        Ok(GpuGrant { devices })
    }

    /// Gives back every device `owner` holds.
    pub fn release(&mut self, owner: &str) {
        self.in_use.retain(|_, o| o != owner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swarms_gpus_are_one_pool_named_by_node_or_a_reason() {
        let report = swarm_report(&[("node1".into(), 0), ("node3".into(), 2)]);
        let names: Vec<&str> = report.devices.iter().map(|d| d.uuid.as_str()).collect();
        assert_eq!(names, ["swarm-node3-0", "swarm-node3-1"]);
        assert_eq!(report.unavailable_reason, None);
        // the swarm engine decides per instance; the pool only counts
        let grant = GpuPool::for_swarm(report)
            .allocate("job", "ml.p3.8xlarge", 4)
            .expect("counted");
        assert_eq!(grant.devices.len(), 4);
        let none = swarm_report(&[("node1".into(), 0)]);
        assert!(none.devices.is_empty());
        assert!(
            none.unavailable_reason
                .expect("reason")
                .contains("node-generic-resources")
        );
    }

    fn report(n: u32) -> GpuReport {
        GpuReport {
            devices: (0..n)
                .map(|i| GpuDevice {
                    index: i,
                    name: "NVIDIA H100".into(),
                    uuid: format!("GPU-{i}"),
                    memory_total: 80 << 30,
                })
                .collect(),
            driver_version: Some("550.54.15".into()),
            cuda_version: Some("12.4".into()),
            unavailable_reason: None,
        }
    }

    #[test]
    fn device_request_names_the_granted_devices() {
        let mut pool = GpuPool::new(report(4), false);
        let g = pool.allocate("job-a", "ml.p3.8xlarge", 2).expect("grant");
        let req = g.device_request().expect("request");
        assert_eq!(req.driver.as_deref(), Some("nvidia"));
        assert_eq!(req.device_ids, Some(vec!["GPU-0".into(), "GPU-1".into()]));
        assert_eq!(req.capabilities, Some(vec![vec!["gpu".to_string()]]));
        assert_eq!(req.count, None);
        assert_eq!(
            g.env(),
            vec![
                ("SM_NUM_GPUS".to_string(), "2".to_string()),
                (
                    "NVIDIA_VISIBLE_DEVICES".to_string(),
                    "GPU-0,GPU-1".to_string()
                ),
                (
                    "NVIDIA_DRIVER_CAPABILITIES".to_string(),
                    "compute,utility".to_string()
                )
            ]
        );
    }

    #[test]
    fn concurrent_jobs_get_distinct_devices_until_released() {
        let mut pool = GpuPool::new(report(2), false);
        let a = pool.allocate("job-a", "ml.g5.xlarge", 1).expect("a");
        let b = pool.allocate("job-b", "ml.g5.xlarge", 1).expect("b");
        assert_ne!(a.devices[0].uuid, b.devices[0].uuid);
        let err = pool.allocate("job-c", "ml.g5.xlarge", 1).expect_err("busy");
        assert!(matches!(
            err,
            GpuError::Busy {
                free: 0,
                have: 2,
                ..
            }
        ));
        assert!(err.to_string().contains("job-a, job-b"), "{err}");
        pool.release("job-a");
        let c = pool.allocate("job-c", "ml.g5.xlarge", 1).expect("c");
        assert_eq!(c.devices[0].uuid, a.devices[0].uuid);
    }

    #[test]
    fn sharing_lets_jobs_reuse_busy_devices() {
        let mut pool = GpuPool::new(report(1), true);
        pool.allocate("a", "ml.g5.xlarge", 1).expect("a");
        pool.allocate("b", "ml.g5.xlarge", 1).expect("b shares");
    }

    #[test]
    fn no_gpu_and_too_few_gpus_say_what_to_do() {
        let mut none = GpuPool::new(
            GpuReport {
                unavailable_reason: Some("NVML is not available".into()),
                ..Default::default()
            },
            false,
        );
        let e = none.allocate("a", "ml.p3.2xlarge", 1).expect_err("none");
        assert!(e.to_string().contains("--gpu-fallback cpu"), "{e}");
        let mut two = GpuPool::new(report(2), false);
        let e = two.allocate("a", "ml.p3.16xlarge", 8).expect_err("too few");
        assert!(matches!(
            e,
            GpuError::TooFew {
                wanted: 8,
                have: 2,
                ..
            }
        ));
        assert_eq!(
            none.allocate("a", "ml.m5.large", 0),
            Ok(GpuGrant::default())
        );
        assert_eq!(GpuGrant::default().device_request(), None);
    }

    #[test]
    fn detection_without_a_driver_reports_why() {
        // This machine kind has no NVIDIA driver; on a GPU host this finds the devices instead.
        let r = detect();
        assert!(r.unavailable_reason.is_some() || !r.devices.is_empty());
    }
}

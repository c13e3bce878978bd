//! SageMaker instance types → the resources a container gets. The figures are AWS's published
//! vCPU / memory / NVIDIA GPU counts; `local` and `local_gpu` are the SageMaker SDK's local-mode
//! names (the whole host, and the whole host with every GPU). Containers get what the type says,
//! capped at what the host has.

/// vCPUs, memory (MiB) and NVIDIA GPUs of one instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceType {
    pub name: &'static str,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub gpus: u32,
}

const fn t(name: &'static str, vcpus: u32, memory_gib_x4: u64, gpus: u32) -> InstanceType {
    // memory is given in quarter GiB so that 3.75 GiB (c4.large) stays an integer
    InstanceType {
        name,
        vcpus,
        memory_mib: memory_gib_x4 * 256,
        gpus,
    }
}

/// (name, vCPUs, memory in GiB × 4, GPUs)
static TYPES: &[InstanceType] = &[
    t("ml.t3.medium", 2, 16, 0),
    t("ml.t3.large", 2, 32, 0),
    t("ml.t3.xlarge", 4, 64, 0),
    t("ml.t3.2xlarge", 8, 128, 0),
    t("ml.m4.xlarge", 4, 64, 0),
    t("ml.m4.2xlarge", 8, 128, 0),
    t("ml.m4.4xlarge", 16, 256, 0),
    t("ml.m4.10xlarge", 40, 640, 0),
    t("ml.m4.16xlarge", 64, 1024, 0),
    t("ml.m5.large", 2, 32, 0),
    t("ml.m5.xlarge", 4, 64, 0),
    t("ml.m5.2xlarge", 8, 128, 0),
    t("ml.m5.4xlarge", 16, 256, 0),
    t("ml.m5.12xlarge", 48, 768, 0),
    t("ml.m5.24xlarge", 96, 1536, 0),
    t("ml.m5d.large", 2, 32, 0),
    t("ml.m5d.xlarge", 4, 64, 0),
    t("ml.m5d.2xlarge", 8, 128, 0),
    t("ml.m5d.4xlarge", 16, 256, 0),
    t("ml.m5d.12xlarge", 48, 768, 0),
    t("ml.m5d.24xlarge", 96, 1536, 0),
    t("ml.c4.large", 2, 15, 0),
    t("ml.c4.xlarge", 4, 30, 0),
    t("ml.c4.2xlarge", 8, 60, 0),
    t("ml.c4.4xlarge", 16, 120, 0),
    t("ml.c4.8xlarge", 36, 240, 0),
    t("ml.c5.large", 2, 16, 0),
    t("ml.c5.xlarge", 4, 32, 0),
    t("ml.c5.2xlarge", 8, 64, 0),
    t("ml.c5.4xlarge", 16, 128, 0),
    t("ml.c5.9xlarge", 36, 288, 0),
    t("ml.c5.18xlarge", 72, 576, 0),
    t("ml.r5.large", 2, 64, 0),
    t("ml.r5.xlarge", 4, 128, 0),
    t("ml.r5.2xlarge", 8, 256, 0),
    t("ml.r5.4xlarge", 16, 512, 0),
    t("ml.r5.12xlarge", 48, 1536, 0),
    t("ml.r5.24xlarge", 96, 3072, 0),
    t("ml.p2.xlarge", 4, 244, 1),
    t("ml.p2.8xlarge", 32, 1952, 8),
    t("ml.p2.16xlarge", 64, 2928, 16),
    t("ml.p3.2xlarge", 8, 244, 1),
    t("ml.p3.8xlarge", 32, 976, 4),
    t("ml.p3.16xlarge", 64, 1952, 8),
    t("ml.p3dn.24xlarge", 96, 3072, 8),
    t("ml.p4d.24xlarge", 96, 4608, 8),
    t("ml.p4de.24xlarge", 96, 4608, 8),
    t("ml.p5.48xlarge", 192, 8192, 8),
    t("ml.g4dn.xlarge", 4, 64, 1),
    t("ml.g4dn.2xlarge", 8, 128, 1),
    t("ml.g4dn.4xlarge", 16, 256, 1),
    t("ml.g4dn.8xlarge", 32, 512, 1),
    t("ml.g4dn.12xlarge", 48, 768, 4),
    t("ml.g4dn.16xlarge", 64, 1024, 1),
    t("ml.g5.xlarge", 4, 64, 1),
    t("ml.g5.2xlarge", 8, 128, 1),
    t("ml.g5.4xlarge", 16, 256, 1),
    t("ml.g5.8xlarge", 32, 512, 1),
    t("ml.g5.12xlarge", 48, 768, 4),
    t("ml.g5.16xlarge", 64, 1024, 1),
    t("ml.g5.24xlarge", 96, 1536, 4),
    t("ml.g5.48xlarge", 192, 3072, 8),
    // Trainium: Neuron accelerators, not NVIDIA GPUs; they run here on CPU.
    t("ml.trn1.2xlarge", 8, 128, 0),
    t("ml.trn1.32xlarge", 128, 2048, 0),
    t("ml.trn1n.32xlarge", 128, 2048, 0),
];

/// What the host has, to cap the instance type's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostResources {
    pub cpus: u32,
    pub memory_mib: u64,
    pub gpus: u32,
}

impl HostResources {
    /// The host's CPU count and physical memory (from /proc/meminfo; unknown → no memory cap).
    pub fn detect(gpus: u32) -> HostResources {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        let memory_mib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("MemTotal:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .map(|kib| kib / 1024)
            .unwrap_or(u64::MAX);
        HostResources {
            cpus,
            memory_mib,
            gpus,
        }
    }
}

/// The limits a container gets, and what was capped (for the job's log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allotment {
    pub instance_type: String,
    pub cpus: u32,
    pub memory_mib: u64,
    /// NVIDIA GPUs the instance type asks for (uncapped: the GPU pool decides).
    pub gpus: u32,
    /// Human sentences about limits reduced to the host's, e.g. for a job's log.
    pub capped: Vec<String>,
}

/// The instance type called `name`: a SageMaker type, `local` or `local_gpu`.
pub fn lookup(name: &str, host: &HostResources) -> Option<InstanceType> {
    match name {
        "local" => Some(InstanceType {
            name: "local",
            vcpus: host.cpus,
            memory_mib: host.memory_mib,
            gpus: 0,
        }),
        "local_gpu" => Some(InstanceType {
            name: "local_gpu",
            vcpus: host.cpus,
            memory_mib: host.memory_mib,
            gpus: host.gpus.max(1),
        }),
        _ => TYPES.iter().copied().find(|t| t.name == name),
    }
}

/// The resources for one container of `name` on `host`. An unknown name (a type AWS added after
/// this table) gets the whole host and no GPU, and says so.
pub fn allot(name: &str, host: &HostResources) -> Allotment {
    let mut capped = Vec::new();
    let ty = lookup(name, host).unwrap_or_else(|| {
        capped.push(format!(
            "instance type {name} is not in sagebox's table; the container gets the whole host and no GPU"
        ));
        InstanceType {
            name: "unknown",
            vcpus: host.cpus,
            memory_mib: host.memory_mib,
            gpus: 0,
        }
    });
    let cpus = ty.vcpus.min(host.cpus).max(1);
    if ty.vcpus > host.cpus {
        capped.push(format!(
            "{name} has {} vCPUs; this host has {}, so the container gets {cpus}",
            ty.vcpus, host.cpus
        ));
    }
    let memory_mib = ty.memory_mib.min(host.memory_mib);
    if ty.memory_mib > host.memory_mib {
        capped.push(format!(
            "{name} has {} MiB of memory; this host has {} MiB, so the container gets {memory_mib} MiB",
            ty.memory_mib, host.memory_mib
        ));
    }
    Allotment {
        instance_type: name.to_string(),
        cpus,
        memory_mib,
        gpus: ty.gpus,
        capped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: HostResources = HostResources {
        cpus: 2,
        memory_mib: 24 * 1024,
        gpus: 0,
    };

    #[test]
    fn published_figures() {
        let p3 = lookup("ml.p3.8xlarge", &HOST).expect("p3");
        assert_eq!((p3.vcpus, p3.memory_mib, p3.gpus), (32, 244 * 1024, 4));
        let c4 = lookup("ml.c4.large", &HOST).expect("c4");
        assert_eq!(c4.memory_mib, 3840);
        assert_eq!(lookup("ml.g5.48xlarge", &HOST).expect("g5").gpus, 8);
        assert_eq!(lookup("ml.m5.nope", &HOST), None);
    }

    #[test]
    fn limits_are_capped_at_the_host_and_say_so() {
        let a = allot("ml.m5.4xlarge", &HOST);
        assert_eq!((a.cpus, a.memory_mib), (2, 24 * 1024));
        assert_eq!(a.capped.len(), 2, "{:?}", a.capped);
        let small = allot("ml.t3.medium", &HOST);
        assert_eq!((small.cpus, small.memory_mib), (2, 4096));
        assert!(small.capped.is_empty());
    }

    #[test]
    fn local_mode_names_take_the_host() {
        assert_eq!(allot("local", &HOST).cpus, 2);
        assert_eq!(allot("local", &HOST).gpus, 0);
        assert_eq!(allot("local_gpu", &HOST).gpus, 1);
        assert!(allot("local", &HOST).capped.is_empty());
    }

    #[test]
    fn unknown_types_get_the_host_without_gpus() {
        let a = allot("ml.x99.huge", &HOST);
        assert_eq!((a.cpus, a.gpus), (2, 0));
        assert!(a.capped[0].contains("not in sagebox's table"));
    }
}

//! `sagebox doctor`: what works on this host and what doesn't — Docker, GPUs, images, the data
//! directory and the port — each check with a verdict and, when something is wrong, what to do.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;

use super::Runtime;
use super::gpu::GpuReport;
use super::images::{ImageStatus, on_path};
use super::recipes::Recipe;
use super::uris;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Works, with a caveat or a feature missing.
    Warn,
    /// Blocks work: `doctor` exits non-zero.
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// Structured facts for scripts (`--json`).
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub facts: serde_json::Value,
}

pub(crate) fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
        facts: serde_json::Value::Null,
    }
}

/// Runs every check.
/// Only when sagebox runs in a container: whether the engine can see the data directory and the
/// wheelhouse (job containers bind-mount files from them) at a host path.
async fn container_check(runtime: &Runtime, data_dir: &Path) -> Option<Check> {
    let paths = runtime.host_paths().await?;
    let id = paths.container.clone()?;
    let short = &id[..id.len().min(12)];
    let data_dir = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    Some(match paths.host_path(&data_dir) {
        Ok(host) => {
            let wheels = runtime.options.wheelhouse_dir();
            let (verdict, wheel_note) = match paths.host_path(&wheels) {
                Ok(_) => (Verdict::Ok, String::new()),
                Err(_) => (
                    Verdict::Warn,
                    format!(
                        "; the wheelhouse {} is not from the host, so script-mode jobs cannot install requirements.txt (set --wheelhouse under the data directory)",
                        wheels.display()
                    ),
                ),
            };
            check(
                "container",
                verdict,
                format!(
                    "sagebox runs in container {short}; the data directory {} is the host's {}{wheel_note}",
                    data_dir.display(),
                    host.display()
                ),
            )
        }
        Err(e) => check("container", Verdict::Fail, e.to_string()),
    })
}

/// The swarm this engine belongs to: in use with --engine swarm, a warning without it.
fn swarm_check(runtime: &Runtime, swarm: &super::engine::SwarmMembership) -> Check {
    if runtime.options.engine == super::EngineKind::Swarm {
        check(
            "swarm",
            Verdict::Ok,
            format!(
                "--engine swarm: jobs and endpoints run as services across the swarm's {} nodes ({} managers); images go to {}, and the nodes reach sagebox at {}",
                swarm.nodes,
                swarm.managers,
                runtime.options.swarm_registry.as_deref().unwrap_or("?"),
                runtime
                    .options
                    .cluster_address
                    .map_or_else(|| "?".to_string(), |a| a.to_string())
            ),
        )
    } else {
        check("swarm", Verdict::Warn, swarm.describe())
    }
}

pub async fn run(runtime: &Runtime, data_dir: &Path, bind: SocketAddr) -> Vec<Check> {
    let mut checks = Vec::new();
    let engine = runtime.engine().await;
    match &engine {
        Ok(e) => match e.info().await {
            Ok(info) => {
                let mut c = check(
                    "docker",
                    Verdict::Ok,
                    format!(
                        "Docker {} (API {}) at {}, {}, {} CPUs, {} MiB",
                        info.server_version,
                        info.api_version,
                        info.host,
                        if info.rootless { "rootless" } else { "rootful" },
                        info.cpus,
                        info.memory_bytes >> 20
                    ),
                );
                c.facts = serde_json::to_value(&info).unwrap_or_default();
                checks.push(c);
                if let Some(swarm) = &info.swarm {
                    let mut s = swarm_check(runtime, swarm);
                    s.facts = serde_json::to_value(swarm).unwrap_or_default();
                    checks.push(s);
                }
            }
            Err(err) => checks.push(check("docker", Verdict::Fail, err.to_string())),
        },
        Err(err) => checks.push(check("docker", Verdict::Fail, err.to_string())),
    }

    let report = runtime
        .gpus
        .lock()
        .map(|p| p.report().clone())
        .unwrap_or_default();
    let mut gpus = if report.devices.is_empty() {
        check(
            "gpus",
            Verdict::Warn,
            format!(
                "no GPU: {}. CPU instance types work; GPU ones fail unless --gpu-fallback cpu",
                report.unavailable_reason.as_deref().unwrap_or("none found")
            ),
        )
    } else {
        let names: Vec<String> = report
            .devices
            .iter()
            .map(|d| {
                format!(
                    "#{} {} ({} MiB, {})",
                    d.index,
                    d.name,
                    d.memory_total >> 20,
                    d.uuid
                )
            })
            .collect();
        let toolkit = match &engine {
            Ok(e) => e.info().await.map(|i| i.nvidia_runtime).unwrap_or(false),
            Err(_) => false,
        };
        check(
            "gpus",
            if toolkit { Verdict::Ok } else { Verdict::Warn },
            format!(
                "{} GPU(s): {}; driver {}, CUDA {}{}",
                report.devices.len(),
                names.join(", "),
                report.driver_version.as_deref().unwrap_or("?"),
                report.cuda_version.as_deref().unwrap_or("?"),
                if toolkit {
                    ""
                } else {
                    "; Docker has no nvidia runtime: install nvidia-container-toolkit so containers can use them"
                }
            ),
        )
    };
    gpus.facts = serde_json::to_value(&report).unwrap_or_default();
    checks.push(gpus);
    if let Some(c) = container_check(runtime, data_dir).await {
        checks.push(c);
    }

    if engine.is_ok() {
        match runtime.images().await {
            Ok(builder) => match builder.list().await {
                Ok(list) => {
                    // On-demand images (the GPU variants) are built when a job needs them.
                    let missing: Vec<&str> = list
                        .iter()
                        .filter(|s| !s.present && !on_demand(&s.name))
                        .map(|s| s.name.as_str())
                        .collect();
                    let base_missing = missing
                        .iter()
                        .any(|n| Recipe::get(n).is_some_and(|r| r.is_base()));
                    let (verdict, detail) = if missing.is_empty() {
                        (Verdict::Ok, format!("all {} images present", list.len()))
                    } else if base_missing && !on_path("mmdebstrap") {
                        (
                            Verdict::Fail,
                            format!(
                                "missing: {}; building them needs mmdebstrap: `sudo apt-get install mmdebstrap`, then `sagebox images build`",
                                missing.join(", ")
                            ),
                        )
                    } else {
                        (
                            Verdict::Warn,
                            format!(
                                "missing: {} (built on first use, or now with `sagebox images build`)",
                                missing.join(", ")
                            ),
                        )
                    };
                    let mut c = check("images", verdict, detail);
                    c.facts = serde_json::to_value(&list).unwrap_or_default();
                    checks.push(c);
                    checks.push(frameworks_check(Some(&list), &report));
                }
                Err(e) => checks.push(check("images", Verdict::Fail, e.to_string())),
            },
            Err(e) => checks.push(check("images", Verdict::Fail, e.to_string())),
        }
    } else {
        checks.push(check(
            "images",
            Verdict::Fail,
            "unknown: Docker is not reachable",
        ));
    }
    if !checks.iter().any(|c| c.name == "frameworks") {
        checks.push(frameworks_check(None, &report));
    }

    checks.push(data_dir_check(data_dir));
    checks.push(port_check(bind).await);
    checks
}

/// The framework (script mode) images; each has a GPU variant `<name>-gpu`.
pub const FRAMEWORKS: [&str; 3] = ["pytorch", "tensorflow", "huggingface"];

/// "PyTorch 2.6.0", "PyTorch 2.6.0 + Transformers 4.57.6": what the image of `recipe` serves.
fn served(recipe: &str) -> String {
    uris::frameworks(recipe)
        .iter()
        .map(|f| format!("{} {}", f.name, f.served))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Whether recipe `name` is built only when asked for (a file `on-demand` in its folder).
fn on_demand(name: &str) -> bool {
    Recipe::get(name).is_some_and(|r| r.on_demand())
}

/// The CUDA version (major, minor) a requirements lock was built for: the version of its CUDA
/// runtime wheel (`nvidia-cuda-runtime-cu12==12.4.127` → 12.4).
pub fn lock_cuda_version(requirements: &str) -> Option<(u32, u32)> {
    requirements.lines().find_map(|line| {
        let line = line.split('#').next()?.trim();
        let (name, version) = line.split_once("==")?;
        let name = name.trim().to_ascii_lowercase().replace('_', "-");
        if !(name.starts_with("nvidia-cuda-runtime-cu") || name == "nvidia-cuda-runtime") {
            return None;
        }
        parse_major_minor(version.trim())
    })
}

fn parse_major_minor(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    let major = parts.next()?.trim().parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.trim().parse().ok())?;
    Some((major, minor))
}

/// The CUDA version a GPU recipe needs: from its own lock, else from its parents' (huggingface-gpu
/// gets CUDA from pytorch-gpu).
pub fn cuda_requirement(recipe: &str) -> Option<(u32, u32)> {
    let mut r = Recipe::get(recipe);
    // The depth bound keeps a cycle of parents (a recipe bug) from hanging.
    for _ in 0..16 {
        let current = r?;
        if let Some(v) = current
            .file("requirements.txt")
            .and_then(|b| lock_cuda_version(&String::from_utf8_lossy(b)))
        {
            return Some(v);
        }
        r = current.parent();
    }
    None
}

/// Whether a driver supporting CUDA `driver` runs code built for CUDA `needed`: the same major
/// version at least as new, or a newer major version.
fn cuda_verdict(needed: (u32, u32), driver: (u32, u32)) -> Result<(), String> {
    if driver >= needed {
        Ok(())
    } else if driver.0 == needed.0 {
        Err(format!(
            "the driver supports CUDA {}.{} only (CUDA's minor version compatibility runs most kernels, JIT-compiled ones fail): upgrade the NVIDIA driver to one that supports CUDA {}.{} or newer",
            driver.0, driver.1, needed.0, needed.1
        ))
    } else {
        Err(format!(
            "the driver supports CUDA {}.{} only: upgrade the NVIDIA driver to one that supports CUDA {}.{} or newer",
            driver.0, driver.1, needed.0, needed.1
        ))
    }
}

/// One line per framework: the CPU image (present / built on first use) and the GPU variant
/// (present / built for the first GPU job), with the GPU variant's CUDA requirement against
/// what the driver supports. `images` is None when Docker could not be asked.
fn frameworks_check(images: Option<&[ImageStatus]>, gpus: &GpuReport) -> Check {
    let driver = if gpus.devices.is_empty() {
        None
    } else {
        gpus.cuda_version.as_deref().and_then(parse_major_minor)
    };
    let state = |name: &str| -> String {
        if Recipe::get(name).is_none() {
            return format!("{name} has no recipe in this build");
        }
        match images.and_then(|l| l.iter().find(|s| s.name == name)) {
            Some(s) if s.present => format!("{name} present"),
            Some(s) if s.outdated_present => format!("{name} outdated (rebuilt on next use)"),
            Some(_) => format!("{name} not built"),
            None => format!("{name} unknown (Docker not reachable)"),
        }
    };
    let mut verdict = Verdict::Ok;
    let mut lines = Vec::new();
    let mut facts = Vec::new();
    for cpu in FRAMEWORKS {
        let gpu = format!("{cpu}-gpu");
        let gpu = gpu.as_str();
        let framework = served(cpu);
        let needed = cuda_requirement(gpu);
        let cuda = match (needed, driver) {
            (None, _) => "CUDA requirement unknown".to_string(),
            (Some(n), None) => format!(
                "needs CUDA {}.{}+; not used here, where NVML finds no GPU",
                n.0, n.1
            ),
            (Some(n), Some(d)) => match cuda_verdict(n, d) {
                Ok(()) => format!(
                    "needs CUDA {}.{}+, the driver supports {}.{}: built for the first GPU job",
                    n.0, n.1, d.0, d.1
                ),
                Err(e) => {
                    verdict = Verdict::Warn;
                    format!("needs CUDA {}.{}+, but {e}", n.0, n.1)
                }
            },
        };
        lines.push(format!(
            "{framework}: {}; GPU variant {} ({cuda})",
            state(cpu),
            state(gpu)
        ));
        let status = |name: &str| {
            images
                .and_then(|l| l.iter().find(|s| s.name == name))
                .map(|s| s.present)
        };
        facts.push(serde_json::json!({
            "framework": framework,
            "cpu": { "recipe": cpu, "embedded": Recipe::get(cpu).is_some(), "present": status(cpu) },
            "gpu": {
                "recipe": gpu,
                "embedded": Recipe::get(gpu).is_some(),
                "present": status(gpu),
                "cuda_required": needed.map(|(a, b)| format!("{a}.{b}")),
                "driver_cuda": driver.map(|(a, b)| format!("{a}.{b}")),
                "cuda_ok": match (needed, driver) {
                    (Some(n), Some(d)) => Some(cuda_verdict(n, d).is_ok()),
                    _ => None,
                },
            },
        }));
    }
    let mut c = check("frameworks", verdict, lines.join("\n"));
    c.facts = serde_json::Value::Array(facts);
    c
}

fn data_dir_check(dir: &Path) -> Check {
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    let result = std::fs::create_dir_all(dir).and_then(|()| {
        let mut f = std::fs::File::create(&probe)?;
        f.write_all(b"sagebox")?;
        f.sync_all()?;
        std::fs::remove_file(&probe)
    });
    match result {
        Ok(()) => check(
            "data-dir",
            Verdict::Ok,
            format!("{} is writable", dir.display()),
        ),
        Err(e) => check(
            "data-dir",
            Verdict::Fail,
            format!(
                "{} is not writable ({e}); pick another with --data-dir",
                dir.display()
            ),
        ),
    }
}

async fn port_check(bind: SocketAddr) -> Check {
    match tokio::net::TcpListener::bind(bind).await {
        Ok(_) => check("port", Verdict::Ok, format!("{bind} is free")),
        Err(e) => {
            // Someone listens there; a sagebox answering its health check is fine.
            let url_host = if bind.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                bind.ip().to_string()
            };
            let running = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut s =
                    tokio::net::TcpStream::connect((url_host.as_str(), bind.port())).await?;
                s.write_all(b"GET /_sagebox/health HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    .await?;
                let mut buf = Vec::new();
                s.read_to_end(&mut buf).await?;
                Ok::<bool, std::io::Error>(String::from_utf8_lossy(&buf).contains("\"version\""))
            })
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
            if running {
                check(
                    "port",
                    Verdict::Ok,
                    format!("{bind} is in use by a running sagebox"),
                )
            } else {
                check(
                    "port",
                    Verdict::Fail,
                    format!("{bind} is taken by another program ({e}); pick another with --bind"),
                )
            }
        }
    }
}

/// Human-readable report.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
        };
        // Details of several lines continue under the first one's text.
        let detail = c.detail.replace('\n', &format!("\n{:18}", ""));
        out.push_str(&format!("[{mark}] {:<10} {detail}\n", c.name));
    }
    out
}

pub fn blocking(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.verdict == Verdict::Fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::gpu::GpuDevice;

    fn status(name: &str, present: bool) -> ImageStatus {
        ImageStatus {
            name: name.into(),
            reference: format!("sagebox/{name}:000000000000"),
            present,
            outdated_present: false,
        }
    }

    fn one_gpu(cuda: &str) -> GpuReport {
        GpuReport {
            devices: vec![GpuDevice {
                index: 0,
                name: "NVIDIA H100".into(),
                uuid: "GPU-1".into(),
                memory_total: 80 << 30,
            }],
            driver_version: Some("550.54".into()),
            cuda_version: Some(cuda.into()),
            unavailable_reason: None,
        }
    }

    #[test]
    fn the_lock_names_its_cuda_version_through_the_runtime_wheel() {
        let lock = "# comment\ntorch==2.6.0\nnvidia_cuda_runtime_cu12==12.4.127  # CUDA 12.4\n";
        assert_eq!(lock_cuda_version(lock), Some((12, 4)));
        assert_eq!(lock_cuda_version("torch==2.6.0\n"), None);
        assert_eq!(parse_major_minor("13"), Some((13, 0)));
    }

    #[test]
    fn the_pytorch_gpu_lock_needs_cuda_12_4_and_huggingface_gpu_inherits_it() {
        assert_eq!(cuda_requirement("pytorch-gpu"), Some((12, 4)));
        if Recipe::get("huggingface-gpu").is_some() {
            assert_eq!(cuda_requirement("huggingface-gpu"), Some((12, 4)));
        }
        assert_eq!(cuda_requirement("sklearn"), None);
        // the variants doctor names are the ones GPU jobs get
        for cpu in FRAMEWORKS {
            let gpu = format!("{cpu}-gpu");
            if Recipe::get(&gpu).is_some() {
                assert_eq!(uris::gpu_variant(cpu), gpu);
            }
        }
        assert!(on_demand("pytorch-gpu"));
        assert!(!on_demand("sklearn"));
    }

    #[test]
    fn the_driver_must_support_the_locks_cuda() {
        assert!(cuda_verdict((12, 4), (12, 4)).is_ok());
        assert!(cuda_verdict((12, 4), (13, 0)).is_ok());
        let old = cuda_verdict((12, 4), (12, 2)).unwrap_err();
        assert!(old.contains("supports CUDA 12.2 only"), "{old}");
        assert!(old.contains("minor version compatibility"), "{old}");
        assert!(cuda_verdict((12, 4), (11, 8)).is_err());
    }

    #[test]
    fn frameworks_report_each_variant_and_cuda_against_the_driver() {
        let list = vec![status("pytorch", true), status("pytorch-gpu", false)];
        let c = frameworks_check(Some(&list), &one_gpu("12.8"));
        assert_eq!(c.verdict, Verdict::Ok);
        let first = c.detail.lines().next().unwrap_or_default();
        assert!(first.starts_with("PyTorch 2.6.0: pytorch present; GPU variant pytorch-gpu not built (needs CUDA 12.4+, the driver supports 12.8"), "{first}");
        assert_eq!(c.facts[0]["gpu"]["cuda_required"], "12.4");
        assert_eq!(c.facts[0]["gpu"]["cuda_ok"], true);
        assert_eq!(c.facts[0]["cpu"]["present"], true);
        assert_eq!(c.detail.lines().count(), FRAMEWORKS.len());

        let c = frameworks_check(Some(&list), &one_gpu("12.2"));
        assert_eq!(c.verdict, Verdict::Warn);
        assert_eq!(c.facts[0]["gpu"]["cuda_ok"], false);

        let c = frameworks_check(None, &GpuReport::default());
        assert_eq!(c.verdict, Verdict::Ok);
        assert!(
            c.detail.contains("not used here, where NVML finds no GPU"),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("unknown (Docker not reachable)"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn several_line_details_are_indented_under_the_first() {
        let out = render(&[check("frameworks", Verdict::Ok, "a\nb")]);
        assert_eq!(out, format!("[ok  ] frameworks a\n{:18}b\n", ""));
    }
}

//! `sagebox doctor`: what works on this host and what doesn't — Docker, GPUs, images, the data
//! directory and the port — each check with a verdict and, when something is wrong, what to do.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;

use super::Runtime;
use super::images::on_path;

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

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
        facts: serde_json::Value::Null,
    }
}

/// Runs every check.
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

    if engine.is_ok() {
        match runtime.images().await {
            Ok(builder) => match builder.list().await {
                Ok(list) => {
                    let missing: Vec<&str> = list
                        .iter()
                        .filter(|s| !s.present)
                        .map(|s| s.name.as_str())
                        .collect();
                    let base_missing = missing.contains(&"base");
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

    checks.push(data_dir_check(data_dir));
    checks.push(port_check(bind).await);
    checks
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
        out.push_str(&format!("[{mark}] {:<9} {}\n", c.name, c.detail));
    }
    out
}

pub fn blocking(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.verdict == Verdict::Fail)
}

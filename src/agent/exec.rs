//! `sagebox agent exec -- <argv>`: the agent's life in a container. It fetches every bind the
//! plan names, runs the program (forwarding SIGTERM, SIGINT and SIGHUP, so `docker stop` and a
//! job's stop reach it), returns the writable binds, and exits as the program did. It needs
//! nothing from the image but glibc: no shell, no curl.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::client::{AgentClient, ReqBody, empty};
use super::plan::{AUTH_SCHEME, PLAN_ENV, Plan, PlannedBind};
use super::tree::{self, KIND_HEADER, Kind, Stats};

/// The agent itself failed (a bind could not be fetched or returned), as `docker run` uses it.
pub const AGENT_FAILED: u8 = 125;

pub(super) fn say(line: &str) {
    eprintln!("sagebox-agent: {line}");
}

/// Runs `argv` under the plan in `SAGEBOX_AGENT_PLAN`, or simply execs it when there is none.
pub fn main(argv: &[String]) -> ExitCode {
    let Some((program, args)) = argv.split_first() else {
        say("no program to run");
        return ExitCode::from(AGENT_FAILED);
    };
    let Some(raw) = std::env::var_os(PLAN_ENV) else {
        use std::os::unix::process::CommandExt;
        let e = std::process::Command::new(program).args(args).exec();
        return ExitCode::from(spawn_failure_code(program, &e));
    };
    let plan: Plan = match serde_json::from_slice(raw.as_encoded_bytes()) {
        Ok(p) => p,
        Err(e) => {
            say(&format!("{PLAN_ENV} is not a plan: {e}"));
            return ExitCode::from(AGENT_FAILED);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(&format!("cannot start: {e}"));
            return ExitCode::from(AGENT_FAILED);
        }
    };
    let code = rt.block_on(run(&plan, program, args));
    // A feeder's thread still blocked on a FIFO that the program's leftovers hold open must
    // not keep the agent from exiting.
    rt.shutdown_background();
    ExitCode::from(code)
}

async fn run(plan: &Plan, program: &str, args: &[String]) -> u8 {
    let client = AgentClient::default();
    for bind in &plan.binds {
        let started = Instant::now();
        match download(&client, plan, bind).await {
            Ok(stats) => say(&summary(&bind.path, stats, started)),
            Err(e) => {
                say(&format!(
                    "cannot fetch {}: {e}\nsagebox-agent: check that sagebox is reachable from this node at {} \
                     (its cluster address) and that this container was started by that sagebox.",
                    bind.path, plan.url
                ));
                return AGENT_FAILED;
            }
        }
    }
    let feeders = super::pipe::start(plan);
    let baseline = super::sync::baseline(plan).await;
    let (done, watched) = tokio::sync::watch::channel(false);
    let child = async {
        let ran = run_child(program, args).await;
        // the sync may have ended already (no synced binds): nobody left to tell
        done.send(true).ok();
        ran
    };
    let (ran, ()) = tokio::join!(
        child,
        super::sync::keep_synced(plan, &client, baseline, watched)
    );
    let feeding_failed = feeders.stop();
    let mut code = match ran {
        Ok(code) => code,
        Err(code) => return code,
    };
    if feeding_failed && code == 0 {
        // the program may have taken a cut-short epoch for the whole channel
        say("a Pipe-mode channel could not be fed in full (see above): failing the run");
        code = AGENT_FAILED;
    }
    for bind in plan.binds.iter().filter(|b| !b.read_only) {
        let started = Instant::now();
        match upload(&client, plan, bind).await {
            Ok(stats) => say(&format!("returned {}", summary(&bind.path, stats, started))),
            Err(e) => {
                say(&format!(
                    "cannot return {}: {e}\nsagebox-agent: check that sagebox is still reachable from this node at {}.",
                    bind.path, plan.url
                ));
                if code == 0 {
                    code = AGENT_FAILED;
                }
            }
        }
    }
    code
}

/// `/opt/ml/input/data/train: 3 files, 12.3 MB in 0.4 s`
pub(super) fn summary(path: &str, stats: Stats, started: Instant) -> String {
    let files = if stats.files == 1 { "file" } else { "files" };
    format!(
        "{path}: {} {files}, {} in {:.1} s",
        stats.files,
        size(stats.bytes),
        started.elapsed().as_secs_f64()
    )
}

fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

/// A request for a bind's (or a pipe's source's) content at `url`, with its token.
pub(super) fn request(
    method: http::Method,
    url: &str,
    token: &str,
    kind: Option<Kind>,
    body: ReqBody,
) -> Result<http::Request<ReqBody>, String> {
    if !url.starts_with("http://") {
        return Err(format!(
            "{url}: the agent speaks plain HTTP only (the plan's url must start with http://)"
        ));
    }
    let mut req = http::Request::builder().method(method).uri(url).header(
        http::header::AUTHORIZATION,
        format!("{AUTH_SCHEME} {token}"),
    );
    if let Some(kind) = kind {
        req = req.header(KIND_HEADER, kind.as_str());
    }
    req.body(body).map_err(|e| format!("{url}: {e}"))
}

async fn download(client: &AgentClient, plan: &Plan, bind: &PlannedBind) -> Result<Stats, String> {
    let url = plan.bind_url(bind);
    let mut make = || request(http::Method::GET, &url, &bind.token, None, empty());
    let resp = match client.send(&mut make).await {
        Ok(resp) => resp,
        // An output directory sagebox has not made yet starts empty, as a fresh mount would.
        Err(e) if e.status == Some(404) && !bind.read_only => {
            std::fs::create_dir_all(&bind.path).map_err(|e| format!("{}: {e}", bind.path))?;
            return Ok(Stats::default());
        }
        Err(e) => return Err(e.message),
    };
    let kind = resp
        .headers()
        .get(KIND_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(Kind::parse)
        .unwrap_or(Kind::Dir);
    let dest = PathBuf::from(&bind.path);
    let extracted =
        super::bridge::read_body_blocking(resp.into_body(), move |r| tree::extract(r, &dest, kind))
            .await;
    match extracted {
        Ok(Ok(stats)) => Ok(stats),
        Ok(Err(e)) => Err(format!("{}: {e}", plan.bind_url(bind))),
        Err(e) => Err(e.to_string()),
    }
}

pub(super) async fn upload(
    client: &AgentClient,
    plan: &Plan,
    bind: &PlannedBind,
) -> Result<Stats, String> {
    let path = PathBuf::from(&bind.path);
    let kind = match Kind::of(&path) {
        Ok(Some(kind)) => kind,
        // a program that removed its output directory returns an empty one
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Kind::Dir,
        Ok(None) => return Err("neither a file nor a directory".into()),
        Err(e) => return Err(e.to_string()),
    };
    // binds mounted inside this one travel on their own, and stay on sagebox's side
    let nested = super::mirror::nested(&bind.path, plan.binds.iter().map(|b| b.path.as_str()));
    let mut job = None;
    let mut make = || {
        use futures_util::StreamExt;
        use http_body_util::BodyExt;
        let path = path.clone();
        let skip = nested.clone();
        let (stream, handle) = super::bridge::stream_from_blocking(move |w| {
            tree::write_tar_except(&path, kind, w, &skip)
        });
        job = Some(handle);
        let frames = stream.map(|chunk| chunk.map(hyper::body::Frame::data));
        let body = BodyExt::boxed(http_body_util::StreamBody::new(frames));
        let mut req = request(
            http::Method::PUT,
            &plan.bind_url(bind),
            &bind.token,
            Some(kind),
            body,
        )?;
        if kind == Kind::Dir {
            let keep = http::HeaderValue::from_str(&super::mirror::encode_keep(&nested))
                .map_err(|e| e.to_string())?;
            let h = req.headers_mut();
            h.insert(
                super::mirror::MIRROR_HEADER,
                http::HeaderValue::from_static("1"),
            );
            h.insert(super::mirror::KEEP_HEADER, keep);
        }
        Ok(req)
    };
    client.send(&mut make).await.map_err(|e| e.message)?;
    match job {
        Some(handle) => handle
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", bind.path)),
        None => Err("nothing was sent".into()),
    }
}

/// Spawns the program and waits for it, passing on the signals a stop sends; its exit code
/// (128 + the signal when a signal ended it), or the code for a program that did not start.
async fn run_child(program: &str, args: &[String]) -> Result<u8, u8> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let listen = |kind: SignalKind, name: &str| {
        signal(kind)
            .map_err(|e| say(&format!("cannot forward {name}: {e}")))
            .ok()
    };
    let mut term = listen(SignalKind::terminate(), "SIGTERM");
    let mut int = listen(SignalKind::interrupt(), "SIGINT");
    let mut hup = listen(SignalKind::hangup(), "SIGHUP");
    async fn recv(s: &mut Option<Signal>) -> Option<()> {
        match s {
            Some(s) => s.recv().await,
            None => std::future::pending().await,
        }
    }
    let mut child = match tokio::process::Command::new(program)
        .args(args)
        .env_remove(PLAN_ENV)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Err(spawn_failure_code(program, &e)),
    };
    let pid = child.id();
    let forward = |number: libc::c_int| {
        if let Some(pid) = pid {
            // SAFETY: kill(2) with our own child's pid and a valid signal number.
            unsafe { libc::kill(pid as libc::pid_t, number) };
        }
    };
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            Some(()) = recv(&mut term) => forward(libc::SIGTERM),
            Some(()) = recv(&mut int) => forward(libc::SIGINT),
            Some(()) = recv(&mut hup) => forward(libc::SIGHUP),
        }
    };
    match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            Ok(match (s.code(), s.signal()) {
                (Some(code), _) => code.clamp(0, 255) as u8,
                (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
                (None, None) => AGENT_FAILED,
            })
        }
        Err(e) => {
            say(&format!("lost track of {program}: {e}"));
            Err(AGENT_FAILED)
        }
    }
}

fn spawn_failure_code(program: &str, e: &std::io::Error) -> u8 {
    say(&format!("cannot run {program}: {e}"));
    if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(12_300_000), "12.3 MB");
        assert_eq!(size(4_500), "4.5 KB");
        assert_eq!(size(2_000_000_000), "2.0 GB");
    }
}

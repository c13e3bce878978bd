//! A scripted execution engine for unit tests: it records every call, runs no process, and
//! plays each container as its `Script` says (files written into bind-mounted host folders, log
//! lines, an exit code after a delay, a tiny /ping + /invocations server for serving containers).
//! Timing is computed when asked, never by a spawned task, so a container outlives the tokio
//! runtime that started it (the restart tests drop one runtime and re-adopt from another).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use super::RuntimeError;
use super::engine::{
    ContainerSpec, EngineError, EngineInfo, ExecutionEngine, Keep, Listed, LogLine, OWNER_LABEL,
};
use super::images::Progress;

/// How one container behaves.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Exit with this code after this delay; None: run until stopped.
    pub exit: Option<(Duration, i64)>,
    /// (path inside the container, content): written through the binds when it starts.
    pub files: Vec<(String, String)>,
    pub logs: Vec<String>,
    /// Serve /ping and /invocations on a published port; `true`: /ping answers 200.
    pub serve: Option<bool>,
}

type Scripter = Box<dyn Fn(&ContainerSpec) -> Script + Send + Sync>;

struct Container {
    id: String,
    spec: ContainerSpec,
    script: Script,
    started: Instant,
    /// The exit code once it exited (watchers wake on change).
    exit: watch::Sender<Option<i64>>,
    server: Option<(u16, tokio::task::JoinHandle<()>)>,
}

impl Container {
    /// The exit code, settling a scripted exit whose time has come.
    fn exit_code(&self) -> Option<i64> {
        if let Some(code) = *self.exit.borrow() {
            return Some(code);
        }
        let (after, code) = self.script.exit?;
        if self.started.elapsed() >= after {
            self.end(code);
            return Some(code);
        }
        None
    }

    fn end(&self, code: i64) {
        if let Some((_, server)) = &self.server {
            server.abort();
        }
        self.exit
            .send_if_modified(|c| c.is_none() && c.replace(code).is_none());
    }
}

/// The fake engine. Share it as `Arc<FakeEngine>`; the test keeps a handle to script and inspect.
#[derive(Default)]
pub struct FakeEngine {
    scripter: Mutex<Option<Scripter>>,
    containers: Mutex<Vec<Arc<Mutex<Container>>>>,
    networks: Mutex<HashMap<String, HashMap<String, String>>>,
    calls: Mutex<Vec<String>>,
    next_id: std::sync::atomic::AtomicU64,
    /// Plays an engine whose containers do not see the host's files (the swarm).
    remote: std::sync::atomic::AtomicBool,
    /// Containers lost with their node: `wait` answers NodeLost for them.
    lost: Mutex<Vec<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeEngine {
    /// Every container started from now on behaves as `f` says for its spec.
    pub fn script(&self, f: impl Fn(&ContainerSpec) -> Script + Send + Sync + 'static) {
        *lock(&self.scripter) = Some(Box::new(f));
    }

    /// From now on the engine says that its binds are not the host's own directories, as the
    /// swarm's (`ExecutionEngine::shares_host_files`).
    pub fn without_host_files(&self) {
        self.remote
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Every call so far, as "op target" lines (e.g. "run job-algo-1", "stop <id>").
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    /// The names of the containers that exist (running or exited), oldest first.
    pub fn container_names(&self) -> Vec<String> {
        let all = lock(&self.containers);
        all.iter().map(|c| lock(c).spec.name.clone()).collect()
    }

    /// The specs of the containers that exist, oldest first.
    pub fn specs(&self) -> Vec<ContainerSpec> {
        let all = lock(&self.containers);
        all.iter().map(|c| lock(c).spec.clone()).collect()
    }

    /// Makes every container whose name starts with `prefix` exit now with `code` ("dies").
    pub fn exit(&self, prefix: &str, code: i64) {
        for c in lock(&self.containers).iter() {
            let c = lock(c);
            if c.spec.name.starts_with(prefix) {
                c.end(code);
            }
        }
    }

    /// Every container whose name starts with `prefix` goes with its node (a cluster's): its
    /// `wait` answers `EngineError::NodeLost` naming `node`.
    pub fn lose(&self, prefix: &str, node: &str) {
        for c in lock(&self.containers).iter() {
            let c = lock(c);
            if c.spec.name.starts_with(prefix) {
                lock(&self.lost).push(format!("{}\u{0}{node}", c.id));
                c.end(137);
            }
        }
    }

    /// Every container disappears (as after `docker rm -f` behind sagebox's back).
    pub fn forget_all(&self) {
        for c in lock(&self.containers).drain(..) {
            lock(&c).end(137);
        }
    }

    fn record(&self, call: String) {
        lock(&self.calls).push(call);
    }

    fn find(&self, id: &str) -> Option<Arc<Mutex<Container>>> {
        let all = lock(&self.containers);
        all.iter().find(|c| lock(c).id == id).cloned()
    }

    fn gone(id: &str) -> EngineError {
        EngineError::Other(format!("no such container: {id}"))
    }

    /// Brings up a container from its script: files first, then the server.
    async fn launch(&self, spec: &ContainerSpec, script: Script) -> Result<Container, EngineError> {
        for (path, content) in &script.files {
            let host = host_path(spec, path)
                .ok_or_else(|| EngineError::Other(format!("{path} is not under a bind")))?;
            if let Some(dir) = host.parent() {
                std::fs::create_dir_all(dir).map_err(|e| EngineError::Other(e.to_string()))?;
            }
            std::fs::write(&host, content).map_err(|e| EngineError::Other(e.to_string()))?;
        }
        let server = match script.serve {
            Some(healthy) => Some(serve(healthy).await?),
            None => None,
        };
        let id = format!(
            "fake{:016x}",
            self.next_id
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Ok(Container {
            id,
            spec: spec.clone(),
            script,
            started: Instant::now(),
            exit: watch::channel(None).0,
            server,
        })
    }
}

/// Waits until the container exits (scripted, stopped or told to); its exit code.
async fn wait_exit(c: Arc<Mutex<Container>>) -> i64 {
    let mut exit = lock(&c).exit.subscribe();
    loop {
        let until = {
            let c = lock(&c);
            if let Some(code) = c.exit_code() {
                return code;
            }
            c.script.exit.map(|(after, _)| c.started + after)
        };
        let until = until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            // the sender lives in the container, which this task holds: no error to see
            _ = exit.changed() => {}
            () = tokio::time::sleep_until(until.into()) => {}
        }
    }
}

/// Where `path` inside the container lands on the host, through the deepest bind above it.
fn host_path(spec: &ContainerSpec, path: &str) -> Option<std::path::PathBuf> {
    spec.binds
        .iter()
        .filter(|b| path.starts_with(&b.container) && !b.read_only)
        .max_by_key(|b| b.container.len())
        .map(|b| {
            let rest = path[b.container.len()..].trim_start_matches('/');
            std::path::Path::new(&b.host).join(rest)
        })
}

/// A one-request-per-connection HTTP server: GET /ping (200 when healthy, else 500) and
/// POST /invocations (echoes the body).
async fn serve(healthy: bool) -> Result<(u16, tokio::task::JoinHandle<()>), EngineError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| EngineError::Other(e.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(|e| EngineError::Other(e.to_string()))?
        .port();
    let task = tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let n = conn.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let (status, body) = if request.starts_with("GET /ping") {
                    if healthy {
                        ("200 OK", "")
                    } else {
                        ("500 Internal Server Error", "")
                    }
                } else if request.starts_with("POST /invocations") {
                    ("200 OK", request.split("\r\n\r\n").nth(1).unwrap_or(""))
                } else {
                    ("404 Not Found", "")
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                // The client may be gone (a health check that timed out); nothing to do then.
                conn.write_all(response.as_bytes()).await.ok();
            });
        }
    });
    Ok((port, task))
}

#[async_trait::async_trait]
impl ExecutionEngine for FakeEngine {
    fn host(&self) -> &str {
        "fake://"
    }

    fn shares_host_files(&self) -> bool {
        !self.remote.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn info(&self) -> Result<EngineInfo, EngineError> {
        Ok(EngineInfo {
            host: "fake://".into(),
            server_version: "fake".into(),
            api_version: "fake".into(),
            rootless: true,
            cpus: 1,
            memory_bytes: 1 << 30,
            nvidia_runtime: false,
            swarm: None,
        })
    }

    async fn image_for(
        &self,
        choice: &super::uris::ImageChoice,
        _progress: &Progress,
    ) -> Result<String, RuntimeError> {
        let reference = match choice {
            super::uris::ImageChoice::Emulated { recipe } => format!("sagebox/{recipe}:latest"),
            super::uris::ImageChoice::AsGiven(r) => r.clone(),
        };
        self.record(format!("image_for {reference}"));
        Ok(reference)
    }

    async fn bridge_gateway(&self) -> Option<std::net::IpAddr> {
        None
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<String, EngineError> {
        self.record(format!("create_network {name}"));
        lock(&self.networks).insert(name.to_string(), labels.clone());
        Ok(name.to_string())
    }

    async fn ensure_network(
        &self,
        name: &str,
        labels: &HashMap<String, String>,
    ) -> Result<(), EngineError> {
        self.record(format!("ensure_network {name}"));
        lock(&self.networks)
            .entry(name.to_string())
            .or_insert_with(|| labels.clone());
        Ok(())
    }

    async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.record(format!("remove_network {name}"));
        lock(&self.networks).remove(name);
        Ok(())
    }

    async fn create_volume(
        &self,
        name: &str,
        _labels: HashMap<String, String>,
    ) -> Result<(), EngineError> {
        self.record(format!("create_volume {name}"));
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.record(format!("remove_volume {name}"));
        Ok(())
    }

    async fn run(&self, spec: &ContainerSpec) -> Result<String, EngineError> {
        self.record(format!("run {}", spec.name));
        let script = lock(&self.scripter)
            .as_ref()
            .map(|f| f(spec))
            .unwrap_or_default();
        let container = self.launch(spec, script).await?;
        let id = container.id.clone();
        lock(&self.containers).push(Arc::new(Mutex::new(container)));
        Ok(id)
    }

    async fn start(&self, id: &str) -> Result<(), EngineError> {
        self.record(format!("start {id}"));
        let c = self.find(id).ok_or_else(|| Self::gone(id))?;
        let (spec, script) = {
            let c = lock(&c);
            if c.exit_code().is_none() {
                return Ok(());
            }
            (c.spec.clone(), c.script.clone())
        };
        // A restart runs the script again; the published port changes, as Docker's may.
        let fresh = self.launch(&spec, script).await?;
        let mut c = lock(&c);
        c.started = fresh.started;
        c.server = fresh.server;
        c.exit.send_replace(None);
        Ok(())
    }

    async fn start_if_created(&self, id: &str) -> Result<(), EngineError> {
        self.record(format!("start_if_created {id}"));
        Ok(())
    }

    async fn running(&self, id: &str) -> Result<Option<bool>, EngineError> {
        Ok(self.find(id).map(|c| lock(&c).exit_code().is_none()))
    }

    async fn wait(&self, id: &str) -> Result<i64, EngineError> {
        let c = self.find(id).ok_or_else(|| Self::gone(id))?;
        let code = wait_exit(c).await;
        let prefix = format!("{id}\u{0}");
        if let Some(node) = lock(&self.lost)
            .iter()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
        {
            return Err(EngineError::NodeLost(format!(
                "the node {node} running it stopped answering"
            )));
        }
        Ok(code)
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<(), EngineError> {
        self.record(format!("stop {id}"));
        if let Some(c) = self.find(id) {
            // 143: what a process that honours SIGTERM exits with
            lock(&c).end(143);
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<(), EngineError> {
        self.record(format!("remove {id}"));
        let mut all = lock(&self.containers);
        all.retain(|c| {
            let c = lock(c);
            if c.id == id {
                c.end(137);
            }
            c.id != id
        });
        Ok(())
    }

    async fn published_port(&self, id: &str, _port: u16) -> Result<Option<u16>, EngineError> {
        let c = self.find(id).ok_or_else(|| Self::gone(id))?;
        let c = lock(&c);
        // Docker publishes no port for a container that is not running.
        if c.exit_code().is_some() {
            return Ok(None);
        }
        Ok(c.server.as_ref().map(|(port, _)| *port))
    }

    async fn containers_labelled(
        &self,
        label: &str,
        value: &str,
    ) -> Result<Vec<Listed>, EngineError> {
        let all = lock(&self.containers);
        Ok(all
            .iter()
            .map(|c| lock(c))
            .filter(|c| c.spec.labels.get(label).is_some_and(|v| v == value))
            .map(|c| (c.id.clone(), c.spec.name.clone(), c.spec.labels.clone()))
            .collect())
    }

    async fn sweep(&self, owner: &str, keep: Keep<'_>) -> Result<usize, EngineError> {
        self.record(format!("sweep {owner}"));
        let mut removed = 0;
        for (id, _, labels) in self.containers_labelled(OWNER_LABEL, owner).await? {
            if !keep(&labels) {
                self.remove(&id).await?;
                removed += 1;
            }
        }
        let mut networks = lock(&self.networks);
        let before = networks.len();
        networks.retain(|_, labels| {
            labels.get(OWNER_LABEL).map(String::as_str) != Some(owner) || keep(labels)
        });
        Ok(removed + before - networks.len())
    }

    fn logs(&self, id: &str, follow: bool, _since: i64) -> BoxStream<'static, LogLine> {
        let Some(c) = self.find(id) else {
            return futures_util::stream::empty().boxed();
        };
        let now = crate::aws::time::now_epoch();
        let lines: Vec<LogLine> = lock(&c)
            .script
            .logs
            .iter()
            .map(|text| LogLine {
                timestamp_ms: (now * 1000.0) as i64,
                stderr: false,
                text: text.clone(),
            })
            .collect();
        let printed = futures_util::stream::iter(lines);
        if !follow {
            return printed.boxed();
        }
        // Following ends when the container exits, as Docker's log stream does.
        let until_exit =
            futures_util::stream::once(wait_exit(c)).filter_map(|_| std::future::ready(None));
        printed.chain(until_exit).boxed()
    }
}

/// Services on `dir` whose runtime is `fake`: what the api layer calls, without Docker.
pub fn services(dir: &std::path::Path, fake: &Arc<FakeEngine>) -> crate::service::Services {
    let config = crate::config::Config::for_tests(dir.to_path_buf());
    let mut s = crate::service::Services::open(config).expect("services open");
    s.use_engine(fake.clone());
    s
}

/// Polls `probe` every 20 ms until it gives Some, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

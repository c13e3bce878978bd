//! A notebook instance's container: started from the `jupyter` image with the lifecycle scripts,
//! the persistent volume, the SDK's configuration and the resource metadata a real instance has;
//! watched while it serves; stopped (the volume stays) and deleted (the volume goes).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use super::state::{Derived, parse_status};
use super::supervise::{save_logged, watch};
use super::{KIND, LOG_GROUP, Server, base_path, lifecycle};
use crate::aws::model::typed::sagemaker::NotebookInstanceStatus as S;
use crate::runtime::engine::{ARN_LABEL, Bind, ContainerSpec, Engine, OWNER_LABEL};
use crate::runtime::instance_types;
use crate::runtime::uris::ImageChoice;
use crate::service::Services;
use crate::service::logs::{LogWriter, Resume};
use crate::store::resources::Resource;

/// The port Jupyter listens on inside the container.
pub const JUPYTER_PORT: u16 = 8888;
/// The emulator image notebook instances and Studio apps run.
pub const JUPYTER_IMAGE: ImageChoice = ImageChoice::Emulated { recipe: "jupyter" };
/// SageMaker's limit for each lifecycle script.
const LIFECYCLE_TIMEOUT_SECS: u64 = 300;
/// Where the instance's files live (a Docker volume) and the read-only examples beside them.
pub(super) const HOME: &str = "/home/ec2-user/SageMaker";
const EXAMPLES: &str = "/home/ec2-user/SageMaker/SageMaker Examples";
/// What sagebox writes for the container, mounted read-only.
const SETUP_DIR: &str = "/etc/sagebox/notebook";

/// Written for every start: runs the lifecycle scripts as SageMaker does (as root, from /, with
/// bash, each within the time limit), registers the conda-style kernel name SageMaker's
/// notebooks ask for, then starts Jupyter through the image's entry point.
const START_SCRIPT: &str = r#"#!/bin/bash
# Written by sagebox at each start of this notebook instance.
hook() {
    local name=$1 file=$2
    [ -f "$file" ] || return 0
    echo "[sagebox-lifecycle] $name begin"
    (cd / && timeout -k 5 "$SAGEBOX_LIFECYCLE_TIMEOUT" /bin/bash "$file") 2>&1
    local rc=$?
    echo "[sagebox-lifecycle] $name end $rc"
    [ "$rc" -eq 0 ] || exit 3
}
hook OnCreate /etc/sagebox/notebook/on-create.sh
hook OnStart /etc/sagebox/notebook/on-start.sh
k=/opt/venv/share/jupyter/kernels/conda_python3
mkdir -p "$k" && cat > "$k/kernel.json" <<'JSON'
{"argv": ["/opt/venv/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "conda_python3", "language": "python", "metadata": {"debugger": true}}
JSON
exec /usr/bin/python3 -m sagebox_container.cli
"#;

const MARKER: &str = "[sagebox-lifecycle] ";

pub(super) fn resource_name(services: &Services, name: &str) -> String {
    format!(
        "sagebox-notebook-{}-{}",
        services.runtime.owner,
        name.to_ascii_lowercase()
    )
}

pub(super) fn instance_dir(services: &Services, name: &str) -> PathBuf {
    services
        .config
        .data_dir
        .join("notebooks")
        .join("instances")
        .join(name.to_ascii_lowercase())
}

/// What the lifecycle scripts did, as read from the container's output.
#[derive(Debug, Default)]
pub(super) struct HookState {
    running: Option<String>,
    failed: Option<(String, i32)>,
}

/// Writes the files the container mounts: the start script, this start's lifecycle scripts,
/// the resource metadata and the SDK configuration.
fn write_setup(
    dir: &Path,
    nb: &Resource,
    scripts: &lifecycle::Scripts,
    first_start: bool,
    bucket: &str,
) -> std::io::Result<()> {
    let setup = dir.join("setup");
    std::fs::create_dir_all(&setup)?;
    std::fs::write(setup.join("start.sh"), START_SCRIPT)?;
    for (file, body, wanted) in [
        ("on-create.sh", &scripts.on_create, first_start),
        ("on-start.sh", &scripts.on_start, true),
    ] {
        let path = setup.join(file);
        match body.as_ref().filter(|_| wanted) {
            Some(b) => std::fs::write(&path, b)?,
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
    }
    let metadata = dir.join("metadata");
    std::fs::create_dir_all(&metadata)?;
    std::fs::write(
        metadata.join("resource-metadata.json"),
        serde_json::to_vec(&json!({ "ResourceArn": nb.arn, "ResourceName": nb.name }))?,
    )?;
    let sdk = dir.join("sdk-config");
    std::fs::create_dir_all(&sdk)?;
    std::fs::write(sdk.join("config.yaml"), crate::hostenv::sdk_config(bucket))?;
    Ok(())
}

/// The FailureReason for a container that exited before Jupyter answered.
fn failure_reason(
    services: &Services,
    nb: &Resource,
    hooks: &HookState,
    code: i64,
    last: &[String],
) -> String {
    if let Some((hook, rc)) = &hooks.failed {
        let lc = Derived::of(&nb.name, &nb.derived)
            .lifecycle_config_name
            .unwrap_or_default();
        let lc_arn = services.sagemaker_arn("notebook-instance-lifecycle-config", &lc);
        let what = if *rc == 124 || *rc == 137 {
            format!("took longer than {} minutes", LIFECYCLE_TIMEOUT_SECS / 60)
        } else {
            format!("failed (its {hook} script exited with code {rc})")
        };
        return format!(
            "Notebook Instance Lifecycle Config '{lc_arn}' for Notebook Instance '{}' {what}. Please check your CloudWatch logs ({LOG_GROUP}, stream {}/LifecycleConfig{hook}).",
            nb.arn, nb.name
        );
    }
    let tail = if last.is_empty() {
        "It wrote no log lines.".to_string()
    } else {
        format!("Last log lines: {}", last.join(" | "))
    };
    format!("Jupyter exited with code {code} before it was ready. {tail}")
}

/// Copies the container's output to CloudWatch: lifecycle script output to
/// `<name>/LifecycleConfigOnCreate` / `OnStart`, the rest to `<name>/jupyter.log`.
///
/// A re-adopted container (`resumed`) continues from the last line those streams hold, so what
/// it printed while sagebox was down is stored too, once. Markers are never stored, so the
/// replayed ones pass through and bring the hook state up to date.
pub(super) fn pump(
    services: &Services,
    engine: &Engine,
    id: &str,
    name: &str,
    resumed: bool,
    hooks: Arc<Mutex<HookState>>,
) -> tokio::task::JoinHandle<()> {
    let (services, engine, id) = (services.clone(), engine.clone(), id.to_string());
    let name = name.to_string();
    tokio::spawn(async move {
        let mut resume = Resume::default();
        if resumed {
            let streams = [
                "jupyter.log",
                "LifecycleConfigOnCreate",
                "LifecycleConfigOnStart",
            ]
            .map(|s| format!("{name}/{s}"));
            resume = services.log_resume_or_now(LOG_GROUP, &streams).await;
        }
        let mut lines = Box::pin(engine.logs(&id, true, resume.since));
        let mut writers: HashMap<String, (LogWriter, tokio::task::JoinHandle<()>)> = HashMap::new();
        while let Some(line) = lines.next().await {
            if !line.text.starts_with(MARKER)
                && resume.already_stored(line.timestamp_ms, &line.text)
            {
                continue;
            }
            let stream = if let Some(rest) = line.text.strip_prefix(MARKER) {
                let mut parts = rest.split_whitespace();
                let (hook, what) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let mut st = hooks.lock().unwrap_or_else(|e| e.into_inner());
                if what == "begin" {
                    st.running = Some(hook.to_string());
                } else {
                    st.running = None;
                    let rc: i32 = parts.next().and_then(|c| c.parse().ok()).unwrap_or(-1);
                    if rc != 0 {
                        st.failed = Some((hook.to_string(), rc));
                    }
                }
                continue;
            } else {
                let st = hooks.lock().unwrap_or_else(|e| e.into_inner());
                match &st.running {
                    Some(hook) => format!("{name}/LifecycleConfig{hook}"),
                    None => format!("{name}/jupyter.log"),
                }
            };
            let (writer, _) = writers
                .entry(stream.clone())
                .or_insert_with(|| LogWriter::new(&services, LOG_GROUP, &stream));
            writer.event(line.timestamp_ms, line.text);
        }
        for (stream, (writer, task)) in writers {
            drop(writer);
            if let Err(e) = task.await {
                tracing::debug!("notebook {name}: log writer of {stream} ended abnormally: {e}");
            }
        }
    })
}

/// Pending → InService (or Failed): image, volume, container, lifecycle scripts, Jupyter.
pub(super) async fn run_start(services: Services, name: String) {
    let lock = services.notebooks.lock(&name);
    let _turn = lock.lock().await;
    let Ok(Some(nb)) = services.store.resource(KIND, &name).await else {
        return;
    };
    if parse_status(nb.status.as_deref()) != Some(S::Pending) {
        return;
    }
    match start(&services, &nb).await {
        Ok(server) => {
            let server = Arc::new(server);
            services
                .notebooks
                .set_server(&nb.name, Some(server.clone()));
            let url = services.notebook_url(&nb.name);
            save_logged(&services, &nb.name, S::InService, |d| {
                d.insert("Url".into(), json!(url));
                d.insert("_Created".into(), json!(true));
                d.insert("_Container".into(), json!(server.container_id));
                d.insert("_Token".into(), json!(server.token));
                d.remove("FailureReason");
            })
            .await;
            watch(&services, &nb.name, &server.container_id);
        }
        Err(reason) => {
            tracing::warn!(notebook = %nb.name, "notebook instance failed: {reason}");
            save_logged(&services, &nb.name, S::Failed, |d| {
                d.insert("FailureReason".into(), json!(reason));
                d.remove("_Container");
            })
            .await;
        }
    }
}

/// Pending → InService: the notebook image, the lifecycle scripts and the instance's files,
/// its volume, then the container, until Jupyter answers.
async fn start(services: &Services, nb: &Resource) -> Result<Server, String> {
    let engine = services
        .runtime
        .engine()
        .await
        .map_err(|e| format!("Docker is not available: {e}"))?;
    let image = build_notebook_image(services, nb).await?;
    let scripts = lifecycle_scripts(services, nb).await?;
    let files = write_instance_files(services, nb, &scripts).await?;
    let labels = HashMap::from([
        (OWNER_LABEL.to_string(), services.runtime.owner.clone()),
        (ARN_LABEL.to_string(), nb.arn.clone()),
    ]);
    prepare_volume(services, &engine, nb, &labels).await?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let spec = container_spec(services, nb, image, &token, labels, &files);
    let id = engine
        .run(&spec)
        .await
        .map_err(|e| format!("Cannot start the notebook container: {e}"))?;
    wait_for_jupyter(services, &engine, nb, id, token).await
}

/// The Jupyter image, built on first use; the build's progress goes to jupyter.log.
async fn build_notebook_image(services: &Services, nb: &Resource) -> Result<String, String> {
    let (progress_log, progress_task) =
        LogWriter::new(services, LOG_GROUP, &format!("{}/jupyter.log", nb.name));
    let progress: crate::runtime::images::Progress = {
        let log = progress_log.clone();
        Arc::new(move |line: &str| log.line(line))
    };
    // through the engine: the swarm's nodes pull it from the cluster's registry
    let image = match services.runtime.engine().await {
        Ok(engine) => engine
            .image_for(&JUPYTER_IMAGE, &progress)
            .await
            .map_err(|e| format!("The notebook image could not be built: {e}")),
        Err(e) => Err(format!("Docker is not available: {e}")),
    };
    drop(progress);
    drop(progress_log);
    if let Err(e) = progress_task.await {
        tracing::debug!(notebook = %nb.name, "the image progress log writer ended abnormally: {e}");
    }
    image
}

/// The OnCreate/OnStart scripts of the instance's lifecycle configuration, if it has one.
async fn lifecycle_scripts(
    services: &Services,
    nb: &Resource,
) -> Result<lifecycle::Scripts, String> {
    let Some(lc) = Derived::of(&nb.name, &nb.derived).lifecycle_config_name else {
        return Ok(lifecycle::Scripts::default());
    };
    match services.store.resource(super::lifecycle_kind(), &lc).await {
        Ok(Some(c)) => Ok(lifecycle::scripts(&c)),
        _ => Err(format!(
            "The lifecycle configuration {lc} no longer exists. Update the notebook instance with another one, or with DisassociateLifecycleConfig."
        )),
    }
}

/// Where the instance's own files and the shared example notebooks were written.
struct InstanceFiles {
    dir: PathBuf,
    examples: PathBuf,
}

/// The default SageMaker bucket, the instance's setup files (scripts, metadata, SDK config)
/// and the example notebooks.
async fn write_instance_files(
    services: &Services,
    nb: &Resource,
    scripts: &lifecycle::Scripts,
) -> Result<InstanceFiles, String> {
    let first_start = Derived::of(&nb.name, &nb.derived).created != Some(true);
    let bucket = format!(
        "sagemaker-{}-{}",
        services.config.region, services.config.account_id
    );
    match services.objects.create_bucket(&bucket, None).await {
        Ok(()) | Err(crate::service::objects::ObjectError::BucketAlreadyOwnedByYou) => {}
        Err(e) => tracing::debug!("cannot create the default bucket {bucket}: {e}"),
    }
    let dir = instance_dir(services, &nb.name);
    write_setup(&dir, nb, scripts, first_start, &bucket).map_err(|e| {
        format!(
            "Cannot write the instance's files under {}: {e}",
            dir.display()
        )
    })?;
    let examples = super::samples::write_examples(&services.config.data_dir)
        .map_err(|e| format!("Cannot write the example notebooks: {e}"))?;
    Ok(InstanceFiles { dir, examples })
}

/// The instance's ML storage volume (kept across stops), and no container left from an
/// earlier start (sagebox stopped mid-way).
async fn prepare_volume(
    services: &Services,
    engine: &Engine,
    nb: &Resource,
    labels: &HashMap<String, String>,
) -> Result<(), String> {
    engine
        .create_volume(&resource_name(services, &nb.name), labels.clone())
        .await
        .map_err(|e| format!("Cannot create the instance's volume: {e}"))?;
    for (id, _, l) in engine
        .containers_labelled(ARN_LABEL, &nb.arn)
        .await
        .unwrap_or_default()
    {
        if l.get(OWNER_LABEL) == Some(&services.runtime.owner)
            && let Err(e) = engine.remove(&id).await
        {
            // the new container gets another name, so a leftover only costs space until the sweep
            tracing::debug!(notebook = %nb.name, "cannot remove leftover container {id}: {e}");
        }
    }
    Ok(())
}

/// The Jupyter container: the volume at HOME, the setup files and examples read-only, the
/// instance type's CPUs and memory.
fn container_spec(
    services: &Services,
    nb: &Resource,
    image: String,
    token: &str,
    labels: HashMap<String, String>,
    files: &InstanceFiles,
) -> ContainerSpec {
    let container_name = resource_name(services, &nb.name);
    let instance_type = Derived::of(&nb.name, &nb.derived)
        .instance_type
        .unwrap_or_else(|| "ml.t3.medium".to_string());
    let allot = instance_types::allot(&instance_type, &services.runtime.host);
    let mut env = services.callback_env();
    env.extend([
        ("JUPYTER_TOKEN".to_string(), token.to_string()),
        ("JUPYTER_BASE_URL".to_string(), base_path(&nb.name)),
        (
            "JUPYTER_ARGS".to_string(),
            "--ServerApp.allow_origin=* --ServerApp.terminals_enabled=True".to_string(),
        ),
        (
            "SAGEBOX_LIFECYCLE_TIMEOUT".to_string(),
            LIFECYCLE_TIMEOUT_SECS.to_string(),
        ),
        ("NOTEBOOK_DIR".to_string(), HOME.to_string()),
    ]);
    let bind = |host: &Path, container: &str| Bind {
        host: host.display().to_string(),
        container: container.to_string(),
        read_only: true,
    };
    let dir = &files.dir;
    ContainerSpec {
        name: container_name.clone(),
        image,
        entrypoint: Some(vec![
            "/usr/bin/tini".into(),
            "--".into(),
            "/bin/bash".into(),
            format!("{SETUP_DIR}/start.sh"),
        ]),
        env,
        binds: vec![
            Bind {
                host: container_name,
                container: HOME.into(),
                read_only: false,
            },
            bind(&files.examples, EXAMPLES),
            bind(&dir.join("setup"), SETUP_DIR),
            bind(&dir.join("metadata"), "/opt/ml/metadata"),
            bind(&dir.join("sdk-config"), "/etc/xdg/sagemaker"),
        ],
        labels,
        hostname: Some(nb.name.to_ascii_lowercase()),
        publish: vec![JUPYTER_PORT],
        host_gateway: true,
        cpus: Some(allot.cpus),
        memory_mib: Some(allot.memory_mib),
        ..Default::default()
    }
}

/// Copies the container's output to the instance's log streams and waits until Jupyter
/// answers; if the container exits or Jupyter stays silent, it goes and the instance fails.
async fn wait_for_jupyter(
    services: &Services,
    engine: &Engine,
    nb: &Resource,
    id: String,
    token: String,
) -> Result<Server, String> {
    let hooks = Arc::new(Mutex::new(HookState::default()));
    let pumped = pump(services, engine, &id, &nb.name, false, hooks.clone());
    let timeout = Duration::from_secs(2 * LIFECYCLE_TIMEOUT_SECS + 180);
    match wait_ready(services, engine, &id, &base_path(&nb.name), &token, timeout).await {
        Ok(port) => Ok(Server {
            port,
            token,
            container_id: id,
        }),
        Err(NotReady { code, last }) => {
            // the pump ends with the container; waiting longer would only delay the Failed
            tokio::time::timeout(Duration::from_secs(5), pumped)
                .await
                .ok();
            let hooks = hooks.lock().unwrap_or_else(|e| e.into_inner());
            let reason = match code {
                Some(code) => failure_reason(services, nb, &hooks, code, &last),
                None => format!(
                    "Jupyter did not answer within {} seconds. Last log lines: {}",
                    timeout.as_secs(),
                    last.join(" | ")
                ),
            };
            Err(reason)
        }
    }
}

/// Why a Jupyter container never became ready: its exit code (None: still running at the
/// deadline) and its last log lines. The container is gone by then.
pub(crate) struct NotReady {
    pub code: Option<i64>,
    pub last: Vec<String>,
}

/// Polls the Jupyter under `base` (its base_url) until /api/status answers 200: the published
/// port. When the container exits first or the deadline passes, its last lines are kept and the
/// container removed. Notebook instances and Studio apps both wait this way.
pub(crate) async fn wait_ready(
    services: &Services,
    engine: &Engine,
    id: &str,
    base: &str,
    token: &str,
    timeout: Duration,
) -> Result<u16, NotReady> {
    let code = match poll_ready(services, engine, id, base, token, timeout).await {
        Ok(port) => return Ok(port),
        Err(code) => code,
    };
    let last = engine.last_lines(id, 8).await;
    if let Err(e) = engine.remove(id).await {
        // best effort: the startup sweep removes containers nothing claims
        tracing::debug!("cannot remove the Jupyter container {id} that never became ready: {e}");
    }
    Err(NotReady { code, last })
}

async fn poll_ready(
    services: &Services,
    engine: &Engine,
    id: &str,
    base: &str,
    token: &str,
    timeout: Duration,
) -> Result<u16, Option<i64>> {
    let started = Instant::now();
    let mut port = 0;
    loop {
        if port == 0 {
            port = engine
                .published_port(id, JUPYTER_PORT)
                .await
                .ok()
                .flatten()
                .unwrap_or(0);
        }
        if port != 0 && jupyter_answers(services, port, base, token).await {
            return Ok(port);
        }
        if engine.running(id).await.ok().flatten() != Some(true) {
            return Err(Some(engine.wait(id).await.unwrap_or(-1)));
        }
        if started.elapsed() >= timeout {
            return Err(None);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Whether Jupyter answers within `patience`, asked every half second: a container that kept
/// running through a sagebox restart is taken back only if it answers, and on a busy host a
/// single two-second try can miss a Jupyter that is merely slow.
pub(crate) async fn jupyter_answers_within(
    services: &Services,
    port: u16,
    base: &str,
    token: &str,
    patience: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if jupyter_answers(services, port, base, token).await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Whether the Jupyter published on `port`, with base_url `base`, answers its status API.
pub(crate) async fn jupyter_answers(
    services: &Services,
    port: u16,
    base: &str,
    token: &str,
) -> bool {
    let Ok(req) = http::Request::get(format!("http://127.0.0.1:{port}{base}api/status"))
        .header("authorization", format!("token {token}"))
        .body(axum::body::Body::empty())
    else {
        return false;
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), services.hosting.client.request(req)).await,
        Ok(Ok(resp)) if resp.status() == http::StatusCode::OK
    )
}

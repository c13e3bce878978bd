//! Building the emulator images on an engine that may have no registry (emulator-images/README.md
//! is the recipe format): the base is a Debian rootfs made by mmdebstrap from the host's own apt
//! sources and `docker import`ed; every other image is a classic `docker build` on that base, with
//! PyPI packages fetched beforehand into a wheelhouse by the host's pip. An image whose recipe hash
//! is already present is never rebuilt. Progress goes to a callback, line by line.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::io::AsyncBufReadExt;

use super::docker::{BuildLocks, DockerEngine};
use super::engine::EngineError;
use super::recipes::{self, Recipe};

pub const HASH_LABEL: &str = "sagebox.recipe-hash";

/// Receives one line of progress at a time (image builds take minutes).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no image recipe called {0:?}; sagebox has: {1}")]
    UnknownRecipe(String, String),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("building {image} failed: {detail}")]
    Failed { image: String, detail: String },
    #[error("{0}")]
    Missing(String),
}

fn failed(image: &str, detail: impl Into<String>) -> BuildError {
    BuildError::Failed {
        image: image.to_string(),
        detail: detail.into(),
    }
}

/// Which images are present, for `sagebox images list`, `doctor` and the console.
#[derive(Debug, Clone, Serialize)]
pub struct ImageStatus {
    pub name: String,
    pub reference: String,
    pub present: bool,
    /// An image of an older recipe is present (it will be rebuilt on next use).
    pub outdated_present: bool,
}

/// The debian sources file mmdebstrap pastes into the rootfs (so the host's mirror is used).
fn apt_sources() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SAGEBOX_APT_SOURCES") {
        return Some(PathBuf::from(p));
    }
    [
        "/etc/apt/sources.list.d/debian.sources",
        "/etc/apt/sources.list",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

/// The host's apt sources with its Debian release swapped for `suite` (a base on another
/// release than the host's: trixie's framework base on a bookworm host), in both the deb822
/// (`Suites:`) and the one-line (`deb URI suite …`) formats; `-updates`, `-security` and other
/// suffixes follow.
fn sources_for_suite(text: &str, suite: &str) -> String {
    let host = text
        .lines()
        .find_map(|l| {
            let l = l.trim();
            if let Some(rest) = l.strip_prefix("Suites:") {
                return rest.split_whitespace().next().map(str::to_string);
            }
            let mut words = l.split_whitespace().filter(|w| !w.starts_with('['));
            match words.next() {
                Some("deb" | "deb-src") => words.nth(1).map(str::to_string),
                _ => None,
            }
        })
        .map(|s| s.split('-').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    if host.is_empty() || host == suite {
        return text.to_string();
    }
    let swap = |word: &str| match word.strip_prefix(host.as_str()) {
        Some(rest) if rest.is_empty() || rest.starts_with('-') => format!("{suite}{rest}"),
        _ => word.to_string(),
    };
    let mut out = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let swapped = if let Some(rest) = trimmed.strip_prefix("Suites:") {
            let words: Vec<String> = rest.split_whitespace().map(swap).collect();
            format!("Suites: {}", words.join(" "))
        } else if trimmed.starts_with("deb ") || trimmed.starts_with("deb-src ") {
            line.split_whitespace()
                .map(swap)
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            line.to_string()
        };
        out.push_str(&swapped);
        out.push('\n');
    }
    out
}

/// Whether `program` is on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> std::io::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("sagebox-{what}-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a leftover scratch directory costs disk, not correctness.
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn write_files(dir: &Path, files: &[(&str, &[u8])]) -> std::io::Result<()> {
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// A host-wide lock on building one image, so that two sagebox processes on one machine (a
/// server and `sagebox images build`, or two test servers) never build the same image twice at
/// once: the second waits, then finds the image present. Released when dropped. Without a lock
/// file (an unwritable temp dir) builds simply go ahead unlocked.
struct HostLock {
    _file: Option<std::fs::File>,
}

impl HostLock {
    async fn acquire(name: &str, progress: &Progress) -> HostLock {
        let dir = std::env::temp_dir().join("sagebox-image-locks");
        let path = dir.join(format!("{name}.lock"));
        let file = std::fs::create_dir_all(&dir).and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
        });
        let Ok(file) = file else {
            return HostLock { _file: None };
        };
        match file.try_lock() {
            Ok(()) => return HostLock { _file: Some(file) },
            Err(std::fs::TryLockError::WouldBlock) => progress(&format!(
                "[{name}] another sagebox process is building this image; waiting for it"
            )),
            Err(std::fs::TryLockError::Error(_)) => return HostLock { _file: None },
        }
        match tokio::task::spawn_blocking(move || file.lock().map(|()| file)).await {
            Ok(Ok(file)) => HostLock { _file: Some(file) },
            _ => HostLock { _file: None },
        }
    }
}

/// Builds and lists the emulator images; one build per image at a time.
#[derive(Clone)]
pub struct ImageBuilder {
    engine: DockerEngine,
    locks: BuildLocks,
}

impl ImageBuilder {
    pub fn new(engine: DockerEngine) -> ImageBuilder {
        ImageBuilder {
            locks: engine.build_locks(),
            engine,
        }
    }

    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(name.to_string()).or_default().clone()
    }

    fn recipe(name: &str) -> Result<Recipe, BuildError> {
        Recipe::get(name).ok_or_else(|| {
            let names: Vec<&str> = recipes::images().iter().map(|r| r.name).collect();
            BuildError::UnknownRecipe(name.to_string(), names.join(", "))
        })
    }

    async fn present(&self, recipe: &Recipe) -> Result<bool, BuildError> {
        Ok(self
            .engine
            .image_labels(&recipe.reference())
            .await?
            .is_some_and(|labels| labels.get(HASH_LABEL) == Some(&recipe.hash())))
    }

    /// The state of every base and every image recipe.
    pub async fn list(&self) -> Result<Vec<ImageStatus>, BuildError> {
        let mut out = Vec::new();
        for recipe in recipes::bases().into_iter().chain(recipes::images()) {
            let present = self.present(&recipe).await?;
            let outdated_present = !present
                && !recipe.is_base()
                && self.engine.image_labels(&recipe.latest()).await?.is_some();
            out.push(ImageStatus {
                name: recipe.name.to_string(),
                reference: recipe.reference(),
                present,
                outdated_present,
            });
        }
        Ok(out)
    }

    /// The image for recipe `name`, built first (after its parents) if its recipe changed;
    /// returns its reference.
    pub async fn ensure(&self, name: &str, progress: &Progress) -> Result<String, BuildError> {
        let recipe = Self::recipe(name)?;
        self.ensure_recipe(recipe, progress).await
    }

    fn ensure_recipe<'a>(
        &'a self,
        recipe: Recipe,
        progress: &'a Progress,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<String, BuildError>> + Send + 'a>> {
        Box::pin(async move {
            if recipe.is_base() {
                return self.ensure_base(&recipe, progress).await;
            }
            let lock = self.lock_for(recipe.name);
            let _guard = lock.lock().await;
            let _host = HostLock::acquire(recipe.name, progress).await;
            if !self.present(&recipe).await? {
                let parent = recipe.parent().ok_or_else(|| {
                    BuildError::Missing(format!(
                        "the recipe {} names a parent sagebox has no recipe for",
                        recipe.name
                    ))
                })?;
                let base = self.ensure_recipe(parent, progress).await?;
                self.build_image(&recipe, &base, progress).await?;
            }
            let reference = recipe.reference();
            self.engine
                .docker()
                .tag_image(
                    &reference,
                    Some(
                        TagImageOptionsBuilder::default()
                            .repo(&format!("sagebox/{}", recipe.name))
                            .tag("latest")
                            .build(),
                    ),
                )
                .await
                .map_err(EngineError::from)?;
            Ok(reference)
        })
    }

    async fn ensure_base(
        &self,
        recipe: &Recipe,
        progress: &Progress,
    ) -> Result<String, BuildError> {
        let lock = self.lock_for(recipe.name);
        let _guard = lock.lock().await;
        let _host = HostLock::acquire(recipe.name, progress).await;
        let reference = recipe.reference();
        if !self.present(recipe).await? {
            self.build_base(recipe, progress).await?;
        }
        Ok(reference)
    }

    /// mmdebstrap (minbase + packages.txt + the overlay) | docker import.
    async fn build_base(&self, recipe: &Recipe, progress: &Progress) -> Result<(), BuildError> {
        let reference = recipe.reference();
        if !on_path("mmdebstrap") {
            return Err(BuildError::Missing(format!(
                "building {reference} needs mmdebstrap (Debian's rootfs builder): `sudo apt-get install mmdebstrap`, then run `sagebox images build` again"
            )));
        }
        let sources = apt_sources().ok_or_else(|| {
            BuildError::Missing(
                "building the base image needs the host's Debian apt sources (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list), or SAGEBOX_APT_SOURCES pointing at a sources file"
                    .into(),
            )
        })?;
        let name = recipe.name;
        let suite = recipe.suite();
        let overlay = Scratch::new("overlay").map_err(|e| failed(&reference, e.to_string()))?;
        write_files(&overlay.0, &Recipe::overlay())
            .map_err(|e| failed(&reference, e.to_string()))?;
        let sources_text = std::fs::read_to_string(&sources).map_err(|e| {
            failed(
                &reference,
                format!("cannot read {}: {e}", sources.display()),
            )
        })?;
        let suite_sources = overlay.0.with_extension("sources");
        std::fs::write(&suite_sources, sources_for_suite(&sources_text, suite))
            .map_err(|e| failed(&reference, e.to_string()))?;
        let _sources_guard = ScratchFile(suite_sources.clone());
        progress(&format!(
            "[{name}] building {reference}: mmdebstrap {suite} ({} packages) | docker import",
            recipe.packages().len()
        ));
        let mut cmd = tokio::process::Command::new("mmdebstrap");
        cmd.arg("--variant=minbase")
            .arg(format!("--include={}", recipe.packages().join(",")));
        for opt in [
            "path-exclude=/usr/share/doc/*",
            "path-include=/usr/share/doc/*/copyright",
            "path-exclude=/usr/share/man/*",
            "path-exclude=/usr/share/info/*",
            "path-exclude=/usr/share/locale/*",
        ] {
            cmd.arg(format!("--dpkgopt={opt}"));
        }
        cmd.arg(format!(
            "--customize-hook=sync-in {} /",
            overlay.0.display()
        ))
        .arg(suite)
        .arg("-")
        .arg(&suite_sources)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| failed(&reference, format!("cannot run mmdebstrap: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| failed(&reference, "no stdout"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| failed(&reference, "no stderr"))?;
        let tail = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let stderr_task = {
            let progress = progress.clone();
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    progress(&format!("[{name}] {line}"));
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    t.push(line);
                    let excess = t.len().saturating_sub(20);
                    t.drain(..excess);
                }
            })
        };
        let hash = recipe.hash();
        let tag = hash[..12].to_string();
        let options = CreateImageOptionsBuilder::default()
            .from_src("-")
            .repo(&format!("sagebox/{name}"))
            .tag(&tag)
            .changes(vec![
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
                "ENV LANG=C.UTF-8".into(),
                "WORKDIR /".into(),
                r#"ENTRYPOINT ["/usr/bin/tini", "--", "python3", "-m", "sagebox_container.cli"]"#
                    .into(),
                format!("LABEL {HASH_LABEL}={hash}"),
            ])
            .build();
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(stdout));
        let long = self.engine.long();
        let mut import = long.create_image(Some(options), Some(body), None);
        let mut import_error = None;
        while let Some(item) = import.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        import_error = Some(e);
                    }
                }
                Err(e) => import_error = Some(e.to_string()),
            }
        }
        let status = child
            .wait()
            .await
            .map_err(|e| failed(&reference, e.to_string()))?;
        // The task only collects stderr lines; a panic there loses lines, not the build's result.
        stderr_task.await.ok();
        if !status.success() {
            let t = tail.lock().unwrap_or_else(|e| e.into_inner()).join("\n");
            return Err(failed(
                &reference,
                format!("mmdebstrap exited with {status}; its last lines:\n{t}"),
            ));
        }
        if let Some(e) = import_error {
            return Err(failed(&reference, format!("docker import: {e}")));
        }
        progress(&format!("[{name}] {reference} ready"));
        Ok(())
    }

    /// Wheelhouse, then `docker build` of the recipe folder on `base`.
    async fn build_image(
        &self,
        recipe: &Recipe,
        base: &str,
        progress: &Progress,
    ) -> Result<(), BuildError> {
        let reference = recipe.reference();
        let name = recipe.name;
        progress(&format!("[{name}] building {reference} on {base}"));
        let ctx = Scratch::new("context").map_err(|e| failed(&reference, e.to_string()))?;
        write_files(&ctx.0, &recipe.files()).map_err(|e| failed(&reference, e.to_string()))?;
        let wheels = ctx.0.join("wheels");
        std::fs::create_dir_all(&wheels).map_err(|e| failed(&reference, e.to_string()))?;
        if recipe.file("requirements.txt").is_some() {
            let requirements = ctx.0.join("requirements.txt");
            super::wheelhouse::fill(name, recipe.python(), &requirements, &wheels, progress)
                .await
                .map_err(|e| failed(&reference, e))?;
        }
        let tar_path = ctx.0.with_extension("tar");
        let dir = ctx.0.clone();
        let tar_out = tar_path.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let file = std::fs::File::create(&tar_out)?;
            let mut builder = tar::Builder::new(std::io::BufWriter::new(file));
            builder.follow_symlinks(true);
            builder.append_dir_all(".", &dir)?;
            builder
                .into_inner()?
                .into_inner()
                .map_err(|e| e.into_error())?
                .sync_all()
        })
        .await
        .map_err(|e| failed(&reference, e.to_string()))?
        .map_err(|e| failed(&reference, format!("cannot pack the build context: {e}")))?;
        let _tar_guard = ScratchFile(tar_path.clone());
        let file = tokio::fs::File::open(&tar_path)
            .await
            .map_err(|e| failed(&reference, e.to_string()))?;
        let hash = recipe.hash();
        let options = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(&reference)
            .rm(true)
            .forcerm(true)
            .buildargs(&HashMap::from([("BASE".to_string(), base.to_string())]))
            .labels(&HashMap::from([(HASH_LABEL.to_string(), hash)]))
            .build();
        let long = self.engine.long();
        let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
        let mut build = long.build_image(options, None, Some(body));
        let mut last = Vec::<String>::new();
        let (mut last_id, mut stages) = (None::<String>, Vec::<String>::new());
        while let Some(item) = build.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(failed(&reference, format!("{e}\n{}", last.join("\n"))));
                    }
                    if let Some(text) = info.stream {
                        for line in text.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                            if let Some(id) = line.strip_prefix(" ---> ") {
                                if id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                                    last_id = Some(id.to_string());
                                }
                                continue;
                            }
                            if line.starts_with("Removing intermediate") {
                                continue;
                            }
                            // A FROM after the first step starts a new stage: the image before
                            // it was the previous stage's result.
                            if line.starts_with("Step ")
                                && line.contains(" : FROM ")
                                && let Some(id) = last_id.take()
                            {
                                stages.push(id);
                            }
                            progress(&format!("[{name}] {line}"));
                            last.push(line.to_string());
                            let excess = last.len().saturating_sub(20);
                            last.drain(..excess);
                        }
                    }
                }
                Err(e) => {
                    return Err(failed(&reference, format!("{e}\n{}", last.join("\n"))));
                }
            }
        }
        self.remove_stages(&stages).await;
        progress(&format!("[{name}] {reference} ready"));
        Ok(())
    }

    /// Removes the images of a multi-stage build's earlier stages (`ids`), which can hold a
    /// whole wheelhouse (10 GB for a GPU variant). Only an untagged image goes: the engine
    /// refuses to remove one that is tagged, used by a container or a parent of another image.
    async fn remove_stages(&self, ids: &[String]) {
        for id in ids {
            let tagged = self
                .engine
                .docker()
                .inspect_image(id)
                .await
                .map(|i| i.repo_tags.is_some_and(|t| !t.is_empty()))
                .unwrap_or(true);
            if tagged {
                continue;
            }
            let options = bollard::query_parameters::RemoveImageOptionsBuilder::default().build();
            if let Err(e) = self
                .engine
                .docker()
                .remove_image(id, Some(options), None)
                .await
            {
                tracing::debug!("removing build stage {id}: {e}");
            }
        }
    }
}

struct ScratchFile(PathBuf);

impl Drop for ScratchFile {
    fn drop(&mut self) {
        // Best effort, as for Scratch.
        std::fs::remove_file(&self.0).ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_second_builder_waits_for_the_first() {
        let name = format!("test-{}", uuid::Uuid::new_v4().simple());
        let said = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let progress: Progress = {
            let said = said.clone();
            Arc::new(move |l: &str| said.lock().unwrap().push(l.to_string()))
        };
        let first = HostLock::acquire(&name, &progress).await;
        assert!(first._file.is_some());
        let (n, p) = (name.clone(), progress.clone());
        let second = tokio::spawn(async move { HostLock::acquire(&n, &p).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !second.is_finished(),
            "the second waits while the first holds the lock"
        );
        assert!(said.lock().unwrap()[0].contains("another sagebox process"));
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("released")
            .unwrap();
        assert!(second._file.is_some());
        std::fs::remove_file(
            std::env::temp_dir()
                .join("sagebox-image-locks")
                .join(format!("{name}.lock")),
        )
        .ok();
    }

    #[test]
    fn sources_follow_the_bases_suite_in_both_formats() {
        let deb822 = "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let out = sources_for_suite(deb822, "trixie");
        assert!(out.contains("Suites: trixie trixie-updates\n"), "{out}");
        assert!(out.contains("Suites: trixie-security\n"), "{out}");
        assert!(out.contains("URIs: http://mirror.example/debian\n"));
        assert_eq!(sources_for_suite(deb822, "bookworm"), deb822);
        let legacy = "deb [arch=amd64] http://mirror.example/debian bookworm main\ndeb http://mirror.example/debian-security bookworm-security main\n";
        let out = sources_for_suite(legacy, "trixie");
        assert_eq!(
            out,
            "deb [arch=amd64] http://mirror.example/debian trixie main\ndeb http://mirror.example/debian-security trixie-security main\n"
        );
    }
}

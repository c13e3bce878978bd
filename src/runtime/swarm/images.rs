//! Images for the swarm's nodes: the image resolved on this machine's engine (built or pulled
//! as for the local engine), with the agent laid over it as one more layer, pushed to the
//! cluster's registry under a tag that names the agent, so that every node pulls the same
//! thing and a new sagebox binary gives new tags.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use super::service::{AGENT_PATH, agent_prefix};
use crate::runtime::images::Progress;
use crate::runtime::registry::{self, Overlay, Target};

/// Where the agent's own shared libraries go, so that it runs in any image of this machine's
/// architecture: a static busybox, an older distribution, one with no libc at all.
pub const AGENT_LIBS: &str = "/opt/sagebox/lib";

/// The shared libraries this binary loads (`ldd`'s answer): (file name, where it is here), the
/// dynamic loader among them. Empty when `ldd` cannot tell (a static binary needs none).
fn shared_libraries(exe: &std::path::Path) -> Vec<(String, PathBuf)> {
    let Ok(out) = std::process::Command::new("ldd").arg(exe).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
            let path = match line.split_once("=>") {
                Some((_, right)) => right.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            let path = PathBuf::from(path);
            let name = path.file_name()?.to_string_lossy().into_owned();
            path.is_absolute().then_some((name, path))
        })
        .collect()
}

/// The words that start the agent: through the loader and libraries it brought when it has
/// them, so the image's own (if any) do not matter.
pub fn agent_command(libraries: &[(String, PathBuf)]) -> Vec<String> {
    let loader = libraries
        .iter()
        .find(|(name, _)| name.starts_with("ld-linux"));
    let mut words = match loader {
        Some((name, _)) => vec![
            format!("{AGENT_LIBS}/{name}"),
            "--library-path".to_string(),
            AGENT_LIBS.to_string(),
            AGENT_PATH.to_string(),
        ],
        None => vec![AGENT_PATH.to_string()],
    };
    words.extend(agent_prefix().into_iter().skip(1));
    words
}

/// The agent layer: a tar holding this very binary at `AGENT_PATH` and its shared libraries
/// under `AGENT_LIBS`, with fixed times and owners, so that the same binary gives the same
/// digest (a registry has it once).
pub fn agent_layer(dir: &std::path::Path) -> Result<Overlay, String> {
    let exe = std::env::current_exe()
        .map_err(|e| format!("cannot find sagebox's own binary for the agent layer: {e}"))?;
    let libraries = shared_libraries(&exe);
    let path = dir.join(format!("sagebox-agent-layer-{}.tar", std::process::id()));
    let file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let hashing = HashingWriter {
        inner: std::io::BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut tar = tar::Builder::new(hashing);
    let fail = |e: std::io::Error| format!("cannot write the agent layer: {e}");
    let relative = AGENT_PATH.trim_start_matches('/');
    let libs = AGENT_LIBS.trim_start_matches('/');
    let mut dirs: Vec<String> = Vec::new();
    let mut parent = String::new();
    for part in relative.split('/').take(relative.matches('/').count()) {
        parent.push_str(part);
        parent.push('/');
        dirs.push(parent.clone());
    }
    if !libraries.is_empty() {
        dirs.push(format!("{libs}/"));
    }
    for d in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(0);
        tar.append_data(&mut header, d, std::io::empty())
            .map_err(fail)?;
    }
    // a debug build's binary is mostly debug information that nodes need not pull
    let stripped = dir.join(format!("sagebox-agent-{}", std::process::id()));
    let binary = match std::process::Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&stripped)
        .arg(&exe)
        .status()
    {
        Ok(s) if s.success() => stripped.clone(),
        _ => exe.clone(),
    };
    let files = std::iter::once((relative.to_string(), binary)).chain(
        libraries
            .iter()
            .map(|(name, path)| (format!("{libs}/{name}"), path.clone())),
    );
    for (name, source) in files {
        // File::open follows a library's symlink to the file itself
        let file = std::fs::File::open(&source)
            .map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o755);
        header.set_size(file.metadata().map_err(fail)?.len());
        header.set_mtime(0);
        tar.append_data(&mut header, &name, file).map_err(fail)?;
    }
    let mut hashing = tar.into_inner().map_err(fail)?;
    hashing.flush().map_err(fail)?;
    std::fs::remove_file(&stripped).ok();
    Ok(Overlay {
        layer: path,
        digest: format!("sha256:{}", hex::encode(hashing.hasher.finalize())),
        size: hashing.size,
        entrypoint_prefix: agent_command(&libraries),
        created_by: "sagebox: the in-task agent (carries channels, model and output between sagebox and a swarm node)".into(),
    })
}

struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The images pushed so far: local image id → the reference nodes pull.
#[derive(Default)]
pub struct Pushed {
    overlay: Option<Overlay>,
    by_image: HashMap<String, String>,
}

impl Drop for Pushed {
    fn drop(&mut self) {
        if let Some(o) = &self.overlay {
            std::fs::remove_file(&o.layer).ok();
        }
    }
}

impl Pushed {
    /// The words that start the agent, once the layer is made.
    pub fn agent_command(&self) -> Option<Vec<String>> {
        self.overlay.as_ref().map(|o| o.entrypoint_prefix.clone())
    }

    /// The reference of `local` (with the agent) in `registry`, pushing it the first time.
    pub async fn reference(
        &mut self,
        local: &crate::runtime::docker::DockerEngine,
        image: &str,
        registry_address: &str,
        progress: &Progress,
    ) -> Result<String, String> {
        let id = local
            .docker()
            .inspect_image(image)
            .await
            .map_err(|e| format!("the engine has no image {image}: {e}"))?
            .id
            .unwrap_or_else(|| image.to_string());
        if let Some(reference) = self.by_image.get(&id) {
            return Ok(reference.clone());
        }
        if self.overlay.is_none() {
            progress("preparing the agent layer for the swarm's nodes");
            let dir: PathBuf = std::env::temp_dir();
            self.overlay = Some(
                tokio::task::spawn_blocking(move || agent_layer(&dir))
                    .await
                    .map_err(|e| format!("the agent layer failed: {e}"))??,
            );
        }
        let overlay = self.overlay.as_ref().ok_or("no agent layer")?;
        let (repository, tag) = registry::repository_of(image);
        let tag = format!("{tag}-agent-{}", &overlay.digest["sha256:".len()..][..12]);
        let target = Target {
            registry: registry_address.to_string(),
            repository,
            tags: vec![tag],
        };
        registry::push_with(local.docker(), image, &target, Some(overlay), progress).await?;
        let reference = target
            .references()
            .pop()
            .ok_or("the push named no reference")?;
        self.by_image.insert(id, reference.clone());
        Ok(reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_layer_holds_this_binary_and_its_digest_is_stable() {
        let dir = tempfile::tempdir().expect("tmp");
        let first = agent_layer(dir.path()).expect("layer");
        let bytes = std::fs::read(&first.layer).expect("read");
        assert_eq!(bytes.len() as u64, first.size);
        assert_eq!(
            first.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        let mut archive = tar::Archive::new(&bytes[..]);
        let names: Vec<(String, u32)> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                let e = e.expect("entry");
                (
                    e.path().expect("path").to_string_lossy().into_owned(),
                    e.header().mode().expect("mode"),
                )
            })
            .collect();
        assert_eq!(
            names[..4],
            [
                ("opt/".to_string(), 0o755),
                ("opt/sagebox/".to_string(), 0o755),
                ("opt/sagebox/lib/".to_string(), 0o755),
                ("opt/sagebox/agent".to_string(), 0o755)
            ]
        );
        // the loader and libc come along, and the agent starts through them
        let libs: Vec<&str> = names[4..].iter().map(|(n, _)| n.as_str()).collect();
        assert!(libs.contains(&"opt/sagebox/lib/libc.so.6"), "{libs:?}");
        let loader = libs
            .iter()
            .find(|n| n.contains("ld-linux"))
            .expect("the loader");
        assert_eq!(first.entrypoint_prefix[0], format!("/{loader}"));
        assert_eq!(
            first.entrypoint_prefix[1..],
            [
                "--library-path",
                "/opt/sagebox/lib",
                "/opt/sagebox/agent",
                "agent",
                "exec",
                "--"
            ]
        );
        std::fs::remove_file(&first.layer).ok();
        let second = agent_layer(dir.path()).expect("again");
        assert_eq!(second.digest, first.digest);
        std::fs::remove_file(&second.layer).ok();
    }
}

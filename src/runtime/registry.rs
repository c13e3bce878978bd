//! `sagebox images push`: copies an image from the engine to a registry over the registry's own
//! HTTP API (Docker Registry HTTP API v2), so the nodes of a cluster can pull what sagebox built
//! here. sagebox talks to the registry itself instead of asking the engine to push: an engine
//! pushes over plain HTTP only to registries listed in its daemon's `insecure-registries`, which
//! a user pointing sagebox at a cluster's registry should not have to edit on this machine.
//!
//! The image comes from the engine's export (`docker save`), spooled to a temporary file: its
//! `manifest.json` names the config and the layer tars (both the classic and the OCI-layout
//! export do), and each layer is uploaded as it is, uncompressed, so its digest is the layer's
//! DiffID. Blobs the registry has already are not sent again. Plain HTTP only: a registry behind
//! TLS is reached by the engine's own `docker push`.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::images::Progress;

const MANIFEST_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
const CONFIG_TYPE: &str = "application/vnd.docker.container.image.v1+json";
const LAYER_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar";

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// Where an image goes: `registry` (`host:port`), the repository and the tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub registry: String,
    pub repository: String,
    pub tags: Vec<String>,
}

impl Target {
    /// The references the image is pullable as once pushed.
    pub fn references(&self) -> Vec<String> {
        self.tags
            .iter()
            .map(|t| format!("{}/{}:{t}", self.registry, self.repository))
            .collect()
    }
}

/// The registry address from `--registry`: `host:port` (an `http://` prefix is accepted; an
/// `https://` one is refused with what to do instead).
pub fn registry_address(given: &str) -> Result<String, String> {
    let trimmed = given.trim().trim_end_matches('/');
    if trimmed.starts_with("https://") {
        return Err(format!(
            "sagebox pushes over plain HTTP only; for the TLS registry {trimmed}, tag the images and run `docker push` (the engine speaks TLS)"
        ));
    }
    let address = trimmed.strip_prefix("http://").unwrap_or(trimmed);
    let valid = !address.is_empty()
        && !address.contains('/')
        && address
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if !valid {
        return Err(format!(
            "--registry {given:?} is not a registry address: give host:port, e.g. 127.0.0.1:5000"
        ));
    }
    Ok(address.to_string())
}

/// Repository and tag of a user's image reference (`name[:tag]`, a registry prefix dropped):
/// `my/model:1` → (`my/model`, `1`); no tag is `latest`.
pub fn repository_of(reference: &str) -> (String, String) {
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (reference, "latest"),
    };
    let name = match name.split_once('/') {
        // a first segment with a dot, a colon or "localhost" is a registry
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest
        }
        _ => name,
    };
    (name.to_string(), tag.to_string())
}

/// A file inside the exported archive: where its bytes are and their digest.
#[derive(Debug, Clone)]
struct Entry {
    offset: u64,
    size: u64,
    digest: String,
}

/// A layer laid over an image as it is pushed (the swarm engine's in-task agent), with the
/// words its entry point is prefixed with (the agent runs first, then the image's own).
#[derive(Debug, Clone)]
pub struct Overlay {
    /// The layer, an uncompressed tar.
    pub layer: PathBuf,
    pub digest: String,
    pub size: u64,
    pub entrypoint_prefix: Vec<String>,
    /// The history entry that says where the layer came from.
    pub created_by: String,
}

/// Pushes `image` (a local reference) to `target`; reports each step through `progress`.
pub async fn push(
    docker: &Docker,
    image: &str,
    target: &Target,
    progress: &Progress,
) -> Result<(), String> {
    push_with(docker, image, target, None, progress).await
}

/// Like `push`, with `overlay` laid over the image: the pushed image has one more layer and
/// its entry point prefixed.
pub async fn push_with(
    docker: &Docker,
    image: &str,
    target: &Target,
    overlay: Option<&Overlay>,
    progress: &Progress,
) -> Result<(), String> {
    let spool = std::env::temp_dir().join(format!("sagebox-push-{}.tar", uuid::Uuid::new_v4()));
    let config_spool = spool.with_extension("config.json");
    let result = push_via(docker, image, target, overlay, progress, &spool).await;
    for path in [&spool, &config_spool] {
        if let Err(e) = tokio::fs::remove_file(path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("cannot remove {}: {e}", path.display());
        }
    }
    result
}

async fn push_via(
    docker: &Docker,
    image: &str,
    target: &Target,
    overlay: Option<&Overlay>,
    progress: &Progress,
    spool: &Path,
) -> Result<(), String> {
    let client = Registry::new(&target.registry);
    // reachable before a gigabyte is exported for nothing
    client.check().await?;
    progress(&format!("{image}: exporting from the engine"));
    export(docker, image, spool).await?;
    let path = spool.to_path_buf();
    let (entries, manifest) = tokio::task::spawn_blocking(move || index(&path))
        .await
        .map_err(|e| format!("reading the exported image failed: {e}"))??;
    let (config, layers) = parts(&manifest, &entries)?;
    // (where the bytes are, what they are) for each blob: the config first
    let mut blobs: Vec<(PathBuf, Entry)> = vec![(spool.to_path_buf(), config)];
    blobs.extend(layers.into_iter().map(|l| (spool.to_path_buf(), l)));
    if let Some(overlay) = overlay {
        let config_spool = spool.with_extension("config.json");
        let original = read_region(spool, &blobs[0].1)?;
        let laid = overlaid_config(&original, overlay)?;
        std::fs::write(&config_spool, &laid)
            .map_err(|e| format!("cannot write {}: {e}", config_spool.display()))?;
        blobs[0] = (
            config_spool,
            Entry {
                offset: 0,
                size: laid.len() as u64,
                digest: format!("sha256:{}", hex::encode(Sha256::digest(&laid))),
            },
        );
        blobs.push((
            overlay.layer.clone(),
            Entry {
                offset: 0,
                size: overlay.size,
                digest: overlay.digest.clone(),
            },
        ));
    }
    let mut sent = 0;
    for (i, (source, blob)) in blobs.iter().enumerate() {
        if client.has_blob(&target.repository, &blob.digest).await? {
            continue;
        }
        progress(&format!(
            "{image}: blob {}/{} ({:.1} MB) to {}",
            i + 1,
            blobs.len(),
            blob.size as f64 / 1e6,
            target.registry
        ));
        client.upload(&target.repository, source, blob).await?;
        sent += 1;
    }
    let config = &blobs[0].1;
    let layers: Vec<&Entry> = blobs[1..].iter().map(|(_, e)| e).collect();
    let body = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "size": config.size, "digest": config.digest},
        "layers": layers
            .iter()
            .map(|l| json!({"mediaType": LAYER_TYPE, "size": l.size, "digest": l.digest}))
            .collect::<Vec<_>>(),
    });
    for tag in &target.tags {
        client
            .put_manifest(&target.repository, tag, body.to_string())
            .await?;
    }
    progress(&format!(
        "{image}: pushed ({sent} of {} blobs sent, the rest were there)",
        blobs.len()
    ));
    Ok(())
}

/// The bytes of one entry of the export (the config: kilobytes).
fn read_region(path: &Path, entry: &Entry) -> Result<Vec<u8>, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(entry.offset))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = vec![0; entry.size as usize];
    file.read_exact(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(bytes)
}

/// The image config with `overlay`'s layer on top: its DiffID appended to the root filesystem,
/// a history entry for it, and the entry point prefixed (an image with none gets the prefix
/// alone, so that its Cmd follows it).
fn overlaid_config(original: &[u8], overlay: &Overlay) -> Result<Vec<u8>, String> {
    let mut config: Value = serde_json::from_slice(original)
        .map_err(|e| format!("the exported image's config is not JSON: {e}"))?;
    let diff_ids = config
        .pointer_mut("/rootfs/diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or("the exported image's config has no rootfs.diff_ids")?;
    diff_ids.push(json!(overlay.digest));
    if let Some(history) = config.get_mut("history").and_then(Value::as_array_mut) {
        history.push(json!({"created_by": overlay.created_by}));
    }
    let container = config
        .as_object_mut()
        .ok_or("the exported image's config is not an object")?
        .entry("config")
        .or_insert_with(|| json!({}));
    let own: Vec<Value> = container
        .get("Entrypoint")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let entrypoint: Vec<Value> = overlay
        .entrypoint_prefix
        .iter()
        .map(|w| json!(w))
        .chain(own)
        .collect();
    container["Entrypoint"] = Value::Array(entrypoint);
    serde_json::to_vec(&config).map_err(|e| format!("cannot write the image config: {e}"))
}

/// Streams the engine's export of `image` into `spool`.
async fn export(docker: &Docker, image: &str, spool: &Path) -> Result<(), String> {
    docker.inspect_image(image).await.map_err(|e| {
        format!("the engine has no image {image} ({e}); build it first (`sagebox images build`)")
    })?;
    let mut file = tokio::fs::File::create(spool)
        .await
        .map_err(|e| format!("cannot create {}: {e}", spool.display()))?;
    let mut stream = docker.export_image(image);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("exporting {image} failed: {e}"))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("cannot write {}: {e}", spool.display()))?;
    }
    file.flush()
        .await
        .map_err(|e| format!("cannot write {}: {e}", spool.display()))
}

/// Every file of the archive with its digest, and the parsed `manifest.json`.
fn index(spool: &PathBuf) -> Result<(HashMap<String, Entry>, Value), String> {
    let unreadable = |e: std::io::Error| format!("the exported image is not a readable tar: {e}");
    let file = std::fs::File::open(spool).map_err(unreadable)?;
    let mut archive = tar::Archive::new(file);
    let mut entries = HashMap::new();
    let mut manifest = None;
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(unreadable)?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let offset = entry.raw_file_position();
        let size = entry.size();
        let mut hasher = Sha256::new();
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(unreadable)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            if path == "manifest.json" {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        if path == "manifest.json" {
            manifest = Some(
                serde_json::from_slice(&kept)
                    .map_err(|e| format!("the export's manifest.json is not JSON: {e}"))?,
            );
        }
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        entries.insert(
            path,
            Entry {
                offset,
                size,
                digest,
            },
        );
    }
    let manifest = manifest.ok_or("the export has no manifest.json")?;
    Ok((entries, manifest))
}

/// The config and layers `manifest.json` names, in order.
fn parts(
    manifest: &Value,
    entries: &HashMap<String, Entry>,
) -> Result<(Entry, Vec<Entry>), String> {
    let first = manifest
        .as_array()
        .and_then(|a| a.first())
        .ok_or("the export's manifest.json lists no image")?;
    let find = |p: &str| {
        entries
            .get(p.trim_start_matches("./"))
            .cloned()
            .ok_or_else(|| format!("the export's manifest.json names {p}, which it does not hold"))
    };
    let config = find(first["Config"].as_str().unwrap_or_default())?;
    let layers = first["Layers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| find(l.as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((config, layers))
}

/// A plain-HTTP registry client.
struct Registry {
    base: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
}

impl Registry {
    fn new(address: &str) -> Registry {
        Registry {
            base: format!("http://{address}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<(http::StatusCode, http::HeaderMap, Bytes), String> {
        let mut req = http::Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = req
            .body(body)
            .map_err(|e| format!("bad request to the registry: {e}"))?;
        let resp = self.client.request(req).await.map_err(|e| {
            format!(
                "cannot reach the registry at {} ({e}): start it, or name the right one with --registry host:port",
                self.base
            )
        })?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| format!("the registry at {} broke off: {e}", self.base))?;
        Ok((parts.status, parts.headers, bytes))
    }

    fn refused(&self, what: &str, status: http::StatusCode, body: &Bytes) -> String {
        format!(
            "the registry at {} refused {what}: HTTP {status}: {}",
            self.base,
            String::from_utf8_lossy(&body[..body.len().min(500)]).trim()
        )
    }

    /// `GET /v2/`: the registry answers the v2 API.
    async fn check(&self) -> Result<(), String> {
        let (status, _, body) = self
            .send(
                http::Method::GET,
                &format!("{}/v2/", self.base),
                &[],
                empty(),
            )
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(self.refused("the API check (GET /v2/)", status, &body))
        }
    }

    async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool, String> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let (status, _, _) = self.send(http::Method::HEAD, &url, &[], empty()).await?;
        Ok(status.is_success())
    }

    /// A monolithic upload: POST for a session, then one PUT of the bytes with their digest.
    async fn upload(&self, repository: &str, source: &Path, blob: &Entry) -> Result<(), String> {
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let (status, headers, body) = self.send(http::Method::POST, &url, &[], empty()).await?;
        if status != http::StatusCode::ACCEPTED {
            return Err(self.refused("an upload", status, &body));
        }
        let location = headers
            .get(http::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .ok_or_else(|| format!("the registry at {} gave no upload location", self.base))?;
        let location = if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={}", blob.digest);
        let (status, _, body) = self
            .send(
                http::Method::PUT,
                &put,
                &[
                    ("content-type", "application/octet-stream".into()),
                    ("content-length", blob.size.to_string()),
                ],
                file_region(source, blob.offset, blob.size)?,
            )
            .await?;
        if status != http::StatusCode::CREATED {
            return Err(self.refused(&format!("blob {}", blob.digest), status, &body));
        }
        Ok(())
    }

    async fn put_manifest(&self, repository: &str, tag: &str, body: String) -> Result<(), String> {
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let (status, _, answer) = self
            .send(
                http::Method::PUT,
                &url,
                &[("content-type", MANIFEST_TYPE.into())],
                Full::new(Bytes::from(body))
                    .map_err(|never| match never {})
                    .boxed(),
            )
            .await?;
        if status != http::StatusCode::CREATED {
            return Err(self.refused(&format!("the manifest {repository}:{tag}"), status, &answer));
        }
        Ok(())
    }
}

fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|never| match never {})
        .boxed()
}

/// `size` bytes of `path` from `offset`, streamed.
fn file_region(path: &Path, offset: u64, size: u64) -> Result<Body, String> {
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let reader = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), size);
    let frames = tokio_util::io::ReaderStream::with_capacity(reader, 1 << 20)
        .map(|chunk| chunk.map(hyper::body::Frame::data));
    Ok(BodyExt::boxed(StreamBody::new(frames)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_addresses_are_host_and_port() {
        assert_eq!(
            registry_address("127.0.0.1:5000").unwrap(),
            "127.0.0.1:5000"
        );
        assert_eq!(
            registry_address("http://reg.lan:5000/").unwrap(),
            "reg.lan:5000"
        );
        assert!(
            registry_address("https://reg.lan")
                .unwrap_err()
                .contains("docker push")
        );
        assert!(registry_address("reg.lan:5000/sagebox").is_err());
        assert!(registry_address("").is_err());
    }

    #[test]
    fn a_users_reference_keeps_its_path_and_tag_without_its_registry() {
        assert_eq!(repository_of("my/model:1"), ("my/model".into(), "1".into()));
        assert_eq!(repository_of("model"), ("model".into(), "latest".into()));
        assert_eq!(
            repository_of("reg.lan:5000/team/model:2"),
            ("team/model".into(), "2".into())
        );
        assert_eq!(
            repository_of("localhost/model"),
            ("model".into(), "latest".into())
        );
    }

    #[test]
    fn an_export_is_indexed_by_path_with_digests_and_its_manifest_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            builder.append_data(&mut h, name, data).unwrap();
        };
        add("abc/layer.tar", b"layer bytes");
        add("cfg.json", b"{\"config\":1}");
        add(
            "manifest.json",
            br#"[{"Config":"cfg.json","Layers":["abc/layer.tar"]}]"#,
        );
        builder.finish().unwrap();
        drop(builder);
        let (entries, manifest) = index(&path).unwrap();
        let (config, layers) = parts(&manifest, &entries).unwrap();
        assert_eq!(
            config.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(b"{\"config\":1}")))
        );
        assert_eq!(layers.len(), 1);
        assert_eq!(layers[0].size, 11);
        let mut raw = std::fs::File::open(&path).unwrap();
        raw.seek(SeekFrom::Start(layers[0].offset)).unwrap();
        let mut got = vec![0u8; 11];
        raw.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"layer bytes");
        let missing = serde_json::json!([{"Config": "cfg.json", "Layers": ["gone/layer.tar"]}]);
        assert!(
            parts(&missing, &entries)
                .unwrap_err()
                .contains("gone/layer.tar")
        );
    }
}

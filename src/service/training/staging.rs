//! A job's files on the host: the /opt/ml tree of each host (config files exactly as SageMaker
//! writes them), File-mode channels staged as hard links to the object store's immutable files
//! (bound read-only, so no byte is copied and no container can change an object), Pipe-mode
//! FIFOs fed from the object store, and the packing of /opt/ml/model into model.tar.gz.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

use crate::aws::model::typed::sagemaker::{
    CreateTrainingJobRequest, RecordWrapper, S3DataDistribution, TrainingInputMode,
};
use crate::service::objects::ListRequest;
use crate::service::objects::Objects;

/// `s3://bucket/key` → (bucket, key).
pub fn parse_s3_uri(uri: &str) -> Option<(String, String)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then(|| (bucket.to_string(), key.to_string()))
}

/// A relative path that stays inside its folder, or None for keys that would escape it.
pub fn safe_relative(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || rel.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => out.push(s),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// One object a channel delivers: where it goes (relative to the channel) and its file.
#[derive(Debug, Clone)]
pub struct ChannelObject {
    pub rel: PathBuf,
    pub file: PathBuf,
    pub size: u64,
}

/// Lists what an S3 data source names: every object under an S3Prefix, or the objects a
/// manifest file lists. Keys become paths relative to the prefix's folder.
pub async fn resolve_source(
    objects: &Objects,
    data_type: &str,
    uri: &str,
) -> Result<Vec<ChannelObject>, String> {
    let (bucket, key) =
        parse_s3_uri(uri).ok_or_else(|| format!("ClientError: {uri} is not an s3:// URI"))?;
    let mut keys: Vec<(String, String)> = Vec::new(); // (key, relative)
    if data_type == "ManifestFile" {
        let (_, path) = objects
            .object(&bucket, &key)
            .await
            .map_err(|e| format!("ClientError: Cannot read the manifest file {uri}: {e}"))?;
        let text = tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| format!("ClientError: Cannot read the manifest file {uri}: {e}"))?;
        let list: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| format!("ClientError: The manifest file {uri} is not valid JSON: {e}"))?;
        let prefix = list
            .first()
            .and_then(|v| v.get("prefix"))
            .and_then(Value::as_str)
            .and_then(parse_s3_uri)
            .ok_or_else(|| {
                format!("ClientError: The manifest file {uri} must start with {{\"prefix\": \"s3://...\"}}")
            })?;
        for rel in list.iter().skip(1).filter_map(Value::as_str) {
            keys.push((format!("{}{rel}", prefix.1), rel.to_string()));
        }
        let mut out = Vec::new();
        for (k, rel) in keys {
            let (row, path) = objects.object(&prefix.0, &k).await.map_err(|e| {
                format!(
                    "ClientError: s3://{}/{k} listed in the manifest {uri}: {e}",
                    prefix.0
                )
            })?;
            if let Some(rel) = safe_relative(&rel) {
                out.push(ChannelObject {
                    rel,
                    file: path,
                    size: row.size,
                });
            }
        }
        return Ok(out);
    }
    // S3Prefix: keys relative to the prefix (s3://b/data/train holds data/train/a.csv →
    // a.csv); an object named by the whole prefix keeps its file name.
    let mut after = String::new();
    let mut out = Vec::new();
    loop {
        let page = objects
            .list(&ListRequest {
                bucket: bucket.clone(),
                prefix: key.clone(),
                delimiter: None,
                after: after.clone(),
                max_keys: 1000,
            })
            .await
            .map_err(|e| no_objects(uri, &bucket, Some(&e.to_string())))?;
        for row in &page.objects {
            if row.key.ends_with('/') {
                continue; // "folder" markers
            }
            let rest = row.key[key.len()..].trim_start_matches('/');
            let rel = if rest.is_empty() {
                row.key.rsplit('/').next().unwrap_or(&row.key)
            } else {
                rest
            };
            if let Some(rel) = safe_relative(rel) {
                out.push(ChannelObject {
                    rel,
                    file: objects.blob_path(&row.blob),
                    size: row.size,
                });
            }
        }
        match (page.is_truncated, page.last) {
            (true, Some(last)) => after = last,
            _ => break,
        }
    }
    if out.is_empty() {
        return Err(no_objects(uri, &bucket, None));
    }
    Ok(out)
}

fn no_objects(uri: &str, bucket: &str, detail: Option<&str>) -> String {
    let mut msg = format!(
        "ClientError: No S3 objects found under S3 URL \"{uri}\" given in input data source. Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role has \"s3:ListBucket\" permissions on bucket \"{bucket}\"."
    );
    if let Some(d) = detail {
        msg.push_str(&format!(" ({d})"));
    }
    msg
}

/// The objects host `index` (0-based) of `count` gets: all of them, or for ShardedByS3Key every
/// count-th object in key order.
pub fn shard(
    objects: &[ChannelObject],
    distribution: &str,
    index: usize,
    count: usize,
) -> Vec<ChannelObject> {
    if distribution != "ShardedByS3Key" || count <= 1 {
        return objects.to_vec();
    }
    objects
        .iter()
        .enumerate()
        .filter(|(i, _)| i % count == index)
        .map(|(_, o)| o.clone())
        .collect()
}

/// [`link_channel`] on the blocking pool, for the supervisors: the bytes copied, or why not.
pub async fn link_channel_off_thread(
    dir: PathBuf,
    objects: Vec<ChannelObject>,
    copy: bool,
) -> Result<u64, String> {
    tokio::task::spawn_blocking(move || link_channel(&dir, &objects, copy))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// Hard-links each object into `dir` (copying only where the filesystem refuses a link), or
/// copies each when `copy` (a channel the container may write to must not share the object
/// store's files). Returns how many bytes were copied.
pub fn link_channel(dir: &Path, objects: &[ChannelObject], copy: bool) -> std::io::Result<u64> {
    std::fs::create_dir_all(dir)?;
    let mut copied = 0;
    for o in objects {
        let dest = dir.join(&o.rel);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // A key that is both an object and a "folder" of others (a and a/b) keeps the first.
        if dest.exists() {
            continue;
        }
        if copy || std::fs::hard_link(&o.file, &dest).is_err() {
            let from = std::fs::File::open(&o.file)?;
            copied += std::io::copy(&mut &from, &mut std::fs::File::create(&dest)?)?;
            // A blob's file is written again only after it has left its name (see
            // `objects::still_at`); a copy that raced with that is refused, not torn.
            crate::service::objects::still_at(&o.file, &from)?;
        }
    }
    Ok(copied)
}

/// The objects renamed for a Pipe-mode feeder that sends a directory's files in name order:
/// `00000000`, `00000001`, … in the order given (key order for a prefix, the manifest's order
/// for a manifest), wider when there are more objects than eight digits count.
pub fn in_feed_order(objects: &[ChannelObject]) -> Vec<ChannelObject> {
    objects
        .iter()
        .enumerate()
        .map(|(i, o)| ChannelObject {
            rel: PathBuf::from(feed_name(i, objects.len())),
            ..o.clone()
        })
        .collect()
}

/// Object `index` of `count`, zero-padded so that name order is index order.
fn feed_name(index: usize, count: usize) -> String {
    let width = count.saturating_sub(1).to_string().len().max(8);
    format!("{index:0width$}")
}

/// Writes a JSON file the way SageMaker's agent does.
pub fn write_json(path: &Path, value: &Value) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, serde_json::to_vec(value).unwrap_or_default())
}

/// hyperparameters.json: every value a string, as SageMaker passes them.
pub fn hyperparameters_json(request: &CreateTrainingJobRequest) -> Value {
    json!(request.hyper_parameters.clone().unwrap_or_default())
}

/// inputdataconfig.json: per channel, its content type, input mode and distribution.
pub fn inputdataconfig_json(
    request: &CreateTrainingJobRequest,
    default_mode: TrainingInputMode,
) -> Value {
    let mut out = Map::new();
    for ch in request.input_data_config.iter().flatten() {
        let Some(name) = &ch.channel_name else {
            continue;
        };
        let s3 = ch
            .data_source
            .as_ref()
            .and_then(|d| d.s3_data_source.as_ref());
        let mut c = Map::new();
        if let Some(ct) = &ch.content_type {
            c.insert("ContentType".into(), json!(ct));
        }
        c.insert(
            "TrainingInputMode".into(),
            json!(ch.input_mode.unwrap_or(default_mode)),
        );
        let distribution = s3.and_then(|s| s.s3_data_distribution_type);
        c.insert(
            "S3DistributionType".into(),
            json!(distribution.unwrap_or(S3DataDistribution::FullyReplicated)),
        );
        c.insert(
            "RecordWrapperType".into(),
            json!(ch.record_wrapper_type.unwrap_or(RecordWrapper::None)),
        );
        if let Some(ct) = ch.compression_type {
            c.insert("CompressionType".into(), json!(ct));
        }
        out.insert(name.clone(), Value::Object(c));
    }
    Value::Object(out)
}

/// resourceconfig.json for one host.
pub fn resourceconfig_json(current: &str, hosts: &[String], instance_type: &str) -> Value {
    json!({
        "current_host": current,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [{
            "instance_group_name": "homogeneousCluster",
            "instance_type": instance_type,
            "hosts": hosts,
        }],
        "network_interface_name": "eth0",
    })
}

/// Packs `dir` into a gzip tar at `out` (entries relative to `dir`, as SageMaker packs
/// model.tar.gz). Returns the number of files.
pub fn pack_tar_gz(dir: &Path, out: &Path) -> std::io::Result<usize> {
    let file = std::fs::File::create(out)?;
    let gz =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.follow_symlinks(false);
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)?.flatten().map(|e| e.path()).collect();
        entries.sort();
        for path in entries {
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                tar.append_dir(&rel, &path)?;
                stack.push(path);
            } else if meta.is_file() {
                tar.append_path_with_name(&path, &rel)?;
                files += 1;
            }
        }
    }
    let gz = tar.into_inner()?;
    let mut w = gz.finish()?;
    w.flush()?;
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(files)
}

/// Whether `dir` holds any file (at any depth).
pub fn has_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let p = e.path();
        if p.is_dir() { has_files(&p) } else { true }
    })
}

/// Every file under `dir` with its path relative to `dir` ('/'-separated).
pub fn files_under(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.is_file()
                && let Ok(rel) = p.strip_prefix(dir)
            {
                out.push((rel.to_string_lossy().replace('\\', "/"), p.clone()));
            }
        }
    }
    out.sort();
    out
}

/// Feeds a Pipe-mode channel: FIFO `<dir>/<channel>_<epoch>` for epoch 0, 1, … each carrying
/// every object in order (RecordIO-wrapped when asked), the next created once the previous is
/// read to its end, until `stop` is set. Runs on a blocking thread.
pub fn feed_pipe(
    dir: PathBuf,
    channel: String,
    objects: Vec<ChannelObject>,
    recordio: bool,
    stop: Arc<AtomicBool>,
) {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000;
    const ENXIO: i32 = 6;
    for epoch in 0.. {
        let fifo = dir.join(format!("{channel}_{epoch}"));
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            tracing::warn!("cannot create the Pipe-mode FIFO {}", fifo.display());
            return;
        }
        // Wait for the algorithm to open the pipe (a non-blocking open fails until a reader
        // exists), checking for the end of the job meanwhile. The probe stays open until the
        // real (blocking) writer is: were the writers to drop to none in between, the reader
        // would see end-of-file before any data.
        let probe = loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(O_NONBLOCK)
                .open(&fifo)
            {
                Ok(probe) => break probe,
                Err(e) if e.raw_os_error() == Some(ENXIO) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => {
                    tracing::warn!("Pipe-mode FIFO {}: {e}", fifo.display());
                    return;
                }
            }
        };
        let Ok(mut out) = std::fs::OpenOptions::new().write(true).open(&fifo) else {
            return;
        };
        drop(probe);
        for o in &objects {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let Ok(mut f) = std::fs::File::open(&o.file) else {
                continue;
            };
            let ok = if recordio {
                // RecordIO: magic, length, payload, padding to 4 bytes.
                let len = o.size as u32;
                out.write_all(&0xced7_230a_u32.to_le_bytes())
                    .and_then(|()| out.write_all(&len.to_le_bytes()))
                    .and_then(|()| std::io::copy(&mut f, &mut out).map(|_| ()))
                    .and_then(|()| out.write_all(&[0u8; 3][..((4 - (len % 4)) % 4) as usize]))
            } else {
                std::io::copy(&mut f, &mut out).map(|_| ())
            };
            if ok.is_err() {
                break; // the reader closed early: this epoch is over
            }
        }
        drop(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_escape_the_channel() {
        assert_eq!(safe_relative("a/b.csv"), Some(PathBuf::from("a/b.csv")));
        assert_eq!(safe_relative("./a"), Some(PathBuf::from("a")));
        assert_eq!(safe_relative("../etc/passwd"), None);
        assert_eq!(safe_relative("a/../../b"), None);
        assert_eq!(safe_relative("/abs"), None);
        assert_eq!(safe_relative(""), None);
        assert_eq!(safe_relative("a\0b"), None);
    }

    #[test]
    fn sharding_splits_by_key_order() {
        let objs: Vec<ChannelObject> = (0..5)
            .map(|i| ChannelObject {
                rel: PathBuf::from(format!("part-{i}")),
                file: PathBuf::from("/x"),
                size: 1,
            })
            .collect();
        let a = shard(&objs, "ShardedByS3Key", 0, 2);
        let b = shard(&objs, "ShardedByS3Key", 1, 2);
        assert_eq!((a.len(), b.len()), (3, 2));
        assert_eq!(shard(&objs, "FullyReplicated", 1, 2).len(), 5);
    }

    #[test]
    fn pipe_sources_are_named_in_feed_order() {
        let objs: Vec<ChannelObject> = ["b", "a/z", "c"]
            .iter()
            .map(|k| ChannelObject {
                rel: PathBuf::from(k),
                file: PathBuf::from(format!("/blobs/{k}")),
                size: 1,
            })
            .collect();
        let named = in_feed_order(&objs);
        let names: Vec<_> = named.iter().map(|o| o.rel.display().to_string()).collect();
        assert_eq!(names, ["00000000", "00000001", "00000002"]);
        assert_eq!(named[1].file, PathBuf::from("/blobs/a/z"));
        assert_eq!(feed_name(0, 0), "00000000");
        assert_eq!(feed_name(0, 100_000_001), "000000000");
        assert_eq!(feed_name(100_000_000, 100_000_001), "100000000");
    }

    #[test]
    fn config_files_have_sagemakers_shapes() {
        let req: CreateTrainingJobRequest = serde_json::from_value(json!({
            "HyperParameters": {"epochs": "3", "eta": "0.1"},
            "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/p",
                    "S3DataDistributionType": "ShardedByS3Key"}}}],
        }))
        .expect("a request");
        assert_eq!(
            hyperparameters_json(&req),
            json!({"epochs": "3", "eta": "0.1"})
        );
        let idc = inputdataconfig_json(&req, TrainingInputMode::File);
        assert_eq!(idc["train"]["RecordWrapperType"], "None");
        assert_eq!(idc["train"]["TrainingInputMode"], "File");
        assert_eq!(idc["train"]["S3DistributionType"], "ShardedByS3Key");
        assert_eq!(idc["train"]["ContentType"], "text/csv");
        let rc = resourceconfig_json("algo-2", &["algo-1".into(), "algo-2".into()], "ml.m5.large");
        assert_eq!(rc["current_host"], "algo-2");
        assert_eq!(rc["network_interface_name"], "eth0");
        assert_eq!(rc["hosts"][1], "algo-2");
        assert_eq!(parse_s3_uri("s3://b/k/x"), Some(("b".into(), "k/x".into())));
        assert_eq!(parse_s3_uri("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_uri("http://b"), None);
    }

    #[test]
    fn model_dirs_pack_relative_to_their_root() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("m/sub")).expect("mkdir");
        std::fs::write(dir.path().join("m/model.bin"), b"abc").expect("w");
        std::fs::write(dir.path().join("m/sub/x"), b"d").expect("w");
        let out = dir.path().join("model.tar.gz");
        assert_eq!(pack_tar_gz(&dir.path().join("m"), &out).expect("pack"), 2);
        let f = std::fs::File::open(&out).expect("open");
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let names: Vec<String> = a
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        assert!(names.contains(&"model.bin".to_string()), "{names:?}");
        assert!(names.contains(&"sub/x".to_string()), "{names:?}");
    }
}

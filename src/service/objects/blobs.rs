//! Blob files: immutable, named by random ids, written durably (temp file, fsync, rename,
//! directory fsync; small ones in groups, see `GroupCommit`) and hashed while they stream in.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use tokio::io::AsyncWriteExt;

use super::{ObjectError, ObjectResult};

/// A blob written and durable, not yet referenced by any object.
#[derive(Debug, Clone)]
pub struct Staged {
    pub blob: String,
    pub size: u64,
    /// Hex MD5 of the content (or the source's ETag, for copies).
    pub etag: String,
    /// Requested checksums by algorithm name, base64.
    pub checksums: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Blobs {
    blobs: PathBuf,
    tmp: PathBuf,
    commits: GroupCommit,
}

/// Small blobs are made durable in groups: a committer thread takes every blob that arrived
/// meanwhile, writes each to a temp file, renames it into place and makes the whole group durable with one
/// `syncfs` (file data and directory entries together), then answers them all. One flush per
/// group instead of two per blob is what lets many small PUTs in flight share the disk's flush
/// latency. Nothing is visible before its metadata commits, which happens after the answer, so
/// a crash mid-group leaves only unreferenced files for the startup sweep. Larger blobs (and
/// systems without `syncfs`) take the per-file path: fsync, rename, directory fsync.
#[derive(Clone)]
struct GroupCommit {
    tx: std::sync::mpsc::Sender<CommitJob>,
}

/// A small blob's bytes, its temp file, where it goes, and who waits for it to be durable.
type CommitJob = (
    Vec<Bytes>,
    PathBuf,
    PathBuf,
    tokio::sync::oneshot::Sender<std::io::Result<()>>,
);

/// Blobs up to this size go through the group commit; their bytes are gathered in memory first
/// (bounded by this size; anything larger streams to disk as it arrives).
const GROUP_MAX: u64 = 256 << 10;

impl GroupCommit {
    fn start(root: PathBuf) -> GroupCommit {
        let (tx, rx) = std::sync::mpsc::channel::<CommitJob>();
        std::thread::Builder::new()
            .name("sagebox-blob-commit".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    while let Ok(more) = rx.try_recv() {
                        group.push(more);
                    }
                    let renamed: Vec<std::io::Result<()>> = group
                        .iter()
                        .map(|(bytes, tmp, dest, _)| {
                            let mut f = std::fs::File::create(tmp)?;
                            for b in bytes {
                                f.write_all(b)?;
                            }
                            drop(f);
                            std::fs::create_dir_all(
                                dest.parent().expect("blob paths have a parent"),
                            )?;
                            std::fs::rename(tmp, dest)
                        })
                        .collect();
                    let synced = syncfs(&root);
                    for ((_, tmp, _, answer), r) in group.into_iter().zip(renamed) {
                        if r.is_err() {
                            let _ = std::fs::remove_file(&tmp);
                        }
                        let r = r.and_then(|()| match &synced {
                            Ok(()) => Ok(()),
                            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
                        });
                        let _ = answer.send(r);
                    }
                }
            })
            .expect("start the blob committer thread");
        GroupCommit { tx }
    }

    /// Writes `bytes` to `tmp`, moves it to `dest` and makes it durable with the group.
    async fn write(&self, bytes: Vec<Bytes>, tmp: PathBuf, dest: PathBuf) -> std::io::Result<()> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.tx
            .send((bytes, tmp, dest, answer))
            .map_err(|_| std::io::Error::other("the blob committer stopped"))?;
        answered
            .await
            .map_err(|_| std::io::Error::other("the blob committer stopped"))?
    }
}

/// Flushes the whole filesystem holding `dir` (data and metadata).
#[cfg(target_os = "linux")]
fn syncfs(dir: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dir)?;
    // SAFETY: syncfs only reads the descriptor, which stays open for the call.
    if unsafe { libc::syncfs(f.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn syncfs(_dir: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("syncfs is Linux-only"))
}

pub fn md5(data: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(data);
    h.finalize()
}

pub(super) fn hasher_for(algorithms: &[&str]) -> ObjectResult<ChecksumHasher> {
    let mut h = ChecksumHasher::default();
    for a in algorithms {
        match a.to_ascii_uppercase().as_str() {
            "CRC32" => h.crc32 = Some(Default::default()),
            "CRC32C" => h.crc32c = Some(Default::default()),
            "SHA1" => h.sha1 = Some(Default::default()),
            "SHA256" => h.sha256 = Some(Default::default()),
            "CRC64NVME" => h.crc64nvme = Some(Default::default()),
            other => {
                return Err(ObjectError::InvalidArgument(format!(
                    "Unsupported checksum algorithm: {other}"
                )));
            }
        }
    }
    Ok(h)
}

pub(super) fn checksum_map(c: s3s::dto::Checksum) -> BTreeMap<String, String> {
    [
        ("CRC32", c.checksum_crc32),
        ("CRC32C", c.checksum_crc32c),
        ("SHA1", c.checksum_sha1),
        ("SHA256", c.checksum_sha256),
        ("CRC64NVME", c.checksum_crc64nvme),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect()
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Blobs {
    pub fn open(root: &Path) -> std::io::Result<Blobs> {
        let b = Blobs {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            commits: GroupCommit::start(root.to_path_buf()),
        };
        std::fs::create_dir_all(&b.blobs)?;
        std::fs::create_dir_all(&b.tmp)?;
        Ok(b)
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.blobs.join(&id[..2.min(id.len())]).join(id)
    }

    /// Moves a finished temp file into place under `id`, durably.
    async fn publish(&self, tmp: PathBuf, id: &str) -> std::io::Result<()> {
        let dest = self.path(id);
        tokio::task::spawn_blocking(move || {
            let dir = dest.parent().expect("blob paths have a parent");
            std::fs::create_dir_all(dir)?;
            std::fs::rename(&tmp, &dest)?;
            sync_dir(dir)
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Streams a body into a new blob. Bodies up to `GROUP_MAX` are gathered first and written
    /// by the group committer in one go (no per-blob fsync, no round trip to the blocking pool
    /// per chunk); larger ones stream to their file, which is fsynced on its own.
    pub async fn write<S, E>(&self, mut body: S, algorithms: &[&str]) -> ObjectResult<Staged>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut checksums = hasher_for(algorithms)?;
        let mut md5 = Md5::new();
        let id = new_id();
        let tmp = self.tmp.join(&id);
        let mut size = 0u64;
        let mut gathered: Vec<Bytes> = Vec::new();
        let mut large = false;
        let read_error =
            |e: E| ObjectError::InvalidArgument(format!("The request body could not be read: {e}"));
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(read_error)?;
            md5.update(&chunk);
            checksums.update(&chunk);
            size += chunk.len() as u64;
            gathered.push(chunk);
            if size > GROUP_MAX || !cfg!(target_os = "linux") {
                large = true;
                break;
            }
        }
        if !large {
            self.commits.write(gathered, tmp, self.path(&id)).await?;
        } else {
            let mut file = tokio::fs::File::create(&tmp).await?;
            let result: ObjectResult<()> = async {
                for chunk in gathered {
                    file.write_all(&chunk).await?;
                }
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(read_error)?;
                    md5.update(&chunk);
                    checksums.update(&chunk);
                    size += chunk.len() as u64;
                    file.write_all(&chunk).await?;
                }
                file.flush().await?;
                file.sync_all().await?;
                Ok(())
            }
            .await;
            drop(file);
            if let Err(e) = result {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
            self.publish(tmp, &id).await?;
        }
        Ok(Staged {
            blob: id,
            size,
            etag: hex::encode(md5.finalize()),
            checksums: checksum_map(checksums.finalize()),
        })
    }

    /// A new blob sharing the bytes of `src` (a hard link: blobs never change in place).
    pub async fn link(
        &self,
        src: &str,
        size: u64,
        etag: &str,
        checksums: BTreeMap<String, String>,
    ) -> ObjectResult<Staged> {
        let id = new_id();
        let (from, to) = (self.path(src), self.path(&id));
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let dir = to.parent().expect("blob paths have a parent");
            std::fs::create_dir_all(dir)?;
            std::fs::hard_link(&from, &to)?;
            sync_dir(dir)
        })
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))??;
        Ok(Staged {
            blob: id,
            size,
            etag: etag.to_string(),
            checksums,
        })
    }

    /// A new blob holding the files' contents one after another (multipart completion).
    pub async fn concat(&self, parts: &[PathBuf]) -> ObjectResult<Staged> {
        let id = new_id();
        let tmp = self.tmp.join(&id);
        let parts = parts.to_vec();
        let tmp2 = tmp.clone();
        let size = tokio::task::spawn_blocking(move || -> std::io::Result<u64> {
            let mut out = std::fs::File::create(&tmp2)?;
            let mut size = 0;
            for p in &parts {
                size += std::io::copy(&mut std::fs::File::open(p)?, &mut out)?;
            }
            out.flush()?;
            out.sync_all()?;
            Ok(size)
        })
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))?;
        let size = match size {
            Ok(s) => s,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e.into());
            }
        };
        self.publish(tmp, &id).await?;
        Ok(Staged {
            blob: id,
            size,
            etag: String::new(),
            checksums: BTreeMap::new(),
        })
    }

    /// Computes `algorithm` over a blob's whole content (a FULL_OBJECT multipart checksum).
    pub async fn hash(&self, id: &str, algorithm: &str) -> ObjectResult<BTreeMap<String, String>> {
        let mut hasher = hasher_for(&[algorithm])?;
        let path = self.path(id);
        tokio::task::spawn_blocking(move || -> std::io::Result<BTreeMap<String, String>> {
            use std::io::Read;
            let mut f = std::fs::File::open(path)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    return Ok(checksum_map(hasher.finalize()));
                }
                hasher.update(&buf[..n]);
            }
        })
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))?
        .map_err(ObjectError::from)
    }

    /// Deletes a blob no longer referenced. Failures are logged: a leftover file is only an
    /// orphan for the next sweep.
    pub async fn remove(&self, id: &str) {
        if let Err(e) = tokio::fs::remove_file(self.path(id)).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(blob = id, error = %e, "could not delete an unreferenced blob");
        }
    }

    /// Deletes temp files and blobs outside `referenced`. Returns how many files went.
    pub async fn sweep(&self, referenced: &HashSet<String>) -> std::io::Result<usize> {
        let (blobs, tmp, referenced) = (self.blobs.clone(), self.tmp.clone(), referenced.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<usize> {
            let mut removed = 0;
            for entry in std::fs::read_dir(&tmp)? {
                std::fs::remove_file(entry?.path())?;
                removed += 1;
            }
            for shard in std::fs::read_dir(&blobs)? {
                let shard = shard?.path();
                if !shard.is_dir() {
                    continue;
                }
                for entry in std::fs::read_dir(&shard)? {
                    let entry = entry?;
                    let name = entry.file_name().to_string_lossy().to_string();
                    if !referenced.contains(&name) {
                        std::fs::remove_file(entry.path())?;
                        removed += 1;
                    }
                }
            }
            Ok(removed)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

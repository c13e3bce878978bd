//! Blob files: immutable once referenced, named by random ids, written durably (temp file,
//! fsync, rename, directory fsync; small ones in groups, see `group_commit`; multipart parts in
//! place in their upload's file, see `layout`) and hashed while they stream in (large bodies'
//! MD5s beside other uploads', see `md5_lanes`).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};

use super::bodies::{BODY_MAX, BodyCache};
use super::group_commit::{GroupCommit, still_at};
use super::layout::Slot;
use super::md5_lanes::{Md5Lanes, StreamMd5};
use super::{ObjectError, ObjectResult};

/// A blob written and durable, not yet referenced by any object.
#[derive(Debug, Clone)]
pub struct Staged {
    pub blob: String,
    /// Where the bytes start in `blob` (0 but for a part written into its upload's shared file).
    pub offset: u64,
    pub size: u64,
    /// Hex MD5 of the content (or the source's ETag, for copies).
    pub etag: String,
    /// Requested checksums by algorithm name, base64.
    pub checksums: BTreeMap<String, String>,
    /// For a part written in place: its slot, kept once the part commits.
    pub slot: Option<Arc<Slot>>,
}

#[derive(Clone)]
pub struct Blobs {
    blobs: PathBuf,
    tmp: PathBuf,
    commits: GroupCommit,
    md5: Md5Lanes,
    /// Small blobs' bytes, once read (see `bodies`).
    bodies: Arc<BodyCache>,
}

/// Blobs up to this size go through the group commit; their bytes are gathered in memory first
/// (bounded by this size; anything larger streams to disk as it arrives).
const GROUP_MAX: u64 = 256 << 10;

/// Larger blobs are written to their file, and hashed, in pieces of this size.
const LARGE_WRITE: usize = 1 << 20;

/// What a blob's bytes are hashed into while they stream in.
struct Hashes {
    md5: StreamMd5,
    checksums: ChecksumHasher,
    size: u64,
}

impl Hashes {
    fn new(algorithms: &[&str]) -> ObjectResult<Hashes> {
        Ok(Hashes {
            md5: StreamMd5::default(),
            checksums: hasher_for(algorithms)?,
            size: 0,
        })
    }

    /// A small piece: everything hashed here.
    fn update(&mut self, chunk: &[u8]) {
        self.md5.update(chunk);
        self.checksums.update(chunk);
        self.size += chunk.len() as u64;
    }

    fn staged(self, blob: String, offset: u64, slot: Option<Arc<Slot>>) -> Staged {
        Staged {
            blob,
            offset,
            size: self.size,
            etag: hex::encode(self.md5.finalize()),
            checksums: checksum_map(self.checksums.finalize()),
            slot,
        }
    }
}

fn read_error<E: std::fmt::Display>(e: E) -> ObjectError {
    ObjectError::InvalidArgument(format!("The request body could not be read: {e}"))
}

/// Writes `gathered` and then the rest of `body` to `file` from `at`, then fsyncs the file's
/// data. The body is cut into pieces of exactly `LARGE_WRITE` (a chunk that crosses a piece's
/// end is split there, so no piece ever grows past its buffer and is copied again); each piece
/// is written (on the blocking pool) while its MD5 runs in the lanes beside other uploads'.
/// With `cap`, a body longer than it is refused before anything past it is written.
async fn stream_to<S, E>(
    file: std::fs::File,
    at: u64,
    gathered: Vec<Bytes>,
    mut body: S,
    hashes: &mut Hashes,
    md5: &Md5Lanes,
    cap: Option<u64>,
) -> ObjectResult<()>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut out = Pieces {
        file: Arc::new(file),
        at,
        // The gathered bytes were hashed as they came; only what follows goes to the lanes.
        hashed: gathered.iter().map(Bytes::len).sum(),
        piece: bytes::BytesMut::with_capacity(LARGE_WRITE),
    };
    for chunk in gathered {
        out.take(chunk, hashes, md5).await?;
    }
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(read_error)?;
        hashes.checksums.update(&chunk);
        hashes.size += chunk.len() as u64;
        if cap.is_some_and(|cap| hashes.size > cap) {
            return Err(ObjectError::InvalidArgument(
                "The request body is longer than its Content-Length".into(),
            ));
        }
        out.take(chunk, hashes, md5).await?;
    }
    let last = out.piece.split().freeze();
    if !last.is_empty() {
        out.write(last, hashes, md5).await?;
    }
    hashes.md5.settle().await;
    let file = out.file;
    tokio::task::spawn_blocking(move || file.sync_data())
        .await
        .map_err(std::io::Error::other)??;
    Ok(())
}

/// A body on its way into its file, piece by piece (see `stream_to`).
struct Pieces {
    file: Arc<std::fs::File>,
    /// Where the next piece goes in the file.
    at: u64,
    /// Bytes at the start of what follows that are hashed already.
    hashed: usize,
    /// The piece being filled, at most `LARGE_WRITE` long.
    piece: bytes::BytesMut,
}

impl Pieces {
    /// Adds `chunk` to the piece, writing every piece it fills.
    async fn take(
        &mut self,
        mut chunk: Bytes,
        hashes: &mut Hashes,
        md5: &Md5Lanes,
    ) -> ObjectResult<()> {
        while !chunk.is_empty() {
            let room = LARGE_WRITE - self.piece.len();
            self.piece
                .extend_from_slice(&chunk.split_to(room.min(chunk.len())));
            if self.piece.len() == LARGE_WRITE {
                let full = self.piece.split().freeze();
                self.piece.reserve(LARGE_WRITE);
                self.write(full, hashes, md5).await?;
            }
        }
        Ok(())
    }

    /// Writes `bytes` at `at` while the part of it not yet hashed goes to the lanes.
    async fn write(
        &mut self,
        bytes: Bytes,
        hashes: &mut Hashes,
        md5: &Md5Lanes,
    ) -> ObjectResult<()> {
        let len = bytes.len();
        let (f, written, at) = (self.file.clone(), bytes.clone(), self.at);
        let write = tokio::task::spawn_blocking(move || {
            std::os::unix::fs::FileExt::write_all_at(&*f, &written, at)
        });
        let skip = self.hashed.min(len);
        self.hashed -= skip;
        if skip < len {
            hashes.md5.update_in(md5, bytes.slice(skip..)).await;
        }
        write.await.map_err(std::io::Error::other)??;
        self.at += len as u64;
        Ok(())
    }
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

/// A new blob id.
pub(super) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// How many blob files lie under the object store at `root` (none when it does not exist yet).
pub(super) fn count(root: &Path) -> std::io::Result<usize> {
    let blobs = root.join("blobs");
    let shards = match std::fs::read_dir(&blobs) {
        Ok(shards) => shards,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut n = 0;
    for shard in shards {
        let shard = shard?.path();
        if shard.is_dir() {
            n += std::fs::read_dir(&shard)?.count();
        }
    }
    Ok(n)
}

/// `len` bytes of the file at `path` from `start`, with one trip to the blocking pool.
async fn read_at(path: PathBuf, start: u64, len: usize) -> std::io::Result<Bytes> {
    tokio::task::spawn_blocking(move || -> std::io::Result<Bytes> {
        let mut buf = vec![0u8; len];
        let file = std::fs::File::open(&path)?;
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut buf, start)?;
        still_at(&path, &file)?;
        Ok(buf.into())
    })
    .await
    .map_err(std::io::Error::other)?
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

impl Blobs {
    pub fn open(root: &Path) -> std::io::Result<Blobs> {
        let b = Blobs {
            blobs: root.join("blobs"),
            tmp: root.join("tmp"),
            commits: GroupCommit::start(root.to_path_buf())?,
            md5: Md5Lanes::start(),
            bodies: Default::default(),
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
        let mut hashes = Hashes::new(algorithms)?;
        let id = new_id();
        let mut gathered: Vec<Bytes> = Vec::new();
        let mut large = false;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(read_error)?;
            hashes.update(&chunk);
            gathered.push(chunk);
            if hashes.size > GROUP_MAX || !cfg!(target_os = "linux") {
                large = true;
                break;
            }
        }
        if !large {
            // Kept for GETs once durable (one piece, as GET answers it).
            let body = match gathered.as_slice() {
                [one] => Some(one.clone()),
                _ if hashes.size <= BODY_MAX => Some(Bytes::from(gathered.concat())),
                _ => None,
            };
            self.commits.write(gathered, self.path(&id)).await?;
            if let Some(body) = body {
                self.bodies.keep(&id, body);
            }
        } else {
            let tmp = self.tmp.join(&id);
            let file = tokio::fs::File::create(&tmp).await?.into_std().await;
            let streamed = stream_to(file, 0, gathered, body, &mut hashes, &self.md5, None);
            if let Err(e) = streamed.await {
                // Best effort: the stream's error is the one to report.
                tokio::fs::remove_file(&tmp).await.ok();
                return Err(e);
            }
            self.publish(tmp, &id).await?;
        }
        Ok(hashes.staged(id, 0, None))
    }

    /// Streams a part into its slot of its upload's shared file (see `layout`): written at the
    /// slot's offset, at most the slot's length, then fsynced (and the file's directory entry,
    /// the first time).
    pub async fn write_slot<S, E>(
        &self,
        body: S,
        algorithms: &[&str],
        slot: Slot,
    ) -> ObjectResult<Staged>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut hashes = Hashes::new(algorithms)?;
        let path = self.path(slot.blob());
        let dir = path
            .parent()
            .expect("blob paths have a parent")
            .to_path_buf();
        tokio::fs::create_dir_all(&dir).await?;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .await?
            .into_std()
            .await;
        let (at, cap) = (slot.offset, Some(slot.cap));
        stream_to(file, at, Vec::new(), body, &mut hashes, &self.md5, cap).await?;
        if slot.needs_dir_sync() {
            tokio::task::spawn_blocking(move || sync_dir(&dir))
                .await
                .map_err(std::io::Error::other)??;
            slot.dir_synced();
        }
        let (blob, offset) = (slot.blob().to_string(), slot.offset);
        Ok(hashes.staged(blob, offset, Some(Arc::new(slot))))
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
            offset: 0,
            size,
            etag: etag.to_string(),
            checksums,
            slot: None,
        })
    }

    /// A new blob holding the given pieces (blob, offset, length) one after another (multipart
    /// completion when the parts are not in place). Returns its id.
    pub async fn concat(&self, pieces: &[(String, u64, u64)]) -> ObjectResult<String> {
        let id = new_id();
        let tmp = self.tmp.join(&id);
        let pieces: Vec<(PathBuf, u64, u64)> = pieces
            .iter()
            .map(|(blob, offset, len)| (self.path(blob), *offset, *len))
            .collect();
        let tmp2 = tmp.clone();
        let copied = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::{Read, Seek};
            let mut out = std::fs::File::create(&tmp2)?;
            for (path, offset, len) in &pieces {
                let mut f = std::fs::File::open(path)?;
                f.seek(std::io::SeekFrom::Start(*offset))?;
                if std::io::copy(&mut (&f).take(*len), &mut out)? != *len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} is shorter than its part", path.display()),
                    ));
                }
                still_at(path, &f)?;
            }
            out.flush()?;
            out.sync_all()
        })
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))?;
        if let Err(e) = copied {
            // Best effort, as in `put`.
            tokio::fs::remove_file(&tmp).await.ok();
            return Err(e.into());
        }
        self.publish(tmp, &id).await?;
        Ok(id)
    }

    /// Makes an upload's shared file hold exactly its first `size` bytes, durably: the parts
    /// lie there end to end, so the file is the object (completion in place).
    pub async fn adopt(&self, id: &str, size: u64) -> ObjectResult<()> {
        let path = self.path(id);
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            f.set_len(size)?;
            f.sync_all()
        })
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))??;
        Ok(())
    }

    /// Computes `algorithm` over a blob's first `len` bytes (a FULL_OBJECT multipart checksum).
    pub async fn hash(
        &self,
        id: &str,
        len: u64,
        algorithm: &str,
    ) -> ObjectResult<BTreeMap<String, String>> {
        let mut hasher = hasher_for(&[algorithm])?;
        let path = self.path(id);
        tokio::task::spawn_blocking(move || -> std::io::Result<BTreeMap<String, String>> {
            use std::io::Read;
            let file = std::fs::File::open(&path)?;
            let mut f = (&file).take(len);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    still_at(&path, &file)?;
                    return Ok(checksum_map(hasher.finalize()));
                }
                hasher.update(&buf[..n]);
            }
        })
        .await
        .map_err(|e| ObjectError::Internal(e.to_string()))?
        .map_err(ObjectError::from)
    }

    /// Deletes a blob no longer referenced, in the background (see `GroupCommit`).
    pub fn remove(&self, id: &str) {
        self.bodies.forget(id);
        self.commits.remove(self.path(id));
    }

    /// `len` bytes from `start` of blob `id`, whose whole size is `size`, in one piece. A small
    /// blob is read whole once and then answered from memory; a larger range is read with one
    /// trip to the blocking pool (an open and one positioned read).
    pub async fn read_small(
        &self,
        id: &str,
        size: u64,
        start: u64,
        len: usize,
    ) -> std::io::Result<Bytes> {
        let piece = |whole: &Bytes| whole.slice(start as usize..start as usize + len);
        if size <= BODY_MAX {
            if let Some(whole) = self.bodies.get(id) {
                return Ok(piece(&whole));
            }
            let whole = read_at(self.path(id), 0, size as usize).await?;
            self.bodies.keep(id, whole.clone());
            return Ok(piece(&whole));
        }
        read_at(self.path(id), start, len).await
    }

    /// Drops a staged blob that will not be committed. A part written in place only gives its
    /// slot back (when `staged` goes): the shared file holds other parts.
    pub fn discard(&self, staged: Staged) {
        if staged.slot.is_none() {
            self.remove(&staged.blob);
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

#[cfg(test)]
mod tests {
    use super::super::md5_lanes::tests::noise;
    use super::*;

    /// Large bodies in chunks of every kind of fit to the 1 MiB pieces (one chunk larger than
    /// several pieces first, so the gathered head spans pieces; chunks crossing a piece's end;
    /// a body ending on a piece's end) land byte for byte, with the MD5 of their bytes.
    #[tokio::test]
    async fn large_bodies_land_whole_however_their_chunks_fall() {
        let root = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(root.path()).unwrap();
        let cases: [(usize, &[usize]); 4] = [
            (3 * LARGE_WRITE + 12_345, &[2 * LARGE_WRITE + 7, 300_001]),
            (2 * LARGE_WRITE, &[65_536]),
            (LARGE_WRITE + 1, &[LARGE_WRITE - 1, 1, 1]),
            (5 * LARGE_WRITE / 2 + 3, &[100_003, 1 << 20, 7]),
        ];
        for (n, (len, sizes)) in cases.into_iter().enumerate() {
            let data = Bytes::from(noise(len, n as u32 + 1));
            let mut chunks = Vec::new();
            let (mut at, mut i) = (0, 0);
            while at < len {
                let end = (at + sizes[i.min(sizes.len() - 1)]).min(len);
                chunks.push(Ok::<_, std::io::Error>(data.slice(at..end)));
                (at, i) = (end, i + 1);
            }
            let staged = blobs
                .write(futures_util::stream::iter(chunks), &[])
                .await
                .unwrap();
            assert_eq!(staged.size, len as u64, "case {n}");
            assert_eq!(staged.etag, hex::encode(md5(&data)), "case {n}");
            let stored = std::fs::read(blobs.path(&staged.blob)).unwrap();
            assert!(stored == data[..], "case {n}: the stored bytes differ");
        }
    }
}

//! The small-blob journal: how a group of small blobs is made durable with one sequential write
//! and one `fdatasync` of one file, instead of a flush of every blob file (and of whatever else
//! the filesystem holds dirty) on the request path.
//!
//! Each group's blobs are written to their own files (page cache only), and their bytes are
//! appended, as one write, to the current journal segment, which is then `fdatasync`ed; only
//! then is anyone answered. A blob's file becomes durable later, off the request path: the
//! segment is closed after [`CHECKPOINT_EVERY`], and a checkpoint `syncfs` of the filesystem
//! (which covers every file written before it started) is followed by the segment's release.
//! At startup, before anything reads a blob or sweeps orphans, [`recover`] writes every blob a
//! leftover segment holds to its file again and flushes them; a torn record at a segment's end
//! (a crash mid-append, whose writers were never answered) ends that segment's replay.
//!
//! A checkpointed segment's file is kept (at most [`FREE_FILES`]) and written over as a later
//! segment: a flush of bytes written over allocated blocks is one write to the disk, where an
//! append also has to write the file's new size.
//!
//! A record: `SBJ1`, its segment's number (u64), the blob's path under the objects root (u16
//! length), its length (u32), the CRC-32 of path and bytes (u32), the path, the bytes. Integers
//! are little-endian. A record of another number is what an earlier use of the file left, and
//! ends the segment.

use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// A segment older than this is closed (and its blobs checkpointed) before the next group.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// A segment this long is closed before the next group, however young.
const SEGMENT_MAX: u64 = 64 << 20;
const MAGIC: &[u8; 4] = b"SBJ1";
const HEADER: usize = 4 + 8 + 2 + 4 + 4;
/// Checkpointed segment files kept to be written over.
const FREE_FILES: usize = 2;

pub(super) fn dir(root: &Path) -> PathBuf {
    root.join("journal")
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.log"))
}

/// Checkpointed segment files, for later segments to be written over.
#[derive(Clone, Default)]
pub(super) struct FreeFiles(std::sync::Arc<std::sync::Mutex<Vec<PathBuf>>>);

impl FreeFiles {
    fn take(&self) -> Option<PathBuf> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    /// Keeps a checkpointed segment's file (renamed out of the segments' names), or deletes it.
    fn keep(&self, segment: &Path) -> std::io::Result<()> {
        let mut free = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if free.len() >= FREE_FILES {
            return std::fs::remove_file(segment);
        }
        let kept = segment.with_extension("free");
        std::fs::rename(segment, &kept)?;
        free.push(kept);
        Ok(())
    }
}

/// The segments under `dir`, oldest first.
fn segments(dir: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            found.push((seq, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The journal segment being appended to.
pub(super) struct Journal {
    root: PathBuf,
    dir: PathBuf,
    file: std::fs::File,
    seq: u64,
    /// When the first record was appended.
    opened: Instant,
    len: u64,
    /// Set when an append failed: the segment may end in a torn record, after which nothing
    /// would be replayed, so the next group starts a new one.
    broken: bool,
    buf: Vec<u8>,
    free: FreeFiles,
}

impl Journal {
    /// Starts a new segment after any left in the directory (run [`recover`] first).
    pub(super) fn open(root: &Path, free: FreeFiles) -> std::io::Result<Journal> {
        let dir = dir(root);
        std::fs::create_dir_all(&dir)?;
        let seq = segments(&dir)?.last().map_or(0, |(s, _)| s + 1);
        let file = new_segment(&dir, seq, &free)?;
        Ok(Journal {
            root: root.to_path_buf(),
            dir,
            file,
            seq,
            opened: Instant::now(),
            len: 0,
            broken: false,
            buf: Vec::new(),
            free,
        })
    }

    /// Whether the segment is due to be closed before the next group.
    pub(super) fn due(&self) -> bool {
        self.until_due().is_some_and(|d| d.is_zero())
    }

    /// How long until the segment is due to be closed; None while it is empty.
    pub(super) fn until_due(&self) -> Option<Duration> {
        if self.broken || self.len >= SEGMENT_MAX {
            Some(Duration::ZERO)
        } else if self.len > 0 {
            Some(CHECKPOINT_EVERY.saturating_sub(self.opened.elapsed()))
        } else {
            None
        }
    }

    /// Closes the segment and starts the next; returns the closed one's path, for the
    /// checkpoint to release once the blobs it holds are durable in their files.
    pub(super) fn rotate(&mut self) -> std::io::Result<PathBuf> {
        let file = new_segment(&self.dir, self.seq + 1, &self.free)?;
        let closed = segment_path(&self.dir, self.seq);
        self.file = file;
        self.seq += 1;
        self.opened = Instant::now();
        self.len = 0;
        self.broken = false;
        Ok(closed)
    }

    /// Appends one record per blob, as one write, and makes it durable.
    pub(super) fn append<'a>(
        &mut self,
        blobs: impl Iterator<Item = (&'a Path, &'a [Bytes])>,
    ) -> std::io::Result<()> {
        self.buf.clear();
        for (dest, bytes) in blobs {
            let name = dest
                .strip_prefix(&self.root)
                .ok()
                .and_then(|p| p.to_str())
                .ok_or_else(|| {
                    std::io::Error::other(format!("{} is outside the objects root", dest.display()))
                })?;
            let len: usize = bytes.iter().map(Bytes::len).sum();
            let (Ok(name_len), Ok(len32)) = (u16::try_from(name.len()), u32::try_from(len)) else {
                return Err(std::io::Error::other(
                    "a journal record's path or body is too long",
                ));
            };
            let mut crc = crc32fast::Hasher::new();
            crc.update(name.as_bytes());
            for b in bytes {
                crc.update(b);
            }
            self.buf.extend_from_slice(MAGIC);
            self.buf.extend_from_slice(&self.seq.to_le_bytes());
            self.buf.extend_from_slice(&name_len.to_le_bytes());
            self.buf.extend_from_slice(&len32.to_le_bytes());
            self.buf.extend_from_slice(&crc.finalize().to_le_bytes());
            self.buf.extend_from_slice(name.as_bytes());
            for b in bytes {
                self.buf.extend_from_slice(b);
            }
        }
        if self.len == 0 {
            // A segment's age counts from its first record.
            self.opened = Instant::now();
        }
        let written = std::os::unix::fs::FileExt::write_all_at(&self.file, &self.buf, self.len)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => self.len += self.buf.len() as u64,
            Err(_) => self.broken = true,
        }
        // A burst's buffer is not kept for ever.
        if self.buf.capacity() > 4 << 20 {
            self.buf = Vec::new();
        }
        written
    }
}

/// Starts segment `seq` in a free file, or a new one, and makes its name durable (records in it
/// count only if it is found).
fn new_segment(dir: &Path, seq: u64, free: &FreeFiles) -> std::io::Result<std::fs::File> {
    let path = segment_path(dir, seq);
    let reused = free.take().and_then(|old| std::fs::rename(old, &path).ok());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(reused.is_none())
        .open(&path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(file)
}

/// The records of segment `seq`, up to its end or its first torn or damaged record, or one an
/// earlier use of its file left.
fn records(data: &[u8], seq: u64) -> Vec<(&str, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while data.len() - at >= HEADER && &data[at..at + 4] == MAGIC {
        let num = |from: usize, n: usize| {
            let mut b = [0u8; 8];
            b[..n].copy_from_slice(&data[at + from..at + from + n]);
            u64::from_le_bytes(b)
        };
        if num(4, 8) != seq {
            break;
        }
        let (name_len, len, crc) = (num(12, 2) as usize, num(14, 4) as usize, num(18, 4) as u32);
        let start = at + HEADER;
        if data.len() - start < name_len + len {
            break;
        }
        let (name, bytes) = (
            &data[start..start + name_len],
            &data[start + name_len..start + name_len + len],
        );
        let mut check = crc32fast::Hasher::new();
        check.update(name);
        check.update(bytes);
        let Ok(name) = std::str::from_utf8(name) else {
            break;
        };
        if check.finalize() != crc {
            break;
        }
        out.push((name, bytes));
        at = start + name_len + len;
    }
    out
}

/// Writes every blob the segments left under `root` hold back to its file, flushes them, then
/// deletes the segments. Returns how many blobs were written.
pub(super) fn recover(root: &Path) -> std::io::Result<usize> {
    let dir = dir(root);
    if !dir.exists() {
        return Ok(0);
    }
    // Free files hold only checkpointed records.
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "free") {
            std::fs::remove_file(path)?;
        }
    }
    let found = segments(&dir)?;
    let mut restored = 0;
    for (seq, segment) in &found {
        let data = std::fs::read(segment)?;
        for (name, bytes) in records(&data, *seq) {
            let rel = Path::new(name);
            // Only paths the journal writes: plain names below the root.
            if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
                tracing::warn!(segment = %segment.display(), name, "a journal record names a path outside the objects root; skipped");
                continue;
            }
            let dest = root.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&dest, bytes)?;
            restored += 1;
        }
    }
    if !found.is_empty() {
        super::group_commit::syncfs(root)?;
        for (_, segment) in &found {
            std::fs::remove_file(segment)?;
        }
        std::fs::File::open(&dir)?.sync_all()?;
    }
    Ok(restored)
}

/// A shared note of the moment the last checkpoint that finished had started: everything
/// written or committed before it is durable.
#[derive(Clone, Default)]
pub(super) struct Checkpointed(std::sync::Arc<std::sync::Mutex<Option<Instant>>>);

impl Checkpointed {
    /// Whether what happened at `at` is covered by a finished checkpoint.
    pub(super) fn covers(&self, at: Instant) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|started| at < started)
    }

    fn set(&self, started: Instant) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
    }
}

/// The checkpoint thread: for each batch of closed segments, one `syncfs` of the filesystem
/// (the blobs they hold, and everything else written before it), then their release. A failed
/// flush is tried again a second later; the segments stay until it succeeds (and a restart
/// replays them).
pub(super) fn checkpoints(
    root: &Path,
    closed: std::sync::mpsc::Receiver<PathBuf>,
    done: Checkpointed,
    free: FreeFiles,
) {
    use std::sync::mpsc::RecvTimeoutError;
    let mut pending: Vec<PathBuf> = Vec::new();
    loop {
        let next = if pending.is_empty() {
            closed.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            closed.recv_timeout(Duration::from_secs(1))
        };
        match next {
            Ok(path) => pending.push(path),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        pending.extend(std::iter::from_fn(|| closed.try_recv().ok()));
        let started = Instant::now();
        match super::group_commit::syncfs(root) {
            Ok(()) => {
                for segment in pending.drain(..) {
                    if let Err(e) = free.keep(&segment) {
                        tracing::warn!(segment = %segment.display(), error = %e, "could not delete a checkpointed journal segment; a restart replays it");
                    }
                }
                done.set(started);
            }
            Err(e) => {
                tracing::warn!(error = %e, "the journal checkpoint could not flush the filesystem; trying again")
            }
        }
    }
}

/// How many records the segments under `root` hold.
#[cfg(test)]
pub(super) fn records_held(root: &Path) -> usize {
    segments(&dir(root))
        .unwrap()
        .iter()
        .map(|(seq, path)| records(&std::fs::read(path).unwrap(), *seq).len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn blob(root: &Path, id: &str) -> PathBuf {
        root.join("blobs").join(&id[..2]).join(id)
    }

    fn append(journal: &mut Journal, root: &Path, blobs: &[(&str, &[&'static [u8]])]) {
        let paths: Vec<PathBuf> = blobs.iter().map(|(id, _)| blob(root, id)).collect();
        let bodies: Vec<Vec<Bytes>> = blobs
            .iter()
            .map(|(_, pieces)| pieces.iter().map(|p| Bytes::from_static(p)).collect())
            .collect();
        journal
            .append(
                paths
                    .iter()
                    .map(PathBuf::as_path)
                    .zip(bodies.iter().map(Vec::as_slice)),
            )
            .unwrap();
    }

    #[test]
    fn a_crash_loses_no_answered_blob_and_replays_up_to_a_torn_record() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let mut journal = Journal::open(root, FreeFiles::default()).unwrap();
        append(
            &mut journal,
            root,
            &[("aa-one", &[b"first ", b"blob"]), ("bb-two", &[b""])],
        );
        let first = journal.rotate().unwrap();
        append(
            &mut journal,
            root,
            &[("cc-three", &[b"third"]), ("dd-four", &[b"fourth, torn"])],
        );
        let second = segment_path(&dir(root), journal.seq);
        drop(journal);
        // The crash: no blob file reached the disk, and the last record is cut short.
        let len = std::fs::metadata(&second).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&second)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        // A file of the wrong name is no segment.
        std::fs::write(dir(root).join("notes.txt"), b"x").unwrap();

        assert_eq!(recover(root).unwrap(), 3);
        assert_eq!(std::fs::read(blob(root, "aa-one")).unwrap(), b"first blob");
        assert_eq!(std::fs::read(blob(root, "bb-two")).unwrap(), b"");
        assert_eq!(std::fs::read(blob(root, "cc-three")).unwrap(), b"third");
        assert!(!blob(root, "dd-four").exists());
        assert!(!first.exists() && !second.exists());
        // Replayed once: a second start finds nothing to do, and numbers segments from 0.
        assert_eq!(recover(root).unwrap(), 0);
        assert_eq!(Journal::open(root, FreeFiles::default()).unwrap().seq, 0);
    }

    #[test]
    fn a_damaged_record_ends_the_replay_of_its_segment() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let mut journal = Journal::open(root, FreeFiles::default()).unwrap();
        append(
            &mut journal,
            root,
            &[
                ("aa-one", &[b"kept"]),
                ("bb-two", &[b"damaged"]),
                ("cc-three", &[b"after"]),
            ],
        );
        let segment = segment_path(&dir(root), journal.seq);
        drop(journal);
        let mut data = std::fs::read(&segment).unwrap();
        let at = data.windows(7).position(|w| w == b"damaged").unwrap();
        data[at] ^= 1;
        std::fs::write(&segment, &data).unwrap();
        assert_eq!(recover(root).unwrap(), 1);
        assert_eq!(std::fs::read(blob(root, "aa-one")).unwrap(), b"kept");
        assert!(!blob(root, "bb-two").exists() && !blob(root, "cc-three").exists());
    }

    #[test]
    fn a_record_naming_a_path_outside_the_root_is_skipped() {
        let outer = tempfile::tempdir().unwrap();
        let root = outer.path().join("objects");
        let mut journal = Journal::open(&root, FreeFiles::default()).unwrap();
        append(&mut journal, &root, &[("aa-one", &[b"in"])]);
        let segment = segment_path(&dir(&root), journal.seq);
        drop(journal);
        // A record hand-made with a path that climbs out.
        let (name, body) = ("../escaped", b"out");
        let mut crc = crc32fast::Hasher::new();
        crc.update(name.as_bytes());
        crc.update(body);
        let mut record = MAGIC.to_vec();
        record.extend_from_slice(&0u64.to_le_bytes());
        record.extend_from_slice(&(name.len() as u16).to_le_bytes());
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(&crc.finalize().to_le_bytes());
        record.extend_from_slice(name.as_bytes());
        record.extend_from_slice(body);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap()
            .write_all(&record)
            .unwrap();
        assert_eq!(recover(&root).unwrap(), 1);
        assert!(!outer.path().join("escaped").exists());
    }

    #[test]
    fn a_file_written_over_replays_only_its_new_segment() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        let free = FreeFiles::default();
        let mut journal = Journal::open(root, free.clone()).unwrap();
        append(
            &mut journal,
            root,
            &[
                ("aa-old", &[b"checkpointed long ago"]),
                ("bb-old", &[b"also"]),
            ],
        );
        // The checkpoint keeps the closed segment's file; the next segment but one is written
        // over it.
        let closed = journal.rotate().unwrap();
        free.keep(&closed).unwrap();
        assert!(!closed.exists());
        let (closed_seq, next) = (journal.seq, journal.rotate().unwrap());
        std::fs::remove_file(next).ok();
        assert_eq!(journal.seq, closed_seq + 1);
        append(&mut journal, root, &[("cc-new", &[b"new"])]);
        let segment = segment_path(&dir(root), journal.seq);
        drop(journal);
        // The new record is shorter than the old ones it wrote over: they are still there, after
        // it, with their old number.
        assert!(
            std::fs::read(&segment)
                .unwrap()
                .windows(4)
                .any(|w| w == b"also")
        );
        assert_eq!(recover(root).unwrap(), 1);
        assert_eq!(std::fs::read(blob(root, "cc-new")).unwrap(), b"new");
        assert!(!blob(root, "aa-old").exists() && !blob(root, "bb-old").exists());
        assert_eq!(std::fs::read_dir(dir(root)).unwrap().count(), 0);
    }
}

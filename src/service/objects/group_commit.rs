//! Small blobs made durable in groups (see [`GroupCommit`]), and unreferenced blobs deleted off
//! the request path.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::journal;

/// Small blobs are made durable in groups, by two threads in a pipeline. The writer writes each
/// blob straight to its place as soon as it arrives, then passes it on (a blob no row references
/// is invisible, so no temp file and rename are needed to hide a half-written one); the
/// syncer takes every blob written meanwhile, appends all their bytes to the journal in one
/// write and makes that durable with one `fdatasync` (see `journal`), then answers them all.
/// One flush of one file per group, instead of two per blob (or a flush of the whole
/// filesystem, with whatever else is dirty on it), is what lets many small PUTs in flight share
/// the disk's flush latency, and writing the next group's files while the current group's flush
/// runs keeps the disk busy. The blob files themselves are flushed by a checkpoint thread, off
/// the request path, after which the journal segment that held them is released.
/// Nothing is visible before its metadata commits, which happens after the answer, so a crash
/// mid-group (or mid-write) leaves only unreferenced files for the startup sweep. Larger blobs (and systems
/// without `syncfs`) take the per-file path: fsync, rename, directory fsync.
///
/// The writer also deletes blobs no longer referenced, whenever no write waits: nobody waits
/// for a deletion (a file a crash leaves behind is an orphan for the sweep), so an overwrite or
/// a DELETE pays no trip to the blocking pool for it.
#[derive(Clone)]
pub(super) struct GroupCommit {
    tx: std::sync::mpsc::Sender<CommitJob>,
    #[cfg(test)]
    checkpointed: journal::Checkpointed,
}

/// Who waits for a blob to be durable.
type Answer = tokio::sync::oneshot::Sender<std::io::Result<()>>;

/// A blob written to its file, on its way to the journal.
struct Written {
    bytes: Vec<Bytes>,
    dest: PathBuf,
    answer: Answer,
}

enum CommitJob {
    /// A small blob's bytes and where they go.
    Write {
        bytes: Vec<Bytes>,
        dest: PathBuf,
        answer: Answer,
    },
    /// An unreferenced blob to delete.
    Remove(PathBuf),
}

impl GroupCommit {
    /// Replays what a crash left in the journal (see `journal::recover`), then starts the
    /// writer, syncer and checkpoint threads.
    pub(super) fn start(root: PathBuf) -> std::io::Result<GroupCommit> {
        let restored = journal::recover(&root)?;
        if restored > 0 {
            tracing::info!(
                "restored {restored} small object files from the journal after an unclean stop"
            );
        }
        let free = journal::FreeFiles::default();
        let journal = journal::Journal::open(&root, free.clone())?;
        let checkpointed = journal::Checkpointed::default();
        let (tx, rx) = std::sync::mpsc::channel::<CommitJob>();
        let (written_tx, written_rx) = std::sync::mpsc::channel::<Written>();
        let (closed_tx, closed_rx) = std::sync::mpsc::channel::<PathBuf>();
        std::thread::Builder::new()
            .name("sagebox-blob-write".into())
            .spawn({
                let spares = Spares::new(checkpointed.clone());
                move || write_blobs(rx, written_tx, spares)
            })?;
        std::thread::Builder::new()
            .name("sagebox-blob-sync".into())
            .spawn(move || sync_groups(journal, written_rx, closed_tx))?;
        std::thread::Builder::new()
            .name("sagebox-blob-checkpoint".into())
            .spawn({
                let checkpointed = checkpointed.clone();
                move || journal::checkpoints(&root, closed_rx, checkpointed, free)
            })?;
        Ok(GroupCommit {
            tx,
            #[cfg(test)]
            checkpointed,
        })
    }

    /// Writes `bytes` to `dest` and makes it durable with the group.
    pub(super) async fn write(&self, bytes: Vec<Bytes>, dest: PathBuf) -> std::io::Result<()> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.tx
            .send(CommitJob::Write {
                bytes,
                dest,
                answer,
            })
            .map_err(|_| std::io::Error::other("the blob committer stopped"))?;
        answered
            .await
            .map_err(|_| std::io::Error::other("the blob committer stopped"))?
    }

    /// Waits until a checkpoint that started after `at` has finished.
    #[cfg(test)]
    async fn checkpoint_covers(&self, at: std::time::Instant) {
        for _ in 0..3000 {
            if self.checkpointed.covers(at) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no checkpoint within 30 s");
    }

    /// Deletes `path` soon, without waiting.
    pub(super) fn remove(&self, path: PathBuf) {
        if self.tx.send(CommitJob::Remove(path)).is_err() {
            tracing::warn!(
                "the blob committer stopped; an unreferenced blob stays until the next sweep"
            );
        }
    }
}

/// The writer thread: each blob written in arrival order, then handed to the syncer (a failed
/// one is answered at once); deletions wait until no write does.
fn write_blobs(
    jobs: std::sync::mpsc::Receiver<CommitJob>,
    written: std::sync::mpsc::Sender<Written>,
    mut spares: Spares,
) {
    use std::sync::mpsc::TryRecvError;
    let mut removals = std::collections::VecDeque::<PathBuf>::new();
    // Shard folders known to exist: each is made once, not checked on every write.
    let mut folders = HashSet::<PathBuf>::new();
    loop {
        spares.expire();
        let job = match removals.pop_front() {
            None => match spares.next_expiry() {
                None => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                },
                Some(wait) => match jobs.recv_timeout(wait) {
                    Ok(job) => job,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                },
            },
            Some(path) => match jobs.try_recv() {
                Ok(job) => {
                    removals.push_front(path);
                    job
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    spares.keep_or_remove(path);
                    continue;
                }
            },
        };
        match job {
            CommitJob::Write {
                bytes,
                dest,
                answer,
            } => match write_blob(&bytes, &dest, &mut folders, &mut spares) {
                Ok(()) => {
                    if let Err(unsent) = written.send(Written {
                        bytes,
                        dest,
                        answer,
                    }) {
                        // A writer that stopped waiting needs no answer.
                        unsent
                            .0
                            .answer
                            .send(Err(std::io::Error::other("the blob syncer stopped")))
                            .ok();
                    }
                }
                Err(e) => {
                    // Best effort: the write's error is the one to report.
                    std::fs::remove_file(&dest).ok();
                    // A writer that stopped waiting needs no answer.
                    answer.send(Err(e)).ok();
                }
            },
            CommitJob::Remove(path) => removals.push_back(path),
        }
    }
}

fn write_blob(
    bytes: &[Bytes],
    dest: &Path,
    folders: &mut HashSet<PathBuf>,
    spares: &mut Spares,
) -> std::io::Result<()> {
    let folder = dest.parent().expect("blob paths have a parent");
    if !folders.contains(folder) {
        std::fs::create_dir_all(folder)?;
        folders.insert(folder.to_path_buf());
    }
    if let Some(f) = spares.take(dest) {
        let mut at = 0;
        let written = (|| {
            use std::os::unix::fs::FileExt;
            for b in bytes {
                f.write_all_at(b, at)?;
                at += b.len() as u64;
            }
            f.set_len(at)
        })();
        match written {
            Ok(()) => return Ok(()),
            // The spare is given up; a new file is tried below.
            Err(_) => std::fs::remove_file(dest)?,
        }
    }
    let mut f = std::fs::File::create(dest)?;
    for b in bytes {
        f.write_all(b)?;
    }
    Ok(())
}

/// Files of deleted small blobs, kept to be written again as new blobs instead of deleting one
/// file and creating another for every overwrite. Creating a file costs far more than renaming
/// and writing into one: on ext4 without a journal (as on this project's CI machines) every new
/// inode is searched for past each inode deleted in the last seconds, which made file creation
/// and deletion 40% of a small PUT's CPU under a stream of overwrites.
///
/// A blob's file is immutable while any object or reader can reach it, and recycling keeps
/// that: a spare keeps its old name, unreferenced, for [`REUSE_AFTER`], so that reads that
/// started before its blob was deleted still find the old bytes; then it is renamed to the new
/// blob's name (a reader that opens the old name from then on finds nothing, as after a
/// deletion) and only then written; one not taken within [`SPARE_LIFE`] is deleted. Readers check after reading that the file they read still
/// has its name ([`still_at`]), so a read that was somehow still under way is refused, not torn.
/// A file another name links to (a copied object, a job's input) is never written again.
pub(super) struct Spares {
    files: std::collections::VecDeque<(PathBuf, std::time::Instant, u64)>,
    bytes: u64,
    /// A spare is written again only once a checkpoint has flushed everything before its
    /// blob's deletion: the database's record that nothing refers to it any more included, so
    /// a power loss cannot bring back a row pointing at the file with another blob's bytes.
    checkpointed: journal::Checkpointed,
}

/// A spare is written again no sooner than this after its blob was deleted: time for a read
/// that found the old row to finish (readers check anyway; this keeps them from having to
/// refuse), and short, as no file is recycled before it (a burst of overwrites creates files
/// for its first REUSE_AFTER).
const REUSE_AFTER: std::time::Duration = std::time::Duration::from_millis(250);
/// A spare not written again by then is deleted (a deletion frees its space within seconds).
const SPARE_LIFE: std::time::Duration = std::time::Duration::from_secs(2);
/// Only files up to this size are kept (small blobs; larger ones are deleted).
const SPARE_MAX: u64 = 256 << 10;
/// At most this many spares, and this many bytes in them, are kept; past that, files are deleted.
const SPARE_FILES: usize = 16384;
const SPARE_BYTES: u64 = 64 << 20;

impl Spares {
    pub(super) fn new(checkpointed: journal::Checkpointed) -> Spares {
        Spares {
            files: Default::default(),
            bytes: 0,
            checkpointed,
        }
    }

    /// Keeps the file of an unreferenced blob as a spare, or deletes it.
    fn keep_or_remove(&mut self, path: PathBuf) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::symlink_metadata(&path)
            && m.is_file()
            && m.nlink() == 1
            && m.len() <= SPARE_MAX
            && self.files.len() < SPARE_FILES
            && self.bytes + m.len() <= SPARE_BYTES
        {
            self.bytes += m.len();
            self.files
                .push_back((path, std::time::Instant::now(), m.len()));
            return;
        }
        remove_blob_file(&path);
    }

    /// Deletes the spares that have waited their time.
    fn expire(&mut self) {
        while let Some((_, since, size)) = self.files.front()
            && since.elapsed() >= SPARE_LIFE
        {
            self.bytes -= *size;
            if let Some((path, _, _)) = self.files.pop_front() {
                remove_blob_file(&path);
            }
        }
    }

    /// How long until the oldest spare is to be deleted, if there is one.
    fn next_expiry(&self) -> Option<std::time::Duration> {
        let (_, since, _) = self.files.front()?;
        Some(SPARE_LIFE.saturating_sub(since.elapsed()))
    }

    /// The oldest spare, if it is old enough, renamed to `dest` and open for writing.
    fn take(&mut self, dest: &Path) -> Option<std::fs::File> {
        use std::os::unix::fs::MetadataExt;
        let (_, since, _) = self.files.front()?;
        if since.elapsed() < REUSE_AFTER || !self.checkpointed.covers(*since) {
            return None;
        }
        let (spare, _, size) = self.files.pop_front()?;
        self.bytes -= size;
        std::fs::rename(&spare, dest).ok()?;
        let f = std::fs::OpenOptions::new().write(true).open(dest);
        match f {
            // Linked meanwhile (a job's input, a copy): its bytes must stay; only the new name
            // goes.
            Ok(f) if f.metadata().is_ok_and(|m| m.nlink() == 1) => Some(f),
            _ => {
                std::fs::remove_file(dest).ok();
                None
            }
        }
    }
}

/// Whether the open `file`, read from `path`, is still the file at `path` (checked after a
/// read: a blob file leaves its name before it is ever written again, see [`Spares`]).
pub(crate) fn still_at(path: &Path, file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (now, read) = (std::fs::metadata(path)?, file.metadata()?);
    if (now.dev(), now.ino()) == (read.dev(), read.ino()) {
        Ok(())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} was deleted while it was read", path.display()),
        ))
    }
}

/// The syncer thread: every blob written since the last flush appended to the journal and
/// flushed with it, every writer answered. A segment due to be closed is closed before the
/// group and handed to the checkpoint thread.
fn sync_groups(
    mut journal: journal::Journal,
    written: std::sync::mpsc::Receiver<Written>,
    closed: std::sync::mpsc::Sender<PathBuf>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        // An idle segment is closed when due too, so the journal empties once writes stop
        // (and spares waiting for a checkpoint get one).
        let first = match journal.until_due() {
            None => match written.recv() {
                Ok(w) => w,
                Err(_) => return,
            },
            Some(wait) => match written.recv_timeout(wait) {
                Ok(w) => w,
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(e) = close_segment(&mut journal, &closed) {
                        tracing::warn!(error = %e, "could not start a new journal segment; trying again in a second");
                        std::thread::sleep(std::time::Duration::from_secs(1));
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let group: Vec<Written> = std::iter::once(first)
            .chain(std::iter::from_fn(|| written.try_recv().ok()))
            .collect();
        let started = std::time::Instant::now();
        let mut synced = Ok(());
        if journal.due() {
            synced = close_segment(&mut journal, &closed);
        }
        if synced.is_ok() {
            synced = journal.append(group.iter().map(|w| (w.dest.as_path(), w.bytes.as_slice())));
        }
        tracing::debug!(
            blobs = group.len(),
            sync_us = started.elapsed().as_micros() as u64,
            "blob group durable"
        );
        for w in group {
            let r = match &synced {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            // A writer that stopped waiting needs no answer.
            w.answer.send(r).ok();
        }
    }
}

/// Starts the journal's next segment and hands the closed one to the checkpoint thread.
fn close_segment(
    journal: &mut journal::Journal,
    closed: &std::sync::mpsc::Sender<PathBuf>,
) -> std::io::Result<()> {
    let segment = journal.rotate()?;
    // A checkpoint thread that stopped leaves the segment for the next start.
    closed.send(segment).ok();
    Ok(())
}

/// Failures are logged: a leftover file is only an orphan for the next sweep.
fn remove_blob_file(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(blob = %path.display(), error = %e, "could not delete an unreferenced blob");
    }
}

/// Flushes the whole filesystem holding `dir` (data and metadata).
#[cfg(target_os = "linux")]
pub(super) fn syncfs(dir: &Path) -> std::io::Result<()> {
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
pub(super) fn syncfs(_dir: &Path) -> std::io::Result<()> {
    Err(std::io::Error::other("syncfs is Linux-only"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn ino(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    #[tokio::test]
    async fn deleted_small_blobs_are_written_again_only_when_nobody_can_see_them() {
        let root = tempfile::tempdir().unwrap();
        let commits = GroupCommit::start(root.path().to_path_buf()).unwrap();
        let path = |id: &str| root.path().join("blobs").join(&id[..2]).join(id);
        let write = |id: &str, bytes: &'static [u8]| {
            commits.write(vec![Bytes::from_static(bytes)], path(id))
        };
        write("aa-old", b"the old bytes").await.unwrap();
        write("bb-linked", b"a job's input").await.unwrap();
        let (old_ino, linked_ino) = (ino(&path("aa-old")), ino(&path("bb-linked")));
        // A job's input links to the second blob.
        let input = root.path().join("input");
        std::fs::hard_link(path("bb-linked"), &input).unwrap();
        let reader = std::fs::File::open(path("aa-old")).unwrap();
        commits.remove(path("aa-old"));
        commits.remove(path("bb-linked"));

        // Just deleted: a read that started before still finds the old bytes under the old name.
        write("cc-new", b"new").await.unwrap();
        assert_ne!(ino(&path("cc-new")), old_ino);
        assert_eq!(std::fs::read(path("aa-old")).unwrap(), b"the old bytes");
        still_at(&path("aa-old"), &reader).unwrap();

        // Later, once a checkpoint has flushed everything up to the deletion, the file becomes
        // the next blob: renamed first, then written, cut to its length.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let deleted = std::time::Instant::now();
        tokio::time::sleep(REUSE_AFTER + std::time::Duration::from_millis(100)).await;
        commits.checkpoint_covers(deleted).await;
        write("dd-next", b"next").await.unwrap();
        assert_eq!(ino(&path("dd-next")), old_ino);
        assert_eq!(std::fs::read(path("dd-next")).unwrap(), b"next");
        assert!(!path("aa-old").exists());
        // A reader of the old name learns that what it read is gone.
        let refused = still_at(&path("aa-old"), &reader).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::NotFound);

        // A file linked from elsewhere is never written again: the link keeps its bytes.
        write("ee-last", b"last").await.unwrap();
        assert_ne!(ino(&path("ee-last")), linked_ino);
        assert_eq!(std::fs::read(path("ee-last")).unwrap(), b"last");
        assert_eq!(std::fs::read(&input).unwrap(), b"a job's input");
        assert!(!path("bb-linked").exists());

        // A spare nobody takes is deleted after its time.
        write("ff-lone", b"lone").await.unwrap();
        commits.remove(path("ff-lone"));
        tokio::time::sleep(SPARE_LIFE + std::time::Duration::from_millis(300)).await;
        assert!(!path("ff-lone").exists());

        // Once writes stop, the journal empties: every segment that held records was
        // checkpointed, and the one being written holds none.
        assert_eq!(journal::records_held(root.path()), 0);
    }
}

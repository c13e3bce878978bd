//! Small blobs made durable in groups (see [`GroupCommit`]), and unreferenced blobs deleted off
//! the request path.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// Small blobs are made durable in groups, by two threads in a pipeline. The writer writes each
/// blob straight to its place as soon as it arrives, then passes it on (a blob no row references
/// is invisible, so no temp file and rename are needed to hide a half-written one); the
/// syncer takes every blob written meanwhile, makes them all durable with one `syncfs` (file
/// data and directory entries together), then answers them all. One flush per group instead of
/// two per blob is what lets many small PUTs in flight share the disk's flush latency, and
/// writing the next group's files while the current group's flush runs keeps the disk busy.
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
}

/// Who waits for a blob to be durable.
type Answer = tokio::sync::oneshot::Sender<std::io::Result<()>>;

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
    pub(super) fn start(root: PathBuf) -> GroupCommit {
        let (tx, rx) = std::sync::mpsc::channel::<CommitJob>();
        let (written_tx, written_rx) = std::sync::mpsc::channel::<Answer>();
        std::thread::Builder::new()
            .name("sagebox-blob-write".into())
            .spawn(move || write_blobs(rx, written_tx))
            .expect("start the blob writer thread");
        std::thread::Builder::new()
            .name("sagebox-blob-sync".into())
            .spawn(move || sync_groups(&root, written_rx))
            .expect("start the blob syncer thread");
        GroupCommit { tx }
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
    written: std::sync::mpsc::Sender<Answer>,
) {
    use std::sync::mpsc::TryRecvError;
    let mut removals = std::collections::VecDeque::<PathBuf>::new();
    // Shard folders known to exist: each is made once, not checked on every write.
    let mut folders = HashSet::<PathBuf>::new();
    loop {
        let job = match removals.pop_front() {
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Some(path) => match jobs.try_recv() {
                Ok(job) => {
                    removals.push_front(path);
                    job
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    remove_blob_file(&path);
                    continue;
                }
            },
        };
        match job {
            CommitJob::Write {
                bytes,
                dest,
                answer,
            } => match write_blob(&bytes, &dest, &mut folders) {
                Ok(()) => {
                    if let Err(unsent) = written.send(answer) {
                        // A writer that stopped waiting needs no answer.
                        unsent
                            .0
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

fn write_blob(bytes: &[Bytes], dest: &Path, folders: &mut HashSet<PathBuf>) -> std::io::Result<()> {
    let folder = dest.parent().expect("blob paths have a parent");
    if !folders.contains(folder) {
        std::fs::create_dir_all(folder)?;
        folders.insert(folder.to_path_buf());
    }
    let mut f = std::fs::File::create(dest)?;
    for b in bytes {
        f.write_all(b)?;
    }
    Ok(())
}

/// The syncer thread: every blob written since the last flush, one `syncfs`, every writer
/// answered. A `syncfs` started after a blob's rename returned covers its data and its name.
fn sync_groups(root: &Path, written: std::sync::mpsc::Receiver<Answer>) {
    while let Ok(first) = written.recv() {
        let group: Vec<Answer> = std::iter::once(first)
            .chain(std::iter::from_fn(|| written.try_recv().ok()))
            .collect();
        let started = std::time::Instant::now();
        let synced = syncfs(root);
        tracing::debug!(
            blobs = group.len(),
            sync_us = started.elapsed().as_micros() as u64,
            "blob group durable"
        );
        for answer in group {
            let r = match &synced {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            // A writer that stopped waiting needs no answer.
            answer.send(r).ok();
        }
    }
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

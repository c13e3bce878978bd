//! Pipe-mode channels inside the container. Where the engine cannot share a host FIFO with the
//! container (the swarm), sagebox stages each instance's objects in a host directory, named so
//! that name order is key order, and the agent feeds the FIFOs itself: for epoch 0, 1, … it
//! makes `<fifo_dir>/<channel>_<epoch>`, waits for the program to open it, fetches the
//! directory as a tar from sagebox and writes each file's bytes into the FIFO in archive order
//! (each file one RecordIO record when asked), then closes it: the same bytes the local
//! engine's `staging::feed_pipe` writes into a host FIFO. The next epoch's FIFO is made as soon
//! as a reader has opened the current one, so it is there when the reader reaches the end.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::client::{AgentClient, empty};
use super::exec::{request, say, summary};
use super::plan::{Plan, PlannedPipe};
use super::tree::Stats;

/// The first word of every RecordIO record (little-endian), as SageMaker frames them.
pub const RECORDIO_MAGIC: u32 = 0xced7_230a;

/// How often a feeder looks for a reader of its FIFO (and for the end of the program).
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// The FIFO of a channel's epoch: `<fifo_dir>/<channel>_<epoch>`.
pub fn fifo_path(pipe: &PlannedPipe, epoch: u64) -> PathBuf {
    Path::new(&pipe.fifo_dir).join(format!("{}_{epoch}", pipe.channel))
}

/// What goes before a record of `len` bytes: the magic and the length, little-endian.
pub fn recordio_header(len: u32) -> [u8; 8] {
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(&RECORDIO_MAGIC.to_le_bytes());
    head[4..].copy_from_slice(&len.to_le_bytes());
    head
}

/// The zero bytes after a record of `len` bytes, up to a multiple of 4.
pub fn recordio_padding(len: u64) -> usize {
    ((4 - len % 4) % 4) as usize
}

/// How an epoch ended: every file written, or the reader closed the FIFO first (which ends the
/// epoch, as it does on SageMaker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    Whole(Stats),
    Closed(Stats),
}

/// A writer that remembers whether its reader went away (EPIPE).
struct Sink<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Sink<W> {
    fn seen<T>(&mut self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.closed = true;
        }
        r
    }
}

impl<W: Write> Write for Sink<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(data);
        self.seen(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.seen(r)
    }
}

/// Writes the regular files of the tar `input` into `out` in archive order, each as one
/// RecordIO record when `recordio`. A reader that goes away is `Fed::Closed`, not an error.
pub fn write_epoch<R: Read, W: Write>(input: R, out: W, recordio: bool) -> io::Result<Fed> {
    let mut sink = Sink {
        inner: out,
        closed: false,
    };
    let mut stats = Stats::default();
    let mut archive = tar::Archive::new(input);
    match copy_files(&mut archive, &mut sink, recordio, &mut stats) {
        Ok(()) => Ok(Fed::Whole(stats)),
        Err(_) if sink.closed => Ok(Fed::Closed(stats)),
        Err(e) => Err(e),
    }
}

fn copy_files<R: Read, W: Write>(
    archive: &mut tar::Archive<R>,
    out: &mut W,
    recordio: bool,
    stats: &mut Stats,
) -> io::Result<()> {
    for entry in archive.entries()? {
        let mut entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let len = entry.size();
        let name = entry.path()?.display().to_string();
        if recordio {
            let len32 = u32::try_from(len).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{name}: {len} bytes do not fit in one RecordIO record (4 GiB at most)"
                    ),
                )
            })?;
            out.write_all(&recordio_header(len32))?;
        }
        let copied = io::copy(&mut entry, out)?;
        if copied != len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{name}: the archive broke off after {copied} of {len} bytes"),
            ));
        }
        if recordio {
            out.write_all(&[0u8; 3][..recordio_padding(len)])?;
        }
        stats.files += 1;
        stats.bytes += len;
    }
    out.flush()
}

/// Makes a FIFO at `path` (mkfifo(3): the image may have no mkfifo program); one already
/// there will do.
pub fn make_fifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    // SAFETY: mkfifo(3) with a NUL-terminated path that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o666) } == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    let fifo = || std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo());
    if e.kind() == io::ErrorKind::AlreadyExists && fifo() {
        Ok(())
    } else {
        Err(e)
    }
}

/// Waits until a reader has opened the FIFO (a non-blocking open for writing fails with ENXIO
/// until one has), looking at `stop` meanwhile; then the same descriptor becomes a blocking
/// writer, so the writers never drop to none and the reader never sees an early end. None when
/// stopped first.
pub fn open_when_read(fifo: &Path, stop: &AtomicBool) -> io::Result<Option<File>> {
    let out = loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
        {
            Ok(out) => break out,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => std::thread::sleep(PROBE_EVERY),
            Err(e) => return Err(e),
        }
    };
    use std::os::fd::AsRawFd;
    let fd = out.as_raw_fd();
    // SAFETY: fcntl(2) on a descriptor `out` owns, with flags it answered itself.
    let cleared = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
    };
    if !cleared {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(out))
}

/// The running feeders of a plan's pipes.
pub struct Feeders {
    stop: Arc<AtomicBool>,
    failed: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Makes each pipe's first FIFO (so it is there when the program starts) and starts its feeder
/// on the current runtime. A pipe whose FIFO cannot be made is said and counted as failed.
pub fn start(plan: &Plan) -> Feeders {
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for pipe in &plan.pipes {
        let first = fifo_path(pipe, 0);
        let made = std::fs::create_dir_all(&pipe.fifo_dir).and_then(|()| make_fifo(&first));
        if let Err(e) = made {
            say(&format!(
                "cannot make the Pipe-mode FIFO {}: {e}",
                first.display()
            ));
            failed.store(true, Ordering::Relaxed);
            continue;
        }
        let (url, pipe) = (plan.id_url(&pipe.id), pipe.clone());
        let (stop, failed) = (stop.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = feed(&url, &pipe, stop).await {
                say(&e);
                failed.store(true, Ordering::Relaxed);
            }
        }));
    }
    Feeders {
        stop,
        failed,
        tasks,
    }
}

impl Feeders {
    /// Stops every feeder (the program has exited); whether any of them failed.
    pub fn stop(self) -> bool {
        self.stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
        self.failed.load(Ordering::Relaxed)
    }
}

/// One pipe, epoch after epoch, until stopped or failed (the message says what to check).
async fn feed(url: &str, pipe: &PlannedPipe, stop: Arc<AtomicBool>) -> Result<(), String> {
    let client = AgentClient::default();
    for epoch in 0u64.. {
        let fifo = fifo_path(pipe, epoch);
        let (this, next, stop) = (fifo.clone(), fifo_path(pipe, epoch + 1), stop.clone());
        let opened = tokio::task::spawn_blocking(move || {
            let out = open_when_read(&this, &stop)?;
            // the next epoch's FIFO is there before the reader sees this one's end
            if out.is_some() {
                make_fifo(&next)?;
            }
            Ok::<_, io::Error>(out)
        })
        .await
        .map_err(|e| e.to_string())?;
        let out = match opened {
            Ok(Some(out)) => out,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("Pipe-mode FIFO {}: {e}", fifo.display())),
        };
        let started = Instant::now();
        let shown = fifo.display().to_string();
        match feed_epoch(&client, url, pipe, out).await {
            Ok(Fed::Whole(stats)) => say(&format!("fed {}", summary(&shown, stats, started))),
            Ok(Fed::Closed(stats)) => say(&format!(
                "fed {} (the reader closed it before its end)",
                summary(&shown, stats, started)
            )),
            Err(e) => {
                return Err(format!(
                    "cannot feed {shown}: {e}\nsagebox-agent: check that sagebox is reachable from this node at {url} \
                     (its cluster address) and that this container was started by that sagebox; the program read an \
                     incomplete epoch."
                ));
            }
        }
    }
    Ok(())
}

/// Fetches the pipe's source as a tar and writes its files into `out`, streaming.
async fn feed_epoch(
    client: &AgentClient,
    url: &str,
    pipe: &PlannedPipe,
    out: File,
) -> Result<Fed, String> {
    let mut make = || request(http::Method::GET, url, &pipe.token, None, empty());
    let resp = client.send(&mut make).await.map_err(|e| e.message)?;
    let recordio = pipe.recordio;
    super::bridge::read_body_blocking(resp.into_body(), move |r| write_epoch(r, out, recordio))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{url}: {e}"))
}

#[cfg(test)]
#[path = "pipe_tests.rs"]
mod tests;

//! Between async HTTP bodies and the blocking tar code: a blocking writer whose bytes become a
//! body's stream, and a body pumped into a blocking reader. Both go through a small bounded
//! channel, so a tree of any size moves with a few chunks in memory and each side waits for
//! the other (a slow network slows the disk, never the other way round into a buffer).

use std::io::{self, Read, Write};

use bytes::Bytes;
use futures_util::Stream;
use http_body_util::BodyExt;
use tokio::sync::mpsc;

/// Bytes written are sent on in chunks of this size.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two sides.
const DEPTH: usize = 8;

type Chunk = io::Result<Bytes>;

/// A blocking writer feeding a channel; use it only off the async workers.
pub struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the receiver went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Runs `produce` on a blocking thread, its writes becoming the returned stream; a failure
/// ends the stream with that error (so an HTTP body is cut short, not ended cleanly). The
/// handle answers what `produce` returned.
pub fn stream_from_blocking<T, F>(
    produce: F,
) -> (
    impl Stream<Item = Chunk> + Send + 'static,
    tokio::task::JoinHandle<io::Result<T>>,
)
where
    T: Send + 'static,
    F: FnOnce(&mut ChannelWriter) -> io::Result<T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Chunk>(DEPTH);
    let job = tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = produce(&mut w).and_then(|t| w.flush().map(|()| t));
        if let Err(e) = &result {
            // Nobody may be reading any more; then there is nobody to tell.
            tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())))
                .ok();
        }
        result
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    (stream, job)
}

/// A blocking reader of a channel's chunks; the end of the channel is the end of input.
pub struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(chunk) => self.current = chunk?,
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Pumps `body` into `consume`, which runs on a blocking thread and reads it as a
/// [`ChannelReader`]; what `consume` returned (an error only if its thread panicked). A body
/// that fails reaches the reader as a read error.
pub async fn read_body_blocking<B, T, F>(mut body: B, consume: F) -> io::Result<T>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
    T: Send + 'static,
    F: FnOnce(ChannelReader) -> T + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Chunk>(DEPTH);
    let job = tokio::task::spawn_blocking(move || {
        consume(ChannelReader {
            rx,
            current: Bytes::new(),
        })
    });
    while let Some(frame) = body.frame().await {
        let chunk = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => Ok(data),
                Err(_) => continue, // trailers
            },
            Err(e) => Err(io::Error::other(format!("the body broke off: {e}"))),
        };
        let failed = chunk.is_err();
        // A send fails when the reader has finished early (e.g. it refused the input).
        if tx.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    job.await.map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_blocking_writer_streams_into_a_blocking_reader() {
        let (stream, job) = stream_from_blocking(|w| {
            for i in 0..100u32 {
                w.write_all(&vec![(i % 251) as u8; 10_000])?;
            }
            Ok(42)
        });
        let frames = Box::pin(stream.map(|c| c.map(hyper::body::Frame::data)));
        let body = http_body_util::StreamBody::new(frames);
        let read = read_body_blocking(body, |mut r| {
            let mut all = Vec::new();
            r.read_to_end(&mut all).map(|_| all)
        });
        let all = read.await.unwrap().unwrap();
        assert_eq!(all.len(), 1_000_000);
        assert_eq!(all[999_999], 99);
        assert_eq!(job.await.unwrap().unwrap(), 42);
    }

    #[tokio::test]
    async fn a_failing_writer_cuts_the_stream_with_its_error() {
        let (stream, job) = stream_from_blocking(|w| -> io::Result<()> {
            w.write_all(b"partial")?;
            w.flush()?;
            Err(io::Error::other("disk gone"))
        });
        let chunks: Vec<_> = stream.collect().await;
        assert_eq!(chunks.len(), 2);
        assert!(
            chunks[1]
                .as_ref()
                .is_err_and(|e| e.to_string() == "disk gone")
        );
        assert!(job.await.unwrap().is_err());
    }
}

//! A loopback port per published service port: the services reach a model server or a Jupyter
//! at `127.0.0.1:<port>` on every engine, and on a swarm that port forwards to wherever the
//! task runs now (the node's address and the port the node published), looked up again when a
//! connection fails, so a task rescheduled onto another node is found there.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};

/// Finds where a published port answers now.
pub type Resolve =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<SocketAddr>> + Send>> + Send + Sync>;

/// A listening forwarder; it stops when dropped.
pub struct Forward {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Forward {
    pub async fn start(resolve: Resolve) -> std::io::Result<Forward> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let known: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let task = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let (resolve, known) = (resolve.clone(), known.clone());
                tokio::spawn(async move {
                    if let Some(outbound) = connect(&resolve, &known).await {
                        let (mut a, mut b) = (inbound, outbound);
                        // either side closing ends the pair; errors are the peers' business
                        let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                    }
                });
            }
        });
        Ok(Forward { port, task })
    }
}

/// Connects to the last known address, or to a fresh lookup's when that fails.
async fn connect(resolve: &Resolve, known: &Mutex<Option<SocketAddr>>) -> Option<TcpStream> {
    let last = known.lock().ok().and_then(|k| *k);
    if let Some(addr) = last
        && let Ok(stream) = TcpStream::connect(addr).await
    {
        return Some(stream);
    }
    let addr = resolve().await?;
    if let Ok(mut k) = known.lock() {
        *k = Some(addr);
    }
    let stream = TcpStream::connect(addr).await.ok()?;
    stream.set_nodelay(true).ok();
    Some(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_reach_where_the_lookup_says_and_follow_a_move() {
        async fn answering(word: &'static [u8]) -> (SocketAddr, tokio::task::JoinHandle<()>) {
            let l = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
            let addr = l.local_addr().expect("addr");
            let serving = tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    s.write_all(word).await.ok();
                }
            });
            (addr, serving)
        }
        let (first, first_serving) = answering(b"one").await;
        let (second, _second_serving) = answering(b"two").await;
        let target = Arc::new(Mutex::new(first));
        let t = target.clone();
        let resolve: Resolve = Arc::new(move || {
            let addr = *t.lock().expect("lock");
            Box::pin(async move { Some(addr) })
        });
        let fwd = Forward::start(resolve).await.expect("start");
        let read = |port: u16| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.expect("read");
            buf
        };
        assert_eq!(read(fwd.port).await, b"one");
        // the task moved: the old address stops answering, the lookup names the new one
        first_serving.abort();
        let _ = first_serving.await;
        *target.lock().expect("lock") = second;
        assert_eq!(read(fwd.port).await, b"two");
    }
}

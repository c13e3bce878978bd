//! A loopback port per published service port: the services reach a model server or a Jupyter
//! at `127.0.0.1:<port>` on every engine, and on a swarm that port forwards to wherever the
//! task runs now (the node's address and the port the node published), looked up again when a
//! connection fails, so a task rescheduled onto another node is found there.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// Finds where a published port answers now.
pub type Resolve =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<SocketAddr>> + Send>> + Send + Sync>;

/// How often a forwarder asks where its task is now: a task started again elsewhere is found
/// within this, and the connections to where it was are closed then.
const FOLLOW: Duration = Duration::from_secs(2);
/// A known address that does not accept within this is looked up again (a lost node's address
/// often drops packets instead of refusing them).
const CONNECT: Duration = Duration::from_secs(3);

/// A listening forwarder; it stops when dropped.
pub struct Forward {
    pub port: u16,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Where connections go now; a change closes the connections made to the old place.
type Known = Arc<tokio::sync::watch::Sender<Option<SocketAddr>>>;

impl Forward {
    pub async fn start(resolve: Resolve) -> std::io::Result<Forward> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let known: Known = Arc::new(tokio::sync::watch::channel(None).0);
        let following = tokio::spawn(follow(resolve.clone(), known.clone()));
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    continue;
                };
                let (resolve, known) = (resolve.clone(), known.clone());
                tokio::spawn(async move {
                    let Some((outbound, to)) = connect(&resolve, &known).await else {
                        return;
                    };
                    let mut moved = known.subscribe();
                    let (mut a, mut b) = (inbound, outbound);
                    tokio::select! {
                        // either side closing ends the pair; errors are the peers' business
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = moved.wait_for(|now| *now != Some(to)) => {}
                    }
                });
            }
        });
        Ok(Forward {
            port,
            tasks: vec![accepting, following],
        })
    }
}

/// Looks the task up every `FOLLOW`, publishing where it is.
async fn follow(resolve: Resolve, known: Known) {
    loop {
        if let Some(addr) = resolve().await {
            known.send_if_modified(|k| {
                let changed = *k != Some(addr);
                *k = Some(addr);
                changed
            });
        }
        tokio::time::sleep(FOLLOW).await;
    }
}

/// Connects to the known address, or to a fresh lookup's when that fails.
async fn connect(resolve: &Resolve, known: &Known) -> Option<(TcpStream, SocketAddr)> {
    let last = *known.borrow();
    if let Some(addr) = last
        && let Ok(Ok(stream)) = tokio::time::timeout(CONNECT, TcpStream::connect(addr)).await
    {
        stream.set_nodelay(true).ok();
        return Some((stream, addr));
    }
    let addr = resolve().await?;
    known.send_if_modified(|k| {
        let changed = *k != Some(addr);
        *k = Some(addr);
        changed
    });
    let stream = tokio::time::timeout(CONNECT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    stream.set_nodelay(true).ok();
    Some((stream, addr))
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
        let target = Arc::new(std::sync::Mutex::new(first));
        let t = target.clone();
        let resolve: Resolve = Arc::new(move || {
            let addr = *t.lock().expect("lock");
            Box::pin(async move { Some(addr) })
        });
        let fwd = Forward::start(resolve).await.expect("start");
        let read = |port: u16| async move {
            let mut s = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.expect("read");
            buf
        };
        assert_eq!(read(fwd.port).await, b"one");
        // the task moved: the old address stops answering, the lookup names the new one
        first_serving.abort();
        first_serving.await.expect_err("aborted");
        *target.lock().expect("lock") = second;
        assert_eq!(read(fwd.port).await, b"two");
    }
}

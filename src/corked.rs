//! Large response bodies sent in full-size segments.
//!
//! sagebox's sockets have `TCP_NODELAY` set so that a small answer never waits for Nagle's
//! algorithm. For a large body written in pieces, that also pushes the short segment at the end
//! of every write the socket could only partly take, and each such segment is one more wake-up
//! and read for the receiver. [`Conn`] corks the socket (`TCP_CORK`) while a large write is in
//! progress and uncorks it when hyper flushes: the body goes out in full segments, and whatever
//! is left after a flush leaves at once, as with `TCP_NODELAY` alone.

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Writes of at least this many bytes cork the socket until the next flush.
const LARGE: usize = 256 << 10;

/// A TCP connection corked while large writes go out (see the module's comment).
#[derive(Debug)]
pub struct Conn {
    tcp: TcpStream,
    corked: bool,
}

impl Conn {
    pub fn new(tcp: TcpStream) -> Conn {
        Conn { tcp, corked: false }
    }

    fn cork(&mut self, on: bool) {
        if self.corked == on {
            return;
        }
        let value = libc::c_int::from(on);
        // SAFETY: a valid socket and an int-sized option value.
        let done = unsafe {
            libc::setsockopt(
                self.tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&raw const value).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if done == 0 {
            self.corked = on;
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if buf.len() >= LARGE {
            this.cork(true);
        }
        Pin::new(&mut this.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if bufs.iter().map(|b| b.len()).sum::<usize>() >= LARGE {
            this.cork(true);
        }
        Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.cork(false);
        Pin::new(&mut this.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        this.cork(false);
        Pin::new(&mut this.tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn corked(conn: &Conn) -> bool {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid socket and an int-sized buffer for the option.
        let done = unsafe {
            libc::getsockopt(
                conn.tcp.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_CORK,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        assert_eq!(done, 0, "getsockopt: {}", std::io::Error::last_os_error());
        value != 0
    }

    #[tokio::test]
    async fn a_large_write_corks_until_the_flush_and_every_byte_arrives_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let reader = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.expect("read");
            got
        });
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let mut conn = Conn::new(tcp);
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000003\r\n\r\n".to_vec();
        let body: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        // A small write leaves the socket as it was.
        conn.write_all(&head).await.expect("head");
        assert!(!corked(&conn));
        let mut bufs = [
            IoSlice::new(&body[..600_000]),
            IoSlice::new(&body[600_000..]),
        ];
        let mut slices: &mut [IoSlice<'_>] = &mut bufs;
        let n = conn.write_vectored(slices).await.expect("body");
        assert!(corked(&conn), "a large write corks the socket");
        IoSlice::advance_slices(&mut slices, n);
        while !slices.is_empty() {
            let n = conn.write_vectored(slices).await.expect("body");
            IoSlice::advance_slices(&mut slices, n);
        }
        conn.flush().await.expect("flush");
        assert!(!corked(&conn), "a flush uncorks it");
        conn.shutdown().await.expect("shutdown");
        let got = reader.await.expect("reader");
        assert_eq!(got.len(), head.len() + body.len());
        assert!(got[..head.len()] == head[..] && got[head.len()..] == body[..]);
    }
}

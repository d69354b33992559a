//! Write coalescing for the milter connection: everything written between two reads goes out
//! in one write.
//!
//! indymilter writes and flushes every protocol message on its own. At end of message that is
//! a dozen small writes (sender change, header insertions, recipient swap, the final reply),
//! each a syscall here and a segment Postfix must read. The milter protocol is strictly
//! request/response: after answering, the milter always reads Postfix's next command. So
//! writes are kept until the next read (or shutdown) and then sent together, like `TCP_CORK`
//! with a natural uncork point. A `flush` only marks the data as ready; it never delays it
//! past the next read, so no reply can be held back while Postfix waits for it.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Past this much pending output, writes go out at once (a large reply is not held in memory).
const MAX_PENDING: usize = 64 * 1024;

/// A stream whose writes are held until the next read or shutdown.
#[derive(Debug)]
pub struct Coalescing<S> {
    inner: S,
    pending: Vec<u8>,
    sent: usize,
}

impl<S> Coalescing<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner, pending: Vec::new(), sent: 0 }
    }
}

impl<S: AsyncWrite + Unpin> Coalescing<S> {
    /// Writes out everything pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.pending.clear();
        self.sent = 0;
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Coalescing<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The answer goes out before we wait for the next command.
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalescing<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pending.len() + data.len() > MAX_PENDING {
            ready!(this.poll_drain(cx))?;
            if data.len() > MAX_PENDING {
                return Pin::new(&mut this.inner).poll_write(cx, data);
            }
        }
        this.pending.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Held until the next read or shutdown, which always follows (see the module comment).
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_wait_for_the_next_read_and_go_out_together() {
        let (ours, mut peer) = tokio::io::duplex(1024);
        let mut stream = Coalescing::new(ours);
        stream.write_all(b"one").await.unwrap();
        stream.flush().await.unwrap();
        stream.write_all(b"two").await.unwrap();
        stream.flush().await.unwrap();
        let mut got = [0; 16];
        // Nothing has gone out yet.
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), peer.read(&mut got)).await.is_err());
        peer.write_all(b"next").await.unwrap();
        let mut next = [0; 4];
        stream.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"next");
        let n = peer.read(&mut got).await.unwrap();
        assert_eq!(&got[..n], b"onetwo");
    }

    #[tokio::test]
    async fn shutdown_sends_what_is_pending() {
        let (ours, mut peer) = tokio::io::duplex(1024);
        let mut stream = Coalescing::new(ours);
        stream.write_all(b"last words").await.unwrap();
        stream.shutdown().await.unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
    }

    #[tokio::test]
    async fn a_large_write_is_not_held() {
        let (ours, mut peer) = tokio::io::duplex(4 * MAX_PENDING);
        let mut stream = Coalescing::new(ours);
        let big = vec![7u8; MAX_PENDING + 1];
        stream.write_all(&big).await.unwrap();
        let mut got = vec![0; big.len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(got, big);
    }
}

//! The milter socket, with `TCP_NODELAY` on every accepted stream and a small MSS.
//!
//! indymilter writes each protocol message in one write, but at end of message we send several
//! (delete recipient, add recipient..., continue); with Nagle on, all but the first wait for
//! Postfix's delayed ACK, about 40 ms per message (DESIGN §7).
//!
//! The MSS: Postfix asks the kernel for the milter connection's MSS and, when it exceeds a
//! quarter of its 4 KB stream buffer, grows that buffer to four times the MSS
//! (`vstream_tweak_tcp`). Over loopback the MSS is 32 KB, so smtpd and then cleanup each
//! allocate and clear a 128 KB buffer for every SMTP session: 0.16 CPU-ms per message, about
//! 6% of what a signed forward adds. Advertising an MSS of 1 KB keeps Postfix at 4 KB; reads
//! then ask for immediate ACKs ([`QuickAckStream`]), or multi-segment bodies would stall.

use crate::coalesce::Coalescing;
use indymilter::{EitherListener, EitherStream, Listener};
use smtpy_shared::config::MilterSocket;
use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream, UnixListener, UnixStream},
};

/// The MSS the milter's TCP listener advertises: at most a quarter of Postfix's 4 KB stream
/// buffer (see the module documentation).
pub const MILTER_TCP_MSS: u32 = 1024;

/// The milter's TCP listener: a 1 KB MSS, and Nagle off and quick ACKs on each connection.
pub struct NoDelayTcpListener(TcpListener);

impl NoDelayTcpListener {
    /// Wraps `listener`, advertising [`MILTER_TCP_MSS`] to connections it accepts from now on.
    fn new(listener: TcpListener) -> Self {
        if let Err(e) = socket2::SockRef::from(&listener).set_tcp_mss(MILTER_TCP_MSS) {
            tracing::warn!("cannot set the milter socket's TCP_MAXSEG: {e}");
        }
        Self(listener)
    }
}

impl Listener for NoDelayTcpListener {
    type Io = QuickAckStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<QuickAckStream>> {
        self.0.poll_accept(cx).map_ok(|(stream, _)| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY on a milter connection: {e}");
            }
            QuickAckStream(stream)
        })
    }
}

/// A milter TCP connection that acknowledges what it read at once.
///
/// Postfix writes with Nagle on, and most of what it sends needs no answer (headers, body);
/// with 1 KB segments a message is long enough to leave the kernel's initial quick-ACK mode,
/// and then each small write of Postfix's waits for our delayed ACK (40 ms). Asking for a quick
/// ACK after each read sends the ACK as soon as the data is consumed.
pub struct QuickAckStream(TcpStream);

impl AsyncRead for QuickAckStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            // Best effort: a failure here costs latency, never correctness.
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
        polled
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The milter's listening socket, TCP or unix.
pub struct MilterListener(EitherListener<NoDelayTcpListener, UnixListener>);

impl MilterListener {
    /// Binds `socket`. A stale unix socket file is replaced; the new one is made writable for
    /// the `postfix` group (or everyone, where there is no such group).
    pub async fn bind(socket: &MilterSocket) -> io::Result<Self> {
        match socket {
            MilterSocket::Inet(addr) => {
                Ok(Self(EitherListener::Tcp(NoDelayTcpListener::new(TcpListener::bind(addr).await?))))
            }
            MilterSocket::Unix(path) => {
                match std::fs::remove_file(path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                let listener = UnixListener::bind(path)?;
                set_socket_access(path)?;
                Ok(Self(EitherListener::Unix(listener)))
            }
        }
    }

    /// The bound TCP address, if TCP.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.0 {
            EitherListener::Tcp(l) => l.0.local_addr().ok(),
            EitherListener::Unix(_) => None,
        }
    }
}

impl From<TcpListener> for MilterListener {
    fn from(listener: TcpListener) -> Self {
        Self(EitherListener::Tcp(NoDelayTcpListener::new(listener)))
    }
}

impl Listener for MilterListener {
    type Io = Coalescing<EitherStream<QuickAckStream, UnixStream>>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Io>> {
        self.0.poll_accept(cx).map_ok(Coalescing::new)
    }
}

pub(crate) fn set_socket_access(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let gid = std::fs::read_to_string("/etc/group").ok().and_then(|groups| {
        groups.lines().find_map(|line| {
            let mut fields = line.split(':');
            (fields.next() == Some("postfix")).then(|| fields.nth(1)?.parse::<u32>().ok())?
        })
    });
    match gid {
        Some(gid) => {
            std::os::unix::fs::chown(path, None, Some(gid))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        }
        None => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Postfix grows its milter stream buffer to four times the MSS it reads from the socket
    /// when that exceeds 1 KB: the listener must keep what a client sees at or below that.
    #[tokio::test]
    async fn milter_tcp_listener_advertises_an_mss_that_keeps_postfix_buffers_at_4_kb() {
        let mut listener = MilterListener::bind(&MilterSocket::Inet("127.0.0.1:0".parse().unwrap())).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let mss = socket2::SockRef::from(&client).tcp_mss().unwrap();
        assert!(mss <= 1024, "the client sees an MSS of {mss}; Postfix would allocate {} bytes", 4 * mss);
        // Over loopback the kernel's own choice is tens of KB: the option did something.
        assert!(mss >= 512, "MSS {mss}");

        // The accepted stream (TCP_NODELAY, quick ACKs, write coalescing) carries data both ways.
        let mut server = poll_fn(|cx| listener.poll_accept(cx)).await.unwrap();
        let big = vec![b'm'; 100_000];
        client.write_all(&big).await.unwrap();
        let mut got = vec![0; big.len()];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, big);
        server.write_all(b"reply").await.unwrap();
        server.shutdown().await.unwrap();
        let mut reply = Vec::new();
        client.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"reply");
    }
}

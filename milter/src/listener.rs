//! The milter socket, with `TCP_NODELAY` on every accepted stream.
//!
//! indymilter writes each protocol message in one write, but at end of message we send several
//! (delete recipient, add recipient..., continue); with Nagle on, all but the first wait for
//! Postfix's delayed ACK, about 40 ms per message (DESIGN §7).

use crate::coalesce::Coalescing;
use indymilter::{EitherListener, EitherStream, Listener};
use smtpy_shared::config::MilterSocket;
use std::{
    io,
    task::{Context, Poll},
};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// A TCP listener that disables Nagle on each connection.
pub struct NoDelayTcpListener(TcpListener);

impl Listener for NoDelayTcpListener {
    type Io = TcpStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<TcpStream>> {
        self.0.poll_accept(cx).map_ok(|(stream, _)| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY on a milter connection: {e}");
            }
            stream
        })
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
                Ok(Self(EitherListener::Tcp(NoDelayTcpListener(TcpListener::bind(addr).await?))))
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

    /// Whether this is a unix socket (no Nagle there, which changes what we may negotiate).
    pub fn is_unix(&self) -> bool {
        matches!(self.0, EitherListener::Unix(_))
    }
}

impl From<TcpListener> for MilterListener {
    fn from(listener: TcpListener) -> Self {
        Self(EitherListener::Tcp(NoDelayTcpListener(listener)))
    }
}

impl Listener for MilterListener {
    type Io = Coalescing<EitherStream<TcpStream, UnixStream>>;

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

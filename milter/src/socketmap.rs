//! Postfix's lookup tables served from the milter's memory: a socketmap server
//! (`socketmap_table(5)`), so Postfix asks us instead of Postgres.
//!
//! Postfix looks `relay_domains` up about three times per message (smtpd, cleanup and qmgr
//! through trivial-rewrite). As a pgsql map each lookup was a query and a commit: 0.35
//! CPU-ms per message in Postgres alone in bench/. Here it is a hash lookup in the routing
//! cache, which LISTEN/NOTIFY keeps current, so a domain added over the API is relayed at once;
//! while the change listener is down every lookup asks the database, and a database failure
//! answers `TEMP`, which Postfix turns into a 4xx (the sender retries; no mail is lost).
//!
//! Protocol: each request is a netstring `<len>:<name> <key>,`; each reply a netstring
//! `OK <value>`, `NOTFOUND `, `TEMP <reason>` or `PERM <reason>`. Postfix keeps the connection
//! open and sends the next request after the reply, so each reply is one write.

use crate::App;
use smtpy_shared::config::MilterSocket;
use std::{io, sync::Arc};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, UnixListener},
};

/// The map Postfix's `relay_domains` names: `socketmap:inet:HOST:PORT:relay_domains`.
pub const RELAY_DOMAINS: &str = "relay_domains";

/// The longest request we read; a domain is at most 253 bytes, so this is generous.
const MAX_REQUEST: usize = 4096;

/// What one lookup answers.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Found, with the value.
    Ok(String),
    /// Not in the table.
    NotFound,
    /// Try again later (database trouble).
    Temp(String),
    /// A request we will never answer (unknown map, malformed).
    Perm(String),
}

impl Reply {
    /// The reply as a netstring.
    pub fn encode(&self) -> Vec<u8> {
        let body = match self {
            Self::Ok(value) => format!("OK {value}"),
            Self::NotFound => "NOTFOUND ".to_owned(),
            Self::Temp(reason) => format!("TEMP {reason}"),
            Self::Perm(reason) => format!("PERM {reason}"),
        };
        format!("{}:{body},", body.len()).into_bytes()
    }
}

/// Binds the socketmap socket.
pub async fn bind(socket: &MilterSocket) -> io::Result<MapListener> {
    match socket {
        MilterSocket::Inet(addr) => Ok(MapListener::Tcp(TcpListener::bind(addr).await?)),
        MilterSocket::Unix(path) => {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let listener = UnixListener::bind(path)?;
            crate::listener::set_socket_access(path)?;
            Ok(MapListener::Unix(listener))
        }
    }
}

/// The bound socketmap socket.
pub enum MapListener {
    /// `inet:HOST:PORT`.
    Tcp(TcpListener),
    /// `unix:PATH`.
    Unix(UnixListener),
}

/// Serves Postfix's lookups until the process ends; one task per connection.
pub async fn serve(listener: MapListener, app: Arc<App>) {
    loop {
        let accepted = match &listener {
            MapListener::Tcp(l) => l.accept().await.map(|(stream, _)| {
                // Replies are single writes, but Postfix's next request must not wait for a
                // delayed ACK either.
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, app.clone()));
            }),
            MapListener::Unix(l) => l.accept().await.map(|(stream, _)| {
                tokio::spawn(connection(stream, app.clone()));
            }),
        };
        if let Err(e) = accepted {
            tracing::warn!("socketmap: accept failed: {e}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

async fn connection<S>(stream: S, app: Arc<App>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut read = BufReader::new(read);
    loop {
        let request = match read_netstring(&mut read).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(e) => {
                // A framing error leaves us out of step with the client: say so and hang up.
                tracing::warn!("socketmap: bad request: {e}");
                let _ = write.write_all(&Reply::Perm(format!("bad request: {e}")).encode()).await;
                return;
            }
        };
        let reply = lookup(&app, &request).await;
        if write.write_all(&reply.encode()).await.is_err() {
            return;
        }
    }
}

/// Answers one request, `<name> <key>`.
pub async fn lookup(app: &App, request: &[u8]) -> Reply {
    let Ok(request) = std::str::from_utf8(request) else {
        return Reply::Perm("the request is not UTF-8".to_owned());
    };
    let Some((name, key)) = request.split_once(' ') else {
        return Reply::Perm("expected '<name> <key>'".to_owned());
    };
    match name {
        RELAY_DOMAINS => {
            let domain = key.trim_end_matches('.').to_ascii_lowercase();
            // Postfix also asks for parent-domain forms (".example.com") under
            // parent_domain_matches_subdomains; subdomains are hosted by their own rows.
            if domain.is_empty() || domain.starts_with('.') {
                return Reply::NotFound;
            }
            match app.cache.is_hosted_domain(&app.db, &domain).await {
                Ok(true) => Reply::Ok(domain),
                Ok(false) => Reply::NotFound,
                Err(e) => {
                    tracing::warn!("socketmap: relay_domains lookup of {domain} failed: {e}");
                    Reply::Temp("database unavailable".to_owned())
                }
            }
        }
        other => Reply::Perm(format!("no such map: {other}")),
    }
}

/// Reads one netstring; `None` at a clean end of stream.
async fn read_netstring<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> io::Result<Option<Vec<u8>>> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut length = Vec::with_capacity(8);
    let n = read.read_until(b':', &mut length).await?;
    if n == 0 {
        return Ok(None);
    }
    if length.pop() != Some(b':') || length.is_empty() || length.len() > 5 || !length.iter().all(u8::is_ascii_digit) {
        return Err(bad("expected a netstring length"));
    }
    let len: usize = std::str::from_utf8(&length).ok().and_then(|l| l.parse().ok()).ok_or_else(|| bad("length"))?;
    if len > MAX_REQUEST {
        return Err(bad("request too long"));
    }
    let mut body = vec![0; len + 1];
    read.read_exact(&mut body).await?;
    if body.pop() != Some(b',') {
        return Err(bad("netstring not terminated by ','"));
    }
    Ok(Some(body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_netstrings() {
        assert_eq!(Reply::Ok("alias.test".to_owned()).encode(), b"13:OK alias.test,");
        assert_eq!(Reply::NotFound.encode(), b"9:NOTFOUND ,");
        assert_eq!(Reply::Temp("db".to_owned()).encode(), b"7:TEMP db,");
    }

    #[tokio::test]
    async fn netstrings_are_read_one_at_a_time() {
        let mut input: &[u8] = b"25:relay_domains example.com,3:a b,";
        assert_eq!(read_netstring(&mut input).await.unwrap().unwrap(), b"relay_domains example.com");
        assert_eq!(read_netstring(&mut input).await.unwrap().unwrap(), b"a b");
        assert!(read_netstring(&mut input).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn malformed_netstrings_are_errors() {
        for input in [&b"x:abc,"[..], b"3:abc;", b"99999:a,", b":a,", b"5:ab"] {
            let mut input = input;
            assert!(read_netstring(&mut input).await.is_err(), "{input:?}");
        }
    }
}

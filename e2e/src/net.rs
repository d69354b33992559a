//! Ports: always picked by the kernel (bind `127.0.0.1:0`), never fixed.

use crate::wait::poll_until;
use anyhow::Result;
use std::{net::SocketAddr, time::Duration};
use tokio::net::TcpStream;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `addr`.
pub async fn wait_for_listener(addr: SocketAddr, timeout: Duration) -> Result<()> {
    poll_until(&format!("a listener on {addr}"), timeout, || async move {
        Ok(TcpStream::connect(addr).await.ok().map(drop))
    })
    .await
}

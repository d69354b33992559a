//! The capture sink: a small SMTP server that records every message Postfix delivers.

use anyhow::{Context, Result};
use std::{net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// One delivered message: the envelope and the exact DATA bytes (dot-unstuffed, without the
/// terminating `.` line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// MAIL FROM, without angle brackets (empty for the null sender).
    pub mail_from: String,
    /// RCPT TOs, without angle brackets, in the order given.
    pub rcpt_to: Vec<String>,
    /// The message as transferred.
    pub data: Vec<u8>,
}

/// A sink on 127.0.0.1:0 accepting every message; stops on drop.
#[derive(Debug)]
pub struct CaptureSink {
    addr: SocketAddr,
    delivered: watch::Receiver<Vec<Delivered>>,
    task: JoinHandle<()>,
}

impl CaptureSink {
    /// Starts the sink.
    pub async fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, delivered) = watch::channel(Vec::new());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Err(err) = serve(stream, &tx).await {
                        eprintln!("smtpy-e2e sink: session ended: {err:#}");
                    }
                });
            }
        });
        Ok(Self { addr, delivered, task })
    }

    /// The sink's port (Postfix's relayhost).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Everything delivered so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.delivered.borrow().clone()
    }

    /// Waits until at least `n` messages have arrived; returns all of them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<Delivered>> {
        let mut rx = self.delivered.clone();
        let all = tokio::time::timeout(timeout, rx.wait_for(|v| v.len() >= n))
            .await
            .with_context(|| format!("timed out after {timeout:?} waiting for {n} delivered messages"))?
            .context("the sink stopped")?
            .clone();
        Ok(all)
    }
}

impl Drop for CaptureSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The address inside `<...>` of a MAIL FROM or RCPT TO argument.
fn angle_addr(arg: &str) -> String {
    match (arg.find('<'), arg.find('>')) {
        (Some(start), Some(end)) if start < end => arg[start + 1..end].to_owned(),
        _ => arg.trim().to_owned(),
    }
}

async fn serve(stream: TcpStream, tx: &watch::Sender<Vec<Delivered>>) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    write.write_all(b"220 sink.localhost ESMTP capture sink\r\n").await?;
    let (mut mail_from, mut rcpt_to) = (None::<String>, Vec::new());
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let verb = text.get(..4).unwrap_or_default().to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.localhost\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 2.0.0 ok\r\n",
            "MAIL" => {
                mail_from = Some(angle_addr(text.get(10..).unwrap_or_default()));
                rcpt_to.clear();
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" => {
                rcpt_to.push(angle_addr(text.get(8..).unwrap_or_default()));
                b"250 2.1.5 ok\r\n"
            }
            "RSET" => {
                (mail_from, rcpt_to) = (None, Vec::new());
                b"250 2.0.0 ok\r\n"
            }
            "DATA" if mail_from.is_some() && !rcpt_to.is_empty() => {
                write.write_all(b"354 go ahead\r\n").await?;
                let data = read_data(&mut read).await?;
                let message = Delivered {
                    mail_from: mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut rcpt_to),
                    data,
                };
                tx.send_modify(|all| all.push(message));
                b"250 2.0.0 captured\r\n"
            }
            "DATA" => b"503 5.5.1 need MAIL and RCPT first\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 5.5.2 not implemented\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads DATA up to the lone `.` line, undoing dot-stuffing (RFC 5321 section 4.5.2).
async fn read_data(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            anyhow::bail!("connection closed during DATA");
        }
        if line == b".\r\n" {
            return Ok(data);
        }
        let unstuffed = if line.first() == Some(&b'.') { &line[1..] } else { &line[..] };
        data.extend_from_slice(unstuffed);
    }
}

//! A small SMTP client that keeps every reply, so tests can assert on RCPT and DATA answers.

use anyhow::{Context, Result, bail};
use std::{fmt, net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
};

const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// One SMTP reply: the code and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text after the code on each line.
    pub lines: Vec<String>,
}

impl Reply {
    /// The whole text, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Whether the reply is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// Whether the reply starts with `prefix`, e.g. `"550 5.1.1"`.
    pub fn starts_with(&self, prefix: &str) -> bool {
        self.to_string().starts_with(prefix)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text())
    }
}

/// An open SMTP session.
#[derive(Debug)]
pub struct SmtpClient {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
}

impl SmtpClient {
    /// Connects and reads the greeting.
    pub async fn connect(addr: SocketAddr) -> Result<(Self, Reply)> {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        let mut client = Self { read: BufReader::new(read), write };
        let greeting = client.read_reply().await?;
        Ok((client, greeting))
    }

    /// Reads one (possibly multi-line) reply.
    pub async fn read_reply(&mut self) -> Result<Reply> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(REPLY_TIMEOUT, self.read.read_line(&mut line))
                .await
                .context("timed out waiting for an SMTP reply")??;
            if n == 0 {
                bail!("connection closed while waiting for a reply (so far: {lines:?})");
            }
            let line = line.trim_end_matches(['\r', '\n']);
            let code = line
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .with_context(|| format!("bad reply line {line:?}"))?;
            lines.push(line.get(4..).unwrap_or_default().to_owned());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(Reply { code, lines });
            }
        }
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn command(&mut self, line: &str) -> Result<Reply> {
        self.write.write_all(format!("{line}\r\n").as_bytes()).await?;
        self.read_reply().await
    }

    /// `EHLO name`.
    pub async fn ehlo(&mut self, name: &str) -> Result<Reply> {
        self.command(&format!("EHLO {name}")).await
    }

    /// `MAIL FROM:<sender>`.
    pub async fn mail_from(&mut self, sender: &str) -> Result<Reply> {
        self.command(&format!("MAIL FROM:<{sender}>")).await
    }

    /// `RCPT TO:<recipient>`.
    pub async fn rcpt_to(&mut self, recipient: &str) -> Result<Reply> {
        self.command(&format!("RCPT TO:<{recipient}>")).await
    }

    /// `DATA` (expect 354).
    pub async fn data(&mut self) -> Result<Reply> {
        self.command("DATA").await
    }

    /// After a 354: sends `message` dot-stuffed, then the final `.`; returns the final reply.
    pub async fn send_data(&mut self, message: &[u8]) -> Result<Reply> {
        self.write.write_all(&dot_stuff(message)).await?;
        self.write.write_all(b".\r\n").await?;
        self.read_reply().await
    }

    /// `QUIT`.
    pub async fn quit(mut self) -> Result<Reply> {
        self.command("QUIT").await
    }
}

/// The message with leading dots doubled and a final CRLF ensured (RFC 5321 section 4.5.2).
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut at_line_start = true;
    for &byte in message {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The replies of one whole transaction.
#[derive(Debug, Clone)]
pub struct Transaction {
    /// The reply to MAIL FROM.
    pub mail: Reply,
    /// The reply to each RCPT TO, in order.
    pub rcpts: Vec<Reply>,
    /// The reply to DATA (354), if it was sent: only when some recipient was accepted.
    pub data: Option<Reply>,
    /// The reply after the message's final dot, if the message was sent.
    pub end_of_data: Option<Reply>,
}

impl Transaction {
    /// Sends one message to `addr`: EHLO, MAIL, every RCPT, then DATA when any RCPT was
    /// accepted, and QUIT.
    pub async fn send(addr: SocketAddr, sender: &str, recipients: &[&str], message: &[u8]) -> Result<Self> {
        let (mut client, greeting) = SmtpClient::connect(addr).await?;
        if greeting.code != 220 {
            bail!("unexpected greeting {greeting}");
        }
        let ehlo = client.ehlo("client.e2e.test").await?;
        if ehlo.code != 250 {
            bail!("EHLO refused: {ehlo}");
        }
        let mail = client.mail_from(sender).await?;
        let mut tx = Self { mail, rcpts: Vec::new(), data: None, end_of_data: None };
        if tx.mail.is_positive() {
            for rcpt in recipients {
                tx.rcpts.push(client.rcpt_to(rcpt).await?);
            }
        }
        if tx.rcpts.iter().any(Reply::is_positive) {
            let data = client.data().await?;
            if data.code == 354 {
                tx.end_of_data = Some(client.send_data(message).await?);
            }
            tx.data = Some(data);
        }
        // The answers that matter are in; a server that already hung up is fine.
        let _ = client.quit().await;
        Ok(tx)
    }

    /// Whether the message was accepted for delivery (250 after the final dot).
    pub fn accepted(&self) -> bool {
        self.end_of_data.as_ref().is_some_and(|r| r.code == 250)
    }
}

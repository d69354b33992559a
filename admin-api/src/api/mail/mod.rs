//! Mail the API sends to owners (address verification, password reset, sign-in alerts),
//! handed to the local relay (`[smtp] relay`) over plain SMTP on loopback.
//!
//! Sending is queued, never awaited by a request: a relay that is down must not turn a
//! request that did what it was asked into an error, and the time a request takes must not
//! tell whether a mail went out (a password reset for an unknown address sends none). A
//! failure is logged with the recipient; the owner can ask again.

pub mod templates;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use smtpy_shared::config::SmtpConfig;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::sync::{mpsc, watch};

pub use templates::Rendered;

/// Mails waiting for the relay; past this, new ones are dropped and logged (the relay is
/// down or far behind, and a request must not wait for it).
const QUEUE_CAPACITY: usize = 1000;
/// How long one delivery to the relay may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// One mail to an owner.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// The recipient's address.
    pub to: String,
    /// Subject, text and HTML.
    pub content: Rendered,
}

/// Why a [`Mailer`] could not be set up from `[smtp]`.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    /// `[smtp] relay` is not `HOST:PORT`.
    #[error("smtp.relay: '{0}' is not HOST:PORT")]
    Relay(String),
    /// `[smtp] from` is not a mailbox.
    #[error("smtp.from: '{0}' is not an address such as SMTPy <no-reply@example.org>: {1}")]
    From(String, String),
}

/// The queue of outgoing mail; clones share it. [`Mailer::disabled`] drops every mail (with a
/// log line), for programs and tests that have no relay.
#[derive(Clone, Default)]
pub struct Mailer {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    queue: mpsc::Sender<Outgoing>,
    /// Mails queued or being delivered, so a test can wait until all are handed over.
    pending: watch::Sender<usize>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("enabled", &self.inner.is_some()).finish()
    }
}

/// `HOST:PORT`, with `[v6]:PORT` accepted.
fn split_relay(relay: &str) -> Option<(String, u16)> {
    if let Ok(addr) = relay.parse::<SocketAddr>() {
        return Some((addr.ip().to_string(), addr.port()));
    }
    let (host, port) = relay.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty() && !host.contains(':')).then(|| (host.to_owned(), port))
}

impl Mailer {
    /// A mailer that sends nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// A mailer that delivers to `[smtp] relay`, from `[smtp] from`. Starts its delivery task
    /// on the current tokio runtime.
    pub fn smtp(config: &SmtpConfig) -> Result<Self, MailerError> {
        let (host, port) = split_relay(&config.relay).ok_or_else(|| MailerError::Relay(config.relay.clone()))?;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailerError::From(config.from.clone(), e.to_string()))?;
        // The relay is the local Postfix on loopback: plain SMTP, as the milter's re-injection.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let (queue, mut rx) = mpsc::channel::<Outgoing>(QUEUE_CAPACITY);
        let (pending, _) = watch::channel(0usize);
        let inner = Arc::new(Inner { queue, pending });
        let worker = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(mail) = rx.recv().await {
                deliver(&transport, &from, mail).await;
                match worker.upgrade() {
                    Some(inner) => inner.pending.send_modify(|n| *n = n.saturating_sub(1)),
                    None => break,
                }
            }
        });
        Ok(Self { inner: Some(inner) })
    }

    /// Queues `mail`; never fails and never waits for the relay.
    pub fn send(&self, mail: Outgoing) {
        let Some(inner) = &self.inner else {
            tracing::info!(subject = %mail.content.subject, "no mail relay configured; mail not sent");
            return;
        };
        inner.pending.send_modify(|n| *n += 1);
        if let Err(e) = inner.queue.try_send(mail) {
            inner.pending.send_modify(|n| *n = n.saturating_sub(1));
            tracing::error!(error = %e, "the outgoing mail queue is full or closed; mail dropped");
        }
    }

    /// Waits until every mail queued so far has been handed to the relay (or failed).
    pub async fn idle(&self) {
        if let Some(inner) = &self.inner {
            let mut rx = inner.pending.subscribe();
            let _ = rx.wait_for(|n| *n == 0).await;
        }
    }
}

async fn deliver(transport: &AsyncSmtpTransport<Tokio1Executor>, from: &Mailbox, mail: Outgoing) {
    let to = mail.to.clone();
    let subject = mail.content.subject.clone();
    let message = mail.to.parse::<Mailbox>().map_err(|e| e.to_string()).and_then(|to| {
        // Postfix would add a Message-ID, but a relay elsewhere may not (RFC 5322 section 3.6.4).
        let message_id = format!("<{}@{}>", uuid::Uuid::new_v4(), from.email.domain());
        Message::builder()
            .message_id(Some(message_id))
            .from(from.clone())
            .to(to)
            .subject(mail.content.subject)
            .multipart(MultiPart::alternative_plain_html(mail.content.text, mail.content.html))
            .map_err(|e| e.to_string())
    });
    let result = match message {
        Ok(message) => transport.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => tracing::info!(%to, %subject, "mail handed to the relay"),
        Err(error) => tracing::error!(%to, %subject, %error, "mail could not be sent"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_relay;

    #[test]
    fn relay_addresses() {
        assert_eq!(split_relay("127.0.0.1:25"), Some(("127.0.0.1".to_owned(), 25)));
        assert_eq!(split_relay("[::1]:2525"), Some(("::1".to_owned(), 2525)));
        assert_eq!(split_relay("mail.internal:587"), Some(("mail.internal".to_owned(), 587)));
        assert_eq!(split_relay("127.0.0.1"), None);
        assert_eq!(split_relay(":25"), None);
    }
}

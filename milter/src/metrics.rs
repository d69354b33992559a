//! Counters and the small HTTP listener for `/metrics` (Prometheus text) and `/healthz`.

use crate::App;
use std::{
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

/// Monotonic counters, rendered at `/metrics`.
#[derive(Default)]
pub struct Counters {
    /// RCPTs continued for forwarding.
    pub rcpt_forward: AtomicU64,
    /// RCPTs to reverse aliases accepted (owner replies).
    pub rcpt_reply: AtomicU64,
    /// RCPTs to our bounce or SRS addresses.
    pub rcpt_return: AtomicU64,
    /// RCPTs at domains we do not host.
    pub rcpt_not_hosted: AtomicU64,
    /// RCPTs rejected (unknown, disabled, no mailbox, bad syntax).
    pub rcpt_rejected: AtomicU64,
    /// RCPTs answered 451 for database trouble.
    pub rcpt_tempfail: AtomicU64,
    /// Messages forwarded.
    pub messages_forwarded: AtomicU64,
    /// Owner replies sent out from an alias.
    pub messages_replied: AtomicU64,
    /// Bounces recorded or returned.
    pub messages_returned: AtomicU64,
    /// Messages refused at end of message (DMARC reject).
    pub messages_rejected: AtomicU64,
    /// Messages answered 451 at end of message.
    pub messages_tempfail: AtomicU64,
    /// Callbacks that panicked (answered 451).
    pub panics: AtomicU64,
    /// Messages whose DKIM signatures were made on a blocking thread, beside the checks.
    pub dkim_beside: AtomicU64,
    /// Messages whose DKIM signatures were made in line (other messages were in progress).
    pub dkim_in_line: AtomicU64,
    /// Time spent in end-of-message callbacks, and how many there were.
    pub eom: Timer,
    /// Time end of message spent making the ARC set and waiting for the DKIM signatures (begun
    /// earlier, beside the checks), and how many messages were signed.
    pub sign: Timer,
}

/// A Prometheus summary without quantiles: total time and count, so a scraper can tell the
/// mean over any interval.
#[derive(Default)]
pub struct Timer {
    nanos: AtomicU64,
    count: AtomicU64,
}

impl Timer {
    /// Adds one observation lasting `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        self.nanos.fetch_add(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let seconds = self.nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} summary\n{name}_sum {seconds:.6}\n{name}_count {}",
            self.count.load(Ordering::Relaxed)
        );
    }
}

impl Counters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes one metric: its HELP and TYPE lines, then one sample per `(labels, value)`; labels
/// are written as given (`result="forward"`), and empty labels give the bare name.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(&str, u64)]) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Renders every metric in the Prometheus text format.
pub fn render(app: &App) -> String {
    let c = &app.counters;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let cache = app.cache.stats();
    let mut out = String::new();
    let o = &mut out;
    metric(
        o,
        "smtpy_milter_rcpt_total",
        "counter",
        "Recipients seen, by outcome.",
        &[
            ("result=\"forward\"", get(&c.rcpt_forward)),
            ("result=\"return_path\"", get(&c.rcpt_return)),
            ("result=\"reply\"", get(&c.rcpt_reply)),
            ("result=\"not_hosted\"", get(&c.rcpt_not_hosted)),
            ("result=\"rejected\"", get(&c.rcpt_rejected)),
            ("result=\"tempfail\"", get(&c.rcpt_tempfail)),
        ],
    );
    metric(
        o,
        "smtpy_milter_messages_total",
        "counter",
        "Messages at end of data, by outcome.",
        &[
            ("result=\"forwarded\"", get(&c.messages_forwarded)),
            ("result=\"rejected\"", get(&c.messages_rejected)),
            ("result=\"returned\"", get(&c.messages_returned)),
            ("result=\"replied\"", get(&c.messages_replied)),
            ("result=\"tempfail\"", get(&c.messages_tempfail)),
        ],
    );
    metric(
        o,
        "smtpy_milter_panics_total",
        "counter",
        "Callbacks that panicked and were answered 451.",
        &[("", get(&c.panics))],
    );
    metric(
        o,
        "smtpy_milter_messages_in_progress",
        "gauge",
        "Messages between their first accepted recipient and their end.",
        &[("", u64::try_from(app.in_progress.count()).unwrap_or(u64::MAX))],
    );
    metric(
        o,
        "smtpy_milter_dkim_signed_total",
        "counter",
        "Messages DKIM-signed, by where the signatures were made: beside the checks on a blocking thread (one message in progress), or in line (several).",
        &[("thread=\"beside\"", get(&c.dkim_beside)), ("thread=\"in_line\"", get(&c.dkim_in_line))],
    );
    metric(
        o,
        "smtpy_milter_dkim_key_loads_total",
        "counter",
        "Times a domain's DKIM keys were opened (first use, or their rows changed).",
        &[("", app.keys.loads())],
    );
    c.eom.render(o, "smtpy_milter_eom_seconds", "Time from end of data to our answer, in seconds.");
    c.sign.render(
        o,
        "smtpy_milter_sign_seconds",
        "Time end of message spent on DKIM signatures and ARC sets (making or waiting for them), in seconds.",
    );
    metric(
        o,
        "smtpy_milter_cache_lookups_total",
        "counter",
        "Recipient lookups, by where they were answered.",
        &[("source=\"memory\"", cache.hits), ("source=\"database\"", cache.misses)],
    );
    metric(
        o,
        "smtpy_milter_cache_entries",
        "gauge",
        "Recipient resolutions held in memory.",
        &[("", u64::try_from(cache.entries).unwrap_or(u64::MAX))],
    );
    metric(
        o,
        "smtpy_milter_cache_invalidations_total",
        "counter",
        "Times the routing cache was emptied (a routing change was heard, or the change listener reconnected).",
        &[("", cache.invalidations)],
    );
    metric(
        o,
        "smtpy_milter_change_listener_up",
        "gauge",
        "Whether the LISTEN connection is up (1) or the cache is bypassed (0).",
        &[("", u64::from(cache.live))],
    );
    metric(
        o,
        "smtpy_milter_log_rows_written_total",
        "counter",
        "Message-log rows written.",
        &[("", app.log.written())],
    );
    metric(
        o,
        "smtpy_milter_log_batches_total",
        "counter",
        "Message-log INSERTs attempted (each writes a batch of rows).",
        &[("", app.log.batches())],
    );
    metric(
        o,
        "smtpy_milter_log_rows_pending",
        "gauge",
        "Message-log rows waiting to be written.",
        &[("", u64::try_from(app.log.pending()).unwrap_or(u64::MAX))],
    );
    metric(
        o,
        "smtpy_milter_log_up",
        "gauge",
        "Whether the last message-log write succeeded.",
        &[("", u64::from(app.log.healthy()))],
    );
    out
}

/// Serves `/metrics` and `/healthz` on `listener` for ever.
pub async fn serve(listener: TcpListener, app: Arc<App>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, app.clone()));
            }
            Err(e) => {
                tracing::warn!("metrics listener: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn answer(mut stream: tokio::net::TcpStream, app: Arc<App>) {
    let mut buf = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    if read.is_err() {
        return;
    }
    let request = String::from_utf8_lossy(&buf);
    let path = request.split_whitespace().nth(1).unwrap_or("");
    let (status, content_type, body) = match (request.starts_with("GET "), path) {
        (true, "/metrics") => ("200 OK", "text/plain; version=0.0.4", render(&app)),
        (true, "/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
        (true, _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
        (false, _) => ("405 Method Not Allowed", "text/plain", "method not allowed\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

//! Delivery status notifications (RFC 3464): what a bounce to one of our bounce addresses says
//! about each recipient.
//!
//! mail-parser finds the `message/delivery-status` part (or RFC 6533's
//! `message/global-delivery-status`) of the `multipart/report` and undoes its transfer
//! encoding; it leaves the body as bytes, so the field groups (header-like blocks separated by
//! blank lines: first the per-message fields, then one group per recipient) are parsed here.
//!
//! Typed values lose their type: `Final-Recipient: rfc822; a@b` gives `a@b`,
//! `Reporting-MTA: dns; mx.example` gives `mx.example`. The diagnostic type (`smtp`, `x-unix`)
//! is kept apart in [`RecipientStatus::diagnostic_type`]. Folded lines are unfolded with one
//! space where the line break and its indentation were.

use mail_parser::{MessageParser, MimeHeaders};

/// What a DSN reports: the reporting MTA and one status per recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The MTA that wrote the report (`Reporting-MTA`, type stripped).
    pub reporting_mta: Option<String>,
    /// The ENVID the original message was sent with (`Original-Envelope-Id`).
    pub original_envelope_id: Option<String>,
    /// One entry per per-recipient group, in order.
    pub recipients: Vec<RecipientStatus>,
}

/// The status of one recipient (one per-recipient field group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    /// The address the report is about (`Final-Recipient`, type stripped; falls back to
    /// `Original-Recipient` when a sloppy MTA omits it).
    pub final_recipient: String,
    /// The address as first given (`Original-Recipient`, type stripped).
    pub original_recipient: Option<String>,
    /// What happened (`Action`).
    pub action: Action,
    /// The enhanced status code, e.g. `5.1.1` (`Status`, first word only).
    pub status: String,
    /// The MTA that gave the diagnostic (`Remote-MTA`, type stripped).
    pub remote_mta: Option<String>,
    /// The diagnostic type, e.g. `smtp` (what precedes `;` in `Diagnostic-Code`).
    pub diagnostic_type: Option<String>,
    /// The remote server's reply, unfolded (what follows `;` in `Diagnostic-Code`).
    pub diagnostic_code: Option<String>,
}

/// The `Action` field's value (RFC 3464 §2.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The message could not be delivered and will not be retried.
    Failed,
    /// Delivery is still being retried.
    Delayed,
    /// Delivered to the recipient.
    Delivered,
    /// Handed to a system that sends no further DSNs.
    Relayed,
    /// Delivered and forwarded on to several addresses.
    Expanded,
    /// Any other value, lower-cased.
    Other(String),
}

impl Action {
    fn parse(value: &str) -> Self {
        let word = value.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
        match word.as_str() {
            "failed" => Self::Failed,
            "delayed" => Self::Delayed,
            "delivered" => Self::Delivered,
            "relayed" => Self::Relayed,
            "expanded" => Self::Expanded,
            _ => Self::Other(word),
        }
    }
}

impl RecipientStatus {
    /// Whether delivery to this recipient failed for good (action `failed` or status 5.x.x).
    pub fn is_failure(&self) -> bool {
        self.action == Action::Failed || self.status.starts_with('5')
    }
}

impl DeliveryReport {
    /// The recipients whose delivery failed for good.
    pub fn failures(&self) -> impl Iterator<Item = &RecipientStatus> {
        self.recipients.iter().filter(|r| r.is_failure())
    }
}

/// Parses `raw` as a DSN; `None` when it has no delivery-status part or that part names no
/// recipient.
pub fn parse_dsn(raw: &[u8]) -> Option<DeliveryReport> {
    let message = MessageParser::default().parse(raw)?;
    let status = message.parts.iter().find(|part| {
        part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct.subtype().is_some_and(|sub| {
                    sub.eq_ignore_ascii_case("delivery-status") || sub.eq_ignore_ascii_case("global-delivery-status")
                })
        })
    })?;
    parse_delivery_status(&String::from_utf8_lossy(status.contents()))
}

/// Parses the body of a delivery-status part.
fn parse_delivery_status(text: &str) -> Option<DeliveryReport> {
    let mut report = DeliveryReport { reporting_mta: None, original_envelope_id: None, recipients: Vec::new() };
    for (index, group) in field_groups(text).iter().enumerate() {
        let get = |name: &str| {
            group.iter().find(|(field, _)| field.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
        };
        let final_recipient = get("Final-Recipient").or(get("Original-Recipient"));
        match final_recipient {
            Some(final_recipient) => report.recipients.push(RecipientStatus {
                final_recipient: untyped(final_recipient).to_owned(),
                original_recipient: get("Original-Recipient").map(|v| untyped(v).to_owned()),
                action: Action::parse(get("Action").unwrap_or_default()),
                status: get("Status").and_then(|v| v.split_whitespace().next()).unwrap_or_default().to_owned(),
                remote_mta: get("Remote-MTA").map(|v| untyped(v).to_owned()),
                diagnostic_type: get("Diagnostic-Code")
                    .and_then(|v| v.split_once(';'))
                    .map(|(kind, _)| kind.trim().to_owned()),
                diagnostic_code: get("Diagnostic-Code").map(|v| untyped(v).to_owned()),
            }),
            // RFC 3464 puts the per-message fields first.
            None if index == 0 => {
                report.reporting_mta = get("Reporting-MTA").map(|v| untyped(v).to_owned());
                report.original_envelope_id = get("Original-Envelope-Id").map(str::to_owned);
            }
            None => {}
        }
    }
    (!report.recipients.is_empty()).then_some(report)
}

/// `type; value` → `value` (trimmed); a value without a type is returned whole.
fn untyped(value: &str) -> &str {
    value.split_once(';').map_or(value, |(_, rest)| rest).trim()
}

/// Splits header-like text into groups of `(name, unfolded value)`, at blank lines.
fn field_groups(text: &str) -> Vec<Vec<(String, String)>> {
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !group.is_empty() {
                groups.push(std::mem::take(&mut group));
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = group.last_mut() {
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            group.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A Postfix 3.7 bounce (same layout as `bounce(5)`'s templates produce), CRLF line ends.
    fn postfix_bounce() -> Vec<u8> {
        let text = "\
Return-Path: <>
Received: by mx.example.net (Postfix)
\tid 4Vyk1T0Jx9z9sTt; Mon, 10 Jun 2024 06:13:21 +0000 (UTC)
Date: Mon, 10 Jun 2024 06:13:21 +0000 (UTC)
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounce+aerukz4jvpg66777xsvhkzrsca.tl2.5ftyrmlc7bq2qrn4@alias.example
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary=\"4Vyk1T0Jx9z9sTt.1718000001/mx.example.net\"
Content-Transfer-Encoding: 8bit
Message-Id: <4Vyk1T3Vhgz9sTx@mx.example.net>

This is a MIME-encapsulated message.

--4Vyk1T0Jx9z9sTt.1718000001/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<nosuchuser@example.org>: host mail.example.org[192.0.2.25] said: 550 5.1.1
    <nosuchuser@example.org>: Recipient address rejected: User unknown in
    virtual mailbox table (in reply to RCPT TO command)

--4Vyk1T0Jx9z9sTt.1718000001/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 4Vyk1T0Jx9z9sTt
X-Postfix-Sender: rfc822;
    bounce+aerukz4jvpg66777xsvhkzrsca.tl2.5ftyrmlc7bq2qrn4@alias.example
Arrival-Date: Mon, 10 Jun 2024 06:13:20 +0000 (UTC)

Final-Recipient: rfc822; nosuchuser@example.org
Original-Recipient: rfc822;nosuchuser@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nosuchuser@example.org>: Recipient address
    rejected: User unknown in virtual mailbox table

--4Vyk1T0Jx9z9sTt.1718000001/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

Return-Path: <bounce+aerukz4jvpg66777xsvhkzrsca.tl2.5ftyrmlc7bq2qrn4@alias.example>
From: Alice <alice@example.com>
To: list@alias.example
Subject: hello

--4Vyk1T0Jx9z9sTt.1718000001/mx.example.net--
";
        text.replace('\n', "\r\n").into_bytes()
    }

    #[test]
    fn postfix_bounce_with_folded_diagnostic() {
        let report = parse_dsn(&postfix_bounce()).unwrap();
        assert_eq!(report.reporting_mta.as_deref(), Some("mx.example.net"));
        assert_eq!(report.original_envelope_id, None);
        assert_eq!(
            report.recipients,
            [RecipientStatus {
                final_recipient: "nosuchuser@example.org".into(),
                original_recipient: Some("nosuchuser@example.org".into()),
                action: Action::Failed,
                status: "5.1.1".into(),
                remote_mta: Some("mail.example.org".into()),
                diagnostic_type: Some("smtp".into()),
                diagnostic_code: Some(
                    "550 5.1.1 <nosuchuser@example.org>: Recipient address rejected: User \
                     unknown in virtual mailbox table"
                        .into()
                ),
            }]
        );
        assert!(report.recipients[0].is_failure());
        assert_eq!(report.failures().count(), 1);
    }

    #[test]
    fn several_recipients_delayed_and_failed_with_lf_endings() {
        let raw = b"\
From: MAILER-DAEMON@mx.example.net
To: bounce+x@alias.example
Subject: Delayed Mail (still being retried)
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"

--B
Content-Type: text/plain

Delayed and failed.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Original-Envelope-Id: 0190a1b2-envid

Final-Recipient: rfc822; slow@example.org
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mail.example.org[192.0.2.25]:25:
\tConnection timed out
Will-Retry-Until: Mon, 15 Jun 2024 06:13:20 +0000 (UTC)

Final-Recipient: rfc822; full@example.org
Action: failed (mailbox full)
Status: 5.2.2 (over quota)
Diagnostic-Code: smtp; 552 5.2.2 Mailbox full

Final-Recipient: rfc822; ok@example.org
Action: delivered
Status: 2.0.0

--B--
";
        let report = parse_dsn(raw).unwrap();
        assert_eq!(report.original_envelope_id.as_deref(), Some("0190a1b2-envid"));
        let r = &report.recipients;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].action, Action::Delayed);
        assert_eq!(r[0].status, "4.4.1");
        assert_eq!(r[0].diagnostic_type.as_deref(), Some("X-Postfix"));
        assert_eq!(
            r[0].diagnostic_code.as_deref(),
            Some("connect to mail.example.org[192.0.2.25]:25: Connection timed out")
        );
        assert!(!r[0].is_failure());
        assert_eq!(r[1].final_recipient, "full@example.org");
        assert_eq!(r[1].action, Action::Failed);
        assert_eq!(r[1].status, "5.2.2");
        assert!(r[1].is_failure());
        assert_eq!(r[2].action, Action::Delivered);
        assert!(!r[2].is_failure());
        assert_eq!(r[2].diagnostic_code, None);
        let failed: Vec<&str> = report.failures().map(|r| r.final_recipient.as_str()).collect();
        assert_eq!(failed, ["full@example.org"]);
    }

    #[test]
    fn status_5_counts_as_failure_whatever_the_action() {
        let status = RecipientStatus {
            final_recipient: "a@b".into(),
            original_recipient: None,
            action: Action::Other("x-odd".into()),
            status: "5.7.1".into(),
            remote_mta: None,
            diagnostic_type: None,
            diagnostic_code: None,
        };
        assert!(status.is_failure());
        assert!(!RecipientStatus { status: "4.7.1".into(), ..status }.is_failure());
    }

    #[test]
    fn base64_encoded_global_delivery_status() {
        let body = "Reporting-MTA: dns;outbound.example\r\n\r\n\
                    Final-Recipient: utf-8;j\u{f6}rg@example.org\r\n\
                    Action: Failed\r\nStatus: 5.1.10\r\n\
                    Diagnostic-Code: smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound\r\n";
        let encoded = data_encoding::BASE64_MIME.encode(body.as_bytes());
        let raw = format!(
            "From: postmaster@outbound.example\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=global-delivery-status; boundary=x\r\n\r\n\
             --x\r\nContent-Type: text/plain\r\n\r\nUndeliverable.\r\n\
             --x\r\nContent-Type: message/global-delivery-status\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--x--\r\n"
        );
        let report = parse_dsn(raw.as_bytes()).unwrap();
        assert_eq!(report.reporting_mta.as_deref(), Some("outbound.example"));
        let r = &report.recipients[0];
        assert_eq!(r.final_recipient, "j\u{f6}rg@example.org");
        assert_eq!(r.action, Action::Failed);
        assert_eq!(r.status, "5.1.10");
        assert_eq!(r.diagnostic_code.as_deref(), Some("550 5.1.10 RESOLVER.ADR.RecipientNotFound"));
    }

    #[test]
    fn not_a_dsn() {
        let plain = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nHello\r\n";
        assert_eq!(parse_dsn(plain), None);

        // A read receipt is a multipart/report too, but not a DSN.
        let mdn = b"From: a@example.org\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/report; report-type=disposition-notification; boundary=m\r\n\r\n\
            --m\r\nContent-Type: text/plain\r\n\r\nRead.\r\n\
            --m\r\nContent-Type: message/disposition-notification\r\n\r\n\
            Final-Recipient: rfc822; b@example.org\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n\
            --m--\r\n";
        assert_eq!(parse_dsn(mdn), None);

        // A delivery-status part without any per-recipient group.
        let empty = b"MIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=e\r\n\r\n\
            --e\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n--e--\r\n";
        assert_eq!(parse_dsn(empty), None);

        assert_eq!(parse_dsn(b""), None);
        assert_eq!(parse_dsn(&[0xff, 0xfe, 0x00]), None);
    }

    #[test]
    fn field_groups_unfold_and_split_on_blank_lines() {
        let groups = field_groups("A: 1\n  continued\nB:2\n \n\nC: x;\ty\n");
        assert_eq!(
            groups,
            [vec![("A".into(), "1 continued".into()), ("B".into(), "2".into())], vec![("C".into(), "x;\ty".into())],]
        );
        assert_eq!(untyped("rfc822; a@b"), "a@b");
        assert_eq!(untyped("a@b"), "a@b");
    }
}

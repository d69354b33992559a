//! One milter connection's state and the work of each protocol step.

use crate::{App, metrics::Counters, reply::Verdict};
use indymilter::{Actions, ContextActions, EomActions, MacroStage, Macros, NegotiateContext, ProtoOpts, Status};
use smtpy_shared::{
    address::Address,
    message_log::NewMessage,
    resolve::{Resolution, Route},
};
use std::{
    collections::BTreeSet,
    ffi::{CStr, CString},
    sync::Arc,
};

/// The actions we cannot work without: swapping an alias for its mailboxes.
const REQUIRED_ACTIONS: Actions = Actions::ADD_RCPT.union(Actions::DELETE_RCPT);

/// Steps whose reply we never need: asking Postfix not to wait for one saves a round trip.
const NOREPLY_WANTED: [ProtoOpts; 4] =
    [ProtoOpts::NOREPLY_MAIL, ProtoOpts::NOREPLY_HEADER, ProtoOpts::NOREPLY_EOH, ProtoOpts::NOREPLY_BODY];

/// Per-connection state; the message part is reset at each MAIL FROM.
#[derive(Debug, Default)]
pub struct Session {
    /// No-reply options Postfix granted.
    noreply: ProtoOpts,
    /// Whether header values come with their leading space.
    leading_space: bool,
    /// Envelope sender of the current message, without angle brackets.
    sender: String,
    /// Recipients we continued for forwarding.
    recipients: Vec<Accepted>,
    /// Bytes of the message as received: header lines, blank line, body.
    size: u64,
}

#[derive(Debug)]
struct Accepted {
    /// The RCPT TO argument exactly as given, which is what deleting it must name.
    given: CString,
    /// Normalised address.
    address: String,
    route: Arc<Route>,
}

impl Session {
    /// The status for a step that may have been negotiated as no-reply.
    pub fn quiet(&self, stage: ProtoOpts) -> Status {
        if self.noreply.contains(stage) { Status::Noreply } else { Status::Continue }
    }

    /// MAIL FROM: a new message begins.
    pub fn begin_message(&mut self, args: &[CString]) {
        let sender = args.first().map(|a| a.to_string_lossy()).unwrap_or_default();
        self.sender = sender.trim_start_matches('<').trim_end_matches('>').to_owned();
        self.recipients.clear();
        self.size = 0;
    }

    /// The message was aborted; forget it.
    pub fn abort_message(&mut self) {
        self.recipients.clear();
        self.size = 0;
    }

    /// Counts one header line (`Name:value\r\n`; folded lines end in bare LF in the protocol).
    pub fn count_header(&mut self, name: &CStr, value: &CStr) {
        let value = value.to_bytes();
        let bare_lf =
            value.iter().enumerate().filter(|&(i, &b)| b == b'\n' && (i == 0 || value[i - 1] != b'\r')).count();
        let space = u64::from(!self.leading_space);
        self.size += name.to_bytes().len() as u64 + 1 + space + value.len() as u64 + bare_lf as u64 + 2;
    }

    /// Counts the blank line between header and body.
    pub fn count_end_of_header(&mut self) {
        self.size += 2;
    }

    /// Counts a body chunk (Postfix sends CRLF line ends).
    pub fn count_body(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
    }
}

/// Option negotiation: insist on the actions we need, ask for as little traffic as possible.
pub fn negotiate(cx: &mut NegotiateContext<Session>, mta_actions: Actions, mta_opts: ProtoOpts, unix: bool) -> Status {
    if !mta_actions.contains(REQUIRED_ACTIONS) {
        tracing::error!("the MTA does not offer adding and deleting recipients; refusing the connection");
        return Status::Reject;
    }
    cx.requested_actions = REQUIRED_ACTIONS;
    let mut noreply = ProtoOpts::empty();
    for opt in NOREPLY_WANTED {
        if mta_opts.contains(opt) {
            noreply |= opt;
        }
    }
    cx.requested_opts |= noreply;
    let leading_space = mta_opts.contains(ProtoOpts::LEADING_SPACE);
    if leading_space {
        cx.requested_opts |= ProtoOpts::LEADING_SPACE;
    }
    // Over TCP, DATA must be answered: skipping it (or no-reply) makes Postfix's next small
    // write wait in its own Nagle buffer for our delayed ACK, ~40 ms a message. A unix socket
    // has no Nagle, so there the step is skipped altogether (DESIGN §7).
    if unix && mta_opts.contains(ProtoOpts::NO_DATA) {
        cx.requested_opts |= ProtoOpts::NO_DATA;
    }
    // The queue id is the only macro we read, and only at end of message.
    cx.requested_macros.insert(MacroStage::Eom, c"i".to_owned());
    cx.data = Some(Session { noreply, leading_space, ..Session::default() });
    Status::Continue
}

/// RCPT TO: decide the recipient now, so unknown addresses never enter the queue.
pub async fn rcpt(app: &App, session: &mut Session, args: &[CString]) -> Verdict {
    let counters = &app.counters;
    let Some(given) = args.first() else {
        return Verdict::BadAddress;
    };
    let address = match Address::parse(&given.to_string_lossy()) {
        Ok(a) => a,
        Err(e) => {
            tracing::info!("rejecting recipient: {e}");
            Counters::bump(&counters.rcpt_rejected);
            return Verdict::BadAddress;
        }
    };
    let resolution = match app.cache.resolve(&app.db, &address).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(recipient = %address, "recipient lookup failed, answering 451: {e}");
            Counters::bump(&counters.rcpt_tempfail);
            return Verdict::LookupTempfail;
        }
    };
    let verdict = match resolution {
        Resolution::NotHosted => {
            Counters::bump(&counters.rcpt_not_hosted);
            return Verdict::Continue;
        }
        Resolution::Unknown => Verdict::UnknownRecipient,
        Resolution::Disabled => Verdict::DisabledAlias,
        Resolution::NoTarget => Verdict::NoMailbox,
        Resolution::Forward(route) => {
            Counters::bump(&counters.rcpt_forward);
            if !session.recipients.iter().any(|r| r.given == *given) {
                session.recipients.push(Accepted { given: given.clone(), address: address.to_string(), route });
            }
            return Verdict::Continue;
        }
    };
    tracing::info!(recipient = %address, ?verdict, "recipient rejected");
    Counters::bump(&counters.rcpt_rejected);
    verdict
}

/// End of message: record the message, then swap each alias for its mailboxes.
pub async fn eom(app: &App, session: &mut Session, actions: &EomActions, macros: &Macros) -> Verdict {
    if session.recipients.is_empty() {
        return Verdict::Continue;
    }
    let queue_id = macros.get(c"i").map(|q| q.to_string_lossy().into_owned());
    let size = i64::try_from(session.size).unwrap_or(i64::MAX);
    let rows = session
        .recipients
        .iter()
        .map(|r| NewMessage {
            owner_id: r.route.owner_id,
            alias_id: Some(r.route.alias_id),
            recipient: r.address.clone(),
            envelope_sender: session.sender.clone(),
            forwarded_to: r.route.targets.iter().cloned().map(Some).collect(),
            size_bytes: size,
            status: "forwarded".to_owned(),
            queue_id: queue_id.clone(),
        })
        .collect();
    // Queued before we change anything: if the log cannot take it the message is refused with
    // 451 and stays with the sender, so nothing is forwarded without its log row.
    if let Err(e) = app.log.record(rows) {
        tracing::warn!(queue_id = queue_id.as_deref().unwrap_or("-"), "answering 451: {e}");
        Counters::bump(&app.counters.messages_tempfail);
        return Verdict::InternalTempfail;
    }
    if let Err(e) = rewrite_recipients(session, actions).await {
        tracing::warn!(queue_id = queue_id.as_deref().unwrap_or("-"), "cannot rewrite recipients, answering 451: {e}");
        Counters::bump(&app.counters.messages_tempfail);
        return Verdict::InternalTempfail;
    }
    Counters::bump(&app.counters.messages_forwarded);
    tracing::info!(
        queue_id = queue_id.as_deref().unwrap_or("-"),
        aliases = session.recipients.len(),
        size = session.size,
        "forwarded"
    );
    session.abort_message();
    Verdict::Continue
}

async fn rewrite_recipients(session: &Session, actions: &EomActions) -> Result<(), indymilter::ActionError> {
    let targets: BTreeSet<&str> =
        session.recipients.iter().flat_map(|r| r.route.targets.iter().map(String::as_str)).collect();
    for r in &session.recipients {
        actions.delete_recipient(r.given.clone()).await?;
    }
    for target in targets {
        actions.add_recipient(format!("<{target}>")).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap_or_default()
    }

    #[test]
    fn size_counts_header_lines_blank_line_and_body() {
        let mut s = Session { leading_space: true, ..Session::default() };
        s.begin_message(&[c("<a@b.example>")]);
        s.count_header(&c("Subject"), &c(" hi"));
        // A folded header arrives with bare LF; on the wire it is CRLF.
        s.count_header(&c("To"), &c(" x@y.example,\n\tz@y.example"));
        s.count_end_of_header();
        s.count_body(b"body\r\n");
        let expected = "Subject: hi\r\nTo: x@y.example,\r\n\tz@y.example\r\n\r\nbody\r\n".len() as u64;
        assert_eq!(s.size, expected);
        assert_eq!(s.sender, "a@b.example");
    }

    #[test]
    fn size_without_leading_space_option_restores_the_space() {
        let mut s = Session::default();
        s.count_header(&c("Subject"), &c("hi"));
        assert_eq!(s.size, "Subject: hi\r\n".len() as u64);
    }

    #[test]
    fn new_message_resets_state() {
        let mut s = Session::default();
        s.count_body(b"abc");
        s.begin_message(&[c("<>")]);
        assert_eq!(s.size, 0);
        assert_eq!(s.sender, "");
    }

    #[test]
    fn quiet_follows_negotiation() {
        let s = Session { noreply: ProtoOpts::NOREPLY_HEADER, ..Session::default() };
        assert_eq!(s.quiet(ProtoOpts::NOREPLY_HEADER), Status::Noreply);
        assert_eq!(s.quiet(ProtoOpts::NOREPLY_BODY), Status::Continue);
    }
}

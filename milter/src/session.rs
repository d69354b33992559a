//! One milter connection's state and the work of each protocol step.

use crate::{
    App,
    auth::AuthSummary,
    message::Received,
    metrics::Counters,
    reply::Verdict,
    returns::{self, Classified, ReturnPath},
    sign::SignError,
};
use indymilter::{Actions, ContextActions, EomActions, MacroStage, Macros, NegotiateContext, ProtoOpts, Status};
use mail_auth::AuthenticatedMessage;
use smtpy_shared::{
    address::Address,
    message_log::NewMessage,
    resolve::{Resolution, Route},
};
use std::{
    collections::BTreeSet,
    ffi::{CStr, CString},
    net::IpAddr,
    sync::Arc,
};

/// The actions we cannot work without: swapping an alias for its mailboxes, adding
/// `Authentication-Results` and signatures, removing forged results, and setting the
/// envelope sender to our bounce or SRS address.
const REQUIRED_ACTIONS: Actions = Actions::ADD_RCPT
    .union(Actions::DELETE_RCPT)
    .union(Actions::ADD_HEADER)
    .union(Actions::CHANGE_HEADER)
    .union(Actions::CHANGE_SENDER);

/// Steps whose reply we never need: asking Postfix not to wait for one saves a round trip.
const NOREPLY_WANTED: [ProtoOpts; 6] = [
    ProtoOpts::NOREPLY_CONNECT,
    ProtoOpts::NOREPLY_HELO,
    ProtoOpts::NOREPLY_MAIL,
    ProtoOpts::NOREPLY_HEADER,
    ProtoOpts::NOREPLY_EOH,
    ProtoOpts::NOREPLY_BODY,
];

/// Per-connection state; the message part is reset at each MAIL FROM.
#[derive(Debug, Default)]
pub struct Session {
    /// No-reply options Postfix granted.
    noreply: ProtoOpts,
    /// The SMTP client's address.
    client_ip: Option<IpAddr>,
    /// The HELO/EHLO name.
    helo: String,
    /// Envelope sender of the current message, without angle brackets.
    sender: String,
    /// Recipients we continued for forwarding.
    recipients: Vec<Accepted>,
    /// Return paths of ours among the recipients (bounces coming back).
    returns: Vec<(CString, ReturnPath)>,
    /// Recipients at domains we do not host (left alone).
    foreign: usize,
    /// The message itself.
    message: Received,
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

    /// The client connected from `ip` (None for a local or unknown socket).
    pub fn connected(&mut self, ip: Option<IpAddr>) {
        self.client_ip = ip;
    }

    /// HELO/EHLO.
    pub fn helo(&mut self, name: &CStr) {
        self.helo = name.to_string_lossy().into_owned();
    }

    /// MAIL FROM: a new message begins.
    pub fn begin_message(&mut self, args: &[CString]) {
        let sender = args.first().map(|a| a.to_string_lossy()).unwrap_or_default();
        self.sender = sender.trim_start_matches('<').trim_end_matches('>').to_owned();
        self.abort_message();
    }

    /// The message was aborted (or finished); forget it.
    pub fn abort_message(&mut self) {
        self.recipients.clear();
        self.returns.clear();
        self.foreign = 0;
        self.message.clear();
    }

    /// One header field.
    pub fn header(&mut self, name: &CStr, value: &CStr) {
        self.message.push_header(name, value);
    }

    /// A body chunk (Postfix sends CRLF line ends).
    pub fn body(&mut self, chunk: &[u8]) {
        self.message.body.extend_from_slice(chunk);
    }
}

/// Option negotiation: insist on the actions we need, ask for as little traffic as possible.
pub fn negotiate(cx: &mut NegotiateContext<Session>, mta_actions: Actions, mta_opts: ProtoOpts, unix: bool) -> Status {
    if !mta_actions.contains(REQUIRED_ACTIONS) {
        tracing::error!("the MTA does not offer the recipient and header changes we need; refusing the connection");
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
    cx.data =
        Some(Session { noreply, message: Received { leading_space, ..Received::default() }, ..Session::default() });
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
    // Return paths first (DESIGN §2, step 1): their MAC proves they are ours without a query.
    match returns::classify(&app.bounces, &app.srs, &address, returns::today()) {
        Classified::Valid(path) => {
            Counters::bump(&counters.rcpt_return);
            if !session.returns.iter().any(|(g, _)| g == given) {
                session.returns.push((given.clone(), path));
            }
            return Verdict::Continue;
        }
        Classified::Invalid(why) => {
            // Refused only at domains we host: elsewhere an SRS-looking address is not ours.
            if !matches!(app.cache.resolve(&app.db, &address).await, Ok(Resolution::NotHosted)) {
                tracing::info!(recipient = %address, "refusing return path: {why}");
                Counters::bump(&counters.rcpt_rejected);
                return Verdict::InvalidReturnPath;
            }
        }
        Classified::No => {}
    }
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
            session.foreign += 1;
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

/// Bounces coming back: records DSNs to bounce addresses, sends SRS bounces back to the
/// original sender; either way the return path itself is removed from the recipients.
async fn handle_returns(app: &App, session: &Session, actions: &EomActions, qid: &str) -> Result<(), Verdict> {
    let tempfail = |e: &dyn std::fmt::Display| {
        tracing::warn!(queue_id = qid, "answering 451: {e}");
        Counters::bump(&app.counters.messages_tempfail);
        Verdict::InternalTempfail
    };
    let raw = session.message.raw();
    for (given, path) in &session.returns {
        match path {
            ReturnPath::Bounce(row) => match returns::record_bounce(&app.db, *row, &raw).await {
                Ok(true) => tracing::info!(queue_id = qid, message = %row, "bounce recorded"),
                Ok(false) => tracing::warn!(queue_id = qid, message = %row, "bounce for a message no longer logged"),
                Err(e) => return Err(tempfail(&e)),
            },
            ReturnPath::Srs(original) => {
                actions.add_recipient(format!("<{original}>")).await.map_err(|e| tempfail(&e))?;
                tracing::info!(queue_id = qid, "SRS bounce returned to {original}");
            }
        }
        actions.delete_recipient(given.clone()).await.map_err(|e| tempfail(&e))?;
    }
    Counters::bump(&app.counters.messages_returned);
    Ok(())
}

/// What end of message decided, in the form the rewrite needs.
struct Outcome {
    /// Header fields to add on top, top first (ARC set, DKIM signatures, our marks and
    /// `Authentication-Results`).
    top: Vec<(String, String)>,
    summary: AuthSummary,
    /// The From domain, when DMARC says reject and we honour it.
    dmarc_reject: Option<String>,
}

/// Whether an `Authentication-Results` value claims our authserv-id (RFC 8601 §5: one we did
/// not write is a forgery and is removed).
fn claims_our_id(value: &str, ours: &str) -> bool {
    value.trim_start().split(';').next().is_some_and(|id| id.trim().eq_ignore_ascii_case(ours))
}

/// Runs SPF, DKIM, ARC and DMARC on the received message, and signs what will leave.
async fn check_and_sign(app: &App, session: &Session, raw: &[u8], sign_domain: &str) -> Result<Outcome, SignError> {
    let signers = app.keys.signers(&app.db, &app.cache, sign_domain).await;
    let signers = match signers {
        Ok(s) => s,
        Err(SignError::Db(e)) => return Err(SignError::Db(e)),
        Err(e) => {
            // A broken key is the operator's to fix; the mail still goes, unsigned.
            tracing::error!("{e}; forwarding unsigned");
            None
        }
    };
    let Some(parsed) = AuthenticatedMessage::parse(raw) else {
        tracing::info!("message cannot be parsed for authentication checks; forwarding it unchecked");
        return Ok(Outcome { top: Vec::new(), summary: AuthSummary::default(), dmarc_reject: None });
    };
    let ip = session.client_ip.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let inbound = app.verifier.check(&parsed, ip, &session.helo, &session.sender).await;
    let results = inbound.results(&app.verifier, ip, &session.helo, &session.sender);
    let mut top = Vec::new();
    if inbound.dmarc_quarantines() {
        // The receiving mailbox's filters can file it as spam, as the domain owner asked.
        top.push(("X-SMTPy-Quarantine".to_owned(), format!("dmarc; policy of {}", inbound.from_domain)));
    }
    top.push((
        "Authentication-Results".to_owned(),
        inbound.header_value(&app.verifier, ip, &session.helo, &session.sender),
    ));
    if let Some(signers) = signers {
        let ours = app.verifier.authserv_id();
        let leaving = session.message.rebuilt(&top, |name, value| {
            name.eq_ignore_ascii_case("Authentication-Results") && claims_our_id(value, ours)
        });
        match signers.sign(&leaving, &results, Some(&inbound.arc)) {
            Ok(mut signatures) => {
                signatures.append(&mut top);
                top = signatures;
            }
            Err(e) => tracing::error!("cannot sign for {sign_domain}: {e}; forwarding unsigned"),
        }
    }
    Ok(Outcome {
        top,
        summary: inbound.summary(),
        dmarc_reject: (app.dmarc_reject && inbound.dmarc_rejects()).then(|| inbound.from_domain.clone()),
    })
}

/// End of message: check, sign, record, then swap each alias for its mailboxes.
pub async fn eom(app: &App, session: &mut Session, actions: &EomActions, macros: &Macros) -> Verdict {
    let queue_id = macros.get(c"i").map(|q| q.to_string_lossy().into_owned());
    let qid = queue_id.as_deref().unwrap_or("-");
    if !session.returns.is_empty() {
        if let Err(verdict) = handle_returns(app, session, actions, qid).await {
            return verdict;
        }
        if session.recipients.is_empty() {
            let only_bounces = session.returns.iter().all(|(_, p)| matches!(p, ReturnPath::Bounce(_)));
            session.abort_message();
            // Recorded and never relayed: with nobody else to deliver to, the copy is dropped.
            return if only_bounces && session.foreign == 0 { Verdict::Discard } else { Verdict::Continue };
        }
    }
    let Some(first) = session.recipients.first() else {
        return Verdict::Continue;
    };
    let sign_domain = first.address.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
    let raw = session.message.raw();
    let outcome = match check_and_sign(app, session, &raw, &sign_domain).await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(queue_id = qid, "answering 451: {e}");
            Counters::bump(&app.counters.messages_tempfail);
            return Verdict::InternalTempfail;
        }
    };
    let status = if outcome.dmarc_reject.is_some() { "rejected" } else { "forwarded" };
    let first_row = uuid::Uuid::new_v4();
    let subject = session.message.header("Subject").map(|s| s.chars().take(998).collect());
    let word = |w: &str| Some(w.to_owned()).filter(|w| !w.is_empty());
    let rows = session
        .recipients
        .iter()
        .enumerate()
        .map(|(i, r)| NewMessage {
            id: if i == 0 { first_row } else { uuid::Uuid::new_v4() },
            owner_id: r.route.owner_id,
            alias_id: Some(r.route.alias_id),
            recipient: r.address.clone(),
            envelope_sender: session.sender.clone(),
            forwarded_to: r.route.targets.iter().cloned().map(Some).collect(),
            size_bytes: i64::try_from(raw.len()).unwrap_or(i64::MAX),
            status: status.to_owned(),
            queue_id: queue_id.clone(),
            mode: Some(r.route.mode.clone()),
            subject: subject.clone(),
            auth_spf: word(&outcome.summary.spf),
            auth_dkim: word(&outcome.summary.dkim),
            auth_dmarc: word(&outcome.summary.dmarc),
            auth_arc: word(&outcome.summary.arc),
            contact_id: None,
            reverse_alias: None,
        })
        .collect();
    // Queued before we change anything: if the log cannot take it the message is refused with
    // 451 and stays with the sender, so nothing is forwarded without its log row.
    if let Err(e) = app.log.record(rows) {
        tracing::warn!(queue_id = qid, "answering 451: {e}");
        Counters::bump(&app.counters.messages_tempfail);
        return Verdict::InternalTempfail;
    }
    if let Some(domain) = outcome.dmarc_reject {
        tracing::info!(queue_id = qid, from_domain = %domain, "refused: DMARC policy reject");
        Counters::bump(&app.counters.messages_rejected);
        return Verdict::DmarcReject;
    }
    let sender = returns::forward_sender(app, &first.route.mode, &session.sender, first_row, &sign_domain);
    if let Err(e) = rewrite(app, session, actions, &outcome.top, sender.as_deref()).await {
        tracing::warn!(queue_id = qid, "cannot rewrite the message, answering 451: {e}");
        Counters::bump(&app.counters.messages_tempfail);
        return Verdict::InternalTempfail;
    }
    Counters::bump(&app.counters.messages_forwarded);
    tracing::info!(queue_id = qid, aliases = session.recipients.len(), size = raw.len(), "forwarded");
    session.abort_message();
    Verdict::Continue
}

async fn rewrite(
    app: &App,
    session: &Session,
    actions: &EomActions,
    top: &[(String, String)],
    sender: Option<&str>,
) -> Result<(), indymilter::ActionError> {
    if let Some(sender) = sender {
        actions.change_sender(format!("<{sender}>"), None::<CString>).await?;
    }
    let ours = app.verifier.authserv_id();
    // Deleting from the last index keeps the earlier indices valid.
    for index in session.message.indices_where("Authentication-Results", |v| claims_our_id(v, ours)).into_iter().rev() {
        actions.change_header("Authentication-Results", index, None::<CString>).await?;
    }
    // Each insertion at the top pushes the previous down, so the last field goes first.
    for (name, value) in top.iter().rev() {
        actions.insert_header(0, name.as_str(), format!(" {value}")).await?;
    }
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
    fn new_message_resets_state() {
        let mut s = Session::default();
        s.body(b"abc");
        s.header(&c("Subject"), &c(" x"));
        s.begin_message(&[c("<a@b.example>")]);
        assert!(s.message.headers.is_empty() && s.message.body.is_empty());
        assert_eq!(s.sender, "a@b.example");
        s.begin_message(&[c("<>")]);
        assert_eq!(s.sender, "");
    }

    #[test]
    fn quiet_follows_negotiation() {
        let s = Session { noreply: ProtoOpts::NOREPLY_HEADER, ..Session::default() };
        assert_eq!(s.quiet(ProtoOpts::NOREPLY_HEADER), Status::Noreply);
        assert_eq!(s.quiet(ProtoOpts::NOREPLY_BODY), Status::Continue);
    }
}

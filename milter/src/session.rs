//! One milter connection's state and the work of each protocol step.

use crate::{
    App,
    busy::{Entered, InProgress},
    message::Received,
    metrics::Counters,
    reply::Verdict,
    returns::{self, Classified, ReturnPath},
};
use indymilter::{Actions, MacroStage, NegotiateContext, ProtoOpts, Status};
use smtpy_shared::{
    address::Address,
    models::{Contact, Mailbox, contact::is_reverse_local},
    resolve::{Resolution, Route},
};
use std::{
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
pub const NOREPLY_WANTED: [ProtoOpts; 6] = [
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
    pub(crate) noreply: ProtoOpts,
    /// The SMTP client's address.
    pub(crate) client_ip: Option<IpAddr>,
    /// The HELO/EHLO name.
    pub(crate) helo: String,
    /// Envelope sender of the current message, without angle brackets.
    pub(crate) sender: String,
    /// Recipients we continued for forwarding.
    pub(crate) recipients: Vec<Accepted>,
    /// Return paths of ours among the recipients (bounces coming back).
    pub(crate) returns: Vec<(CString, ReturnPath)>,
    /// Recipients at domains we do not host (left alone).
    pub(crate) foreign: usize,
    /// The message itself.
    pub(crate) message: Received,
    /// Set while the message has a recipient of ours (counted in `App::in_progress`).
    pub(crate) in_progress: Option<Entered>,
}

/// One of our recipients, continued at RCPT for end-of-message work.
#[derive(Debug)]
pub(crate) struct Accepted {
    /// The RCPT TO argument exactly as given, which is what deleting it must name.
    pub(crate) given: CString,
    /// Normalised address.
    pub(crate) address: String,
    /// What it is.
    pub(crate) target: Target,
}

/// What one of our recipients is.
#[derive(Debug)]
pub(crate) enum Target {
    /// An alias: forward to its mailboxes.
    Forward(Arc<Route>),
    /// A reverse alias: the owner replies to a contact.
    Reply(Arc<ReplyRoute>),
}

/// Where an owner's reply through a reverse alias goes.
#[derive(Debug)]
pub(crate) struct ReplyRoute {
    /// The contact.
    pub(crate) contact: Contact,
    /// The alias the reply goes out from.
    pub(crate) alias_address: String,
}

impl Accepted {
    /// The forward route, for an alias recipient.
    pub(crate) fn route(&self) -> Option<&Arc<Route>> {
        match &self.target {
            Target::Forward(r) => Some(r),
            Target::Reply(_) => None,
        }
    }
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
        self.in_progress = None;
        self.recipients.clear();
        self.returns.clear();
        self.foreign = 0;
        self.message.clear();
    }

    /// Counts the message in `busy` once it has a recipient to forward or reply to.
    pub(crate) fn count_in(&mut self, busy: &InProgress) {
        if self.in_progress.is_none() && !self.recipients.is_empty() {
            self.in_progress = Some(busy.enter());
        }
    }

    /// End of message is over: the message no longer counts as in progress.
    pub(crate) fn finished(&mut self) {
        self.in_progress = None;
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
pub fn negotiate(cx: &mut NegotiateContext<Session>, mta_actions: Actions, mta_opts: ProtoOpts) -> Status {
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
    // DATA carries nothing we need. (It used to be answered over TCP: skipping it let Postfix's
    // next small write wait in its Nagle buffer for our delayed ACK, ~40 ms a message. The
    // listener's quick ACKs end that wait, so TCP skips it too; see `listener`.)
    if mta_opts.contains(ProtoOpts::NO_DATA) {
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
    if is_reverse_local(address.local()) {
        return reverse_alias(app, session, given, &address).await;
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
                session.recipients.push(Accepted {
                    given: given.clone(),
                    address: address.to_string(),
                    target: Target::Forward(route),
                });
            }
            return Verdict::Continue;
        }
    };
    tracing::info!(recipient = %address, ?verdict, "recipient rejected");
    Counters::bump(&counters.rcpt_rejected);
    verdict
}

/// RCPT to a reverse alias: only the alias owner's verified mailboxes may write to it
/// (else we would relay for anyone who learns the address).
async fn reverse_alias(app: &App, session: &mut Session, given: &CString, address: &Address) -> Verdict {
    let counters = &app.counters;
    let sender = session.sender.to_ascii_lowercase();
    let looked_up = app
        .db
        .bounded(async {
            let mut conn = app.db.conn().await?;
            let Some((contact, alias_address, alias_enabled)) =
                Contact::by_reverse_address(&mut conn, &address.to_string()).await?
            else {
                return Ok(None);
            };
            let owner_writes = Mailbox::is_verified_of(&mut conn, contact.owner_id, &sender).await?;
            Ok(Some((contact, alias_address, alias_enabled, owner_writes)))
        })
        .await;
    let verdict = match looked_up {
        Err(e) => {
            tracing::warn!(recipient = %address, "reverse alias lookup failed, answering 451: {e}");
            Counters::bump(&counters.rcpt_tempfail);
            return Verdict::LookupTempfail;
        }
        Ok(None) => Verdict::UnknownRecipient,
        Ok(Some((_, _, false, _))) => Verdict::DisabledAlias,
        Ok(Some((_, _, true, false))) => Verdict::NotOwner,
        Ok(Some((contact, alias_address, true, true))) => {
            Counters::bump(&counters.rcpt_reply);
            if !session.recipients.iter().any(|r| r.given == *given) {
                session.recipients.push(Accepted {
                    given: given.clone(),
                    address: address.to_string(),
                    target: Target::Reply(Arc::new(ReplyRoute { contact, alias_address })),
                });
            }
            return Verdict::Continue;
        }
    };
    tracing::info!(recipient = %address, sender = %sender, ?verdict, "reverse alias recipient rejected");
    Counters::bump(&counters.rcpt_rejected);
    verdict
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

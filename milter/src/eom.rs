//! End of message: bounces coming back, forwards (privacy or transparent), and owners'
//! replies through reverse aliases. Each path checks, signs, records, then rewrites.

use crate::{
    App,
    auth::AuthSummary,
    message::{Edit, with_fields_on_top},
    metrics::Counters,
    privacy::{first_mailbox, masked_mailbox},
    reply::Verdict,
    returns::{self, ReturnPath},
    session::{ReplyRoute, Session, Target},
    sign::SignError,
};
use indymilter::{ContextActions, EomActions, Macros};
use mail_auth::AuthenticatedMessage;
use smtpy_shared::{message_log::NewMessage, resolve::Route};
use std::{collections::BTreeSet, ffi::CString, net::IpAddr, sync::Arc};
use uuid::Uuid;

/// Changes to received header fields: (name as written, 1-based position among fields of
/// that name, edit). Names compare case-insensitively; the written form is kept, since a
/// replaced field is written back under the name we give Postfix.
#[derive(Default)]
struct HeaderEdits(Vec<(String, i32, Edit)>);

impl HeaderEdits {
    fn set(&mut self, name: &str, nth: i32, edit: Edit) {
        self.0.retain(|(n, i, _)| !(n.eq_ignore_ascii_case(name) && *i == nth));
        self.0.push((name.to_owned(), nth, edit));
    }

    fn get(&self, name: &str, nth: i32) -> Edit {
        self.0
            .iter()
            .find(|(n, i, _)| n.eq_ignore_ascii_case(name) && *i == nth)
            .map_or(Edit::Keep, |(_, _, e)| e.clone())
    }
}

/// What the checks and signing produced.
struct Checked {
    /// Header fields to add on top, top first.
    top: Vec<(String, String)>,
    summary: AuthSummary,
    /// The From domain, when DMARC says reject and we honour it.
    dmarc_reject: Option<String>,
    /// For replies: whether the owner's mailbox domain authenticated the message.
    mailbox_authenticated: bool,
}

/// Whether an `Authentication-Results` value claims our authserv-id (RFC 8601 §5: one we did
/// not write is a forgery and is removed).
fn claims_our_id(value: &str, ours: &str) -> bool {
    value.trim_start().split(';').next().is_some_and(|id| id.trim().eq_ignore_ascii_case(ours))
}

/// End of message.
pub async fn eom(app: &App, session: &mut Session, actions: &EomActions, macros: &Macros) -> Verdict {
    let queue_id = macros.get(c"i").map(|q| q.to_string_lossy().into_owned());
    let qid = queue_id.as_deref().unwrap_or("-").to_owned();
    if !session.returns.is_empty() {
        if let Err(verdict) = handle_returns(app, session, actions, &qid).await {
            return verdict;
        }
        if session.recipients.is_empty() {
            let only_bounces = session.returns.iter().all(|(_, p)| matches!(p, ReturnPath::Bounce(_)));
            let foreign = session.foreign;
            session.abort_message();
            // Recorded and never relayed: with nobody else to deliver to, the copy is dropped.
            return if only_bounces && foreign == 0 { Verdict::Discard } else { Verdict::Continue };
        }
    }
    let replies = session.recipients.iter().filter(|r| matches!(r.target, Target::Reply(_))).count();
    let verdict = if session.recipients.is_empty() {
        Verdict::Continue
    } else if replies == 0 {
        forward(app, session, actions, queue_id).await
    } else if replies == session.recipients.len() {
        reply(app, session, actions, queue_id).await
    } else {
        // A reply must leave from the alias alone; mixed with forwards it would leak.
        Verdict::MixedReply
    };
    if verdict == Verdict::Continue {
        session.abort_message();
    }
    verdict
}

fn tempfail(app: &App, qid: &str, e: &dyn std::fmt::Display) -> Verdict {
    tracing::warn!(queue_id = qid, "answering 451: {e}");
    Counters::bump(&app.counters.messages_tempfail);
    Verdict::InternalTempfail
}

/// Bounces coming back: records DSNs to bounce addresses, sends SRS bounces back to the
/// original sender; either way the return path itself is removed from the recipients.
async fn handle_returns(app: &App, session: &Session, actions: &EomActions, qid: &str) -> Result<(), Verdict> {
    let raw = session.message.raw();
    if session.returns.iter().any(|(_, p)| matches!(p, ReturnPath::Bounce(_))) {
        // The row may still be queued: a destination that refuses at once can bounce within
        // the log's flush interval. Written first, it is found; unwritable, the DSN waits (451).
        app.log.flush().await.map_err(|e| tempfail(app, qid, &e))?;
    }
    for (given, path) in &session.returns {
        match path {
            ReturnPath::Bounce(row) => match returns::record_bounce(&app.db, *row, &raw).await {
                Ok(true) => tracing::info!(queue_id = qid, message = %row, "bounce recorded"),
                Ok(false) => tracing::warn!(queue_id = qid, message = %row, "bounce for a message no longer logged"),
                Err(e) => return Err(tempfail(app, qid, &e)),
            },
            ReturnPath::Srs(original) => {
                actions.add_recipient(format!("<{original}>")).await.map_err(|e| tempfail(app, qid, &e))?;
                tracing::info!(queue_id = qid, "SRS bounce returned to {original}");
            }
        }
        actions.delete_recipient(given.clone()).await.map_err(|e| tempfail(app, qid, &e))?;
    }
    Counters::bump(&app.counters.messages_returned);
    Ok(())
}

/// Runs SPF, DKIM, ARC and DMARC on the received message and signs it as it will leave
/// (after `edits`, with the new fields on top). `mailbox_domain`: for a reply, the domain
/// that must have authenticated it.
async fn check_and_sign(
    app: &App,
    session: &Session,
    raw: &[u8],
    sign_domain: &str,
    edits: &mut HeaderEdits,
    mailbox_domain: Option<&str>,
) -> Result<Checked, SignError> {
    let ours = app.verifier.authserv_id();
    for nth in session.message.indices_where("Authentication-Results", |v| claims_our_id(v, ours)) {
        edits.set("Authentication-Results", nth, Edit::Drop);
    }
    let signers = match app.keys.signers(&app.db, &app.cache, sign_domain).await {
        Ok(s) => s,
        Err(SignError::Db(e)) => return Err(SignError::Db(e)),
        Err(e) => {
            // A broken key is the operator's to fix; the mail still goes, unsigned.
            tracing::error!("{e}; sending unsigned");
            None
        }
    };
    let Some(parsed) = AuthenticatedMessage::parse(raw) else {
        tracing::info!("message cannot be parsed for authentication checks; passing it unchecked");
        return Ok(Checked {
            top: Vec::new(),
            summary: AuthSummary::default(),
            dmarc_reject: None,
            mailbox_authenticated: false,
        });
    };
    // DKIM covers neither what the checks add on top nor anything they decide, so the
    // signatures start now, beside the checks, unless other messages keep the milter busy.
    let parallel = app.in_progress.count() <= 1;
    let dkim = signers.as_ref().map(|s| {
        Counters::bump(if parallel { &app.counters.dkim_beside } else { &app.counters.dkim_in_line });
        let edited = Arc::new(session.message.rebuilt(|name, nth, _| edits.get(name, nth)));
        (s.start_dkim(edited.clone(), parallel), edited)
    });
    let ip = session.client_ip.unwrap_or(IpAddr::from([127, 0, 0, 1]));
    let inbound = app.verifier.check(&parsed, ip, &session.helo, &session.sender).await;
    let results = inbound.results(&app.verifier, ip, &session.helo, &session.sender);
    // A reply originates with our user: its results (which name the owner's mailbox) stay
    // here, and there is no forwarding chain to seal.
    let is_reply = mailbox_domain.is_some();
    let mut top = Vec::new();
    if inbound.dmarc_quarantines() && !is_reply {
        // The receiving mailbox's filters can file it as spam, as the domain owner asked.
        top.push(("X-SMTPy-Quarantine".to_owned(), format!("dmarc; policy of {}", inbound.from_domain)));
    }
    if !is_reply {
        top.push((
            "Authentication-Results".to_owned(),
            inbound.header_value(&app.verifier, ip, &session.helo, &session.sender),
        ));
    }
    if let (Some(signers), Some((dkim, edited))) = (signers, dkim) {
        let leaving = with_fields_on_top(&top, &edited);
        let chain = if is_reply { None } else { Some(&inbound.arc) };
        let started = std::time::Instant::now();
        let signed = signers.finish(dkim, &leaving, &results, chain).await;
        app.counters.sign.observe(started.elapsed());
        match signed {
            Ok(mut signatures) => {
                signatures.append(&mut top);
                top = signatures;
            }
            Err(e) => tracing::error!("cannot sign for {sign_domain}: {e}; sending unsigned"),
        }
    }
    Ok(Checked {
        top,
        summary: inbound.summary(),
        dmarc_reject: (app.dmarc_reject && inbound.dmarc_rejects()).then(|| inbound.from_domain.clone()),
        mailbox_authenticated: mailbox_domain.is_some_and(|d| inbound.authenticates(d)),
    })
}

/// A message to aliases: privacy rewrite (or SRS), checks, signatures, log rows, rewrite.
async fn forward(app: &App, session: &Session, actions: &EomActions, queue_id: Option<String>) -> Verdict {
    let qid = queue_id.as_deref().unwrap_or("-");
    let Some(first) = session.recipients.first().and_then(|r| r.route().cloned()) else {
        return Verdict::Continue;
    };
    let sign_domain = domain_of(&first.alias_address).to_owned();
    let raw = session.message.raw();
    let mut edits = HeaderEdits::default();
    let mut contact = None;
    if first.mode == "privacy" {
        match privacy_edits(app, session, &first, &mut edits).await {
            Ok(Ok(c)) => contact = c,
            Ok(Err(verdict)) => return verdict,
            Err(e) => return tempfail(app, qid, &e),
        }
    }
    let checked = match check_and_sign(app, session, &raw, &sign_domain, &mut edits, None).await {
        Ok(c) => c,
        Err(e) => return tempfail(app, qid, &e),
    };
    let status = if checked.dmarc_reject.is_some() { "rejected" } else { "forwarded" };
    // Time-ordered ids: the log's primary key grows at one end instead of at random places.
    let first_row = Uuid::now_v7();
    let rows = session
        .recipients
        .iter()
        .filter_map(|r| r.route().map(|route| (r, route)))
        .enumerate()
        .map(|(i, (r, route))| {
            let mut row = log_row(session, &raw, &queue_id, &checked.summary, route.owner_id, status);
            row.id = if i == 0 { first_row } else { Uuid::now_v7() };
            row.alias_id = Some(route.alias_id);
            row.recipient = r.address.clone();
            row.forwarded_to = route.targets.iter().cloned().map(Some).collect();
            row.mode = Some(route.mode.clone());
            if route.alias_id == first.alias_id {
                row.contact_id = contact.as_ref().map(|c: &Arc<smtpy_shared::models::Contact>| c.id);
                row.reverse_alias = contact.as_ref().map(|c| c.reverse_address.clone());
            }
            row
        })
        .collect();
    // Queued before we change anything: if the log cannot take it the message is refused with
    // 451 and stays with the sender, so nothing is forwarded without its log row.
    if let Err(e) = app.log.record(rows) {
        return tempfail(app, qid, &e);
    }
    if let Some(domain) = checked.dmarc_reject {
        tracing::info!(queue_id = qid, from_domain = %domain, "refused: DMARC policy reject");
        Counters::bump(&app.counters.messages_rejected);
        return Verdict::DmarcReject;
    }
    let sender = returns::forward_sender(app, &first.mode, &session.sender, first_row, &sign_domain);
    let targets: BTreeSet<String> =
        session.recipients.iter().filter_map(|r| r.route()).flat_map(|r| r.targets.iter().cloned()).collect();
    if let Err(e) = rewrite(session, actions, &edits, &checked.top, sender.as_deref(), &targets).await {
        return tempfail(app, qid, &e);
    }
    Counters::bump(&app.counters.messages_forwarded);
    tracing::info!(queue_id = qid, aliases = session.recipients.len(), size = raw.len(), "forwarded");
    Verdict::Continue
}

/// Privacy mode: `From` (and `Reply-To`) become reverse aliases. A blocked contact's mail
/// is refused or dropped here.
async fn privacy_edits(
    app: &App,
    session: &Session,
    route: &Route,
    edits: &mut HeaderEdits,
) -> Result<Result<Option<Arc<smtpy_shared::models::Contact>>, Verdict>, smtpy_shared::DbError> {
    let Some((name, from)) = session.message.header("From").and_then(|v| first_mailbox("From", &v)) else {
        return Ok(Ok(None));
    };
    let contact = app.contacts.contact(app, route, &from.to_string(), name.as_deref()).await?;
    if contact.blocked {
        Counters::bump(&app.counters.messages_rejected);
        return Ok(Err(if contact.block_action == "discard" { Verdict::Discard } else { Verdict::BlockedContact }));
    }
    edits.set("From", 1, Edit::Replace(masked_mailbox(name.as_deref(), &from, &contact.reverse_address)));
    if let Some((rt_name, rt)) = session.message.header("Reply-To").and_then(|v| first_mailbox("Reply-To", &v)) {
        let rt_contact = app.contacts.contact(app, route, &rt.to_string(), rt_name.as_deref()).await?;
        edits.set("Reply-To", 1, Edit::Replace(masked_mailbox(rt_name.as_deref(), &rt, &rt_contact.reverse_address)));
    }
    Ok(Ok(Some(contact)))
}

/// An owner's reply through a reverse alias: it leaves from the alias to the contact, with
/// nothing left that names the owner's mailbox.
async fn reply(app: &App, session: &Session, actions: &EomActions, queue_id: Option<String>) -> Verdict {
    let qid = queue_id.as_deref().unwrap_or("-");
    let routes: Vec<&Arc<ReplyRoute>> = session
        .recipients
        .iter()
        .filter_map(|r| match &r.target {
            Target::Reply(route) => Some(route),
            Target::Forward(_) => None,
        })
        .collect();
    let Some(first) = routes.first() else {
        return Verdict::Continue;
    };
    let alias = first.alias_address.clone();
    let mailbox = session.sender.to_ascii_lowercase();
    let raw = session.message.raw();
    let mut edits = HeaderEdits::default();
    // Every field that names the owner's mailbox goes (Sender, Reply-To, Return-Path, ...);
    // From is rewritten to the alias.
    let mut seen: std::collections::HashMap<String, i32> = std::collections::HashMap::new();
    for (name, value) in &session.message.headers {
        let nth = seen.entry(name.to_ascii_lowercase()).or_insert(0);
        *nth += 1;
        if String::from_utf8_lossy(value).to_ascii_lowercase().contains(&mailbox) {
            edits.set(name, *nth, Edit::Drop);
        }
    }
    edits.set("From", 1, Edit::Replace(alias.clone()));
    let checked =
        match check_and_sign(app, session, &raw, domain_of(&alias), &mut edits, Some(domain_of(&mailbox))).await {
            Ok(c) => c,
            Err(e) => return tempfail(app, qid, &e),
        };
    if !checked.mailbox_authenticated {
        tracing::info!(queue_id = qid, mailbox = %mailbox, "refused reply: the mailbox's domain did not authenticate it");
        Counters::bump(&app.counters.messages_rejected);
        return Verdict::ReplyNotAuthenticated;
    }
    let rows = routes
        .iter()
        .map(|route| {
            let c = &route.contact;
            let mut row = log_row(session, &raw, &queue_id, &checked.summary, c.owner_id, "replied");
            row.alias_id = Some(c.alias_id);
            row.recipient = c.address.clone();
            row.envelope_sender = alias.clone();
            row.forwarded_to = vec![Some(c.address.clone())];
            row.mode = Some("reply".to_owned());
            row.contact_id = Some(c.id);
            row.reverse_alias = Some(c.reverse_address.clone());
            row
        })
        .collect();
    if let Err(e) = app.log.record(rows) {
        return tempfail(app, qid, &e);
    }
    let targets: BTreeSet<String> = routes.iter().map(|r| r.contact.address.clone()).collect();
    if let Err(e) = rewrite(session, actions, &edits, &checked.top, Some(&alias), &targets).await {
        return tempfail(app, qid, &e);
    }
    Counters::bump(&app.counters.messages_replied);
    tracing::info!(queue_id = qid, alias = %alias, "reply sent");
    Verdict::Continue
}

/// A log row with the fields every path fills the same way.
fn log_row(
    session: &Session,
    raw: &[u8],
    queue_id: &Option<String>,
    summary: &AuthSummary,
    owner_id: Uuid,
    status: &str,
) -> NewMessage {
    let word = |w: &str| Some(w.to_owned()).filter(|w| !w.is_empty());
    NewMessage {
        id: Uuid::now_v7(),
        owner_id,
        alias_id: None,
        recipient: String::new(),
        envelope_sender: session.sender.clone(),
        forwarded_to: Vec::new(),
        size_bytes: i64::try_from(raw.len()).unwrap_or(i64::MAX),
        status: status.to_owned(),
        queue_id: queue_id.clone(),
        mode: None,
        subject: session.message.header("Subject").map(|s| s.chars().take(998).collect()),
        auth_spf: word(&summary.spf),
        auth_dkim: word(&summary.dkim),
        auth_dmarc: word(&summary.dmarc),
        auth_arc: word(&summary.arc),
        contact_id: None,
        reverse_alias: None,
    }
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

/// Applies everything to the message in Postfix: envelope sender, header edits, new fields
/// on top, and the recipients (ours out, `targets` in).
async fn rewrite(
    session: &Session,
    actions: &EomActions,
    edits: &HeaderEdits,
    top: &[(String, String)],
    sender: Option<&str>,
    targets: &BTreeSet<String>,
) -> Result<(), indymilter::ActionError> {
    if let Some(sender) = sender {
        actions.change_sender(format!("<{sender}>"), None::<CString>).await?;
    }
    // Highest position first, so that removing a field never shifts one still to be edited.
    let mut ordered: Vec<&(String, i32, Edit)> = edits.0.iter().collect();
    ordered.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (name, nth, edit) in ordered {
        match edit {
            Edit::Keep => {}
            Edit::Drop => actions.change_header(name.as_str(), *nth, None::<CString>).await?,
            Edit::Replace(value) => actions.change_header(name.as_str(), *nth, Some(format!(" {value}"))).await?,
        }
    }
    // Each insertion at the top pushes the previous down, so the last field goes first.
    for (name, value) in top.iter().rev() {
        actions.insert_header(0, name.as_str(), format!(" {value}")).await?;
    }
    for r in &session.recipients {
        actions.delete_recipient(r.given.clone()).await?;
    }
    for target in targets {
        actions.add_recipient(format!("<{target}>")).await?;
    }
    Ok(())
}

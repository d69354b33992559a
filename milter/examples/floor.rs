//! The bench's reference point: the cheapest milter that leaves Postfix with everything a
//! signed privacy-mode forward of smtpy-milter leaves it, and does nothing else.
//!
//! It makes three RSA-2048 signatures per message (over the raw message, not DKIM-canonical:
//! they verify nowhere) and the same edits as a forward: the envelope sender, the recipient
//! replaced by `TARGET`, `From` rewritten, and five fields on top (Authentication-Results,
//! DKIM-Signature, ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal) of the usual
//! sizes. No checks, no database, no log. Same socket handling and protocol options as
//! smtpy-milter. `bench/run` measures it next to the real thing, so every run shows how close
//! to this floor a signed forward gets on that machine at that time. Never deployed.
//!
//! Usage: `floor LISTEN TARGET` (LISTEN: `inet:HOST:PORT` or `unix:PATH`).

use indymilter::{Actions, Callbacks, ContextActions, EomActions, MacroStage, ProtoOpts, Status};
use openssl::{hash::MessageDigest, pkey::PKey, pkey::Private, rsa::Rsa, sign::Signer};
use smtpy_milter::{MilterListener, NOREPLY_WANTED};
use std::{ffi::CString, process::ExitCode, sync::Arc};

/// The message as received: header fields and body.
#[derive(Default)]
struct Message {
    raw: Vec<u8>,
    recipient: Option<CString>,
}

const AUTH_RESULTS: &str = "bench.floor; spf=pass (bench.floor: domain of sender@example.org designates 127.0.0.1 as \
                            permitted sender) smtp.mailfrom=sender@example.org; dmarc=pass header.from=example.org \
                            policy.dmarc=none; arc=none smtp.remote-ip=127.0.0.1";
const SIGNED: &str = "d=bench.smtpy.test; c=relaxed/relaxed; h=Message-Id:Date:To:From:Cc:Subject:Reply-To; \
                      t=1795727106; bh=A7KfG8/dmcIMxxuKG4sxVQ/QFSnLHtLbq9Tp7f4IiRg=";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(listen), Some(target)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: floor LISTEN TARGET");
        return ExitCode::from(2);
    };
    match run(listen, target) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(listen: &str, target: &str) -> Result<(), Box<dyn std::error::Error>> {
    let socket: smtpy_shared::config::MilterSocket = listen.parse()?;
    let key = Arc::new(PKey::from_rsa(Rsa::generate(2048)?)?);
    let target = Arc::new(CString::new(format!("<{target}>"))?);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = MilterListener::bind(&socket).await?;
        let callbacks = Callbacks::<Message>::new()
            .on_negotiate(|cx, _, offered| {
                Box::pin(async move {
                    cx.requested_actions = Actions::ADD_HEADER
                        | Actions::CHANGE_HEADER
                        | Actions::ADD_RCPT
                        | Actions::DELETE_RCPT
                        | Actions::CHANGE_SENDER;
                    for opt in NOREPLY_WANTED.into_iter().chain([ProtoOpts::NO_DATA]) {
                        if offered.contains(opt) {
                            cx.requested_opts |= opt;
                        }
                    }
                    cx.requested_macros.insert(MacroStage::Eom, c"i".to_owned());
                    cx.data = Some(Message::default());
                    Status::Continue
                })
            })
            .on_connect(|_, _, _| Box::pin(async { Status::Noreply }))
            .on_helo(|_, _| Box::pin(async { Status::Noreply }))
            .on_mail(|_, _| Box::pin(async { Status::Noreply }))
            .on_rcpt(|cx, args| {
                Box::pin(async move {
                    cx.data.get_or_insert_with(Message::default).recipient = args.into_iter().next();
                    Status::Continue
                })
            })
            .on_header(|cx, name, value| {
                Box::pin(async move {
                    let raw = &mut cx.data.get_or_insert_with(Message::default).raw;
                    raw.extend_from_slice(name.as_bytes());
                    raw.push(b':');
                    raw.extend_from_slice(value.as_bytes());
                    raw.extend_from_slice(b"\r\n");
                    Status::Noreply
                })
            })
            .on_eoh(|_| Box::pin(async { Status::Noreply }))
            .on_body(|cx, chunk| {
                Box::pin(async move {
                    cx.data.get_or_insert_with(Message::default).raw.extend_from_slice(&chunk);
                    Status::Noreply
                })
            })
            .on_eom(move |cx| {
                let (key, target) = (key.clone(), target.clone());
                Box::pin(async move {
                    let message = std::mem::take(cx.data.get_or_insert_with(Message::default));
                    match forward(&cx.actions, &key, &target, message).await {
                        Ok(()) => Status::Continue,
                        Err(e) => {
                            eprintln!("floor: {e}");
                            Status::Tempfail
                        }
                    }
                })
            });
        indymilter::run(listener, callbacks, Default::default(), std::future::pending::<()>()).await?;
        Ok(())
    })
}

async fn forward(
    actions: &EomActions,
    key: &PKey<Private>,
    target: &CString,
    message: Message,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut signatures = Vec::new();
    for salt in [b"dkim", b"ams_", b"seal"] {
        let mut signer = Signer::new(MessageDigest::sha256(), key)?;
        signer.update(salt)?;
        signer.update(&message.raw)?;
        signatures.push(data_encoding::BASE64.encode(&signer.sign_to_vec()?));
    }
    let [dkim, ams, seal] = signatures.as_slice() else {
        return Err("three signatures expected".into());
    };
    actions
        .change_sender("<bounce+dugv33ia2jgl3mm2gr5mpcu5zy.ukn.f6hprvktpqdbazgi@bench.smtpy.test>", None::<CString>)
        .await?;
    actions
        .change_header("From", 1, Some("\"sender at example.org\" <ra+icle4vwlvvf3nk67t57r32aofu@bench.smtpy.test>"))
        .await?;
    actions.insert_header(0, "Authentication-Results", AUTH_RESULTS).await?;
    actions.insert_header(0, "DKIM-Signature", format!("v=1; a=rsa-sha256; s=bench; {SIGNED}; b={dkim}")).await?;
    actions.insert_header(0, "ARC-Authentication-Results", format!("i=1; {AUTH_RESULTS}")).await?;
    actions.insert_header(0, "ARC-Message-Signature", format!("i=1; a=rsa-sha256; s=bench; {SIGNED}; b={ams}")).await?;
    actions
        .insert_header(0, "ARC-Seal", format!("i=1; a=rsa-sha256; s=bench; d=bench.smtpy.test; cv=none; b={seal}"))
        .await?;
    if let Some(given) = message.recipient {
        actions.delete_recipient(given).await?;
    }
    actions.add_recipient(target.clone()).await?;
    Ok(())
}

//! The indymilter callbacks: each unpacks its arguments, hands them to `session`, and turns a
//! panic into `451 4.3.0` (the sender retries; nothing is lost).

use crate::{
    App,
    metrics::Counters,
    reply::Verdict,
    session::{self, Session},
};
use futures_util::FutureExt;
use indymilter::{Callbacks, ProtoOpts, SocketInfo, Status};
use std::{future::Future, panic::AssertUnwindSafe, sync::Arc, time::Instant};

/// All callbacks, sharing `app`.
pub fn build(app: Arc<App>) -> Callbacks<Session> {
    let (rcpt_app, eom_app) = (app.clone(), app);
    Callbacks::new()
        .on_negotiate(move |cx, actions, opts| Box::pin(async move { session::negotiate(cx, actions, opts) }))
        .on_connect(|cx, _hostname, socket| {
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                s.connected(match socket {
                    SocketInfo::Inet(addr) => Some(addr.ip()),
                    _ => None,
                });
                s.quiet(ProtoOpts::NOREPLY_CONNECT)
            })
        })
        .on_helo(|cx, name| {
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                s.helo(&name);
                s.quiet(ProtoOpts::NOREPLY_HELO)
            })
        })
        .on_mail(|cx, args| {
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                s.begin_message(&args);
                s.quiet(ProtoOpts::NOREPLY_MAIL)
            })
        })
        .on_rcpt(move |cx, args| {
            let app = rcpt_app.clone();
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                let verdict = guarded(&app, session::rcpt(&app, s, &args)).await;
                s.count_in(&app.in_progress);
                verdict.apply(&mut cx.reply)
            })
        })
        .on_data(|_| Box::pin(async { Status::Continue }))
        .on_header(|cx, name, value| {
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                s.header(&name, &value);
                s.quiet(ProtoOpts::NOREPLY_HEADER)
            })
        })
        .on_eoh(|cx| {
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                s.quiet(ProtoOpts::NOREPLY_EOH)
            })
        })
        .on_body(|cx, chunk| {
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                s.body(&chunk);
                s.quiet(ProtoOpts::NOREPLY_BODY)
            })
        })
        .on_eom(move |cx| {
            let app = eom_app.clone();
            Box::pin(async move {
                let s = cx.data.get_or_insert_with(Session::default);
                let started = Instant::now();
                let verdict = guarded(&app, crate::eom::eom(&app, s, &cx.actions, &cx.macros)).await;
                s.finished();
                app.counters.eom.observe(started.elapsed());
                verdict.apply(&mut cx.reply)
            })
        })
        .on_abort(|cx| {
            Box::pin(async move {
                if let Some(s) = cx.data.as_mut() {
                    s.abort_message();
                }
                Status::Continue
            })
        })
}

/// Runs `work`, answering a temporary failure if it panics.
async fn guarded(app: &App, work: impl Future<Output = Verdict>) -> Verdict {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(verdict) => verdict,
        Err(_) => {
            tracing::error!("a milter callback panicked; answering 451");
            Counters::bump(&app.counters.panics);
            Verdict::InternalTempfail
        }
    }
}

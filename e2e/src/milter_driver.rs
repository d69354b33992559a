//! Driving the milter like Postfix does, over `indymilter-test`, skipping the steps the
//! milter negotiated away.

use anyhow::{Result, anyhow};
use indymilter_test::{EomActions, MacroStage, ProtoOpts, Status, TestConnection};
use std::net::SocketAddr;

fn test_err(err: indymilter_test::TestError) -> anyhow::Error {
    anyhow!("milter protocol: {err}")
}

/// Opens and negotiates a connection, then sends connect and HELO if the milter wants them.
pub async fn open(addr: SocketAddr) -> Result<TestConnection> {
    let mut conn = TestConnection::configure().open_tcp(addr).await.map_err(test_err)?;
    let opts = conn.negotiated_opts();
    if !opts.contains(ProtoOpts::NO_CONNECT) {
        expect_continue("connect", conn.connect("client.e2e.test", ([127, 0, 0, 1], 40000)).await.map_err(test_err)?)?;
    }
    if !opts.contains(ProtoOpts::NO_HELO) {
        expect_continue("helo", conn.helo("client.e2e.test").await.map_err(test_err)?)?;
    }
    Ok(conn)
}

fn expect_continue(stage: &str, status: Status) -> Result<()> {
    match status {
        Status::Continue | Status::Noreply => Ok(()),
        other => Err(anyhow!("milter answered {other:?} at {stage}")),
    }
}

/// Sends MAIL FROM (`<sender>`) if negotiated.
pub async fn mail(conn: &mut TestConnection, sender: &str) -> Result<()> {
    if conn.negotiated_opts().contains(ProtoOpts::NO_MAIL) {
        return Ok(());
    }
    let status = conn.mail([format!("<{sender}>")]).await.map_err(test_err)?;
    expect_continue("mail", status)
}

/// Sends RCPT TO (`<recipient>`, as Postfix passes it) and returns the milter's status.
pub async fn rcpt(conn: &mut TestConnection, recipient: &str) -> Result<Status> {
    conn.rcpt([format!("<{recipient}>")]).await.map_err(test_err)
}

/// The rest of a message: DATA, headers, end of headers, body, and end of message with the
/// queue id macro `i`. Returns the actions and final status, and the message size as the
/// milter should measure it.
pub async fn finish(
    conn: &mut TestConnection,
    headers: &[(&str, &str)],
    body: &[u8],
    queue_id: &str,
) -> Result<(EomActions, Status, usize)> {
    let opts = conn.negotiated_opts();
    if !opts.contains(ProtoOpts::NO_DATA) {
        expect_continue("data", conn.data().await.map_err(test_err)?)?;
    }
    // indymilter-test prepends the customary space to each value when LEADING_SPACE was
    // negotiated; the milter then sees the header exactly as `Name: value`.
    let separator = if opts.contains(ProtoOpts::LEADING_SPACE) { ": " } else { ":" };
    let mut size = 2 + body.len();
    for (name, value) in headers {
        size += name.len() + separator.len() + value.len() + 2;
        if !opts.contains(ProtoOpts::NO_HEADER) {
            expect_continue("header", conn.header(*name, *value).await.map_err(test_err)?)?;
        }
    }
    if !opts.contains(ProtoOpts::NO_EOH) {
        expect_continue("eoh", conn.eoh().await.map_err(test_err)?)?;
    }
    if !opts.contains(ProtoOpts::NO_BODY) && !body.is_empty() {
        expect_continue("body", conn.body(body.to_vec()).await.map_err(test_err)?)?;
    }
    conn.macros(MacroStage::Eom, [("i", queue_id)]).await.map_err(test_err)?;
    let (actions, status) = conn.eom().await.map_err(test_err)?;
    Ok((actions, status, size))
}

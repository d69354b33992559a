//! Milter-protocol tests: `indymilter-test` plays Postfix against the real `smtpy-milter`
//! process and a real, migrated database.

use crate::support::bare;
use indymilter_test::{EomAction, Status, any};
use smtpy_e2e::{
    Admin, MilterProcess, TempDir, TestDb,
    db::single_row,
    fixture::{self, DOMAIN, MAILBOX_1, MAILBOX_2, SENDER, UNVERIFIED_DOMAIN},
    milter_driver,
    wait::DELIVERY_TIMEOUT,
};

/// A seeded database and a milter on it (no Postfix).
struct Setup {
    milter: MilterProcess,
    admin: Admin,
    db: TestDb,
    _dir: TempDir,
}

async fn setup(label: &str) -> Setup {
    let dir = TempDir::new(label).unwrap();
    let db = TestDb::create().await.unwrap();
    let admin = Admin::new(db.url()).unwrap();
    fixture::seed(&admin).await.unwrap();
    let milter = MilterProcess::spawn(db.url(), dir.path()).await.unwrap();
    Setup { milter, admin, db, _dir: dir }
}

fn reject_text(status: &Status) -> String {
    match status {
        Status::Reject { message: Some(m) } | Status::Tempfail { message: Some(m) } => m.to_string_lossy().into_owned(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milter_protocol_rcpt_statuses() {
    let s = setup("proto-rcpt").await;
    let (alias, disabled) = (format!("live@{DOMAIN}"), format!("off@{DOMAIN}"));
    s.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    s.admin.add_alias(&disabled, &[MAILBOX_1]).await.unwrap();
    s.admin.run(&["alias", "disable", &disabled]).await.unwrap();

    let mut conn = milter_driver::open(s.milter.addr().unwrap()).await.unwrap();
    milter_driver::mail(&mut conn, SENDER).await.unwrap();
    let rcpt = async |conn: &mut _, address: &str| milter_driver::rcpt(conn, address).await.unwrap();

    assert_eq!(rcpt(&mut conn, &alias).await, Status::Continue, "enabled alias");
    assert_eq!(rcpt(&mut conn, &alias.to_uppercase()).await, Status::Continue, "addresses are case-insensitive");
    assert_eq!(rcpt(&mut conn, "someone@not-hosted.test").await, Status::Continue, "foreign domain: untouched");
    for address in [format!("nobody@{DOMAIN}"), disabled.clone(), format!("x@{UNVERIFIED_DOMAIN}")] {
        let status = rcpt(&mut conn, &address).await;
        assert!(
            matches!(&status, Status::Reject { .. }) && reject_text(&status).starts_with("550 5.1.1"),
            "RCPT {address}: {status:?}\n{}",
            s.milter.log()
        );
    }
    conn.abort().await.unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milter_protocol_eom_deletes_alias_adds_targets_and_logs_row() {
    let s = setup("proto-eom").await;
    let alias = format!("team@{DOMAIN}");
    let foreign = "friend@elsewhere.test";
    s.admin.add_alias(&alias, &[MAILBOX_1, MAILBOX_2]).await.unwrap();

    let mut conn = milter_driver::open(s.milter.addr().unwrap()).await.unwrap();
    milter_driver::mail(&mut conn, SENDER).await.unwrap();
    assert_eq!(milter_driver::rcpt(&mut conn, &alias).await.unwrap(), Status::Continue);
    assert_eq!(milter_driver::rcpt(&mut conn, foreign).await.unwrap(), Status::Continue);
    let headers = [("From", "Sender <sender@remote.test>"), ("To", "team@alias.test"), ("Subject", "protocol")];
    let body = b"Hello\r\n.dot line\r\nbye\r\n";
    let (actions, status, size) = milter_driver::finish(&mut conn, &headers, body, "4XyZ1AB2C3").await.unwrap();
    assert_eq!(status, Status::Continue, "{actions:?}\n{}", s.milter.log());

    assert!(actions.has_delete_recipient(format!("<{alias}>").as_str()), "{actions:?}");
    for mailbox in [MAILBOX_1, MAILBOX_2] {
        let added = actions.has_add_recipient(format!("<{mailbox}>").as_str(), any())
            || actions.has_add_recipient(mailbox, any());
        assert!(added, "{mailbox} not added: {actions:?}");
    }
    let deletes = actions.actions.iter().filter(|a| matches!(a, EomAction::DeleteRecipient { .. })).count();
    let adds = actions.actions.iter().filter(|a| matches!(a, EomAction::AddRecipient { .. })).count();
    assert_eq!((deletes, adds), (1, 2), "only the alias is replaced: {actions:?}");

    let rows = s.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    let row = single_row(&rows).unwrap();
    assert_eq!(bare(&row.recipient), alias);
    assert_eq!(row.status, "forwarded");
    assert_eq!(row.queue_id.as_deref(), Some("4XyZ1AB2C3"));
    assert_eq!(usize::try_from(row.size_bytes).unwrap(), size, "size_bytes");
    let mut forwarded_to: Vec<&str> = row.forwarded_to.iter().map(|m| bare(m)).collect();
    forwarded_to.sort_unstable();
    assert_eq!(forwarded_to, [MAILBOX_1, MAILBOX_2]);
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milter_protocol_foreign_only_message_is_untouched_and_unlogged() {
    let s = setup("proto-foreign").await;
    let mut conn = milter_driver::open(s.milter.addr().unwrap()).await.unwrap();
    milter_driver::mail(&mut conn, SENDER).await.unwrap();
    assert_eq!(milter_driver::rcpt(&mut conn, "a@not-hosted.test").await.unwrap(), Status::Continue);
    let (actions, status, _) =
        milter_driver::finish(&mut conn, &[("Subject", "not ours")], b"body\r\n", "5ABCDEF").await.unwrap();
    assert!(matches!(status, Status::Continue | Status::Accept), "{status:?}");
    assert!(actions.actions.is_empty(), "a foreign message was modified: {actions:?}");
    conn.close().await.unwrap();
    assert!(s.db.messages().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn milter_health_and_metrics_endpoints_answer() {
    let s = setup("proto-http").await;
    let (code, body) = s.milter.http_get("/healthz").await.unwrap();
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, body) = s.milter.http_get("/metrics").await.unwrap();
    assert_eq!(code, 200);
    assert!(body.lines().any(|l| l.starts_with("# TYPE ")), "not Prometheus text:\n{body}");
}

//! The message log follows its parents: deleting an owner deletes its log, deleting an alias
//! or contact keeps the rows and clears the link.

use smtpy_e2e::{
    Admin, Secrets, Stack, StackOptions, TempDir, TestDb,
    fixture::{self, DOMAIN, MAILBOX_1, OWNER, SENDER},
    wait::{DELIVERY_TIMEOUT, poll_until},
};
use smtpy_shared::{
    config::DatabaseConfig,
    db::Db,
    message_log::{MessageLog, NewMessage},
};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_log_follows_deleted_alias_contact_and_owner() {
    let stack = Stack::start("message-log").await.unwrap();
    let alias = format!("gone@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "logged")).await.unwrap().accepted());
    stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    // One row, written in one INSERT: the idle writer woke for it and made no empty rounds.
    let milter = stack.milter.as_ref().unwrap();
    assert_eq!(milter.metric("smtpy_milter_log_batches_total").await.unwrap(), 1);
    let client = stack.db.client().await.unwrap();
    let ids = "SELECT count(*) FILTER (WHERE alias_id IS NOT NULL), count(*) FILTER (WHERE contact_id IS NOT NULL), count(*) FROM messages";
    let row = client.query_one(ids, &[]).await.unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)), (1, 1, 1));

    client.execute("DELETE FROM contacts", &[]).await.unwrap();
    stack.admin.run(&["alias", "delete", &alias]).await.unwrap();
    let row = client.query_one(ids, &[]).await.unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)),
        (0, 0, 1),
        "row kept, links cleared"
    );

    client.execute("DELETE FROM users WHERE email = $1", &[&OWNER]).await.unwrap();
    let row = client.query_one(ids, &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(2), 0, "the owner's log goes with the owner");
}

/// Rows wait in the milter before they are written. An alias, contact or owner deleted in that
/// time must not make the INSERT fail for good (it used to: the foreign keys refused the batch,
/// the writer retried it forever and the milter answered 451 to all mail): the rows are stored
/// as the foreign keys' ON DELETE would have left them, and mail keeps flowing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_queued_before_their_alias_contact_or_owner_was_deleted_are_still_written() {
    // Long enough to delete parents while the first row waits in the queue.
    let options = StackOptions { milter_env: vec![("SMTPY_MILTER_LOG_FLUSH_MS", "3000")], ..StackOptions::default() };
    let stack = Stack::start_with("message-log-race", options).await.unwrap();
    let milter = stack.milter.as_ref().unwrap();
    let (gone, kept) = (format!("gone-early@{DOMAIN}"), format!("kept@{DOMAIN}"));
    stack.admin.add_alias(&gone, &[MAILBOX_1]).await.unwrap();
    stack.admin.add_alias(&kept, &[MAILBOX_1]).await.unwrap();
    let client = stack.db.client().await.unwrap();

    assert!(stack.send(SENDER, &[&gone], &fixture::message(&gone, "queued")).await.unwrap().accepted());
    assert_eq!(milter.metric("smtpy_milter_log_rows_pending").await.unwrap(), 1, "the row must still be queued");
    client.execute("DELETE FROM contacts", &[]).await.unwrap();
    client.execute("DELETE FROM aliases WHERE address = $1", &[&gone]).await.unwrap();

    let rows = stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(rows[0].recipient, gone);
    let links = "SELECT count(*) FILTER (WHERE alias_id IS NULL AND contact_id IS NULL) FROM messages";
    assert_eq!(client.query_one(links, &[]).await.unwrap().get::<_, i64>(0), 1, "links cleared");
    assert_eq!(milter.metric("smtpy_milter_log_up").await.unwrap(), 1);
    let tx = stack.send(SENDER, &[&kept], &fixture::message(&kept, "after")).await.unwrap();
    assert!(tx.accepted(), "mail after the race: {tx:?}\n{}", stack.logs());
    stack.db.wait_for_messages(2, DELIVERY_TIMEOUT).await.unwrap();

    // The owner goes while a row of theirs waits: the row goes with them.
    assert!(stack.send(SENDER, &[&kept], &fixture::message(&kept, "orphan")).await.unwrap().accepted());
    client.execute("DELETE FROM users WHERE email = $1", &[&OWNER]).await.unwrap();
    let written = milter.metric("smtpy_milter_log_rows_written_total").await.unwrap();
    poll_until("the orphan row to leave the queue", DELIVERY_TIMEOUT, || async {
        Ok((milter.metric("smtpy_milter_log_rows_pending").await? == 0).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", stack.logs()));
    assert_eq!(milter.metric("smtpy_milter_log_up").await.unwrap(), 1, "{}", stack.logs());
    assert_eq!(
        milter.metric("smtpy_milter_log_rows_written_total").await.unwrap(),
        written,
        "the orphan row is not written"
    );
    assert_eq!(client.query_one("SELECT count(*) FROM messages", &[]).await.unwrap().get::<_, i64>(0), 0);
}

/// The writer binds each column of a batch as one array; every value comes back exactly as
/// queued, whatever its text holds (quotes, backslashes, braces, commas, NULL elements).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_log_rows_are_stored_exactly_as_queued() {
    let dir = TempDir::new("message-log-columns").unwrap();
    let db = TestDb::create().await.unwrap();
    let secrets = Secrets::create_in(dir.path()).unwrap();
    fixture::seed(&Admin::new(db.url()).unwrap().with_env(secrets.env())).await.unwrap();
    let client = db.client().await.unwrap();
    let owner = client.query_one("SELECT id::text FROM users WHERE email = $1", &[&OWNER]).await.unwrap();
    let owner: Uuid = owner.get::<_, String>(0).parse().unwrap();

    let config = DatabaseConfig { url: db.url().to_owned(), ..DatabaseConfig::default() };
    let log = MessageLog::spawn(Db::relaxed_commit_from_config(&config).unwrap(), Duration::from_millis(20), 100);
    let odd = r#"a"b\c{d},e f@x.test"#;
    let full = NewMessage {
        id: Uuid::now_v7(),
        owner_id: owner,
        alias_id: None,
        recipient: "Ré@x.test".to_owned(),
        envelope_sender: String::new(),
        forwarded_to: vec![Some(odd.to_owned()), None, Some(String::new()), Some("NULL".to_owned())],
        size_bytes: i64::MAX,
        status: "forwarded".to_owned(),
        queue_id: Some("4Q1".to_owned()),
        mode: Some("privacy".to_owned()),
        subject: Some("=?utf-8?q?caf=C3=A9?= \"quoted\" \\".to_owned()),
        auth_spf: Some("pass".to_owned()),
        auth_dkim: Some("none".to_owned()),
        auth_dmarc: Some("fail".to_owned()),
        auth_arc: Some("none".to_owned()),
        contact_id: None,
        reverse_alias: Some("ra+x@x.test".to_owned()),
    };
    let bare = NewMessage {
        id: Uuid::now_v7(),
        forwarded_to: Vec::new(),
        size_bytes: 0,
        queue_id: None,
        mode: None,
        subject: None,
        auth_spf: None,
        auth_dkim: None,
        auth_dmarc: None,
        auth_arc: None,
        reverse_alias: None,
        ..full.clone()
    };
    // Two batches of different sizes share one prepared statement.
    log.record(vec![bare.clone()]).unwrap();
    log.flush().await.unwrap();
    log.record(vec![full.clone(), NewMessage { id: Uuid::now_v7(), ..bare.clone() }]).unwrap();
    log.flush().await.unwrap();
    assert_eq!(log.written(), 3);

    let stored = "SELECT recipient, envelope_sender, forwarded_to, size_bytes, status, queue_id, mode, subject, \
                  auth_spf, auth_dkim, auth_dmarc, auth_arc, reverse_alias FROM messages WHERE id = $1::text::uuid";
    type Row = (String, String, Vec<Option<String>>, i64, String, Option<String>, Option<String>, Option<String>);
    for row in [&full, &bare] {
        let got = client.query_one(stored, &[&row.id.to_string()]).await.unwrap();
        let head: Row =
            (got.get(0), got.get(1), got.get(2), got.get(3), got.get(4), got.get(5), got.get(6), got.get(7));
        let want: Row = (
            row.recipient.clone(),
            row.envelope_sender.clone(),
            row.forwarded_to.clone(),
            row.size_bytes,
            row.status.clone(),
            row.queue_id.clone(),
            row.mode.clone(),
            row.subject.clone(),
        );
        assert_eq!(head, want);
        let auth: [Option<String>; 5] = [got.get(8), got.get(9), got.get(10), got.get(11), got.get(12)];
        assert_eq!(
            auth,
            [
                row.auth_spf.clone(),
                row.auth_dkim.clone(),
                row.auth_dmarc.clone(),
                row.auth_arc.clone(),
                row.reverse_alias.clone()
            ]
        );
    }
}

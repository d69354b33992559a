//! The message log follows its parents: deleting an owner deletes its log, deleting an alias
//! or contact keeps the rows and clears the link.

use smtpy_e2e::{
    Stack,
    fixture::{self, DOMAIN, MAILBOX_1, OWNER, SENDER},
    wait::DELIVERY_TIMEOUT,
};

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

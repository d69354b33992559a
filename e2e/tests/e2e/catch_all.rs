//! Done means: a catch-all forwards an address that has no alias of its own, and an explicit
//! alias beats the catch-all.

use crate::support::{assert_forwarded_copy, bare, copies_of, recipients};
use smtpy_e2e::{
    Stack,
    fixture::{self, DOMAIN, MAILBOX_1, MAILBOX_2, SENDER},
    wait::DELIVERY_TIMEOUT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_all_forwards_unaliased_address_and_explicit_alias_wins() {
    let stack = Stack::start("catchall").await.unwrap();
    let catch_all = format!("*@{DOMAIN}");
    let explicit = format!("explicit@{DOMAIN}");
    stack.admin.add_alias(&catch_all, &[MAILBOX_1]).await.unwrap();
    stack.admin.add_alias(&explicit, &[MAILBOX_2]).await.unwrap();

    let random = format!("whatever-{}@{DOMAIN}", uuid::Uuid::new_v4().simple());
    let to_random = fixture::message(&random, "catch-all");
    let tx = stack.send(SENDER, &[&random], &to_random).await.unwrap();
    assert!(tx.accepted(), "{tx:?}\n{}", stack.logs());
    let to_explicit = fixture::message(&explicit, "explicit");
    let tx = stack.send(SENDER, &[&explicit], &to_explicit).await.unwrap();
    assert!(tx.accepted(), "{tx:?}\n{}", stack.logs());
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();

    let delivered = stack.sink.delivered();
    let via_catch_all = copies_of(&delivered, &to_random);
    assert_eq!(via_catch_all.len(), 1, "{delivered:#?}");
    assert_eq!(via_catch_all[0].rcpt_to, [MAILBOX_1]);
    assert_forwarded_copy(&via_catch_all[0].data, &to_random);
    let via_explicit = copies_of(&delivered, &to_explicit);
    assert_eq!(via_explicit.len(), 1, "{delivered:#?}");
    assert_eq!(via_explicit[0].rcpt_to, [MAILBOX_2], "the catch-all took mail for an explicit alias");
    assert_eq!(recipients(&delivered), [MAILBOX_1, MAILBOX_2]);

    let rows = stack.db.wait_for_messages(2, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let row_for = |address: &str| rows.iter().find(|r| bare(&r.recipient) == address).cloned();
    let random_row = row_for(&random).expect("no row for the catch-all message");
    assert_eq!(random_row.alias.as_deref(), Some(catch_all.as_str()));
    assert_eq!(random_row.status, "forwarded");
    let explicit_row = row_for(&explicit).expect("no row for the explicit alias");
    assert_eq!(explicit_row.alias.as_deref(), Some(explicit.as_str()));
}

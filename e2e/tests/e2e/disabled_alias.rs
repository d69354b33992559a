//! Done means: a disabled alias is refused at RCPT with `550 5.1.1`; after `smtpy-admin alias
//! enable` the next message is forwarded, without restarting the milter.

use crate::support::assert_forwarded_copy;
use smtpy_e2e::{
    Stack,
    db::single_row,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER},
    wait::DELIVERY_TIMEOUT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_alias_rejected_550_5_1_1_then_enable_forwards_next_message() {
    let stack = Stack::start("disabled").await.unwrap();
    let alias = format!("paused@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    stack.admin.run(&["alias", "disable", &alias]).await.unwrap();
    let list = stack.admin.run(&["alias", "list"]).await.unwrap();
    assert!(list.lines().any(|l| l.starts_with(&format!("{alias}\tdisabled\t"))), "alias list:\n{list}");

    let tx = stack.send(SENDER, &[&alias], &fixture::message(&alias, "while disabled")).await.unwrap();
    let disabled = tx.rcpts[0].clone();
    assert!(disabled.starts_with("550 5.1.1"), "RCPT to a disabled alias: {disabled}\n{}", stack.logs());
    let unknown = format!("unknown@{DOMAIN}");
    let tx = stack.send(SENDER, &[&unknown], &fixture::message(&unknown, "unknown")).await.unwrap();
    assert!(tx.rcpts[0].starts_with("550 5.1.1"), "{}", tx.rcpts[0]);
    assert_ne!(tx.rcpts[0].text(), disabled.text(), "a disabled alias should say so, unlike an unknown address");

    // The same milter process: the CLI change reaches it through LISTEN/NOTIFY, which is
    // asynchronous (DESIGN: within a second), so wait until the milter has heard it.
    let milter = stack.milter.as_ref().unwrap();
    let before = milter.metric("smtpy_milter_cache_invalidations_total").await.unwrap();
    stack.admin.run(&["alias", "enable", &alias]).await.unwrap();
    milter.wait_for_invalidation(before).await.unwrap();
    let message = fixture::message(&alias, "after enable");
    let tx = stack.send(SENDER, &[&alias], &message).await.unwrap();
    assert_eq!(tx.rcpts[0].code, 250, "first RCPT after `alias enable`: {}\n{}", tx.rcpts[0], stack.logs());
    assert!(tx.accepted(), "{tx:?}");
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();

    let delivered = stack.sink.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:#?}");
    assert_eq!(delivered[0].rcpt_to, [MAILBOX_1]);
    assert_forwarded_copy(&delivered[0].data, &message);
    let rows = stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(single_row(&rows).unwrap().status, "forwarded");
}

//! Done means: in one transaction with an alias and a foreign (not hosted) recipient, the
//! foreign one is delivered as given and the alias is replaced by its mailbox.

use crate::support::{assert_forwarded_copy, bare, recipients};
use smtpy_e2e::{
    Stack,
    db::single_row,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER},
    wait::DELIVERY_TIMEOUT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_alias_and_foreign_recipient_only_alias_replaced() {
    let stack = Stack::start("mixed").await.unwrap();
    let alias = format!("news@{DOMAIN}");
    let foreign = "friend@elsewhere.test";
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    let message = fixture::message(&alias, "mixed");

    let tx = stack.send(SENDER, &[&alias, foreign], &message).await.unwrap();
    assert!(tx.rcpts.iter().all(|r| r.code == 250), "{tx:?}\n{}", stack.logs());
    assert!(tx.accepted(), "{tx:?}");
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();

    let delivered = stack.sink.delivered();
    assert_eq!(recipients(&delivered), [foreign, MAILBOX_1], "{delivered:#?}");
    for copy in &delivered {
        assert_forwarded_copy(&copy.data, &message);
    }

    let rows = stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    let row = single_row(&rows).unwrap();
    assert_eq!(bare(&row.recipient), alias);
    assert_eq!(row.forwarded_to.iter().map(|m| bare(m)).collect::<Vec<_>>(), [MAILBOX_1]);
}

//! Done means: an unknown address at a hosted domain (or any address at an unverified one)
//! is refused at RCPT with `550 5.1.1`; nothing is delivered and nothing is logged.

use smtpy_e2e::{
    Stack,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER, UNVERIFIED_DOMAIN},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_address_rejected_550_5_1_1_at_rcpt_nothing_delivered() {
    let stack = Stack::start("unknown").await.unwrap();
    stack.admin.add_alias(&format!("known@{DOMAIN}"), &[MAILBOX_1]).await.unwrap();

    for address in [format!("nobody@{DOMAIN}"), format!("anyone@{UNVERIFIED_DOMAIN}")] {
        let tx = stack.send(SENDER, &[&address], &fixture::message(&address, "unknown")).await.unwrap();
        assert!(tx.rcpts[0].starts_with("550 5.1.1"), "RCPT {address}: {}\n{}", tx.rcpts[0], stack.logs());
        assert!(tx.data.is_none(), "DATA was sent although no recipient was accepted");
    }

    // Nothing was accepted, so nothing can be in flight: the checks need no waiting.
    assert_eq!(stack.postfix.queued_messages().unwrap(), 0);
    assert!(stack.sink.delivered().is_empty(), "{:?}", stack.sink.delivered());
    assert!(stack.db.messages().await.unwrap().is_empty());
}

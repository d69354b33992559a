//! Done means: mail to an alias with two targets arrives at both, byte for byte, the alias
//! gone from the envelope, and exactly one message-log row.

use crate::support::{assert_forwarded_copy, bare, recipients};
use smtpy_e2e::{
    MilterMode, Stack, StackOptions,
    db::single_row,
    fixture::{self, DOMAIN, MAILBOX_1, MAILBOX_2, SENDER},
    wait::DELIVERY_TIMEOUT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_to_two_mailboxes_delivers_identical_bytes_and_logs_one_row() {
    forward_to_two_mailboxes(Stack::start("forward").await.unwrap()).await;
}

/// The same over a unix socket, where the milter negotiates differently (DESIGN section 7)
/// and Postfix's smtpd, running as `postfix`, must be allowed to connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_to_two_mailboxes_over_unix_socket() {
    let options = StackOptions { milter: MilterMode::RunningUnix, ..StackOptions::default() };
    forward_to_two_mailboxes(Stack::start_with("forward-unix", options).await.unwrap()).await;
}

async fn forward_to_two_mailboxes(stack: Stack) {
    let alias = format!("shop@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1, MAILBOX_2]).await.unwrap();
    let message = fixture::message(&alias, "two mailboxes");

    let tx = stack.send(SENDER, &[&alias], &message).await.unwrap();
    assert_eq!(tx.rcpts[0].code, 250, "RCPT reply {}\n{}", tx.rcpts[0], stack.logs());
    assert!(tx.accepted(), "{tx:?}\n{}", stack.logs());
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();

    let delivered = stack.sink.delivered();
    assert_eq!(recipients(&delivered), [MAILBOX_1, MAILBOX_2], "{delivered:#?}\n{}", stack.logs());
    for copy in &delivered {
        assert_forwarded_copy(&copy.data, &message);
        assert!(!copy.rcpt_to.contains(&alias), "the alias is still a recipient: {copy:?}");
    }

    let rows = stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    let row = single_row(&rows).unwrap();
    assert_eq!(row.status, "forwarded");
    assert_eq!(bare(&row.recipient), alias);
    assert_eq!(row.alias.as_deref(), Some(alias.as_str()));
    assert_eq!(bare(&row.envelope_sender), SENDER);
    let mut forwarded_to: Vec<&str> = row.forwarded_to.iter().map(|m| bare(m)).collect();
    forwarded_to.sort_unstable();
    assert_eq!(forwarded_to, [MAILBOX_1, MAILBOX_2]);
    // Postfix 3.7 does not show smtpd's own Received: header to smtpd_milters, so what the
    // milter can measure is the message as the sender transmitted it (dot-unstuffed): the
    // delivered bytes minus that Received: header (checked by assert_forwarded_copy).
    assert_eq!(usize::try_from(row.size_bytes).unwrap(), message.len(), "size_bytes vs the bytes sent");
    let queue_id = row.queue_id.as_deref().unwrap_or_default();
    assert!(!queue_id.is_empty(), "queue_id not set: {row:?}");
    assert!(stack.postfix.maillog().contains(&format!(" {queue_id}: ")), "queue id {queue_id} not in the maillog");
}

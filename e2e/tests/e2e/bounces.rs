//! Done means (P2): the delivered envelope sender is our signed bounce address; a DSN sent
//! back to it marks the message `bounced` and is not relayed; a tampered address gets 550.
//! Transparent mode: the envelope sender is SRS, and a bounce to it reaches the original
//! sender.

use crate::support::bare;
use smtpy_e2e::{
    Stack, StackOptions, Transaction,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER},
    wait::DELIVERY_TIMEOUT,
};

/// An RFC 3464 delivery status notification, as a receiving MTA sends it back.
fn dsn(to: &str, failed_recipient: &str) -> Vec<u8> {
    format!(
        "From: MAILER-DAEMON@inbox.test (Mail Delivery System)\r\n\
         To: {to}\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\
         \r\n\
         --b1\r\n\
         Content-Type: text/plain\r\n\
         \r\n\
         Your message could not be delivered.\r\n\
         --b1\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; mx.inbox.test\r\n\
         \r\n\
         Final-Recipient: rfc822; {failed_recipient}\r\n\
         Action: failed\r\n\
         Status: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{failed_recipient}>: mailbox does not\r\n \
         exist\r\n\
         \r\n\
         --b1--\r\n"
    )
    .into_bytes()
}

async fn bounce_columns(stack: &Stack) -> Vec<(String, Option<String>, Option<String>)> {
    let client = stack.db.client().await.unwrap();
    client
        .query("SELECT status, bounce_status, bounce_diagnostic FROM messages", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Sends a DSN for the one forward so far to its `bounce_address`, checks it was accepted and
/// not relayed (the sink still holds only the forward), and returns the log rows.
async fn return_dsn(stack: &Stack, bounce_address: &str) -> Vec<(String, Option<String>, Option<String>)> {
    let tx = Transaction::send(stack.postfix.smtp_addr(), "", &[bounce_address], &dsn(bounce_address, MAILBOX_1))
        .await
        .unwrap();
    assert!(tx.accepted(), "DSN to our bounce address: {tx:?}\n{}", stack.logs());
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(stack.sink.delivered().len(), 1, "the DSN was relayed: {:#?}", stack.sink.delivered());
    bounce_columns(stack).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounce_address_dsn_marks_message_bounced_and_is_not_relayed() {
    let stack = Stack::start("bounce").await.unwrap();
    let alias = format!("shop@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "to bounce")).await.unwrap().accepted());
    let first = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].clone();
    let bounce_address = bare(&first.mail_from).to_owned();
    assert!(
        bounce_address.starts_with("bounce+") && bounce_address.ends_with(&format!("@{DOMAIN}")),
        "envelope sender is not our bounce address: {}",
        first.mail_from
    );
    stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();

    // Tampered: one character of the MAC changed.
    let mut tampered = bounce_address.clone().into_bytes();
    let at = tampered.iter().position(|&b| b == b'@').unwrap();
    tampered[at - 1] = if tampered[at - 1] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    let tx = Transaction::send(stack.postfix.smtp_addr(), "", &[&tampered], &dsn(&tampered, MAILBOX_1)).await.unwrap();
    assert!(tx.rcpts[0].starts_with("550 5.1.1"), "tampered bounce address: {}\n{}", tx.rcpts[0], stack.logs());

    let rows = return_dsn(&stack, &bounce_address).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "bounced");
    assert_eq!(rows[0].1.as_deref(), Some("5.1.1"));
    assert!(rows[0].2.as_deref().unwrap_or_default().contains("mailbox does not exist"), "{rows:?}");
    let client = stack.db.client().await.unwrap();
    let notes = client.query("SELECT kind, body FROM notifications", &[]).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].get::<_, String>(0), "bounce");
}

/// A destination that refuses at once can bounce before the forward's message-log row is
/// written (rows are written behind the mail path): the DSN must still find its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsn_arriving_before_its_log_row_is_written_still_marks_it_bounced() {
    // Rows would wait a minute to be written; the DSN comes back long before that.
    let options = StackOptions { milter_env: vec![("SMTPY_MILTER_LOG_FLUSH_MS", "60000")], ..StackOptions::default() };
    let stack = Stack::start_with("bounce-early", options).await.unwrap();
    let alias = format!("early@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "bounces at once")).await.unwrap().accepted());
    let bounce_address = bare(&stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].mail_from).to_owned();
    assert!(bounce_columns(&stack).await.is_empty(), "the row was written already: this test needs it queued");

    let rows = return_dsn(&stack, &bounce_address).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_deref()), ("bounced", Some("5.1.1")), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_mode_uses_srs_and_its_bounce_reaches_the_original_sender() {
    let stack = Stack::start("srs").await.unwrap();
    let alias = format!("classic@{DOMAIN}");
    stack.admin.run(&["alias", "add", &alias, "--to", MAILBOX_1, "--mode", "transparent"]).await.unwrap();
    let message = fixture::message(&alias, "transparent");
    assert!(stack.send(SENDER, &[&alias], &message).await.unwrap().accepted(), "{}", stack.logs());
    let first = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].clone();
    let srs = bare(&first.mail_from).to_owned();
    assert!(srs.starts_with("SRS0=") && srs.ends_with(&format!("@{DOMAIN}")), "envelope sender: {srs}");
    // Headers untouched: the original From is still there.
    assert!(String::from_utf8_lossy(&first.data).contains(&format!("From: Sender <{SENDER}>")));

    let tx = Transaction::send(stack.postfix.smtp_addr(), "", &[&srs], &dsn(&srs, MAILBOX_1)).await.unwrap();
    assert!(tx.accepted(), "bounce to our SRS address: {tx:?}\n{}", stack.logs());
    let delivered = stack.sink.wait_for(2, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(delivered[1].rcpt_to, [SENDER], "{:#?}", delivered[1]);
    assert_eq!(bare(&delivered[1].mail_from), "");
}

//! Done means (P2): in privacy mode the forward's From is the contact's reverse alias; a
//! reply from the owner's mailbox to it reaches the original sender from the alias, with no
//! header naming the owner's mailbox; the same reply from anyone else is refused 550 5.7.1;
//! a blocked contact's mail is refused.

use crate::support::{bare, header_values};
use smtpy_e2e::{
    Stack, StackOptions, Transaction,
    dns::Zone,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER},
    verify::verify_with_dkimpy,
    wait::DELIVERY_TIMEOUT,
};

/// The first value of header `name` in `message`, unfolded.
fn header(message: &[u8], name: &str) -> Option<String> {
    header_values(message, name).into_iter().next()
}

/// The reverse alias in a rewritten From: `"..." <ra+...@alias.test>`.
fn reverse_alias_of(from: &str) -> String {
    from.rsplit_once('<').and_then(|(_, r)| r.strip_suffix('>')).unwrap().to_owned()
}

/// A reply as the owner's mail program writes it, naming the owner's mailbox everywhere.
fn owner_reply(to: &str) -> Vec<u8> {
    format!(
        "From: Owner Person <{MAILBOX_1}>\r\n\
         Sender: {MAILBOX_1}\r\n\
         Reply-To: Owner Person <{MAILBOX_1}>\r\n\
         Disposition-Notification-To: {MAILBOX_1}\r\n\
         To: {to}\r\n\
         Subject: Re: hello\r\n\
         Date: Thu, 26 Nov 2026 12:30:00 +0000\r\n\
         Message-ID: <reply-1@inbox.test>\r\n\
         \r\n\
         Thanks, answering through the alias.\r\n"
    )
    .into_bytes()
}

/// The mailbox domain vouches for the owner's reply by SPF (it has no DMARC record).
fn zone() -> Zone {
    Zone::new().spf("inbox.test", "v=spf1 ip4:127.0.0.1 -all")
}

async fn forward_and_get_reverse_alias(stack: &Stack, alias: &str) -> String {
    stack.admin.add_alias(alias, &[MAILBOX_1]).await.unwrap();
    let tx = stack.send(SENDER, &[alias], &fixture::message(alias, "hello")).await.unwrap();
    assert!(tx.accepted(), "{tx:?}\n{}", stack.logs());
    let data = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].data.clone();
    let from = header(&data, "From").unwrap();
    assert!(from.starts_with("\"Sender - sender at remote.test\" <ra+"), "From not rewritten: {from}");
    assert!(!from.contains(SENDER), "the sender's address is still the reply target: {from}");
    let reverse = reverse_alias_of(&from);
    assert!(reverse.ends_with(&format!("@{DOMAIN}")), "{reverse}");
    reverse
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_reply_through_reverse_alias_reaches_sender_from_alias_without_mailbox_address() {
    let stack =
        Stack::start_with("privacy-reply", StackOptions { zone: zone(), dkim: Some(false), ..StackOptions::default() })
            .await
            .unwrap();
    let alias = format!("shop@{DOMAIN}");
    let reverse = forward_and_get_reverse_alias(&stack, &alias).await;

    let tx =
        Transaction::send(stack.postfix.smtp_addr(), MAILBOX_1, &[&reverse], &owner_reply(&reverse)).await.unwrap();
    assert!(tx.accepted(), "owner's reply: {tx:?}\n{}", stack.logs());
    let delivered = stack.sink.wait_for(2, DELIVERY_TIMEOUT).await.unwrap();
    let reply = &delivered[1];
    assert_eq!(reply.rcpt_to, [SENDER], "{reply:#?}");
    assert_eq!(bare(&reply.mail_from), alias, "envelope sender");
    assert_eq!(header(&reply.data, "From").as_deref(), Some(alias.as_str()));
    let text = String::from_utf8_lossy(&reply.data).to_ascii_lowercase();
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    assert!(!head.contains(MAILBOX_1), "a header still names the owner's mailbox:\n{head}");
    assert!(String::from_utf8_lossy(&reply.data).contains("Thanks, answering through the alias."));
    let report = verify_with_dkimpy(&reply.data, stack.dns.addr()).unwrap();
    assert!(report.dkim_pass_for(DOMAIN), "reply not signed by the alias domain: {report:#?}");

    let client = stack.db.client().await.unwrap();
    let rows = client.query("SELECT status, recipient FROM messages WHERE mode = 'reply'", &[]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "replied");
    assert_eq!(rows[0].get::<_, String>(1), SENDER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_to_reverse_alias_from_anyone_else_rejected_550_5_7_1() {
    let stack =
        Stack::start_with("privacy-stranger", StackOptions { zone: zone(), ..StackOptions::default() }).await.unwrap();
    let reverse = forward_and_get_reverse_alias(&stack, &format!("shop@{DOMAIN}")).await;
    for stranger in ["stranger@evil.test", SENDER] {
        let tx =
            Transaction::send(stack.postfix.smtp_addr(), stranger, &[&reverse], &owner_reply(&reverse)).await.unwrap();
        assert!(tx.rcpts[0].starts_with("550 5.7.1"), "{stranger}: {}\n{}", tx.rcpts[0], stack.logs());
    }
    let tx =
        Transaction::send(stack.postfix.smtp_addr(), MAILBOX_1, &[&format!("ra+nosuchcontact@{DOMAIN}")], b"x\r\n")
            .await
            .unwrap();
    assert!(tx.rcpts[0].starts_with("550 5.1.1"), "{}", tx.rcpts[0]);
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(stack.sink.delivered().len(), 1, "only the first forward may be delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_contact_rejected_550_5_7_1() {
    let stack = Stack::start("privacy-blocked").await.unwrap();
    let alias = format!("shop@{DOMAIN}");
    forward_and_get_reverse_alias(&stack, &alias).await;
    let client = stack.db.client().await.unwrap();
    assert_eq!(client.execute("UPDATE contacts SET blocked = true", &[]).await.unwrap(), 1);
    let tx = stack.send(SENDER, &[&alias], &fixture::message(&alias, "again")).await.unwrap();
    let end = tx.end_of_data.clone().unwrap();
    assert!(end.starts_with("550 5.7.1"), "blocked contact: {end}\n{}", stack.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owner_reply_not_authenticated_by_mailbox_domain_rejected_550_5_7_1() {
    // The envelope names the owner's mailbox, but its domain's SPF names another host and
    // nothing is signed: anyone could have forged that envelope.
    let zone = Zone::new().spf("inbox.test", "v=spf1 ip4:192.0.2.1 -all");
    let stack = Stack::start_with("privacy-unauth", StackOptions { zone, ..StackOptions::default() }).await.unwrap();
    let reverse = forward_and_get_reverse_alias(&stack, &format!("shop@{DOMAIN}")).await;
    let tx =
        Transaction::send(stack.postfix.smtp_addr(), MAILBOX_1, &[&reverse], &owner_reply(&reverse)).await.unwrap();
    assert_eq!(tx.rcpts[0].code, 250, "RCPT passes: the sender is the owner's mailbox");
    let end = tx.end_of_data.clone().unwrap();
    assert!(end.starts_with("550 5.7.1"), "unauthenticated reply: {end}\n{}", stack.logs());
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(stack.sink.delivered().len(), 1, "the reply went out");
}

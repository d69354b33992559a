//! Done means (P2): a forward carries a DKIM signature of the alias domain and an ARC set,
//! both verified by a second implementation (dkimpy) against the test DNS server; a message
//! failing DMARC for a `p=reject` domain is refused, one that passes gets an accurate
//! `Authentication-Results`; a forged `Authentication-Results` with our id is removed.

use crate::support::header_values;
use smtpy_e2e::{
    SmtpClient, Stack, StackOptions,
    dkim_key::DkimKey,
    dns::Zone,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER},
    verify::{sign_with_dkimpy, verify_with_dkimpy},
    wait::{DELIVERY_TIMEOUT, poll_until},
};

const SENDER_DOMAIN: &str = "remote.test";

/// This host's name: the milter's default authserv-id.
fn authserv_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_owned()
}

/// A sender domain that publishes SPF for 127.0.0.1, a DKIM key and `p=reject`.
fn sender_zone(key: &DkimKey) -> Zone {
    Zone::new().spf(SENDER_DOMAIN, "v=spf1 ip4:127.0.0.1 -all").dmarc(SENDER_DOMAIN, "v=DMARC1; p=reject").dkim(
        "mail",
        SENDER_DOMAIN,
        &key.dns_record(),
    )
}

/// A stack whose fixture domain has our DKIM key, and the alias `local@` that domain,
/// forwarding to [`MAILBOX_1`].
async fn signing_stack(label: &str, local: &str) -> (Stack, String) {
    let options = StackOptions { dkim: Some(false), ..StackOptions::default() };
    let stack = Stack::start_with(label, options).await.unwrap();
    let alias = format!("{local}@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    (stack, alias)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_message_dkim_and_arc_verify_with_dkimpy() {
    let sender_key = DkimKey::generate_rsa_2048().unwrap();
    let options = StackOptions { zone: sender_zone(&sender_key), dkim: Some(false), ..StackOptions::default() };
    let stack = Stack::start_with("signing", options).await.unwrap();
    let alias = format!("signed@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    let message =
        sign_with_dkimpy(&fixture::message(&alias, "signed forward"), "mail", SENDER_DOMAIN, &sender_key).unwrap();

    let tx = stack.send(SENDER, &[&alias], &message).await.unwrap();
    assert!(tx.accepted(), "{tx:?}\n{}", stack.logs());
    let delivered = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap();
    let data = &delivered[0].data;

    let report = verify_with_dkimpy(data, stack.dns.addr()).unwrap();
    assert!(
        report.dkim_pass_for(DOMAIN),
        "our DKIM signature does not verify: {report:#?}\n{}",
        String::from_utf8_lossy(data)
    );
    // Privacy mode rewrites From, which the sender signed: its signature cannot survive, and
    // the ARC set is what vouches for it downstream.
    assert!(!report.dkim_pass_for(SENDER_DOMAIN), "From was not rewritten? {report:#?}");
    assert!(report.arc_pass(), "ARC does not verify: {report:#?}\n{}", String::from_utf8_lossy(data));

    let results = header_values(data, "Authentication-Results");
    let ours: Vec<&String> = results.iter().filter(|v| v.starts_with(&authserv_id())).collect();
    assert_eq!(ours.len(), 1, "{results:#?}");
    for expected in ["dkim=pass", "header.i=@remote.test", "spf=pass", "smtp.mailfrom=sender@remote.test", "dmarc=pass"]
    {
        assert!(ours[0].contains(expected), "missing {expected:?} in {}", ours[0]);
    }
    assert_eq!(header_values(data, "ARC-Seal").len(), 1);
    assert!(header_values(data, "ARC-Seal")[0].contains("cv=none"));
    assert!(header_values(data, "ARC-Authentication-Results")[0].contains("dmarc=pass"));

    // The milter's timers saw one end of message and one signing (its `/metrics`).
    let milter = stack.milter.as_ref().unwrap();
    assert_eq!(milter.metric("smtpy_milter_eom_seconds_count").await.unwrap(), 1);
    assert_eq!(milter.metric("smtpy_milter_sign_seconds_count").await.unwrap(), 1);
}

/// A message that ends while another is in progress has its DKIM signatures made in line
/// (not handed to a blocking thread, which only costs under load); the one that ends alone has
/// them made beside its checks. Both verify with dkimpy, and the in-progress count returns to
/// zero after messages that end, are reset, or lose their connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_signed_in_line_while_others_are_in_progress_verify_with_dkimpy() {
    let (stack, alias) = signing_stack("signing-in-line", "busy").await;
    let milter = stack.milter.as_ref().unwrap();
    let in_progress = || milter.metric("smtpy_milter_messages_in_progress");

    // A: accepted recipient, then held before DATA, so B ends while A is in progress.
    let (mut held, _) = SmtpClient::connect(stack.postfix.smtp_addr()).await.unwrap();
    held.ehlo("held.e2e.test").await.unwrap();
    assert_eq!(held.mail_from(SENDER).await.unwrap().code, 250);
    assert_eq!(held.rcpt_to(&alias).await.unwrap().code, 250);
    assert_eq!(in_progress().await.unwrap(), 1);
    let tx = stack.send(SENDER, &[&alias], &fixture::message(&alias, "ends while another waits")).await.unwrap();
    assert!(tx.accepted(), "{tx:?}\n{}", stack.logs());
    assert_eq!(milter.metric("smtpy_milter_dkim_signed_total{thread=\"in_line\"}").await.unwrap(), 1);
    assert_eq!(milter.metric("smtpy_milter_dkim_signed_total{thread=\"beside\"}").await.unwrap(), 0);
    assert_eq!(held.data().await.unwrap().code, 354);
    let reply = held.send_data(&fixture::message(&alias, "ends alone")).await.unwrap();
    assert_eq!(reply.code, 250, "{reply}\n{}", stack.logs());
    held.quit().await.unwrap();
    assert_eq!(milter.metric("smtpy_milter_dkim_signed_total{thread=\"beside\"}").await.unwrap(), 1);

    let delivered = stack.sink.wait_for(2, DELIVERY_TIMEOUT).await.unwrap();
    for d in &delivered {
        let report = verify_with_dkimpy(&d.data, stack.dns.addr()).unwrap();
        let text = String::from_utf8_lossy(&d.data);
        assert!(report.dkim_pass_for(DOMAIN), "DKIM: {report:#?}\n{text}");
        assert!(report.arc_pass(), "ARC: {report:#?}\n{text}");
    }

    // A message reset after RCPT, and one whose client leaves after RCPT, end too. (Postfix
    // does not wait for replies to ABORT and MAIL, and sends them with the next step that
    // needs one: here a RCPT the milter refuses.)
    let (mut reset, _) = SmtpClient::connect(stack.postfix.smtp_addr()).await.unwrap();
    reset.ehlo("reset.e2e.test").await.unwrap();
    assert_eq!(reset.mail_from(SENDER).await.unwrap().code, 250);
    assert_eq!(reset.rcpt_to(&alias).await.unwrap().code, 250);
    let (mut gone, _) = SmtpClient::connect(stack.postfix.smtp_addr()).await.unwrap();
    gone.ehlo("gone.e2e.test").await.unwrap();
    assert_eq!(gone.mail_from(SENDER).await.unwrap().code, 250);
    assert_eq!(gone.rcpt_to(&alias).await.unwrap().code, 250);
    assert_eq!(in_progress().await.unwrap(), 2);
    assert_eq!(reset.command("RSET").await.unwrap().code, 250);
    assert_eq!(reset.mail_from(SENDER).await.unwrap().code, 250);
    assert_eq!(reset.rcpt_to(&format!("nobody@{DOMAIN}")).await.unwrap().code, 550);
    let count_reaches =
        |n: u64| {
            poll_until("messages to end", DELIVERY_TIMEOUT, move || async move {
                Ok((in_progress().await? == n).then_some(()))
            })
        };
    count_reaches(1).await.unwrap_or_else(|e| panic!("after RSET: {e}\n{}", stack.logs()));
    drop(gone);
    count_reaches(0).await.unwrap_or_else(|e| panic!("after the client left: {e}\n{}", stack.logs()));
    reset.quit().await.unwrap();
}

/// Any alias edit is a routing change, and opening an RSA key (with its check) costs ~30 ms of
/// the milter's only runtime thread: after a change the domain's key rows are read again, and
/// the key is opened again only when they changed. A new key is still used at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_changes_reuse_unchanged_dkim_keys_and_a_new_key_signs_at_once() {
    let (stack, alias) = signing_stack("signing-key-reuse", "keys").await;
    let milter = stack.milter.as_ref().unwrap();
    let loads = || milter.metric("smtpy_milter_dkim_key_loads_total");
    let selector_of = |data: &[u8]| {
        let dkim = header_values(data, "DKIM-Signature");
        assert_eq!(dkim.len(), 1, "{dkim:#?}");
        dkim[0].split(';').map(str::trim).find_map(|t| t.strip_prefix("s=")).unwrap_or_default().to_owned()
    };

    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "first")).await.unwrap().accepted());
    let delivered = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(loads().await.unwrap(), 1);
    assert_eq!(selector_of(&delivered[0].data), smtpy_e2e::stack::DKIM_SELECTOR);

    // A routing change that leaves the keys alone: the next forward reuses the opened key.
    let before = milter.metric("smtpy_milter_cache_invalidations_total").await.unwrap();
    stack.admin.add_alias(&format!("other@{DOMAIN}"), &[MAILBOX_1]).await.unwrap();
    milter.wait_for_invalidation(before).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "second")).await.unwrap().accepted());
    let delivered = stack.sink.wait_for(2, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(loads().await.unwrap(), 1, "an unchanged key was opened again");
    let report = verify_with_dkimpy(&delivered[1].data, stack.dns.addr()).unwrap();
    assert!(report.dkim_pass_for(DOMAIN), "{report:#?}\n{}", String::from_utf8_lossy(&delivered[1].data));

    // A new key: the next forward is signed with it.
    let before = milter.metric("smtpy_milter_cache_invalidations_total").await.unwrap();
    stack.admin.run(&["domain", "dkim", "generate", DOMAIN, "--selector", "rotated"]).await.unwrap();
    milter.wait_for_invalidation(before).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "third")).await.unwrap().accepted());
    let delivered = stack.sink.wait_for(3, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(loads().await.unwrap(), 2);
    assert_eq!(selector_of(&delivered[2].data), "rotated");
}

/// A 40 KB body full of what relaxed canonicalization rewrites (runs of spaces and tabs,
/// trailing white space, empty lines at the end), long enough to cross the body hasher's 4 KB
/// blocks many times: dkimpy must pass our DKIM signature and ARC set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_forward_with_whitespace_runs_verifies_with_dkimpy() {
    let (stack, alias) = signing_stack("signing-large", "large").await;
    let mut message = fixture::message(&alias, "large");
    for i in 0..900 {
        message.extend_from_slice(format!("line {i}:  two  spaces,\ta\t\ttab, trailing  \t \r\n").as_bytes());
        if i % 50 == 0 {
            message.extend_from_slice(b"\r\n  \r\n");
        }
    }
    message.extend_from_slice(b"\r\n\r\n\r\n");
    assert!(message.len() > 40_000, "{}", message.len());

    assert!(stack.send(SENDER, &[&alias], &message).await.unwrap().accepted(), "{}", stack.logs());
    let delivered = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap();
    let data = &delivered[0].data;
    let report = verify_with_dkimpy(data, stack.dns.addr()).unwrap();
    assert!(report.dkim_pass_for(DOMAIN), "DKIM: {report:#?}");
    assert!(report.arc_pass(), "ARC: {report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transparent_forward_keeps_the_sender_signature_and_adds_ours() {
    let sender_key = DkimKey::generate_rsa_2048().unwrap();
    let options = StackOptions { zone: sender_zone(&sender_key), dkim: Some(false), ..StackOptions::default() };
    let stack = Stack::start_with("signing-transparent", options).await.unwrap();
    let alias = format!("classic@{DOMAIN}");
    stack.admin.run(&["alias", "add", &alias, "--to", MAILBOX_1, "--mode", "transparent"]).await.unwrap();
    let message =
        sign_with_dkimpy(&fixture::message(&alias, "transparent"), "mail", SENDER_DOMAIN, &sender_key).unwrap();
    assert!(stack.send(SENDER, &[&alias], &message).await.unwrap().accepted(), "{}", stack.logs());
    let data = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].data.clone();
    let report = verify_with_dkimpy(&data, stack.dns.addr()).unwrap();
    assert!(report.dkim_pass_for(SENDER_DOMAIN), "the sender's signature broke in transit: {report:#?}");
    assert!(report.dkim_pass_for(DOMAIN), "{report:#?}");
    assert!(report.arc_pass(), "{report:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ed25519_second_signature_verifies_with_dkimpy() {
    let options = StackOptions { dkim: Some(true), ..StackOptions::default() };
    let stack = Stack::start_with("signing-ed25519", options).await.unwrap();
    let alias = format!("both@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "two keys")).await.unwrap().accepted());
    let data = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].data.clone();
    let report = verify_with_dkimpy(&data, stack.dns.addr()).unwrap();
    for algorithm in ["rsa-sha256", "ed25519-sha256"] {
        assert!(
            report.dkim.iter().any(|d| d.result && d.d.as_deref() == Some(DOMAIN) && d.a.as_deref() == Some(algorithm)),
            "no passing {algorithm} signature of {DOMAIN}: {report:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_quarantine_failure_forwarded_and_marked() {
    let zone =
        Zone::new().spf(SENDER_DOMAIN, "v=spf1 ip4:192.0.2.1 -all").dmarc(SENDER_DOMAIN, "v=DMARC1; p=quarantine");
    let stack = Stack::start_with("dmarc-quarantine", StackOptions { zone, ..StackOptions::default() }).await.unwrap();
    let alias = format!("lenient@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    assert!(stack.send(SENDER, &[&alias], &fixture::message(&alias, "dubious")).await.unwrap().accepted());
    let data = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].data.clone();
    let mark = header_values(&data, "X-SMTPy-Quarantine");
    assert_eq!(mark.len(), 1, "not marked:\n{}", String::from_utf8_lossy(&data));
    assert!(mark[0].contains("remote.test"), "{mark:?}");
    let ours: Vec<String> =
        header_values(&data, "Authentication-Results").into_iter().filter(|v| v.starts_with(&authserv_id())).collect();
    assert!(ours[0].contains("dmarc=fail") && ours[0].contains("spf=fail"), "{ours:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmarc_reject_failure_refused_550_5_7_1() {
    // SPF names another host and nothing is signed: DMARC fails, and the domain says reject.
    let zone = Zone::new().spf(SENDER_DOMAIN, "v=spf1 ip4:192.0.2.1 -all").dmarc(SENDER_DOMAIN, "v=DMARC1; p=reject");
    let stack = Stack::start_with("dmarc-reject", StackOptions { zone, dkim: Some(false), ..StackOptions::default() })
        .await
        .unwrap();
    let alias = format!("strict@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();

    let tx = stack.send(SENDER, &[&alias], &fixture::message(&alias, "spoofed")).await.unwrap();
    let end = tx.end_of_data.clone().unwrap();
    assert!(end.starts_with("550 5.7.1"), "end of data: {end}\n{}", stack.logs());
    assert!(end.text().contains("DMARC"), "{end}");
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();
    assert!(stack.sink.delivered().is_empty(), "a refused message was delivered");
    let rows = stack.db.wait_for_messages(1, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(rows[0].status, "rejected", "{rows:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_authentication_results_with_our_id_removed() {
    let stack = Stack::start_with("forged-ar", StackOptions::default()).await.unwrap();
    let alias = format!("forged@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    let forged = format!("Authentication-Results: {}; dkim=pass header.d=bank.test\r\n", authserv_id());
    let foreign = "Authentication-Results: mx.elsewhere.test; spf=fail\r\n";
    let mut message = format!("{forged}{foreign}").into_bytes();
    message.extend_from_slice(&fixture::message(&alias, "forged results"));

    assert!(stack.send(SENDER, &[&alias], &message).await.unwrap().accepted(), "{}", stack.logs());
    let data = stack.sink.wait_for(1, DELIVERY_TIMEOUT).await.unwrap()[0].data.clone();
    let results = header_values(&data, "Authentication-Results");
    assert!(!results.iter().any(|v| v.contains("bank.test")), "forged header kept: {results:#?}");
    assert!(
        results.iter().any(|v| v.starts_with("mx.elsewhere.test")),
        "another host's header must stay: {results:#?}"
    );
    assert_eq!(results.iter().filter(|v| v.starts_with(&authserv_id())).count(), 1, "{results:#?}");
}

//! Done means: with Postgres down, RCPT to an alias gets `451 4.3.0` and a message in flight
//! is tempfailed; once Postgres is back, the retried messages are delivered exactly once and
//! logged once each.
//!
//! The database is a private cluster so it can be stopped. relay_domains is a static list here
//! so that every `451` comes from the milter, not from Postfix's own pgsql lookup.

use crate::support::{assert_forwarded_copy, copies_of};
use smtpy_e2e::{
    PgCluster, PostfixInstance, RelayDomains, Reply, SmtpClient, Stack, StackOptions, TempDir, Transaction,
    fixture::{self, DOMAIN, MAILBOX_1, SENDER, UNVERIFIED_DOMAIN},
    wait::{DELIVERY_TIMEOUT, poll_until},
};
use std::{net::SocketAddr, time::Duration};

/// EHLO, MAIL, RCPT, QUIT: the RCPT reply, with no message sent.
async fn probe_rcpt(addr: SocketAddr, recipient: &str) -> Reply {
    let (mut client, _) = SmtpClient::connect(addr).await.unwrap();
    client.ehlo("probe.e2e.test").await.unwrap();
    assert_eq!(client.mail_from(SENDER).await.unwrap().code, 250);
    let reply = client.rcpt_to(recipient).await.unwrap();
    client.quit().await.unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_tempfails_451_4_3_0_and_retry_delivers_exactly_once() {
    let cluster_dir = TempDir::new("outage-pg").unwrap();
    let mut cluster = PgCluster::start_new(cluster_dir.path()).await.unwrap();
    let options = StackOptions {
        pg_admin_url: Some(cluster.admin_url()),
        static_relay_domains: Some(vec![DOMAIN.to_owned(), UNVERIFIED_DOMAIN.to_owned()]),
        ..StackOptions::default()
    };
    let stack = Stack::start_with("outage", options).await.unwrap();
    let mx = stack.postfix.smtp_addr();
    let alias = format!("steady@{DOMAIN}");
    stack.admin.add_alias(&alias, &[MAILBOX_1]).await.unwrap();
    // A sending MTA in front: it queues what the MX tempfails and retries on its own.
    let front = PostfixInstance::start(&stack.dir.path().join("front"), mx.port(), None, &RelayDomains::Static(vec![]))
        .await
        .unwrap();

    // Before the outage: delivered, and the alias is now in the milter's cache.
    let before = fixture::message(&alias, "before the outage");
    assert!(stack.send(SENDER, &[&alias], &before).await.unwrap().accepted(), "{}", stack.logs());

    // A transaction that passed RCPT while the database was up...
    let in_flight = fixture::message(&alias, "in flight during the outage");
    let (mut session, _) = SmtpClient::connect(mx).await.unwrap();
    session.ehlo("client.e2e.test").await.unwrap();
    assert_eq!(session.mail_from(SENDER).await.unwrap().code, 250);
    assert_eq!(session.rcpt_to(&alias).await.unwrap().code, 250, "{}", stack.logs());

    cluster.stop().await.unwrap();

    // ...ends while it is down: the milter cannot log it, so it must not let it through.
    assert_eq!(session.data().await.unwrap().code, 354);
    let end_of_data = session.send_data(&in_flight).await.unwrap();
    session.quit().await.unwrap();
    assert!(
        end_of_data.code / 100 == 4 || end_of_data.code == 250,
        "end of data during the outage: {end_of_data}\n{}",
        stack.logs()
    );

    // New RCPTs: the cache went with the LISTEN connection, so the answer is 451 4.3.0.
    let rcpt = poll_until("the milter to notice the outage", Duration::from_secs(10), || async {
        let reply = probe_rcpt(mx, &alias).await;
        Ok((!reply.is_positive()).then_some(reply))
    })
    .await
    .unwrap();
    assert!(rcpt.starts_with("451 4.3.0"), "RCPT during the outage: {rcpt}\n{}", stack.logs());

    // A message relayed by the front MTA is deferred there, with the milter's 451.
    let relayed = fixture::message(&alias, "relayed through the outage");
    let tx = Transaction::send(front.smtp_addr(), SENDER, &[&alias], &relayed).await.unwrap();
    assert!(tx.accepted(), "front MTA: {tx:?}");
    poll_until("the front MTA to defer", DELIVERY_TIMEOUT, || async {
        Ok(front.maillog().lines().any(|l| l.contains("status=deferred") && l.contains("451 4.3.0")).then_some(()))
    })
    .await
    .unwrap_or_else(|err| panic!("{err:#}\n--- front maillog ---\n{}\n{}", front.maillog(), stack.logs()));

    cluster.start().await.unwrap();

    // The sender of the tempfailed message retries it; the front MTA retries on its own.
    if end_of_data.code / 100 == 4 {
        let retry = poll_until("the retried message to be accepted", DELIVERY_TIMEOUT, || async {
            let tx = stack.send(SENDER, &[&alias], &in_flight).await?;
            Ok(tx.accepted().then_some(tx))
        })
        .await
        .unwrap();
        assert_eq!(retry.rcpts[0].code, 250);
    }
    front.flush_until_queue_empty(DELIVERY_TIMEOUT).await.unwrap();
    stack.postfix.wait_queue_empty(DELIVERY_TIMEOUT).await.unwrap();

    let delivered = stack.sink.delivered();
    for message in [&before, &in_flight, &relayed] {
        let copies = copies_of(&delivered, message);
        assert_eq!(copies.len(), 1, "copies of one message: {delivered:#?}\n{}", stack.logs());
        assert_eq!(copies[0].rcpt_to, [MAILBOX_1]);
        assert_forwarded_copy(&copies[0].data, message);
    }
    assert_eq!(delivered.len(), 3, "{delivered:#?}");

    let rows = stack.db.wait_for_messages(3, DELIVERY_TIMEOUT).await.unwrap();
    assert_eq!(rows.len(), 3, "one row per delivered message: {rows:#?}");
    let mut queue_ids: Vec<_> = rows.iter().map(|r| r.queue_id.clone().unwrap_or_default()).collect();
    queue_ids.sort();
    queue_ids.dedup();
    assert_eq!(queue_ids.len(), 3, "{rows:#?}");
    assert!(rows.iter().all(|r| r.status == "forwarded"), "{rows:#?}");
}

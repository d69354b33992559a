//! The production relay_domains lookup (postfix-config/: smtpy-milter's socketmap) lists every
//! hosted domain, verified or not, and nothing else; a domain added with the CLI is listed at
//! once (LISTEN/NOTIFY empties the milter's cache).

use smtpy_e2e::{
    Stack,
    fixture::{DOMAIN, OWNER, UNVERIFIED_DOMAIN},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_domains_map_lists_every_hosted_domain() {
    let stack = Stack::start("relaymap").await.unwrap();
    let postfix = &stack.postfix;
    for domain in [DOMAIN, UNVERIFIED_DOMAIN] {
        assert_eq!(postfix.lookup_relay_domain(domain).await.unwrap().as_deref(), Some(domain));
    }
    assert_eq!(postfix.lookup_relay_domain("elsewhere.test").await.unwrap(), None);
    assert_eq!(postfix.lookup_relay_domain("inbox.test").await.unwrap(), None, "mailbox domains are not hosted");

    stack.admin.run(&["domain", "add", "new.test", "--owner", OWNER]).await.unwrap();
    assert_eq!(postfix.lookup_relay_domain("new.test").await.unwrap().as_deref(), Some("new.test"));
    // Keys are case-folded by Postfix, so a shouting sender still reaches us.
    assert_eq!(postfix.lookup_relay_domain("ALIAS.TEST").await.unwrap().as_deref(), Some(DOMAIN));
}

/// One socketmap request, as Postfix sends it, and the raw reply netstring.
async fn socketmap_request(map: &str, request: &str) -> String {
    socketmap_raw(map, format!("{}:{request},", request.len()).as_bytes()).await
}

/// Bytes as they are, framing errors included.
async fn socketmap_raw(map: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = map.strip_prefix("inet:").unwrap();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut reply = vec![0; 512];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut reply)).await.unwrap().unwrap();
    String::from_utf8_lossy(&reply[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_domains_socketmap_speaks_postfix_netstrings_and_refuses_other_maps() {
    let stack = Stack::start("relaysock").await.unwrap();
    let map = stack.milter.as_ref().unwrap().map_socket();
    assert_eq!(socketmap_request(&map, "relay_domains alias.test").await, "13:OK alias.test,");
    assert_eq!(socketmap_request(&map, "relay_domains elsewhere.test").await, "9:NOTFOUND ,");
    // Parent-domain forms (parent_domain_matches_subdomains) are not hosted by themselves.
    assert_eq!(socketmap_request(&map, "relay_domains .alias.test").await, "9:NOTFOUND ,");
    let other = socketmap_request(&map, "virtual_alias x@y.test").await;
    assert!(other.contains(":PERM no such map: virtual_alias,"), "{other}");
    let broken = socketmap_request(&map, "relay_domains").await;
    assert!(broken.contains(":PERM "), "{broken}");
}

/// Never lose mail: when the database cannot answer, the lookup is `TEMP` and Postfix tells the
/// sender to retry (4xx), never 5xx and never accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_domains_database_down_is_temp_and_postfix_answers_4xx() {
    use smtpy_e2e::{CaptureSink, MilterProcess, PostfixInstance, RelayDomains, TempDir, Transaction, fixture, net};
    let dir = TempDir::new("relaydown").unwrap();
    // Nothing listens there: every database query fails.
    let dead_db = format!("postgres://smtpy:x@127.0.0.1:{}/smtpy", net::free_port().unwrap());
    let milter = MilterProcess::spawn(&dead_db, dir.path()).await.unwrap();
    let map = milter.map_socket();
    let reply = socketmap_request(&map, "relay_domains alias.test").await;
    assert!(reply.contains(":TEMP "), "{reply}\n{}", milter.log());

    let sink = CaptureSink::start().await.unwrap();
    let relay = RelayDomains::Socketmap(map);
    let postfix =
        PostfixInstance::start(&dir.path().join("postfix"), sink.port(), Some(&milter.socket()), &relay).await.unwrap();
    let alias = format!("anything@{DOMAIN}");
    let tx = Transaction::send(postfix.smtp_addr(), fixture::SENDER, &[&alias], &fixture::message(&alias, "db down"))
        .await
        .unwrap();
    assert!(!tx.accepted(), "{tx:?}");
    let refusal = std::iter::once(&tx.mail).chain(&tx.rcpts).find(|r| !r.is_positive()).unwrap();
    assert_eq!(refusal.code / 100, 4, "{refusal}\n{}", postfix.maillog());
    assert!(sink.delivered().is_empty());
}

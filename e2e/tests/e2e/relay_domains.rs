//! The production relay_domains pgsql map (postfix-config/) lists every hosted domain,
//! verified or not, and nothing else; a domain added with the CLI is listed at once.

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

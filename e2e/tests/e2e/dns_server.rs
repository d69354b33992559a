//! Done means: the test DNS server (dnsmasq) answers exactly the zone a test declares, over UDP
//! and TCP, to hickory (the resolver mail-auth uses) and to mail-auth's own lookups: a DKIM
//! key longer than one TXT string comes back whole, SPF evaluates against it, and unknown
//! names are NXDOMAIN at once, so an SPF/DKIM/DMARC check never waits for a timeout.

use mail_auth::{
    MessageAuthenticator, SpfResult,
    common::{cache::NoCache, parse::TxtRecordParser, verify::DomainKey},
    dmarc::{Dmarc, Policy},
    hickory_resolver::{
        config::{NameServerConfig, NameServerConfigGroup, ProtocolConfig, ResolverConfig},
        proto::op::ResponseCode,
    },
    spf::{Spf, verify::SpfParameters},
};
use smtpy_e2e::{
    dkim_key::DkimKey,
    dns::{DnsServer, Zone},
};
use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

const DOMAIN: &str = "sender.example";
const SPF: &str = "v=spf1 ip4:127.0.0.1 -all";

/// An unknown name must answer well inside a resolver's timeout (2 s in `resolver_opts`).
const QUICK: Duration = Duration::from_millis(500);

fn zone(dkim_record: &str) -> Zone {
    Zone::new()
        .spf(DOMAIN, SPF)
        .dmarc(DOMAIN, "v=DMARC1; p=reject")
        .dkim("s2048", DOMAIN, dkim_record)
        .mx(DOMAIN, &format!("mx.{DOMAIN}"))
        .a(&format!("mx.{DOMAIN}"), Ipv4Addr::LOCALHOST)
        .spf("mx-only.example", "v=spf1 mx:sender.example -all")
        .txt("quoted.example", r#"a,b; c="d" \e #f"#)
}

/// A resolver that asks `server` over one protocol only.
fn resolver_over(server: &DnsServer, protocol: ProtocolConfig) -> MessageAuthenticator {
    let mut config = ResolverConfig::from_parts(None, Vec::new(), NameServerConfigGroup::with_capacity(1));
    config.add_name_server(NameServerConfig::new(server.addr(), protocol));
    MessageAuthenticator::new(config, DnsServer::resolver_opts()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_dkim_txt_record_comes_back_intact_over_udp_and_tcp() {
    let key = DkimKey::generate_rsa_2048().unwrap();
    let record = key.dns_record();
    assert!(record.len() > 255, "an RSA-2048 key record should need two TXT strings: {}", record.len());
    let server = DnsServer::start(&zone(&record)).await.unwrap();
    let name = format!("s2048._domainkey.{DOMAIN}.");

    for protocol in [ProtocolConfig::Udp, ProtocolConfig::Tcp] {
        let auth = resolver_over(&server, protocol.clone());
        let lookup = auth.resolver().txt_lookup(name.as_str()).await.unwrap();
        let txts: Vec<_> = lookup.iter().collect();
        assert_eq!(txts.len(), 1, "{protocol:?}: one TXT record expected: {txts:?}");
        let strings = txts[0].txt_data();
        // RFC 1035 3.3.14: each character-string is at most 255 bytes; dnsmasq splits.
        assert!(strings.len() >= 2 && strings.iter().all(|s| s.len() <= 255), "{protocol:?}: {strings:?}");
        assert_eq!(strings.concat(), record.as_bytes(), "{protocol:?}: the joined strings differ");

        // mail-auth joins the strings itself and parses the key record.
        assert_eq!(auth.txt_raw_lookup(name.as_str()).await.unwrap(), record.as_bytes(), "{protocol:?}");
        let parsed = auth.txt_lookup::<DomainKey>(name.as_str(), None::<&NoCache<_, _>>).await;
        if let Err(err) = parsed {
            panic!("{protocol:?}: mail-auth could not parse the key record: {err:?}");
        }
    }
    // The record parses the same way straight from the bytes published.
    assert!(DomainKey::parse(record.as_bytes()).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotes_commas_and_backslashes_in_a_txt_value_are_served_verbatim() {
    let server = DnsServer::start(&zone("v=DKIM1; p=")).await.unwrap();
    let auth = server.authenticator().unwrap();
    assert_eq!(auth.txt_raw_lookup("quoted.example").await.unwrap(), br#"a,b; c="d" \e #f"#);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_and_a_records_resolve() {
    let server = DnsServer::start(&zone("v=DKIM1; p=")).await.unwrap();
    let resolver = server.authenticator().unwrap();
    let resolver = resolver.resolver();

    let mx = resolver.mx_lookup(format!("{DOMAIN}.")).await.unwrap();
    let mx: Vec<(u16, String)> = mx.iter().map(|mx| (mx.preference(), mx.exchange().to_ascii())).collect();
    assert_eq!(mx, [(10, format!("mx.{DOMAIN}."))]);

    let a = resolver.ipv4_lookup(format!("mx.{DOMAIN}.")).await.unwrap();
    let a: Vec<Ipv4Addr> = a.iter().map(|a| a.0).collect();
    assert_eq!(a, [Ipv4Addr::LOCALHOST]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_are_nxdomain_at_once_and_other_types_are_nodata() {
    let server = DnsServer::start(&zone("v=DKIM1; p=")).await.unwrap();
    let auth = server.authenticator().unwrap();

    for name in ["nowhere.example.", "missing._domainkey.sender.example.", "_dmarc.other.example."] {
        let started = Instant::now();
        let err = auth.resolver().txt_lookup(name).await.unwrap_err();
        assert!(err.is_nx_domain(), "{name}: {err:?}\n{}", server.log());
        assert!(started.elapsed() < QUICK, "{name}: NXDOMAIN took {:?}", started.elapsed());
    }
    // The name exists (it has TXT and MX), so asking for an A record is NOERROR without data.
    let err = auth.resolver().ipv4_lookup(format!("{DOMAIN}.")).await.unwrap_err();
    assert!(err.is_no_records_found() && !err.is_nx_domain(), "{err:?}");

    // mail-auth reports the same NXDOMAIN, which its SPF/DKIM/DMARC logic maps to none/fail.
    let started = Instant::now();
    let result = auth.txt_lookup::<Spf>("nowhere.example", None::<&NoCache<_, _>>).await;
    assert!(matches!(result, Err(mail_auth::Error::DnsRecordNotFound(ResponseCode::NXDomain))), "{result:?}");
    assert!(started.elapsed() < QUICK, "mail-auth's NXDOMAIN took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_auth_evaluates_spf_and_dmarc_against_the_zone() {
    let server = DnsServer::start(&zone("v=DKIM1; p=")).await.unwrap();
    let auth = server.authenticator().unwrap();
    let sender = format!("alice@{DOMAIN}");
    let spf = |ip: &str, sender: &str| {
        let auth = &auth;
        let (ip, sender) = (ip.parse().unwrap(), sender.to_owned());
        async move {
            auth.verify_spf(SpfParameters::verify_mail_from(ip, "client.example", "mx.smtpy.test", &sender))
                .await
                .result()
        }
    };

    assert_eq!(spf("127.0.0.1", &sender).await, SpfResult::Pass, "{}", server.log());
    assert_eq!(spf("127.0.0.2", &sender).await, SpfResult::Fail);
    assert_eq!(spf("127.0.0.1", "bob@nowhere.example").await, SpfResult::None);
    // `mx:` follows the MX record to its A record.
    assert_eq!(spf("127.0.0.1", "carol@mx-only.example").await, SpfResult::Pass, "{}", server.log());
    assert_eq!(spf("127.0.0.3", "carol@mx-only.example").await, SpfResult::Fail);

    let dmarc = auth.txt_lookup::<Dmarc>(format!("_dmarc.{DOMAIN}"), None::<&NoCache<_, _>>).await.unwrap();
    assert_eq!(dmarc.p, Policy::Reject);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_dnsmasq_cannot_serve_is_refused_before_start() {
    // dnsmasq's ~1 KiB configuration line limit; RSA-4096 records (~740 bytes) still fit.
    let too_long = Zone::new().txt("long.example", &"k".repeat(1100));
    let err = DnsServer::start(&too_long).await.unwrap_err();
    assert!(format!("{err:#}").contains("at most"), "{err:#}");
    assert!(Zone::new().txt("long.example", &"k".repeat(900)).dnsmasq_config().is_ok());

    let bad_name = Zone::new().txt("a,b.example", "v=spf1 -all");
    assert!(bad_name.dnsmasq_config().is_err());
    let control = Zone::new().txt("ok.example", "line\nbreak");
    assert!(control.dnsmasq_config().is_err());
}

//! Inbound checks: SPF, DKIM, ARC and DMARC on the message as received, with the client
//! address, HELO name and envelope sender Postfix passed (DESIGN §2).

use crate::dns_cache::DnsCaches;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult, DmarcOutput, DmarcResult,
    MessageAuthenticator, Parameters, SpfOutput, SpfResult,
    common::headers::HeaderWriter,
    dmarc::{Policy, verify::DmarcParameters},
    hickory_resolver::config::{NameServerConfig, ProtocolConfig, ResolverConfig, ResolverOpts},
    spf::verify::SpfParameters,
};
use std::{net::IpAddr, net::SocketAddr, time::Duration};

/// The verifier: a resolver, its caches and our authserv-id.
pub struct Verifier {
    resolver: MessageAuthenticator,
    caches: DnsCaches,
    authserv_id: String,
}

/// What the checks found.
pub struct Inbound<'x> {
    /// SPF for the envelope sender (or HELO for the null sender).
    pub spf: SpfOutput,
    /// One result per DKIM signature.
    pub dkim: Vec<DkimOutput<'x>>,
    /// The ARC chain as received.
    pub arc: ArcOutput<'x>,
    /// DMARC for the header From domain.
    pub dmarc: DmarcOutput,
    /// The From domain DMARC evaluated.
    pub from_domain: String,
}

/// A one-word summary per mechanism, for the message log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthSummary {
    /// `pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`.
    pub spf: String,
    /// `pass` if any signature passed, else the first result, else `none`.
    pub dkim: String,
    /// `pass`, `fail`, `none`, ...
    pub dmarc: String,
    /// `pass`, `fail`, `none`, ...
    pub arc: String,
}

impl Verifier {
    /// A verifier using `nameservers` (`IP:PORT`; empty: the system resolver).
    pub fn new(nameservers: &[String], authserv_id: String) -> Result<Self, String> {
        let resolver = if nameservers.is_empty() {
            MessageAuthenticator::new_system_conf()
                .map_err(|e| format!("cannot read the system resolver configuration: {e}"))?
        } else {
            let mut servers = Vec::new();
            for ns in nameservers {
                let addr: SocketAddr = ns.parse().map_err(|_| format!("dns.nameservers: '{ns}' is not IP:PORT"))?;
                for protocol in [ProtocolConfig::Udp, ProtocolConfig::Tcp] {
                    let mut server = NameServerConfig::new(addr, protocol);
                    server.trust_negative_responses = true;
                    servers.push(server);
                }
            }
            let mut opts = ResolverOpts::default();
            opts.timeout = Duration::from_secs(2);
            opts.attempts = 2;
            MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], servers), opts)
                .map_err(|e| format!("cannot set up the DNS resolver: {e}"))?
        };
        Ok(Self { resolver, caches: DnsCaches::new(50_000), authserv_id })
    }

    /// Our authserv-id.
    pub fn authserv_id(&self) -> &str {
        &self.authserv_id
    }

    /// Runs every check on `message`.
    pub async fn check<'x>(
        &'x self,
        message: &'x AuthenticatedMessage<'x>,
        client_ip: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> Inbound<'x> {
        let c = &self.caches;
        macro_rules! cached {
            ($p:expr) => {
                Parameters::new($p)
                    .with_txt_cache(&c.txt)
                    .with_mx_cache(&c.mx)
                    .with_ipv4_cache(&c.ipv4)
                    .with_ipv6_cache(&c.ipv6)
                    .with_ptr_cache(&c.ptr)
            };
        }
        let helo = if helo.is_empty() { "unknown" } else { helo };
        let spf = if mail_from.is_empty() {
            self.resolver.verify_spf(cached!(SpfParameters::verify_ehlo(client_ip, helo, &self.authserv_id))).await
        } else {
            self.resolver
                .verify_spf(cached!(SpfParameters::verify_mail_from(client_ip, helo, &self.authserv_id, mail_from)))
                .await
        };
        let dkim = self.resolver.verify_dkim(cached!(message)).await;
        let arc = self.resolver.verify_arc(cached!(message)).await;
        let from_domain = message.from().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default();
        let mail_from_domain = mail_from.rsplit_once('@').map_or(helo, |(_, d)| d);
        let dmarc = self
            .resolver
            .verify_dmarc(cached!(
                DmarcParameters::new(message, &dkim, mail_from_domain, &spf)
                    .with_domain_suffix_fn(organizational_domain)
            ))
            .await;
        Inbound { spf, dkim, arc, dmarc, from_domain }
    }
}

/// The organizational domain (RFC 7489 §3.2) from the public suffix list.
fn organizational_domain(domain: &str) -> &str {
    psl::domain_str(domain).unwrap_or(domain)
}

impl Inbound<'_> {
    /// The `Authentication-Results` value (without the header name), folded on one line.
    pub fn header_value(&self, verifier: &Verifier, client_ip: IpAddr, helo: &str, mail_from: &str) -> String {
        let results = self.results(verifier, client_ip, helo, mail_from);
        let header = results.to_header();
        let value = unfold(header.trim_start_matches("Authentication-Results:").trim());
        if self.dmarc_failed() { value.replace("dmarc=none", "dmarc=fail") } else { value }
    }

    /// The results as mail-auth builds them (also what an ARC seal records).
    pub fn results<'a>(
        &self,
        verifier: &'a Verifier,
        client_ip: IpAddr,
        helo: &str,
        mail_from: &str,
    ) -> AuthenticationResults<'a> {
        let helo = if helo.is_empty() { "unknown" } else { helo };
        AuthenticationResults::new(verifier.authserv_id())
            .with_dkim_results(&self.dkim, &self.from_domain)
            .with_spf_mailfrom_result(&self.spf, client_ip, mail_from, helo)
            .with_dmarc_result(&self.dmarc)
            .with_arc_result(&self.arc, client_ip)
    }

    /// Whether `domain` vouches for the message (P2, replies): DMARC passes for it, or, when it
    /// publishes no DMARC record, DKIM passes with `d=domain` or SPF passes for it.
    pub fn authenticates(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        let dmarc_for_domain = self.dmarc.domain().eq_ignore_ascii_case(&domain);
        if dmarc_for_domain && self.dmarc.dmarc_record().is_some() {
            return *self.dmarc.spf_result() == DmarcResult::Pass || *self.dmarc.dkim_result() == DmarcResult::Pass;
        }
        let dkim = self.dkim.iter().any(|d| {
            *d.result() == DkimResult::Pass && d.signature().is_some_and(|s| s.d.eq_ignore_ascii_case(&domain))
        });
        let spf = self.spf.result() == SpfResult::Pass && self.spf.domain().eq_ignore_ascii_case(&domain);
        dkim || spf
    }

    /// Whether DMARC failed for a domain whose policy says `p=reject`.
    pub fn dmarc_rejects(&self) -> bool {
        self.dmarc_failed() && self.dmarc.policy() == Policy::Reject
    }

    /// Whether DMARC failed for a domain whose policy says `p=quarantine`.
    pub fn dmarc_quarantines(&self) -> bool {
        self.dmarc_failed() && self.dmarc.policy() == Policy::Quarantine
    }

    /// RFC 7489 §6.6.2: the domain publishes a record and neither an aligned SPF pass nor an
    /// aligned DKIM pass exists. (mail-auth leaves both results at `none` when nothing passed
    /// at all, so "fail" is decided here, not read from it.)
    fn dmarc_failed(&self) -> bool {
        self.dmarc.dmarc_record().is_some()
            && *self.dmarc.spf_result() != DmarcResult::Pass
            && *self.dmarc.dkim_result() != DmarcResult::Pass
    }

    /// One word per mechanism, for the message log.
    pub fn summary(&self) -> AuthSummary {
        AuthSummary {
            spf: spf_word(self.spf.result()).to_owned(),
            dkim: if self.dkim.iter().any(|d| *d.result() == DkimResult::Pass) {
                "pass".to_owned()
            } else {
                self.dkim.first().map_or("none", |d| dkim_word(d.result())).to_owned()
            },
            dmarc: if *self.dmarc.spf_result() == DmarcResult::Pass || *self.dmarc.dkim_result() == DmarcResult::Pass {
                "pass".to_owned()
            } else if self.dmarc_failed() {
                "fail".to_owned()
            } else {
                dmarc_word(self.dmarc.dkim_result()).to_owned()
            },
            arc: dkim_word(self.arc.result()).to_owned(),
        }
    }
}

fn spf_word(r: SpfResult) -> &'static str {
    match r {
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::Neutral => "neutral",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
        SpfResult::None => "none",
    }
}

fn dkim_word(r: &DkimResult) -> &'static str {
    match r {
        DkimResult::Pass => "pass",
        DkimResult::Neutral(_) => "neutral",
        DkimResult::Fail(_) => "fail",
        DkimResult::PermError(_) => "permerror",
        DkimResult::TempError(_) => "temperror",
        DkimResult::None => "none",
    }
}

fn dmarc_word(r: &DmarcResult) -> &'static str {
    match r {
        DmarcResult::Pass => "pass",
        DmarcResult::Fail(_) => "fail",
        DmarcResult::TempError(_) => "temperror",
        DmarcResult::PermError(_) => "permerror",
        DmarcResult::None => "none",
    }
}

/// Joins folded header lines (RFC 5322 §2.2.3) into one line, each fold a single space.
pub fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut lines = value.split('\n');
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end_matches('\r'));
    }
    for line in lines {
        out.push(' ');
        out.push_str(line.trim_end_matches('\r').trim_start_matches([' ', '\t']));
    }
    out
}

/// Splits header text (`Name: value\r\n` with folded continuation lines, as mail-auth writes
/// it) into unfolded `(name, value)` pairs.
pub fn split_headers(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim_start_matches([' ', '\t']));
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_headers_unfolds_continuations() {
        let text = "ARC-Seal: i=1; a=rsa-sha256;\r\n\tb=abc\r\nARC-Message-Signature: i=1;\r\n h=From\r\n";
        assert_eq!(
            split_headers(text),
            vec![
                ("ARC-Seal".to_owned(), "i=1; a=rsa-sha256; b=abc".to_owned()),
                ("ARC-Message-Signature".to_owned(), "i=1; h=From".to_owned()),
            ]
        );
    }

    #[test]
    fn unfold_makes_one_space_per_fold() {
        assert_eq!(unfold("mx; spf=pass;\r\n\tdkim=none"), "mx; spf=pass; dkim=none");
    }

    #[test]
    fn organizational_domain_uses_public_suffix_list() {
        assert_eq!(organizational_domain("mail.example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("a.b.example.com"), "example.com");
    }
}

//! The Sender Rewriting Scheme (Shevek's "Sender Rewriting Scheme" paper), byte-compatible with
//! postsrsd 1.x and libsrs2, so that an operator can swap postsrsd for us with the same secret
//! file and addresses either one issued keep working.
//!
//! Forms (`=` is both the separator after the tag and between fields):
//! - `SRS0=HHHH=TT=orig-domain=orig-local@srs-domain`, where `TT` is the day (days since the
//!   epoch mod 1024) in two base32 characters and `HHHH` is the first four characters of the
//!   standard base64 of `HMAC-SHA1(secret, lower(TT + orig-domain + orig-local))`;
//! - `SRS1=HHHH=first-hop==HHHH=TT=orig-domain=orig-local@srs-domain`: an SRS0 address
//!   forwarded once more keeps the first hop's SRS0 part opaque (everything after its `SRS0`,
//!   its separator included) and signs `lower(first-hop + opaque)`, so a bounce goes straight
//!   back to the first hop instead of down the whole chain.
//!
//! Hashes are compared case-insensitively (MTAs may change the case of a local part). The tag
//! and the separators `=`, `+` and `-` are accepted on input as libsrs2 does.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::hmac_secrets::SecretSet;

/// Hash characters in the addresses we issue and the only length we accept (postsrsd's
/// default `-n 4 -N 4`).
pub const HASH_LENGTH: usize = 4;
/// Days an SRS0 address stays valid after the day it was issued (postsrsd's default).
pub const MAX_AGE_DAYS: u64 = 21;

/// The two-character timestamp counts days modulo 32 * 32.
const TIME_SLOTS: u64 = 1024;
const TIME_CHARS: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
/// What libsrs2 accepts after `SRS0`/`SRS1`.
const SEPARATORS: &[u8] = b"=+-";
/// Between the fields after the tag; always `=`.
const FIELD_SEP: char = '=';

/// Why an address could not be rewritten or reversed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrsError {
    /// The address is not an SRS0/SRS1 address.
    #[error("not an SRS address")]
    NotSrs,
    /// No secret of ours made this hash: forged, tampered or from another forwarder.
    #[error("SRS hash does not verify")]
    BadHash,
    /// The SRS0 address is older than the maximum age.
    #[error("SRS address has expired")]
    Expired,
    /// The address lacks a part the format needs.
    #[error("malformed SRS address: {0}")]
    Malformed(&'static str),
}

/// Rewrites envelope senders to SRS addresses and back.
#[derive(Debug, Clone)]
pub struct Srs {
    secrets: SecretSet,
}

impl Srs {
    /// An SRS rewriter that signs with the set's first secret and verifies with all.
    pub fn new(secrets: SecretSet) -> Self {
        Self { secrets }
    }

    /// Rewrites `sender` for forwarding from `srs_domain` on day `today` (days since the epoch).
    ///
    /// A plain address becomes SRS0, an SRS0 address becomes SRS1, an SRS1 address is re-signed
    /// for the new domain, and a sender already at `srs_domain` is returned unchanged (as
    /// libsrs2's `srs_forward` does). Nothing is verified here, as in libsrs2.
    pub fn forward(&self, sender: &str, srs_domain: &str, today: u64) -> Result<String, SrsError> {
        // libsrs2 accepts a whole address as the alias domain and keeps what follows the last '@'.
        let srs_domain = srs_domain.rsplit('@').next().unwrap_or(srs_domain);
        // libsrs2 splits at the *first* '@' (strchr), so we do too.
        let (local, host) = sender.split_once('@').ok_or(SrsError::Malformed("the sender has no @"))?;
        if host.eq_ignore_ascii_case(srs_domain) {
            return Ok(sender.to_owned());
        }

        match srs_tag(local) {
            Some(Tag::Srs1) => {
                let rest = &local[5..];
                if rest.is_empty() {
                    return Err(SrsError::Malformed("no hash in the SRS1 address"));
                }
                let (_old_hash, rest) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no first hop in the SRS1 address"))?;
                let (hop, opaque) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no user part in the SRS1 address"))?;
                Ok(self.srs1(hop, opaque, srs_domain))
            }
            // The first hop is the SRS0 address's domain; its local part after "SRS0" (separator
            // included) travels opaque.
            Some(Tag::Srs0) => Ok(self.srs1(host, &local[4..], srs_domain)),
            None => {
                let stamp = timestamp(today);
                let hash = hash(self.secrets.signing(), &[&stamp, host, local]);
                Ok(format!("SRS0={hash}={stamp}={host}={local}@{srs_domain}"))
            }
        }
    }

    /// Recovers the address an SRS address stands for: the original sender for SRS0, the
    /// first hop's SRS0 address for SRS1. The domain of `address` is not looked at (as in
    /// libsrs2): the caller decides which domains are ours.
    pub fn reverse(&self, address: &str, today: u64) -> Result<String, SrsError> {
        let local = address.split_once('@').map_or(address, |(local, _)| local);
        let tag = srs_tag(local).ok_or(SrsError::NotSrs)?;
        let rest = &local[5..];
        match tag {
            Tag::Srs1 => {
                let (hash, rest) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no first hop in the SRS1 address"))?;
                let (hop, opaque) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no user part in the SRS1 address"))?;
                self.check_hash(hash, &[hop, opaque])?;
                Ok(format!("SRS0{opaque}@{hop}"))
            }
            Tag::Srs0 => {
                let (hash, rest) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no timestamp in the SRS0 address"))?;
                let (stamp, rest) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no domain in the SRS0 address"))?;
                let (host, user) =
                    rest.split_once(FIELD_SEP).ok_or(SrsError::Malformed("no user part in the SRS0 address"))?;
                let issued = parse_timestamp(stamp)?;
                // Unlike libsrs2 we check the hash before the age, so that only an authentic
                // address can be reported as expired.
                self.check_hash(hash, &[stamp, host, user])?;
                if age(issued, today) > MAX_AGE_DAYS {
                    return Err(SrsError::Expired);
                }
                Ok(format!("{user}@{host}"))
            }
        }
    }

    /// Whether `local_part` starts like an SRS0 or SRS1 address (tag in any case, then `=`,
    /// `+` or `-`).
    pub fn is_srs(local_part: &str) -> bool {
        srs_tag(local_part).is_some()
    }

    fn srs1(&self, hop: &str, opaque: &str, srs_domain: &str) -> String {
        let hash = hash(self.secrets.signing(), &[hop, opaque]);
        format!("SRS1={hash}={hop}={opaque}@{srs_domain}")
    }

    /// Accepts `given` if any secret yields the same hash, ignoring case.
    fn check_hash(&self, given: &str, fields: &[&str]) -> Result<(), SrsError> {
        if given.len() != HASH_LENGTH {
            return Err(SrsError::BadHash);
        }
        let given = given.to_ascii_lowercase();
        let mut matched = false;
        for secret in self.secrets.all() {
            let expected = hash(secret, fields).to_ascii_lowercase();
            matched |= constant_time_eq(given.as_bytes(), expected.as_bytes());
        }
        if matched { Ok(()) } else { Err(SrsError::BadHash) }
    }
}

enum Tag {
    Srs0,
    Srs1,
}

/// libsrs2's `SRS_IS_SRS_ADDRESS`: "SRS0" or "SRS1" in any case, then one of the separators.
fn srs_tag(local: &str) -> Option<Tag> {
    let head = local.as_bytes().get(..5)?;
    if !head[..3].eq_ignore_ascii_case(b"SRS") || !SEPARATORS.contains(&head[4]) {
        return None;
    }
    match head[3] {
        b'0' => Some(Tag::Srs0),
        b'1' => Some(Tag::Srs1),
        _ => None,
    }
}

/// The first `HASH_LENGTH` base64 characters of HMAC-SHA1 over the lower-cased fields,
/// concatenated without separators (libsrs2's `srs_hash_create`).
fn hash(secret: &[u8], fields: &[&str]) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        unreachable!("HMAC takes keys of any length");
    };
    for field in fields {
        mac.update(field.to_ascii_lowercase().as_bytes());
    }
    let digest = mac.finalize().into_bytes();
    let mut encoded = data_encoding::BASE64.encode(&digest);
    encoded.truncate(HASH_LENGTH);
    encoded
}

/// Two base32 characters for `day` modulo 1024.
fn timestamp(day: u64) -> String {
    let slot = day % TIME_SLOTS;
    let digit = |value: u64| char::from(TIME_CHARS[(value & 31) as usize]);
    [digit(slot >> 5), digit(slot)].into_iter().collect()
}

fn parse_timestamp(stamp: &str) -> Result<u64, SrsError> {
    if stamp.len() != 2 {
        return Err(SrsError::Malformed("the timestamp is not two characters"));
    }
    stamp.bytes().try_fold(0u64, |acc, c| {
        let value = TIME_CHARS
            .iter()
            .position(|&t| t == c.to_ascii_uppercase())
            .ok_or(SrsError::Malformed("bad base32 character in the timestamp"))?;
        Ok((acc << 5) | value as u64)
    })
}

/// Days from `issued` (a slot) to `today`, across the 1024-day wrap; a stamp from the future
/// reads as nearly 1024 days old, as in libsrs2.
fn age(issued: u64, today: u64) -> u64 {
    (today % TIME_SLOTS + TIME_SLOTS - issued) % TIME_SLOTS
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2024-06-10.
    const TODAY: u64 = 19_884;

    fn srs(text: &str) -> Srs {
        Srs::new(SecretSet::parse(text).unwrap())
    }

    fn parts(address: &str) -> Vec<&str> {
        address.split(['=', '@']).collect()
    }

    #[test]
    fn srs0_round_trip() {
        let srs = srs("secret\n");
        let forwarded = srs.forward("alice@example.org", "fwd.example", TODAY).unwrap();
        let p = parts(&forwarded);
        assert_eq!(p[0], "SRS0");
        assert_eq!(p[1].len(), HASH_LENGTH);
        assert_eq!(p[2], timestamp(TODAY));
        assert_eq!(&p[3..], ["example.org", "alice", "fwd.example"]);
        assert_eq!(srs.reverse(&forwarded, TODAY).unwrap(), "alice@example.org");
    }

    #[test]
    fn known_vector_from_libsrs2_algorithm() {
        // Computed independently: base64(HMAC-SHA1("secret", "ab" + "example.org" + "alice")).
        let srs = srs("secret\n");
        let day = 1; // stamp "AB"
        let forwarded = srs.forward("alice@example.org", "fwd.example", day).unwrap();
        assert!(forwarded.starts_with("SRS0="), "{forwarded}");
        assert_eq!(parts(&forwarded)[2], "AB");
        let mut mac = Hmac::<Sha1>::new_from_slice(b"secret").unwrap();
        mac.update(b"abexample.orgalice");
        let full = data_encoding::BASE64.encode(&mac.finalize().into_bytes());
        assert_eq!(parts(&forwarded)[1], &full[..4]);
    }

    #[test]
    fn timestamps_are_base32_days_mod_1024() {
        assert_eq!(timestamp(0), "AA");
        assert_eq!(timestamp(31), "A7");
        assert_eq!(timestamp(32), "BA");
        assert_eq!(timestamp(1023), "77");
        assert_eq!(timestamp(1024), "AA");
        assert_eq!(parse_timestamp("77").unwrap(), 1023);
        assert_eq!(parse_timestamp("bA").unwrap(), 32);
        assert!(matches!(parse_timestamp("A1"), Err(SrsError::Malformed(_))));
        assert!(matches!(parse_timestamp("ABC"), Err(SrsError::Malformed(_))));
    }

    #[test]
    fn srs0_becomes_srs1_and_reverses_to_the_first_hop() {
        let first_hop = srs("first-hop-secret\n");
        let us = srs("our-secret\n");
        let srs0 = first_hop.forward("alice@example.org", "hop1.example", TODAY).unwrap();
        let srs1 = us.forward(&srs0, "hop2.example", TODAY).unwrap();
        let (srs0_local, _) = srs0.split_once('@').unwrap();
        assert_eq!(
            srs1,
            format!(
                "SRS1={}=hop1.example=={}@hop2.example",
                hash(b"our-secret", &["hop1.example", &srs0_local[4..]]),
                &srs0_local[5..]
            )
        );
        // We verify our SRS1 and hand back the first hop's SRS0 address, whose hash only the
        // first hop can check.
        assert_eq!(us.reverse(&srs1, TODAY).unwrap(), srs0);
        assert_eq!(first_hop.reverse(&srs0, TODAY).unwrap(), "alice@example.org");
        assert_eq!(us.reverse(&srs0, TODAY), Err(SrsError::BadHash));
    }

    #[test]
    fn srs1_is_rewrapped_keeping_first_hop_and_opaque_part() {
        let hop2 = srs("hop2-secret\n");
        let us = srs("our-secret\n");
        let srs0 = "SRS0=abcd=AB=example.org=alice@hop1.example";
        let srs1_hop2 = hop2.forward(srs0, "hop2.example", TODAY).unwrap();
        let srs1_us = us.forward(&srs1_hop2, "hop3.example", TODAY).unwrap();
        let hash = hash(b"our-secret", &["hop1.example", "=abcd=AB=example.org=alice"]);
        assert_eq!(srs1_us, format!("SRS1={hash}=hop1.example==abcd=AB=example.org=alice@hop3.example"));
        assert_eq!(us.reverse(&srs1_us, TODAY).unwrap(), srs0);
    }

    #[test]
    fn other_separators_are_kept_in_the_opaque_part() {
        let us = srs("our-secret\n");
        let srs1 = us.forward("SRS0+abcd=AB=example.org=alice@hop1.example", "fwd.example", TODAY).unwrap();
        assert!(srs1.contains("=hop1.example=+abcd=AB="), "{srs1}");
        assert_eq!(us.reverse(&srs1, TODAY).unwrap(), "SRS0+abcd=AB=example.org=alice@hop1.example");
    }

    #[test]
    fn sender_at_the_srs_domain_is_unchanged() {
        let srs = srs("secret\n");
        assert_eq!(srs.forward("bob@Fwd.Example", "fwd.example", TODAY).unwrap(), "bob@Fwd.Example");
        assert_eq!(srs.forward("bob@fwd.example", "postmaster@fwd.example", TODAY).unwrap(), "bob@fwd.example");
        assert_eq!(srs.forward("bob", "fwd.example", TODAY), Err(SrsError::Malformed("the sender has no @")));
    }

    #[test]
    fn rotated_secret_still_verifies_and_new_addresses_use_the_first() {
        let old = srs("old-secret\n");
        let rotated = srs("new-secret\nold-secret\n");
        let before = old.forward("alice@example.org", "fwd.example", TODAY).unwrap();
        assert_eq!(rotated.reverse(&before, TODAY + 3).unwrap(), "alice@example.org");
        let after = rotated.forward("alice@example.org", "fwd.example", TODAY).unwrap();
        assert_ne!(after, before);
        assert_eq!(srs("new-secret\n").reverse(&after, TODAY).unwrap(), "alice@example.org");
        assert_eq!(old.reverse(&after, TODAY), Err(SrsError::BadHash));
        // Once the old secret is dropped, its addresses no longer verify.
        assert_eq!(srs("new-secret\n").reverse(&before, TODAY), Err(SrsError::BadHash));
    }

    #[test]
    fn hash_tag_and_whole_address_compare_case_insensitively() {
        let srs = srs("secret\n");
        let forwarded = srs.forward("Alice@Example.ORG", "fwd.example", TODAY).unwrap();
        for variant in
            [forwarded.to_ascii_lowercase(), forwarded.to_ascii_uppercase(), forwarded.replacen("SRS0", "srs0", 1)]
        {
            let reversed = srs.reverse(&variant, TODAY).unwrap();
            assert!(reversed.eq_ignore_ascii_case("alice@example.org"), "{variant} -> {reversed}");
        }
        let srs1 = srs.forward("SRS0=abcd=AB=example.org=alice@hop1.example", "fwd.example", TODAY).unwrap();
        assert!(srs.reverse(&srs1.to_ascii_lowercase(), TODAY).is_ok());
    }

    #[test]
    fn expires_after_21_days() {
        let srs = srs("secret\n");
        let forwarded = srs.forward("alice@example.org", "fwd.example", TODAY).unwrap();
        assert!(srs.reverse(&forwarded, TODAY + MAX_AGE_DAYS).is_ok());
        assert_eq!(srs.reverse(&forwarded, TODAY + MAX_AGE_DAYS + 1), Err(SrsError::Expired));
        // A stamp from the future (clock skew backwards) reads as very old.
        assert_eq!(srs.reverse(&forwarded, TODAY - 1), Err(SrsError::Expired));
        // The day count wraps every 1024 days.
        assert!(srs.reverse(&forwarded, TODAY + 1024).is_ok());
    }

    #[test]
    fn expiry_across_the_1024_day_wrap() {
        let srs = srs("secret\n");
        let day = 1024 * 19 + 1020; // stamp "74"
        let forwarded = srs.forward("alice@example.org", "fwd.example", day).unwrap();
        assert_eq!(parts(&forwarded)[2], "74");
        assert!(srs.reverse(&forwarded, day + 10).is_ok());
        assert!(srs.reverse(&forwarded, day + 21).is_ok());
        assert_eq!(srs.reverse(&forwarded, day + 22), Err(SrsError::Expired));
    }

    #[test]
    fn tampering_is_detected() {
        let srs = srs("secret\n");
        let forwarded = srs.forward("alice@example.org", "fwd.example", TODAY).unwrap();
        let tampered = [
            forwarded.replace("alice", "mallory"),
            forwarded.replace("example.org", "evil.example"),
            forwarded.replacen(&format!("={}=", timestamp(TODAY)), &format!("={}=", timestamp(TODAY + 1)), 1),
        ];
        for address in tampered {
            assert_eq!(srs.reverse(&address, TODAY + 1), Err(SrsError::BadHash), "{address}");
        }
        let hash = parts(&forwarded)[1].to_owned();
        let mut flipped = hash.clone().into_bytes();
        flipped[0] = if flipped[0].eq_ignore_ascii_case(&b'A') { b'B' } else { b'A' };
        let forged = forwarded.replacen(&hash, std::str::from_utf8(&flipped).unwrap(), 1);
        assert_eq!(srs.reverse(&forged, TODAY), Err(SrsError::BadHash));
        // Wrong hash lengths never verify.
        assert_eq!(srs.reverse(&forwarded.replacen(&hash, &hash[..3], 1), TODAY), Err(SrsError::BadHash));
        assert_eq!(srs.reverse(&forwarded.replacen(&hash, &format!("{hash}A"), 1), TODAY), Err(SrsError::BadHash));
        // A forged SRS1 address.
        let srs1 = srs.forward("SRS0=abcd=AB=example.org=alice@hop1.example", "fwd.example", TODAY).unwrap();
        assert_eq!(srs.reverse(&srs1.replace("hop1.example", "evil.example"), TODAY), Err(SrsError::BadHash));
    }

    #[test]
    fn not_srs_and_malformed() {
        let srs = srs("secret\n");
        for address in ["alice@example.org", "SRS2=x=y@z", "SRS0", "SRS0x=y@z", "srs@x", ""] {
            assert_eq!(srs.reverse(address, TODAY), Err(SrsError::NotSrs), "{address}");
        }
        for address in [
            "SRS0=abcd@fwd.example",
            "SRS0=abcd=AB@fwd.example",
            "SRS0=abcd=AB=example.org@fwd.example",
            "SRS0=abcd=A=example.org=alice@fwd.example",
            "SRS0=abcd=A1=example.org=alice@fwd.example",
            "SRS1=abcd@fwd.example",
            "SRS1=abcd=hop@fwd.example",
        ] {
            assert!(matches!(srs.reverse(address, TODAY), Err(SrsError::Malformed(_))), "{address}");
        }
        assert!(matches!(srs.forward("SRS1=@x.example", "fwd.example", TODAY), Err(SrsError::Malformed(_))));
        assert!(matches!(srs.forward("SRS1=ab=hop@x.example", "fwd.example", TODAY), Err(SrsError::Malformed(_))));
    }

    #[test]
    fn is_srs_recognises_tags_and_separators() {
        for local in ["SRS0=a", "srs0+a", "SRS1-a", "Srs1=", "SRS0="] {
            assert!(Srs::is_srs(local), "{local}");
        }
        for local in ["SRS0", "SRS2=a", "SRS0_a", "bounce+x", "", "SRS"] {
            assert!(!Srs::is_srs(local), "{local}");
        }
    }

    #[test]
    fn non_ascii_local_parts_round_trip() {
        let srs = srs("secret\n");
        let forwarded = srs.forward("jörg@exämple.org", "fwd.example", TODAY).unwrap();
        assert_eq!(srs.reverse(&forwarded, TODAY).unwrap(), "jörg@exämple.org");
        assert!(!Srs::is_srs("jö"));
    }
}

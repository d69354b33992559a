//! Signed bounce addresses (VERP): the envelope sender of every forward, so that a bounce comes
//! back to us, names the message-log row it is about, and cannot be forged by a third party.
//!
//! Format, lower case only (MTAs may lower-case local parts), at most 64 characters:
//!
//! ```text
//! bounce+<message uuid>.<expiry day>.<mac>@<alias domain>
//! ```
//!
//! - `message uuid`: the 16 bytes in RFC 4648 base32, lower case, unpadded (26 characters);
//! - `expiry day`: the last day (days since the Unix epoch) the address is accepted, as a
//!   number written in the same 32 digits (`a` = 0 ... `7` = 31), no leading `a`;
//! - `mac`: the first 10 bytes of HMAC-SHA256 over `uuid (16 bytes) || expiry day (u64
//!   big-endian) || domain (ASCII lower case, no trailing dot)`, base32 (16 characters).
//!
//! The MAC key for each secret of the [`SecretSet`] is `HMAC-SHA256(secret, "smtpy bounce
//! v1")`, so the SRS secrets never key two schemes directly. Verification accepts any case.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::hmac_secrets::SecretSet;

/// The local-part prefix of every bounce address.
pub const PREFIX: &str = "bounce+";
/// Bytes of the HMAC kept in the address (80 bits).
const MAC_LEN: usize = 10;
/// Labels the derived key, so a change of format can change the label.
const KEY_LABEL: &[u8] = b"smtpy bounce v1";
/// The RFC 4648 base32 alphabet in lower case; also the digits of the expiry day.
const DIGITS: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Why a local part is not a valid bounce address of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BounceError {
    /// The local part does not start with `bounce+`.
    #[error("not a bounce address")]
    NotBounce,
    /// It starts like one but does not have the format.
    #[error("malformed bounce address")]
    Malformed,
    /// The MAC does not verify with any secret (or the domain is not the one it was made for).
    #[error("bounce address does not verify")]
    Forged,
    /// Authentic, but past its expiry day.
    #[error("bounce address expired")]
    Expired {
        /// The message the address was made for (it is authentic, so this can be logged).
        message_id: Uuid,
    },
}

/// Makes and verifies bounce addresses with keys derived from a [`SecretSet`].
#[derive(Clone)]
pub struct BounceSigner {
    /// One derived key per secret, the signing one first.
    keys: Vec<[u8; 32]>,
}

impl BounceSigner {
    /// Derives one MAC key per secret; the first signs, all verify.
    pub fn new(secrets: &SecretSet) -> Self {
        let keys = secrets
            .all()
            .map(|secret| {
                let mut mac = hmac(secret);
                mac.update(KEY_LABEL);
                mac.finalize().into_bytes().into()
            })
            .collect();
        Self { keys }
    }

    /// The bounce address for `message_id`, valid at `domain` up to and including day
    /// `expires_day` (days since the Unix epoch).
    pub fn address(&self, message_id: Uuid, domain: &str, expires_day: u64) -> String {
        let domain = normalize_domain(domain);
        let Some(key) = self.keys.first() else {
            unreachable!("a SecretSet holds at least one secret");
        };
        let tag = mac(key, message_id, expires_day, &domain).finalize().into_bytes();
        format!(
            "{PREFIX}{}.{}.{}@{domain}",
            base32(message_id.as_bytes()),
            encode_day(expires_day),
            base32(&tag[..MAC_LEN]),
        )
    }

    /// Checks a bounce address's local part received at `domain` on day `today` and returns the
    /// message it was made for.
    pub fn verify(&self, local_part: &str, domain: &str, today: u64) -> Result<Uuid, BounceError> {
        let local = local_part.to_ascii_lowercase();
        let rest = local.strip_prefix(PREFIX).ok_or(BounceError::NotBounce)?;
        let mut fields = rest.split('.');
        let (Some(id), Some(day), Some(tag), None) = (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(BounceError::Malformed);
        };
        let id = decode_base32(id, 16).ok_or(BounceError::Malformed)?;
        let message_id = Uuid::from_slice(&id).map_err(|_| BounceError::Malformed)?;
        let expires_day = decode_day(day).ok_or(BounceError::Malformed)?;
        let tag = decode_base32(tag, MAC_LEN).ok_or(BounceError::Malformed)?;

        let domain = normalize_domain(domain);
        let authentic = self.keys.iter().any(|key| {
            // Constant time: `verify_truncated_left` compares the leading MAC_LEN bytes.
            mac(key, message_id, expires_day, &domain).verify_truncated_left(&tag).is_ok()
        });
        if !authentic {
            return Err(BounceError::Forged);
        }
        if today > expires_day {
            return Err(BounceError::Expired { message_id });
        }
        Ok(message_id)
    }

    /// Whether `local_part` looks like a bounce address (prefix only; nothing verified).
    pub fn is_bounce(local_part: &str) -> bool {
        local_part.get(..PREFIX.len()).is_some_and(|head| head.eq_ignore_ascii_case(PREFIX))
    }
}

impl std::fmt::Debug for BounceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BounceSigner").field("keys", &format_args!("<{} redacted>", self.keys.len())).finish()
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    let Ok(mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC takes keys of any length");
    };
    mac
}

fn mac(key: &[u8; 32], message_id: Uuid, expires_day: u64, domain: &str) -> Hmac<Sha256> {
    let mut mac = hmac(key);
    mac.update(message_id.as_bytes());
    mac.update(&expires_day.to_be_bytes());
    mac.update(domain.as_bytes());
    mac
}

fn normalize_domain(domain: &str) -> String {
    domain.trim_end_matches('.').to_ascii_lowercase()
}

fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes).to_ascii_lowercase()
}

/// Decodes exactly `len` bytes; rejects non-canonical trailing bits, so each value has one
/// spelling.
fn decode_base32(text: &str, len: usize) -> Option<Vec<u8>> {
    let bytes = data_encoding::BASE32_NOPAD.decode(text.to_ascii_uppercase().as_bytes()).ok()?;
    (bytes.len() == len).then_some(bytes)
}

fn encode_day(mut day: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(day % 32) as usize]);
        day /= 32;
        if day == 0 {
            break;
        }
    }
    digits.iter().rev().map(|&d| char::from(d)).collect()
}

fn decode_day(text: &str) -> Option<u64> {
    if text.is_empty() || (text.len() > 1 && text.starts_with('a')) {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, c| {
        let digit = DIGITS.iter().position(|&d| d == c)?;
        acc.checked_mul(32)?.checked_add(digit as u64)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TODAY: u64 = 19_884;
    const DOMAIN: &str = "alias.example";

    fn signer(text: &str) -> BounceSigner {
        BounceSigner::new(&SecretSet::parse(text).unwrap())
    }

    fn local(address: &str) -> &str {
        address.split_once('@').unwrap().0
    }

    fn id() -> Uuid {
        Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210)
    }

    #[test]
    fn round_trip() {
        let signer = signer("secret\n");
        let address = signer.address(id(), DOMAIN, TODAY + 30);
        assert!(address.starts_with("bounce+"), "{address}");
        assert!(address.ends_with("@alias.example"), "{address}");
        assert_eq!(address, address.to_ascii_lowercase());
        assert!(local(&address).len() <= 64, "{address}");
        assert!(BounceSigner::is_bounce(local(&address)));
        assert_eq!(signer.verify(local(&address), DOMAIN, TODAY).unwrap(), id());
    }

    #[test]
    fn format_is_documented_shape() {
        let address = signer("secret\n").address(id(), "Alias.Example.", 20_000);
        let local = local(&address);
        let fields: Vec<&str> = local.trim_start_matches(PREFIX).split('.').collect();
        assert_eq!(fields.len(), 3, "{address}");
        assert_eq!(fields[0], base32(id().as_bytes()));
        assert_eq!(fields[0].len(), 26);
        assert_eq!(decode_day(fields[1]), Some(20_000));
        assert_eq!(fields[2].len(), 16);
        assert!(address.ends_with("@alias.example"), "{address}");
    }

    #[test]
    fn longest_address_fits_in_64() {
        let address = signer("secret\n").address(Uuid::max(), DOMAIN, u64::MAX);
        assert_eq!(local(&address).len(), 64, "{address}");
        assert_eq!(signer("secret\n").verify(local(&address), DOMAIN, TODAY).unwrap(), Uuid::max());
    }

    #[test]
    fn day_digits() {
        for day in [0, 1, 31, 32, 1023, 19_884, u64::MAX] {
            assert_eq!(decode_day(&encode_day(day)), Some(day), "{day}");
        }
        assert_eq!(encode_day(0), "a");
        assert_eq!(decode_day("ab"), None);
        assert_eq!(decode_day(""), None);
        assert_eq!(decode_day("8"), None);
        assert_eq!(decode_day("7777777777777"), None, "overflows u64");
    }

    #[test]
    fn accepts_any_case_and_a_trailing_dot_in_the_domain() {
        let signer = signer("secret\n");
        let address = signer.address(id(), DOMAIN, TODAY);
        let upper = local(&address).to_ascii_uppercase();
        assert_eq!(signer.verify(&upper, "ALIAS.example.", TODAY).unwrap(), id());
    }

    #[test]
    fn other_domain_fails() {
        let signer = signer("secret\n");
        let address = signer.address(id(), DOMAIN, TODAY);
        assert_eq!(signer.verify(local(&address), "other.example", TODAY), Err(BounceError::Forged));
    }

    #[test]
    fn tampering_fails() {
        let signer = signer("secret\n");
        let address = signer.address(id(), DOMAIN, TODAY);
        let local = local(&address);
        let other_id = base32(Uuid::from_u128(1).as_bytes());
        let later = encode_day(TODAY + 365);
        let fields: Vec<&str> = local.trim_start_matches(PREFIX).split('.').collect();
        let forged = [
            format!("{PREFIX}{other_id}.{}.{}", fields[1], fields[2]),
            format!("{PREFIX}{}.{later}.{}", fields[0], fields[2]),
            format!("{PREFIX}{}.{}.{}", fields[0], fields[1], base32(&[0u8; MAC_LEN])),
        ];
        for candidate in forged {
            assert_eq!(signer.verify(&candidate, DOMAIN, TODAY), Err(BounceError::Forged), "{candidate}");
        }
        // A different secret does not verify it either.
        assert_eq!(self::signer("other\n").verify(local, DOMAIN, TODAY), Err(BounceError::Forged));
    }

    #[test]
    fn expires_after_the_expiry_day() {
        let signer = signer("secret\n");
        let address = signer.address(id(), DOMAIN, TODAY);
        assert_eq!(signer.verify(local(&address), DOMAIN, TODAY).unwrap(), id());
        assert_eq!(signer.verify(local(&address), DOMAIN, TODAY + 1), Err(BounceError::Expired { message_id: id() }));
    }

    #[test]
    fn rotated_secret_verifies_and_the_new_one_signs() {
        let old = signer("old\n");
        let rotated = signer("new\nold\n");
        let before = old.address(id(), DOMAIN, TODAY);
        assert_eq!(rotated.verify(local(&before), DOMAIN, TODAY).unwrap(), id());
        let after = rotated.address(id(), DOMAIN, TODAY);
        assert_ne!(after, before);
        assert_eq!(signer("new\n").verify(local(&after), DOMAIN, TODAY).unwrap(), id());
        assert_eq!(old.verify(local(&after), DOMAIN, TODAY), Err(BounceError::Forged));
    }

    #[test]
    fn key_is_derived_not_the_raw_secret() {
        let signer = signer("secret\n");
        let address = signer.address(id(), DOMAIN, TODAY);
        let mut direct = hmac(b"secret");
        direct.update(id().as_bytes());
        direct.update(&TODAY.to_be_bytes());
        direct.update(DOMAIN.as_bytes());
        let direct = base32(&direct.finalize().into_bytes()[..MAC_LEN]);
        assert!(!address.contains(&direct), "the SRS secret keyed the bounce MAC directly");
    }

    #[test]
    fn not_bounce_and_malformed() {
        let signer = signer("secret\n");
        for local in ["alice", "bounce", "bounce-x", "SRS0=abcd=AB=x=y", ""] {
            assert_eq!(signer.verify(local, DOMAIN, TODAY), Err(BounceError::NotBounce), "{local}");
            assert!(!BounceSigner::is_bounce(local));
        }
        let good = signer.address(id(), DOMAIN, TODAY);
        let fields: Vec<String> = local(&good).trim_start_matches(PREFIX).split('.').map(str::to_owned).collect();
        for local in [
            "bounce+".to_owned(),
            "bounce+a.b".to_owned(),
            format!("bounce+{}.{}.{}.x", fields[0], fields[1], fields[2]),
            format!("bounce+{}x.{}.{}", fields[0], fields[1], fields[2]),
            format!("bounce+{}.a{}.{}", fields[0], fields[1], fields[2]),
            format!("bounce+{}.{}.{}", fields[0], fields[1], &fields[2][1..]),
            format!("bounce+{}.{}.{}", &fields[0][..25], fields[1], fields[2]),
            format!("bounce+{}.{}.{}1", fields[0], fields[1], &fields[2][1..]),
        ] {
            assert_eq!(signer.verify(&local, DOMAIN, TODAY), Err(BounceError::Malformed), "{local}");
        }
        assert!(BounceSigner::is_bounce("BOUNCE+x"));
        assert!(!BounceSigner::is_bounce("bounceé"));
    }

    #[test]
    fn debug_hides_keys() {
        let shown = format!("{:?}", signer("secret\n"));
        assert!(shown.contains("1 redacted"), "{shown}");
    }
}

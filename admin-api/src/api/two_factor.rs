//! Two-factor authentication: TOTP (RFC 6238 with HMAC-SHA-1, 6 digits, 30-second steps, one
//! step of clock skew either way, as every authenticator app expects) and single-use backup
//! codes. Each accepted TOTP code spends its time step (RFC 6238 §5.2), so an observed code
//! cannot be replayed within its window.

use super::{
    ApiError, ApiState,
    limits::{Limit, RateKey},
};
use chrono::{DateTime, Utc};
use data_encoding::BASE32_NOPAD;
use qrcode::{EcLevel, QrCode, render::svg};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use smtpy_shared::{
    db::Conn,
    models::{BackupCode, TotpSecret},
    sealed::SealKey,
};
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;

/// The issuer authenticator apps show next to the account.
pub const ISSUER: &str = "SMTPy";
/// Secret length: 160 bits, the length RFC 4226 §4 (R6) recommends for HMAC-SHA-1.
const SECRET_BYTES: usize = 20;
/// Digits per code.
const DIGITS: u8 = 6;
/// Seconds per time step.
const STEP_SECONDS: u64 = 30;
/// How many backup codes a set has.
pub const BACKUP_CODES: usize = 10;
/// Random bytes per backup code: 80 bits, far beyond guessing, so a fast hash suffices.
const BACKUP_CODE_BYTES: usize = 10;

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).map_err(|_| ApiError::Internal("the OS random source failed".to_owned()))?;
    Ok(bytes)
}

/// The TOTP parameters for `secret`, labelled with `account` for the otpauth URI.
fn totp(secret: &[u8], account: &str) -> Result<Totp, ApiError> {
    // The label's issuer and account are separated by ':', which therefore may not appear in
    // either (Key Uri Format); it is only a label, so drop it.
    let account: String = account.chars().filter(|c| *c != ':').collect();
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_skew(1)
        .with_secret(secret.to_vec())
        .with_account_name(account)
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(|e| ApiError::Internal(format!("cannot set up TOTP: {e}")))
}

/// The time step (unix time / 30) of the code `code` for `secret` at `now`, allowing one step
/// of skew either way; `None` when it matches none. Spaces in the code are ignored.
pub fn matching_step(secret: &[u8], code: &str, now: DateTime<Utc>) -> Result<Option<i64>, ApiError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let Ok(unix) = u64::try_from(now.timestamp()) else {
        return Err(ApiError::Internal(format!("the clock is before 1970: {now}")));
    };
    Ok(totp(secret, "")?.check(&code, unix).and_then(|step| i64::try_from(step).ok()))
}

/// A freshly generated secret, as the owner sees it once and as it is stored.
pub struct Enrolment {
    /// The secret in base32 (for typing into an app).
    pub secret: String,
    /// `otpauth://totp/SMTPy:<email>?secret=...&issuer=SMTPy`.
    pub otpauth_uri: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
    /// The secret sealed for the account.
    pub sealed: String,
}

/// Generates a secret for `user_id` (whose address is `email`) and seals it.
pub fn enrol(seal: &SealKey, user_id: Uuid, email: &str) -> Result<Enrolment, ApiError> {
    let secret = random::<SECRET_BYTES>()?;
    let otpauth_uri =
        totp(&secret, email)?.to_url().map_err(|e| ApiError::Internal(format!("cannot write the otpauth URI: {e}")))?;
    let qr_svg = QrCode::with_error_correction_level(otpauth_uri.as_bytes(), EcLevel::M)
        .map_err(|e| ApiError::Internal(format!("cannot encode the QR code: {e}")))?
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let sealed = seal
        .try_seal(&secret, &TotpSecret::seal_context(user_id))
        .map_err(|e| ApiError::Internal(format!("cannot seal a TOTP secret: {e}")))?;
    Ok(Enrolment { secret: BASE32_NOPAD.encode(&secret), otpauth_uri, qr_svg, sealed })
}

/// Opens a stored secret.
pub fn open(seal: &SealKey, row: &TotpSecret) -> Result<Vec<u8>, ApiError> {
    seal.open(&row.secret_sealed, &TotpSecret::seal_context(row.user_id))
        .map_err(|e| ApiError::Internal(format!("cannot open the TOTP secret of user {}: {e}", row.user_id)))
}

/// Counts one second-factor attempt of `user_id` against `[api] rate_limit_two_factor`: one
/// counter for login and every endpoint that takes a code, since each is a chance to guess.
pub async fn count_attempt(state: &ApiState, user_id: Uuid) -> Result<(), ApiError> {
    state.limits.check(&state.db, Limit::TwoFactor, &[RateKey::user(user_id)]).await
}

/// Checks `code` against the confirmed secret `row` at the state's time and spends its time
/// step, so the same code (or an older one) is refused from then on.
pub async fn check_totp(state: &ApiState, conn: &mut Conn, row: &TotpSecret, code: &str) -> Result<(), ApiError> {
    let secret = open(&state.seal, row)?;
    let Some(step) = matching_step(&secret, code, state.now())? else {
        return Err(ApiError::InvalidTotp(
            "the two-factor code is wrong; check the time on the device that shows it".to_owned(),
        ));
    };
    if !state.bounded(TotpSecret::spend_step(conn, row.user_id, step)).await? {
        return Err(ApiError::InvalidTotp("this two-factor code was used already; wait for the next one".to_owned()));
    }
    Ok(())
}

/// Spends `user_id`'s backup code `code`.
pub async fn check_backup_code(state: &ApiState, conn: &mut Conn, user_id: Uuid, code: &str) -> Result<(), ApiError> {
    let hash = backup_code_hash(code);
    if !state.bounded(BackupCode::spend(conn, user_id, &hash, state.now())).await? {
        return Err(ApiError::InvalidBackupCode);
    }
    Ok(())
}

/// Whether `user_id` has two-factor login on.
pub async fn is_enabled(state: &ApiState, conn: &mut Conn, user_id: Uuid) -> Result<bool, ApiError> {
    Ok(state.bounded(TotpSecret::for_user(conn, user_id)).await?.is_some_and(|s| s.is_confirmed()))
}

/// A new set of backup codes: the codes to show once, and the hashes to store.
pub fn new_backup_codes() -> Result<(Vec<String>, Vec<[u8; 32]>), ApiError> {
    let mut codes = Vec::with_capacity(BACKUP_CODES);
    for _ in 0..BACKUP_CODES {
        // 16 base32 characters in groups of four: easy to copy by hand.
        let raw = BASE32_NOPAD.encode(&random::<BACKUP_CODE_BYTES>()?).to_ascii_lowercase();
        let groups: Vec<&str> = raw.as_bytes().chunks(4).filter_map(|c| std::str::from_utf8(c).ok()).collect();
        codes.push(groups.join("-"));
    }
    let hashes = codes.iter().map(|c| backup_code_hash(c)).collect();
    Ok((codes, hashes))
}

/// SHA-256 of a backup code, ignoring case, spaces and dashes (people retype them).
pub fn backup_code_hash(code: &str) -> [u8; 32] {
    let normal: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_lowercase()).collect();
    Sha256::digest(normal.as_bytes()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The SHA-1 seed of RFC 6238 Appendix B.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).unwrap()
    }

    fn code_at(secret: &[u8], now: DateTime<Utc>) -> Result<String, ApiError> {
        Ok(totp(secret, "")?.generate(u64::try_from(now.timestamp()).unwrap()).to_string())
    }

    #[test]
    fn rfc_6238_sha1_vectors() {
        // Appendix B lists 8-digit codes; a 6-digit code is the same value mod 10^6, i.e.
        // its last six digits.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (unix, eight) in vectors {
            let six = &eight[2..];
            assert_eq!(code_at(RFC_SECRET, at(unix)).unwrap(), six, "T={unix}");
            assert_eq!(matching_step(RFC_SECRET, six, at(unix)).unwrap(), Some(unix / 30), "T={unix}");
        }
    }

    #[test]
    fn one_step_of_skew_each_way_and_no_more() {
        let code = code_at(RFC_SECRET, at(1_111_111_109)).unwrap();
        let step = 1_111_111_109 / 30;
        assert_eq!(matching_step(RFC_SECRET, &code, at(1_111_111_109 + 30)).unwrap(), Some(step));
        assert_eq!(matching_step(RFC_SECRET, &code, at(1_111_111_109 - 30)).unwrap(), Some(step));
        assert_eq!(matching_step(RFC_SECRET, &code, at(1_111_111_109 + 60)).unwrap(), None);
        assert_eq!(matching_step(RFC_SECRET, "000000", at(1_111_111_109)).unwrap(), None);
        assert_eq!(matching_step(RFC_SECRET, "081 804", at(1_111_111_109)).unwrap(), Some(step));
        for malformed in ["", "08180", "0818044", "+81804", "abcdef"] {
            assert_eq!(matching_step(RFC_SECRET, malformed, at(1_111_111_109)).unwrap(), None, "{malformed:?}");
        }
    }

    #[test]
    fn enrolment_gives_a_uri_and_qr_code_for_the_sealed_secret() {
        let seal = SealKey::from_bytes(&[4; 32]).unwrap();
        let user = Uuid::new_v4();
        let e = enrol(&seal, user, "owner@example.org").unwrap();
        assert!(e.otpauth_uri.starts_with("otpauth://totp/SMTPy:owner%40example.org?"), "{}", e.otpauth_uri);
        assert!(e.otpauth_uri.contains(&format!("secret={}", e.secret)) && e.otpauth_uri.contains("issuer=SMTPy"));
        assert!(e.qr_svg.contains("<svg"), "{}", &e.qr_svg[..100]);
        let opened = seal.open(&e.sealed, &TotpSecret::seal_context(user)).unwrap();
        assert_eq!(BASE32_NOPAD.encode(&opened), e.secret);
        assert_eq!(opened.len(), SECRET_BYTES);
        assert!(seal.open(&e.sealed, &TotpSecret::seal_context(Uuid::new_v4())).is_err());
    }

    #[test]
    fn backup_codes_are_distinct_and_hash_as_retyped() {
        let (codes, hashes) = new_backup_codes().unwrap();
        assert_eq!(codes.len(), BACKUP_CODES);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), BACKUP_CODES);
        assert_eq!(codes[0].len(), 19, "{}", codes[0]);
        assert_eq!(backup_code_hash(&codes[0].to_uppercase().replace('-', " ")), hashes[0]);
        assert_ne!(backup_code_hash(&codes[1]), hashes[0]);
    }
}

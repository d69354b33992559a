//! argon2id password hashing, off the async threads.

use super::ApiError;
use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::sync::OnceLock;

/// Passwords shorter than this are refused.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer ones too: hashing is the expensive part of a request.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Refuses a password that is too short or too long, saying what is needed.
pub fn check_strength(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(ApiError::InvalidInput(format!("the password must have at least {MIN_PASSWORD_CHARS} characters")));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(ApiError::InvalidInput(format!("the password must have at most {MAX_PASSWORD_CHARS} characters")));
    }
    Ok(())
}

fn hash_now(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("cannot hash a password: {e}")))
}

/// Hashes a password with argon2id (a blocking-pool thread: it takes tens of milliseconds).
pub async fn hash(password: String) -> Result<String, ApiError> {
    actix_web::web::block(move || hash_now(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("the hashing thread failed: {e}")))?
}

/// Whether `password` matches `stored`. With no stored hash (unknown account) a dummy hash is
/// verified instead, so the answer takes as long as for a real account and timing does not
/// reveal which addresses have accounts.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    static DUMMY: OnceLock<Result<String, String>> = OnceLock::new();
    let known = stored.is_some();
    let stored = match stored {
        Some(s) => s,
        None => DUMMY
            .get_or_init(|| hash_now("not a password anyone uses").map_err(|e| e.to_string()))
            .clone()
            .map_err(ApiError::Internal)?,
    };
    let matches = actix_web::web::block(move || {
        PasswordHash::new(&stored)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .map_err(|e| ApiError::Internal(format!("a stored password hash is malformed: {e}")))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the hashing thread failed: {e}")))??;
    Ok(known && matches)
}

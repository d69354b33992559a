//! `POST /auth/2fa/enable`

use crate::api::{ApiError, ApiState, ErrorBody, auth::Writer, two_factor};
use actix_web::web;
use serde::Serialize;
use smtpy_shared::models::TotpSecret;
use utoipa::ToSchema;

/// A new TOTP secret, shown this once: add it to an authenticator app, then confirm with
/// `POST /auth/2fa/verify`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwoFactorEnrolment {
    /// The secret in base32, for typing into the app.
    pub secret: String,
    /// `otpauth://totp/SMTPy:<email>?secret=...&issuer=SMTPy` (SHA-1, 6 digits, 30 seconds).
    pub otpauth_uri: String,
    /// `otpauth_uri` as an SVG QR code, for scanning.
    pub qr_svg: String,
}

/// Starts turning on two-factor login: stores a new secret (sealed) as pending and returns
/// it. Login does not ask for codes until `POST /auth/2fa/verify` confirms it; calling this
/// again before that replaces the pending secret. Needs a login session (not an API key).
#[utoipa::path(post, path = "/api/v1/auth/2fa/enable", tag = "two-factor",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The pending secret", body = TwoFactorEnrolment),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token, or an API key", body = ErrorBody),
        (status = 409, description = "Two-factor login is on already", body = ErrorBody),
    ))]
pub async fn enable_two_factor(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
) -> Result<web::Json<TwoFactorEnrolment>, ApiError> {
    caller.require_session()?;
    let user = &caller.user;
    let enrolment = two_factor::enrol(&state.seal, user.id, &user.email)?;
    let mut conn = state.conn().await?;
    if state.bounded(TotpSecret::store_pending(&mut conn, user.id, &enrolment.sealed)).await?.is_none() {
        return Err(already_on());
    }
    tracing::info!(user = %user.id, "two-factor enrolment started");
    Ok(web::Json(TwoFactorEnrolment {
        secret: enrolment.secret,
        otpauth_uri: enrolment.otpauth_uri,
        qr_svg: enrolment.qr_svg,
    }))
}

/// The answer when two-factor login is on already.
pub fn already_on() -> ApiError {
    ApiError::Conflict("two-factor login is on already; turn it off first to change the secret".to_owned())
}

//! `POST /auth/2fa/disable`

use crate::api::{ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo, password, two_factor};
use actix_web::{HttpResponse, web};
use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, BackupCode, TotpSecret};
use utoipa::ToSchema;

/// Both factors, to turn the second one off.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableTwoFactorRequest {
    /// The account's password.
    pub password: String,
    /// A current code from the authenticator app, or an unused backup code (for a lost device).
    pub code: String,
}

/// Turns two-factor login off: the secret and the backup codes are deleted. Needs the password
/// and a code, and a login session (not an API key). Attempts are limited per account
/// (`[api] rate_limit_two_factor`, shared with login), counted before the password is checked
/// so that neither factor can be guessed here faster than at login.
#[utoipa::path(post, path = "/api/v1/auth/2fa/disable", tag = "two-factor", request_body = DisableTwoFactorRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 204, description = "Two-factor login is off"),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not logged in; or the password (`wrong_password`), TOTP code \
            (`invalid_totp`) or backup code (`invalid_backup_code`) is wrong", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token, or an API key", body = ErrorBody),
        (status = 409, description = "Two-factor login is not on", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    ))]
pub async fn disable_two_factor(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<DisableTwoFactorRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_session()?;
    let DisableTwoFactorRequest { password, code } = body.into_inner();
    let user_id = caller.user.id;
    two_factor::count_attempt(&state, user_id).await?;
    if !password::verify(password, Some(caller.user.password_hash.clone())).await? {
        return Err(ApiError::WrongPassword);
    }
    let mut conn = state.conn().await?;
    let Some(totp) = state.bounded(TotpSecret::for_user(&mut conn, user_id)).await?.filter(TotpSecret::is_confirmed)
    else {
        return Err(ApiError::Conflict("two-factor login is not on".to_owned()));
    };
    let with = if is_totp_shaped(&code) {
        two_factor::check_totp(&state, &mut conn, &totp, &code).await?;
        "totp"
    } else {
        two_factor::check_backup_code(&state, &mut conn, user_id, &code).await?;
        "backup_code"
    };
    state
        .bounded(conn.transaction(async |conn| {
            TotpSecret::delete_for_user(conn, user_id).await?;
            BackupCode::delete_for_user(conn, user_id).await?;
            let details = json!({"confirmed_with": with});
            activity::record(conn, user_id, ActivityAction::TwoFactorDisabled, &client, details).await
        }))
        .await?;
    tracing::info!(user = %user_id, "two-factor login turned off");
    Ok(HttpResponse::NoContent().finish())
}

/// Six digits (spaces aside) is a TOTP code; a backup code has letters and dashes.
fn is_totp_shaped(code: &str) -> bool {
    let digits: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == 6 && digits.iter().all(char::is_ascii_digit)
}

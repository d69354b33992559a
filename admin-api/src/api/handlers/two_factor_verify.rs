//! `POST /auth/2fa/verify`

use super::two_factor_enable::already_on;
use crate::api::{ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo, two_factor};
use actix_web::web;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use smtpy_shared::models::{ActivityAction, BackupCode, TotpSecret};
use utoipa::ToSchema;

/// A code from the authenticator app.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TwoFactorCode {
    /// The 6-digit code the app shows now.
    pub code: String,
}

/// A new set of backup codes, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupCodes {
    /// Ten codes; each logs in once in place of a TOTP code (`backup_code` at login).
    pub codes: Vec<String>,
}

/// Confirms the pending secret with a current code from it, which turns two-factor login on,
/// and returns the first set of backup codes. Needs a login session (not an API key). Code
/// attempts are limited per account (`[api] rate_limit_two_factor`, shared with login).
#[utoipa::path(post, path = "/api/v1/auth/2fa/verify", tag = "two-factor", request_body = TwoFactorCode,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Two-factor login is on; keep the backup codes", body = BackupCodes),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not logged in, or the code is wrong (`invalid_totp`)", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token, or an API key", body = ErrorBody),
        (status = 409, description = "Nothing pending (call enable first), or on already", body = ErrorBody),
        (status = 429, description = "Too many code attempts; see Retry-After", body = ErrorBody),
    ))]
pub async fn verify_two_factor(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<TwoFactorCode>,
) -> Result<web::Json<BackupCodes>, ApiError> {
    caller.require_session()?;
    let user_id = caller.user.id;
    two_factor::count_attempt(&state, user_id).await?;
    let mut conn = state.conn().await?;
    let pending = match state.bounded(TotpSecret::for_user(&mut conn, user_id)).await? {
        Some(s) if s.is_confirmed() => return Err(already_on()),
        Some(s) => s,
        None => return Err(nothing_pending()),
    };
    let secret = two_factor::open(&state.seal, &pending)?;
    let Some(step) = two_factor::matching_step(&secret, &body.code, state.now())? else {
        return Err(ApiError::InvalidTotp(
            "the code does not match the new secret; check the time on the device that shows it".to_owned(),
        ));
    };
    let (codes, hashes) = two_factor::new_backup_codes()?;
    let now = state.now();
    // Confirmation and the first backup codes together: two-factor is never on without them.
    let confirmed = state
        .bounded(conn.transaction(async |conn| {
            if !TotpSecret::confirm(conn, &pending, step, now).await? {
                return Ok(false);
            }
            BackupCode::replace_all(conn, user_id, &hashes).await?;
            activity::record(conn, user_id, ActivityAction::TwoFactorEnabled, &client, Value::Null).await?;
            Ok(true)
        }))
        .await?;
    if !confirmed {
        // Another request confirmed or replaced it in between.
        return Err(nothing_pending());
    }
    tracing::info!(user = %user_id, "two-factor login turned on");
    Ok(web::Json(BackupCodes { codes }))
}

fn nothing_pending() -> ApiError {
    ApiError::Conflict("no two-factor secret is waiting for confirmation; call POST /auth/2fa/enable first".to_owned())
}

//! `POST /auth/2fa/backup-codes`

use super::two_factor_verify::{BackupCodes, TwoFactorCode};
use crate::api::{ApiError, ApiState, ErrorBody, activity, auth::Writer, client::ClientInfo, two_factor};
use actix_web::web;
use diesel_async::AsyncConnection;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, BackupCode, TotpSecret};

/// Replaces the backup codes with a new set; the old codes stop working. Needs a current code
/// from the authenticator app (not a backup code: whoever holds only those should turn
/// two-factor off and on again), and a login session (not an API key). Code attempts are
/// limited per account (`[api] rate_limit_two_factor`, shared with login).
#[utoipa::path(post, path = "/api/v1/auth/2fa/backup-codes", tag = "two-factor", request_body = TwoFactorCode,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The new codes; the old ones no longer work", body = BackupCodes),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Not logged in, or the code is wrong or used (`invalid_totp`)", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token, or an API key", body = ErrorBody),
        (status = 409, description = "Two-factor login is not on", body = ErrorBody),
        (status = 429, description = "Too many code attempts; see Retry-After", body = ErrorBody),
    ))]
pub async fn regenerate_backup_codes(
    client: ClientInfo,
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<TwoFactorCode>,
) -> Result<web::Json<BackupCodes>, ApiError> {
    caller.require_session()?;
    let user_id = caller.user.id;
    two_factor::count_attempt(&state, user_id).await?;
    let mut conn = state.conn().await?;
    let Some(totp) = state.bounded(TotpSecret::for_user(&mut conn, user_id)).await?.filter(TotpSecret::is_confirmed)
    else {
        return Err(ApiError::Conflict("two-factor login is not on; there are no backup codes".to_owned()));
    };
    two_factor::check_totp(&state, &mut conn, &totp, &body.code).await?;
    let (codes, hashes) = two_factor::new_backup_codes()?;
    state
        .bounded(conn.transaction(async |conn| {
            BackupCode::replace_all(conn, user_id, &hashes).await?;
            let details = json!({"codes": hashes.len()});
            activity::record(conn, user_id, ActivityAction::BackupCodesRegenerated, &client, details).await
        }))
        .await?;
    tracing::info!(user = %user_id, "backup codes replaced");
    Ok(web::Json(BackupCodes { codes }))
}

//! `POST /auth/password-reset/confirm`

use crate::api::{ApiError, ApiState, ErrorBody, account_mail, activity, client::ClientInfo, password, views::Notice};
use actix_web::web;
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, Session, TokenPurpose, User};
use utoipa::ToSchema;

/// The token from the reset link and the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirmRequest {
    /// The `token` parameter of the mailed link.
    pub token: String,
    /// The new password, 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    pub password: String,
}

/// Sets a new password with a reset link's token, which it spends, and signs out every
/// session of the account (whoever knew the old password is out). API keys stay: they are
/// separate credentials the owner manages. Following the link also proves the address. The
/// change goes to the account's activity log (`password_reset`).
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth",
    request_body = PasswordResetConfirmRequest,
    responses(
        (status = 200, description = "Password changed; every session is signed out", body = Notice),
        (status = 400, description = "Weak password (invalid_input), or unknown, used or expired link (invalid_token)",
            body = ErrorBody),
    ))]
pub async fn confirm_password_reset(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<PasswordResetConfirmRequest>,
) -> Result<web::Json<Notice>, ApiError> {
    let PasswordResetConfirmRequest { token, password } = body.into_inner();
    password::check_strength(&password)?;
    let password_hash = password::hash(password).await?;
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let state_ref = &state;
    let (user_id, revoked) = conn
        .transaction(async |conn| {
            let spent = account_mail::spend_token(conn, state_ref, TokenPurpose::PasswordReset, &token, now).await?;
            User::set_password_hash(conn, spent.user_id, &password_hash).await?;
            let revoked = Session::revoke_all_except(conn, spent.user_id, None, now).await?;
            User::mark_email_verified(conn, spent.user_id, &spent.email, now).await?;
            let details = json!({"sessions_revoked": revoked});
            activity::record(conn, spent.user_id, ActivityAction::PasswordReset, &client, details).await?;
            Ok::<_, ApiError>((spent.user_id, revoked))
        })
        .await?;
    tracing::info!(user = %user_id, revoked, "password reset");
    Ok(web::Json(Notice { message: "your password is changed; log in with it".to_owned() }))
}

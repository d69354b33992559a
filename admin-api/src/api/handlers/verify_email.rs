//! `POST /auth/verify-email`

use crate::api::{
    ApiError, ApiState, ErrorBody, account_mail, activity, client::ClientInfo, two_factor, views::UserView,
};
use actix_web::web;
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::Deserialize;
use serde_json::json;
use smtpy_shared::models::{ActivityAction, TokenPurpose, User};
use utoipa::ToSchema;

/// The token from the verification link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The `token` parameter of the mailed link.
    pub token: String,
}

/// Marks the account's address verified. Needs no login: the token, mailed to the address,
/// is the proof, and the link may be opened on another device. Each token works once. The
/// verification goes to the account's activity log (`email_verified`).
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is verified", body = UserView),
        (status = 400, description = "invalid_token: unknown, used or expired link", body = ErrorBody),
    ))]
pub async fn verify_email(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<VerifyEmailRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let state_ref = &state;
    // The token is spent exactly when the verification and its log entry are written.
    let user = conn
        .transaction(async |conn| {
            let token = account_mail::spend_token(conn, state_ref, TokenPurpose::VerifyEmail, &body.token, now).await?;
            let user = state_ref
                .bounded(User::mark_email_verified(conn, token.user_id, &token.email, now))
                .await?
                .ok_or_else(|| {
                    ApiError::InvalidToken("this link was for an address the account no longer has".to_owned())
                })?;
            let details = json!({"email": user.email});
            state_ref.bounded(activity::record(conn, user.id, ActivityAction::EmailVerified, &client, details)).await?;
            Ok::<_, ApiError>(user)
        })
        .await?;
    tracing::info!(user = %user.id, "email address verified");
    let two_factor = two_factor::is_enabled(&state, &mut conn, user.id).await?;
    Ok(web::Json(UserView::new(&user, two_factor)))
}

//! `POST /auth/verify-email`

use crate::api::{ApiError, ApiState, ErrorBody, account_mail, two_factor, views::UserView};
use actix_web::web;
use chrono::Utc;
use serde::Deserialize;
use smtpy_shared::models::{TokenPurpose, User};
use utoipa::ToSchema;

/// The token from the verification link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The `token` parameter of the mailed link.
    pub token: String,
}

/// Marks the account's address verified. Needs no login: the token, mailed to the address,
/// is the proof, and the link may be opened on another device. Each token works once.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "The address is verified", body = UserView),
        (status = 400, description = "invalid_token: unknown, used or expired link", body = ErrorBody),
    ))]
pub async fn verify_email(
    state: web::Data<ApiState>,
    body: web::Json<VerifyEmailRequest>,
) -> Result<web::Json<UserView>, ApiError> {
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let token = account_mail::spend_token(&mut conn, &state, TokenPurpose::VerifyEmail, &body.token, now).await?;
    let user = state
        .bounded(User::mark_email_verified(&mut conn, token.user_id, &token.email, now))
        .await?
        .ok_or_else(|| ApiError::InvalidToken("this link was for an address the account no longer has".to_owned()))?;
    tracing::info!(user = %user.id, "email address verified");
    let two_factor = two_factor::is_enabled(&state, &mut conn, user.id).await?;
    Ok(web::Json(UserView::new(&user, two_factor)))
}

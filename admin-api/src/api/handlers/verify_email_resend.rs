//! `POST /auth/verify-email/resend`

use crate::api::{
    ApiError, ApiState, ErrorBody, account_mail,
    auth::Writer,
    limits::{Limit, RateKey},
    views::Notice,
};
use actix_web::{HttpResponse, web};

/// Mails the caller a new verification link; the previous one stops working. Limited per
/// account (`[api] rate_limit_verification_resend`), so an account cannot be used to flood its
/// own address (which need not be the caller's).
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "A new link is on its way", body = Notice),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 409, description = "The address is verified already", body = ErrorBody),
        (status = 429, description = "Too many links sent; see Retry-After", body = ErrorBody),
    ))]
pub async fn resend_verification(state: web::Data<ApiState>, Writer(caller): Writer) -> Result<HttpResponse, ApiError> {
    if caller.user.email_verified_at.is_some() {
        return Err(ApiError::Conflict("this address is verified already".to_owned()));
    }
    state.limits.check(&state.db, Limit::VerificationResend, &[RateKey::user(caller.user.id)]).await?;
    let mut conn = state.conn().await?;
    account_mail::send_verification(&mut conn, &state, &caller.user).await?;
    Ok(HttpResponse::Accepted()
        .json(Notice { message: format!("a new verification link is on its way to {}", caller.user.email) }))
}

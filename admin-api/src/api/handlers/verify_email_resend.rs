//! `POST /auth/verify-email/resend`

use crate::api::{ApiError, ApiState, ErrorBody, account_mail, auth::Writer, views::Notice};
use actix_web::{HttpResponse, web};

/// Mails the caller a new verification link; the previous one stops working.
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 202, description = "A new link is on its way", body = Notice),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 409, description = "The address is verified already", body = ErrorBody),
    ))]
pub async fn resend_verification(state: web::Data<ApiState>, Writer(caller): Writer) -> Result<HttpResponse, ApiError> {
    if caller.user.email_verified_at.is_some() {
        return Err(ApiError::Conflict("this address is verified already".to_owned()));
    }
    let mut conn = state.conn().await?;
    account_mail::send_verification(&mut conn, &state, &caller.user).await?;
    Ok(HttpResponse::Accepted()
        .json(Notice { message: format!("a new verification link is on its way to {}", caller.user.email) }))
}

//! `POST /auth/password-reset`

use crate::api::{
    ApiError, ApiState, ErrorBody, account_mail, activity,
    client::ClientInfo,
    limits::{Limit, RateKey},
    views::Notice,
};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use smtpy_shared::{
    address::Address,
    models::{ActivityAction, User},
};
use utoipa::ToSchema;

/// Whose password to reset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's email.
    #[schema(format = Email)]
    pub email: String,
}

/// The one answer, whether or not an account has the address.
const SENT: &str = "if an account has this address, a password-reset link is on its way to it";

/// Mails a single-use password-reset link (valid one hour) if an enabled account has this
/// address. The answer is the same either way, and the mail is queued rather than sent
/// inline, so neither the response nor its timing tells which addresses have accounts.
/// Requests are limited per client address and per email (`[api] rate_limit_password_reset`),
/// counted before the address is looked up, so a known and an unknown address are limited alike.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted (the same for every well-formed address)", body = Notice),
        (status = 400, description = "Not an email address", body = ErrorBody),
        (status = 429, description = "Too many requests from this address or for this email; see Retry-After",
            body = ErrorBody),
    ))]
pub async fn request_password_reset(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<PasswordResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let keys = [RateKey::ip(client.ip), RateKey::email(&body.email)];
    state.limits.check(&state.db, Limit::PasswordReset, &keys).await?;
    let email = Address::parse(&body.email).map_err(|e| ApiError::InvalidInput(format!("email: {e}")))?.to_string();
    let mut conn = state.conn().await?;
    let user = state.bounded(User::by_email(&mut conn, &email)).await?;
    if let Some(user) = user.filter(|u| !u.disabled) {
        // A failure must not change the answer, or the answer would tell that the account exists.
        if let Err(e) = account_mail::send_password_reset(&mut conn, &state, &user).await {
            tracing::error!(user = %user.id, error = %e, "cannot issue a password-reset link");
        }
        // Nor may a failure to record it: a 500 for known addresses only would tell them apart.
        let recorded =
            activity::record(&mut conn, user.id, ActivityAction::PasswordResetRequested, &client, Value::Null);
        if let Err(e) = state.bounded(recorded).await {
            tracing::error!(user = %user.id, error = %e, "cannot record a password-reset request");
        }
    }
    Ok(HttpResponse::Accepted().json(Notice { message: SENT.to_owned() }))
}

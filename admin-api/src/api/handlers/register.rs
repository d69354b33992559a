//! `POST /auth/register`

use crate::api::{
    ApiError, ApiState, ErrorBody,
    client::ClientInfo,
    limits::{Limit, RateKey},
    password,
    views::UserView,
};
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use smtpy_shared::{
    address::Address,
    db::is_unique_violation,
    models::{NewUser, User},
};
use utoipa::ToSchema;

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Login and contact address.
    pub email: String,
    /// At least 12 characters.
    pub password: String,
}

/// Creates an account. An address that has one already gets 409: registration reveals which
/// addresses have accounts, as most services' sign-up forms do; the per-IP rate limit bounds
/// how fast anyone can probe (the privacy-preserving alternative, "check your mail" either
/// way, needs the verification mail, which comes with email verification).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created; log in next", body = UserView),
        (status = 400, description = "Bad email or weak password", body = ErrorBody),
        (status = 403, description = "Registration is closed", body = ErrorBody),
        (status = 409, description = "An account with this email exists", body = ErrorBody),
        (status = 429, description = "Too many registrations from this address; see Retry-After", body = ErrorBody),
    ))]
pub async fn register(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<RegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    if !state.registration_open {
        return Err(ApiError::Forbidden("registration is closed; ask the administrator for an account".to_owned()));
    }
    state.limits.check(&state.db, Limit::Register, &[RateKey::ip(client.ip)]).await?;
    let RegisterRequest { email, password } = body.into_inner();
    let email = Address::parse(&email).map_err(|e| ApiError::InvalidInput(format!("email: {e}")))?.to_string();
    password::check_strength(&password)?;
    let password_hash = password::hash(password).await?;
    let mut conn = state.conn().await?;
    let new = NewUser { email: &email, password_hash: &password_hash };
    // The unique violation is the answer, not a failure: keep diesel's error to look at it.
    let created = state.db.bounded(async { Ok(User::create(&mut conn, &new).await) }).await?;
    match created {
        Ok(user) => Ok(HttpResponse::Created().json(UserView::from(&user))),
        Err(e) if is_unique_violation(&e) => {
            Err(ApiError::Conflict("an account with this email exists already; log in instead".to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

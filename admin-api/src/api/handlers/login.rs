//! `POST /auth/login`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity,
    auth::SESSION_COOKIE,
    client::ClientInfo,
    device::device_label,
    limits::{Limit, RateKey},
    password, secrets,
    views::UserView,
};
use actix_web::{
    HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    web,
};
use chrono::Utc;
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use smtpy_shared::{
    address::Address,
    models::{ActivityAction, NewSession, Session, User},
};
use utoipa::ToSchema;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password.
    pub password: String,
}

/// A new session: the cookie is set; the CSRF token goes in `X-CSRF-Token` on every request
/// that changes state.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The account.
    pub user: UserView,
    /// Send back as `X-CSRF-Token` on POST, PUT, PATCH and DELETE.
    pub csrf_token: String,
}

/// The same answer for an unknown email, a wrong password and a disabled account, so the
/// response does not tell which addresses have accounts.
const WRONG: &str = "wrong email or password";

/// Logs in: sets the `smtpy_session` cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when
/// `[api] cookie_secure`). Attempts are limited per client address and per email
/// (`[api] rate_limit_login`); each success or refusal for an existing account goes to its
/// activity log.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password } = body.into_inner();
    state.limits.check(&state.db, Limit::Login, &[RateKey::ip(client.ip), RateKey::email(&email)]).await?;
    let mut conn = state.conn().await?;
    let user = match Address::parse(&email) {
        Ok(address) => state.bounded(User::by_email(&mut conn, &address.to_string())).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = password::verify(password, stored).await?;
    // An unknown email is not recorded: there is no account whose owner could read it.
    let Some(user) = user else { return Err(ApiError::Unauthorized(WRONG.to_owned())) };
    if !password_ok || user.disabled {
        let reason = if password_ok { "account_disabled" } else { "wrong_password" };
        let details = json!({"reason": reason});
        state.bounded(activity::record(&mut conn, user.id, ActivityAction::LoginFailed, &client, details)).await?;
        return Err(ApiError::Unauthorized(WRONG.to_owned()));
    }

    let (token, csrf_token) = (secrets::new_token()?, secrets::new_token()?);
    let (token_hash, csrf_token_hash) = (secrets::hash(&token), secrets::hash(&csrf_token));
    let device = client.user_agent.as_deref().and_then(device_label);
    let ip = client.ip_string();
    let now = Utc::now();
    let new = NewSession {
        user_id: user.id,
        token_hash: &token_hash,
        csrf_token_hash: &csrf_token_hash,
        user_agent: client.user_agent.as_deref(),
        device: device.as_deref(),
        ip: ip.as_deref(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.session_ttl,
    };
    state
        .bounded(conn.transaction(async |conn| {
            let session = Session::create(conn, &new).await?;
            let details = json!({"session_id": session.id});
            activity::record(conn, user.id, ActivityAction::LoginSucceeded, &client, details).await
        }))
        .await?;
    tracing::info!(user = %user.id, "login");

    let cookie = Cookie::build(SESSION_COOKIE, token)
        .path("/api")
        .http_only(true)
        .secure(state.cookie_secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(state.session_ttl.num_seconds()))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse { user: UserView::from(&user), csrf_token }))
}

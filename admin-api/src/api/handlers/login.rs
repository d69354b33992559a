//! `POST /auth/login`

use crate::api::{
    ApiError, ApiState, ErrorBody, account_mail, auth::SESSION_COOKIE, device::device_label, password, secrets,
    two_factor, views::UserView,
};
use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration as CookieDuration},
    http::header,
    web,
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use smtpy_shared::{
    address::Address,
    models::{NewSession, Session, TotpSecret, User},
};
use utoipa::ToSchema;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// Its password.
    pub password: String,
    /// The current code from the authenticator app, when two-factor login is on.
    pub totp_code: Option<String>,
    /// One of the backup codes instead (each works once), when two-factor login is on.
    pub backup_code: Option<String>,
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
/// A code field that was sent and is not blank (a form left empty counts as absent).
fn given(code: Option<&str>) -> Option<&str> {
    code.map(str::trim).filter(|c| !c.is_empty())
}

/// Stored User-Agents are cut to this many characters.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Logs in: sets the `smtpy_session` cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when
/// `[api] cookie_secure`). With two-factor login on, the password alone answers 401
/// `totp_required`; send it again with `totp_code` (a code is accepted once: a second login
/// in the same 30 seconds waits for the next code) or `backup_code`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong email or password (`unauthorized`); second factor needed \
            (`totp_required`); wrong or reused TOTP code (`invalid_totp`); wrong or spent backup code \
            (`invalid_backup_code`)", body = ErrorBody),
    ))]
pub async fn login(
    req: HttpRequest,
    state: web::Data<ApiState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password, totp_code, backup_code } = body.into_inner();
    let mut conn = state.conn().await?;
    let user = match Address::parse(&email) {
        Ok(address) => state.bounded(User::by_email(&mut conn, &address.to_string())).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    if !password::verify(password, stored).await? {
        return Err(ApiError::Unauthorized(WRONG.to_owned()));
    }
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Err(ApiError::Unauthorized(WRONG.to_owned()));
    };
    // Only after the password: the second factor's answers must not help guess passwords.
    let totp = state.bounded(TotpSecret::for_user(&mut conn, user.id)).await?.filter(TotpSecret::is_confirmed);
    if let Some(totp) = &totp {
        match (given(totp_code.as_deref()), given(backup_code.as_deref())) {
            (Some(code), _) => two_factor::check_totp(&state, &mut conn, totp, code).await?,
            (None, Some(code)) => two_factor::check_backup_code(&state, &mut conn, user.id, code).await?,
            (None, None) => return Err(ApiError::TotpRequired),
        }
    }

    let (token, csrf_token) = (secrets::new_token()?, secrets::new_token()?);
    let (token_hash, csrf_token_hash) = (secrets::hash(&token), secrets::hash(&csrf_token));
    let user_agent: Option<String> = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    let device = user_agent.as_deref().and_then(device_label);
    // The peer address, not X-Forwarded-For: a client can write any header it likes.
    let ip = req.peer_addr().map(|a| a.ip().to_string());
    let now = Utc::now();
    let new = NewSession {
        user_id: user.id,
        token_hash: &token_hash,
        csrf_token_hash: &csrf_token_hash,
        user_agent: user_agent.as_deref(),
        device: device.as_deref(),
        ip: ip.as_deref(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.session_ttl,
    };
    state.bounded(Session::create(&mut conn, &new)).await?;
    account_mail::note_sign_in(&mut conn, &state, &user, device.as_deref(), ip.as_deref()).await;
    tracing::info!(user = %user.id, "login");

    let cookie = Cookie::build(SESSION_COOKIE, token)
        .path("/api")
        .http_only(true)
        .secure(state.cookie_secure)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::seconds(state.session_ttl.num_seconds()))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(LoginResponse { user: UserView::new(&user, totp.is_some()), csrf_token }))
}

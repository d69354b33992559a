//! `POST /auth/login`

use crate::api::{
    ApiError, ApiState, ErrorBody, account_mail, activity,
    auth::SESSION_COOKIE,
    client::ClientInfo,
    device::device_label,
    limits::{Limit, RateKey},
    password, secrets, two_factor,
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
use serde_json::{Value, json};
use smtpy_shared::{
    address::Address,
    models::{ActivityAction, NewSession, Session, TotpSecret, User},
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

/// Logs in: sets the `smtpy_session` cookie (`HttpOnly`, `SameSite=Lax`, `Secure` when
/// `[api] cookie_secure`). With two-factor login on, the password alone answers 401
/// `totp_required`; send it again with `totp_code` (a code is accepted once: a second login
/// in the same 30 seconds waits for the next code) or `backup_code`. Attempts are limited per
/// client address and per email (`[api] rate_limit_login`); each success or refusal for an
/// existing account goes to its activity log, as does each backup code spent.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = LoginResponse),
        (status = 400, description = "Malformed body", body = ErrorBody),
        (status = 401, description = "Wrong email or password (`unauthorized`); second factor needed \
            (`totp_required`); wrong or reused TOTP code (`invalid_totp`); wrong or spent backup code \
            (`invalid_backup_code`)", body = ErrorBody),
        (status = 429, description = "Too many attempts; see Retry-After", body = ErrorBody),
    ))]
pub async fn login(
    client: ClientInfo,
    state: web::Data<ApiState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { email, password, totp_code, backup_code } = body.into_inner();
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
    // Only after the password: the second factor's answers must not help guess passwords.
    let totp = state.bounded(TotpSecret::for_user(&mut conn, user.id)).await?.filter(TotpSecret::is_confirmed);
    if let Some(totp) = &totp {
        let attempt = match (given(totp_code.as_deref()), given(backup_code.as_deref())) {
            (None, None) => return Err(ApiError::TotpRequired),
            attempt => attempt,
        };
        // Codes are six digits: without a limit per account they could be guessed.
        two_factor::count_attempt(&state, user.id).await?;
        let checked = match attempt {
            (Some(code), _) => two_factor::check_totp(&state, &mut conn, totp, code).await,
            // The code is spent exactly when its use is recorded.
            (None, Some(code)) => {
                conn.transaction(async |conn| {
                    two_factor::check_backup_code(&state, conn, user.id, code).await?;
                    let recorded =
                        activity::record(conn, user.id, ActivityAction::BackupCodeUsed, &client, Value::Null);
                    state.bounded(recorded).await
                })
                .await
            }
            (None, None) => Err(ApiError::TotpRequired),
        };
        if let Err(refused) = checked {
            let details = json!({"reason": "second_factor", "code": refused.code_and_status().0});
            state.bounded(activity::record(&mut conn, user.id, ActivityAction::LoginFailed, &client, details)).await?;
            return Err(refused);
        }
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

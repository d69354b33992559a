//! Who is calling: the [`Caller`] and [`Writer`] extractors, so a handler's signature says who
//! may call it.
//!
//! Two credentials are accepted. A cookie session (`smtpy_session`), where every request that
//! may change state must also carry `X-CSRF-Token` (a cross-site form can send the cookie but
//! cannot read the token). Or `Authorization: Bearer smtpy_sk_...`, which a browser never
//! sends on its own, so it needs no CSRF token; a `read` key may not change anything.

use super::{ApiError, ApiState, secrets};
use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use chrono::Utc;
use smtpy_shared::models::{ApiKey, ApiKeyScope, Session, User, session::LAST_SEEN_GRANULARITY};
use std::{future::Future, pin::Pin};
use uuid::Uuid;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "smtpy_session";
/// The header that carries the CSRF token of a cookie session.
pub const CSRF_HEADER: &str = "X-CSRF-Token";

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A cookie session.
    Session {
        /// The session's id.
        session_id: Uuid,
    },
    /// An API key.
    ApiKey {
        /// The key's id.
        key_id: Uuid,
        /// What the key may do.
        scope: ApiKeyScope,
    },
}

/// An authenticated owner. As an extractor it admits reads; on a method that may change state
/// it applies the same checks as [`Writer`].
#[derive(Clone, Debug)]
pub struct Caller {
    /// The account.
    pub user: User,
    /// The credential used.
    pub credential: Credential,
}

impl Caller {
    /// The cookie session's id, when the caller used one.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.credential {
            Credential::Session { session_id } => Some(session_id),
            Credential::ApiKey { .. } => None,
        }
    }

    /// The cookie session's id; an API key is refused. Account security (password, second
    /// factor, deletion) is a person's business, not a script's: a leaked key must not be
    /// enough to lock the owner out.
    pub fn require_session(&self) -> Result<Uuid, ApiError> {
        self.session_id().ok_or_else(|| {
            ApiError::Forbidden("log in with your password to change account security; API keys cannot".to_owned())
        })
    }
}

/// An authenticated owner allowed to change state: a session with a matching CSRF token, or a
/// `full` API key.
#[derive(Clone, Debug)]
pub struct Writer(pub Caller);

fn unauthorized(message: &str) -> ApiError {
    ApiError::Unauthorized(message.to_owned())
}

/// GET and HEAD change nothing; everything else may.
fn is_safe(req: &HttpRequest) -> bool {
    matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS")
}

async fn authenticate(req: &HttpRequest, write: bool) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<ApiState>>()
        .ok_or_else(|| ApiError::Internal("ApiState is not registered".to_owned()))?;
    let write = write || !is_safe(req);
    match req.headers().get(header::AUTHORIZATION) {
        Some(value) => by_api_key(state, value, write).await,
        None => by_session(state, req, write).await,
    }
}

async fn by_api_key(state: &ApiState, value: &header::HeaderValue, write: bool) -> Result<Caller, ApiError> {
    const EXPECTED: &str = "send Authorization: Bearer smtpy_sk_... with a valid API key";
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| k.starts_with(secrets::API_KEY_PREFIX))
        .ok_or_else(|| unauthorized(EXPECTED))?;
    let hash = secrets::hash(key);
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let (api_key, user) = state
        .bounded(ApiKey::live_by_hash(&mut conn, &hash, now))
        .await?
        .ok_or_else(|| unauthorized("this API key is unknown, revoked or expired"))?;
    // The lookup matched on the hash already; comparing again in constant time costs nothing
    // and does not depend on how the database compares.
    if !secrets::hashes_match(&api_key.key_hash, &hash) || user.disabled {
        return Err(unauthorized("this API key is unknown, revoked or expired"));
    }
    let scope = api_key.scope();
    if write && scope == ApiKeyScope::Read {
        return Err(ApiError::Forbidden("this API key is read-only; use a key with scope full".to_owned()));
    }
    if api_key.last_used_at.is_none_or(|t| now - t >= smtpy_shared::models::api_key::LAST_USED_GRANULARITY) {
        state.bounded(ApiKey::touch(&mut conn, api_key.id, now)).await?;
    }
    Ok(Caller { user, credential: Credential::ApiKey { key_id: api_key.id, scope } })
}

async fn by_session(state: &ApiState, req: &HttpRequest, write: bool) -> Result<Caller, ApiError> {
    let cookie = req
        .cookie(SESSION_COOKIE)
        .ok_or_else(|| unauthorized("log in first, or send Authorization: Bearer smtpy_sk_..."))?;
    let hash = secrets::hash(cookie.value());
    let now = Utc::now();
    let mut conn = state.conn().await?;
    let (session, user) = state
        .bounded(Session::live_by_token_hash(&mut conn, &hash, now))
        .await?
        .ok_or_else(|| unauthorized("this session has ended; log in again"))?;
    if !secrets::hashes_match(&session.token_hash, &hash) || user.disabled {
        return Err(unauthorized("this session has ended; log in again"));
    }
    if write {
        let token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).ok_or_else(|| {
            ApiError::Forbidden(format!("send the csrf_token from login in the {CSRF_HEADER} header"))
        })?;
        if !secrets::hashes_match(&secrets::hash(token), &session.csrf_token_hash) {
            return Err(ApiError::Forbidden(format!("the {CSRF_HEADER} header does not match this session")));
        }
    }
    // Bookkeeping, not a write per request: skip the query while the last write is recent.
    if now - session.last_seen_at >= LAST_SEEN_GRANULARITY {
        state.bounded(Session::touch(&mut conn, session.id, now)).await?;
    }
    Ok(Caller { user, credential: Credential::Session { session_id: session.id } })
}

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, false).await })
    }
}

impl FromRequest for Writer {
    type Error = ApiError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req, true).await.map(Writer) })
    }
}

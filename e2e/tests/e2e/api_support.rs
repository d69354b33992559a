//! Harness for the HTTP API tests: the real actix app on a fresh, migrated database, driven in
//! process with `actix_web::test`.

use actix_web::{
    body::BoxBody,
    dev::{Service, ServiceResponse},
    http::{Method, StatusCode, header},
    test::{self, TestRequest},
};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use smtpy_admin::api::{
    ApiState,
    clock::{Clock, SettableClock, SystemClock},
    limits::RateLimiter,
    mail::Mailer,
};
use smtpy_e2e::TestDb;
use smtpy_shared::{Db, config::ApiConfig, sealed::SealKey};
use std::{sync::Arc, time::Duration};

/// The app as `actix_web::test::init_service` gives it.
pub trait ApiApp: Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error> {}

impl<S> ApiApp for S where S: Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
{}

/// A strong enough password for every test account.
pub const PASSWORD: &str = "correct horse battery staple";

/// The key the test apps seal TOTP secrets with (a test fixture, not a secret).
pub const SEAL_KEY: [u8; 32] = [0x5e; 32];

/// `[api]` as the tests use it by default: the production defaults with every rate limit off,
/// since test requests share one client address (tests of the limits use [`app_with`]).
pub fn test_config() -> ApiConfig {
    let off = || "off".to_owned();
    ApiConfig {
        rate_limit_login: off(),
        rate_limit_register: off(),
        rate_limit_password_reset: off(),
        rate_limit_verification_resend: off(),
        rate_limit_two_factor: off(),
        ..ApiConfig::default()
    }
}

/// A fresh database (created and migrated) and the app on it, configured by [`test_config`].
pub async fn app() -> (TestDb, impl ApiApp) {
    app_with(test_config(), None).await
}

/// As [`app`], with `config` as `[api]` and the time of TOTP codes, invitations and deletion
/// dates from `clock`.
pub async fn app_clocked(config: ApiConfig, clock: Arc<dyn Clock>) -> (TestDb, impl ApiApp + use<>) {
    let test_db = TestDb::create().await.unwrap();
    let app = instance_with(test_db.url(), config, None, clock).await;
    (test_db, app)
}

/// A fresh database and the app on it with `config`, and `clock` for the rate limits (the
/// system clock when `None`).
pub async fn app_with(config: ApiConfig, clock: Option<&TestClock>) -> (TestDb, impl ApiApp + use<>) {
    let test_db = TestDb::create().await.unwrap();
    let app = instance(test_db.url(), config, clock).await;
    (test_db, app)
}

/// One more app instance on the database at `url`, as a second API server behind a load
/// balancer would be: its own pool and state, the same tables. The app is the one
/// `smtpy-admin serve` runs (`server::app`), middleware included.
pub async fn instance(url: &str, config: ApiConfig, clock: Option<&TestClock>) -> impl ApiApp + use<> {
    instance_with(url, config, clock, Arc::new(SystemClock)).await
}

/// As [`instance`], with `api_clock` for TOTP codes, invitations and deletion dates.
pub async fn instance_with(
    url: &str,
    config: ApiConfig,
    clock: Option<&TestClock>,
    api_clock: Arc<dyn Clock>,
) -> impl ApiApp + use<> {
    let injected = Injected { limits_clock: clock.cloned(), clock: Some(api_clock), mailer: None };
    instance_injected(url, config, injected).await
}

/// What a test app runs on besides `[api]`; the default is the system clock everywhere and no
/// mail to owners.
#[derive(Clone, Default)]
pub struct Injected {
    /// The rate limiter's clock.
    pub limits_clock: Option<TestClock>,
    /// The clock of TOTP codes, invitations and deletion dates.
    pub clock: Option<Arc<dyn Clock>>,
    /// Where mail to owners goes.
    pub mailer: Option<Mailer>,
}

/// A fresh database and the app on it with `config` and `injected` (both clocks settable:
/// a test of a rate limit on two-factor codes needs both).
pub async fn app_injected(config: ApiConfig, injected: Injected) -> (TestDb, impl ApiApp + use<>) {
    let test_db = TestDb::create().await.unwrap();
    let app = instance_injected(test_db.url(), config, injected).await;
    (test_db, app)
}

/// One more app instance on the database at `url`, with `config` and `injected`.
pub async fn instance_injected(url: &str, config: ApiConfig, injected: Injected) -> impl ApiApp + use<> {
    let db = Db::new(url, 4, Duration::from_secs(10)).unwrap();
    // Idempotent; applies any migration the prebuilt `smtpy-admin` binary did not know yet.
    db.migrate().await.unwrap();
    let seal = SealKey::from_bytes(&SEAL_KEY).unwrap();
    let mut state = ApiState::new(db, &config, seal);
    if let Some(clock) = injected.clock {
        state = state.with_clock(clock);
    }
    if let Some(mailer) = injected.mailer {
        state = state.with_mailer(mailer);
    }
    if let Some(clock) = &injected.limits_clock {
        state.limits = RateLimiter::new(&config, clock.clock());
    }
    test::init_service(smtpy_admin::server::app(state)).await
}

/// A clock that stands still until a test moves it (the API's own [`SettableClock`]).
#[derive(Clone)]
pub struct TestClock(Arc<SettableClock>);

impl TestClock {
    /// A clock at `at` (RFC 3339).
    pub fn at(at: &str) -> Self {
        Self(Arc::new(SettableClock::new(DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc))))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: TimeDelta) {
        self.0.advance(by);
    }

    /// The clock as the rate limiter takes it.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.0.clone()
    }
}

/// How a request authenticates.
#[derive(Clone, Debug, Default)]
pub enum As {
    /// No credential.
    #[default]
    Nobody,
    /// A cookie session, optionally with its CSRF token.
    Session { cookie: String, csrf: Option<String> },
    /// `Authorization: Bearer <key>`.
    Key(String),
}

/// A logged-in session.
#[derive(Clone, Debug)]
pub struct Login {
    /// The `smtpy_session` cookie's value.
    pub cookie: String,
    /// The CSRF token from the login response.
    pub csrf: String,
    /// The login response body.
    pub body: Value,
}

impl Login {
    /// This session with its CSRF token.
    pub fn with_csrf(&self) -> As {
        As::Session { cookie: self.cookie.clone(), csrf: Some(self.csrf.clone()) }
    }

    /// This session without a CSRF token (what a cross-site form would send).
    pub fn without_csrf(&self) -> As {
        As::Session { cookie: self.cookie.clone(), csrf: None }
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: header::HeaderMap,
    /// The body as JSON (`Null` when empty).
    pub body: Value,
}

impl Reply {
    /// `error.code` of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {:?}", self.body))
    }
}

/// Sends one request with a JSON body (or none) and reads the reply.
pub async fn send<S>(app: &S, method: Method, path: &str, who: &As, body: Option<Value>) -> Reply
where
    S: ApiApp,
{
    read(test::call_service(app, request(method, path, who, body).to_request()).await).await
}

/// A request with a JSON body (or none), for a test to add to (peer address, headers).
pub fn request(method: Method, path: &str, who: &As, body: Option<Value>) -> TestRequest {
    let mut req = TestRequest::default().method(method).uri(path);
    req = match who {
        As::Nobody => req,
        As::Session { cookie, csrf } => {
            let req = req.insert_header((header::COOKIE, format!("smtpy_session={cookie}")));
            match csrf {
                Some(csrf) => req.insert_header(("X-CSRF-Token", csrf.as_str())),
                None => req,
            }
        }
        As::Key(key) => req.insert_header((header::AUTHORIZATION, format!("Bearer {key}"))),
    };
    if let Some(body) = body {
        req = req.set_json(body);
    }
    req
}

/// Sends a request built with [`request`] and reads the reply.
pub async fn call<S>(app: &S, req: TestRequest) -> Reply
where
    S: ApiApp,
{
    read(test::call_service(app, req.to_request()).await).await
}

/// Reads a response whole.
pub async fn read(resp: ServiceResponse<BoxBody>) -> Reply {
    let (status, headers) = (resp.status(), resp.headers().clone());
    let bytes = test::read_body(resp).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
    };
    Reply { status, headers, body }
}

/// Registers `email` with [`PASSWORD`].
pub async fn register<S>(app: &S, email: &str)
where
    S: ApiApp,
{
    let r = send(
        app,
        Method::POST,
        "/api/v1/auth/register",
        &As::Nobody,
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// Logs `email` in with [`PASSWORD`].
pub async fn login<S>(app: &S, email: &str) -> Login
where
    S: ApiApp,
{
    let r =
        send(app, Method::POST, "/api/v1/auth/login", &As::Nobody, Some(json!({"email": email, "password": PASSWORD})))
            .await;
    session_of(r)
}

/// The session a successful login reply sets up.
pub fn session_of(r: Reply) -> Login {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let set_cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let cookie = set_cookie.strip_prefix("smtpy_session=").unwrap().split(';').next().unwrap().to_owned();
    let csrf = r.body["csrf_token"].as_str().unwrap().to_owned();
    Login { cookie, csrf, body: r.body }
}

/// Registers and logs in `email`.
pub async fn account<S>(app: &S, email: &str) -> Login
where
    S: ApiApp,
{
    register(app, email).await;
    login(app, email).await
}

/// Creates an API key with `scope` for the session `who`; returns the whole response body.
pub async fn create_key<S>(app: &S, who: &As, scope: &str) -> Value
where
    S: ApiApp,
{
    let r =
        send(app, Method::POST, "/api/v1/users/api-keys", who, Some(json!({"name": "script", "scope": scope}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body
}

/// The RFC 6238 code (HMAC-SHA-1, 6 digits, 30-second steps) of `key` at unix time `unix`,
/// computed here (RFC 4226 §5.3 dynamic truncation), independently of the server's TOTP crate.
pub fn totp_code(key: &[u8], unix: i64) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&u64::try_from(unix / 30).unwrap().to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", value % 1_000_000)
}

/// The code for the base32 `secret` that `POST /auth/2fa/enable` returned, at `unix`.
pub fn totp_code_b32(secret: &str, unix: i64) -> String {
    totp_code(&data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap(), unix)
}

/// A response whose body is not necessarily JSON (CSV, a refused preflight), read whole.
#[derive(Debug)]
pub struct RawReply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: header::HeaderMap,
    /// The body.
    pub body: String,
}

/// Sends a request built with [`request`] and reads the reply without parsing it.
pub async fn call_raw<S>(app: &S, req: TestRequest) -> RawReply
where
    S: ApiApp,
{
    let resp = test::call_service(app, req.to_request()).await;
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    RawReply { status, headers, body }
}

/// A client address, for tests where the address matters (rate limits, logs).
pub fn peer(ip: &str) -> std::net::SocketAddr {
    std::net::SocketAddr::new(ip.parse().unwrap(), 40_000)
}

/// A login attempt for `email` with `password` from `ip`.
pub async fn login_attempt<S>(app: &S, email: &str, password: &str, ip: &str) -> Reply
where
    S: ApiApp,
{
    let body = json!({"email": email, "password": password});
    call(app, request(Method::POST, "/api/v1/auth/login", &As::Nobody, Some(body)).peer_addr(peer(ip))).await
}

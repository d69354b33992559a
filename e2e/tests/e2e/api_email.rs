//! API: mail to owners, delivered to a real SMTP capture sink: address verification,
//! password reset, and alerts on sign-ins from new devices.

use crate::api_support::{ApiApp, As, Injected, Login, PASSWORD, Reply, app_injected, login, read, register, send};
use actix_web::{
    http::{Method, StatusCode, header},
    test::{self, TestRequest},
};
use mail_parser::MessageParser;
use serde_json::{Value, json};
use smtpy_admin::api::mail::Mailer;
use smtpy_e2e::{CaptureSink, Delivered, TestDb};
use smtpy_shared::{
    Db,
    config::{ApiConfig, SmtpConfig},
};
use std::time::Duration;

/// Where the links in the mail point.
const PUBLIC_URL: &str = "https://smtpy.test";
const OWNER: &str = "owner@example.org";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// The app with its mail going to a capture sink on 127.0.0.1, and what a test needs to look.
pub struct Mail {
    /// The database (kept alive; also for moving a token's expiry into the past).
    pub db: TestDb,
    /// Receives every mail the API sends.
    pub sink: CaptureSink,
    /// The app's mailer, to wait until it has handed everything to the sink.
    pub mailer: Mailer,
}

impl Mail {
    /// Every mail delivered so far, once every queued mail has been handed over.
    pub async fn delivered(&self) -> Vec<Delivered> {
        self.mailer.idle().await;
        self.sink.delivered()
    }

    /// The mails delivered to `to`, parsed.
    pub async fn to(&self, to: &str) -> Vec<ParsedMail> {
        self.delivered().await.iter().filter(|d| d.rcpt_to == [to]).map(ParsedMail::new).collect()
    }
}

/// A fresh database and the app on it, configured by `api`, sending mail through `mailer`
/// (`api_support::app` with these two chosen).
pub async fn app_on(api: ApiConfig, mailer: Mailer) -> (TestDb, impl ApiApp) {
    let test_db = TestDb::create().await.unwrap();
    let db = Db::new(test_db.url(), 4, Duration::from_secs(10)).unwrap();
    db.migrate().await.unwrap();
    let seal = smtpy_shared::sealed::SealKey::from_bytes(&crate::api_support::SEAL_KEY).unwrap();
    let state = smtpy_admin::api::ApiState::new(db, &api, seal).with_mailer(mailer);
    let app = test::init_service(smtpy_admin::server::app(state)).await;
    (test_db, app)
}

/// The app, its mail going to a fresh capture sink.
pub async fn mail_app() -> (Mail, impl ApiApp) {
    mail_app_with(Injected::default()).await
}

/// As [`mail_app`], on the clocks in `injected` (its mailer is replaced by the sink's).
pub async fn mail_app_with(injected: Injected) -> (Mail, impl ApiApp) {
    let sink = CaptureSink::start().await.unwrap();
    let smtp = SmtpConfig { relay: format!("127.0.0.1:{}", sink.port()), from: "SMTPy <no-reply@smtpy.test>".into() };
    let mailer = Mailer::smtp(&smtp).unwrap();
    let api = ApiConfig { public_url: format!("{PUBLIC_URL}/"), ..crate::api_support::test_config() };
    let (db, app) = app_injected(api, Injected { mailer: Some(mailer.clone()), ..injected }).await;
    (Mail { db, sink, mailer }, app)
}

/// A delivered mail, read.
#[derive(Debug)]
pub struct ParsedMail {
    /// `Subject`.
    pub subject: String,
    /// `From`'s address.
    pub from: String,
    /// `To`'s address.
    pub to: String,
    /// The `text/plain` part.
    pub text: String,
    /// The `text/html` part.
    pub html: String,
    /// The raw message.
    pub raw: String,
}

impl ParsedMail {
    fn new(d: &Delivered) -> Self {
        let m = MessageParser::default().parse(&d.data).unwrap();
        let address = |a: Option<&mail_parser::Address>| a.unwrap().first().unwrap().address().unwrap().to_owned();
        Self {
            subject: m.subject().unwrap().to_owned(),
            from: address(m.from()),
            to: address(m.to()),
            text: m.body_text(0).unwrap().into_owned(),
            html: m.body_html(0).unwrap().into_owned(),
            raw: String::from_utf8_lossy(&d.data).into_owned(),
        }
    }

    /// The token of the link to `{PUBLIC_URL}{path}?token=`, checked to be in both parts.
    pub fn token(&self, path: &str) -> String {
        let start = format!("{PUBLIC_URL}{path}?token=");
        let at = self.text.find(&start).unwrap_or_else(|| panic!("no {start} link in:\n{}", self.text));
        let token: String = self.text[at + start.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(token.len() >= 43, "{token}");
        assert!(
            self.html.contains(&format!("href=\"{start}{token}\"")),
            "the HTML part lacks the link:\n{}",
            self.html
        );
        token
    }
}

/// Checks what every account mail has: our From, the owner as To, both parts.
fn assert_well_formed(mail: &ParsedMail, to: &str) {
    assert_eq!((mail.from.as_str(), mail.to.as_str()), ("no-reply@smtpy.test", to));
    assert!(mail.raw.to_ascii_lowercase().contains("multipart/alternative"), "{}", mail.raw);
    assert!(mail.raw.contains("Message-ID: <") && mail.raw.contains("@smtpy.test>"), "{}", mail.raw);
    assert!(mail.raw.contains("text/plain") && mail.raw.contains("text/html"), "{}", mail.raw);
    assert!(mail.html.contains("<html>") && !mail.text.contains("<p>"), "{mail:?}");
}

async fn post<S: ApiApp>(app: &S, path: &str, who: &As, body: Value) -> Reply {
    send(app, Method::POST, path, who, Some(body)).await
}

/// Logs `email` in with `password` from a device (User-Agent and client address).
async fn login_from<S: ApiApp>(app: &S, email: &str, password: &str, user_agent: &str, ip: &str) -> Reply {
    let req = TestRequest::post()
        .uri("/api/v1/auth/login")
        .insert_header((header::USER_AGENT, user_agent))
        .peer_addr(format!("{ip}:40000").parse().unwrap())
        .set_json(json!({"email": email, "password": password}))
        .to_request();
    read(test::call_service(app, req).await).await
}

/// Moves every token of `purpose` into the past, as if its lifetime had run out.
async fn expire_tokens(mail: &Mail, purpose: &str) {
    let client = mail.db.client().await.unwrap();
    let n = client
        .execute(
            "UPDATE email_tokens SET created_at = now() - interval '3 days', expires_at = now() - interval '1 second' \
             WHERE purpose = $1",
            &[&purpose],
        )
        .await
        .unwrap();
    assert!(n > 0, "no {purpose} token to expire");
}

/// The token of the last mail to `to`, a verification link.
pub async fn verification_token(mail: &Mail, to: &str) -> String {
    let mails = mail.to(to).await;
    let last = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
    assert_eq!(last.subject, "Confirm your email address");
    last.token("/verify-email")
}

/// The token of the last mail to `to`, a password-reset link.
pub async fn reset_token(mail: &Mail, to: &str) -> String {
    let mails = mail.to(to).await;
    let last = mails.last().unwrap_or_else(|| panic!("no mail to {to}"));
    assert_eq!(last.subject, "Reset your SMTPy password");
    last.token("/reset-password")
}

async fn me<S: ApiApp>(app: &S, session: &Login) -> Reply {
    send(app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await
}

#[actix_web::test]
async fn email_registration_mails_a_verification_link_that_verifies() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let mails = mail.to(OWNER).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_well_formed(&mails[0], OWNER);
    assert!(mails[0].text.contains("48 hours"), "{}", mails[0].text);
    let token = verification_token(&mail, OWNER).await;

    let session = login(&app, OWNER).await;
    assert_eq!(session.body["user"]["email_verified"], false);
    let r = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": token})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["email"].as_str(), r.body["email_verified"].as_bool()), (Some(OWNER), Some(true)));
    assert_eq!(me(&app, &session).await.body["email_verified"], true);

    // Already verified: no new link.
    let again = post(&app, "/api/v1/auth/verify-email/resend", &session.with_csrf(), json!({})).await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "conflict"));
}

#[actix_web::test]
async fn email_verification_token_works_once() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let token = verification_token(&mail, OWNER).await;
    let first = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": token})).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let reused = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": token})).await;
    assert_eq!((reused.status, reused.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
    assert!(reused.body["error"]["message"].as_str().unwrap().contains("used"), "{:?}", reused.body);
    let unknown = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": "x".repeat(43)})).await;
    assert_eq!((unknown.status, unknown.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
}

#[actix_web::test]
async fn email_verification_expired_token_is_refused() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let token = verification_token(&mail, OWNER).await;
    expire_tokens(&mail, "verify_email").await;
    let r = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": token})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
    assert!(r.body["error"]["message"].as_str().unwrap().contains("expired"), "{:?}", r.body);
    let session = login(&app, OWNER).await;
    assert_eq!(me(&app, &session).await.body["email_verified"], false);
}

#[actix_web::test]
async fn email_verification_resend_replaces_the_link() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let old = verification_token(&mail, OWNER).await;
    let session = login(&app, OWNER).await;
    let nobody = post(&app, "/api/v1/auth/verify-email/resend", &As::Nobody, json!({})).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
    let r = post(&app, "/api/v1/auth/verify-email/resend", &session.with_csrf(), json!({})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(mail.to(OWNER).await.len(), 2);
    let new = verification_token(&mail, OWNER).await;
    assert_ne!(old, new);
    let stale = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": old})).await;
    assert_eq!((stale.status, stale.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
    let ok = post(&app, "/api/v1/auth/verify-email", &As::Nobody, json!({"token": new})).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

#[actix_web::test]
async fn email_password_reset_answers_the_same_for_unknown_addresses_and_mails_nothing() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let before = mail.delivered().await.len();
    let unknown = post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": "nobody@example.org"})).await;
    assert_eq!(mail.delivered().await.len(), before, "a mail went out for an unknown address");
    let known = post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": "Owner@Example.org"})).await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!((unknown.status, &unknown.body), (known.status, &known.body));
    let all = mail.delivered().await;
    assert_eq!(all.len(), before + 1);
    assert!(all.iter().all(|d| d.rcpt_to == [OWNER]), "{all:?}");
    let reset = mail.to(OWNER).await.pop().unwrap();
    assert_well_formed(&reset, OWNER);
    assert!(reset.text.contains("60 minutes"), "{}", reset.text);

    let malformed = post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": "not an address"})).await;
    assert_eq!((malformed.status, malformed.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
}

#[actix_web::test]
async fn email_password_reset_sets_the_password_and_revokes_sessions() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let (one, two) = (login(&app, OWNER).await, login(&app, OWNER).await);
    post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": OWNER})).await;
    let token = reset_token(&mail, OWNER).await;

    // A weak password is refused without spending the token.
    let weak =
        post(&app, "/api/v1/auth/password-reset/confirm", &As::Nobody, json!({"token": token, "password": "short"}))
            .await;
    assert_eq!((weak.status, weak.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
    assert_eq!(me(&app, &one).await.status, StatusCode::OK);

    let new_password = "a brand new password, long enough";
    let r = post(
        &app,
        "/api/v1/auth/password-reset/confirm",
        &As::Nobody,
        json!({"token": token, "password": new_password}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for session in [&one, &two] {
        assert_eq!(me(&app, session).await.status, StatusCode::UNAUTHORIZED);
    }
    let old = login_from(&app, OWNER, PASSWORD, FIREFOX, "127.0.0.1").await;
    assert_eq!((old.status, old.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let new = login_from(&app, OWNER, new_password, FIREFOX, "127.0.0.1").await;
    assert_eq!(new.status, StatusCode::OK, "{:?}", new.body);
    // Following the mailed link proved the address too.
    assert_eq!(new.body["user"]["email_verified"], true);
}

#[actix_web::test]
async fn email_password_reset_token_works_once_and_expires() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": OWNER})).await;
    let token = reset_token(&mail, OWNER).await;
    let confirm = |token: String, password: &str| {
        let body = json!({"token": token, "password": password});
        let app = &app;
        async move { post(app, "/api/v1/auth/password-reset/confirm", &As::Nobody, body).await }
    };
    assert_eq!(confirm(token.clone(), "first new password here").await.status, StatusCode::OK);
    let reused = confirm(token, "second new password here").await;
    assert_eq!((reused.status, reused.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
    let still_first = login_from(&app, OWNER, "first new password here", FIREFOX, "127.0.0.1").await;
    assert_eq!(still_first.status, StatusCode::OK);

    post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": OWNER})).await;
    let token = reset_token(&mail, OWNER).await;
    expire_tokens(&mail, "password_reset").await;
    let expired = confirm(token, "third new password here").await;
    assert_eq!((expired.status, expired.code()), (StatusCode::BAD_REQUEST, "invalid_token"));
    assert!(expired.body["error"]["message"].as_str().unwrap().contains("expired"), "{:?}", expired.body);
    let third = login_from(&app, OWNER, "third new password here", FIREFOX, "127.0.0.1").await;
    assert_eq!(third.status, StatusCode::UNAUTHORIZED);
}

/// Sign-in alerts delivered to the owner so far.
async fn alerts(mail: &Mail) -> Vec<ParsedMail> {
    mail.to(OWNER).await.into_iter().filter(|m| m.subject == "New sign-in to your SMTPy account").collect()
}

#[actix_web::test]
async fn email_sign_in_from_a_new_device_sends_an_alert_and_a_known_one_does_not() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    // The first sign-in of an account has nothing to differ from: no alert.
    assert_eq!(login_from(&app, OWNER, PASSWORD, FIREFOX, "192.0.2.10").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 0);
    // The same device again: none.
    assert_eq!(login_from(&app, OWNER, PASSWORD, FIREFOX, "192.0.2.10").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 0);

    // Another device: one alert that says which.
    assert_eq!(login_from(&app, OWNER, PASSWORD, SAFARI_IOS, "198.51.100.7").await.status, StatusCode::OK);
    let sent = alerts(&mail).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_well_formed(&sent[0], OWNER);
    for part in [&sent[0].text, &sent[0].html] {
        assert!(part.contains("Safari on iOS") && part.contains("198.51.100.7"), "{part}");
        assert!(part.contains(&format!("{PUBLIC_URL}/reset-password")), "{part}");
    }
    // Known from then on; the same browser from a new address is a new device.
    assert_eq!(login_from(&app, OWNER, PASSWORD, SAFARI_IOS, "198.51.100.7").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 1);
    assert_eq!(login_from(&app, OWNER, PASSWORD, FIREFOX, "203.0.113.5").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 2);
    // A failed login sends nothing.
    let wrong = login_from(&app, OWNER, "not the password at all", "curl/8.5.0", "203.0.113.99").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(alerts(&mail).await.len(), 2);
}

#[actix_web::test]
async fn email_sign_in_alert_respects_security_alerts_off() {
    let (mail, app) = mail_app().await;
    register(&app, OWNER).await;
    let first = login_from(&app, OWNER, PASSWORD, FIREFOX, "192.0.2.10").await;
    let csrf = first.body["csrf_token"].as_str().unwrap().to_owned();
    let cookie = first.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let cookie = cookie.strip_prefix("smtpy_session=").unwrap().split(';').next().unwrap().to_owned();
    let session = As::Session { cookie, csrf: Some(csrf) };
    let r =
        send(&app, Method::PUT, "/api/v1/users/preferences", &session, Some(json!({"security_alerts": false}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    assert_eq!(login_from(&app, OWNER, PASSWORD, SAFARI_IOS, "198.51.100.7").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 0);

    // Back on: the next new device is reported (the one seen while off stays known).
    let r =
        send(&app, Method::PUT, "/api/v1/users/preferences", &session, Some(json!({"security_alerts": true}))).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(login_from(&app, OWNER, PASSWORD, SAFARI_IOS, "198.51.100.7").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 0);
    assert_eq!(login_from(&app, OWNER, PASSWORD, "curl/8.5.0", "198.51.100.8").await.status, StatusCode::OK);
    assert_eq!(alerts(&mail).await.len(), 1);
}

#[actix_web::test]
async fn email_relay_down_does_not_fail_the_requests() {
    // A port nobody listens on: every delivery fails, and is only logged.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let smtp = SmtpConfig { relay: format!("127.0.0.1:{closed}"), ..SmtpConfig::default() };
    let mailer = Mailer::smtp(&smtp).unwrap();
    let (_db, app) = app_on(crate::api_support::test_config(), mailer.clone()).await;
    register(&app, OWNER).await;
    let r = post(&app, "/api/v1/auth/password-reset", &As::Nobody, json!({"email": OWNER})).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    assert_eq!(login_from(&app, OWNER, PASSWORD, FIREFOX, "192.0.2.10").await.status, StatusCode::OK);
    assert_eq!(login_from(&app, OWNER, PASSWORD, SAFARI_IOS, "192.0.2.11").await.status, StatusCode::OK);
    mailer.idle().await;
}

//! API: two-factor login with TOTP (RFC 6238) and backup codes. The app runs on a settable
//! clock; the tests compute codes with their own RFC 6238 implementation.

use crate::api_support::{
    ApiApp, As, Login, PASSWORD, Reply, SEAL_KEY, account, app_clocked, create_key, send, session_of, test_config,
    totp_code, totp_code_b32,
};
use actix_web::http::{Method, StatusCode};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use smtpy_admin::api::clock::SettableClock;
use smtpy_e2e::TestDb;
use smtpy_shared::{models::TotpSecret, sealed::SealKey};
use std::sync::Arc;
use uuid::Uuid;

const EMAIL: &str = "owner@example.org";
/// A plausible "now" for the tests that need no particular instant.
const T0: i64 = 1_700_000_000;

fn at(unix: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(unix, 0).unwrap()
}

/// An app on a clock standing at `unix`, with one logged-in account.
async fn setup(unix: i64) -> (TestDb, impl ApiApp, Arc<SettableClock>, Login) {
    let clock = Arc::new(SettableClock::new(at(unix)));
    let (db, app) = app_clocked(test_config(), clock.clone()).await;
    let session = account(&app, EMAIL).await;
    (db, app, clock, session)
}

async fn post<S: ApiApp>(app: &S, path: &str, who: &As, body: Value) -> Reply {
    send(app, Method::POST, &format!("/api/v1{path}"), who, Some(body)).await
}

async fn login_with<S: ApiApp>(app: &S, extra: Value) -> Reply {
    let mut body = json!({"email": EMAIL, "password": PASSWORD});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    post(app, "/auth/login", &As::Nobody, body).await
}

/// Turns two-factor on at the clock's time; returns the base32 secret and the backup codes.
async fn turn_on<S: ApiApp>(app: &S, clock: &SettableClock, session: &Login) -> (String, Vec<String>) {
    let enrolment = post(app, "/auth/2fa/enable", &session.with_csrf(), json!({})).await;
    assert_eq!(enrolment.status, StatusCode::OK, "{:?}", enrolment.body);
    let secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    let code = totp_code_b32(&secret, now(clock));
    let verified = post(app, "/auth/2fa/verify", &session.with_csrf(), json!({"code": code})).await;
    assert_eq!(verified.status, StatusCode::OK, "{:?}", verified.body);
    let codes = verified.body["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (secret, codes)
}

fn now(clock: &SettableClock) -> i64 {
    use smtpy_admin::api::clock::Clock;
    clock.now().timestamp()
}

async fn two_factor_shown<S: ApiApp>(app: &S, session: &Login) -> bool {
    let me = send(app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    me.body["two_factor_enabled"].as_bool().unwrap()
}

#[actix_web::test]
async fn enable_returns_secret_uri_and_qr_and_stores_the_secret_sealed() {
    let (db, app, _clock, session) = setup(T0).await;
    let r = post(&app, "/auth/2fa/enable", &session.with_csrf(), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let secret = r.body["secret"].as_str().unwrap();
    assert_eq!(data_encoding::BASE32_NOPAD.decode(secret.as_bytes()).unwrap().len(), 20, "{secret}");
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/SMTPy:owner%40example.org?"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=SMTPy"), "{uri}");
    let svg = r.body["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    let row = db
        .client()
        .await
        .unwrap()
        .query_one("SELECT secret_sealed, confirmed_at IS NULL FROM totp_secrets", &[])
        .await
        .unwrap();
    let sealed: String = row.get(0);
    assert!(row.get::<_, bool>(1), "a secret is pending until verified");
    assert!(sealed.starts_with("v1:") && !sealed.contains(secret), "{sealed}");
    // Pending is not on: login needs no code yet.
    assert!(!two_factor_shown(&app, &session).await);
    assert_eq!(login_with(&app, json!({})).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn verify_turns_it_on_and_login_then_needs_a_code() {
    let (_db, app, clock, session) = setup(T0).await;
    let r = post(&app, "/auth/2fa/enable", &session.with_csrf(), json!({})).await;
    let secret = r.body["secret"].as_str().unwrap().to_owned();

    let wrong = post(&app, "/auth/2fa/verify", &session.with_csrf(), json!({"code": "000000"})).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "{:?}", wrong.body);
    assert!(!two_factor_shown(&app, &session).await, "a wrong code must not turn it on");

    let code = totp_code_b32(&secret, T0);
    let r = post(&app, "/auth/2fa/verify", &session.with_csrf(), json!({"code": code})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let codes: Vec<&str> = r.body["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10, "{codes:?}");
    assert!(two_factor_shown(&app, &session).await);

    clock.advance(chrono::TimeDelta::seconds(30));
    let r = login_with(&app, json!({"totp_code": totp_code_b32(&secret, T0 + 30)})).await;
    let fresh = session_of(r);
    assert_eq!(fresh.body["user"]["two_factor_enabled"], true);
}

#[actix_web::test]
async fn password_alone_gets_totp_required_and_a_wrong_password_still_unauthorized() {
    let (_db, app, clock, session) = setup(T0).await;
    let (secret, _) = turn_on(&app, &clock, &session).await;
    for blank in [json!({}), json!({"totp_code": null}), json!({"totp_code": "", "backup_code": " "})] {
        let r = login_with(&app, blank.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "totp_required"), "{blank}: {:?}", r.body);
        assert!(r.headers.get("set-cookie").is_none());
    }
    // Without the password, nothing tells whether the account has two-factor on.
    let r = post(
        &app,
        "/auth/login",
        &As::Nobody,
        json!({"email": EMAIL, "password": "not the password at all", "totp_code": totp_code_b32(&secret, T0 + 30)}),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{:?}", r.body);
}

#[actix_web::test]
async fn wrong_totp_code_is_refused() {
    let (_db, app, clock, session) = setup(T0).await;
    let (secret, _) = turn_on(&app, &clock, &session).await;
    clock.advance(chrono::TimeDelta::seconds(300));
    let right = totp_code_b32(&secret, T0 + 300);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    // Wrong digits; a code from two steps ago (outside the one-step skew); not a code at all.
    for code in [wrong, totp_code_b32(&secret, T0 + 240), "abcdef".to_owned()] {
        let r = login_with(&app, json!({"totp_code": code})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "{code}: {:?}", r.body);
        assert!(r.headers.get("set-cookie").is_none());
    }
    assert_eq!(login_with(&app, json!({"totp_code": right})).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn reused_totp_code_is_refused() {
    let (_db, app, clock, session) = setup(T0).await;
    let (secret, _) = turn_on(&app, &clock, &session).await;
    // The code that confirmed the secret is spent: its step cannot log in.
    let r = login_with(&app, json!({"totp_code": totp_code_b32(&secret, T0)})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "{:?}", r.body);

    clock.advance(chrono::TimeDelta::seconds(30));
    let code = totp_code_b32(&secret, T0 + 30);
    assert_eq!(login_with(&app, json!({"totp_code": code})).await.status, StatusCode::OK);
    let again = login_with(&app, json!({"totp_code": code})).await;
    assert_eq!((again.status, again.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "{:?}", again.body);
    assert!(again.body["error"]["message"].as_str().unwrap().contains("used already"), "{:?}", again.body);

    // Nor may an older step come back once a later one is spent, though it is within the skew.
    clock.advance(chrono::TimeDelta::seconds(30));
    assert_eq!(login_with(&app, json!({"totp_code": totp_code_b32(&secret, T0 + 60)})).await.status, StatusCode::OK);
    clock.advance(chrono::TimeDelta::seconds(30));
    let older = login_with(&app, json!({"totp_code": totp_code_b32(&secret, T0 + 60)})).await;
    assert_eq!(older.code(), "invalid_totp", "{:?}", older.body);
}

#[actix_web::test]
async fn consumed_backup_code_is_refused() {
    let (db, app, clock, session) = setup(T0).await;
    let (_, codes) = turn_on(&app, &clock, &session).await;
    assert_eq!(login_with(&app, json!({"backup_code": codes[0]})).await.status, StatusCode::OK);
    let again = login_with(&app, json!({"backup_code": codes[0]})).await;
    assert_eq!((again.status, again.code()), (StatusCode::UNAUTHORIZED, "invalid_backup_code"), "{:?}", again.body);
    let made_up = login_with(&app, json!({"backup_code": "aaaa-bbbb-cccc-dddd"})).await;
    assert_eq!(made_up.code(), "invalid_backup_code");
    // Retyped in capitals with spaces for dashes, another code still works.
    let retyped = codes[1].to_uppercase().replace('-', " ");
    assert_eq!(login_with(&app, json!({"backup_code": retyped})).await.status, StatusCode::OK);

    // Stored as SHA-256 hashes, never in clear.
    let rows =
        db.client().await.unwrap().query("SELECT code_hash, used_at IS NOT NULL FROM backup_codes", &[]).await.unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows.iter().filter(|r| r.get::<_, bool>(1)).count(), 2);
    for row in &rows {
        let hash: Vec<u8> = row.get(0);
        assert_eq!(hash.len(), 32);
        assert!(codes.iter().all(|c| !String::from_utf8_lossy(&hash).contains(c.as_str())));
    }
}

#[actix_web::test]
async fn regenerated_backup_codes_invalidate_old_ones() {
    let (_db, app, clock, session) = setup(T0).await;
    let (secret, old) = turn_on(&app, &clock, &session).await;
    let wrong = post(&app, "/auth/2fa/backup-codes", &session.with_csrf(), json!({"code": "123456"})).await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "{:?}", wrong.body);
    // A backup code does not stand in for the app here.
    let backup = post(&app, "/auth/2fa/backup-codes", &session.with_csrf(), json!({"code": old[0]})).await;
    assert_eq!(backup.code(), "invalid_totp", "{:?}", backup.body);

    clock.advance(chrono::TimeDelta::seconds(30));
    let r =
        post(&app, "/auth/2fa/backup-codes", &session.with_csrf(), json!({"code": totp_code_b32(&secret, T0 + 30)}))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new: Vec<String> = r.body["codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(new.len(), 10);
    assert!(new.iter().all(|c| !old.contains(c)));

    for code in &old[..3] {
        let r = login_with(&app, json!({"backup_code": code})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_backup_code"), "{code}");
    }
    assert_eq!(login_with(&app, json!({"backup_code": new[0]})).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn disable_needs_password_and_code() {
    let (db, app, clock, session) = setup(T0).await;
    let (secret, _) = turn_on(&app, &clock, &session).await;
    clock.advance(chrono::TimeDelta::seconds(30));
    let code = totp_code_b32(&secret, T0 + 30);
    let who = session.with_csrf();

    let r = post(&app, "/auth/2fa/disable", &who, json!({"password": "wrong password here", "code": code})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "wrong_password"), "{:?}", r.body);
    let r = post(&app, "/auth/2fa/disable", &who, json!({"password": PASSWORD, "code": "000000"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "{:?}", r.body);
    let r = post(&app, "/auth/2fa/disable", &who, json!({"password": PASSWORD})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{:?}", r.body);
    let r = post(&app, "/auth/2fa/disable", &who, json!({"code": code})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(two_factor_shown(&app, &session).await, "a refused disable must leave it on");
    // The session that made the refused attempts is still good.
    assert_eq!(send(&app, Method::GET, "/api/v1/users/me", &who, None).await.status, StatusCode::OK);

    let r = post(&app, "/auth/2fa/disable", &who, json!({"password": PASSWORD, "code": code})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(!two_factor_shown(&app, &session).await);
    assert_eq!(login_with(&app, json!({})).await.status, StatusCode::OK);
    let client = db.client().await.unwrap();
    for table in ["totp_secrets", "backup_codes"] {
        let n: i64 = client.query_one(&format!("SELECT count(*) FROM {table}"), &[]).await.unwrap().get(0);
        assert_eq!(n, 0, "{table} keeps rows after disable");
    }
    let again = post(&app, "/auth/2fa/disable", &who, json!({"password": PASSWORD, "code": code})).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{:?}", again.body);
}

#[actix_web::test]
async fn disable_accepts_a_backup_code_for_a_lost_device() {
    let (_db, app, clock, session) = setup(T0).await;
    let (_, codes) = turn_on(&app, &clock, &session).await;
    let r =
        post(&app, "/auth/2fa/disable", &session.with_csrf(), json!({"password": PASSWORD, "code": codes[4]})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(!two_factor_shown(&app, &session).await);
}

#[actix_web::test]
async fn rfc_6238_vectors_through_the_api() {
    // RFC 6238 Appendix B, SHA-1 seed, last six digits: T=1111111109 -> 081804,
    // T=1234567890 -> 005924, T=2000000000 -> 279037.
    const SEED: &[u8] = b"12345678901234567890";
    assert_eq!(totp_code(SEED, 59), "287082", "the tests' own TOTP must match the RFC too");
    let (db, app, clock, session) = setup(1_111_111_109).await;
    assert_eq!(post(&app, "/auth/2fa/enable", &session.with_csrf(), json!({})).await.status, StatusCode::OK);
    // Put the RFC's seed in place of the random pending secret, sealed as the server seals.
    let user_id: Uuid = session.body["user"]["id"].as_str().unwrap().parse().unwrap();
    let sealed = SealKey::from_bytes(&SEAL_KEY).unwrap().seal(SEED, &TotpSecret::seal_context(user_id));
    let client = db.client().await.unwrap();
    let user = user_id.to_string();
    let updated = client
        .execute("UPDATE totp_secrets SET secret_sealed = $1 WHERE user_id = $2::text::uuid", &[&sealed, &user])
        .await
        .unwrap();
    assert_eq!(updated, 1);

    let r = post(&app, "/auth/2fa/verify", &session.with_csrf(), json!({"code": "081804"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    clock.set(at(1_234_567_890));
    let wrong = login_with(&app, json!({"totp_code": "081804"})).await;
    assert_eq!(wrong.code(), "invalid_totp", "a 2005 code in 2009: {:?}", wrong.body);
    assert_eq!(login_with(&app, json!({"totp_code": "005924"})).await.status, StatusCode::OK);
    clock.set(at(2_000_000_000));
    assert_eq!(login_with(&app, json!({"totp_code": "279037"})).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn state_conflicts_and_api_keys() {
    let (_db, app, clock, session) = setup(T0).await;
    let who = session.with_csrf();
    let r = post(&app, "/auth/2fa/verify", &who, json!({"code": "123456"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "verify before enable: {:?}", r.body);
    let r = post(&app, "/auth/2fa/backup-codes", &who, json!({"code": "123456"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "backup codes while off: {:?}", r.body);
    let r = post(&app, "/auth/2fa/enable", &session.without_csrf(), json!({})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "CSRF: {:?}", r.body);
    // A full API key may not manage the second factor: a leaked key must not lock the owner out.
    let key = create_key(&app, &who, "full").await["key"].as_str().unwrap().to_owned();
    let r = post(&app, "/auth/2fa/enable", &As::Key(key), json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{:?}", r.body);

    // A second enable before verify replaces the pending secret: the first one's codes fail.
    let first = post(&app, "/auth/2fa/enable", &who, json!({})).await.body["secret"].as_str().unwrap().to_owned();
    let second = post(&app, "/auth/2fa/enable", &who, json!({})).await.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let r = post(&app, "/auth/2fa/verify", &who, json!({"code": totp_code_b32(&first, T0)})).await;
    assert_eq!(r.code(), "invalid_totp", "{:?}", r.body);
    let r = post(&app, "/auth/2fa/verify", &who, json!({"code": totp_code_b32(&second, T0)})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    let r = post(&app, "/auth/2fa/enable", &who, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "enable while on: {:?}", r.body);
    clock.advance(chrono::TimeDelta::seconds(30));
    let r = post(&app, "/auth/2fa/verify", &who, json!({"code": totp_code_b32(&second, T0 + 30)})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "verify while on: {:?}", r.body);
    // The refused enable did not touch the confirmed secret.
    assert_eq!(login_with(&app, json!({"totp_code": totp_code_b32(&second, T0 + 30)})).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn serve_without_the_key_file_is_a_clear_startup_error() {
    // TOTP secrets are sealed with [secrets] key_file, so the API server needs it from the start.
    let missing = std::env::temp_dir().join(format!("smtpy-no-key-{}/secret.key", Uuid::new_v4()));
    let admin = smtpy_e2e::Admin::new("postgres://127.0.0.1:1/unused")
        .unwrap()
        .with_env([("SMTPY_SECRETS_KEY_FILE".to_owned(), missing.display().to_string())]);
    let out = admin.output(&["serve", "--listen", "127.0.0.1:0"], None).await.unwrap();
    assert!(!out.success, "served without a key file: {}", out.stdout);
    assert!(
        out.stderr.contains("secrets.key_file") && out.stderr.contains("head -c 32 /dev/urandom"),
        "{}",
        out.stderr
    );
}

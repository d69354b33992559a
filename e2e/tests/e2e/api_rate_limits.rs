//! API: rate limits on login, registration, password reset, verification mail and two-factor
//! codes, counted in Postgres across instances.

use crate::api_support::{
    ApiApp, As, Injected, Login, PASSWORD, Reply, TestClock, account, app_injected, app_with, call, instance,
    login_attempt, peer, register, request, send, test_config, totp_code_b32,
};
use actix_web::http::{Method, StatusCode, header};
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use smtpy_admin::api::{
    clock::SettableClock,
    limits::{Limit, RateKey, RateLimiter},
};
use smtpy_e2e::TestDb;
use smtpy_shared::{Db, config::ApiConfig};
use std::{sync::Arc, time::Duration};

/// The default limits (login 5/minute, register 3/hour) and everything else as in tests.
fn limited() -> ApiConfig {
    let defaults = ApiConfig::default();
    ApiConfig {
        rate_limit_login: defaults.rate_limit_login,
        rate_limit_register: defaults.rate_limit_register,
        ..test_config()
    }
}

fn retry_after(r: &crate::api_support::Reply) -> u64 {
    r.headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap()
}

#[actix_web::test]
async fn api_rate_limits_sixth_login_in_a_minute_is_429_with_retry_after() {
    let clock = TestClock::at("2026-11-26T10:00:10Z");
    let (_db, app) = app_with(limited(), Some(&clock)).await;
    register(&app, "owner@example.org").await;

    for attempt in 1..=5 {
        // Right and wrong passwords count alike.
        let password = if attempt % 2 == 0 { PASSWORD } else { "wrong password entirely" };
        let r = login_attempt(&app, "owner@example.org", password, "198.51.100.1").await;
        assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS, "attempt {attempt}: {:?}", r.body);
    }
    let sixth = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.1").await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    // The window is the clock minute 10:00:00-10:01:00; 50 seconds of it are left.
    assert_eq!(retry_after(&sixth), 50);
    assert!(sixth.headers.get(header::SET_COOKIE).is_none());

    clock.advance(TimeDelta::seconds(49));
    let still = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.1").await;
    assert_eq!((still.status, retry_after(&still)), (StatusCode::TOO_MANY_REQUESTS, 1));
    clock.advance(TimeDelta::seconds(1));
    let next_window = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.1").await;
    assert_eq!(next_window.status, StatusCode::OK, "{:?}", next_window.body);
}

#[actix_web::test]
async fn api_rate_limits_login_counts_per_account_across_addresses() {
    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let (_db, app) = app_with(limited(), Some(&clock)).await;
    register(&app, "owner@example.org").await;
    register(&app, "other@example.org").await;

    for i in 1..=5 {
        let r = login_attempt(&app, "owner@example.org", "a wrong guess here", &format!("203.0.113.{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    // A sixth address does not help, nor does changing the address's case.
    let sixth = login_attempt(&app, "Owner@Example.org", PASSWORD, "203.0.113.6").await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    // Another account from a fresh address is not affected.
    let other = login_attempt(&app, "other@example.org", PASSWORD, "203.0.113.7").await;
    assert_eq!(other.status, StatusCode::OK, "{:?}", other.body);
}

#[actix_web::test]
async fn api_rate_limits_login_counts_per_address_across_accounts() {
    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let (_db, app) = app_with(limited(), Some(&clock)).await;
    register(&app, "owner@example.org").await;

    // Spraying one password over many addresses, known or not, from one client address.
    for i in 1..=5 {
        let r = login_attempt(&app, &format!("user{i}@example.org"), PASSWORD, "198.51.100.9").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let sixth = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.9").await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    // The same account from another address still logs in.
    let elsewhere = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.10").await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{:?}", elsewhere.body);
    // An IPv6 client counts as its /64: hopping addresses inside it does not help.
    for i in 1..=5 {
        let r = login_attempt(&app, &format!("user{i}@example.org"), PASSWORD, &format!("2001:db8:1:2::{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let hop = login_attempt(&app, "owner@example.org", PASSWORD, "2001:db8:1:2:ffff::1").await;
    assert_eq!(hop.status, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn api_rate_limits_are_shared_by_instances_on_one_database() {
    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let db = TestDb::create().await.unwrap();
    let first = instance(db.url(), limited(), Some(&clock)).await;
    let second = instance(db.url(), limited(), Some(&clock)).await;
    register(&first, "owner@example.org").await;

    for i in 0..5 {
        let app_status = if i % 2 == 0 {
            login_attempt(&first, "owner@example.org", PASSWORD, "198.51.100.1").await.status
        } else {
            login_attempt(&second, "owner@example.org", PASSWORD, "198.51.100.1").await.status
        };
        assert_eq!(app_status, StatusCode::OK, "attempt {i}");
    }
    for app in [&first, &second] {
        let r = login_attempt(app, "owner@example.org", PASSWORD, "198.51.100.1").await;
        assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    }
}

#[actix_web::test]
async fn api_rate_limits_concurrent_attempts_are_counted_exactly() {
    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let db = TestDb::create().await.unwrap();
    let first = instance(db.url(), limited(), Some(&clock)).await;
    let second = instance(db.url(), limited(), Some(&clock)).await;
    // Ten attempts at once, half through each instance: the upsert lets exactly five through.
    let attempts = (0..10).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        login_attempt(app, "nobody@example.org", "some password guess", "198.51.100.1")
    });
    let replies = futures_util::future::join_all(attempts).await;
    let limited = replies.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    let refused = replies.iter().filter(|r| r.status == StatusCode::UNAUTHORIZED).count();
    assert_eq!((refused, limited), (5, 5));
}

#[actix_web::test]
async fn api_rate_limits_fourth_registration_in_an_hour_is_429() {
    let clock = TestClock::at("2026-11-26T10:20:00Z");
    let (_db, app) = app_with(limited(), Some(&clock)).await;
    let attempt = |email: &str, ip: &str| {
        let body = json!({"email": email, "password": PASSWORD});
        call(&app, request(Method::POST, "/api/v1/auth/register", &As::Nobody, Some(body)).peer_addr(peer(ip)))
    };
    assert_eq!(attempt("one@example.org", "198.51.100.1").await.status, StatusCode::CREATED);
    // A refused registration (weak password) counts too.
    let weak = json!({"email": "two@example.org", "password": "short"});
    let r = call(
        &app,
        request(Method::POST, "/api/v1/auth/register", &As::Nobody, Some(weak)).peer_addr(peer("198.51.100.1")),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(attempt("three@example.org", "198.51.100.1").await.status, StatusCode::CREATED);

    let fourth = attempt("four@example.org", "198.51.100.1").await;
    assert_eq!((fourth.status, fourth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    assert_eq!(retry_after(&fourth), 40 * 60, "the hour 10:00-11:00 has 40 minutes left");
    assert_eq!(attempt("four@example.org", "198.51.100.2").await.status, StatusCode::CREATED);
    clock.advance(TimeDelta::minutes(40));
    assert_eq!(attempt("five@example.org", "198.51.100.1").await.status, StatusCode::CREATED);
}

#[actix_web::test]
async fn api_rate_limits_follow_the_configuration() {
    let clock = TestClock::at("2026-11-26T10:00:03Z");
    let config = ApiConfig { rate_limit_login: "2/10s".to_owned(), ..test_config() };
    let (_db, app) = app_with(config, Some(&clock)).await;
    for _ in 0..2 {
        assert_eq!(
            login_attempt(&app, "a@example.org", PASSWORD, "198.51.100.1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let third = login_attempt(&app, "a@example.org", PASSWORD, "198.51.100.1").await;
    assert_eq!((third.status, retry_after(&third)), (StatusCode::TOO_MANY_REQUESTS, 7));

    // Off: no limit at all (and no counter rows).
    let (db, app) = app_with(test_config(), Some(&clock)).await;
    for _ in 0..8 {
        assert_eq!(
            login_attempt(&app, "a@example.org", PASSWORD, "198.51.100.1").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let client = db.client().await.unwrap();
    let rows: i64 = client.query_one("SELECT count(*) FROM rate_limits", &[]).await.unwrap().get(0);
    assert_eq!(rows, 0);
}

#[actix_web::test]
async fn api_rate_limits_trust_forwarded_for_only_from_trusted_proxies() {
    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let forwarded = |app_ip: &str, client_ip: &str| {
        let body = json!({"email": "nobody@example.org", "password": PASSWORD});
        request(Method::POST, "/api/v1/auth/login", &As::Nobody, Some(body))
            .peer_addr(peer(app_ip))
            .insert_header(("X-Forwarded-For", client_ip.to_owned()))
    };
    // Without trusted proxies a forged header does not escape the per-address count (each
    // attempt names another email, so only the address count can trip).
    let config = ApiConfig { rate_limit_login: "2/minute".to_owned(), ..test_config() };
    let (_db, app) = app_with(config.clone(), Some(&clock)).await;
    let mut statuses = Vec::new();
    for i in 1..=3 {
        let mut req = forwarded("198.51.100.1", &format!("203.0.113.{i}"));
        req = req.set_json(json!({"email": format!("u{i}@example.org"), "password": PASSWORD}));
        statuses.push(call(&app, req).await.status);
    }
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]);

    // Behind a trusted proxy each forwarded client has its own count, and sessions show it.
    let behind_proxy = ApiConfig { trusted_proxies: vec!["10.0.0.0/8".to_owned()], ..config };
    let (_db, app) = app_with(behind_proxy, Some(&clock)).await;
    register(&app, "owner@example.org").await;
    for i in 1..=3 {
        let mut req = forwarded("10.1.2.3", &format!("1.1.1.1, 203.0.113.{i}"));
        req = req.set_json(json!({"email": format!("u{i}@example.org"), "password": PASSWORD}));
        let r = call(&app, req).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "client {i}");
    }
    let mut req = forwarded("10.1.2.3", "203.0.113.99");
    req = req.set_json(json!({"email": "owner@example.org", "password": PASSWORD}));
    let r = call(&app, req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let cookie = cookie.strip_prefix("smtpy_session=").unwrap().split(';').next().unwrap().to_owned();
    let who = As::Session { cookie, csrf: None };
    let sessions = call(&app, request(Method::GET, "/api/v1/users/sessions", &who, None)).await;
    assert_eq!(sessions.body["items"][0]["ip"], "203.0.113.99");
}

#[actix_web::test]
async fn api_rate_limits_expired_counters_are_deleted() {
    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let (test_db, _app) = app_with(limited(), Some(&clock)).await;
    let db = Db::new(test_db.url(), 2, Duration::from_secs(10)).unwrap();
    let limiter = RateLimiter::new(&limited(), clock.clock());
    let address = RateKey::ip(Some("198.51.100.1".parse().unwrap()));
    limiter.check(&db, Limit::Login, &[address.clone(), RateKey::email("a@example.org")]).await.unwrap();
    limiter.check(&db, Limit::Register, &[address]).await.unwrap();
    assert_eq!(limiter.delete_expired(&db).await.unwrap(), 0, "every window is still open");
    clock.advance(TimeDelta::minutes(1));
    assert_eq!(limiter.delete_expired(&db).await.unwrap(), 2, "the login minute is over");
    clock.advance(TimeDelta::hours(1));
    assert_eq!(limiter.delete_expired(&db).await.unwrap(), 1, "and then the registration hour");
    let client = test_db.client().await.unwrap();
    let rows: i64 = client.query_one("SELECT count(*) FROM rate_limits", &[]).await.unwrap().get(0);
    assert_eq!(rows, 0);
}

/// One password-reset request for `email` from `ip`.
async fn reset_request<S: ApiApp>(app: &S, email: &str, ip: &str) -> Reply {
    let body = json!({"email": email});
    call(app, request(Method::POST, "/api/v1/auth/password-reset", &As::Nobody, Some(body)).peer_addr(peer(ip))).await
}

#[actix_web::test]
async fn api_rate_limits_fourth_password_reset_in_an_hour_is_429_with_retry_after() {
    let clock = TestClock::at("2026-11-26T10:20:00Z");
    let config =
        ApiConfig { rate_limit_password_reset: ApiConfig::default().rate_limit_password_reset, ..test_config() };
    let (db, app) = app_with(config, Some(&clock)).await;
    register(&app, "owner@example.org").await;

    // The same three answers and the same refusal for an account and for an unknown address:
    // the limit is counted before the address is looked up.
    let mut answers = Vec::new();
    for (email, ip) in [("owner@example.org", "198.51.100.1"), ("nobody@example.org", "198.51.100.2")] {
        let mut replies = Vec::new();
        for _ in 0..4 {
            replies.push(reset_request(&app, email, ip).await);
        }
        let statuses: Vec<StatusCode> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses[..3], [StatusCode::ACCEPTED; 3], "{email}: {replies:?}");
        let fourth = &replies[3];
        assert_eq!((fourth.status, fourth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{email}");
        assert_eq!(retry_after(fourth), 40 * 60, "{email}: the hour 10:00-11:00 has 40 minutes left");
        answers.push(replies.into_iter().map(|r| (r.status, r.body, retry_after_of(&r.headers))).collect::<Vec<_>>());
    }
    assert_eq!(answers[0], answers[1], "a known and an unknown address get the same answers");

    // Per address: a fresh email from a spent address is refused; per email: a spent email
    // from a fresh address is refused (case does not help).
    assert_eq!(reset_request(&app, "third@example.org", "198.51.100.1").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reset_request(&app, "Owner@Example.org", "198.51.100.3").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reset_request(&app, "third@example.org", "198.51.100.4").await.status, StatusCode::ACCEPTED);

    // Only the three accepted requests for the account issued anything.
    let client = db.client().await.unwrap();
    let recorded: i64 = client
        .query_one("SELECT count(*) FROM activity_logs WHERE action = 'password_reset_requested'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 3);

    clock.advance(TimeDelta::minutes(40));
    assert_eq!(reset_request(&app, "owner@example.org", "198.51.100.1").await.status, StatusCode::ACCEPTED);
}

fn retry_after_of(headers: &header::HeaderMap) -> Option<String> {
    headers.get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned())
}

#[actix_web::test]
async fn api_rate_limits_sixth_verification_resend_in_a_day_is_429() {
    let clock = TestClock::at("2026-11-26T22:00:00Z");
    let config = ApiConfig {
        rate_limit_verification_resend: ApiConfig::default().rate_limit_verification_resend,
        ..test_config()
    };
    let (_db, app) = app_with(config, Some(&clock)).await;
    let owner = account(&app, "owner@example.org").await;
    let other = account(&app, "other@example.org").await;
    let resend =
        async |who: &Login| send(&app, Method::POST, "/api/v1/auth/verify-email/resend", &who.with_csrf(), None).await;

    for attempt in 1..=5 {
        let r = resend(&owner).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "attempt {attempt}: {:?}", r.body);
    }
    let sixth = resend(&owner).await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{:?}", sixth.body);
    assert_eq!(retry_after(&sixth), 2 * 3600, "the day ends in two hours");
    // Counted per account: another account (same client address) is not affected.
    assert_eq!(resend(&other).await.status, StatusCode::ACCEPTED);

    clock.advance(TimeDelta::hours(2));
    assert_eq!(resend(&owner).await.status, StatusCode::ACCEPTED);
}

/// `path` under /api/v1 as a POST with `body`.
async fn post<S: ApiApp>(app: &S, path: &str, who: &As, body: Value) -> Reply {
    send(app, Method::POST, &format!("/api/v1{path}"), who, Some(body)).await
}

#[actix_web::test]
async fn api_rate_limits_sixth_two_factor_attempt_in_a_minute_is_429() {
    const T0: i64 = 1_700_000_000;
    let limits_clock = TestClock::at("2026-11-26T10:00:00Z");
    let clock = Arc::new(SettableClock::new(Utc.timestamp_opt(T0, 0).unwrap()));
    let config = ApiConfig { rate_limit_two_factor: ApiConfig::default().rate_limit_two_factor, ..test_config() };
    let injected = Injected { limits_clock: Some(limits_clock.clone()), clock: Some(clock.clone()), mailer: None };
    let (_db, app) = app_injected(config, injected).await;
    let session = account(&app, "owner@example.org").await;
    let who = session.with_csrf();
    let two_factor_on = async || {
        let me = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
        me.body["two_factor_enabled"].as_bool().unwrap()
    };

    // Confirming the secret: five wrong codes, then the right one is refused too.
    let secret = post(&app, "/auth/2fa/enable", &who, json!({})).await.body["secret"].as_str().unwrap().to_owned();
    for attempt in 1..=5 {
        let r = post(&app, "/auth/2fa/verify", &who, json!({"code": "000000"})).await;
        assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "invalid_totp"), "attempt {attempt}");
    }
    let sixth = post(&app, "/auth/2fa/verify", &who, json!({"code": totp_code_b32(&secret, T0)})).await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{:?}", sixth.body);
    assert_eq!(retry_after(&sixth), 60);
    assert!(!two_factor_on().await, "a refused attempt changes nothing");
    limits_clock.advance(TimeDelta::minutes(1));
    let r = post(&app, "/auth/2fa/verify", &who, json!({"code": totp_code_b32(&secret, T0)})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(two_factor_on().await);

    // New backup codes: the verify above and four wrong codes, then the right code is refused.
    clock.advance(TimeDelta::seconds(30));
    let fresh = totp_code_b32(&secret, T0 + 30);
    for attempt in 2..=5 {
        let r = post(&app, "/auth/2fa/backup-codes", &who, json!({"code": "000000"})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {:?}", r.body);
    }
    let sixth = post(&app, "/auth/2fa/backup-codes", &who, json!({"code": fresh})).await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{:?}", sixth.body);
    // The limit is per account and shared with login: the code at login is refused as well.
    let login = post(
        &app,
        "/auth/login",
        &As::Nobody,
        json!({"email": "owner@example.org", "password": PASSWORD, "totp_code": fresh}),
    )
    .await;
    assert_eq!(login.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", login.body);
    limits_clock.advance(TimeDelta::minutes(1));
    let r = post(&app, "/auth/2fa/backup-codes", &who, json!({"code": fresh})).await;
    assert_eq!(r.status, StatusCode::OK, "the code was not spent by the refused attempts: {:?}", r.body);

    // Turning it off: wrong passwords and wrong codes count alike; the sixth try is refused
    // even with both factors right.
    clock.advance(TimeDelta::seconds(30));
    let fresh = totp_code_b32(&secret, T0 + 60);
    for attempt in 2..=5 {
        let body = if attempt % 2 == 0 {
            json!({"password": "not the password at all", "code": fresh})
        } else {
            json!({"password": PASSWORD, "code": "000000"})
        };
        let r = post(&app, "/auth/2fa/disable", &who, body).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {attempt}: {:?}", r.body);
    }
    let sixth = post(&app, "/auth/2fa/disable", &who, json!({"password": PASSWORD, "code": fresh})).await;
    assert_eq!((sixth.status, sixth.code()), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{:?}", sixth.body);
    assert!(two_factor_on().await, "still on");
    limits_clock.advance(TimeDelta::minutes(1));
    let r = post(&app, "/auth/2fa/disable", &who, json!({"password": PASSWORD, "code": fresh})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert!(!two_factor_on().await);
}

//! API: the activity log: what is recorded (logins, keys, sessions and every change to account
//! security), filters, pages, CSV export, and owners' privacy.

use crate::{
    api_email::{mail_app_with, reset_token, verification_token},
    api_support::{
        ApiApp, As, Injected, Login, PASSWORD, Reply, account, app, call, call_raw, create_key, login, login_attempt,
        peer, register, request, send, session_of, totp_code_b32,
    },
};
use actix_web::http::{Method, StatusCode, header};
use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use smtpy_admin::api::clock::SettableClock;
use std::sync::Arc;

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

async fn logs<S: crate::api_support::ApiApp>(app: &S, who: &As, query: &str) -> crate::api_support::Reply {
    send(app, Method::GET, &format!("/api/v1/activity-logs{query}"), who, None).await
}

fn actions(body: &Value) -> Vec<&str> {
    body["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect()
}

/// Logs in with a browser User-Agent from `ip`.
async fn browser_login<S: crate::api_support::ApiApp>(app: &S, email: &str, ip: &str) -> Login {
    let body = json!({"email": email, "password": PASSWORD});
    let req = request(Method::POST, "/api/v1/auth/login", &As::Nobody, Some(body))
        .peer_addr(peer(ip))
        .insert_header((header::USER_AGENT, UA));
    let r = call(app, req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let set_cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    let cookie = set_cookie.strip_prefix("smtpy_session=").unwrap().split(';').next().unwrap().to_owned();
    Login { cookie, csrf: r.body["csrf_token"].as_str().unwrap().to_owned(), body: r.body }
}

#[actix_web::test]
async fn api_activity_logs_record_each_action() {
    let (db, app) = app().await;
    register(&app, "owner@example.org").await;
    let wrong = login_attempt(&app, "owner@example.org", "not the password at all", "198.51.100.7").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let laptop = browser_login(&app, "owner@example.org", "198.51.100.8").await;
    let key = create_key(&app, &laptop.with_csrf(), "read").await;
    let key_id = key["id"].as_str().unwrap();
    let path = format!("/api/v1/users/api-keys/{key_id}");
    assert_eq!(send(&app, Method::DELETE, &path, &laptop.with_csrf(), None).await.status, StatusCode::NO_CONTENT);
    let phone = login(&app, "owner@example.org").await;
    let phone_sessions = send(&app, Method::GET, "/api/v1/users/sessions", &phone.without_csrf(), None).await;
    let phone_id =
        phone_sessions.body["items"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let path = format!("/api/v1/users/sessions/{phone_id}");
    assert_eq!(send(&app, Method::DELETE, &path, &laptop.with_csrf(), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        send(&app, Method::POST, "/api/v1/auth/logout", &laptop.with_csrf(), None).await.status,
        StatusCode::NO_CONTENT
    );
    // A refused login for an address without an account is recorded nowhere.
    let unknown = login_attempt(&app, "nobody@example.org", PASSWORD, "198.51.100.9").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);

    let reader = login(&app, "owner@example.org").await;
    let r = logs(&app, &reader.without_csrf(), "").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        actions(&r.body),
        [
            "login_succeeded",
            "logout",
            "session_revoked",
            "login_succeeded",
            "api_key_revoked",
            "api_key_created",
            "login_succeeded",
            "login_failed",
        ]
    );
    assert_eq!(
        (r.body["total"].as_i64(), r.body["page"].as_i64(), r.body["per_page"].as_i64()),
        (Some(8), Some(1), Some(50))
    );
    let items = r.body["items"].as_array().unwrap();
    let entry = |action: &str| items.iter().rev().find(|e| e["action"] == action).unwrap();
    let failed = entry("login_failed");
    assert_eq!((&failed["ip"], &failed["details"]["reason"]), (&json!("198.51.100.7"), &json!("wrong_password")));
    let laptop_login = entry("login_succeeded");
    assert_eq!((&laptop_login["ip"], &laptop_login["user_agent"]), (&json!("198.51.100.8"), &json!(UA)));
    let created = entry("api_key_created");
    assert_eq!((&created["details"]["key_id"], &created["details"]["scope"]), (&json!(key_id), &json!("read")));
    assert_eq!(created["user_agent"], Value::Null, "the test client sends no User-Agent");
    assert_eq!(entry("api_key_revoked")["details"]["key_id"], key_id);
    assert_eq!(entry("session_revoked")["details"]["session_id"], phone_id);
    assert_eq!(entry("logout")["details"]["session_id"], laptop_login["details"]["session_id"]);
    for e in items {
        assert!(e["id"].is_string() && e["created_at"].is_string() && e["updated_at"].is_string(), "{e}");
    }

    let client = db.client().await.unwrap();
    let all: i64 = client.query_one("SELECT count(*) FROM activity_logs", &[]).await.unwrap().get(0);
    assert_eq!(all, 8, "the 8 listed; none for the unknown address");
}

/// Where the account-security requests come from, so each entry can be shown to carry them.
const SECURITY_IP: &str = "198.51.100.20";
const SECURITY_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15";

/// A request from [`SECURITY_IP`] with [`SECURITY_UA`].
async fn from_browser<S: ApiApp>(app: &S, method: Method, path: &str, who: &As, body: Option<Value>) -> Reply {
    let req = request(method, &format!("/api/v1{path}"), who, body)
        .peer_addr(peer(SECURITY_IP))
        .insert_header((header::USER_AGENT, SECURITY_UA));
    call(app, req).await
}

#[actix_web::test]
async fn api_activity_logs_record_account_security_actions() {
    const T0: i64 = 1_700_000_000;
    const OWNER: &str = "owner@example.org";
    const CHANGED: &str = "a changed password, long enough";
    const RESET: &str = "a password set by a reset link";
    let clock = Arc::new(SettableClock::new(Utc.timestamp_opt(T0, 0).unwrap()));
    let (mail, app) = mail_app_with(Injected { clock: Some(clock.clone()), ..Injected::default() }).await;
    let ok = |r: &Reply, what: &str| assert!(r.status.is_success(), "{what}: {} {:?}", r.status, r.body);
    let browser_login = async |password: &str, extra: Value| {
        let mut body = json!({"email": OWNER, "password": password});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        session_of(from_browser(&app, Method::POST, "/auth/login", &As::Nobody, Some(body)).await)
    };

    register(&app, OWNER).await;
    let token = verification_token(&mail, OWNER).await;
    ok(
        &from_browser(&app, Method::POST, "/auth/verify-email", &As::Nobody, Some(json!({"token": token}))).await,
        "verify",
    );
    let laptop = browser_login(PASSWORD, json!({})).await;
    let who = laptop.with_csrf();
    let sessions = send(&app, Method::GET, "/api/v1/users/sessions", &laptop.without_csrf(), None).await;
    let laptop_id =
        sessions.body["items"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"].clone();
    let _phone = browser_login(PASSWORD, json!({})).await;
    let change = json!({"current_password": PASSWORD, "new_password": CHANGED});
    ok(&from_browser(&app, Method::PATCH, "/users/me", &who, Some(change)).await, "password change");
    let prefs = json!({"theme": "dark", "weekly_reports": true});
    ok(&from_browser(&app, Method::PUT, "/users/preferences", &who, Some(prefs)).await, "preferences");

    let enrolment = from_browser(&app, Method::POST, "/auth/2fa/enable", &who, Some(json!({}))).await;
    let secret = enrolment.body["secret"].as_str().unwrap().to_owned();
    let code = json!({"code": totp_code_b32(&secret, T0)});
    ok(&from_browser(&app, Method::POST, "/auth/2fa/verify", &who, Some(code)).await, "2fa verify");
    clock.advance(TimeDelta::seconds(30));
    let code = json!({"code": totp_code_b32(&secret, T0 + 30)});
    let regenerated = from_browser(&app, Method::POST, "/auth/2fa/backup-codes", &who, Some(code)).await;
    ok(&regenerated, "backup codes");
    let backup_code = regenerated.body["codes"][0].as_str().unwrap().to_owned();
    let _tablet = browser_login(CHANGED, json!({"backup_code": backup_code})).await;
    ok(&from_browser(&app, Method::DELETE, "/users/sessions", &who, None).await, "revoke the others");
    clock.advance(TimeDelta::seconds(30));
    let disable = json!({"password": CHANGED, "code": totp_code_b32(&secret, T0 + 60)});
    ok(&from_browser(&app, Method::POST, "/auth/2fa/disable", &who, Some(disable)).await, "2fa disable");
    let deletion = json!({"password": CHANGED});
    ok(&from_browser(&app, Method::POST, "/users/me/deletion", &who, Some(deletion)).await, "deletion");
    ok(&from_browser(&app, Method::DELETE, "/users/me/deletion", &who, None).await, "cancel deletion");
    let request_reset = json!({"email": OWNER});
    ok(&from_browser(&app, Method::POST, "/auth/password-reset", &As::Nobody, Some(request_reset)).await, "reset");
    let confirm = json!({"token": reset_token(&mail, OWNER).await, "password": RESET});
    ok(&from_browser(&app, Method::POST, "/auth/password-reset/confirm", &As::Nobody, Some(confirm)).await, "confirm");

    // Read with a session from elsewhere, so no entry matches the request only by chance.
    let reader = login_with_password(&app, OWNER, RESET).await;
    let r = logs(&app, &reader.without_csrf(), "?per_page=200").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let items = r.body["items"].as_array().unwrap();
    let expected = [
        ("email_verified", json!({"email": OWNER})),
        ("password_changed", json!({"other_sessions_revoked": 1})),
        ("preferences_updated", json!({"changed": ["weekly_reports", "theme"]})),
        ("two_factor_enabled", json!({})),
        ("backup_codes_regenerated", json!({"codes": 10})),
        ("backup_code_used", json!({})),
        ("session_revoked", json!({"revoked": 1, "kept_session_id": laptop_id})),
        ("two_factor_disabled", json!({"confirmed_with": "totp"})),
        ("deletion_requested", Value::Null),
        ("deletion_cancelled", json!({})),
        ("password_reset_requested", json!({})),
        ("password_reset", json!({"sessions_revoked": 1})),
    ];
    for (action, details) in &expected {
        let found: Vec<&Value> = items.iter().filter(|e| e["action"] == *action).collect();
        assert_eq!(found.len(), 1, "{action}: {items:#?}");
        let entry = found[0];
        assert_eq!((&entry["ip"], &entry["user_agent"]), (&json!(SECURITY_IP), &json!(SECURITY_UA)), "{action}");
        if details.is_null() {
            // The date 30 days on, by the app's clock.
            let due = Utc.timestamp_opt(T0 + 60, 0).unwrap() + TimeDelta::days(30);
            let scheduled = entry["details"]["scheduled_at"].as_str().unwrap();
            assert_eq!(chrono::DateTime::parse_from_rfc3339(scheduled).unwrap(), due, "{action}");
        } else {
            assert_eq!(&entry["details"], details, "{action}");
        }
    }
    // Newest first, in the order they happened (logins in between).
    let order: Vec<&str> = actions(&r.body).into_iter().filter(|a| *a != "login_succeeded").collect();
    let mut wanted: Vec<&str> = expected.iter().map(|(a, _)| *a).collect();
    wanted.reverse();
    assert_eq!(order, wanted);
}

/// Logs `email` in with `password` (no particular client).
async fn login_with_password<S: ApiApp>(app: &S, email: &str, password: &str) -> Login {
    session_of(
        send(app, Method::POST, "/api/v1/auth/login", &As::Nobody, Some(json!({"email": email, "password": password})))
            .await,
    )
}

#[actix_web::test]
async fn api_activity_logs_disabled_account_login_is_recorded_as_failed() {
    let (db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    let client = db.client().await.unwrap();
    client.execute("UPDATE users SET disabled = true", &[]).await.unwrap();
    let r = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.7").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    client.execute("UPDATE users SET disabled = false", &[]).await.unwrap();
    let r = logs(&app, &session.without_csrf(), "?action=login_failed").await;
    assert_eq!(r.body["items"][0]["details"]["reason"], "account_disabled");
}

#[actix_web::test]
async fn api_activity_logs_filters_and_pages() {
    let (_db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    for _ in 0..5 {
        login_attempt(&app, "owner@example.org", "not the password at all", "198.51.100.7").await;
    }
    login(&app, "owner@example.org").await;
    let who = session.without_csrf();

    let failed = logs(&app, &who, "?action=login_failed").await;
    assert_eq!((failed.body["total"].as_i64(), failed.body["items"].as_array().unwrap().len()), (Some(5), 5));
    assert!(actions(&failed.body).iter().all(|a| *a == "login_failed"));

    // 7 in all: 2 logins that succeeded and 5 that failed; pages of 3.
    let mut pages = Vec::new();
    for n in 1..=4 {
        pages.push(logs(&app, &who, &format!("?per_page=3&page={n}")).await);
    }
    let [one, two, three, four] = <[_; 4]>::try_from(pages).unwrap();
    assert_eq!(
        (one.body["total"].as_i64(), one.body["per_page"].as_i64(), three.body["page"].as_i64()),
        (Some(7), Some(3), Some(3))
    );
    let sizes: Vec<usize> =
        [&one, &two, &three, &four].iter().map(|r| r.body["items"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, [3, 3, 1, 0]);
    let ids: Vec<&Value> =
        [&one, &two, &three].iter().flat_map(|r| r.body["items"].as_array().unwrap()).map(|e| &e["id"]).collect();
    let mut distinct = ids.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 7, "no entry on two pages");

    // from is inclusive, to exclusive: splitting at one entry's time puts it in the later half.
    let all = logs(&app, &who, "?per_page=200").await;
    let items = all.body["items"].as_array().unwrap();
    let middle = items[3]["created_at"].as_str().unwrap();
    let encoded = middle.replace('+', "%2B");
    let later = logs(&app, &who, &format!("?from={encoded}")).await;
    let earlier = logs(&app, &who, &format!("?to={encoded}")).await;
    assert_eq!((later.body["total"].as_i64(), earlier.body["total"].as_i64()), (Some(4), Some(3)));
    assert_eq!(later.body["items"][3]["id"], items[3]["id"]);
    let both = logs(&app, &who, &format!("?action=login_failed&from={encoded}&to=2999-01-01T00:00:00Z")).await;
    // Newest first: the later login, then five failures; items[0..=3] hold three of them.
    assert_eq!(both.body["total"].as_i64(), Some(3));
    // An offset written with an unencoded + (which arrives as a space) still reads right.
    let future = logs(&app, &who, "?from=2999-01-01T01:00:00+01:00").await;
    assert_eq!((future.status, future.body["total"].as_i64()), (StatusCode::OK, Some(0)));

    for bad in [
        "?action=nope",
        "?from=yesterday",
        "?to=2026-13-01T00:00:00Z",
        "?from=2026-11-27T00:00:00Z&to=2026-11-26T00:00:00Z",
        "?per_page=0",
        "?per_page=201",
        "?page=0",
        "?page=x",
    ] {
        let r = logs(&app, &who, bad).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{bad}");
        let r = call_raw(&app, request(Method::GET, &format!("/api/v1/activity-logs/export{bad}"), &who, None)).await;
        if !bad.contains("page") {
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "export{bad}");
        }
    }
    let nobody = logs(&app, &As::Nobody, "").await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn api_activity_logs_csv_export() {
    let (_db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    // A hostile User-Agent on a failed login: commas, quotes, a line break, a formula.
    let hostile = "=HYPERLINK(\"http://evil.example\", \"x\"), really";
    let body = json!({"email": "owner@example.org", "password": "not the password at all"});
    let req = request(Method::POST, "/api/v1/auth/login", &As::Nobody, Some(body))
        .peer_addr(peer("198.51.100.7"))
        .insert_header((header::USER_AGENT, hostile));
    assert_eq!(call(&app, req).await.status, StatusCode::UNAUTHORIZED);
    create_key(&app, &session.with_csrf(), "full").await;

    let r = call_raw(&app, request(Method::GET, "/api/v1/activity-logs/export", &session.without_csrf(), None)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers.get(header::CONTENT_TYPE).unwrap(), "text/csv; charset=utf-8");
    let disposition = r.headers.get(header::CONTENT_DISPOSITION).unwrap().to_str().unwrap();
    assert!(disposition.starts_with("attachment") && disposition.contains("activity-log.csv"), "{disposition}");
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], "id,created_at,action,ip,user_agent,details");
    assert_eq!(lines.len(), 4, "header and 3 entries (key created, failure, login): {}", r.body);
    assert!(lines[1].contains(",api_key_created,"), "newest first: {}", lines[1]);
    // RFC 4180: a field with a comma or quote is quoted and its quotes doubled; the formula is
    // turned into text by a leading quote.
    let expected_ua = "\"'=HYPERLINK(\"\"http://evil.example\"\", \"\"x\"\"), really\"";
    let failed = lines.iter().find(|l| l.contains(",login_failed,")).unwrap();
    assert!(failed.contains(&format!(",198.51.100.7,{expected_ua},")), "{failed}");
    assert!(failed.ends_with(r#","{""reason"":""wrong_password""}""#), "{failed}");
    assert!(lines[1].contains(r#""name"":""script"""#), "{}", lines[1]);

    let filtered = call_raw(
        &app,
        request(Method::GET, "/api/v1/activity-logs/export?action=login_failed", &session.without_csrf(), None),
    )
    .await;
    assert_eq!(filtered.body.lines().count(), 2, "{}", filtered.body);
    let nobody = call_raw(&app, request(Method::GET, "/api/v1/activity-logs/export", &As::Nobody, None)).await;
    assert_eq!(nobody.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn api_activity_logs_of_another_user_are_invisible() {
    let (_db, app) = app().await;
    let alice = account(&app, "alice@example.org").await;
    let bob = account(&app, "bob@example.org").await;
    let bobs_key = create_key(&app, &bob.with_csrf(), "full").await;
    login_attempt(&app, "bob@example.org", "not the password at all", "198.51.100.66").await;

    // Alice's log has only her login, whichever way she asks (filters included).
    for query in ["", "?action=login_failed", "?action=api_key_created", "?per_page=200"] {
        let r = logs(&app, &alice.without_csrf(), query).await;
        let expected = if query.is_empty() || query.contains("per_page") { vec!["login_succeeded"] } else { vec![] };
        assert_eq!(actions(&r.body), expected, "{query}");
        assert_eq!(r.body["total"].as_i64(), Some(expected.len() as i64), "{query}");
    }
    let export =
        call_raw(&app, request(Method::GET, "/api/v1/activity-logs/export", &alice.without_csrf(), None)).await;
    assert!(!export.body.contains(bobs_key["id"].as_str().unwrap()), "{}", export.body);
    assert!(!export.body.contains("198.51.100.66") && !export.body.contains("api_key_created"), "{}", export.body);
    assert_eq!(export.body.lines().count(), 2);

    // Bob, with his API key, sees his own three.
    let r = logs(&app, &As::Key(bobs_key["key"].as_str().unwrap().to_owned()), "").await;
    assert_eq!(actions(&r.body), ["login_failed", "api_key_created", "login_succeeded"]);
}

#[actix_web::test]
async fn api_activity_logs_an_action_whose_entry_cannot_be_written_does_not_happen() {
    let (db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    // Make every activity-log write fail, as a full disk or a broken table would.
    let client = db.client().await.unwrap();
    client
        .batch_execute(
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END; $$ LANGUAGE plpgsql;
             CREATE TRIGGER refuse BEFORE INSERT ON activity_logs FOR EACH ROW EXECUTE FUNCTION refuse();",
        )
        .await
        .unwrap();
    let r = send(
        &app,
        Method::POST,
        "/api/v1/users/api-keys",
        &session.with_csrf(),
        Some(json!({"name": "k", "scope": "full"})),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    let keys: i64 = client.query_one("SELECT count(*) FROM api_keys", &[]).await.unwrap().get(0);
    assert_eq!(keys, 0, "the key was rolled back with its entry");
    let r = login_attempt(&app, "owner@example.org", PASSWORD, "198.51.100.7").await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let sessions: i64 = client.query_one("SELECT count(*) FROM sessions", &[]).await.unwrap().get(0);
    assert_eq!(sessions, 1, "no new session without its entry");
    let r = send(&app, Method::POST, "/api/v1/auth/logout", &session.with_csrf(), None).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let me = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
    assert_eq!(me.status, StatusCode::OK, "the session is still live");

    // Account security: a password change, a preferences change and a deletion request
    // whose entries cannot be written are not made either.
    let hash_before: String = client.query_one("SELECT password_hash FROM users", &[]).await.unwrap().get(0);
    let change = json!({"current_password": PASSWORD, "new_password": "another long password"});
    let r = send(&app, Method::PATCH, "/api/v1/users/me", &session.with_csrf(), Some(change)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let hash_after: String = client.query_one("SELECT password_hash FROM users", &[]).await.unwrap().get(0);
    assert_eq!(hash_before, hash_after, "the password is unchanged");
    let prefs = json!({"theme": "dark"});
    let r = send(&app, Method::PUT, "/api/v1/users/preferences", &session.with_csrf(), Some(prefs)).await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let r = send(&app, Method::GET, "/api/v1/users/preferences", &session.without_csrf(), None).await;
    assert_eq!(r.body["theme"], "auto", "the preferences are unchanged");
    let r = send(
        &app,
        Method::POST,
        "/api/v1/users/me/deletion",
        &session.with_csrf(),
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    let me = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
    assert_eq!(me.body["deletion_scheduled_at"], Value::Null, "no deletion is scheduled");
}

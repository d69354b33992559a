//! API: registration, login, logout, sessions and CSRF.

use crate::api_support::{As, PASSWORD, account, app, create_key, login, register, send};
use actix_web::http::{Method, StatusCode, header};
use serde_json::json;

#[actix_web::test]
async fn register_login_and_me() {
    let (_db, app) = app().await;
    register(&app, "Owner@Example.org").await;

    let r = send(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        &As::Nobody,
        Some(json!({"email": "owner@example.org", "password": PASSWORD})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["user"]["email"], "owner@example.org");
    assert!(r.body["csrf_token"].as_str().unwrap().len() >= 43);
    let cookie = r.headers.get(header::SET_COOKIE).unwrap().to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/api"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS configured: {cookie}");

    let session = login(&app, "owner@example.org").await;
    let me = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["email"], "owner@example.org");
    assert_eq!(me.body["id"], session.body["user"]["id"]);
    assert!(me.body.get("password_hash").is_none());

    let nobody = send(&app, Method::GET, "/api/v1/users/me", &As::Nobody, None).await;
    assert_eq!((nobody.status, nobody.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
}

#[actix_web::test]
async fn registration_refuses_duplicates_and_weak_passwords() {
    let (_db, app) = app().await;
    register(&app, "owner@example.org").await;
    let again = send(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        &As::Nobody,
        Some(json!({"email": "OWNER@example.org", "password": PASSWORD})),
    )
    .await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "conflict"));
    let weak = send(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        &As::Nobody,
        Some(json!({"email": "new@example.org", "password": "short pass"})),
    )
    .await;
    assert_eq!((weak.status, weak.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
    let bad_email = send(
        &app,
        Method::POST,
        "/api/v1/auth/register",
        &As::Nobody,
        Some(json!({"email": "not an address", "password": PASSWORD})),
    )
    .await;
    assert_eq!((bad_email.status, bad_email.code()), (StatusCode::BAD_REQUEST, "invalid_input"));
}

#[actix_web::test]
async fn wrong_password_and_unknown_email_get_the_same_401() {
    let (_db, app) = app().await;
    register(&app, "owner@example.org").await;
    let wrong = send(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        &As::Nobody,
        Some(json!({"email": "owner@example.org", "password": "not the password at all"})),
    )
    .await;
    let unknown = send(
        &app,
        Method::POST,
        "/api/v1/auth/login",
        &As::Nobody,
        Some(json!({"email": "nobody@example.org", "password": PASSWORD})),
    )
    .await;
    assert_eq!((wrong.status, wrong.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
}

#[actix_web::test]
async fn cookie_writes_need_the_csrf_token() {
    let (_db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    let body = json!({"name": "ci", "scope": "full"});

    let without = send(&app, Method::POST, "/api/v1/users/api-keys", &session.without_csrf(), Some(body.clone())).await;
    assert_eq!((without.status, without.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let wrong = As::Session { cookie: session.cookie.clone(), csrf: Some("forged".to_owned()) };
    let forged = send(&app, Method::POST, "/api/v1/users/api-keys", &wrong, Some(body.clone())).await;
    assert_eq!((forged.status, forged.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let list = send(&app, Method::GET, "/api/v1/users/api-keys", &session.with_csrf(), None).await;
    assert_eq!(list.body["total"], 0, "a refused write changed nothing");

    let with = send(&app, Method::POST, "/api/v1/users/api-keys", &session.with_csrf(), Some(body)).await;
    assert_eq!(with.status, StatusCode::CREATED, "{:?}", with.body);
    // Another session's CSRF token does not fit this session.
    let other = login(&app, "owner@example.org").await;
    let crossed = As::Session { cookie: session.cookie.clone(), csrf: Some(other.csrf.clone()) };
    let r = send(&app, Method::POST, "/api/v1/auth/logout", &crossed, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_session_revoked_elsewhere_gets_401() {
    let (_db, app) = app().await;
    let laptop = account(&app, "owner@example.org").await;
    let phone = login(&app, "owner@example.org").await;

    let list = send(&app, Method::GET, "/api/v1/users/sessions", &phone.without_csrf(), None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 2);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_id = items.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();

    let revoke =
        send(&app, Method::DELETE, &format!("/api/v1/users/sessions/{laptop_id}"), &phone.with_csrf(), None).await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let r = send(&app, Method::GET, "/api/v1/users/me", &laptop.without_csrf(), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
    let again =
        send(&app, Method::DELETE, &format!("/api/v1/users/sessions/{laptop_id}"), &phone.with_csrf(), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Logout ends the phone's session too.
    let out = send(&app, Method::POST, "/api/v1/auth/logout", &phone.with_csrf(), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let r = send(&app, Method::GET, "/api/v1/users/me", &phone.without_csrf(), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn another_users_session_id_is_404_and_stays_live() {
    let (_db, app) = app().await;
    let alice = account(&app, "alice@example.org").await;
    let mallory = account(&app, "mallory@example.org").await;
    let list = send(&app, Method::GET, "/api/v1/users/sessions", &alice.without_csrf(), None).await;
    let alice_session = list.body["items"][0]["id"].as_str().unwrap().to_owned();

    let r = send(&app, Method::DELETE, &format!("/api/v1/users/sessions/{alice_session}"), &mallory.with_csrf(), None)
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let mallorys = send(&app, Method::GET, "/api/v1/users/sessions", &mallory.without_csrf(), None).await;
    assert_eq!(mallorys.body["total"], 1, "mallory sees only her own sessions");
    let me = send(&app, Method::GET, "/api/v1/users/me", &alice.without_csrf(), None).await;
    assert_eq!(me.status, StatusCode::OK);
    // A full key of mallory's cannot reach alice's session either.
    let key = create_key(&app, &mallory.with_csrf(), "full").await;
    let by_key = As::Key(key["key"].as_str().unwrap().to_owned());
    let r = send(&app, Method::DELETE, &format!("/api/v1/users/sessions/{alice_session}"), &by_key, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// The only session's `last_seen_at` and `updated_at`, in seconds since the epoch.
async fn seen(client: &tokio_postgres::Client) -> (f64, f64) {
    let sql = "SELECT extract(epoch FROM last_seen_at)::float8, extract(epoch FROM updated_at)::float8 FROM sessions";
    let row = client.query_one(sql, &[]).await.unwrap();
    (row.get(0), row.get(1))
}

/// A session's `last_seen_at` is written at most once a minute, not on every request: the
/// database is not written to for each authenticated read.
#[actix_web::test]
async fn session_last_seen_is_written_at_most_once_a_minute() {
    let (db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    let client = db.client().await.unwrap();
    let at_login = seen(&client).await;
    for _ in 0..5 {
        let r = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(seen(&client).await, at_login, "requests within the minute wrote the session row");

    // A minute later, the next request records the activity once.
    client.execute("UPDATE sessions SET last_seen_at = last_seen_at - interval '2 minutes'", &[]).await.unwrap();
    let (stale, _) = seen(&client).await;
    let r = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let (touched, updated) = seen(&client).await;
    assert!(touched > stale + 90.0, "{stale} -> {touched}");
    let r = send(&app, Method::GET, "/api/v1/users/me", &session.without_csrf(), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(seen(&client).await, (touched, updated), "a second request in the same minute wrote again");
}

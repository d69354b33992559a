//! API: password change, logging out other sessions, account deletion with a grace period,
//! and invite-only registration with codes from `smtpy-admin user invite`.

use crate::api_support::{
    ApiApp, As, Login, PASSWORD, Reply, account, app, app_clocked, create_key, login, send, test_config,
};
use actix_web::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{Value, json};
use smtpy_admin::api::clock::{SettableClock, SystemClock};
use smtpy_e2e::{Admin, TestDb};
use smtpy_shared::config::ApiConfig;
use std::sync::Arc;

const EMAIL: &str = "owner@example.org";
const NEW_PASSWORD: &str = "a much newer passphrase";

async fn me<S: ApiApp>(app: &S, who: &As) -> Reply {
    send(app, Method::GET, "/api/v1/users/me", who, None).await
}

async fn login_as<S: ApiApp>(app: &S, email: &str, password: &str) -> Reply {
    send(app, Method::POST, "/api/v1/auth/login", &As::Nobody, Some(json!({"email": email, "password": password})))
        .await
}

#[actix_web::test]
async fn password_change_revokes_other_sessions_but_not_the_current_one() {
    let (_db, app) = app().await;
    let current = account(&app, EMAIL).await;
    let other = login(&app, EMAIL).await;
    let bystander = account(&app, "bystander@example.org").await;
    let who = current.with_csrf();
    let patch = |body: Value| send(&app, Method::PATCH, "/api/v1/users/me", &who, Some(body));

    let r = patch(json!({"current_password": "not my password!", "new_password": NEW_PASSWORD})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "wrong_password"), "{:?}", r.body);
    let r = patch(json!({"current_password": PASSWORD, "new_password": "short"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{:?}", r.body);
    let r = patch(json!({"new_password": NEW_PASSWORD})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    let r = patch(json!({})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(me(&app, &other.without_csrf()).await.status, StatusCode::OK, "refused changes revoke nothing");

    let r = patch(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["email"], EMAIL);

    let gone = me(&app, &other.without_csrf()).await;
    assert_eq!((gone.status, gone.code()), (StatusCode::UNAUTHORIZED, "unauthorized"), "{:?}", gone.body);
    assert_eq!(me(&app, &current.without_csrf()).await.status, StatusCode::OK, "the current session stays");
    assert_eq!(me(&app, &bystander.without_csrf()).await.status, StatusCode::OK, "another account is untouched");
    assert_eq!(login_as(&app, EMAIL, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(login_as(&app, EMAIL, NEW_PASSWORD).await.status, StatusCode::OK);
}

#[actix_web::test]
async fn password_change_needs_a_login_session_and_csrf() {
    let (_db, app) = app().await;
    let session = account(&app, EMAIL).await;
    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let key = create_key(&app, &session.with_csrf(), "full").await["key"].as_str().unwrap().to_owned();
    let r = send(&app, Method::PATCH, "/api/v1/users/me", &As::Key(key), Some(body.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r = send(&app, Method::PATCH, "/api/v1/users/me", &session.without_csrf(), Some(body)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(login_as(&app, EMAIL, PASSWORD).await.status, StatusCode::OK, "the password is unchanged");
}

#[actix_web::test]
async fn delete_sessions_revokes_all_but_the_current_one() {
    let (_db, app) = app().await;
    let current = account(&app, EMAIL).await;
    let others: Vec<Login> = vec![login(&app, EMAIL).await, login(&app, EMAIL).await];
    let bystander = account(&app, "bystander@example.org").await;

    let r = send(&app, Method::DELETE, "/api/v1/users/sessions", &current.without_csrf(), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token: {:?}", r.body);

    let r = send(&app, Method::DELETE, "/api/v1/users/sessions", &current.with_csrf(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["revoked"], 2);
    for other in &others {
        assert_eq!(me(&app, &other.without_csrf()).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(me(&app, &current.without_csrf()).await.status, StatusCode::OK);
    assert_eq!(me(&app, &bystander.without_csrf()).await.status, StatusCode::OK, "only the caller's sessions");
    let list = send(&app, Method::GET, "/api/v1/users/sessions", &current.without_csrf(), None).await;
    assert_eq!(list.body["total"], 1, "{:?}", list.body);

    let r = send(&app, Method::DELETE, "/api/v1/users/sessions", &current.with_csrf(), None).await;
    assert_eq!(r.body["revoked"], 0, "nothing left to revoke: {:?}", r.body);
}

#[actix_web::test]
async fn deletion_request_shows_the_date_and_cancel_clears_it() {
    let requested = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let (_db, app) = app_clocked(test_config(), Arc::new(SettableClock::new(requested))).await;
    let session = account(&app, EMAIL).await;
    let who = session.with_csrf();
    assert!(me(&app, &who).await.body["deletion_scheduled_at"].is_null());

    let request = |body: Value| send(&app, Method::POST, "/api/v1/users/me/deletion", &who, Some(body));
    let r = request(json!({"password": "not my password!"})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "wrong_password"), "{:?}", r.body);
    assert!(me(&app, &who).await.body["deletion_scheduled_at"].is_null());

    let r = request(json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let due: DateTime<Utc> = r.body["deletion_scheduled_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, requested + TimeDelta::days(30));
    let shown = me(&app, &who).await;
    assert_eq!(shown.body["deletion_scheduled_at"], r.body["deletion_scheduled_at"], "{:?}", shown.body);
    let twice = request(json!({"password": PASSWORD})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT, "{:?}", twice.body);
    // The owner can still log in during the grace period (to cancel).
    assert_eq!(login_as(&app, EMAIL, PASSWORD).await.status, StatusCode::OK);

    let r = send(&app, Method::DELETE, "/api/v1/users/me/deletion", &who, None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["deletion_scheduled_at"].is_null());
    assert!(me(&app, &who).await.body["deletion_scheduled_at"].is_null());
    let r = send(&app, Method::DELETE, "/api/v1/users/me/deletion", &who, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);
}

#[actix_web::test]
async fn deletion_is_scoped_to_the_caller_and_needs_a_session() {
    let (_db, app) = app().await;
    let owner = account(&app, EMAIL).await;
    let other = account(&app, "other@example.org").await;
    let key = create_key(&app, &owner.with_csrf(), "full").await["key"].as_str().unwrap().to_owned();
    let r =
        send(&app, Method::POST, "/api/v1/users/me/deletion", &As::Key(key), Some(json!({"password": PASSWORD}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    let r =
        send(&app, Method::POST, "/api/v1/users/me/deletion", &other.with_csrf(), Some(json!({"password": PASSWORD})))
            .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(me(&app, &owner.without_csrf()).await.body["deletion_scheduled_at"].is_null(), "only the caller's");
    let r = send(&app, Method::DELETE, "/api/v1/users/me/deletion", &owner.with_csrf(), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "cannot cancel another's: {:?}", r.body);
    assert!(!me(&app, &other.without_csrf()).await.body["deletion_scheduled_at"].is_null());
}

/// An app with `[api] registration = "invite"` on `clock`, and the admin CLI on its database.
async fn invite_mode(clock: Arc<dyn smtpy_admin::api::clock::Clock>) -> (TestDb, impl ApiApp, Admin) {
    let config = ApiConfig { registration: "invite".to_owned(), ..test_config() };
    let (db, app) = app_clocked(config, clock).await;
    let admin = Admin::new(db.url()).unwrap();
    (db, app, admin)
}

/// `smtpy-admin user invite ARGS`: the code it prints.
async fn invite(admin: &Admin, args: &[&str]) -> String {
    let out = admin.run(&[&["user", "invite"], args].concat()).await.unwrap();
    let code = out.trim().to_owned();
    assert_eq!(code.len(), 32, "{out}");
    code
}

async fn register<S: ApiApp>(app: &S, email: &str, password: &str, code: Option<&str>) -> Reply {
    let mut body = json!({"email": email, "password": password});
    if let Some(code) = code {
        body["invite_code"] = json!(code);
    }
    send(app, Method::POST, "/api/v1/auth/register", &As::Nobody, Some(body)).await
}

#[actix_web::test]
async fn invite_mode_admits_a_valid_code_once_and_refuses_missing_and_unknown_codes() {
    let (db, app, admin) = invite_mode(Arc::new(SystemClock)).await;
    let code = invite(&admin, &[]).await;

    let r = register(&app, EMAIL, PASSWORD, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "invitation_required"), "{:?}", r.body);
    let r = register(&app, EMAIL, PASSWORD, Some("")).await;
    assert_eq!(r.code(), "invitation_required", "{:?}", r.body);
    let r = register(&app, EMAIL, PASSWORD, Some("0123456789abcdef0123456789abcdef")).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "invitation_invalid"), "{:?}", r.body);

    let r = register(&app, EMAIL, PASSWORD, Some(&code.to_uppercase())).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = register(&app, "second@example.org", PASSWORD, Some(&code)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "invitation_invalid"), "reused: {:?}", r.body);
    assert_eq!(login_as(&app, "second@example.org", PASSWORD).await.status, StatusCode::UNAUTHORIZED);

    let row = db
        .client()
        .await
        .unwrap()
        .query_one("SELECT i.code_hash, u.email FROM invitations i JOIN users u ON u.id = i.used_by", &[])
        .await
        .unwrap();
    let hash: Vec<u8> = row.get(0);
    assert_eq!((hash.len(), row.get::<_, String>(1)), (32, EMAIL.to_owned()));
    assert!(!String::from_utf8_lossy(&hash).contains(&code), "stored hashed");
}

#[actix_web::test]
async fn invite_mode_refuses_an_expired_code() {
    let clock = Arc::new(SettableClock::new(Utc::now()));
    let (_db, app, admin) = invite_mode(clock.clone()).await;
    let code = invite(&admin, &["--days", "2"]).await;
    clock.advance(TimeDelta::days(2) + TimeDelta::minutes(1));
    let r = register(&app, EMAIL, PASSWORD, Some(&code)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "invitation_expired"), "{:?}", r.body);
    clock.advance(-TimeDelta::days(1));
    assert_eq!(register(&app, EMAIL, PASSWORD, Some(&code)).await.status, StatusCode::CREATED);
}

#[actix_web::test]
async fn invitation_for_an_address_admits_only_that_address() {
    let (_db, app, admin) = invite_mode(Arc::new(SystemClock)).await;
    let code = invite(&admin, &["--email", "Invited@Example.org"]).await;
    let r = register(&app, EMAIL, PASSWORD, Some(&code)).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "invitation_invalid"), "{:?}", r.body);
    let r = register(&app, "invited@example.org", PASSWORD, Some(&code)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[actix_web::test]
async fn a_failed_registration_does_not_spend_the_invitation() {
    let (_db, app, admin) = invite_mode(Arc::new(SystemClock)).await;
    let first = invite(&admin, &[]).await;
    let second = invite(&admin, &[]).await;
    assert_ne!(first, second);
    assert_eq!(register(&app, EMAIL, PASSWORD, Some(&first)).await.status, StatusCode::CREATED);
    // Weak password, then an address that has an account: the code survives both.
    assert_eq!(register(&app, "new@example.org", "short", Some(&second)).await.status, StatusCode::BAD_REQUEST);
    let r = register(&app, EMAIL, PASSWORD, Some(&second)).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(register(&app, "new@example.org", PASSWORD, Some(&second)).await.status, StatusCode::CREATED);
}

#[actix_web::test]
async fn invite_cli_validates_its_arguments_and_other_modes_are_unchanged() {
    let (db, invite_app, admin) = invite_mode(Arc::new(SystemClock)).await;
    for bad in [&["--days", "0"][..], &["--days", "366"], &["--email", "not an address"]] {
        let out = admin.output(&[&["user", "invite"], bad].concat(), None).await.unwrap();
        assert!(!out.success, "{bad:?} accepted: {}", out.stdout);
    }
    let n: i64 = db.client().await.unwrap().query_one("SELECT count(*) FROM invitations", &[]).await.unwrap().get(0);
    assert_eq!(n, 0);
    drop(invite_app);

    // Open: an invitation code is not needed (and one that is sent is ignored).
    let (_db, open) = app().await;
    assert_eq!(register(&open, EMAIL, PASSWORD, None).await.status, StatusCode::CREATED);
    assert_eq!(register(&open, "two@example.org", PASSWORD, Some("whatever")).await.status, StatusCode::CREATED);
    // Closed: nobody, not even with a code.
    let closed = ApiConfig { registration: "closed".to_owned(), ..test_config() };
    let (_db, closed) = app_clocked(closed, Arc::new(SystemClock)).await;
    let r = register(&closed, EMAIL, PASSWORD, Some("0123456789abcdef0123456789abcdef")).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{:?}", r.body);
}

//! API: user input never produces a 500 or a non-JSON error; the OpenAPI document covers every
//! route.

use crate::api_support::{As, account, app, call_raw, read, request, send};
use actix_web::{
    http::{Method, StatusCode, header},
    test::{self, TestRequest},
};

#[actix_web::test]
async fn malformed_input_gets_a_400_json_error() {
    let (_db, app) = app().await;
    let session = account(&app, "owner@example.org").await;

    let raw = |body: &'static str, content_type: &'static str| {
        TestRequest::post()
            .uri("/api/v1/auth/login")
            .insert_header((header::CONTENT_TYPE, content_type))
            .set_payload(body)
            .to_request()
    };
    for (body, content_type) in [
        ("{not json", "application/json"),
        (r#"{"email": "a@example.org"}"#, "application/json"),
        (r#"{"email": 5, "password": "x"}"#, "application/json"),
        (r#"{"email": "a@example.org", "password": "xxxxxxxxxxxxxxx"}"#, "text/plain"),
    ] {
        let r = read(test::call_service(&app, raw(body, content_type)).await).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{body} as {content_type}");
        assert!(r.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let auth = session.with_csrf();
    for (method, path) in [
        (Method::DELETE, "/api/v1/users/api-keys/not-a-uuid"),
        (Method::DELETE, "/api/v1/users/sessions/42"),
        (Method::GET, "/api/v1/users/api-keys?per_page=abc"),
        (Method::GET, "/api/v1/users/api-keys?per_page=0"),
        (Method::GET, "/api/v1/users/sessions?page=0"),
        (Method::GET, "/api/v1/users/sessions?page=-1"),
    ] {
        let r = send(&app, method.clone(), path, &auth, None).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{method} {path}");
    }

    let r = send(&app, Method::GET, "/api/v1/no/such/route", &As::Nobody, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = send(&app, Method::GET, "/api/v1/users/api-keys/not-a-uuid/extra", &auth, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = send(&app, Method::GET, "/api/v1/users/me", &As::Key("Basic abc".to_owned()), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn the_openapi_document_lists_every_route() {
    let (_db, app) = app().await;
    let r = send(&app, Method::GET, "/api/v1/openapi.json", &As::Nobody, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["openapi"].as_str().unwrap().starts_with("3."));
    for (method, path) in smtpy_admin::api::ROUTES {
        let full = format!("{}{path}", smtpy_admin::api::PREFIX);
        assert!(!r.body["paths"][&full][*method].is_null(), "{method} {full} missing from openapi.json");
    }
    let schemes = &r.body["components"]["securitySchemes"];
    assert!(!schemes["session_cookie"].is_null() && !schemes["api_key"].is_null(), "{schemes}");
}

#[actix_web::test]
async fn api_errors_a_method_the_path_does_not_have_is_405_with_allow() {
    let (_db, app) = app().await;
    let session = account(&app, "owner@example.org").await;
    let auth = session.with_csrf();
    for (method, path, allow) in [
        (Method::PUT, "/api/v1/users/me", "GET, PATCH"),
        (Method::TRACE, "/api/v1/users/me", "GET, PATCH"),
        (Method::GET, "/api/v1/auth/login", "POST"),
        (Method::POST, "/api/v1/users/sessions", "GET, DELETE"),
        (Method::PATCH, "/api/v1/users/api-keys/6f1e8a52-3c2b-4d7e-9a1f-0b2c3d4e5f60", "DELETE"),
        (Method::PUT, "/api/v1/openapi.json", "GET"),
    ] {
        let raw = call_raw(&app, request(method.clone(), path, &auth, None)).await;
        assert_eq!(raw.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(raw.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()), Some(allow), "{method} {path}");
        let r = send(&app, method.clone(), path, &auth, None).await;
        assert_eq!(r.code(), "method_not_allowed", "{method} {path}");
        // Nobody is told more than a caller: the same answer without credentials.
        let r = send(&app, method.clone(), path, &As::Nobody, None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} without credentials");
    }
}

#[actix_web::test]
async fn api_errors_the_openapi_document_states_the_limits_the_handlers_enforce() {
    let (_db, app) = app().await;
    let doc = send(&app, Method::GET, "/api/v1/openapi.json", &As::Nobody, None).await.body;
    let schema = |name: &str| doc["components"]["schemas"][name].clone();
    let param = |path: &str, name: &str| {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap().clone();
        params.into_iter().find(|p| p["name"] == name).unwrap()["schema"].clone()
    };

    let per_page = param("/api/v1/users/api-keys", "per_page");
    assert_eq!((per_page["minimum"].as_u64(), per_page["maximum"].as_u64()), (Some(1), Some(200)), "{per_page}");
    assert_eq!(param("/api/v1/users/sessions", "page")["minimum"].as_u64(), Some(1));
    assert_eq!(param("/api/v1/activity-logs", "from")["format"], "date-time");
    let actions = param("/api/v1/activity-logs", "action")["enum"].as_array().unwrap().clone();
    assert!(actions.contains(&"login_failed".into()) && actions.contains(&"".into()), "{actions:?}");

    let min = smtpy_admin::api::password::MIN_PASSWORD_CHARS as u64;
    let max = smtpy_admin::api::password::MAX_PASSWORD_CHARS as u64;
    for (name, field) in [
        ("RegisterRequest", "password"),
        ("PasswordResetConfirmRequest", "password"),
        ("UpdateMeRequest", "new_password"),
    ] {
        let p = &schema(name)["properties"][field];
        assert_eq!((p["minLength"].as_u64(), p["maxLength"].as_u64()), (Some(min), Some(max)), "{name}.{field}: {p}");
    }
    assert_eq!(schema("RegisterRequest")["properties"]["email"]["format"], "email");
    let key_name = &schema("CreateApiKeyRequest")["properties"]["name"];
    assert_eq!((key_name["minLength"].as_u64(), key_name["maxLength"].as_u64()), (Some(1), Some(100)), "{key_name}");
    let languages = schema("PreferencesView")["properties"]["language"]["enum"].as_array().unwrap().len();
    assert_eq!(languages, smtpy_admin::api::preferences::LANGUAGES.len());

    // What the document promises holds: a value at each bound is accepted.
    let session = account(&app, "owner@example.org").await;
    let auth = session.with_csrf();
    for path in
        ["/api/v1/users/api-keys?page=1&per_page=200", "/api/v1/activity-logs?action=&from=2026-01-01T00:00:00Z"]
    {
        assert_eq!(send(&app, Method::GET, path, &auth, None).await.status, StatusCode::OK, "{path}");
    }
}

//! API: user input never produces a 500 or a non-JSON error; the OpenAPI document covers every
//! route.

use crate::api_support::{As, account, app, read, send};
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
    let r = send(&app, Method::PUT, "/api/v1/users/me", &auth, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "a method the path does not route is not found");
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

//! API: security headers on every response, HSTS behind TLS only, CORS for configured origins.

use crate::api_support::{As, PASSWORD, TestClock, account, app, app_with, call_raw, request, test_config};
use actix_web::{
    http::{Method, StatusCode, header},
    test::TestRequest,
};
use serde_json::json;
use smtpy_shared::config::ApiConfig;

const APP_ORIGIN: &str = "https://app.example.org";

fn assert_security_headers(what: &str, headers: &header::HeaderMap) {
    let expected = [
        (header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in expected {
        assert_eq!(headers.get(&name).map(|v| v.to_str().unwrap()), Some(value), "{what}: {name}");
    }
}

/// Requests that end in success and in each kind of error, including the server's own routes.
fn assorted_requests() -> Vec<(&'static str, TestRequest)> {
    vec![
        ("healthz", TestRequest::get().uri("/healthz")),
        ("openapi", request(Method::GET, "/api/v1/openapi.json", &As::Nobody, None)),
        ("401", request(Method::GET, "/api/v1/users/me", &As::Nobody, None)),
        ("404", request(Method::GET, "/api/v1/no-such-thing", &As::Nobody, None)),
        (
            "400",
            TestRequest::post()
                .uri("/api/v1/auth/login")
                .insert_header((header::CONTENT_TYPE, "application/json"))
                .set_payload("{not json"),
        ),
        ("outside the API", TestRequest::get().uri("/nothing-here")),
    ]
}

#[actix_web::test]
async fn api_security_headers_are_on_successes_and_errors() {
    let (_db, app) = app().await;
    for (what, req) in assorted_requests() {
        let r = call_raw(&app, req).await;
        assert_security_headers(what, &r.headers);
        assert!(r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none(), "{what}: HSTS without TLS");
    }
    // A logged-in response and a rate-limited one too.
    let session = account(&app, "owner@example.org").await;
    let me = call_raw(&app, request(Method::GET, "/api/v1/users/me", &session.without_csrf(), None)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_security_headers("me", &me.headers);

    let clock = TestClock::at("2026-11-26T10:00:00Z");
    let config = ApiConfig { rate_limit_login: "1/minute".to_owned(), ..test_config() };
    let (_db, app) = app_with(config, Some(&clock)).await;
    let attempt = || {
        let body = json!({"email": "a@example.org", "password": PASSWORD});
        request(Method::POST, "/api/v1/auth/login", &As::Nobody, Some(body))
    };
    call_raw(&app, attempt()).await;
    let limited = call_raw(&app, attempt()).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_security_headers("429", &limited.headers);
}

#[actix_web::test]
async fn api_security_headers_hsts_only_when_served_over_tls() {
    let tls = ApiConfig { cookie_secure: true, ..test_config() };
    let (_db, tls_app) = app_with(tls, None).await;
    for (what, req) in assorted_requests() {
        let r = call_raw(&tls_app, req).await;
        assert_security_headers(what, &r.headers);
        let hsts = r.headers.get(header::STRICT_TRANSPORT_SECURITY).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(hsts.as_deref(), Some("max-age=31536000"), "{what}");
    }
    let (_db, plain) = app().await;
    let r = call_raw(&plain, TestRequest::get().uri("/healthz")).await;
    assert!(r.headers.get(header::STRICT_TRANSPORT_SECURITY).is_none());
}

fn with_cors() -> ApiConfig {
    ApiConfig { cors_origins: vec![APP_ORIGIN.to_owned(), "http://localhost:5173".to_owned()], ..test_config() }
}

fn preflight(origin: &str) -> TestRequest {
    TestRequest::default()
        .method(Method::OPTIONS)
        .uri("/api/v1/users/api-keys")
        .insert_header((header::ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_REQUEST_METHOD, "POST"))
        .insert_header((header::ACCESS_CONTROL_REQUEST_HEADERS, "content-type, x-csrf-token"))
}

fn header_of(headers: &header::HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

#[actix_web::test]
async fn api_security_headers_cors_allows_a_listed_origin_with_credentials() {
    let (_db, app) = app_with(with_cors(), None).await;
    let session = account(&app, "owner@example.org").await;
    let req = request(Method::GET, "/api/v1/users/me", &session.without_csrf(), None)
        .insert_header((header::ORIGIN, APP_ORIGIN));
    let r = call_raw(&app, req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(APP_ORIGIN));
    assert_eq!(header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    assert!(header_of(&r.headers, header::VARY).unwrap().to_ascii_lowercase().contains("origin"));
    let exposed = header_of(&r.headers, header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap().to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert_security_headers("cors", &r.headers);

    // Errors carry them too, so the web app can read the error body.
    let unauthenticated = request(Method::GET, "/api/v1/users/me", &As::Nobody, None)
        .insert_header((header::ORIGIN, "http://localhost:5173"));
    let r = call_raw(&app, unauthenticated).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some("http://localhost:5173"));
}

#[actix_web::test]
async fn api_security_headers_cors_gives_another_origin_nothing() {
    let (_db, app) = app_with(with_cors(), None).await;
    let session = account(&app, "owner@example.org").await;
    for origin in ["https://evil.example.org", "https://app.example.org.evil.example", "null"] {
        let req = request(Method::GET, "/api/v1/users/me", &session.without_csrf(), None)
            .insert_header((header::ORIGIN, origin));
        let r = call_raw(&app, req).await;
        assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "{origin}");
        assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none(), "{origin}");
        assert_security_headers(origin, &r.headers);

        let r = call_raw(&app, preflight(origin)).await;
        assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(), "preflight from {origin}");
        assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_METHODS).is_none(), "preflight from {origin}");
        assert_security_headers(origin, &r.headers);
    }
}

#[actix_web::test]
async fn api_security_headers_cors_preflight_allows_the_api_methods_and_headers() {
    let (_db, app) = app_with(with_cors(), None).await;
    let r = call_raw(&app, preflight(APP_ORIGIN)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(APP_ORIGIN));
    assert_eq!(header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    let methods = header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{method} not in {methods}");
    }
    let headers = header_of(&r.headers, header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap().to_ascii_lowercase();
    for name in ["content-type", "x-csrf-token", "authorization"] {
        assert!(headers.contains(name), "{name} not in {headers}");
    }
    assert!(r.headers.get(header::ACCESS_CONTROL_MAX_AGE).is_some());
    assert_security_headers("preflight", &r.headers);

    // A header the API does not take is refused at preflight.
    let odd = preflight(APP_ORIGIN).insert_header((header::ACCESS_CONTROL_REQUEST_HEADERS, "x-something-else"));
    let r = call_raw(&app, odd).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_HEADERS).is_none());
}

#[actix_web::test]
async fn api_security_headers_no_cors_when_no_origin_is_configured() {
    let (_db, app) = app().await;
    let req =
        request(Method::GET, "/api/v1/openapi.json", &As::Nobody, None).insert_header((header::ORIGIN, APP_ORIGIN));
    let r = call_raw(&app, req).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    let r = call_raw(&app, preflight(APP_ORIGIN)).await;
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert!(r.headers.get(header::ACCESS_CONTROL_ALLOW_METHODS).is_none());
    assert_security_headers("preflight without CORS", &r.headers);
}

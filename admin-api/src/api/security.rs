//! Headers that every response carries, and CORS for the origins in `[api] cors_origins`.

use super::auth::CSRF_HEADER;
use actix_cors::Cors;
use actix_web::{
    http::{
        Method,
        header::{self, HeaderMap},
    },
    middleware::DefaultHeaders,
};

/// The API returns JSON, never a page: nothing may be loaded, run or framed from a response.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";
/// One year, the usual value for HSTS preloading; subdomains are left alone (they may be
/// other services of the operator's that do not speak TLS).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// The security headers. `tls`: clients reach the API over TLS (`[api] cookie_secure`), so
/// browsers are told to never use plain HTTP for this host again; without TLS the header
/// would be ignored or, worse, lock users out of a plain-HTTP deployment.
/// A header a handler set itself is kept (`DefaultHeaders` only fills in missing ones).
pub fn headers(tls: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::REFERRER_POLICY, "no-referrer"));
    if tls { headers.add((header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY)) } else { headers }
}

/// CORS for `origins` (validated at load: exact `scheme://host[:port]`), with credentials, so
/// a web app on one of them can use the session cookie. A request from any other origin gets
/// no CORS headers (the browser then keeps the response from the page); a preflight from one
/// is refused. Mount it only when `origins` is not empty.
pub fn cors(origins: &[String]) -> Cors {
    let cors = Cors::default()
        .allowed_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allowed_headers([header::CONTENT_TYPE.as_str(), header::AUTHORIZATION.as_str(), CSRF_HEADER])
        .expose_headers([header::RETRY_AFTER, header::CONTENT_DISPOSITION])
        .supports_credentials()
        .block_on_origin_mismatch(false)
        .max_age(3600);
    origins.iter().fold(cors, |cors, origin| cors.allowed_origin(origin))
}

/// actix-cors adds `Access-Control-Allow-Credentials` and `-Expose-Headers` to every response,
/// even one for an origin it did not allow. They are harmless without `-Allow-Origin`, but a
/// response to an unlisted origin (or to no origin) should say nothing about CORS at all.
pub fn drop_stray_cors_headers(headers: &mut HeaderMap) {
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
}

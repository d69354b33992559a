//! The owner API under `/api/v1`: routes, their OpenAPI document, and what they share.

pub mod account_mail;
pub mod activity;
pub mod auth;
pub mod client;
pub mod clock;
pub mod device;
pub mod error;
pub mod handlers;
pub mod limits;
pub mod mail;
pub mod password;
pub mod preferences;
pub mod secrets;
pub mod security;
pub mod state;
pub mod two_factor;
pub mod views;

pub use error::{ApiError, ErrorBody};
pub use state::ApiState;

use actix_web::web;
use handlers::{
    activity_log_export, activity_log_list, api_key_create, api_key_delete, api_key_list, deletion_cancel,
    deletion_request, login, logout, me, me_update, openapi, password_reset, password_reset_confirm, preferences_get,
    preferences_put, register, session_delete, session_delete_others, session_list, two_factor_backup_codes,
    two_factor_disable, two_factor_enable, two_factor_verify, verify_email, verify_email_resend,
};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

/// Where the API lives.
pub const PREFIX: &str = "/api/v1";

/// Declares the routes once: the registration and the list the OpenAPI coverage test checks
/// come from the same lines, so a route cannot be registered without being checked.
macro_rules! routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        fn register_routes(cfg: &mut web::ServiceConfig) {
            $( cfg.route($path, web::$method().to($handler)); )*
            // After every method's route: a known path asked with another method is a 405
            // naming the methods it has, not the 404 of an unknown path.
            $( cfg.route($path, web::route().to(error::method_not_allowed)); )*
        }

        /// Every route as (method, path under [`PREFIX`]).
        pub const ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];
    };
}

routes! {
    get "/openapi.json" => openapi::openapi_json;
    post "/auth/register" => register::register;
    post "/auth/login" => login::login;
    post "/auth/logout" => logout::logout;
    post "/auth/2fa/enable" => two_factor_enable::enable_two_factor;
    post "/auth/2fa/verify" => two_factor_verify::verify_two_factor;
    post "/auth/2fa/disable" => two_factor_disable::disable_two_factor;
    post "/auth/2fa/backup-codes" => two_factor_backup_codes::regenerate_backup_codes;
    get "/users/me" => me::me;
    patch "/users/me" => me_update::update_me;
    post "/users/me/deletion" => deletion_request::request_deletion;
    delete "/users/me/deletion" => deletion_cancel::cancel_deletion;
    post "/users/api-keys" => api_key_create::create_api_key;
    get "/users/api-keys" => api_key_list::list_api_keys;
    delete "/users/api-keys/{id}" => api_key_delete::delete_api_key;
    get "/users/sessions" => session_list::list_sessions;
    delete "/users/sessions" => session_delete_others::delete_other_sessions;
    delete "/users/sessions/{id}" => session_delete::delete_session;
    post "/auth/verify-email" => verify_email::verify_email;
    post "/auth/verify-email/resend" => verify_email_resend::resend_verification;
    post "/auth/password-reset" => password_reset::request_password_reset;
    post "/auth/password-reset/confirm" => password_reset_confirm::confirm_password_reset;
    get "/users/preferences" => preferences_get::get_preferences;
    put "/users/preferences" => preferences_put::put_preferences;
    get "/activity-logs" => activity_log_list::list_activity_logs;
    get "/activity-logs/export" => activity_log_export::export_activity_logs;
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "SMTPy API", description = "Owner API of SMTPy, the self-hosted email alias service."),
    paths(
        openapi::openapi_json,
        register::register,
        login::login,
        logout::logout,
        two_factor_enable::enable_two_factor,
        two_factor_verify::verify_two_factor,
        two_factor_disable::disable_two_factor,
        two_factor_backup_codes::regenerate_backup_codes,
        me::me,
        me_update::update_me,
        deletion_request::request_deletion,
        deletion_cancel::cancel_deletion,
        api_key_create::create_api_key,
        api_key_list::list_api_keys,
        api_key_delete::delete_api_key,
        session_list::list_sessions,
        session_delete_others::delete_other_sessions,
        session_delete::delete_session,
        verify_email::verify_email,
        verify_email_resend::resend_verification,
        password_reset::request_password_reset,
        password_reset_confirm::confirm_password_reset,
        preferences_get::get_preferences,
        preferences_put::put_preferences,
        activity_log_list::list_activity_logs,
        activity_log_export::export_activity_logs,
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// Adds the two credentials to the document's components.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                auth::SESSION_COOKIE,
                "Set by POST /auth/login; state-changing requests also need X-CSRF-Token",
            ))),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Authorization: Bearer smtpy_sk_... (POST /users/api-keys)"))
                    .build(),
            ),
        );
    }
}

/// The `/api/v1` scope, ready to mount on an `App`: routes, shared state, and error handlers
/// that answer bad JSON, query strings and paths in the API's error shape.
pub fn scope(state: ApiState) -> actix_web::Scope {
    web::scope(PREFIX)
        .app_data(web::Data::new(state))
        .app_data(error::json_config())
        .app_data(error::query_config())
        .app_data(error::path_config())
        .configure(register_routes)
        .default_service(web::to(error::no_such_route))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_route_is_in_the_openapi_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let missing: Vec<String> = ROUTES
            .iter()
            .filter(|(method, path)| doc["paths"][format!("{PREFIX}{path}")][*method].is_null())
            .map(|(method, path)| format!("{method} {PREFIX}{path}"))
            .collect();
        assert!(missing.is_empty(), "routes without #[utoipa::path] in ApiDoc: {missing:?}");
    }

    #[test]
    fn the_document_has_no_path_that_is_not_routed() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let routed = ROUTES.iter().any(|(m, p)| m == method && format!("{PREFIX}{p}") == *path);
                assert!(routed, "{method} {path} is documented but not routed");
            }
        }
    }
}

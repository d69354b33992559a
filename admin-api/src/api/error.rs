//! The API's one error type, its stable codes, and the one place they map to HTTP.

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{StatusCode, header},
    web,
};
use serde::Serialize;
use smtpy_shared::DbError;
use utoipa::ToSchema;

/// Everything a request can fail with. The `String` is the message the caller reads, except
/// in [`ApiError::Internal`], where it is the detail that goes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a value is out of range (400).
    #[error("{0}")]
    InvalidInput(String),
    /// A mailed token (verification, password reset) is unknown, spent or expired (400).
    #[error("{0}")]
    InvalidToken(String),
    /// No valid credential: not logged in, session ended, key revoked, wrong password (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated, but not allowed: read-only key, missing CSRF token, closed registration (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such resource for this caller; another owner's resources are reported the same way (404).
    #[error("{0}")]
    NotFound(String),
    /// It exists already (409).
    #[error("{0}")]
    Conflict(String),
    /// Too many attempts (429 with `Retry-After`).
    #[error("too many requests; retry in {retry_after_secs} seconds")]
    RateLimited {
        /// Seconds until the next attempt may succeed.
        retry_after_secs: u64,
    },
    /// The password was right, but the account needs its second factor (401).
    #[error("this account uses two-factor authentication; send totp_code or backup_code")]
    TotpRequired,
    /// A TOTP code is wrong, outside the time window, or of a time step already used (401;
    /// a session making the request stays valid).
    #[error("{0}")]
    InvalidTotp(String),
    /// A backup code is unknown or spent (401; a session making the request stays valid).
    #[error("this backup code is wrong or was used already; each code works once")]
    InvalidBackupCode,
    /// The password given to confirm a sensitive change is wrong (401; a session making the
    /// request stays valid).
    #[error("the password is wrong")]
    WrongPassword,
    /// Registration is invite-only and no invitation code was sent (403).
    #[error("registration needs an invitation; send invite_code (ask the administrator for one)")]
    InvitationRequired,
    /// The invitation code is unknown, spent, or for another address (403).
    #[error("{0}")]
    InvitationInvalid(String),
    /// The invitation code has expired (403).
    #[error("this invitation has expired; ask the administrator for a new one")]
    InvitationExpired,
    /// A failure on our side (500); the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// A stable code to branch on and a message for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `invalid_input`, `invalid_token`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `rate_limited`, `totp_required`, `invalid_totp`,
    /// `invalid_backup_code`, `wrong_password`, `invitation_required`, `invitation_invalid`,
    /// `invitation_expired` or `internal`. Of the
    /// 401s only `unauthorized` means the credential itself was refused.
    pub code: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl ApiError {
    /// The stable, searchable code and the HTTP status: the one mapping.
    pub fn code_and_status(&self) -> (&'static str, StatusCode) {
        match self {
            Self::InvalidInput(_) => ("invalid_input", StatusCode::BAD_REQUEST),
            Self::InvalidToken(_) => ("invalid_token", StatusCode::BAD_REQUEST),
            Self::Unauthorized(_) => ("unauthorized", StatusCode::UNAUTHORIZED),
            Self::Forbidden(_) => ("forbidden", StatusCode::FORBIDDEN),
            Self::NotFound(_) => ("not_found", StatusCode::NOT_FOUND),
            Self::Conflict(_) => ("conflict", StatusCode::CONFLICT),
            Self::RateLimited { .. } => ("rate_limited", StatusCode::TOO_MANY_REQUESTS),
            Self::TotpRequired => ("totp_required", StatusCode::UNAUTHORIZED),
            Self::InvalidTotp(_) => ("invalid_totp", StatusCode::UNAUTHORIZED),
            Self::InvalidBackupCode => ("invalid_backup_code", StatusCode::UNAUTHORIZED),
            Self::WrongPassword => ("wrong_password", StatusCode::UNAUTHORIZED),
            Self::InvitationRequired => ("invitation_required", StatusCode::FORBIDDEN),
            Self::InvitationInvalid(_) => ("invitation_invalid", StatusCode::FORBIDDEN),
            Self::InvitationExpired => ("invitation_expired", StatusCode::FORBIDDEN),
            Self::Internal(_) => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// The message the caller reads.
    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "something went wrong on our side; try again later".to_owned(),
            other => other.to_string(),
        }
    }

    /// The response body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: ErrorDetail { code: self.code_and_status().0, message: self.public_message() } }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code_and_status().1
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(detail) = self {
            tracing::error!(%detail, "API request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::RateLimited { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.json(self.body())
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Internal(DbError::Query(e).to_string())
    }
}

/// Bad JSON bodies answer with our error shape instead of actix's plain text.
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(64 * 1024).error_handler(|e: JsonPayloadError, _: &HttpRequest| {
        let message = match &e {
            JsonPayloadError::ContentType => "send the body as Content-Type: application/json".to_owned(),
            JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
                format!("the body is larger than {limit} bytes")
            }
            JsonPayloadError::Deserialize(d) => format!("the JSON body is invalid: {d}"),
            other => format!("the body could not be read: {other}"),
        };
        ApiError::InvalidInput(message).into()
    })
}

/// Bad query strings answer with our error shape.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|e: QueryPayloadError, _: &HttpRequest| {
        ApiError::InvalidInput(format!("the query string is invalid: {e}")).into()
    })
}

/// Bad path parameters (an id that is not a UUID) answer with our error shape.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|e: PathError, _: &HttpRequest| {
        ApiError::InvalidInput(format!("the path is invalid: {e}")).into()
    })
}

/// A known path asked with a method it does not have: 405 with `Allow` listing the ones it has
/// (RFC 9110 §15.5.6), in our error shape.
pub async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let pattern = req.match_pattern().unwrap_or_default();
    let allowed: Vec<String> = super::ROUTES
        .iter()
        .filter(|(_, path)| format!("{}{path}", super::PREFIX) == pattern)
        .map(|(method, _)| method.to_ascii_uppercase())
        .collect();
    let allow = allowed.join(", ");
    let message = format!("{} is not allowed here; use {allow}", req.method());
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(ErrorBody { error: ErrorDetail { code: "method_not_allowed", message } })
}

/// Unknown routes under `/api/v1` answer with our error shape.
pub async fn no_such_route() -> HttpResponse {
    ApiError::NotFound("no such API route (see /api/v1/openapi.json)".to_owned()).error_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_code_and_status() {
        let cases = [
            (ApiError::InvalidInput("x".into()), "invalid_input", 400),
            (ApiError::InvalidToken("x".into()), "invalid_token", 400),
            (ApiError::Unauthorized("x".into()), "unauthorized", 401),
            (ApiError::Forbidden("x".into()), "forbidden", 403),
            (ApiError::NotFound("x".into()), "not_found", 404),
            (ApiError::Conflict("x".into()), "conflict", 409),
            (ApiError::RateLimited { retry_after_secs: 7 }, "rate_limited", 429),
            (ApiError::TotpRequired, "totp_required", 401),
            (ApiError::InvalidTotp("x".into()), "invalid_totp", 401),
            (ApiError::InvalidBackupCode, "invalid_backup_code", 401),
            (ApiError::WrongPassword, "wrong_password", 401),
            (ApiError::InvitationRequired, "invitation_required", 403),
            (ApiError::InvitationInvalid("x".into()), "invitation_invalid", 403),
            (ApiError::InvitationExpired, "invitation_expired", 403),
            (ApiError::Internal("x".into()), "internal", 500),
        ];
        for (error, code, status) in cases {
            assert_eq!(error.code_and_status(), (code, StatusCode::from_u16(status).unwrap()), "{error:?}");
            assert_eq!(error.error_response().status().as_u16(), status);
        }
    }

    #[test]
    fn internal_detail_stays_out_of_the_body() {
        let body = ApiError::Internal("password authentication failed for user root".into()).body();
        assert!(!body.error.message.contains("root"), "{}", body.error.message);
    }

    #[test]
    fn rate_limited_says_when_to_retry() {
        let response = ApiError::RateLimited { retry_after_secs: 42 }.error_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "42");
    }
}

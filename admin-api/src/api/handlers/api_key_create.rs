//! `POST /users/api-keys`

use crate::api::{
    ApiError, ApiState, ErrorBody, activity,
    auth::Writer,
    client::ClientInfo,
    secrets,
    views::{ApiKeyView, Scope},
};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;
use smtpy_shared::models::{ActivityAction, ApiKey, ApiKeyScope, NewApiKey};
use utoipa::ToSchema;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// A label, 1 to 100 characters, not all spaces (leading and trailing spaces are dropped),
    /// without control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// When the key stops working; none: until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    /// `read` (GET only) or `full`.
    pub scope: Scope,
}

/// The new key: the only time `key` is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    /// `smtpy_sk_...`: store it now, it cannot be shown again.
    pub key: String,
    /// The key's details, as in lists.
    #[serde(flatten)]
    pub details: ApiKeyView,
}

/// Creates an API key for the caller.
#[utoipa::path(post, path = "/api/v1/users/api-keys", tag = "api-keys", request_body = CreateApiKeyRequest,
    security(("session_cookie" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "Created; the key is in `key`", body = CreatedApiKey),
        (status = 400, description = "Bad name, scope or expiry", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Missing X-CSRF-Token or read-only key", body = ErrorBody),
    ))]
pub async fn create_api_key(
    state: web::Data<ApiState>,
    Writer(caller): Writer,
    body: web::Json<CreateApiKeyRequest>,
    client: ClientInfo,
) -> Result<HttpResponse, ApiError> {
    let CreateApiKeyRequest { name, expires_at, scope } = body.into_inner();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::InvalidInput("name must have 1 to 100 characters".to_owned()));
    }
    // A label is text to show: no line breaks, tabs or other control characters. (NUL would
    // not even store: Postgres text and jsonb refuse it.)
    if name.chars().any(char::is_control) {
        return Err(ApiError::InvalidInput("name must not contain control characters".to_owned()));
    }
    if expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::InvalidInput("expires_at must be in the future".to_owned()));
    }
    let new_key = secrets::new_api_key()?;
    let new = NewApiKey {
        user_id: caller.user.id,
        name,
        prefix: &new_key.prefix,
        key_hash: &new_key.hash,
        scope: ApiKeyScope::from(scope).as_str(),
        expires_at,
    };
    let mut conn = state.conn().await?;
    let created = state
        .bounded(conn.transaction(async |conn| {
            let created = ApiKey::create(conn, &new).await?;
            let details = json!({"key_id": created.id, "name": created.name, "scope": created.scope});
            activity::record(conn, created.user_id, ActivityAction::ApiKeyCreated, &client, details).await?;
            Ok::<_, diesel::result::Error>(created)
        }))
        .await?;
    tracing::info!(user = %caller.user.id, key = %created.id, "API key created");
    Ok(HttpResponse::Created().json(CreatedApiKey { key: new_key.key, details: ApiKeyView::from(&created) }))
}

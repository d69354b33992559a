//! `GET /openapi.json`

use crate::api::{ApiDoc, ApiError};
use actix_web::{HttpResponse, http::header::ContentType};
use std::sync::OnceLock;
use utoipa::OpenApi;

/// This API's OpenAPI 3.1 document, generated from the handlers' annotations.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    static DOCUMENT: OnceLock<Result<String, String>> = OnceLock::new();
    let body = DOCUMENT
        .get_or_init(|| ApiDoc::openapi().to_pretty_json().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| ApiError::Internal(format!("cannot serialise the OpenAPI document: {e}")))?;
    Ok(HttpResponse::Ok().insert_header(ContentType::json()).body(body))
}

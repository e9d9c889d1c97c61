//! Errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Policy: client errors say precisely what is wrong (validation failures list
//! every field); internal errors answer a generic 500 and the cause goes to the
//! log (and Sentry), never to the client. Bad input never yields a 500.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::{Error, FieldError, ShortLine};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
    /// Lines short of stock (409 from the cart and checkout).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<ShortLine>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    detail: Option<String>,
    errors: Vec<FieldError>,
    lines: Vec<ShortLine>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What a person should read: the detail, and each field's problem.
    pub fn explanation(&self) -> String {
        let mut text = self
            .detail
            .clone()
            .unwrap_or_else(|| self.status.canonical_reason().unwrap_or("Error").to_owned());
        for e in &self.errors {
            text.push_str(&format!("; {}: {}", e.field, e.message));
        }
        text
    }

    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            detail: Some(detail.into()),
            errors: Vec::new(),
            lines: Vec::new(),
            retry_after: None,
        }
    }

    pub fn bare(status: StatusCode) -> Self {
        let slug = match status {
            StatusCode::NOT_FOUND => "not-found",
            StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::REQUEST_TIMEOUT => "timeout",
            s if s.is_server_error() => "internal",
            _ => "bad-request",
        };
        Self {
            status,
            slug,
            detail: None,
            errors: Vec::new(),
            lines: Vec::new(),
            retry_after: None,
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            slug: "validation",
            detail: Some("the request has invalid fields".into()),
            errors,
            lines: Vec::new(),
            retry_after: None,
        }
    }

    pub fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::bare(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such resource")
            }
            Error::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", d),
            Error::Validation(errors) => ApiError::validation(errors),
            Error::BadRequest(d) => ApiError::new(StatusCode::BAD_REQUEST, "bad-request", d),
            Error::Unauthorized(d) => ApiError::unauthorized(d),
            Error::Forbidden(d) => ApiError::forbidden(d),
            Error::OutOfStock(lines) => ApiError {
                lines,
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "out-of-stock",
                    "not enough stock for some lines",
                )
            },
            Error::Upstream(d) => ApiError::new(StatusCode::BAD_GATEWAY, "upstream", d),
            Error::RateLimited { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate-limited",
                    "too many requests; try again later",
                )
            },
            Error::Overloaded(d) => ApiError {
                retry_after: Some(1),
                ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", d)
            },
            Error::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "internal error");
                ApiError::bare(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(Error::from(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("/problems/{}", self.slug),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors,
            lines: self.lines,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such route")
}

pub type ApiResult<T> = Result<T, ApiError>;

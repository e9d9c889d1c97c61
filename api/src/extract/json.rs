//! A JSON body extractor that answers in problem+json: 415 without a JSON
//! content type, 413 over the body limit, 400 for malformed JSON, 422 (naming
//! the field) for JSON of the wrong shape.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::FieldError;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::ApiError;

pub struct Json<T>(pub T);

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload-too-large", "the request body is too large")
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    "could not read the request body",
                )
            }
        })?;
        parse(&bytes).map(Json)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body, so trailing garbage is "malformed"
    // even when the prefix would already fail on its shape.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(classify(String::new(), e));
    }
    // PostgreSQL text cannot hold NUL; refuse it here, for every field, rather
    // than fail deep in a query.
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "text must not contain NUL characters",
        )]));
    }
    // Every request body is an object; serde would also accept an array for a
    // struct (fields by position), which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        classify(path, e.into_inner())
    })
}

fn classify(path: String, inner: serde_json::Error) -> ApiError {
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            let field = if path == "." || path.is_empty() {
                // "missing field `email`" / "unknown field `x`" name the field themselves.
                message
                    .split('`')
                    .nth(1)
                    .filter(|_| message.contains("field"))
                    .unwrap_or("body")
                    .to_owned()
            } else {
                path
            };
            ApiError::validation(vec![FieldError::new(field, message)])
        }
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            format!("the body is not valid JSON: {inner}"),
        ),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        age: Option<u8>,
    }

    fn status(r: Result<Login, ApiError>) -> u16 {
        r.unwrap_err().into_response().status().as_u16()
    }

    #[test]
    fn malformed_is_400_and_wrong_shape_is_422() {
        assert_eq!(status(parse(b"{\"email\": ")), 400);
        assert_eq!(status(parse(b"{} trailing")), 400);
        assert_eq!(status(parse(b"{\"email\": 5}")), 422);
        assert_eq!(status(parse(b"{}")), 422);
        assert_eq!(status(parse(b"{\"email\": \"a\", \"admin\": true}")), 422);
        assert_eq!(status(parse(b"{\"email\": \"a\", \"age\": 300}")), 422);
        assert_eq!(status(parse(b"[\"a\", 1]")), 422);
        assert_eq!(status(parse(b"\"text\"")), 422);
        assert_eq!(status(parse(b"{\"email\": \"a\\u0000b\"}")), 422);
        assert!(parse::<Login>(b"{\"email\": \"a\"}").is_ok());
    }
}

//! Product images: multipart upload into the object store, and `/media/...`
//! serving them back.

use axum::{
    extract::{DefaultBodyLimit, Multipart, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::{
    catalog::{images, products::Image},
    FieldError,
};
use bytes::BytesMut;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AuthUser, Id, Json},
    AppState,
};

/// Hard ceiling for an upload request; `MAX_IMAGE_BYTES` (smaller) is checked
/// while reading.
const UPLOAD_BODY_LIMIT: usize = 64 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT))
        .routes(routes!(delete))
        // A wildcard path: outside the OpenAPI document (image URLs are opaque).
        .route("/media/{*key}", axum::routing::get(media))
}

/// `multipart/form-data` with one file part named `file` (or `image`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// PNG, JPEG, WebP or GIF, at most `MAX_IMAGE_BYTES` (5 MiB by default).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("images may be at most {max} bytes"),
    )
}

fn bad_multipart(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-request", detail)
}

/// Upload an image (the store's owner or an admin). The type is read from
/// the file itself: PNG, JPEG, WebP or GIF, else 415; too big: 413. The first
/// image is the one announcements and listings show.
#[utoipa::path(post, path = "/api/v1/products/{id}/images", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "product id")),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = Image),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json")))]
async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<(StatusCode, Json<Image>)> {
    let mut multipart = multipart.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "send multipart/form-data with a `file` part",
        )
    })?;
    let max = state.config.max_image_bytes;
    let mut file = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| bad_multipart(e.body_text()))?
    {
        match field.name() {
            Some("file" | "image") if file.is_none() => {}
            // Like an unknown JSON field: a client that sends one means
            // something this endpoint does not do.
            name => {
                return Err(ApiError::validation(vec![FieldError::new(
                    name.unwrap_or("(unnamed part)"),
                    "unknown or repeated part; send one part named `file`",
                )]))
            }
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(max)
            } else {
                bad_multipart(e.body_text())
            }
        })? {
            if bytes.len() + chunk.len() > max {
                return Err(too_large(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some(bytes.freeze());
    }
    let file = file.ok_or_else(|| bad_multipart("no `file` part in the form"))?;
    let (content_type, extension) = images::sniff(&file).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the file is not a PNG, JPEG, WebP or GIF image",
        )
    })?;
    let image = images::add(
        &state.pool,
        &state.storage,
        &state.shop,
        user.actor(),
        id,
        images::NewImage {
            bytes: file,
            content_type,
            extension,
        },
    )
    .await?;
    state.cache.products_changed(&[id]).await;
    Ok((StatusCode::CREATED, Json(image)))
}

/// Remove an image (the store's owner or an admin).
#[utoipa::path(delete, path = "/api/v1/products/{id}/images/{image_id}", tag = "catalog",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "product id"), ("image_id" = Uuid, Path, description = "image id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Path((id, image_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::from(bazaar_core::Error::NotFound);
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let image_id = Uuid::parse_str(&image_id).map_err(|_| not_found())?;
    images::delete(&state.pool, &state.storage, user.actor(), id, image_id).await?;
    state.cache.products_changed(&[id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// An uploaded image, byte for byte. Keys are unique per upload, so clients
/// may cache them for ever.
async fn media(State(state): State<AppState>, Path(key): Path<String>) -> ApiResult<Response> {
    // Only keys we recorded are served: never an arbitrary path of the store.
    let content_type = images::content_type(&state.pool, &key)
        .await?
        .ok_or(bazaar_core::Error::NotFound)?;
    let bytes = state
        .storage
        .get(&key)
        .await
        .map_err(ApiError::internal)?
        .ok_or(bazaar_core::Error::NotFound)?;
    let content_type = HeaderValue::from_str(&content_type).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

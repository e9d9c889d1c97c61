use axum::extract::{FromRequestParts, Path};
use http::{request::Parts, StatusCode};
use uuid::Uuid;

use crate::error::ApiError;

/// A resource id from the path. Something that is not an id names no
/// resource: 404, like an id that exists nowhere.
pub struct Id(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such resource");
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        Uuid::parse_str(&raw).map(Id).map_err(|_| not_found())
    }
}

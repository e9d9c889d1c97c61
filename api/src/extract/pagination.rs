use axum::extract::{FromRequestParts, Query};
use bazaar_core::FieldError;
use http::request::Parts;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

pub const MAX_PER_PAGE: i64 = 100;
/// Deep offsets are slow and never what a client means; bounds the arithmetic too.
pub const MAX_PAGE: i64 = 100_000;

/// `?page=&per_page=`: page from 1, per_page 1 to 100 (default 20).
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Pagination {
    #[param(minimum = 1, maximum = 100000, default = 1)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub per_page: Option<i64>,
}

impl Pagination {
    pub fn page(&self) -> i64 {
        self.page.unwrap_or(1)
    }

    pub fn per_page(&self) -> i64 {
        self.per_page.unwrap_or(20)
    }

    pub fn offset(&self) -> i64 {
        (self.page() - 1) * self.per_page()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(p) = Query::<Pagination>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::validation(vec![FieldError::new("query", e.body_text())]))?;
        let mut errors = Vec::new();
        if !(1..=MAX_PAGE).contains(&p.page()) {
            errors.push(FieldError::new("page", "must be between 1 and 100000"));
        }
        if !(1..=MAX_PER_PAGE).contains(&p.per_page()) {
            errors.push(FieldError::new("per_page", "must be between 1 and 100"));
        }
        if errors.is_empty() {
            Ok(p)
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

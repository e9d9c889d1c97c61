//! Feeds marketplaces fetch: the Kaspi price list, streamed (see
//! `bazaar_core::marketplace::kaspi_feed`).

use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::marketplace::kaspi_feed::{self, FeedSettings};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, Problem},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(kaspi))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// `KASPI_FEED_TOKEN`.
    token: Option<String>,
}

/// Equal in time whatever the inputs, so the token cannot be guessed a
/// byte at a time.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The Kaspi price list (`kaspi_catalog` XML) of every Kaspi listing: stock
/// at each pickup point, whole-tenge prices. Only with the right `token`;
/// 404 otherwise (and while `KASPI_FEED_TOKEN` is unset), so the feed's
/// address gives nothing away.
#[utoipa::path(get, path = "/feeds/kaspi.xml", tag = "feeds", params(FeedQuery),
    responses((status = 200, description = "the price list", content_type = "application/xml"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn kaspi(
    State(state): State<AppState>,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::bare(StatusCode::NOT_FOUND);
    let expected = state
        .config
        .marketplaces
        .kaspi
        .feed_token
        .as_ref()
        .ok_or_else(not_found)?;
    let given = query
        .ok()
        .and_then(|Query(q)| q.token)
        .ok_or_else(not_found)?;
    if !same(given.as_bytes(), expected.expose_secret().as_bytes()) {
        return Err(not_found());
    }
    let body = Body::from_stream(kaspi_feed::stream(
        state.pool.clone(),
        FeedSettings::new(&state.config),
    ));
    Ok((
        [
            (header::CONTENT_TYPE, "application/xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::same;

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}

//! The back office's view of the integrations: which are on, and for the
//! marketplaces where every sync stands; a sync run now; Kaspi's two-step
//! order completion.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use bazaar_core::{
    jobs::{KaspiOrders, OzonOrders, OzonSync},
    marketplace::{
        completion::{self, Completion, CompletionRequest},
        limiter_key,
        overview::{self, MarketplaceOverview},
        Marketplace,
    },
    outbox,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::listings::marketplace;
use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AdminUser, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(sync))
        .routes(routes!(kaspi_complete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LimiterView {
    /// The Redis key every worker process shares.
    pub(crate) key: String,
    /// Milliseconds until the next call may go out (0: free now).
    pub(crate) next_slot_in_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    pub(crate) name: String,
    pub(crate) enabled: bool,
    /// Marketplaces only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) marketplace: Option<MarketplaceOverview>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) limiter: Option<LimiterView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationsView {
    pub(crate) integrations: Vec<IntegrationView>,
}

async fn limiter(state: &AppState, m: Marketplace) -> Option<LimiterView> {
    let key = limiter_key(&state.config.redis_prefix, m);
    let tat: Option<String> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut state.redis.clone())
        .await
        .ok()?;
    let now_ms = chrono::Utc::now().timestamp_millis() as f64;
    let next = tat
        .and_then(|t| t.parse::<f64>().ok())
        .map_or(0, |t| (t - now_ms).max(0.0) as u64);
    Some(LimiterView {
        key,
        next_slot_in_ms: next,
    })
}

/// Every integration: on or off; for Kaspi and Ozon also each sync's last
/// run (counts, last error), listings and orders, SKUs of imported lines no
/// variant has, orders waiting for a person, and the shared rate limiter.
#[utoipa::path(get, path = "/api/v1/admin/integrations", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = IntegrationsView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<IntegrationsView>> {
    Ok(Json(view(&state).await?))
}

/// Every integration's state, for the API and the console.
pub(crate) async fn view(state: &AppState) -> ApiResult<IntegrationsView> {
    let mut integrations = Vec::new();
    for (name, enabled) in &state.config.integrations {
        match Marketplace::parse(name) {
            Some(m) => {
                let o = overview::overview(&state.pool, &state.config, m).await?;
                integrations.push(IntegrationView {
                    name: (*name).to_owned(),
                    enabled: o.enabled,
                    limiter: limiter(state, m).await,
                    marketplace: Some(o),
                });
            }
            None => integrations.push(IntegrationView {
                name: (*name).to_owned(),
                enabled: *enabled,
                marketplace: None,
                limiter: None,
            }),
        }
    }
    Ok(IntegrationsView { integrations })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncQueued {
    marketplace: Marketplace,
    /// What the sync does.
    kinds: Vec<String>,
}

/// Runs the marketplace's syncs now (through the queue, like the scheduled
/// ones). 409 when the marketplace is disabled, saying what to set.
#[utoipa::path(post, path = "/api/v1/admin/integrations/{marketplace}/sync", tag = "admin",
    security(("bearer" = [])),
    params(("marketplace" = String, Path, description = "kaspi or ozon")),
    responses((status = 202, body = SyncQueued),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the marketplace is disabled", body = Problem, content_type = "application/problem+json")))]
async fn sync(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(name): Path<String>,
) -> ApiResult<(StatusCode, Json<SyncQueued>)> {
    let m = marketplace(&name)?;
    let disabled = match m {
        Marketplace::Kaspi => state.config.marketplaces.kaspi.disabled_reason(),
        Marketplace::Ozon => state.config.marketplaces.ozon.disabled_reason(),
    };
    if let Some(why) = disabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "disabled",
            format!("{m} is disabled: {why}"),
        ));
    }
    let mut conn = state
        .pool
        .acquire()
        .await
        .map_err(bazaar_core::Error::from)?;
    let tick = format!("manual:{}", uuid::Uuid::now_v7());
    let pipeline = &state.shop.pipeline;
    let kinds = match m {
        Marketplace::Kaspi => {
            outbox::enqueue(&mut conn, pipeline, &KaspiOrders { tick })
                .await
                .map_err(bazaar_core::Error::from)?;
            vec!["orders"]
        }
        Marketplace::Ozon => {
            outbox::enqueue(&mut conn, pipeline, &OzonSync { tick: tick.clone() })
                .await
                .map_err(bazaar_core::Error::from)?;
            outbox::enqueue(&mut conn, pipeline, &OzonOrders { tick })
                .await
                .map_err(bazaar_core::Error::from)?;
            vec!["products", "stock", "prices", "orders"]
        }
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(SyncQueued {
            marketplace: m,
            kinds: kinds.into_iter().map(str::to_owned).collect(),
        }),
    ))
}

/// Kaspi's two-step completion of an accepted Kaspi order: `{}` has Kaspi
/// send the buyer a code (202); `{"code": "..."}` completes the order with
/// the code the buyer reads out (200, the order now delivered). A wrong
/// code changes nothing (422).
#[utoipa::path(post, path = "/api/v1/admin/orders/{number}/kaspi/complete", tag = "admin",
    security(("bearer" = [])),
    params(("number" = String, Path, description = "order number (KS-...)")),
    request_body = CompletionRequest,
    responses((status = 200, body = Completion),
        (status = 202, description = "Kaspi sent the buyer a code", body = Completion),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not an accepted Kaspi order, or Kaspi refused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "a wrong code", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Kaspi did not answer", body = Problem, content_type = "application/problem+json")))]
async fn kaspi_complete(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(number): Path<String>,
    Json(req): Json<CompletionRequest>,
) -> ApiResult<(StatusCode, Json<Completion>)> {
    let done = completion::complete(
        &state.pool,
        &state.shop,
        state.kaspi.as_deref(),
        &number,
        req,
    )
    .await?;
    let status = match done {
        Completion::CodeSent { .. } => StatusCode::ACCEPTED,
        Completion::Completed { .. } => {
            state.cache.changed().await;
            StatusCode::OK
        }
    };
    Ok((status, Json(done)))
}

//! `GET /api/v1/admin/dashboard`: the back office's figures.

use std::sync::Arc;

use axum::extract::State;
use bazaar_core::backoffice::{
    dashboard::{self, Dashboard},
    Scope,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_dashboard))
}

/// The dashboard of `scope`, computed at most once per
/// `DASHBOARD_CACHE_SECS` per scope however many staff look at it, and off
/// the viewers' path while they keep looking (`Recent`).
pub async fn load(state: &AppState, scope: Scope) -> ApiResult<Arc<Dashboard>> {
    let st = state.clone();
    let key = scope.clone();
    let compute = move || {
        let st = st.clone();
        let scope = scope.clone();
        async move {
            dashboard::figures(
                &st.pool,
                &scope,
                &st.shop.currency,
                st.config.back_office.low_stock_threshold,
                chrono::Utc::now(),
            )
            .await
            .map(Arc::new)
        }
    };
    state.dashboards.get(key, compute, |_| true).await
}

/// Today's orders and revenue, revenue per day for 30 days, orders per
/// status, low stock, best sellers; for admins also reviews waiting for
/// moderation, failed jobs and what the last health check found unwell.
/// A vendor gets the same figures for their own stores' lines. Figures may
/// be up to `DASHBOARD_CACHE_SECS` (10 s) old.
#[utoipa::path(get, path = "/api/v1/admin/dashboard", tag = "admin", operation_id = "get_dashboard",
    security(("bearer" = [])),
    responses((status = 200, description = "the figures", body = Dashboard),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins and vendors only", body = Problem, content_type = "application/problem+json")))]
async fn get_dashboard(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<Dashboard>> {
    let scope = Scope::of(&state.pool, user.actor()).await?;
    let figures = load(&state, scope).await?;
    Ok(Json(Dashboard::clone(&figures)))
}

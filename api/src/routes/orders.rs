//! Orders: the customer's own (`/api/v1/orders`), public tracking, and the
//! back office (`/api/v1/admin/orders`) for admins and vendors.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use bazaar_core::{
    commerce::{
        orders::{self, AdminFilter, Order, TrackedOrder},
        status::{OrderSource, OrderStatus},
        workflow::{self, StatusChange},
    },
    FieldError,
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AuthUser, ClientIp, Json, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mine))
        .routes(routes!(get_mine))
        .routes(routes!(cancel))
        .routes(routes!(track))
        .routes(routes!(back_office))
        .routes(routes!(change_status))
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", security(("bearer" = [])),
    params(Pagination),
    responses((status = 200, body = Page<Order>), (status = 401, body = Problem, content_type = "application/problem+json")))]
async fn list_mine(
    State(state): State<AppState>,
    user: AuthUser,
    page: Pagination,
) -> ApiResult<Json<Page<Order>>> {
    let (items, total) =
        orders::list_mine(&state.pool, user.id, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// One of the caller's orders with its status timeline (admins: any order).
#[utoipa::path(get, path = "/api/v1/orders/{number}", tag = "orders", security(("bearer" = [])),
    params(("number" = String, Path, description = "e.g. BZ-000123")),
    responses((status = 200, body = Order), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get_mine(
    State(state): State<AppState>,
    user: AuthUser,
    Path(number): Path<String>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        orders::get_for(&state.pool, user.actor(), &number).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    note: Option<String>,
}

/// Cancel an order while it is pending or paid (not yet confirmed). Stock is
/// released; a paid card payment is refunded.
#[utoipa::path(post, path = "/api/v1/orders/{number}/cancel", tag = "orders", security(("bearer" = [])),
    params(("number" = String, Path)),
    request_body(content = Option<CancelRequest>),
    responses((status = 200, body = Order),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "too late to cancel", body = Problem, content_type = "application/problem+json")))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    Path(number): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Order>> {
    // The body is optional: an empty one cancels without a note.
    let note = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        crate::extract::parse_json::<CancelRequest>(&body)?.note
    };
    let (order, moved) =
        workflow::cancel_by_customer(&state.pool, &state.shop, user.id, &number, note).await?;
    if moved.stock_changed {
        state.cache.changed().await;
    }
    Ok(Json(order))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackRequest {
    number: String,
    /// The phone given at checkout (compared by its digits).
    phone: String,
}

/// Where is my order: status, timeline and tracking, nothing else. A wrong
/// number and a wrong phone get the same 404. Rate limited per IP.
#[utoipa::path(post, path = "/api/v1/orders/track", tag = "orders",
    request_body = TrackRequest,
    responses((status = 200, body = TrackedOrder),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json")))]
async fn track(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<TrackRequest>,
) -> ApiResult<Json<TrackedOrder>> {
    state
        .auth
        .limiter
        .hit(
            &format!("track:ip:{ip}"),
            state.config.rate_limits.track_per_ip_per_minute,
            Duration::from_secs(60),
        )
        .await
        .map_err(bazaar_core::Error::from)?;
    Ok(Json(
        orders::track(&state.pool, &req.number, &req.phone).await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackOfficeQuery {
    /// pending, paid, confirmed, shipped, delivered, cancelled or refunded.
    status: Option<String>,
    /// web, kaspi or ozon.
    source: Option<String>,
    /// Created at or after (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// The customer's e-mail or user id.
    customer: Option<String>,
}

/// Orders for the back office. Vendors see orders with lines of their
/// stores, and only those lines.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", security(("bearer" = [])),
    params(BackOfficeQuery, Pagination),
    responses((status = 200, body = Page<Order>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn back_office(
    State(state): State<AppState>,
    user: AuthUser,
    page: Pagination,
    query: Result<Query<BackOfficeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Page<Order>>> {
    let Query(q) =
        query.map_err(|e| ApiError::validation(vec![FieldError::new("query", e.body_text())]))?;
    let mut errors = Vec::new();
    let status = match q.status.as_deref().map(OrderStatus::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            errors.push(FieldError::new("status", "is not an order status"));
            None
        }
    };
    let source = match q.source.as_deref().map(OrderSource::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            errors.push(FieldError::new("source", "must be web, kaspi or ozon"));
            None
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let filter = AdminFilter {
        status,
        source,
        from: q.from,
        to: q.to,
        customer: q.customer,
    };
    let (items, total) = orders::list_for_back_office(
        &state.pool,
        user.actor(),
        &filter,
        page.per_page(),
        page.offset(),
    )
    .await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Move an order through its workflow. The state machine decides (409 for an
/// illegal move); shipping needs a tracking number. Vendors move orders whose
/// every line is theirs.
#[utoipa::path(post, path = "/api/v1/admin/orders/{number}/status", tag = "admin", security(("bearer" = [])),
    params(("number" = String, Path)),
    request_body = StatusChange,
    responses((status = 200, body = Order),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "not allowed from the current status", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn change_status(
    State(state): State<AppState>,
    user: AuthUser,
    Path(number): Path<String>,
    Json(change): Json<StatusChange>,
) -> ApiResult<Json<Order>> {
    let (order, moved) =
        workflow::change_by_staff(&state.pool, &state.shop, user.actor(), &number, change).await?;
    if moved.stock_changed {
        state.cache.changed().await;
    }
    Ok(Json(order))
}

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
        .routes(routes!(export))
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
    // The body is optional: an empty one (or `null`) cancels without a note.
    let note = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        None
    } else {
        crate::extract::parse_json::<CancelRequest>(&body)?.note
    };
    let (order, moved) =
        workflow::cancel_by_customer(&state.pool, &state.shop, user.id, &number, note).await?;
    state.cache.availability_changed(&moved.availability).await;
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

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackOfficeQuery {
    /// pending, paid, confirmed, shipped, delivered, cancelled or refunded
    /// (empty: any, as a form's untouched field).
    #[param(schema_with = status_filter)]
    pub status: Option<String>,
    /// web, kaspi or ozon (empty: any).
    #[param(schema_with = source_filter)]
    pub source: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// The customer's e-mail or user id.
    pub customer: Option<String>,
    /// One order's number (`BZ-000123`, `KS-...`, `OZ-...`).
    pub number: Option<String>,
}

fn status_filter() -> utoipa::openapi::Object {
    bazaar_core::validate::schema::choice_or_empty(
        "pending|paid|confirmed|shipped|delivered|cancelled|refunded",
    )
}

fn source_filter() -> utoipa::openapi::Object {
    bazaar_core::validate::schema::choice_or_empty("web|kaspi|ozon")
}

impl BackOfficeQuery {
    /// The filter, or a 422 naming every bad parameter. Empty parameters (a
    /// form's untouched fields) filter nothing.
    pub fn filter(self) -> Result<AdminFilter, ApiError> {
        fn given(v: Option<String>) -> Option<String> {
            v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
        }
        let mut errors = Vec::new();
        let status = given(self.status).and_then(|s| {
            OrderStatus::parse(&s).or_else(|| {
                errors.push(FieldError::new("status", "is not an order status"));
                None
            })
        });
        let source = given(self.source).and_then(|s| {
            OrderSource::parse(&s).or_else(|| {
                errors.push(FieldError::new("source", "must be web, kaspi or ozon"));
                None
            })
        });
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if to <= from {
                errors.push(FieldError::new("to", "must be after from"));
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(AdminFilter {
            status,
            source,
            from: self.from,
            to: self.to,
            customer: given(self.customer),
            number: given(self.number),
        })
    }
}

fn query_problem(e: axum::extract::rejection::QueryRejection) -> ApiError {
    ApiError::validation(vec![FieldError::new("query", e.body_text())])
}

/// Orders for the back office, newest first. Vendors see orders with lines
/// of their stores, and only those lines. A `total` of 10,000 or more may
/// lag the items by up to `ORDER_TOTALS_CACHE_SECS` (60 s): it is counted
/// once per filter in that time, not on every page view.
#[utoipa::path(get, path = "/api/v1/admin/orders", tag = "admin", operation_id = "admin_list_orders",
    security(("bearer" = [])),
    params(BackOfficeQuery, Pagination),
    responses((status = 200, description = "one page of orders", body = Page<Order>),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins and vendors only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid filter", body = Problem, content_type = "application/problem+json")))]
async fn back_office(
    State(state): State<AppState>,
    user: AuthUser,
    page: Pagination,
    query: Result<Query<BackOfficeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Page<Order>>> {
    let filter = query.map_err(query_problem)?.0.filter()?;
    let (items, total) =
        back_office_list(&state, user.actor(), filter, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Totals at or above this are kept (`Recent`): counting hundreds of
/// thousands of index entries per page view is what makes an order desk
/// slow at a million orders. Smaller ones are counted every time, exactly.
const KEPT_TOTAL: i64 = 10_000;

/// One page of the order desk and its total, for the API and the console.
/// A total of `KEPT_TOTAL` or more may be up to `ORDER_TOTALS_CACHE_SECS`
/// old (a 60 s old total of a million is off by a few dozen orders).
pub async fn back_office_list(
    state: &AppState,
    actor: bazaar_core::catalog::Actor,
    filter: AdminFilter,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Order>, i64)> {
    let scope = bazaar_core::backoffice::Scope::of(&state.pool, actor).await?;
    let items =
        orders::back_office_page(&state.pool, scope.stores(), &filter, limit, offset).await?;
    let pool = state.pool.clone();
    let key = (scope.clone(), filter.clone());
    let count = move || {
        let pool = pool.clone();
        let scope = scope.clone();
        let filter = filter.clone();
        async move { orders::back_office_count(&pool, scope.stores(), &filter).await }
    };
    let total = state
        .order_counts
        .get(key, count, |n| *n >= KEPT_TOTAL)
        .await?;
    Ok((items, total))
}

/// The same filtered list as CSV, newest first, streamed (any number of
/// orders, in constant memory). Amounts in major units. Text customers
/// typed is defused against spreadsheet formulas. For a vendor, `lines`
/// and `total` cover their own lines only.
#[utoipa::path(get, path = "/api/v1/admin/orders/export", tag = "admin", operation_id = "admin_export_orders",
    security(("bearer" = [])),
    params(BackOfficeQuery),
    responses((status = 200, description = "CSV with a header row", content_type = "text/csv", body = String,
            headers(("Content-Disposition" = String, description = "attachment; filename=orders.csv"))),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins and vendors only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid filter", body = Problem, content_type = "application/problem+json")))]
async fn export(
    State(state): State<AppState>,
    user: AuthUser,
    query: Result<Query<BackOfficeQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::response::Response> {
    let filter = query.map_err(query_problem)?.0.filter()?;
    let scope = bazaar_core::backoffice::Scope::of(&state.pool, user.actor()).await?;
    Ok(csv_response(&state, scope, filter))
}

/// A streamed CSV download of the filtered orders.
pub fn csv_response(
    state: &AppState,
    scope: bazaar_core::backoffice::Scope,
    filter: AdminFilter,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = axum::body::Body::from_stream(bazaar_core::backoffice::export::orders_csv(
        state.pool.clone(),
        scope,
        filter,
    ));
    (
        [
            (http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"orders.csv\"",
            ),
            (http::header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
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
    state.cache.availability_changed(&moved.availability).await;
    Ok(Json(order))
}

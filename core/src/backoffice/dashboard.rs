//! The dashboard's figures. Each comes from an index range (the last 30
//! days of orders, the partial indexes of unmoderated reviews, failed jobs
//! and low stock), so a page view costs the same at a thousand orders and
//! at a million; the API keeps the result for a few seconds besides.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    catalogue::{self, LowStock},
    Scope,
};
use crate::{commerce::status::OrderStatus, health, money::Money, Result};

/// Days in the revenue chart.
pub const DAYS: i64 = 30;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dashboard {
    /// UTC day the figures end with.
    pub today: NaiveDate,
    /// Orders placed today (any status).
    pub orders_today: i64,
    /// Placed today and not cancelled or refunded. For a vendor: their lines.
    pub revenue_today: Money,
    /// One entry per day, oldest first, 30 days ending today.
    pub revenue_by_day: Vec<DayFigure>,
    /// Orders of the last 30 days per status (every status listed).
    pub orders_by_status: Vec<StatusCount>,
    /// Active variants with this many units or fewer for sale.
    pub low_stock_threshold: i32,
    pub low_stock: Vec<LowStock>,
    /// Reviews no admin has looked at yet (admins only; null for vendors).
    pub reviews_pending: Option<i64>,
    /// Jobs that failed for good and wait for a retry or discard (admins only).
    pub failed_jobs: Option<i64>,
    /// Components the last health check found unwell (admins only).
    pub unhealthy: Vec<Unhealthy>,
    /// Best sellers of the last 30 days by revenue (for a vendor: theirs).
    pub top_products: Vec<ProductSales>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayFigure {
    pub day: NaiveDate,
    pub orders: i64,
    pub revenue: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusCount {
    pub status: OrderStatus,
    pub orders: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Unhealthy {
    pub component: String,
    pub detail: String,
    pub checked_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductSales {
    pub product_id: Uuid,
    pub name: String,
    pub units: i64,
    pub revenue: Money,
}

/// Statuses whose money the shop does not keep.
const LOST: [OrderStatus; 2] = [OrderStatus::Cancelled, OrderStatus::Refunded];

pub async fn figures(
    pool: &PgPool,
    scope: &Scope,
    currency: &str,
    low_stock_threshold: i32,
    now: DateTime<Utc>,
) -> Result<Dashboard> {
    let today = now.date_naive();
    let first = today - Duration::days(DAYS - 1);
    let since = first
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    // One snapshot, so the figures agree with each other. JIT compilation
    // costs more than these index-only aggregates save (30 ms of 90 ms).
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    let conn = &mut tx;
    // (day, status) -> (orders, revenue). A line's time is its order's
    // (written together), so bounding both lets the planner join the two
    // windows' index-only scans instead of visiting every order.
    let rows: Vec<(NaiveDate, OrderStatus, i64, i64)> = match scope.stores() {
        None => {
            sqlx::query_as(
                "SELECT (created_at AT TIME ZONE 'UTC')::date, status, count(*), COALESCE(sum(total), 0)::bigint
                 FROM orders WHERE created_at >= $1 GROUP BY 1, 2",
            )
            .bind(since)
            .fetch_all(&mut **conn)
            .await?
        }
        Some(stores) => {
            sqlx::query_as(
                "SELECT (i.created_at AT TIME ZONE 'UTC')::date, o.status, count(DISTINCT i.order_id),
                        COALESCE(sum(i.line_total), 0)::bigint
                 FROM order_items i JOIN orders o ON o.id = i.order_id
                 WHERE i.store_id = ANY($1) AND i.created_at >= $2 AND o.created_at >= $2
                 GROUP BY 1, 2",
            )
            .bind(stores)
            .bind(since)
            .fetch_all(&mut **conn)
            .await?
        }
    };
    let mut by_day: BTreeMap<NaiveDate, (i64, i64)> = (0..DAYS)
        .map(|d| (first + Duration::days(d), (0, 0)))
        .collect();
    let mut by_status: HashMap<OrderStatus, i64> = HashMap::new();
    for (day, status, orders, revenue) in rows {
        *by_status.entry(status).or_default() += orders;
        if let Some(d) = by_day.get_mut(&day) {
            d.0 += orders;
            if !LOST.contains(&status) {
                d.1 += revenue;
            }
        }
    }
    let (orders_today, revenue_today) = by_day.get(&today).copied().unwrap_or_default();
    let money = |amount| Money::new(amount, currency);
    let revenue_by_day = by_day
        .into_iter()
        .map(|(day, (orders, revenue))| DayFigure {
            day,
            orders,
            revenue: money(revenue),
        })
        .collect();
    let orders_by_status = OrderStatus::ALL
        .iter()
        .map(|s| StatusCount {
            status: *s,
            orders: by_status.get(s).copied().unwrap_or(0),
        })
        .collect();

    let stores = scope.stores().map(<[Uuid]>::to_vec);
    let low_stock = catalogue::low_stock(&mut **conn, scope, low_stock_threshold, 20).await?;

    let top: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(
        "SELECT t.product_id, p.name, t.units, t.revenue
         FROM (SELECT i.product_id, sum(i.quantity)::bigint AS units, sum(i.line_total)::bigint AS revenue
               FROM order_items i JOIN orders o ON o.id = i.order_id
               WHERE i.created_at >= $1 AND o.created_at >= $1 AND o.status <> ALL($2)
                 AND ($3::uuid[] IS NULL OR i.store_id = ANY($3))
               GROUP BY i.product_id ORDER BY revenue DESC LIMIT 10) t
         JOIN products p ON p.id = t.product_id ORDER BY t.revenue DESC",
    )
    .bind(since)
    .bind(LOST.map(OrderStatus::as_str).as_slice())
    .bind(&stores)
    .fetch_all(&mut **conn)
    .await?;
    let top_products = top
        .into_iter()
        .map(|(product_id, name, units, revenue)| ProductSales {
            product_id,
            name,
            units,
            revenue: money(revenue),
        })
        .collect();

    let (reviews_pending, failed_jobs, unhealthy) = match scope {
        Scope::Stores(_) => (None, None, Vec::new()),
        Scope::Shop => {
            let reviews: i64 =
                sqlx::query_scalar("SELECT count(*) FROM reviews WHERE moderated_at IS NULL")
                    .fetch_one(&mut **conn)
                    .await?;
            let failed: i64 =
                sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'failed'")
                    .fetch_one(&mut **conn)
                    .await?;
            let last: Option<(DateTime<Utc>, sqlx::types::Json<Vec<health::Component>>)> =
                sqlx::query_as(
                    "SELECT started_at, components FROM health_runs
                     WHERE finished_at IS NOT NULL ORDER BY tick_at DESC LIMIT 1",
                )
                .fetch_optional(&mut **conn)
                .await?;
            let unhealthy = last
                .map(|(at, components)| {
                    components
                        .0
                        .into_iter()
                        .filter(|c| c.status != health::Status::Ok)
                        .map(|c| Unhealthy {
                            component: c.name,
                            detail: c.detail,
                            checked_at: at,
                        })
                        .collect()
                })
                .unwrap_or_default();
            (Some(reviews), Some(failed), unhealthy)
        }
    };
    tx.commit().await?;
    Ok(Dashboard {
        today,
        orders_today,
        revenue_today: money(revenue_today),
        revenue_by_day,
        orders_by_status,
        low_stock_threshold,
        low_stock,
        reviews_pending,
        failed_jobs,
        unhealthy,
        top_products,
    })
}

//! Orders as their owners, admins and vendors see them, with the status
//! timeline; and the public tracking view.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    addresses::ShippingAddress,
    pricing::Totals,
    quote::MoneyTotals,
    status::{OrderSource, OrderStatus, PaymentMethod, PaymentStatus, StockState},
};
use crate::{catalog::Actor, money::Money, validate, Error, Result};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderItem {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub store_id: Option<Uuid>,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineEntry {
    pub status: OrderStatus,
    pub at: DateTime<Utc>,
    /// customer, admin, vendor, system, stripe or kaspi.
    pub actor: String,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tracking {
    pub number: String,
    pub courier: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentInfo {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// Set when a provider reported a payment that does not match the order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponRef {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShippingRef {
    pub id: Option<Uuid>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
    pub number: String,
    pub status: OrderStatus,
    pub source: OrderSource,
    pub items: Vec<OrderItem>,
    pub totals: MoneyTotals,
    pub coupon: Option<CouponRef>,
    pub shipping_address: Option<ShippingAddress>,
    pub shipping_method: Option<ShippingRef>,
    pub payment: PaymentInfo,
    pub tracking: Option<Tracking>,
    pub timeline: Vec<TimelineEntry>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What `POST /orders/track` shows: nothing personal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackedOrder {
    pub number: String,
    pub status: OrderStatus,
    pub timeline: Vec<TimelineEntry>,
    pub tracking: Option<Tracking>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub id: Uuid,
    pub number: String,
    pub user_id: Option<Uuid>,
    pub status: OrderStatus,
    pub source: OrderSource,
    pub currency: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub note: Option<String>,
    pub shipping_address: Option<sqlx::types::Json<ShippingAddress>>,
    pub shipping_method_id: Option<Uuid>,
    pub shipping_method: Option<String>,
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub coupon_code: Option<String>,
    pub payment_method: PaymentMethod,
    pub payment_status: PaymentStatus,
    pub payment_reference: Option<String>,
    pub payment_flag: Option<String>,
    pub client_secret: Option<String>,
    pub stock_state: StockState,
    pub tracking_number: Option<String>,
    pub courier: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub const COLUMNS: &str = "id, number, user_id, status, source, currency, email, phone, note, \
    shipping_address, shipping_method_id, shipping_method, subtotal, discount, shipping, tax, total, \
    coupon_code, payment_method, payment_status, payment_reference, payment_flag, client_secret, \
    stock_state, tracking_number, courier, created_at";

#[derive(sqlx::FromRow)]
struct ItemRow {
    order_id: Uuid,
    variant_id: Uuid,
    product_id: Uuid,
    store_id: Option<Uuid>,
    sku: String,
    name: String,
    quantity: i32,
    unit_price: i64,
    line_total: i64,
}

#[derive(sqlx::FromRow)]
struct LogRow {
    order_id: Uuid,
    to_status: OrderStatus,
    actor: String,
    note: Option<String>,
    created_at: DateTime<Utc>,
}

pub async fn find_by_number(
    conn: &mut PgConnection,
    number: &str,
    lock: bool,
) -> Result<Option<OrderRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE number = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(number.trim().to_ascii_uppercase())
        .fetch_optional(conn)
        .await?)
}

pub async fn find_by_id(conn: &mut PgConnection, id: Uuid, lock: bool) -> Result<Option<OrderRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM orders WHERE id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

async fn timelines(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<TimelineEntry>>> {
    let rows: Vec<LogRow> = sqlx::query_as(
        "SELECT order_id, to_status, actor, note, created_at FROM order_status_log
         WHERE order_id = ANY($1) ORDER BY id",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    let mut map: HashMap<Uuid, Vec<TimelineEntry>> = HashMap::new();
    for r in rows {
        map.entry(r.order_id).or_default().push(TimelineEntry {
            status: r.to_status,
            at: r.created_at,
            actor: r.actor,
            note: r.note,
        });
    }
    Ok(map)
}

/// Assembles full orders from rows; `stores` limits the lines shown (vendors).
pub async fn assemble(
    conn: &mut PgConnection,
    rows: Vec<OrderRow>,
    stores: Option<&[Uuid]>,
) -> Result<Vec<Order>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let items: Vec<ItemRow> = sqlx::query_as(
        "SELECT order_id, variant_id, product_id, store_id, sku, name, quantity, unit_price, line_total
         FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, sku",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_order: HashMap<Uuid, Vec<OrderItem>> = HashMap::new();
    let currency: HashMap<Uuid, String> = rows.iter().map(|r| (r.id, r.currency.clone())).collect();
    for i in items {
        if let Some(stores) = stores {
            if !i.store_id.is_some_and(|s| stores.contains(&s)) {
                continue;
            }
        }
        let c = currency.get(&i.order_id).cloned().unwrap_or_default();
        by_order.entry(i.order_id).or_default().push(OrderItem {
            variant_id: i.variant_id,
            product_id: i.product_id,
            store_id: i.store_id,
            sku: i.sku,
            name: i.name,
            quantity: i.quantity,
            unit_price: Money::new(i.unit_price, &c),
            line_total: Money::new(i.line_total, &c),
        });
    }
    let mut logs = timelines(conn, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let items = by_order.remove(&r.id).unwrap_or_default();
            let timeline = logs.remove(&r.id).unwrap_or_default();
            view(r, items, timeline)
        })
        .collect())
}

/// An order as its owner sees it: its row, its lines and its timeline.
pub fn view(r: OrderRow, items: Vec<OrderItem>, timeline: Vec<TimelineEntry>) -> Order {
    let totals = Totals {
        subtotal: r.subtotal,
        discount: r.discount,
        shipping: r.shipping,
        tax: r.tax,
        total: r.total,
    };
    Order {
        status: r.status,
        items,
        totals: MoneyTotals::new(&totals, &r.currency),
        coupon: r.coupon_code.map(|code| CouponRef { code }),
        shipping_address: r.shipping_address.map(|j| j.0),
        shipping_method: r.shipping_method.map(|name| ShippingRef {
            id: r.shipping_method_id,
            name,
        }),
        payment: PaymentInfo {
            method: r.payment_method,
            status: r.payment_status,
            flag: r.payment_flag,
        },
        tracking: r.tracking_number.map(|number| Tracking {
            number,
            courier: r.courier,
        }),
        timeline,
        number: r.number,
        source: r.source,
        phone: r.phone,
        email: r.email,
        note: r.note,
        created_at: r.created_at,
    }
}

pub async fn one(conn: &mut PgConnection, row: OrderRow, stores: Option<&[Uuid]>) -> Result<Order> {
    assemble(conn, vec![row], stores)
        .await?
        .pop()
        .ok_or(Error::NotFound)
}

/// The owner's order (admins see every order); anyone else gets 404.
pub async fn get_for(pool: &PgPool, actor: Actor, number: &str) -> Result<Order> {
    let mut conn = pool.acquire().await?;
    let row = find_by_number(&mut conn, number, false)
        .await?
        .filter(|r| actor.is_admin() || r.user_id == Some(actor.id))
        .ok_or(Error::NotFound)?;
    one(&mut conn, row, None).await
}

pub async fn list_mine(
    pool: &PgPool,
    user: Uuid,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Order>, i64)> {
    let mut conn = pool.acquire().await?;
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM orders WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    )))
    .bind(user)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut *conn)
        .await?;
    Ok((assemble(&mut conn, rows, None).await?, total))
}

/// The stores a vendor owns.
pub async fn vendor_stores(conn: &mut PgConnection, vendor: Uuid) -> Result<Vec<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM stores WHERE owner_id = $1")
            .bind(vendor)
            .fetch_all(conn)
            .await?,
    )
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AdminFilter {
    pub status: Option<OrderStatus>,
    pub source: Option<OrderSource>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// An e-mail address or a user id.
    pub customer: Option<String>,
    /// One order's number.
    pub number: Option<String>,
}

/// The back office's filters as a WHERE clause on `orders o`.
pub fn push_filters(q: &mut QueryBuilder<Postgres>, f: &AdminFilter, stores: Option<&[Uuid]>) {
    q.push(" WHERE true");
    if let Some(s) = f.status {
        q.push(" AND o.status = ").push_bind(s);
    }
    if let Some(s) = f.source {
        q.push(" AND o.source = ").push_bind(s);
    }
    if let Some(from) = f.from {
        q.push(" AND o.created_at >= ").push_bind(from);
    }
    if let Some(to) = f.to {
        q.push(" AND o.created_at < ").push_bind(to);
    }
    if let Some(c) = &f.customer {
        match c.parse::<Uuid>() {
            Ok(id) => {
                q.push(" AND o.user_id = ").push_bind(id);
            }
            Err(_) => {
                q.push(" AND lower(o.email) = lower(")
                    .push_bind(c.trim().to_owned())
                    .push(")");
            }
        }
    }
    if let Some(n) = &f.number {
        q.push(" AND o.number = ")
            .push_bind(n.trim().to_ascii_uppercase());
    }
    if let Some(stores) = stores {
        q.push(" AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id AND i.store_id = ANY(")
            .push_bind(stores.to_vec())
            .push("))");
    }
}

/// One page of the back office's orders, newest first: all of them for the
/// shop (`stores` None), or the orders with lines of `stores`, showing only
/// those lines.
pub async fn back_office_page(
    pool: &PgPool,
    stores: Option<&[Uuid]>,
    filter: &AdminFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Order>> {
    let mut conn = pool.acquire().await?;
    let mut q = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM orders o"));
    push_filters(&mut q, filter, stores);
    q.push(" ORDER BY o.created_at DESC, o.id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<OrderRow> = q.build_query_as().fetch_all(&mut *conn).await?;
    assemble(&mut conn, rows, stores).await
}

/// How many orders `back_office_page` pages through.
pub async fn back_office_count(
    pool: &PgPool,
    stores: Option<&[Uuid]>,
    filter: &AdminFilter,
) -> Result<i64> {
    let mut c = QueryBuilder::<Postgres>::new("SELECT count(*) FROM orders o");
    push_filters(&mut c, filter, stores);
    Ok(c.build_query_scalar().fetch_one(pool).await?)
}

/// Whether two phone numbers are the same once in E.164 (`8 701 ...` and
/// `+7 701 ...` are).
fn same_phone(a: &str, b: &str) -> bool {
    matches!((validate::phone(a), validate::phone(b)), (Ok(a), Ok(b)) if a == b)
}

/// The public tracking view; a wrong number and a wrong phone are the same
/// `NotFound`.
pub async fn track(pool: &PgPool, number: &str, phone: &str) -> Result<TrackedOrder> {
    let mut conn = pool.acquire().await?;
    let row = find_by_number(&mut conn, number, false)
        .await?
        .filter(|r| r.phone.as_deref().is_some_and(|p| same_phone(p, phone)))
        .ok_or(Error::NotFound)?;
    let order = one(&mut conn, row, None).await?;
    Ok(TrackedOrder {
        number: order.number,
        status: order.status,
        // Notes are for the customer and the shop, not whoever knows the phone.
        timeline: order
            .timeline
            .into_iter()
            .map(|t| TimelineEntry { note: None, ..t })
            .collect(),
        tracking: order.tracking,
    })
}

#[cfg(test)]
mod tests {
    use super::same_phone;

    #[test]
    fn phones_compare_in_e164() {
        assert!(same_phone("+7 (701) 123-45-67", "8 701 123 45 67"));
        assert!(same_phone("+77011234567", "7011234567"));
        assert!(!same_phone("+77011234567", "+77011234568"));
        assert!(!same_phone("", ""));
    }
}

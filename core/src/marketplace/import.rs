//! Marketplace orders become ordinary orders (`source` kaspi or ozon,
//! unique by `(source, external_id)`), whatever the marketplace.
//!
//! A new order reserves its units in the transaction that imports it, with
//! the same conditional updates checkout uses (`inventory::hold`), so a unit
//! is never sold twice whoever asks for it at the same moment. What the
//! marketplace must be told (accept the order, cancel it for lack of stock)
//! is enqueued in that same transaction. Importing the same order again
//! changes nothing unless the marketplace's status moved; then our order
//! follows it through the workflow (stock released or deducted, timeline,
//! no customer e-mail: the marketplace talks to its buyers).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Acquire, PgConnection, PgPool};
use uuid::Uuid;

use crate::{
    commerce::{
        inventory::{self, Want},
        orders::{self, OrderRow},
        status::{OrderSource, OrderStatus, PaymentMethod, PaymentStatus, StockState},
        workflow::{self, Move},
    },
    jobs::{MarketplaceAction, OrderAction},
    marketplace_config::OutOfStock,
    outbox,
    shop::Shop,
    Error, Result, ShortLine,
};

/// A line as the marketplace sold it; `unit_price` in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedLine {
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub unit_price: i64,
}

/// Where the marketplace says the order is, in bazaar's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Paid but not ours to act on yet (Kaspi `SIGN_REQUIRED`): the units
    /// are held, nothing is accepted.
    Waiting,
    /// Waiting for the shop: accept (Kaspi) or pack (Ozon).
    New,
    /// The shop accepted it.
    Accepted,
    /// On its way to the buyer.
    Shipped,
    Completed,
    Cancelled,
    /// Came back after delivery.
    Returned,
    /// A state bazaar has no status for (a return being decided): the order
    /// stays as it is and asks for a person.
    Other,
}

#[derive(Debug, Clone)]
pub struct ImportedOrder {
    pub source: OrderSource,
    /// The API's id (Kaspi's opaque id, Ozon's posting number).
    pub external_id: String,
    /// What people call it (Kaspi's code, Ozon's posting number).
    pub external_code: String,
    /// The marketplace's status as it wrote it.
    pub external_status: String,
    pub stage: Stage,
    /// Whether the marketplace expects the shop to accept the order
    /// (Kaspi); Ozon postings need no acceptance.
    pub needs_acceptance: bool,
    pub lines: Vec<ImportedLine>,
    /// In minor units of `currency`.
    pub total: i64,
    pub currency: String,
    pub customer: Option<String>,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What importing one order did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    Created,
    /// Created, and cancelled at once for lack of stock.
    Refused,
    /// Created, and held for a person (no stock with `KASPI_OUT_OF_STOCK=hold`,
    /// or lines with unknown SKUs).
    Held,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct ImportOutcome {
    pub order: Uuid,
    pub imported: Imported,
    /// SKUs of lines no variant has.
    pub unmatched: Vec<String>,
    /// Stock or reservations changed.
    pub stock_changed: bool,
}

/// The timeline's actor for the marketplace.
fn actor(source: OrderSource) -> &'static str {
    source.as_str()
}

fn number(source: OrderSource, code: &str) -> String {
    let prefix = match source {
        OrderSource::Kaspi => "KS",
        OrderSource::Ozon => "OZ",
        OrderSource::Web => "BZ",
    };
    format!("{prefix}-{code}")
}

#[derive(sqlx::FromRow)]
struct Match {
    id: Uuid,
    product_id: Uuid,
    store_id: Uuid,
    sku: String,
}

fn shortage_note(short: &[ShortLine]) -> String {
    let lines: Vec<String> = short
        .iter()
        .map(|s| {
            format!(
                "{} (wanted {}, available {})",
                s.sku, s.requested, s.available
            )
        })
        .collect();
    format!("out of stock: {}", lines.join(", "))
}

/// Held without stock: retried by each sync until stock allows or a person
/// decides.
const HELD: &str = "held";

/// Reserves `wants` in a savepoint: on a shortage nothing stays reserved.
async fn try_hold(conn: &mut PgConnection, wants: &[Want]) -> Result<Option<Vec<ShortLine>>> {
    if wants.is_empty() {
        return Ok(None);
    }
    let mut sp = conn.begin().await?;
    match inventory::hold(&mut sp, wants).await {
        Ok(_) => {
            sp.commit().await?;
            Ok(None)
        }
        Err(Error::OutOfStock(short)) => {
            sp.rollback().await?;
            Ok(Some(short))
        }
        Err(e) => Err(e),
    }
}

async fn enqueue_action(
    conn: &mut PgConnection,
    shop: &Shop,
    order: Uuid,
    action: MarketplaceAction,
) -> Result<()> {
    outbox::enqueue(conn, &shop.pipeline, &OrderAction { order, action }).await?;
    Ok(())
}

/// Imports (or updates) one order in its own transaction.
pub async fn import(
    pool: &PgPool,
    shop: &Shop,
    out_of_stock: OutOfStock,
    o: &ImportedOrder,
) -> Result<ImportOutcome> {
    let mut tx = pool.begin().await?;
    let outcome = match create(&mut tx, shop, out_of_stock, o).await? {
        Some(outcome) => outcome,
        None => update(&mut tx, shop, o).await?,
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Inserts the order if it is new; `None` when it exists already (the
/// insert then waited for any concurrent import of it to commit).
async fn create(
    conn: &mut PgConnection,
    shop: &Shop,
    out_of_stock: OutOfStock,
    o: &ImportedOrder,
) -> Result<Option<ImportOutcome>> {
    let id = Uuid::now_v7();
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO orders (id, number, status, source, external_id, external_code, external_status,
                             external_seen_at, currency, phone, note, subtotal, total,
                             payment_method, payment_status, stock_state, created_at)
         VALUES ($1, $2, 'paid', $3, $4, $5, $6, now(), $7, $8, $9, $10, $10, $11, $12, 'released', $13)
         ON CONFLICT (source, external_id) DO NOTHING RETURNING id",
    )
    .bind(id)
    .bind(number(o.source, &o.external_code))
    .bind(o.source)
    .bind(&o.external_id)
    .bind(&o.external_code)
    .bind(&o.external_status)
    .bind(&o.currency)
    .bind(&o.phone)
    .bind(o.customer.as_ref().map(|c| format!("{} buyer: {c}", o.source)))
    .bind(o.total)
    .bind(PaymentMethod::Marketplace)
    .bind(PaymentStatus::Paid)
    .bind(o.created_at)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(None);
    }
    let skus: Vec<&str> = o.lines.iter().map(|l| l.sku.as_str()).collect();
    let matches: Vec<Match> = sqlx::query_as(
        "SELECT v.id, v.product_id, p.store_id, v.sku
           FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku = ANY($1)",
    )
    .bind(&skus)
    .fetch_all(&mut *conn)
    .await?;
    let mut wants = Vec::new();
    let mut unmatched = Vec::new();
    // One row per SKU: a marketplace may split a SKU over several entries.
    let mut merged: Vec<ImportedLine> = Vec::new();
    for l in &o.lines {
        match merged.iter_mut().find(|m| m.sku == l.sku) {
            Some(m) => m.quantity += l.quantity,
            None => merged.push(l.clone()),
        }
    }
    for l in &merged {
        match matches.iter().find(|m| m.sku == l.sku) {
            Some(m) => {
                sqlx::query(
                    "INSERT INTO order_items (id, order_id, variant_id, product_id, store_id, sku, name,
                                              quantity, unit_price, line_total, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(Uuid::now_v7())
                .bind(id)
                .bind(m.id)
                .bind(m.product_id)
                .bind(m.store_id)
                .bind(&m.sku)
                .bind(&l.name)
                .bind(l.quantity)
                .bind(l.unit_price)
                .bind(l.unit_price * i64::from(l.quantity))
                // The order's time, so a vendor's sales land on the day the
                // marketplace took the order.
                .bind(o.created_at)
                .execute(&mut *conn)
                .await?;
                wants.push(Want {
                    variant_id: m.id,
                    quantity: l.quantity,
                });
            }
            None => {
                sqlx::query(
                    "INSERT INTO marketplace_unmatched (order_id, sku, name, quantity, unit_price)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(&l.sku)
                .bind(&l.name)
                .bind(l.quantity)
                .bind(l.unit_price)
                .execute(&mut *conn)
                .await?;
                unmatched.push(l.sku.clone());
            }
        }
    }
    let who = actor(o.source);
    workflow::log(conn, id, None, OrderStatus::Paid, who, None, None).await?;
    let open = matches!(o.stage, Stage::Waiting | Stage::New);
    let mut imported = Imported::Created;
    let mut stock_changed = false;
    let mut attention: Option<String> = None;
    if !unmatched.is_empty() {
        attention = Some(format!(
            "unknown SKU(s) {}: map them to variants or cancel the order on {}",
            unmatched.join(", "),
            o.source
        ));
        imported = Imported::Held;
    }
    if open {
        match try_hold(conn, &wants).await? {
            None => {
                stock_changed = !wants.is_empty();
                sqlx::query("UPDATE orders SET stock_state = 'reserved' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                if imported == Imported::Created && o.needs_acceptance && o.stage == Stage::New {
                    enqueue_action(conn, shop, id, MarketplaceAction::Accept).await?;
                }
            }
            Some(short) => {
                match out_of_stock {
                    OutOfStock::Cancel => {
                        let note = shortage_note(&short);
                        sqlx::query("UPDATE orders SET status = 'cancelled', attention = NULL WHERE id = $1")
                        .bind(id)
                        .execute(&mut *conn)
                        .await?;
                        workflow::log(
                            conn,
                            id,
                            Some(OrderStatus::Paid),
                            OrderStatus::Cancelled,
                            "system",
                            None,
                            Some(&note),
                        )
                        .await?;
                        enqueue_action(conn, shop, id, MarketplaceAction::CancelOutOfStock).await?;
                        tracing::warn!(source = %o.source, code = %o.external_code, %note, "marketplace order refused");
                        return Ok(Some(ImportOutcome {
                            order: id,
                            imported: Imported::Refused,
                            unmatched,
                            stock_changed: false,
                        }));
                    }
                    OutOfStock::Hold => {
                        let note = format!("{HELD}: {}", shortage_note(&short));
                        attention = Some(match attention {
                            Some(a) => format!("{note}; {a}"),
                            None => note,
                        });
                        imported = Imported::Held;
                    }
                }
            }
        }
    }
    if attention.is_some() {
        sqlx::query("UPDATE orders SET attention = $2 WHERE id = $1")
            .bind(id)
            .bind(&attention)
            .execute(&mut *conn)
            .await?;
    }
    // An order first seen closed follows its marketplace status at once.
    if !open {
        let row = orders::find_by_id(conn, id, true)
            .await?
            .ok_or(Error::NotFound)?;
        follow(conn, shop, &row, o.stage, who).await?;
    }
    Ok(Some(ImportOutcome {
        order: id,
        imported,
        unmatched,
        stock_changed,
    }))
}

#[derive(sqlx::FromRow)]
struct Seen {
    external_status: Option<String>,
    attention: Option<String>,
}

/// An order imported before: follow the marketplace's status.
async fn update(conn: &mut PgConnection, shop: &Shop, o: &ImportedOrder) -> Result<ImportOutcome> {
    let sql = format!(
        "SELECT {} FROM orders WHERE source = $1 AND external_id = $2 FOR UPDATE",
        orders::COLUMNS
    );
    let row: OrderRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(o.source)
        .bind(&o.external_id)
        .fetch_one(&mut *conn)
        .await?;
    let seen: Seen = sqlx::query_as("SELECT external_status, attention FROM orders WHERE id = $1")
        .bind(row.id)
        .fetch_one(&mut *conn)
        .await?;
    let unmatched: Vec<String> = sqlx::query_scalar(
        "SELECT sku FROM marketplace_unmatched WHERE order_id = $1 ORDER BY sku",
    )
    .bind(row.id)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("UPDATE orders SET external_status = $2, external_seen_at = now() WHERE id = $1")
        .bind(row.id)
        .bind(&o.external_status)
        .execute(&mut *conn)
        .await?;
    let mut stock_changed = false;
    let mut changed = seen.external_status.as_deref() != Some(o.external_status.as_str());
    let held = seen
        .attention
        .as_deref()
        .is_some_and(|a| a.starts_with(HELD));
    if held && row.stock_state == StockState::Released && row.status == OrderStatus::Paid {
        // Held for stock: maybe there is some now.
        if matches!(o.stage, Stage::Waiting | Stage::New) {
            let wants = workflow::lines(conn, row.id).await?;
            if try_hold(conn, &wants).await?.is_none() {
                sqlx::query(
                    "UPDATE orders SET stock_state = 'reserved',
                            attention = CASE WHEN $2 THEN attention ELSE NULL END WHERE id = $1",
                )
                .bind(row.id)
                .bind(!unmatched.is_empty())
                .execute(&mut *conn)
                .await?;
                stock_changed = true;
                changed = true;
            }
        }
    }
    let row = orders::find_by_id(conn, row.id, true)
        .await?
        .ok_or(Error::NotFound)?;
    if o.stage == Stage::New
        && o.needs_acceptance
        && row.status == OrderStatus::Paid
        && row.stock_state == StockState::Reserved
        && unmatched.is_empty()
    {
        // Idempotent by key: enqueued once however often it is seen.
        enqueue_action(conn, shop, row.id, MarketplaceAction::Accept).await?;
    }
    stock_changed |= follow(conn, shop, &row, o.stage, actor(o.source)).await?;
    Ok(ImportOutcome {
        order: row.id,
        imported: if changed || stock_changed {
            Imported::Updated
        } else {
            Imported::Unchanged
        },
        unmatched,
        stock_changed,
    })
}

/// The statuses an order passes through from `from` to reach what the
/// marketplace says; empty when it is there already or cannot follow.
pub fn path(from: OrderStatus, stage: Stage) -> Vec<OrderStatus> {
    use OrderStatus::*;
    const FORWARD: [OrderStatus; 4] = [Paid, Confirmed, Shipped, Delivered];
    let forward_to = |target: OrderStatus| -> Vec<OrderStatus> {
        match (
            FORWARD.iter().position(|s| *s == from),
            FORWARD.iter().position(|s| *s == target),
        ) {
            (Some(a), Some(b)) if a < b => FORWARD[a + 1..=b].to_vec(),
            _ => Vec::new(),
        }
    };
    match stage {
        Stage::Waiting | Stage::New | Stage::Other => Vec::new(),
        Stage::Accepted => forward_to(Confirmed),
        Stage::Shipped => forward_to(Shipped),
        Stage::Completed => forward_to(Delivered),
        Stage::Cancelled => match from {
            Pending | Paid | Confirmed => vec![Cancelled],
            _ => Vec::new(),
        },
        Stage::Returned => match from {
            Paid | Delivered | Cancelled => vec![Refunded],
            Confirmed => vec![Cancelled, Refunded],
            _ => Vec::new(),
        },
    }
}

/// Moves `row` along `path` as the marketplace (mover: system). Returns
/// whether stock moved.
async fn follow(
    conn: &mut PgConnection,
    shop: &Shop,
    row: &OrderRow,
    stage: Stage,
    who: &str,
) -> Result<bool> {
    let steps = path(row.status, stage);
    if steps.is_empty() {
        if stage == Stage::Cancelled
            && !matches!(row.status, OrderStatus::Cancelled | OrderStatus::Refunded)
        {
            flag(
                conn,
                row.id,
                &format!("{who} cancelled the order after it was {}", row.status),
            )
            .await?;
        }
        return Ok(false);
    }
    let mut moved = false;
    let mut current = row.clone();
    for to in steps {
        let mut mv = Move::system(to, who, Some(format!("{who} says so")));
        if to == OrderStatus::Shipped && current.tracking_number.is_none() {
            // The marketplace's courier carries it; its code is the reference.
            mv.tracking_number = Some(current.number.clone());
            mv.courier = Some(who.to_owned());
        }
        moved |= workflow::apply(conn, shop, &current, mv)
            .await?
            .stock_changed;
        current = orders::find_by_id(conn, row.id, true)
            .await?
            .ok_or(Error::NotFound)?;
    }
    Ok(moved)
}

async fn flag(conn: &mut PgConnection, order: Uuid, why: &str) -> Result<()> {
    sqlx::query("UPDATE orders SET attention = $2 WHERE id = $1")
        .bind(order)
        .bind(why)
        .execute(conn)
        .await?;
    Ok(())
}

/// The orders of `source` still open and not seen on the marketplace for
/// `stale` (to be re-read until they close), least recently seen first.
pub async fn open_orders(
    pool: &PgPool,
    source: OrderSource,
    stale: std::time::Duration,
    limit: i64,
) -> Result<Vec<(Uuid, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, external_id FROM orders
          WHERE source = $1 AND source <> 'web' AND status NOT IN ('delivered', 'cancelled', 'refunded')
            AND (external_seen_at IS NULL OR external_seen_at <= now() - make_interval(secs => $3))
          ORDER BY external_seen_at NULLS FIRST LIMIT $2",
    )
    .bind(source)
    .bind(limit)
    .bind(stale.as_secs_f64())
    .fetch_all(pool)
    .await?)
}

/// What an order action needs to know of the order.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct External {
    pub id: Uuid,
    pub number: String,
    pub source: OrderSource,
    pub status: OrderStatus,
    pub external_id: Option<String>,
    pub external_code: Option<String>,
    pub external_status: Option<String>,
}

pub async fn external(pool: &PgPool, order: Uuid) -> Result<Option<External>> {
    Ok(sqlx::query_as(
        "SELECT id, number, source, status, external_id, external_code, external_status FROM orders WHERE id = $1",
    )
    .bind(order)
    .fetch_optional(pool)
    .await?)
}

/// After the marketplace took an action of ours: record its new status and
/// move our order where it now is.
pub async fn acknowledge(
    pool: &PgPool,
    shop: &Shop,
    order: Uuid,
    external_status: &str,
    stage: Stage,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let row = orders::find_by_id(&mut tx, order, true)
        .await?
        .ok_or(Error::NotFound)?;
    sqlx::query("UPDATE orders SET external_status = $2, external_seen_at = now() WHERE id = $1")
        .bind(order)
        .bind(external_status)
        .execute(&mut *tx)
        .await?;
    let moved = follow(&mut tx, shop, &row, stage, actor(row.source)).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Records that a person must look at the order (an action the
/// marketplace refused).
pub async fn needs_attention(pool: &PgPool, order: Uuid, why: &str) -> Result<()> {
    let mut conn = pool.acquire().await?;
    flag(&mut conn, order, why).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn orders_follow_the_marketplace_by_legal_steps() {
        assert_eq!(path(Paid, Stage::Accepted), vec![Confirmed]);
        assert_eq!(
            path(Paid, Stage::Completed),
            vec![Confirmed, Shipped, Delivered]
        );
        assert_eq!(path(Confirmed, Stage::Shipped), vec![Shipped]);
        assert_eq!(path(Delivered, Stage::Accepted), Vec::<OrderStatus>::new());
        assert_eq!(path(Paid, Stage::Cancelled), vec![Cancelled]);
        assert_eq!(path(Shipped, Stage::Cancelled), Vec::<OrderStatus>::new());
        assert_eq!(path(Cancelled, Stage::Cancelled), Vec::<OrderStatus>::new());
        assert_eq!(path(Delivered, Stage::Returned), vec![Refunded]);
        assert_eq!(path(Confirmed, Stage::Returned), vec![Cancelled, Refunded]);
        assert_eq!(path(Paid, Stage::New), Vec::<OrderStatus>::new());
        assert_eq!(path(Paid, Stage::Other), Vec::<OrderStatus>::new());
    }

    #[test]
    fn numbers_say_where_the_order_came_from() {
        assert_eq!(number(OrderSource::Kaspi, "496149022"), "KS-496149022");
        assert_eq!(
            number(OrderSource::Ozon, "0132112277-0101-1"),
            "OZ-0132112277-0101-1"
        );
    }
}

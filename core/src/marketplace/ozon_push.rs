//! What Ozon must be told, and what it said: stock figures, prices and card
//! imports of Ozon listings.
//!
//! Each kind is claimed before it is sent, in one statement that also moves
//! the row's clock (`stock_pushed_at`, `price_pushes`, the import status),
//! so two workers never send the same figure and a figure that fails is
//! not retried before Ozon's window allows. Coalescing is free: a row holds
//! the latest figure only (versions bumped by the variant's triggers), so
//! ten sales in thirty seconds are one push.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

use crate::Result;

/// A product-warehouse pair whose figure changed since Ozon last took one.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueStock {
    pub variant_id: Uuid,
    pub sku: String,
    pub product_id: i64,
    pub warehouse_id: String,
    pub version: i64,
    /// Units for sale: stock not reserved, 0 when not on sale.
    pub available: i32,
}

/// Claims up to `limit` due pairs not pushed for `interval` (their clock is
/// moved to now, so no other worker claims them meanwhile).
pub async fn claim_stock(
    pool: &PgPool,
    default_warehouse: Option<&str>,
    interval: Duration,
    limit: i64,
) -> Result<Vec<DueStock>> {
    Ok(sqlx::query_as(concat!(
        "WITH due AS (
             SELECT l.variant_id FROM listings l
              WHERE l.marketplace = 'ozon' AND l.stock_version > l.stock_pushed_version
                AND l.ozon_product_id IS NOT NULL AND COALESCE(l.warehouse_id, $1) IS NOT NULL
                AND (l.stock_pushed_at IS NULL OR l.stock_pushed_at <= now() - make_interval(secs => $2))
              ORDER BY l.stock_pushed_at NULLS FIRST
              LIMIT $3 FOR UPDATE SKIP LOCKED
         )
         UPDATE listings l SET stock_pushed_at = now()
           FROM due, variants v JOIN products p ON p.id = v.product_id JOIN stores s ON s.id = p.store_id
          WHERE l.variant_id = due.variant_id AND l.marketplace = 'ozon' AND v.id = l.variant_id
         RETURNING l.variant_id, v.sku, l.ozon_product_id AS product_id,
                   COALESCE(l.warehouse_id, $1) AS warehouse_id, l.stock_version AS version,
                   CASE WHEN ",
        sellable!(),
        " THEN GREATEST(v.stock - v.reserved, 0) ELSE 0 END AS available"
    ))
    .bind(default_warehouse)
    .bind(interval.as_secs_f64())
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// What Ozon said of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Taken; the figure (or price) sent.
    Taken(i64),
    /// Refused for now (too frequent, a transient error): due again after
    /// the window, as the sheet says.
    Later(String),
    /// Refused for a reason a person must fix (no such offer, product not
    /// created yet, unknown warehouse); kept due, shown on the listing.
    Refused(String),
}

/// The results as columns for `unnest`: variant, version, what was sent,
/// and the error (`None` when taken).
type Columns = (Vec<Uuid>, Vec<i64>, Vec<i64>, Vec<Option<String>>);

fn columns(results: &[(Uuid, i64, ItemOutcome)]) -> Columns {
    let mut c: Columns = Default::default();
    for (variant, version, outcome) in results {
        c.0.push(*variant);
        c.1.push(*version);
        match outcome {
            ItemOutcome::Taken(n) => {
                c.2.push(*n);
                c.3.push(None);
            }
            ItemOutcome::Later(e) | ItemOutcome::Refused(e) => {
                c.2.push(0);
                c.3.push(Some(e.clone()));
            }
        }
    }
    c
}

/// Records what Ozon said of each claimed pair, in one statement. A taken
/// figure marks its version pushed; the clock restarts when Ozon answered
/// (the request may have waited for a slot after the claim); a refusal is
/// kept on the listing.
pub async fn record_stock(pool: &PgPool, results: &[(Uuid, i64, ItemOutcome)]) -> Result<()> {
    let (variants, versions, sent, errors) = columns(results);
    sqlx::query(
        "UPDATE listings l SET stock_pushed_at = now(),
                stock_pushed_version = CASE WHEN r.error IS NULL
                    THEN GREATEST(l.stock_pushed_version, r.version) ELSE l.stock_pushed_version END,
                stock_pushed = CASE WHEN r.error IS NULL THEN r.sent::integer ELSE l.stock_pushed END,
                last_error = CASE WHEN r.error IS NOT NULL THEN r.error
                    WHEN l.last_error_kind = 'stock' THEN NULL ELSE l.last_error END,
                last_error_kind = CASE WHEN r.error IS NOT NULL THEN 'stock' ELSE l.last_error_kind END,
                last_error_at = CASE WHEN r.error IS NOT NULL THEN now() ELSE l.last_error_at END
           FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::text[]) AS r(variant_id, version, sent, error)
          WHERE l.variant_id = r.variant_id AND l.marketplace = 'ozon'",
    )
    .bind(&variants)
    .bind(&versions)
    .bind(&sent)
    .bind(&errors)
    .execute(pool)
    .await?;
    Ok(())
}

/// A price Ozon has not been told yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DuePrice {
    pub variant_id: Uuid,
    pub sku: String,
    pub version: i64,
    /// Minor units of Ozon's currency.
    pub price: i64,
}

/// Claims up to `limit` due prices whose product has had fewer than
/// `per_hour` pushes in the last hour (the claim counts as one).
pub async fn claim_prices(
    pool: &PgPool,
    currency: &str,
    per_hour: u32,
    limit: i64,
) -> Result<Vec<DuePrice>> {
    Ok(sqlx::query_as(
        "WITH due AS (
             SELECT l.variant_id FROM listings l JOIN variants v ON v.id = l.variant_id
              WHERE l.marketplace = 'ozon' AND l.price_version > l.price_pushed_version
                AND COALESCE(l.price_override, CASE WHEN v.currency = $1 AND v.price > 0 THEN v.price END) IS NOT NULL
                AND (SELECT count(*) FROM unnest(l.price_pushes) t WHERE t > now() - interval '1 hour') < $2
              ORDER BY l.variant_id LIMIT $3 FOR UPDATE OF l SKIP LOCKED
         )
         UPDATE listings l
            SET price_pushes = ARRAY(SELECT t FROM unnest(l.price_pushes) t WHERE t > now() - interval '1 hour') || now()
           FROM due, variants v
          WHERE l.variant_id = due.variant_id AND l.marketplace = 'ozon' AND v.id = l.variant_id
         RETURNING l.variant_id, v.sku, l.price_version AS version,
                   COALESCE(l.price_override, v.price) AS price",
    )
    .bind(currency)
    .bind(i64::from(per_hour))
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// Records what Ozon said of each claimed price, in one statement (the
/// claim already counted the push).
pub async fn record_prices(pool: &PgPool, results: &[(Uuid, i64, ItemOutcome)]) -> Result<()> {
    let (variants, versions, _, errors) = columns(results);
    sqlx::query(
        "UPDATE listings l SET
                price_pushed_version = CASE WHEN r.error IS NULL
                    THEN GREATEST(l.price_pushed_version, r.version) ELSE l.price_pushed_version END,
                last_error = CASE WHEN r.error IS NOT NULL THEN r.error
                    WHEN l.last_error_kind = 'price' THEN NULL ELSE l.last_error END,
                last_error_kind = CASE WHEN r.error IS NOT NULL THEN 'price' ELSE l.last_error_kind END,
                last_error_at = CASE WHEN r.error IS NOT NULL THEN now() ELSE l.last_error_at END
           FROM unnest($1::uuid[], $2::bigint[], $3::text[]) AS r(variant_id, version, error)
          WHERE l.variant_id = r.variant_id AND l.marketplace = 'ozon'",
    )
    .bind(&variants)
    .bind(&versions)
    .bind(&errors)
    .execute(pool)
    .await?;
    Ok(())
}

/// A listing without an Ozon card yet.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ToImport {
    pub variant_id: Uuid,
    pub sku: String,
    pub name: String,
    pub price: i64,
}

/// Claims up to `limit` listings to create cards for (status `submitting`
/// until the task id is known).
pub async fn claim_imports(pool: &PgPool, currency: &str, limit: i64) -> Result<Vec<ToImport>> {
    Ok(sqlx::query_as(concat!(
        "WITH due AS (
             SELECT l.variant_id FROM listings l JOIN variants v ON v.id = l.variant_id
              WHERE l.marketplace = 'ozon' AND l.ozon_product_id IS NULL AND l.ozon_import_status IS NULL
                AND COALESCE(l.price_override, CASE WHEN v.currency = $1 AND v.price > 0 THEN v.price END) IS NOT NULL
              ORDER BY l.variant_id LIMIT $2 FOR UPDATE OF l SKIP LOCKED
         )
         UPDATE listings l SET ozon_import_status = 'submitting'
           FROM due, variants v JOIN products p ON p.id = v.product_id
          WHERE l.variant_id = due.variant_id AND l.marketplace = 'ozon' AND v.id = l.variant_id
         RETURNING l.variant_id, v.sku, ",
        line_name!(),
        " AS name, COALESCE(l.price_override, v.price) AS price"
    ))
    .bind(currency)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// The import was sent (`Some(task)`) or could not be (`None`: claim
/// released, tried again next run).
pub async fn submitted(pool: &PgPool, variants: &[Uuid], task: Option<i64>) -> Result<()> {
    sqlx::query(
        "UPDATE listings SET ozon_task_id = $2,
                ozon_import_status = CASE WHEN $2 IS NULL THEN NULL ELSE 'pending' END
          WHERE marketplace = 'ozon' AND variant_id = ANY($1)",
    )
    .bind(variants)
    .bind(task)
    .execute(pool)
    .await?;
    Ok(())
}

/// Import tasks still running: (task, [(variant, sku)]).
pub async fn pending_imports(pool: &PgPool) -> Result<Vec<(i64, Vec<(Uuid, String)>)>> {
    let rows: Vec<(i64, Uuid, String)> = sqlx::query_as(
        "SELECT l.ozon_task_id, l.variant_id, v.sku FROM listings l JOIN variants v ON v.id = l.variant_id
          WHERE l.marketplace = 'ozon' AND l.ozon_import_status = 'pending' AND l.ozon_task_id IS NOT NULL
          ORDER BY l.ozon_task_id LIMIT 1000",
    )
    .fetch_all(pool)
    .await?;
    let mut tasks: Vec<(i64, Vec<(Uuid, String)>)> = Vec::new();
    for (task, variant, sku) in rows {
        match tasks.last_mut() {
            Some((t, items)) if *t == task => items.push((variant, sku)),
            _ => tasks.push((task, vec![(variant, sku)])),
        }
    }
    Ok(tasks)
}

/// What became of one card's import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Created: Ozon's product id and SKU.
    Created {
        product_id: i64,
        sku: Option<i64>,
    },
    Failed(String),
}

pub async fn record_import(pool: &PgPool, variant: Uuid, outcome: &Imported) -> Result<()> {
    match outcome {
        Imported::Created { product_id, sku } => {
            sqlx::query(
                "UPDATE listings SET ozon_product_id = $2, ozon_sku = COALESCE($3, ozon_sku),
                        ozon_import_status = 'imported',
                        last_error = CASE WHEN last_error_kind = 'import' THEN NULL ELSE last_error END
                  WHERE variant_id = $1 AND marketplace = 'ozon'",
            )
            .bind(variant)
            .bind(product_id)
            .bind(sku)
            .execute(pool)
            .await?;
        }
        Imported::Failed(e) => {
            sqlx::query(
                "UPDATE listings SET ozon_import_status = 'failed', last_error = $2, last_error_kind = 'import',
                        last_error_at = now()
                  WHERE variant_id = $1 AND marketplace = 'ozon'",
            )
            .bind(variant)
            .bind(e)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// Listings with Ozon's last per-item error, newest first.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct ItemError {
    pub sku: String,
    /// stock, price or import.
    pub kind: String,
    pub error: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

pub async fn item_errors(pool: &PgPool, limit: i64) -> Result<Vec<ItemError>> {
    Ok(sqlx::query_as(
        "SELECT v.sku, l.last_error_kind AS kind, l.last_error AS error, l.last_error_at AS at
           FROM listings l JOIN variants v ON v.id = l.variant_id
          WHERE l.marketplace = 'ozon' AND l.last_error IS NOT NULL AND l.last_error_at IS NOT NULL
          ORDER BY l.last_error_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

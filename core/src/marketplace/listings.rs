//! Which variants are offered on which marketplace, at what price, under
//! which marketplace identifiers. The store's owner manages their variants'
//! listings, an admin everyone's (the product's ownership rules: 404 for
//! what the actor may not see, 403 for what is not theirs).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Marketplace;
use crate::{catalog::Actor, config::Config, money::Money, Error, FieldError, Result};

/// Kaspi's price list takes SKUs of at most 20 characters (kaspi.md); a
/// longer one would be cut by Kaspi and could collide with another.
pub const KASPI_SKU_MAX: usize = 20;

/// `PUT /variants/{id}/listings/{marketplace}`: the listing as a whole (a
/// field left out is cleared).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ListingInput {
    /// In the marketplace's currency (Kaspi: KZT; Ozon: `OZON_CURRENCY`).
    /// Required when the shop's prices are in another currency.
    pub price_override: Option<Money>,
    /// Ozon only: Ozon's product id of the card (learned from an import
    /// when left out).
    pub ozon_product_id: Option<i64>,
    /// Ozon only: Ozon's SKU, which postings and shipping speak.
    pub ozon_sku: Option<i64>,
    /// Ozon: the warehouse id (default `OZON_WAREHOUSE_ID`). Kaspi: one of
    /// `KASPI_STORE_IDS` to offer the variant at that pickup point only
    /// (default: all of them).
    pub warehouse_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Listing {
    pub variant_id: Uuid,
    pub sku: String,
    pub marketplace: Marketplace,
    pub listed: bool,
    /// What the marketplace is told the price is.
    pub price: Option<Money>,
    pub price_override: Option<Money>,
    pub ozon_product_id: Option<i64>,
    pub ozon_sku: Option<i64>,
    /// The listing's own warehouse, or the default one.
    pub warehouse_id: Option<String>,
    /// Units the marketplace may sell: stock not reserved, on sale.
    pub available: i32,
    /// Ozon: the figure it last took, and its last per-item error.
    pub pushed_stock: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    variant_id: Uuid,
    sku: String,
    price: i64,
    currency: String,
    available: i32,
    price_override: Option<i64>,
    ozon_product_id: Option<i64>,
    ozon_sku: Option<i64>,
    warehouse_id: Option<String>,
    stock_pushed: Option<i32>,
    last_error: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn view(config: &Config, marketplace: Marketplace, r: Row) -> Listing {
    let currency = marketplace.currency(config);
    let price = match r.price_override {
        Some(p) => Some(Money::new(p, &currency)),
        None => (r.currency == currency).then(|| Money::new(r.price, &currency)),
    };
    let default_warehouse = match marketplace {
        Marketplace::Ozon => config.marketplaces.ozon.warehouse_id.clone(),
        Marketplace::Kaspi => None,
    };
    Listing {
        variant_id: r.variant_id,
        sku: r.sku,
        marketplace,
        listed: true,
        price,
        price_override: r.price_override.map(|p| Money::new(p, &currency)),
        ozon_product_id: r.ozon_product_id,
        ozon_sku: r.ozon_sku,
        warehouse_id: r.warehouse_id.or(default_warehouse),
        available: r.available.max(0),
        pushed_stock: r.stock_pushed,
        last_error: r.last_error,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// The variant's SKU, price and currency, if `actor` may manage it.
async fn managed_variant(
    conn: &mut PgConnection,
    actor: Actor,
    variant: Uuid,
) -> Result<(String, String)> {
    let found: Option<(Uuid, String, String)> =
        sqlx::query_as("SELECT product_id, sku, currency FROM variants WHERE id = $1")
            .bind(variant)
            .fetch_optional(&mut *conn)
            .await?;
    let (product, sku, currency) = found.ok_or(Error::NotFound)?;
    crate::catalog::products::managed(conn, actor, product).await?;
    Ok((sku, currency))
}

async fn find(
    conn: &mut PgConnection,
    config: &Config,
    variant: Uuid,
    marketplace: Marketplace,
) -> Result<Option<Listing>> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT v.id AS variant_id, v.sku, v.price, v.currency,
                CASE WHEN v.active THEN v.stock - v.reserved ELSE 0 END AS available,
                l.price_override, l.ozon_product_id, l.ozon_sku, l.warehouse_id,
                l.stock_pushed, l.last_error, l.created_at, l.updated_at
           FROM listings l JOIN variants v ON v.id = l.variant_id
          WHERE l.variant_id = $1 AND l.marketplace = $2",
    )
    .bind(variant)
    .bind(marketplace)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| view(config, marketplace, r)))
}

/// The listing; 404 when the variant is not listed there.
pub async fn get(
    pool: &PgPool,
    config: &Config,
    actor: Actor,
    variant: Uuid,
    marketplace: Marketplace,
) -> Result<Listing> {
    let mut conn = pool.acquire().await?;
    managed_variant(&mut conn, actor, variant).await?;
    find(&mut conn, config, variant, marketplace)
        .await?
        .ok_or(Error::NotFound)
}

/// Every problem of `input` for a variant with `sku` priced in `currency`.
fn check(
    config: &Config,
    marketplace: Marketplace,
    sku: &str,
    currency: &str,
    input: &ListingInput,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let wanted = marketplace.currency(config);
    match &input.price_override {
        Some(p) if p.amount <= 0 => errors.push(FieldError::new(
            "price_override.amount",
            "must be above 0",
        )),
        Some(p) if p.currency != wanted => errors.push(FieldError::new(
            "price_override.currency",
            format!("must be {wanted}: {marketplace} sells in {wanted}"),
        )),
        Some(_) => {}
        None if currency != wanted => errors.push(FieldError::new(
            "price_override",
            format!("is required: the variant's price is in {currency} and {marketplace} sells in {wanted}"),
        )),
        None => {}
    }
    match marketplace {
        Marketplace::Kaspi => {
            for (field, set) in [
                ("ozon_product_id", input.ozon_product_id.is_some()),
                ("ozon_sku", input.ozon_sku.is_some()),
            ] {
                if set {
                    errors.push(FieldError::new(field, "is for Ozon listings only"));
                }
            }
            if sku.len() > KASPI_SKU_MAX {
                errors.push(FieldError::new(
                    "sku",
                    format!(
                        "{sku} has {} characters; Kaspi's price list takes at most {KASPI_SKU_MAX}",
                        sku.len()
                    ),
                ));
            }
            if let Some(w) = &input.warehouse_id {
                if !config.marketplaces.kaspi.store_ids.contains(w) {
                    errors.push(FieldError::new(
                        "warehouse_id",
                        format!(
                            "must be one of KASPI_STORE_IDS ({})",
                            config.marketplaces.kaspi.store_ids.join(", ")
                        ),
                    ));
                }
            }
        }
        Marketplace::Ozon => {
            for (field, value) in [
                ("ozon_product_id", input.ozon_product_id),
                ("ozon_sku", input.ozon_sku),
            ] {
                if value.is_some_and(|v| v <= 0) {
                    errors.push(FieldError::new(field, "must be a positive Ozon id"));
                }
            }
            match &input.warehouse_id {
                Some(w)
                    if w.is_empty() || w.len() > 20 || !w.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    errors.push(FieldError::new(
                        "warehouse_id",
                        "must be an Ozon warehouse id (digits)",
                    ))
                }
                Some(_) => {}
                None if config.marketplaces.ozon.warehouse_id.is_none() => {
                    errors.push(FieldError::new(
                        "warehouse_id",
                        "is required: OZON_WAREHOUSE_ID (the default warehouse) is not set",
                    ))
                }
                None => {}
            }
        }
    }
    errors
}

/// Lists the variant (or changes its listing).
pub async fn put(
    pool: &PgPool,
    config: &Config,
    actor: Actor,
    variant: Uuid,
    marketplace: Marketplace,
    input: ListingInput,
) -> Result<Listing> {
    let mut tx = pool.begin().await?;
    let (sku, currency) = managed_variant(&mut tx, actor, variant).await?;
    let errors = check(config, marketplace, &sku, &currency, &input);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    sqlx::query(
        "INSERT INTO listings (variant_id, marketplace, price_override, ozon_product_id, ozon_sku, warehouse_id)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (variant_id, marketplace) DO UPDATE
            SET price_override = EXCLUDED.price_override, ozon_product_id = EXCLUDED.ozon_product_id,
                ozon_sku = EXCLUDED.ozon_sku, warehouse_id = EXCLUDED.warehouse_id, updated_at = now(),
                -- What Ozon was told may no longer hold: tell it again.
                stock_version = listings.stock_version + 1, price_version = listings.price_version + 1",
    )
    .bind(variant)
    .bind(marketplace)
    .bind(input.price_override.as_ref().map(|p| p.amount))
    .bind(input.ozon_product_id)
    .bind(input.ozon_sku)
    .bind(&input.warehouse_id)
    .execute(&mut *tx)
    .await?;
    let listing = find(&mut tx, config, variant, marketplace)
        .await?
        .ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(listing)
}

/// Takes the variant off the marketplace; unlisting what is not listed is
/// not an error (the result is the same).
pub async fn delete(
    pool: &PgPool,
    actor: Actor,
    variant: Uuid,
    marketplace: Marketplace,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    managed_variant(&mut tx, actor, variant).await?;
    sqlx::query("DELETE FROM listings WHERE variant_id = $1 AND marketplace = $2")
        .bind(variant)
        .bind(marketplace)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// `POST /admin/integrations/{marketplace}/listings/bulk`: every active
/// variant of a store and/or a category (with its sub-categories).
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BulkListing {
    pub store_id: Option<Uuid>,
    pub category_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Skipped {
    pub variant_id: Uuid,
    pub sku: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BulkOutcome {
    /// Variants matched and listed now (those listed already included).
    pub listed: i64,
    /// Variants matched that cannot be listed, and why.
    pub skipped: Vec<Skipped>,
}

/// Lists the matched variants that can be listed without a listing of
/// their own (no price override needed, a Kaspi-sized SKU, a default Ozon
/// warehouse); existing listings keep their settings.
pub async fn bulk(
    pool: &PgPool,
    config: &Config,
    actor: Actor,
    marketplace: Marketplace,
    req: BulkListing,
) -> Result<BulkOutcome> {
    if req.store_id.is_none() && req.category_id.is_none() {
        return Err(Error::Validation(vec![
            FieldError::new("store_id", "give a store_id, a category_id or both"),
            FieldError::new("category_id", "give a store_id, a category_id or both"),
        ]));
    }
    let mut tx = pool.begin().await?;
    if let Some(store) = req.store_id {
        let owner: Option<Uuid> =
            sqlx::query_scalar("SELECT owner_id FROM stores WHERE id = $1 AND deleted_at IS NULL")
                .bind(store)
                .fetch_optional(&mut *tx)
                .await?;
        match owner {
            None => return Err(Error::NotFound),
            Some(owner) if !actor.is_admin() && owner != actor.id => {
                return Err(Error::Forbidden(
                    "only the store's owner or an admin may list its variants",
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(category) = req.category_id {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM categories WHERE id = $1)")
                .bind(category)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(Error::NotFound);
        }
    }
    // Vendors list their own stores' variants only, whatever they match.
    let candidates: Vec<(Uuid, String, String)> = sqlx::query_as(
        "WITH RECURSIVE cats AS (
             SELECT id FROM categories WHERE id = $2
             UNION ALL SELECT c.id FROM categories c JOIN cats ON c.parent_id = cats.id
         )
         SELECT v.id, v.sku, v.currency
           FROM variants v JOIN products p ON p.id = v.product_id JOIN stores s ON s.id = p.store_id
          WHERE v.active AND p.active AND p.deleted_at IS NULL AND s.deleted_at IS NULL
            AND ($1::uuid IS NULL OR p.store_id = $1)
            AND ($2::uuid IS NULL OR p.category_id IN (SELECT id FROM cats))
            AND ($3::uuid IS NULL OR s.owner_id = $3)
          ORDER BY v.id",
    )
    .bind(req.store_id)
    .bind(req.category_id)
    .bind((!actor.is_admin()).then_some(actor.id))
    .fetch_all(&mut *tx)
    .await?;
    let mut ids = Vec::new();
    let mut skipped = Vec::new();
    for (id, sku, currency) in candidates {
        let errors = check(
            config,
            marketplace,
            &sku,
            &currency,
            &ListingInput::default(),
        );
        match errors.first() {
            None => ids.push(id),
            Some(e) => skipped.push(Skipped {
                variant_id: id,
                sku,
                reason: format!("{}: {}", e.field, e.message),
            }),
        }
    }
    sqlx::query(
        "INSERT INTO listings (variant_id, marketplace) SELECT unnest($1::uuid[]), $2
         ON CONFLICT (variant_id, marketplace) DO NOTHING",
    )
    .bind(&ids)
    .bind(marketplace)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(BulkOutcome {
        listed: ids.len() as i64,
        skipped,
    })
}

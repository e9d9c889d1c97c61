//! The catalogue as staff see it: products per store with their stock,
//! variants running low, and reviews waiting for moderation.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::Scope;
use crate::Result;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoreRef {
    pub id: Uuid,
    pub name: String,
}

/// The stores a scope may look at, by name.
pub async fn stores(pool: &PgPool, scope: &Scope) -> Result<Vec<StoreRef>> {
    Ok(sqlx::query_as(
        "SELECT id, name FROM stores
         WHERE deleted_at IS NULL AND ($1::uuid[] IS NULL OR id = ANY($1)) ORDER BY name LIMIT 500",
    )
    .bind(scope.stores().map(<[Uuid]>::to_vec))
    .fetch_all(pool)
    .await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub store: String,
    pub active: bool,
    pub variants: i64,
    /// Units for sale over all variants.
    pub available: i64,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
}

/// Products of the scope (optionally one store), newest first.
pub async fn products(
    pool: &PgPool,
    scope: &Scope,
    store: Option<Uuid>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ProductRow>, i64)> {
    let stores = scope.stores().map(<[Uuid]>::to_vec);
    let rows = sqlx::query_as(
        "SELECT p.id, p.name, p.code, s.name AS store, p.active,
                (SELECT count(*) FROM variants v WHERE v.product_id = p.id) AS variants,
                (SELECT COALESCE(sum(v.stock - v.reserved), 0)::bigint FROM variants v
                  WHERE v.product_id = p.id AND v.active) AS available,
                p.min_price, p.max_price
         FROM products p JOIN stores s ON s.id = p.store_id
         WHERE p.deleted_at IS NULL AND ($1::uuid[] IS NULL OR p.store_id = ANY($1))
           AND ($2::uuid IS NULL OR p.store_id = $2)
         ORDER BY p.created_at DESC, p.id LIMIT $3 OFFSET $4",
    )
    .bind(&stores)
    .bind(store)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM products p WHERE p.deleted_at IS NULL
           AND ($1::uuid[] IS NULL OR p.store_id = ANY($1)) AND ($2::uuid IS NULL OR p.store_id = $2)",
    )
    .bind(&stores)
    .bind(store)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct LowStock {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub sku: String,
    pub product_name: String,
    /// Units for sale: in stock and not reserved.
    pub available: i32,
}

/// Active variants with `threshold` units for sale or fewer, the emptiest
/// first (the partial expression index `variants_low_stock` finds them).
pub async fn low_stock<'e>(
    db: impl sqlx::PgExecutor<'e>,
    scope: &Scope,
    threshold: i32,
    limit: i64,
) -> Result<Vec<LowStock>> {
    Ok(sqlx::query_as(
        "SELECT v.id AS variant_id, p.id AS product_id, p.store_id, v.sku, p.name AS product_name,
                (v.stock - v.reserved) AS available
         FROM variants v JOIN products p ON p.id = v.product_id
         WHERE v.active AND (v.stock - v.reserved) <= $1 AND p.deleted_at IS NULL
           AND ($2::uuid[] IS NULL OR p.store_id = ANY($2))
         ORDER BY (v.stock - v.reserved), v.sku LIMIT $3",
    )
    .bind(threshold)
    .bind(scope.stores().map(<[Uuid]>::to_vec))
    .bind(limit)
    .fetch_all(db)
    .await?)
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct PendingReview {
    pub id: Uuid,
    pub product_name: String,
    pub author: String,
    pub rating: i16,
    pub title: String,
    pub body: String,
    pub verified: bool,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// Reviews no admin has looked at yet, oldest first (the moderation queue).
pub async fn unmoderated_reviews(
    pool: &PgPool,
    limit: i64,
    offset: i64,
) -> Result<(Vec<PendingReview>, i64)> {
    let rows = sqlx::query_as(
        "SELECT r.id, p.name AS product_name, u.name AS author, r.rating, r.title, r.body,
                r.verified, r.status, r.created_at
         FROM reviews r JOIN products p ON p.id = r.product_id JOIN users u ON u.id = r.author_id
         WHERE r.moderated_at IS NULL ORDER BY r.created_at, r.id LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM reviews WHERE moderated_at IS NULL")
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

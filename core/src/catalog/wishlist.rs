//! Wishlists: products a customer keeps an eye on, each with an optional
//! price-drop alert that the variant-pricing code turns into e-mails.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{products, Actor};
use crate::{users::Role, Error, Result};

#[derive(Debug, Clone, Serialize)]
pub struct WishedProduct {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    /// The cheapest active variant's price; `None` without active variants.
    pub min_price: Option<i64>,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WishlistItem {
    pub product: WishedProduct,
    pub price_alert: bool,
    pub added_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    slug: String,
    name: String,
    min_price: Option<i64>,
    currency: Option<String>,
    price_alert: bool,
    added_at: DateTime<Utc>,
}

impl From<Row> for WishlistItem {
    fn from(r: Row) -> Self {
        WishlistItem {
            product: WishedProduct {
                id: r.id,
                slug: r.slug,
                name: r.name,
                min_price: r.min_price,
                currency: r.currency,
            },
            price_alert: r.price_alert,
            added_at: r.added_at,
        }
    }
}

// Items whose product was deleted or hidden since are left out, not removed:
// they come back if the product does.
macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT p.id, p.slug, p.name, p.min_price,
                    (SELECT v.currency FROM variants v WHERE v.product_id = p.id AND v.active
                     ORDER BY v.price LIMIT 1) AS currency,
                    w.price_alert, w.created_at AS added_at
             FROM wishlist_items w
             JOIN products p ON p.id = w.product_id
             JOIN stores s ON s.id = p.store_id
             WHERE w.user_id = $1 AND p.deleted_at IS NULL AND p.active
               AND s.deleted_at IS NULL AND s.active ",
            $tail
        )
    };
}

fn customers_only(actor: Actor) -> Result<()> {
    if actor.role == Role::Customer {
        Ok(())
    } else {
        Err(Error::Forbidden("only customers keep wishlists"))
    }
}

/// Adds a product, or changes its alert when it is there already. An absent
/// `price_alert` means off for a new item and unchanged for an existing one,
/// so adding twice is harmless.
pub async fn add(
    pool: &PgPool,
    actor: Actor,
    product_id: Uuid,
    price_alert: Option<bool>,
) -> Result<WishlistItem> {
    customers_only(actor)?;
    let mut conn = pool.acquire().await?;
    if !products::is_public(&mut conn, product_id).await? {
        return Err(Error::invalid("product_id", "no such product"));
    }
    sqlx::query(
        "INSERT INTO wishlist_items (user_id, product_id, price_alert)
         VALUES ($1, $2, COALESCE($3::boolean, false))
         ON CONFLICT (user_id, product_id)
         DO UPDATE SET price_alert = COALESCE($3::boolean, wishlist_items.price_alert)",
    )
    .bind(actor.id)
    .bind(product_id)
    .bind(price_alert)
    .execute(&mut *conn)
    .await?;
    let row: Row = sqlx::query_as(select!("AND w.product_id = $2"))
        .bind(actor.id)
        .bind(product_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(row.into())
}

/// The actor's wishlist, most recently added first, and its total.
pub async fn list(
    pool: &PgPool,
    actor: Actor,
    limit: i64,
    offset: i64,
) -> Result<(Vec<WishlistItem>, i64)> {
    customers_only(actor)?;
    let rows: Vec<Row> = sqlx::query_as(select!(
        "ORDER BY w.created_at DESC, p.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(actor.id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM wishlist_items w
         JOIN products p ON p.id = w.product_id
         JOIN stores s ON s.id = p.store_id
         WHERE w.user_id = $1 AND p.deleted_at IS NULL AND p.active
           AND s.deleted_at IS NULL AND s.active",
    )
    .bind(actor.id)
    .fetch_one(pool)
    .await?;
    Ok((rows.into_iter().map(WishlistItem::from).collect(), total))
}

pub async fn remove(pool: &PgPool, actor: Actor, product_id: Uuid) -> Result<()> {
    customers_only(actor)?;
    let removed = sqlx::query("DELETE FROM wishlist_items WHERE user_id = $1 AND product_id = $2")
        .bind(actor.id)
        .bind(product_id)
        .execute(pool)
        .await?
        .rows_affected();
    if removed == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// Who wants to hear when this product gets cheaper: (user id, e-mail,
/// name) of customers with its price alert on; their channel preferences
/// decide where the notice goes (`messaging::notify`). Takes a connection
/// so the caller can queue the notices in the transaction that lowers the
/// price.
pub async fn price_alert_watchers(
    conn: &mut PgConnection,
    product_id: Uuid,
) -> Result<Vec<(Uuid, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email, u.name FROM wishlist_items w JOIN users u ON u.id = w.user_id
         WHERE w.product_id = $1 AND w.price_alert
         ORDER BY u.id",
    )
    .bind(product_id)
    .fetch_all(conn)
    .await?)
}

//! What an announcement tweet of a new store or product says, and where its
//! id is kept once posted.

use sqlx::PgPool;
use uuid::Uuid;

use super::images;
use crate::shop::Shop;
use crate::{jobs::Announced, money::Money, Result};

pub struct Announcement {
    pub headline: String,
    pub url: String,
    /// (storage key, content type) of the product's first image.
    pub image: Option<(String, String)>,
}

pub enum Plan {
    Post(Announcement),
    /// Posted before (a retried job): nothing to do.
    AlreadyPosted,
    /// Deleted or hidden since: announcing it would mislead.
    Gone,
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    name: String,
    slug: String,
    store: String,
    price: Option<i64>,
    tweet_id: Option<String>,
    public: bool,
}

pub async fn plan(pool: &PgPool, shop: &Shop, subject: Announced, id: Uuid) -> Result<Plan> {
    match subject {
        Announced::Store => {
            let row: Option<(String, String, Option<String>, bool)> = sqlx::query_as(
                "SELECT name, slug, tweet_id, active AND deleted_at IS NULL FROM stores WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some((_, _, Some(_), _)) => Plan::AlreadyPosted,
                Some((name, slug, None, true)) => Plan::Post(Announcement {
                    headline: format!("New on bazaar: {name}, a new store. Come and have a look!"),
                    url: format!("{}/stores/{slug}", shop.public_url),
                    image: None,
                }),
                _ => Plan::Gone,
            })
        }
        Announced::Product => {
            let row: Option<ProductRow> =
                sqlx::query_as(
                    "SELECT p.name, p.slug, s.name AS store, p.min_price AS price, p.tweet_id,
                            p.active AND p.deleted_at IS NULL AND s.active AND s.deleted_at IS NULL AS public
                       FROM products p JOIN stores s ON s.id = p.store_id WHERE p.id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?;
            Ok(match row {
                Some(ProductRow {
                    tweet_id: Some(_), ..
                }) => Plan::AlreadyPosted,
                Some(ProductRow {
                    name,
                    slug,
                    store,
                    price,
                    tweet_id: None,
                    public: true,
                }) => {
                    let price = price
                        .map(|p| format!(", from {}", Money::new(p, &shop.currency).display()))
                        .unwrap_or_default();
                    Plan::Post(Announcement {
                        headline: format!("New at {store}: {name}{price}"),
                        url: format!("{}/products/{slug}", shop.public_url),
                        image: images::first(pool, id).await?,
                    })
                }
                _ => Plan::Gone,
            })
        }
    }
}

pub async fn record(pool: &PgPool, subject: Announced, id: Uuid, tweet_id: &str) -> Result<()> {
    let sql = match subject {
        Announced::Store => "UPDATE stores SET tweet_id = $2 WHERE id = $1",
        Announced::Product => "UPDATE products SET tweet_id = $2 WHERE id = $1",
    };
    sqlx::query(sql)
        .bind(id)
        .bind(tweet_id)
        .execute(pool)
        .await?;
    Ok(())
}

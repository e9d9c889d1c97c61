//! The catalogue: stores, the category tree, product types, products and
//! their variants and images, search, reviews and wishlists.

pub mod announcements;
pub mod categories;
pub mod images;
pub mod product_types;
pub mod products;
pub mod reviews;
pub mod search;
pub mod sku;
pub mod slug;
pub mod stores;
pub mod variants;
pub mod wishlist;

use uuid::Uuid;

use crate::users::Role;

/// Who is acting: the authenticated user, as the API extracted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    pub role: Role,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The Redis pub/sub channel that tells every API process's catalogue cache
/// that the catalogue changed (see `api::cache`).
pub fn changes_channel(redis_prefix: &str) -> String {
    format!("{redis_prefix}:catalog:changed")
}

/// Tells every API process that the catalogue changed behind the API's back
/// (seed, workers). Best effort, bounded by the Redis response timeout.
pub async fn publish_change(config: &crate::config::Config) -> anyhow::Result<()> {
    let mut redis =
        crate::redis_conn::connect(&config.redis_url, config.redis_response_timeout).await?;
    redis::cmd("PUBLISH")
        .arg(changes_channel(&config.redis_prefix))
        .arg("changed")
        .query_async::<i64>(&mut redis)
        .await?;
    Ok(())
}

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

pub use crate::commerce::inventory::Availability;
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

/// A message on the changes channel: what the caches must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Anything may have changed (a product, price, category, page...).
    All,
    /// These products changed (name, price, variants, rating, images, or
    /// they appeared or went away); any listing may show them. Nothing
    /// else (no category, store or page).
    Products(Vec<Uuid>),
    /// Only content pages (CMS) changed: nothing a search reads.
    Pages,
    /// Only stock moved: these products' pages, and the listings that show
    /// the products with a variant that sold out or came back.
    Availability(Availability),
}

impl Change {
    /// `changed`, `products <id>,...`, `pages`, or
    /// `stock <id>,<id>...;<crossed id>,...`.
    pub fn encode(&self) -> String {
        let ids = |ids: &[Uuid]| {
            ids.iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            Change::All => "changed".into(),
            Change::Products(products) => format!("products {}", ids(products)),
            Change::Pages => "pages".into(),
            Change::Availability(a) => format!("stock {};{}", ids(&a.products), ids(&a.crossed)),
        }
    }

    /// The message as sent by `origin` (an API process), which skips its own.
    pub fn encode_from(&self, origin: Uuid) -> String {
        format!("from {origin} {}", self.encode())
    }

    /// The sender, when it said, and the change.
    pub fn decode_from(message: &str) -> (Option<Uuid>, Change) {
        let sent = message
            .strip_prefix("from ")
            .and_then(|rest| rest.split_once(' '))
            .and_then(|(origin, change)| Some((Uuid::parse_str(origin).ok()?, change)));
        match sent {
            Some((origin, change)) => (Some(origin), Change::decode(change)),
            None => (None, Change::decode(message)),
        }
    }

    /// Anything not understood (an older or newer sender) forgets everything:
    /// a cache may only ever forget too much.
    pub fn decode(message: &str) -> Change {
        let ids = |list: &str| -> Option<Vec<Uuid>> {
            list.split(',')
                .filter(|s| !s.is_empty())
                .map(|s| Uuid::parse_str(s).ok())
                .collect()
        };
        if message == "pages" {
            return Change::Pages;
        }
        if let Some(products) = message.strip_prefix("products ").and_then(ids) {
            return Change::Products(products);
        }
        let parsed = message
            .strip_prefix("stock ")
            .and_then(|rest| rest.split_once(';'))
            .and_then(|(products, crossed)| Some((ids(products)?, ids(crossed)?)));
        match parsed {
            Some((products, crossed)) => Change::Availability(Availability { products, crossed }),
            None => Change::All,
        }
    }
}

/// Tells every API process that the catalogue changed behind the API's back
/// (seed, workers). Best effort, bounded by the Redis response timeout.
pub async fn publish_change(config: &crate::config::Config) -> anyhow::Result<()> {
    publish(config, &Change::All).await
}

/// Tells every API process what changed. Best effort, bounded by the Redis
/// response timeout.
pub async fn publish(config: &crate::config::Config, change: &Change) -> anyhow::Result<()> {
    let mut redis =
        crate::redis_conn::connect(&config.redis_url, config.redis_response_timeout).await?;
    redis::cmd("PUBLISH")
        .arg(changes_channel(&config.redis_prefix))
        .arg(change.encode())
        .query_async::<i64>(&mut redis)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_and_unknown_ones_forget_everything() {
        let a = Change::Availability(Availability {
            products: vec![Uuid::from_u128(1), Uuid::from_u128(2)],
            crossed: vec![Uuid::from_u128(2)],
        });
        assert_eq!(Change::decode(&a.encode()), a);
        let none = Change::Availability(Availability::default());
        assert_eq!(Change::decode(&none.encode()), none);
        assert_eq!(Change::decode(&Change::All.encode()), Change::All);
        assert_eq!(Change::decode(&Change::Pages.encode()), Change::Pages);
        let products = Change::Products(vec![Uuid::from_u128(3), Uuid::from_u128(4)]);
        assert_eq!(Change::decode(&products.encode()), products);
        for odd in [
            "products 1,2",
            "products x",
            "pages please",
            "",
            "stock",
            "stock 2 x",
            "stock 1 not-a-uuid",
            "stock 0 a b",
            "hello",
        ] {
            assert_eq!(Change::decode(odd), Change::All, "{odd:?}");
        }
    }

    #[test]
    fn a_sender_is_told_apart_and_unsigned_messages_still_count() {
        let origin = Uuid::from_u128(7);
        let a = Change::Availability(Availability {
            products: vec![Uuid::from_u128(1)],
            crossed: vec![],
        });
        assert_eq!(
            Change::decode_from(&a.encode_from(origin)),
            (Some(origin), a.clone())
        );
        assert_eq!(Change::decode_from(&a.encode()), (None, a));
        assert_eq!(Change::decode_from("changed"), (None, Change::All));
        assert_eq!(
            Change::decode_from("from nobody stock ;"),
            (None, Change::All)
        );
    }
}

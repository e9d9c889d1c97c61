//! Search and browse: full text (weighted name > description, English and
//! Russian stemming) with a typo-tolerant fallback on names, filters, sorts
//! and facets over the filtered result.
//!
//! Behind one interface, [`Engine`]: the embedded engine (an in-memory
//! snapshot of the visible catalogue with a `tantivy` text index, kept fresh
//! from the change feed) answers when it is known to be current; PostgreSQL
//! answers otherwise and is the reference both must agree with. A
//! distributed engine (OpenSearch, Meilisearch) would be a third `Engine`
//! fed by the same change feed.

mod embedded;
mod postgres;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::products::{PriceRange, ProductSummary, Summaries};
use super::Change;
use crate::shop::Shop;
use crate::{money::Money, Result};

pub use embedded::Embedded;
pub use postgres::Postgres;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Best match first; newest first without a query.
    #[default]
    Relevance,
    Price,
    PriceDesc,
    Newest,
    Rating,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        Some(match s {
            "relevance" => Sort::Relevance,
            "price" => Sort::Price,
            "-price" => Sort::PriceDesc,
            "newest" => Sort::Newest,
            "rating" => Sort::Rating,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    pub q: Option<String>,
    /// A category's id or slug; its subcategories are included.
    pub category: Option<String>,
    /// A store's id or slug.
    pub store: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: bool,
    /// Attribute code -> accepted values (any of them).
    pub attributes: BTreeMap<String, Vec<String>>,
    pub sort: Sort,
    pub limit: i64,
    pub offset: i64,
}

impl Query {
    /// Every text the query carries.
    fn texts(&self) -> impl Iterator<Item = &str> {
        self.q
            .iter()
            .chain(&self.category)
            .chain(&self.store)
            .map(String::as_str)
            .chain(self.attributes.iter().flat_map(|(code, values)| {
                std::iter::once(code.as_str()).chain(values.iter().map(String::as_str))
            }))
    }

    /// Price, stock and variant attributes must hold on one and the same
    /// variant (size M *and* red *and* available); an attribute may also be
    /// satisfied by the product's own value (material).
    fn needs_variant(&self) -> bool {
        self.min_price.is_some()
            || self.max_price.is_some()
            || self.in_stock
            || !self.attributes.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CategoryCount {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValueCount {
    pub value: String,
    /// Products in the result with this value (on the product or on any of
    /// its active variants).
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Facets {
    /// Products of the result per (direct) category, most first.
    pub categories: Vec<CategoryCount>,
    pub attributes: BTreeMap<String, Vec<ValueCount>>,
    /// Price range of the result; `null` when it is empty.
    pub price: Option<PriceRange>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Results {
    pub items: Vec<ProductSummary>,
    pub total: i64,
    pub facets: Facets,
}

/// What an engine answers: the page's product ids in order, the total and
/// the facets of the whole result. Products are read from PostgreSQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hits {
    pub total: i64,
    pub ids: Vec<Uuid>,
    /// Most first, then by name.
    pub categories: Vec<CategoryCount>,
    /// (code, value, products): by code, most first, then by value.
    pub attributes: Vec<(String, String, i64)>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
}

/// How `q` matches: by full text, or (when that finds nothing) by names
/// close to it, so a misspelt query still finds the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matching {
    Text,
    Fuzzy,
}

/// A search engine. Every engine gives the same hits for the same
/// catalogue; they differ in speed and in where the data lives.
#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// For metrics and logs.
    fn name(&self) -> &'static str;
    /// The hits, or `None` when this engine cannot answer for the current
    /// catalogue now (not built yet, behind a change it was told of).
    async fn hits(&self, query: &Query) -> Result<Option<Hits>>;
    /// A committed change; answers must reflect it from now on.
    fn note(&self, change: &Change);
    /// Whether changes made elsewhere reach this engine (the change feed is
    /// followed). While not, it must not answer.
    fn following(&self, following: bool);
}

/// The search of an API process: its engine, PostgreSQL when the engine
/// cannot answer.
#[derive(Clone)]
pub struct Search {
    engine: Option<Arc<dyn Engine>>,
    postgres: Postgres,
    items: Summaries,
}

impl Search {
    pub fn new(pool: PgPool, engine: Option<Arc<dyn Engine>>) -> Self {
        Self {
            engine,
            postgres: Postgres::new(pool.clone()),
            items: Summaries::start(pool),
        }
    }

    pub async fn search(&self, shop: &Shop, query: &Query) -> Result<Results> {
        // PostgreSQL refuses NUL in text (a 400, `Error::from`): every engine
        // answers the same.
        if query.texts().any(|t| t.contains('\0')) {
            return Err(crate::Error::BadRequest(crate::error::NUL_IN_TEXT));
        }
        let mut hits = None;
        let mut engine = "postgres";
        if let Some(e) = &self.engine {
            hits = e.hits(query).await?;
            if hits.is_some() {
                engine = e.name();
            }
        }
        let hits = match hits {
            Some(hits) => hits,
            None => self.postgres.hits(query).await?.unwrap_or_default(),
        };
        metrics::counter!("bazaar_search_total", "engine" => engine).increment(1);
        let mut attributes: BTreeMap<String, Vec<ValueCount>> = BTreeMap::new();
        for (code, value, count) in hits.attributes {
            attributes
                .entry(code)
                .or_default()
                .push(ValueCount { value, count });
        }
        let price = match (hits.min_price, hits.max_price) {
            (Some(min), Some(max)) => Some(PriceRange {
                min: Money::new(min, &shop.currency),
                max: Money::new(max, &shop.currency),
            }),
            _ => None,
        };
        Ok(Results {
            items: self.items.get(shop, hits.ids).await?,
            total: hits.total,
            facets: Facets {
                categories: hits.categories,
                attributes,
                price,
            },
        })
    }
}

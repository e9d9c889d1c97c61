//! The visible catalogue as the embedded engine holds it: what filters,
//! sorts and facets read, loaded from PostgreSQL in one statement, and the
//! evaluation of a query over it. Same rules as the PostgreSQL engine's
//! SQL (`postgres.rs`): the search tests run every query against both.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering as Atomic};
use std::sync::Arc;

use futures::TryStreamExt;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use super::super::{CategoryCount, Hits, Matching, Query, Sort};
use super::browse::{Browse, Listing};
use super::text::{Document, Text};
use crate::Result;

/// A snapshot patched with changed products shares the unchanged ones (and
/// the text index) with the one it was patched from; a rebuild starts over.
pub struct Snapshot {
    /// By key (a product's position); a product gone since the build keeps
    /// its key as a tombstone, and gets it back if it comes back.
    docs: Vec<Arc<Doc>>,
    by_id: HashMap<Uuid, u32>,
    categories: Vec<Category>,
    /// Only a rebuild changes these.
    keys: Arc<Keys>,
    /// Attribute codes and values, interned.
    strings: Interner,
    /// `facet_values` entries as stored, interned...
    facet_ids: Interner,
    /// ... and split into (code, value).
    facets: Vec<(String, String)>,
    text: Text,
    /// Unfiltered category listings, made on first use.
    browse: Browse,
}

#[derive(Clone)]
struct Keys {
    /// Id (as text) or slug -> position in `categories`.
    categories: HashMap<String, u32>,
    /// Id -> position in `categories`.
    positions: HashMap<Uuid, u32>,
    /// Id (as text) or slug -> store id.
    stores: HashMap<String, Uuid>,
}

#[derive(Clone)]
struct Category {
    id: Uuid,
    slug: String,
    name: String,
    children: Vec<u32>,
    /// Its own products (not its subcategories'), by key.
    products: Vec<u32>,
}

struct Doc {
    /// False for a tombstone: the product is no longer visible.
    live: bool,
    id: Uuid,
    /// Of name, code and description: a patch leaves the text index alone
    /// when they did not change (a price, a review, an image).
    text_hash: u64,
    store: Uuid,
    category: u32,
    created_at: i64,
    min_price: Option<i64>,
    max_price: Option<i64>,
    rating_sum: i64,
    rating_count: i64,
    facets: Box<[u32]>,
    /// (code, value), interned.
    attributes: Box<[(u32, u32)]>,
    /// Active variants only.
    variants: Box<[Variant]>,
}

struct Variant {
    id: Uuid,
    price: i64,
    /// Follows checkouts without a rebuild.
    in_stock: AtomicBool,
    attributes: Box<[(u32, u32)]>,
}

impl Doc {
    fn tombstone(id: Uuid) -> Doc {
        Doc {
            live: false,
            id,
            text_hash: 0,
            store: Uuid::nil(),
            category: 0,
            created_at: 0,
            min_price: None,
            max_price: None,
            rating_sum: 0,
            rating_count: 0,
            facets: Box::default(),
            attributes: Box::default(),
            variants: Box::default(),
        }
    }
}

/// The statement that reads products as the snapshot holds them; `visible`
/// says whether the storefront shows the product.
macro_rules! product_rows {
    () => {
        "SELECT p.id, p.store_id, p.category_id, p.created_at, p.min_price, p.max_price,
                p.rating_sum, p.rating_count, p.facet_values, p.attributes, p.name, p.code,
                p.description,
                COALESCE((SELECT json_agg(json_build_array(v.id, v.price, v.stock > v.reserved, v.attributes))
                            FROM variants v WHERE v.product_id = p.id AND v.active), '[]') AS variants,
                p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL AS visible
           FROM products p JOIN stores s ON s.id = p.store_id"
    };
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    visible: bool,
    id: Uuid,
    store_id: Uuid,
    category_id: Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    rating_sum: i32,
    rating_count: i32,
    facet_values: Vec<String>,
    attributes: Json<JsonObject>,
    name: String,
    code: String,
    description: String,
    variants: Json<Vec<VariantRow>>,
}

/// An active variant: id, price, in stock, attributes.
type VariantRow = (Uuid, i64, bool, JsonObject);
type JsonObject = serde_json::Map<String, serde_json::Value>;

/// What `->>` makes of a JSON value: strings as written, others as JSON.
fn as_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[derive(Default, Clone)]
struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    fn id(&mut self, s: String) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(s).or_insert(next)
    }

    fn pairs(&mut self, map: JsonObject) -> Box<[(u32, u32)]> {
        map.into_iter()
            .filter_map(|(code, value)| {
                let value = as_text(&value)?;
                Some((self.id(code), self.id(value)))
            })
            .collect()
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }
}

fn text_hash(name: &str, code: &str, description: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // Fixed keys: the same text hashes the same in every snapshot.
    let mut hasher = std::hash::DefaultHasher::new();
    (name, code, description).hash(&mut hasher);
    hasher.finish()
}

/// A `facet_values` entry, `code=value`, as (code, value).
fn split_facet(fv: &str) -> (String, String) {
    let (code, value) = fv.split_once('=').unwrap_or((fv, ""));
    (code.to_owned(), value.to_owned())
}

/// What the snapshot holds of a product row, and its text (name, code,
/// description); `None` for a product in a category it does not know.
fn convert(
    row: ProductRow,
    keys: &Keys,
    strings: &mut Interner,
    facets: &mut Interner,
) -> Option<(Doc, (String, String, String))> {
    let category = keys.positions.get(&row.category_id).copied()?;
    let facet_ids = row
        .facet_values
        .into_iter()
        .map(|fv| facets.id(fv))
        .collect();
    let variants = row
        .variants
        .0
        .into_iter()
        .map(|(id, price, in_stock, attributes)| Variant {
            id,
            price,
            in_stock: AtomicBool::new(in_stock),
            attributes: strings.pairs(attributes),
        })
        .collect();
    let doc = Doc {
        live: true,
        id: row.id,
        text_hash: text_hash(&row.name, &row.code, &row.description),
        store: row.store_id,
        category,
        created_at: row.created_at.timestamp_micros(),
        min_price: row.min_price,
        max_price: row.max_price,
        rating_sum: row.rating_sum.into(),
        rating_count: row.rating_count.into(),
        facets: facet_ids,
        attributes: strings.pairs(row.attributes.0),
        variants,
    };
    Some((doc, (row.name, row.code, row.description)))
}

/// A snapshot being read.
struct Builder {
    categories: Vec<Category>,
    keys: Keys,
    strings: Interner,
    facets: Interner,
    docs: Vec<Arc<Doc>>,
    /// name, code, description per doc.
    texts: Vec<(String, String, String)>,
}

impl Builder {
    fn new(
        category_rows: Vec<(Uuid, Option<Uuid>, String, String)>,
        store_rows: Vec<(Uuid, String)>,
    ) -> Self {
        let mut categories: Vec<Category> = Vec::with_capacity(category_rows.len());
        let mut category_keys = HashMap::new();
        let mut positions = HashMap::new();
        for (i, (id, _, slug, name)) in category_rows.iter().enumerate() {
            positions.insert(*id, i as u32);
            category_keys.insert(id.to_string(), i as u32);
            category_keys.insert(slug.clone(), i as u32);
            categories.push(Category {
                id: *id,
                slug: slug.clone(),
                name: name.clone(),
                children: Vec::new(),
                products: Vec::new(),
            });
        }
        for (i, (_, parent, _, _)) in category_rows.iter().enumerate() {
            if let Some(p) = parent.and_then(|p| positions.get(&p)) {
                categories[*p as usize].children.push(i as u32);
            }
        }
        let mut stores = HashMap::new();
        for (id, slug) in store_rows {
            stores.insert(id.to_string(), id);
            stores.insert(slug, id);
        }
        Builder {
            categories,
            keys: Keys {
                categories: category_keys,
                positions,
                stores,
            },
            strings: Interner::default(),
            facets: Interner::default(),
            docs: Vec::new(),
            texts: Vec::new(),
        }
    }

    fn add(&mut self, row: ProductRow) {
        let Some((doc, text)) = convert(row, &self.keys, &mut self.strings, &mut self.facets)
        else {
            return;
        };
        let key = self.docs.len() as u32;
        self.categories[doc.category as usize].products.push(key);
        self.docs.push(Arc::new(doc));
        self.texts.push(text);
    }

    fn finish(self) -> Result<Snapshot> {
        let text = Text::build(self.texts.iter().enumerate().map(
            |(i, (name, code, description))| Document {
                key: i as u32,
                name,
                code,
                description,
            },
        ))
        .map_err(|e| anyhow::anyhow!("building the search index: {e}"))?;
        let mut facets = vec![(String::new(), String::new()); self.facets.ids.len()];
        for (fv, id) in &self.facets.ids {
            facets[*id as usize] = split_facet(fv);
        }
        Ok(Snapshot {
            browse: Browse::new(self.categories.len()),
            by_id: self
                .docs
                .iter()
                .enumerate()
                .map(|(i, d)| (d.id, i as u32))
                .collect(),
            docs: self.docs,
            categories: self.categories,
            keys: Arc::new(self.keys),
            strings: self.strings,
            facet_ids: self.facets,
            facets,
            text,
        })
    }
}

impl Snapshot {
    /// Reads the visible catalogue and indexes its text (on the blocking
    /// pool). Rows are streamed and folded one by one: a database row costs
    /// several times its data in the driver, held all at once that was
    /// 40 MB for 10,000 products.
    pub async fn load(pool: &PgPool) -> Result<Snapshot> {
        let categories: Vec<(Uuid, Option<Uuid>, String, String)> =
            sqlx::query_as("SELECT id, parent_id, slug, name FROM categories")
                .fetch_all(pool)
                .await?;
        let stores: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, slug FROM stores WHERE active AND deleted_at IS NULL")
                .fetch_all(pool)
                .await?;
        let mut builder = Builder::new(categories, stores);
        let mut rows = sqlx::query_as::<_, ProductRow>(concat!(
            product_rows!(),
            " WHERE p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL"
        ))
        .fetch(pool);
        while let Some(row) = rows.try_next().await? {
            builder.add(row);
        }
        drop(rows);
        tokio::task::spawn_blocking(move || builder.finish())
            .await
            .map_err(|e| anyhow::anyhow!("building the search index: {e}"))?
    }

    /// This snapshot with `products` read again: changed ones replaced,
    /// new ones added, ones no longer visible taken out. Categories and
    /// stores are as they were (their changes rebuild).
    pub async fn patch(&self, pool: &PgPool, products: &[Uuid]) -> Result<Snapshot> {
        let rows: Vec<ProductRow> =
            sqlx::query_as(concat!(product_rows!(), " WHERE p.id = ANY($1)"))
                .bind(products)
                .fetch_all(pool)
                .await?;
        let mut rows: HashMap<Uuid, ProductRow> = rows
            .into_iter()
            .filter(|r| r.visible)
            .map(|r| (r.id, r))
            .collect();
        let keys = self.with_stores_of(pool, rows.values()).await?;
        let mut docs = self.docs.clone();
        let mut by_id = self.by_id.clone();
        let mut categories = self.categories.clone();
        let mut strings = self.strings.clone();
        let mut facet_ids = self.facet_ids.clone();
        let mut removed = Vec::new();
        let mut added = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for id in products.iter().filter(|id| seen.insert(**id)) {
            let key = by_id.get(id).copied();
            // The indexed text of the product, if it has one.
            let mut indexed = None;
            if let Some(key) = key {
                let old = &docs[key as usize];
                if old.live {
                    categories[old.category as usize]
                        .products
                        .retain(|k| *k != key);
                    indexed = Some(old.text_hash);
                }
            }
            let converted = rows
                .remove(id)
                .and_then(|row| convert(row, &keys, &mut strings, &mut facet_ids));
            let Some((doc, text)) = converted else {
                if let Some(key) = key {
                    docs[key as usize] = Arc::new(Doc::tombstone(*id));
                    if indexed.is_some() {
                        removed.push(key);
                    }
                }
                continue;
            };
            let key = key.unwrap_or_else(|| {
                docs.push(Arc::new(Doc::tombstone(*id)));
                by_id.insert(*id, docs.len() as u32 - 1);
                docs.len() as u32 - 1
            });
            categories[doc.category as usize].products.push(key);
            if indexed != Some(doc.text_hash) {
                removed.extend(indexed.map(|_| key));
                added.push((key, text));
            }
            docs[key as usize] = Arc::new(doc);
        }
        let mut facets = self.facets.clone();
        facets.resize(facet_ids.ids.len(), (String::new(), String::new()));
        for (fv, id) in &facet_ids.ids {
            if *id as usize >= self.facets.len() {
                facets[*id as usize] = split_facet(fv);
            }
        }
        let index = self.text.clone();
        let text = if removed.is_empty() && added.is_empty() {
            index
        } else {
            patch_text(index, removed, added).await?
        };
        Ok(Snapshot {
            browse: Browse::new(categories.len()),
            docs,
            by_id,
            categories,
            keys,
            strings,
            facet_ids,
            facets,
            text,
        })
    }

    /// The keys, knowing the stores of `rows` too: a new store is not
    /// announced (it shows nothing until it has products).
    async fn with_stores_of(
        &self,
        pool: &PgPool,
        rows: impl Iterator<Item = &ProductRow>,
    ) -> Result<Arc<Keys>> {
        let unknown: Vec<Uuid> = rows
            .map(|r| r.store_id)
            .filter(|id| !self.keys.stores.contains_key(&id.to_string()))
            .collect();
        if unknown.is_empty() {
            return Ok(self.keys.clone());
        }
        let stores: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT id, slug FROM stores WHERE id = ANY($1)")
                .bind(&unknown)
                .fetch_all(pool)
                .await?;
        let mut keys = (*self.keys).clone();
        for (id, slug) in stores {
            keys.stores.insert(id.to_string(), id);
            keys.stores.insert(slug, id);
        }
        Ok(Arc::new(keys))
    }

    /// Reads again which variants of `products` are in stock.
    pub async fn refresh_stock(&self, pool: &PgPool, products: &[Uuid]) -> Result<()> {
        let rows: Vec<(Uuid, Uuid, bool)> = sqlx::query_as(
            "SELECT product_id, id, stock > reserved FROM variants
              WHERE product_id = ANY($1) AND active",
        )
        .bind(products)
        .fetch_all(pool)
        .await?;
        for (product, variant, in_stock) in rows {
            let Some(doc) = self.by_id.get(&product).map(|i| &self.docs[*i as usize]) else {
                continue;
            };
            if let Some(v) = doc.variants.iter().find(|v| v.id == variant) {
                v.in_stock.store(in_stock, Atomic::Relaxed);
            }
        }
        Ok(())
    }

    /// `None`: a query this engine leaves to PostgreSQL.
    pub fn hits(&self, query: &Query) -> Result<Option<Hits>> {
        let Some(hits) = self.evaluate(query, Matching::Text)? else {
            return Ok(None);
        };
        if hits.total == 0 && query.q.is_some() {
            return self.evaluate(query, Matching::Fuzzy);
        }
        Ok(Some(hits))
    }

    fn evaluate(&self, query: &Query, matching: Matching) -> Result<Option<Hits>> {
        let Some(filter) = self.filter(query) else {
            return Ok(Some(Hits::default()));
        };
        if query.q.is_none() && query.store.is_none() && !query.needs_variant() {
            return Ok(Some(self.browse(query, &filter)));
        }
        // (doc, score)
        let mut matched: Vec<(u32, f32)> = match &query.q {
            Some(q) => {
                let Some(found) = self
                    .text
                    .matching(q, matching)
                    .map_err(|e| anyhow::anyhow!("search: {e}"))?
                else {
                    return Ok(None);
                };
                found
                    .into_iter()
                    .filter(|(doc, _)| filter.accepts(&self.docs[*doc as usize]))
                    .collect()
            }
            None => self.matching(&filter).map(|doc| (doc, 0.0)).collect(),
        };
        let mut hits = self.aggregate(matched.iter().map(|(doc, _)| *doc));
        let (offset, end) = page_bounds(query, matched.len());
        let order = |a: &(u32, f32), b: &(u32, f32)| self.order(query, a, b);
        if end < matched.len() && end > 0 {
            matched.select_nth_unstable_by(end - 1, order);
            matched.truncate(end);
        }
        matched.sort_unstable_by(order);
        hits.ids = matched
            .get(offset..end)
            .unwrap_or_default()
            .iter()
            .map(|(doc, _)| self.docs[*doc as usize].id)
            .collect();
        Ok(Some(hits))
    }

    /// A listing without a query or filters other than the category: from
    /// what this snapshot computed for the category the first time.
    fn browse(&self, query: &Query, filter: &Filter) -> Hits {
        let position = query
            .category
            .as_ref()
            .and_then(|key| self.keys.categories.get(key).copied());
        let listing = self.browse.listing(position, || {
            let docs: Vec<u32> = self.matching(filter).collect();
            Listing::new(self.aggregate(docs.iter().copied()), docs)
        });
        let ordered = listing.ordered(query.sort, |mut docs| {
            docs.sort_unstable_by(|a, b| self.order(query, &(*a, 0.0), &(*b, 0.0)));
            docs
        });
        let (offset, end) = page_bounds(query, ordered.len());
        let mut hits = listing.hits.clone();
        hits.ids = ordered[offset..end]
            .iter()
            .map(|doc| self.docs[*doc as usize].id)
            .collect();
        hits
    }

    /// The products `filter` accepts, without a text query. A category's
    /// products come from its list, not a scan of all.
    fn matching<'a>(&'a self, filter: &'a Filter) -> impl Iterator<Item = u32> + 'a {
        let candidates: Box<dyn Iterator<Item = u32> + 'a> = match &filter.categories {
            Some(set) => Box::new(
                set.iter()
                    .enumerate()
                    .filter(|(_, chosen)| **chosen)
                    .flat_map(|(c, _)| self.categories[c].products.iter().copied()),
            ),
            None => Box::new(0..self.docs.len() as u32),
        };
        candidates.filter(|doc| filter.accepts(&self.docs[*doc as usize]))
    }

    /// The total, facets and price range of the products `matched` (the
    /// page's ids left empty).
    fn aggregate(&self, matched: impl ExactSizeIterator<Item = u32>) -> Hits {
        let total = matched.len();
        let mut per_category = vec![0i64; self.categories.len()];
        let mut per_facet = vec![0i64; self.facets.len()];
        let (mut min_price, mut max_price) = (None::<i64>, None::<i64>);
        for doc in matched {
            let d = &self.docs[doc as usize];
            per_category[d.category as usize] += 1;
            for f in d.facets.iter() {
                per_facet[*f as usize] += 1;
            }
            if let Some(p) = d.min_price {
                min_price = Some(min_price.map_or(p, |m| m.min(p)));
            }
            if let Some(p) = d.max_price {
                max_price = Some(max_price.map_or(p, |m| m.max(p)));
            }
        }
        let mut categories: Vec<CategoryCount> = per_category
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let c = &self.categories[i];
                CategoryCount {
                    id: c.id,
                    slug: c.slug.clone(),
                    name: c.name.clone(),
                    count: *n,
                }
            })
            .collect();
        categories.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        let mut attributes: Vec<(String, String, i64)> = per_facet
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (self.facets[i].0.clone(), self.facets[i].1.clone(), *n))
            .collect();
        attributes.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| b.2.cmp(&a.2))
                .then_with(|| a.1.cmp(&b.1))
        });
        Hits {
            total: total as i64,
            ids: Vec::new(),
            categories,
            attributes,
            min_price,
            max_price,
        }
    }

    /// The order of the PostgreSQL engine's `ORDER BY` for this sort.
    fn order(&self, query: &Query, a: &(u32, f32), b: &(u32, f32)) -> Ordering {
        let (x, y) = (&self.docs[a.0 as usize], &self.docs[b.0 as usize]);
        let newest = || {
            y.created_at
                .cmp(&x.created_at)
                .then_with(|| y.id.cmp(&x.id))
        };
        // NULLS LAST either way.
        let price = |descending: bool| match (x.min_price, y.min_price) {
            (Some(p), Some(q)) if descending => q.cmp(&p),
            (Some(p), Some(q)) => p.cmp(&q),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        match query.sort {
            Sort::Relevance if query.q.is_some() => b.1.total_cmp(&a.1).then_with(newest),
            Sort::Relevance | Sort::Newest => newest(),
            Sort::Price => price(false).then_with(|| x.id.cmp(&y.id)),
            Sort::PriceDesc => price(true).then_with(|| x.id.cmp(&y.id)),
            Sort::Rating => {
                // Mean rating, exactly (cross-multiplied), unrated last.
                let mean = match (x.rating_count, y.rating_count) {
                    (0, 0) => Ordering::Equal,
                    (0, _) => Ordering::Greater,
                    (_, 0) => Ordering::Less,
                    (n, m) => (i128::from(y.rating_sum) * i128::from(n))
                        .cmp(&(i128::from(x.rating_sum) * i128::from(m))),
                };
                mean.then_with(|| y.rating_count.cmp(&x.rating_count))
                    .then_with(|| x.id.cmp(&y.id))
            }
        }
    }

    /// The query's filters resolved against this snapshot; `None` when
    /// nothing can match (an unknown category, store or attribute).
    fn filter(&self, query: &Query) -> Option<Filter> {
        let categories = match &query.category {
            Some(key) => {
                let mut set = vec![false; self.categories.len()];
                let mut stack = vec![*self.keys.categories.get(key)?];
                while let Some(c) = stack.pop() {
                    if !set[c as usize] {
                        set[c as usize] = true;
                        stack.extend(&self.categories[c as usize].children);
                    }
                }
                Some(set)
            }
            None => None,
        };
        let store = match &query.store {
            Some(key) => Some(*self.keys.stores.get(key)?),
            None => None,
        };
        let mut attributes = Vec::new();
        for (code, values) in &query.attributes {
            let values: Vec<u32> = values.iter().filter_map(|v| self.strings.get(v)).collect();
            attributes.push((self.strings.get(code)?, values));
        }
        Some(Filter {
            categories,
            store,
            variant: query.needs_variant().then_some(VariantFilter {
                min_price: query.min_price,
                max_price: query.max_price,
                in_stock: query.in_stock,
                attributes,
            }),
        })
    }
}

/// The page of a result of `total`: offset and end, both within it.
fn page_bounds(query: &Query, total: usize) -> (usize, usize) {
    let offset = usize::try_from(query.offset).unwrap_or(0).min(total);
    let end = offset
        .saturating_add(usize::try_from(query.limit).unwrap_or(0))
        .min(total);
    (offset, end)
}

struct Filter {
    categories: Option<Vec<bool>>,
    store: Option<Uuid>,
    variant: Option<VariantFilter>,
}

struct VariantFilter {
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: bool,
    /// code -> accepted values.
    attributes: Vec<(u32, Vec<u32>)>,
}

fn has(pairs: &[(u32, u32)], code: u32, values: &[u32]) -> bool {
    pairs.iter().any(|(c, v)| *c == code && values.contains(v))
}

impl Filter {
    fn accepts(&self, d: &Doc) -> bool {
        if !d.live {
            return false;
        }
        if let Some(set) = &self.categories {
            if !set[d.category as usize] {
                return false;
            }
        }
        if self.store.is_some_and(|s| s != d.store) {
            return false;
        }
        let Some(f) = &self.variant else {
            return true;
        };
        d.variants.iter().any(|v| {
            f.min_price.is_none_or(|min| v.price >= min)
                && f.max_price.is_none_or(|max| v.price <= max)
                && (!f.in_stock || v.in_stock.load(Atomic::Relaxed))
                && f.attributes.iter().all(|(code, values)| {
                    has(&v.attributes, *code, values) || has(&d.attributes, *code, values)
                })
        })
    }
}

/// The text index patched on the blocking pool.
async fn patch_text(
    index: Text,
    removed: Vec<u32>,
    added: Vec<(u32, (String, String, String))>,
) -> Result<Text> {
    tokio::task::spawn_blocking(move || {
        index.patch(
            &removed,
            added
                .iter()
                .map(|(key, (name, code, description))| Document {
                    key: *key,
                    name,
                    code,
                    description,
                }),
        )
    })
    .await
    .map_err(|e| anyhow::anyhow!("patching the search index: {e}"))?
    .map_err(|e| anyhow::anyhow!("patching the search index: {e}").into())
}

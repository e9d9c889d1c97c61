//! The cache of public catalogue reads (product pages, listings and search,
//! categories, CMS pages).
//!
//! Entries live in this process's memory, bounded by `CATALOG_CACHE_BYTES`
//! (least recently and frequently used go first), under the *generations*
//! that were current when their data was read:
//!
//! - the catalogue's, which every catalogue write (a product, a price, a
//!   category, a page) bumps: everything cached before is unreachable;
//! - for listings filtered to what is in stock, the listings' generation,
//!   which stock bumps only when a variant sells out or comes back;
//! - for other listings, nothing more in the key: they show of stock only
//!   each item's `in_stock`, so on every read their entry is checked against
//!   the sell-out generations of the products it shows (ordinary sales and
//!   sell-outs elsewhere leave them cached);
//! - for a product page, its product's generation (one of 4,096 buckets by
//!   id), which every stock movement of that product bumps.
//!
//! Writers bump before their response is sent, so the next read misses and
//! reads the new data: never a stale price after an update returns. A read
//! that raced a write stores its (old) result under the old generation, where
//! nobody looks any more. Concurrent misses of one key wait for one load
//! (single flight) instead of each computing it. Other API processes hear of
//! changes through Redis pub/sub within milliseconds (`catalog::Change`);
//! while this process is not subscribed (Redis down, reconnecting) it
//! bypasses the cache rather than risk stale data.
//!
//! The same feed keeps the embedded search engine current (it is told of
//! every change, whether or not the cache is on); a process skips its own
//! messages there, having told its engine before publishing.

use std::{
    future::Future,
    hash::BuildHasher,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::catalog::{search::Engine, Availability, Change};
use bytes::Bytes;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

/// A value as the JSON body a cached read stores, in an allocation of its
/// exact size: serialising grows a buffer by doubling, and `Bytes` keeps
/// the whole buffer. A 16.6 KB listing page held 32 KiB, so the cache used
/// up to twice what its weigher counted against `CATALOG_CACHE_BYTES`.
pub fn json_body<T: serde::Serialize>(value: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(value)
        .map(|body| Bytes::from(body.into_boxed_slice()))
        .map_err(ApiError::internal)
}

/// Product generations: one counter per bucket of product ids. A collision
/// only costs a needless miss.
const PRODUCT_BUCKETS: usize = 4096;
/// What an entry costs besides its key and body (the cache's own records,
/// the entity tag, the allocator's rounding), so that the bound is the
/// memory the cache takes. Measured: 12,791 entries weighed 16 MiB with
/// 256 here and took 24 MiB of the process's memory.
const ENTRY_OVERHEAD: usize = 768;
/// The same for a slug's entry: its key and the cache's records, no body.
const SLUG_OVERHEAD: usize = 384;
/// The share of `CATALOG_CACHE_BYTES` that slugs may take: every product
/// page read by slug needs its slug's id before its body's entry, so the
/// slugs of all the pages the cache holds should fit (7 MiB: about 2,100).
const SLUG_SHARE: u64 = 8;

/// What a cached read depends on besides the catalogue as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Categories, CMS pages, banners: only catalogue writes change them.
    Catalogue,
    /// Lists and search filtered to what is in stock: also any variant
    /// selling out or coming back (totals and facets change). Unfiltered
    /// lists use [`CatalogCache::get_or_load_listing`].
    InStockListing,
    /// One product's page: also its stock.
    Product(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    catalogue: u64,
    scope: u64,
    text: String,
}

#[derive(Clone)]
pub struct CatalogCache {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    /// Told of every change, cache or not.
    engine: Option<Arc<dyn Engine>>,
    /// This process, on the changes channel.
    origin: Uuid,
    subscribed: AtomicBool,
    catalogue: AtomicU64,
    listings: AtomicU64,
    products: Box<[AtomicU64]>,
    /// Per bucket of product ids: a variant of one of them sold out or came
    /// back (what an unfiltered listing shows of stock).
    crossings: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
    entries: moka::future::Cache<Key, Cached>,
    /// Product slugs to ids, per catalogue generation (a slug changes only
    /// with a product write).
    slugs: moka::sync::Cache<(u64, String), Option<Uuid>>,
    redis: ConnectionManager,
    channel: String,
}

impl Inner {
    /// Whether the changes channel is followed at all.
    fn follows(&self) -> bool {
        self.enabled || self.engine.is_some()
    }

    fn bucket(&self, id: Uuid) -> usize {
        self.hasher.hash_one(id) as usize % PRODUCT_BUCKETS
    }

    fn product_generation(&self, id: Uuid) -> &AtomicU64 {
        &self.products[self.bucket(id)]
    }

    /// Whether `entry` still shows what it was read with.
    fn still_valid(&self, entry: &Cached) -> bool {
        match &entry.stamps {
            Stamps::Always => true,
            Stamps::Stale => false,
            Stamps::Crossings(stamps) => stamps.iter().all(|&(bucket, seen)| {
                self.crossings[usize::from(bucket)].load(Ordering::SeqCst) == seen
            }),
        }
    }

    fn forget(&self, change: &Change) {
        match change {
            // Any listing may show a changed product; pages are cached
            // under the catalogue's generation too.
            Change::All | Change::Products(_) | Change::Pages => {
                self.catalogue.fetch_add(1, Ordering::SeqCst);
                self.entries.invalidate_all();
                self.slugs.invalidate_all();
            }
            Change::Availability(a) => {
                for id in &a.products {
                    self.product_generation(*id).fetch_add(1, Ordering::SeqCst);
                }
                if !a.crossed.is_empty() {
                    // The listings' generation first: a listing being read
                    // now sees it move and is not trusted (see
                    // `get_or_load_listing`).
                    self.listings.fetch_add(1, Ordering::SeqCst);
                    for id in &a.crossed {
                        self.crossings[self.bucket(*id)].fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }
    }
}

/// What else an entry's validity depends on, checked when it is read.
#[derive(Clone)]
enum Stamps {
    /// Nothing beyond its key.
    Always,
    /// The crossing generations of the products it shows, as they were.
    Crossings(Arc<[(u16, u64)]>),
    /// Read while stock crossed zero somewhere: for its first readers only.
    Stale,
}

fn entity_tag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12])))
        .expect("hex is a valid header value")
}

/// A cached JSON body with its entity tag.
#[derive(Clone)]
pub struct Cached {
    body: Body,
    etag: HeaderValue,
    stamps: Stamps,
}

/// A body as it is held.
#[derive(Clone)]
enum Body {
    /// As made: answered once (private views, the cache bypassed), or
    /// smaller than it would be packed.
    Plain(Bytes),
    /// In the cache, LZ4-compressed, unpacked per response: listing and
    /// search pages pack to a sixth, product pages to about half, so
    /// `CATALOG_CACHE_BYTES` holds that many more of them, for microseconds
    /// per hit.
    Packed { lz4: Bytes, len: usize },
}

impl Body {
    fn packed(plain: Bytes) -> Self {
        let lz4 = lz4_flex::block::compress(&plain);
        if lz4.len() < plain.len() {
            Self::Packed {
                lz4: Bytes::from(lz4.into_boxed_slice()),
                len: plain.len(),
            }
        } else {
            Self::Plain(plain)
        }
    }

    /// What the entry costs the cache.
    fn held(&self) -> usize {
        match self {
            Self::Plain(b) => b.len(),
            Self::Packed { lz4, .. } => lz4.len(),
        }
    }

    fn unpacked(self) -> Result<Bytes, lz4_flex::block::DecompressError> {
        match self {
            Self::Plain(b) => Ok(b),
            Self::Packed { lz4, len } => lz4_flex::block::decompress(&lz4, len).map(Bytes::from),
        }
    }
}

impl Cached {
    /// A body with its entity tag; uncached ones (private views) too.
    pub fn new(body: Bytes) -> Self {
        Self {
            etag: entity_tag(&body),
            body: Body::Plain(body),
            stamps: Stamps::Always,
        }
    }

    /// A body to keep in the cache: packed.
    fn stored(body: Bytes) -> Self {
        Self {
            etag: entity_tag(&body),
            body: Body::packed(body),
            stamps: Stamps::Always,
        }
    }

    /// 200 with the body, or 304 when the client already holds this version.
    pub fn respond(self, request: &HeaderMap) -> Response {
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|tags| tags.as_bytes() == self.etag.as_bytes());
        let headers = [
            (header::ETAG, self.etag),
            // Clients may keep it but must revalidate: prices change.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if fresh {
            return (StatusCode::NOT_MODIFIED, headers).into_response();
        }
        match self.body.unpacked() {
            Ok(body) => (
                headers,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => ApiError::internal(e).into_response(),
        }
    }
}

impl CatalogCache {
    /// Starts the invalidation listener (when enabled) on `redis_url`.
    pub fn new(
        enabled: bool,
        capacity_bytes: u64,
        redis: ConnectionManager,
        redis_url: &str,
        prefix: &str,
        engine: Option<Arc<dyn Engine>>,
    ) -> Self {
        let inner = Arc::new(Inner {
            enabled: enabled && capacity_bytes > 0,
            engine,
            origin: Uuid::new_v4(),
            subscribed: AtomicBool::new(false),
            catalogue: AtomicU64::new(0),
            listings: AtomicU64::new(0),
            products: (0..PRODUCT_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            crossings: (0..PRODUCT_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            hasher: Default::default(),
            entries: moka::future::Cache::builder()
                .weigher(|key: &Key, v: &Cached| {
                    let stamps = match &v.stamps {
                        Stamps::Crossings(s) => s.len() * std::mem::size_of::<(u16, u64)>(),
                        Stamps::Always | Stamps::Stale => 0,
                    };
                    (ENTRY_OVERHEAD + key.text.len() + v.body.held() + stamps)
                        .try_into()
                        .unwrap_or(u32::MAX)
                })
                .max_capacity(capacity_bytes - capacity_bytes / SLUG_SHARE)
                .build(),
            slugs: moka::sync::Cache::builder()
                .weigher(|key: &(u64, String), _: &Option<Uuid>| {
                    (SLUG_OVERHEAD + key.1.len()).try_into().unwrap_or(u32::MAX)
                })
                .max_capacity(capacity_bytes / SLUG_SHARE)
                .build(),
            redis,
            channel: bazaar_core::catalog::changes_channel(prefix),
        });
        if inner.enabled {
            tokio::spawn(upkeep(Arc::downgrade(&inner)));
        }
        if inner.follows() {
            match redis::Client::open(redis_url) {
                Ok(client) => {
                    tokio::spawn(listen(Arc::downgrade(&inner), client));
                }
                Err(e) => tracing::warn!(error = %e, "catalogue cache disabled: bad REDIS_URL"),
            }
        }
        Self { inner }
    }

    fn usable(&self) -> bool {
        self.inner.enabled && self.inner.subscribed.load(Ordering::SeqCst)
    }

    /// Call after every committed write that changes what public catalogue
    /// reads show, before responding.
    pub async fn changed(&self) {
        self.tell(Change::All).await;
    }

    /// As [`Self::changed`], for a write that changed only these products
    /// (or their variants, images, reviews): the search engine re-reads
    /// just them.
    pub async fn products_changed(&self, products: &[Uuid]) {
        self.tell(Change::Products(products.to_vec())).await;
    }

    /// As [`Self::changed`], for a write to content pages only.
    pub async fn pages_changed(&self) {
        self.tell(Change::Pages).await;
    }

    /// Call after a committed stock movement, before responding: evicts the
    /// pages of the products whose availability moved, and listings only
    /// when a variant sold out or came back.
    pub async fn availability_changed(&self, availability: &Availability) {
        if !availability.is_empty() {
            self.tell(Change::Availability(availability.clone())).await;
        }
    }

    async fn tell(&self, change: Change) {
        if !self.inner.follows() {
            return;
        }
        // The engine first: a read that sees the cache's new generation
        // must also find the engine behind, or it would cache an answer from
        // the old snapshot under the new key.
        if let Some(engine) = &self.inner.engine {
            engine.note(&change);
        }
        if self.inner.enabled {
            self.inner.forget(&change);
        }
        let mut redis = self.inner.redis.clone();
        let published: redis::RedisResult<i64> = tokio::time::timeout(
            Duration::from_millis(250),
            redis::cmd("PUBLISH")
                .arg(&self.inner.channel)
                .arg(change.encode_from(self.inner.origin))
                .query_async(&mut redis),
        )
        .await
        .unwrap_or_else(|_| Err((redis::ErrorKind::Io, "timed out").into()));
        if let Err(e) = published {
            tracing::warn!(error = %e, "could not tell other API processes of a catalogue change");
        }
    }

    /// The id to cache the product with this slug (or id) under, the slug
    /// remembered per catalogue generation. `None` when there is no such
    /// product or the cache is off: read it uncached.
    pub async fn product_id(&self, pool: &PgPool, key: &str) -> ApiResult<Option<Uuid>> {
        if !self.usable() {
            return Ok(None);
        }
        if let Ok(id) = Uuid::parse_str(key) {
            return Ok(Some(id));
        }
        let generation = self.inner.catalogue.load(Ordering::SeqCst);
        let cache_key = (generation, key.to_owned());
        if let Some(id) = self.inner.slugs.get(&cache_key) {
            return Ok(id);
        }
        let id = bazaar_core::catalog::products::id_by_slug(pool, key).await?;
        self.inner.slugs.insert(cache_key, id);
        Ok(id)
    }

    /// The cached body for `key` in `scope`, or `load`'s result, cached.
    /// Concurrent callers of a missing key wait for one `load`; an error is
    /// not cached, each waiter gets it.
    pub async fn get_or_load<F, Fut>(
        &self,
        scope: Scope,
        text: String,
        load: F,
    ) -> ApiResult<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Bytes>>,
    {
        if !self.usable() {
            return Ok(Cached::new(load().await?));
        }
        // Read the generations before the data: a write in between makes
        // this entry unreachable instead of stale.
        let inner = &self.inner;
        let key = Key {
            catalogue: inner.catalogue.load(Ordering::SeqCst),
            scope: match scope {
                Scope::Catalogue => 0,
                Scope::InStockListing => inner.listings.load(Ordering::SeqCst),
                Scope::Product(id) => inner.product_generation(id).load(Ordering::SeqCst),
            },
            text,
        };
        let mut pending = Some(load);
        let entry = inner
            .entries
            .try_get_with(key, async {
                let load = pending.take().expect("the cache runs an initializer once");
                load().await.map(Cached::stored)
            })
            .await
            .map_err(unshare);
        count(if pending.is_none() { "miss" } else { "hit" });
        entry
    }

    /// A listing not filtered by stock: `load` gives its body and the
    /// products it shows. Only catalogue writes, and a variant of one of
    /// those products selling out or coming back, make it stale: an ordinary
    /// sale leaves it, and a sell-out elsewhere does too. Single flight as
    /// [`get_or_load`](Self::get_or_load).
    pub async fn get_or_load_listing<F, Fut>(&self, text: String, load: F) -> ApiResult<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<(Bytes, Vec<Uuid>)>>,
    {
        if !self.usable() {
            return Ok(Cached::new(load().await?.0));
        }
        let inner = &self.inner;
        let key = Key {
            catalogue: inner.catalogue.load(Ordering::SeqCst),
            scope: 0,
            text,
        };
        if let Some(hit) = inner.entries.get(&key).await {
            if inner.still_valid(&hit) {
                count("hit");
                return Ok(hit);
            }
            inner.entries.invalidate(&key).await;
        }
        let mut pending = Some(load);
        let entry = inner
            .entries
            .try_get_with(key, async {
                let load = pending.take().expect("the cache runs an initializer once");
                let listings = inner.listings.load(Ordering::SeqCst);
                let (body, shown) = load().await?;
                // A crossing during the read: its stamps could be newer than
                // its data. Writers move `listings` before the buckets.
                let stamps = if inner.listings.load(Ordering::SeqCst) == listings {
                    Stamps::Crossings(
                        shown
                            .iter()
                            .map(|id| {
                                let bucket = inner.bucket(*id);
                                let seen = inner.crossings[bucket].load(Ordering::SeqCst);
                                (bucket as u16, seen)
                            })
                            .collect(),
                    )
                } else {
                    Stamps::Stale
                };
                Ok(Cached {
                    stamps,
                    ..Cached::stored(body)
                })
            })
            .await
            .map_err(unshare)?;
        match pending {
            // Read by this request, after it arrived.
            None => {
                count("miss");
                Ok(entry)
            }
            // Joined another request's read, which may have started before a
            // sell-out this request must see.
            Some(load) if !inner.still_valid(&entry) => {
                count("miss");
                Ok(Cached::new(load().await?.0))
            }
            Some(_) => {
                count("hit");
                Ok(entry)
            }
        }
    }
}

/// An error a single-flight load shared with its waiters, for one of them.
fn unshare(shared: Arc<ApiError>) -> ApiError {
    Arc::try_unwrap(shared).unwrap_or_else(|e| (*e).clone())
}

/// Applies the bound even while nothing is stored (moka evicts as part of
/// its writes) and reports what the cache holds.
async fn upkeep(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.entries.run_pending_tasks().await;
        inner.slugs.run_pending_tasks();
        let bytes = inner.entries.weighted_size() + inner.slugs.weighted_size();
        metrics::gauge!("bazaar_catalog_cache_bytes").set(bytes as f64);
        metrics::gauge!("bazaar_catalog_cache_entries").set(inner.entries.entry_count() as f64);
    }
}

fn count(outcome: &'static str) {
    metrics::counter!("bazaar_catalog_cache_total", "outcome" => outcome).increment(1);
}

/// Follows the invalidation channel for as long as the cache lives.
async fn listen(inner: std::sync::Weak<Inner>, client: redis::Client) {
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let channel = strong.channel.clone();
        drop(strong);
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(5), subscribed).await {
            Ok(Ok(pubsub)) => {
                let mut messages = pubsub.into_on_message();
                {
                    let Some(strong) = inner.upgrade() else {
                        return;
                    };
                    // Writes may have happened while we were not listening.
                    strong.forget(&Change::All);
                    strong.subscribed.store(true, Ordering::SeqCst);
                    if let Some(engine) = &strong.engine {
                        engine.following(true);
                    }
                }
                while let Some(message) = messages.next().await {
                    let Some(strong) = inner.upgrade() else {
                        return;
                    };
                    let text: String = message.get_payload().unwrap_or_default();
                    let (origin, change) = Change::decode_from(&text);
                    if let Some(engine) = &strong.engine {
                        if origin != Some(strong.origin) {
                            engine.note(&change);
                        }
                    }
                    if strong.enabled {
                        strong.forget(&change);
                    }
                }
                tracing::warn!("catalogue cache: lost the Redis subscription; bypassing the cache");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "catalogue cache: cannot subscribe"),
            Err(_) => tracing::warn!("catalogue cache: subscribing timed out"),
        }
        let Some(strong) = inner.upgrade() else {
            return;
        };
        strong.subscribed.store(false, Ordering::SeqCst);
        if let Some(engine) = &strong.engine {
            engine.following(false);
        }
        drop(strong);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cached_body_holds_no_spare_capacity() {
        // Over 16 KiB of JSON: serialised into a buffer grown to 32 KiB.
        let items: Vec<String> = (0..1_000).map(|i| format!("item {i:>10}")).collect();
        let body = json_body(&items).unwrap();
        assert!(body.len() > 16 * 1024, "{} bytes", body.len());
        let held = Vec::<u8>::from(body);
        assert_eq!(held.capacity(), held.len());
    }

    async fn answered(cached: Cached, request: &HeaderMap) -> (StatusCode, Bytes) {
        let response = cached.respond(request);
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, body)
    }

    #[tokio::test]
    async fn a_stored_body_is_held_packed_and_answered_as_made() {
        // A listing page's shape: the same keys over and over.
        let items: Vec<serde_json::Value> = (0..24)
            .map(|i| {
                serde_json::json!({
                    "id": format!("0193a5c4-7e1b-7c2d-8f00-{i:012}"),
                    "name": format!("Wool jacket {i}"),
                    "price": {"amount": 1_000 + i * 37, "currency": "USD"},
                    "in_stock": i % 3 != 0,
                    "rating": {"average": 4.5, "count": i},
                })
            })
            .collect();
        let body = json_body(&items).unwrap();
        let stored = Cached::stored(body.clone());
        assert!(
            stored.body.held() * 3 < body.len(),
            "{} bytes held for {}",
            stored.body.held(),
            body.len()
        );
        assert_eq!(stored.etag, Cached::new(body.clone()).etag);
        let (status, answer) = answered(stored.clone(), &HeaderMap::new()).await;
        assert_eq!((status, answer), (StatusCode::OK, body));
        let mut revalidate = HeaderMap::new();
        revalidate.insert(header::IF_NONE_MATCH, stored.etag.clone());
        let (status, answer) = answered(stored, &revalidate).await;
        assert_eq!((status, answer.len()), (StatusCode::NOT_MODIFIED, 0));
    }

    #[tokio::test]
    async fn a_body_that_does_not_pack_is_held_as_made() {
        let noise: Vec<u8> = (0..128u32)
            .flat_map(|i| Sha256::digest(i.to_le_bytes()))
            .collect();
        let body = Bytes::from(noise);
        let stored = Cached::stored(body.clone());
        assert!(matches!(stored.body, Body::Plain(_)));
        assert_eq!(answered(stored, &HeaderMap::new()).await.1, body);
    }
}

//! The cache of public catalogue reads (product pages, search, categories).
//!
//! Entries live in this process's memory under the catalogue *version* that
//! was current when their data was read. Every catalogue write bumps the
//! version before its response is sent, so the next read misses and reads
//! the new data: never a stale price after an update returns. A read that
//! raced a write stores its (old) result under the old version, where nobody
//! looks any more. Other API processes hear of the write through Redis
//! pub/sub within milliseconds; while this process is not subscribed (Redis
//! down, reconnecting) it bypasses the cache rather than risk stale data.

use std::{
    future::Future,
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
use bytes::Bytes;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};

/// A value as the JSON body a cached read stores.
pub fn json_body<T: serde::Serialize>(value: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(ApiError::internal)
}

const CAPACITY_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Clone)]
pub struct CatalogCache {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: bool,
    version: AtomicU64,
    subscribed: AtomicBool,
    entries: moka::sync::Cache<(u64, String), Cached>,
    redis: ConnectionManager,
    channel: String,
}

/// A cached JSON body with its entity tag.
#[derive(Clone)]
pub struct Cached {
    body: Bytes,
    etag: HeaderValue,
}

impl Cached {
    /// A body with its entity tag; uncached ones (private views) too.
    pub fn new(body: Bytes) -> Self {
        let digest = Sha256::digest(&body);
        let etag = HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..12])))
            .expect("hex is a valid header value");
        Self { body, etag }
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
            (StatusCode::NOT_MODIFIED, headers).into_response()
        } else {
            (
                headers,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                self.body,
            )
                .into_response()
        }
    }
}

impl CatalogCache {
    /// Starts the invalidation listener (when enabled) on `redis_url`.
    pub fn new(enabled: bool, redis: ConnectionManager, redis_url: &str, prefix: &str) -> Self {
        let inner = Arc::new(Inner {
            enabled,
            version: AtomicU64::new(0),
            subscribed: AtomicBool::new(false),
            entries: moka::sync::Cache::builder()
                .weigher(|(_, key): &(u64, String), v: &Cached| {
                    (key.len() + v.body.len()).try_into().unwrap_or(u32::MAX)
                })
                .max_capacity(CAPACITY_BYTES)
                .build(),
            redis,
            channel: bazaar_core::catalog::changes_channel(prefix),
        });
        if enabled {
            match redis::Client::open(redis_url) {
                Ok(client) => {
                    tokio::spawn(listen(Arc::downgrade(&inner), client));
                }
                Err(e) => tracing::warn!(error = %e, "catalogue cache disabled: bad REDIS_URL"),
            }
        }
        Self { inner }
    }

    fn bump(&self) {
        self.inner.version.fetch_add(1, Ordering::SeqCst);
        self.inner.entries.invalidate_all();
    }

    /// Call after every committed write that changes what public catalogue
    /// reads show, before responding.
    pub async fn changed(&self) {
        if !self.inner.enabled {
            return;
        }
        self.bump();
        let mut redis = self.inner.redis.clone();
        let published: redis::RedisResult<i64> = tokio::time::timeout(
            Duration::from_millis(250),
            redis::cmd("PUBLISH")
                .arg(&self.inner.channel)
                .arg("changed")
                .query_async(&mut redis),
        )
        .await
        .unwrap_or_else(|_| Err((redis::ErrorKind::Io, "timed out").into()));
        if let Err(e) = published {
            tracing::warn!(error = %e, "could not tell other API processes of a catalogue change");
        }
    }

    /// The cached body for `key`, or `load`'s result, cached.
    pub async fn get_or_load<F, Fut>(&self, key: String, load: F) -> ApiResult<Cached>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = ApiResult<Bytes>>,
    {
        let usable = self.inner.enabled && self.inner.subscribed.load(Ordering::SeqCst);
        if !usable {
            return Ok(Cached::new(load().await?));
        }
        // Read the version before the data: a write in between makes this
        // entry unreachable instead of stale.
        let version = self.inner.version.load(Ordering::SeqCst);
        let key = (version, key);
        if let Some(hit) = self.inner.entries.get(&key) {
            metrics::counter!("bazaar_catalog_cache_total", "outcome" => "hit").increment(1);
            return Ok(hit);
        }
        metrics::counter!("bazaar_catalog_cache_total", "outcome" => "miss").increment(1);
        let cached = Cached::new(load().await?);
        self.inner.entries.insert(key, cached.clone());
        Ok(cached)
    }
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
                    strong.version.fetch_add(1, Ordering::SeqCst);
                    strong.entries.invalidate_all();
                    strong.subscribed.store(true, Ordering::SeqCst);
                }
                while messages.next().await.is_some() {
                    let Some(strong) = inner.upgrade() else {
                        return;
                    };
                    strong.version.fetch_add(1, Ordering::SeqCst);
                    strong.entries.invalidate_all();
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
        drop(strong);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

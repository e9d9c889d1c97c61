//! Figures that may be a few seconds old but must never be slow: the
//! dashboard, and the totals of broad order-list filters. A value is
//! computed once per key at a time (concurrent first readers wait for the
//! one computation); once older than `fresh` it is still served while one
//! background task computes its successor, so under steady use no reader
//! waits for a computation. A value more than `STALE_FACTOR` times `fresh`
//! old (nobody looked for a while) is recomputed before it is served.

use std::{
    collections::HashSet,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::error::{ApiError, ApiResult};

const STALE_FACTOR: u32 = 6;

pub struct Recent<K, V> {
    entries: moka::future::Cache<K, Arc<(Instant, V)>>,
    refreshing: Arc<Mutex<HashSet<K>>>,
    fresh: Duration,
}

impl<K, V> Clone for Recent<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            refreshing: self.refreshing.clone(),
            fresh: self.fresh,
        }
    }
}

/// One load's error, answered to every request that waited for it: each
/// gets the status the error means (a 503 stays a 503 for all of them).
fn shared_error(e: Arc<bazaar_core::Error>) -> ApiError {
    match Arc::try_unwrap(e) {
        Ok(e) => e.into(),
        Err(shared) => match shared.try_clone() {
            Some(e) => e.into(),
            None => ApiError::internal(shared),
        },
    }
}

impl<K, V> Recent<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// `fresh` zero: no caching, every read computes.
    pub fn new(fresh: Duration, capacity: u64) -> Self {
        Self {
            entries: moka::future::Cache::builder()
                .max_capacity(capacity)
                // Unused when `fresh` is zero; moka wants a positive idle time.
                .time_to_idle((fresh * STALE_FACTOR).max(Duration::from_secs(1)))
                .build(),
            refreshing: Arc::default(),
            fresh,
        }
    }

    /// The value for `key`; `compute` makes it (now, or in the background
    /// for the next readers). `keep` says whether a value is worth keeping
    /// (small order counts are cheap and stay exact).
    pub async fn get<F, Fut>(&self, key: K, compute: F, keep: fn(&V) -> bool) -> ApiResult<V>
    where
        F: Fn() -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = bazaar_core::Result<V>> + Send + 'static,
    {
        if self.fresh.is_zero() {
            return Ok(compute().await?);
        }
        if let Some(entry) = self.entries.get(&key).await {
            let age = entry.0.elapsed();
            if age < self.fresh {
                return Ok(entry.1.clone());
            }
            if age < self.fresh * STALE_FACTOR {
                self.refresh_in_background(key, compute);
                return Ok(entry.1.clone());
            }
            self.entries.invalidate(&key).await;
        }
        let first = compute.clone();
        let entry = self
            .entries
            .try_get_with(key.clone(), async move {
                first().await.map(|v| Arc::new((Instant::now(), v)))
            })
            .await
            .map_err(shared_error)?;
        if !keep(&entry.1) {
            self.entries.invalidate(&key).await;
        }
        Ok(entry.1.clone())
    }

    fn refresh_in_background<F, Fut>(&self, key: K, compute: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = bazaar_core::Result<V>> + Send + 'static,
    {
        let claimed = self
            .refreshing
            .lock()
            .map(|mut r| r.insert(key.clone()))
            .unwrap_or(false);
        if !claimed {
            return;
        }
        let entries = self.entries.clone();
        let refreshing = self.refreshing.clone();
        tokio::spawn(async move {
            match compute().await {
                Ok(v) => {
                    entries
                        .insert(key.clone(), Arc::new((Instant::now(), v)))
                        .await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refreshing a cached figure failed; the old one stays")
                }
            }
            if let Ok(mut r) = refreshing.lock() {
                r.remove(&key);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    type Run = std::pin::Pin<Box<dyn Future<Output = bazaar_core::Result<i64>> + Send>>;

    /// A computation that counts its runs and answers the run number.
    fn counter() -> (
        Arc<AtomicI64>,
        impl Fn() -> Run + Clone + Send + Sync + 'static,
    ) {
        let runs = Arc::new(AtomicI64::new(0));
        let r = runs.clone();
        let compute = move || {
            let r = r.clone();
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(r.fetch_add(1, Ordering::SeqCst) + 1)
            }) as Run
        };
        (runs, compute)
    }

    #[tokio::test]
    async fn concurrent_first_readers_share_one_computation() {
        let recent: Recent<&str, i64> = Recent::new(Duration::from_secs(60), 10);
        let (runs, compute) = counter();
        let reads = (0..20).map(|_| recent.get("k", compute.clone(), |_| true));
        let values = futures::future::join_all(reads).await;
        assert!(values.iter().all(|v| matches!(v, Ok(1))));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(recent.get("k", compute, |_| true).await.ok(), Some(1));
        assert_eq!(runs.load(Ordering::SeqCst), 1, "fresh: not computed again");
    }

    #[tokio::test]
    async fn a_stale_value_is_served_while_its_successor_is_computed() {
        let fresh = Duration::from_millis(50);
        let recent: Recent<&str, i64> = Recent::new(fresh, 10);
        let (runs, compute) = counter();
        assert_eq!(
            recent.get("k", compute.clone(), |_| true).await.ok(),
            Some(1)
        );
        // Let the value pass its freshness (the clock, not a guess).
        tokio::time::sleep(fresh + Duration::from_millis(10)).await;
        assert_eq!(
            recent.get("k", compute.clone(), |_| true).await.ok(),
            Some(1),
            "the stale value, at once"
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if recent.get("k", compute.clone(), |_| true).await.ok() == Some(2) {
                break;
            }
            assert!(Instant::now() < deadline, "the successor never came");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 2, "one background computation");
    }

    #[tokio::test]
    async fn values_not_worth_keeping_are_computed_every_time() {
        let recent: Recent<&str, i64> = Recent::new(Duration::from_secs(60), 10);
        let (runs, compute) = counter();
        for expected in 1..=3 {
            assert_eq!(
                recent.get("k", compute.clone(), |_| false).await.ok(),
                Some(expected)
            );
        }
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        let off: Recent<&str, i64> = Recent::new(Duration::ZERO, 10);
        let (runs, compute) = counter();
        off.get("k", compute.clone(), |_| true).await.ok();
        off.get("k", compute, |_| true).await.ok();
        assert_eq!(runs.load(Ordering::SeqCst), 2, "fresh 0: no cache");
    }
}

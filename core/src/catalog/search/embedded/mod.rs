//! The embedded engine: the visible catalogue in this process's memory (a
//! [`Snapshot`] with a `tantivy` text index), so a search, listing or facet
//! count costs no database time and no scan of rows.
//!
//! Kept current by the change feed (the catalogue-changes channel the API
//! processes share): a stock movement re-reads those products' variants in
//! place; a change to some products re-reads just them into a new snapshot
//! sharing the rest (and their text into the index); any other change (a
//! category, a store) rebuilds the snapshot in the background; a reconcile
//! rebuilds it every `SEARCH_RECONCILE_SECS` so a lost message heals.
//! Every change is counted as it is told (`wanted`) and as it is applied
//! (`applied`): a search waits a little for the engine to catch up with the
//! changes known when it began, and otherwise is answered by PostgreSQL.
//! A reader never gets results older than a write this process made or
//! heard of.

mod browse;
mod snapshot;
mod text;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use uuid::Uuid;

use super::{Change, Engine, Hits, Query};
use crate::Result;
use snapshot::Snapshot;

pub struct Embedded {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// Changes told so far.
    wanted: AtomicU64,
    /// Changes reflected in `snapshot`.
    applied: watch::Sender<u64>,
    following: AtomicBool,
    pending: Mutex<Pending>,
    wake: Arc<Notify>,
    /// How long a search waits for the engine to catch up.
    patience: Duration,
}

#[derive(Default)]
struct Pending {
    rebuild: bool,
    products: HashSet<Uuid>,
    stock: HashSet<Uuid>,
}

impl Embedded {
    /// Builds once the change feed is followed; until built (and whenever
    /// behind), searches are answered by PostgreSQL.
    pub fn start(pool: PgPool, reconcile: Duration, patience: Duration) -> Self {
        // A zero period would rebuild back to back.
        let reconcile = reconcile.max(Duration::from_secs(1));
        let inner = Arc::new(Inner {
            pool,
            snapshot: RwLock::new(None),
            // The first build starts when the change feed is followed
            // (`following(true)`), so no change can fall between the two.
            wanted: AtomicU64::new(0),
            applied: watch::channel(0).0,
            following: AtomicBool::new(false),
            pending: Mutex::new(Pending::default()),
            wake: Arc::new(Notify::new()),
            patience,
        });
        tokio::spawn(refresh(Arc::downgrade(&inner), reconcile));
        Self { inner }
    }
}

impl Inner {
    fn tell(&self, change: &Change) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        match change {
            Change::All => pending.rebuild = true,
            Change::Products(products) => pending.products.extend(products.iter().copied()),
            Change::Availability(a) => pending.stock.extend(a.products.iter().copied()),
            // Nothing the engine holds.
            Change::Pages => return,
        }
        self.wanted.fetch_add(1, Ordering::SeqCst);
        drop(pending);
        self.wake.notify_one();
    }

    /// The snapshot once it reflects change `wanted`, within the patience.
    async fn current(&self, wanted: u64) -> Option<Arc<Snapshot>> {
        let mut applied = self.applied.subscribe();
        let caught_up = tokio::time::timeout(self.patience, applied.wait_for(|a| *a >= wanted));
        if !matches!(caught_up.await, Ok(Ok(_))) {
            return None;
        }
        self.snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait::async_trait]
impl Engine for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn hits(&self, query: &Query) -> Result<Option<Hits>> {
        if !self.inner.following.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let wanted = self.inner.wanted.load(Ordering::SeqCst);
        let Some(snapshot) = self.inner.current(wanted).await else {
            return Ok(None);
        };
        // Microseconds to a few milliseconds of CPU: worth keeping off the
        // runtime's threads only past the largest catalogues.
        snapshot.hits(query)
    }

    fn note(&self, change: &Change) {
        self.inner.tell(change);
    }

    fn following(&self, following: bool) {
        if following && !self.inner.following.load(Ordering::SeqCst) {
            // Changes may have been missed while not following: told before
            // searches may use the engine again, so none is answered from
            // the snapshot of before.
            self.inner.tell(&Change::All);
        }
        self.inner.following.store(following, Ordering::SeqCst);
    }
}

/// Applies told changes, one batch at a time, for as long as the engine
/// lives; rebuilds every `reconcile` anyway.
async fn refresh(inner: std::sync::Weak<Inner>, reconcile: Duration) {
    // None until the first build.
    let mut last_build: Option<Instant> = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let (target, work) = {
            let mut pending = strong.pending.lock().unwrap_or_else(|e| e.into_inner());
            if last_build.is_some_and(|at| at.elapsed() >= reconcile) {
                pending.rebuild = true;
            }
            (
                strong.wanted.load(Ordering::SeqCst),
                std::mem::take(&mut *pending),
            )
        };
        let current = strong
            .snapshot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let outcome = match current {
            Some(snapshot) if !work.rebuild => catch_up(&strong, snapshot, &work).await,
            // Not following yet: nothing to build for.
            None if target == 0 => Ok(()),
            _ => {
                let started = Instant::now();
                match Snapshot::load(&strong.pool).await {
                    Ok(snapshot) => {
                        *strong.snapshot.write().unwrap_or_else(|e| e.into_inner()) =
                            Some(Arc::new(snapshot));
                        last_build = Some(Instant::now());
                        metrics::histogram!("bazaar_search_rebuild_seconds")
                            .record(started.elapsed().as_secs_f64());
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match outcome {
            Ok(()) => {
                strong.applied.send_replace(target);
            }
            Err(e) => {
                tracing::warn!(error = %e, "search index: could not catch up; PostgreSQL answers meanwhile");
                {
                    let mut pending = strong.pending.lock().unwrap_or_else(|e| e.into_inner());
                    pending.rebuild |= work.rebuild;
                    pending.products.extend(work.products);
                    pending.stock.extend(work.stock);
                }
                drop(strong);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        let caught_up = strong.wanted.load(Ordering::SeqCst) == target;
        // Before the first build only a notification (following) wakes it.
        let until_reconcile = last_build.map_or(Duration::from_secs(86_400), |at| {
            reconcile.saturating_sub(at.elapsed())
        });
        let wake = strong.wake.clone();
        drop(strong);
        if caught_up {
            // A notification sent since the batch was taken is kept as a
            // permit: this returns at once.
            let _ = tokio::time::timeout(until_reconcile, wake.notified()).await;
        }
    }
}

/// Applies product and stock changes to the current snapshot: changed
/// products into a new snapshot (readers of the old one finish with it),
/// then stock in place.
async fn catch_up(inner: &Inner, snapshot: Arc<Snapshot>, work: &Pending) -> Result<()> {
    let snapshot = if work.products.is_empty() {
        snapshot
    } else {
        let products: Vec<Uuid> = work.products.iter().copied().collect();
        let started = Instant::now();
        let patched = Arc::new(snapshot.patch(&inner.pool, &products).await?);
        *inner.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Some(patched.clone());
        metrics::histogram!("bazaar_search_patch_seconds").record(started.elapsed().as_secs_f64());
        patched
    };
    let stock: Vec<Uuid> = work.stock.iter().copied().collect();
    if !stock.is_empty() {
        snapshot.refresh_stock(&inner.pool, &stock).await?;
    }
    Ok(())
}

//! Group commit: webhook deliveries that arrive while one statement is being
//! written go into the next statement together (`batch::Batcher`), so a
//! burst costs one round trip and one commit per batch instead of per
//! request. Each caller still gets its answer only after the statement
//! holding its item has committed: nothing is acknowledged before it is
//! durable.
//!
//! Used by the webhooks (payment events, messenger deliveries): providers
//! want a fast 200 and send in bursts.

use std::future::Future;

use super::batch::Batcher;
use crate::Result;

const MAX_BATCH: usize = 1000;
/// Statements in flight at once: one being written while the next fills.
const WRITERS: usize = 2;

/// A group-commit writer: per item, whether it was new. Cheap to clone.
pub type GroupCommit<T> = Batcher<T, bool>;

impl<T: Send + 'static> Batcher<T, bool> {
    /// Starts the writers. `write` stores a batch in one transaction and
    /// says, per item in order, whether it was new. `what` is the 503's
    /// detail when the backlog is full (the provider retries).
    pub fn start<F, Fut>(what: &'static str, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<bool>>> + Send + 'static,
    {
        Batcher::new(what, WRITERS, MAX_BATCH, write)
    }

    /// Stores `items`; returns how many were new.
    pub async fn record(&self, items: Vec<T>) -> Result<usize> {
        Ok(self
            .each(items)
            .await?
            .into_iter()
            .filter(|new| *new)
            .count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use std::sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    };

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_share_statements_and_each_gets_its_own_answer() {
        let statements = Arc::new(AtomicUsize::new(0));
        let counted = statements.clone();
        let writer = GroupCommit::start("test backlog is full", move |items: Vec<u32>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(items.iter().map(|i| i % 2 == 0).collect())
            }
        });
        let answers = futures::future::join_all((0..500u32).map(|i| {
            let writer = writer.clone();
            async move { (i, writer.record(vec![i]).await.unwrap()) }
        }))
        .await;
        for (i, new) in answers {
            assert_eq!(new, usize::from(i % 2 == 0), "item {i}");
        }
        let n = statements.load(Ordering::SeqCst);
        assert!(n < 50, "500 items took {n} statements");
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_item_in_it() {
        let writer = GroupCommit::start("full", |_: Vec<u8>| async {
            Err(Error::Internal(anyhow::anyhow!("disk on fire")))
        });
        assert!(matches!(
            writer.record(vec![1, 2]).await,
            Err(Error::Internal(_))
        ));
    }
}

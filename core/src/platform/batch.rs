//! Batching: requests that arrive while one statement runs go into the next
//! statement together, so a burst costs one round trip (and one plan, one
//! commit) per batch instead of per request. Under light load a request is
//! taken at once, alone: batching adds no wait, only sharing.
//!
//! Used for writes (`group_commit`: webhook deliveries, answered only once
//! their batch has committed) and for hot reads (product pages).

use std::{collections::HashMap, future::Future, hash::Hash, pin::Pin, sync::Arc};

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{Error, Result};

type Reply<R> = oneshot::Sender<Result<R>>;
type Run<T, R> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Result<Vec<R>>> + Send>> + Send + Sync>;

/// Items waiting beyond this are refused (503) rather than queued in memory
/// without bound.
const BACKLOG: usize = 8192;

/// A batching runner of statements. Cheap to clone.
pub struct Batcher<T, R> {
    tx: mpsc::Sender<(T, Reply<R>)>,
    what: &'static str,
}

impl<T, R> Clone for Batcher<T, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            what: self.what,
        }
    }
}

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts `runners` tasks, each taking up to `max_batch` waiting items
    /// at a time: one statement runs while the next batch fills. `run`
    /// answers a batch, one result per item in order. `what` is the 503's
    /// detail when the backlog is full.
    pub fn new<F, Fut>(what: &'static str, runners: usize, max_batch: usize, run: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<R>>> + Send + 'static,
    {
        let run: Run<T, R> = Arc::new(move |items| Box::pin(run(items)));
        let (tx, rx) = mpsc::channel(BACKLOG);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..runners.max(1) {
            let (run, rx) = (run.clone(), rx.clone());
            tokio::spawn(async move {
                let mut batch: Vec<(T, Reply<R>)> = Vec::with_capacity(max_batch);
                loop {
                    if rx.lock().await.recv_many(&mut batch, max_batch).await == 0 {
                        return;
                    }
                    let (items, replies): (Vec<T>, Vec<Reply<R>>) = batch.drain(..).unzip();
                    answer(replies, run(items).await);
                }
            });
        }
        Self { tx, what }
    }

    /// `item`'s result, from whichever batch takes it.
    pub async fn one(&self, item: T) -> Result<R> {
        let mut results = self.each(vec![item]).await?;
        Ok(results.remove(0))
    }

    /// Every item's result, in order. All are queued before any is awaited,
    /// so they can share a batch. `Overloaded` when the backlog is full.
    pub async fn each(&self, items: Vec<T>) -> Result<Vec<R>> {
        let mut waiting = Vec::with_capacity(items.len());
        for item in items {
            let (reply, answer) = oneshot::channel();
            self.tx
                .try_send((item, reply))
                .map_err(|_| Error::Overloaded(self.what))?;
            waiting.push(answer);
        }
        let mut results = Vec::with_capacity(waiting.len());
        for answer in waiting {
            // A runner gone (the runtime shutting down) is not our bug.
            results.push(answer.await.map_err(|_| Error::Overloaded(self.what))??);
        }
        Ok(results)
    }
}

/// Hands each item its result; a failed statement fails every item in it,
/// each with the same kind of error (a database away stays a 503).
fn answer<R>(replies: Vec<Reply<R>>, outcome: Result<Vec<R>>) {
    let outcome = outcome.and_then(|results| {
        if results.len() == replies.len() {
            Ok(results)
        } else {
            Err(Error::Internal(anyhow::anyhow!(
                "a batch of {} items gave {} results",
                replies.len(),
                results.len()
            )))
        }
    });
    match outcome {
        Ok(results) => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Err(e) => {
            for reply in replies {
                let copy = e
                    .try_clone()
                    .unwrap_or_else(|| Error::Internal(anyhow::anyhow!("{e:#}")));
                let _ = reply.send(Err(copy));
            }
        }
    }
}

/// A read batch's rows, handed to the requests that asked for them: a row
/// asked for once is moved to its asker, one asked for by several (two
/// visitors of one product in a batch) is copied for all but the last.
pub struct Handout<K, V> {
    rows: HashMap<K, (usize, V)>,
}

impl<K: Hash + Eq, V: Clone> Handout<K, V> {
    /// `rows` by key; `asked` every key asked for, once per asker.
    pub fn new<'a>(
        rows: impl IntoIterator<Item = (K, V)>,
        asked: impl IntoIterator<Item = &'a K>,
    ) -> Self
    where
        K: 'a,
    {
        let mut rows: HashMap<K, (usize, V)> = rows.into_iter().map(|(k, v)| (k, (0, v))).collect();
        for key in asked {
            if let Some((askers, _)) = rows.get_mut(key) {
                *askers += 1;
            }
        }
        Self { rows }
    }

    /// The row for one asker of `key`; `None` when there is none (or every
    /// asker has had it).
    pub fn take(&mut self, key: &K) -> Option<V> {
        let (askers, row) = self.rows.get_mut(key)?;
        if *askers > 1 {
            *askers -= 1;
            Some(row.clone())
        } else {
            self.rows.remove(key).map(|(_, row)| row)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_share_statements_and_each_gets_its_own_result() {
        let statements = Arc::new(AtomicUsize::new(0));
        let counted = statements.clone();
        let doubler = Batcher::new("full", 2, 100, move |items: Vec<u32>| {
            let counted = counted.clone();
            async move {
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok(items.iter().map(|i| i * 2).collect())
            }
        });
        let answers = futures::future::join_all((0..500u32).map(|i| {
            let doubler = doubler.clone();
            async move { (i, doubler.one(i).await.unwrap()) }
        }))
        .await;
        for (i, doubled) in answers {
            assert_eq!(doubled, i * 2, "item {i}");
        }
        let n = statements.load(Ordering::SeqCst);
        assert!(n <= 10, "500 items took {n} statements of at most 100");
    }

    #[tokio::test]
    async fn a_lone_item_is_taken_at_once() {
        let echo = Batcher::new("full", 1, 100, |items: Vec<u8>| async { Ok(items) });
        let answered = tokio::time::timeout(std::time::Duration::from_millis(500), echo.one(7));
        assert_eq!(answered.await.unwrap().unwrap(), 7);
    }

    #[tokio::test]
    async fn a_failed_statement_fails_every_item_in_it_with_its_kind() {
        let away = Batcher::new("full", 1, 100, |_: Vec<u8>| async {
            Err::<Vec<u8>, _>(Error::Overloaded(crate::error::DATABASE_UNAVAILABLE))
        });
        let results = futures::future::join_all((0..5).map(|i| away.one(i))).await;
        assert!(results.iter().all(
            |r| matches!(r, Err(Error::Overloaded(d)) if *d == crate::error::DATABASE_UNAVAILABLE)
        ));

        let broken = Batcher::new("full", 1, 100, |_: Vec<u8>| async {
            Err::<Vec<u8>, _>(Error::Internal(anyhow::anyhow!("disk on fire")))
        });
        match broken.each(vec![1, 2]).await {
            Err(Error::Internal(e)) => assert!(e.to_string().contains("disk on fire")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_handout_gives_each_asker_the_row_and_moves_it_to_the_last() {
        let asked = [1, 2, 1, 3];
        let mut handout = Handout::new([(1, "one".to_owned()), (2, "two".to_owned())], &asked);
        assert_eq!(handout.take(&1).as_deref(), Some("one"));
        assert_eq!(handout.take(&2).as_deref(), Some("two"));
        assert_eq!(handout.take(&1).as_deref(), Some("one"));
        assert_eq!(handout.take(&3), None);
        assert!(
            handout.rows.is_empty(),
            "every row was moved out at its last asker"
        );
    }

    #[tokio::test]
    async fn a_batch_with_too_few_results_fails_instead_of_misanswering() {
        let short = Batcher::new("full", 1, 100, |_: Vec<u8>| async { Ok(vec![1u8]) });
        assert!(matches!(
            short.each(vec![1, 2]).await,
            Err(Error::Internal(_))
        ));
    }
}

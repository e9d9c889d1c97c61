//! Group commit: requests that arrive while one statement is being written
//! go into the next statement together, so a burst costs one round trip and
//! one commit per batch instead of per request. Each caller still gets its
//! answer only after the statement holding its item has committed: nothing
//! is acknowledged before it is durable.
//!
//! Used by the webhooks (payment events, messenger deliveries): providers
//! want a fast 200 and send in bursts.

use std::{future::Future, pin::Pin, sync::Arc};

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{Error, Result};

type Reply = oneshot::Sender<std::result::Result<bool, String>>;
type Write<T> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = Result<Vec<bool>>> + Send>> + Send + Sync>;

/// Items waiting beyond this are refused (503, the provider retries) rather
/// than queued in memory without bound.
const BACKLOG: usize = 8192;
const MAX_BATCH: usize = 1000;
/// Statements in flight at once: one being written while the next fills.
const WRITERS: usize = 2;

/// A group-commit writer. Cheap to clone.
pub struct GroupCommit<T> {
    tx: mpsc::Sender<(T, Reply)>,
    what: &'static str,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            what: self.what,
        }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the writers. `write` stores a batch in one transaction and
    /// says, per item in order, whether it was new.
    pub fn start<F, Fut>(what: &'static str, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Vec<bool>>> + Send + 'static,
    {
        let write: Write<T> = Arc::new(move |items| Box::pin(write(items)));
        let (tx, rx) = mpsc::channel(BACKLOG);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            let (write, rx) = (write.clone(), rx.clone());
            tokio::spawn(async move {
                let mut batch: Vec<(T, Reply)> = Vec::with_capacity(MAX_BATCH);
                loop {
                    if rx.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
                        return;
                    }
                    let (items, replies): (Vec<T>, Vec<Reply>) = batch.drain(..).unzip();
                    let outcome = write(items).await;
                    for (i, reply) in replies.into_iter().enumerate() {
                        let answer = match &outcome {
                            Ok(new) => Ok(new.get(i).copied().unwrap_or(false)),
                            Err(e) => Err(e.to_string()),
                        };
                        let _ = reply.send(answer);
                    }
                }
            });
        }
        Self { tx, what }
    }

    /// Stores `items`; returns how many were new. `Overloaded` when the
    /// backlog is full.
    pub async fn record(&self, items: Vec<T>) -> Result<usize> {
        let mut waiting = Vec::with_capacity(items.len());
        for item in items {
            let (reply, answer) = oneshot::channel();
            self.tx
                .try_send((item, reply))
                .map_err(|_| Error::Overloaded(self.what))?;
            waiting.push(answer);
        }
        let mut new = 0;
        for answer in waiting {
            match answer.await {
                Ok(Ok(true)) => new += 1,
                Ok(Ok(false)) => {}
                Ok(Err(e)) => return Err(Error::Internal(anyhow::anyhow!(e))),
                Err(_) => return Err(Error::Overloaded(self.what)),
            }
        }
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

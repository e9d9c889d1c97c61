//! Reads and status writes of `messages` rows, coalesced: the handlers of
//! a batch (up to the queue's concurrency, all at once) each ask for their
//! message and later record what the provider said; asking one by one
//! would cost PostgreSQL two statements per message. Requests that arrive
//! while a statement runs go into the next one, so a batch of 16 messages
//! costs a couple of statements, and a lone message is not delayed.

use bazaar_core::messaging::messages::{self, Advance, Sending};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

type Reply<T> = oneshot::Sender<Result<T, String>>;

#[derive(Clone)]
pub struct MessageStore {
    loads: mpsc::Sender<(Uuid, Reply<Option<Sending>>)>,
    writes: mpsc::Sender<(Advance, Reply<()>)>,
}

const MAX_BATCH: usize = 512;

impl MessageStore {
    pub fn start(pool: PgPool) -> Self {
        let (loads, mut load_rx) = mpsc::channel::<(Uuid, Reply<Option<Sending>>)>(4096);
        let (writes, mut write_rx) = mpsc::channel::<(Advance, Reply<()>)>(4096);
        let reader = pool.clone();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while load_rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let ids: Vec<Uuid> = batch.iter().map(|(id, _)| *id).collect();
                match messages::load_sending(&reader, &ids).await {
                    Ok(rows) => {
                        for (id, reply) in batch.drain(..) {
                            let row = rows.iter().find(|r| r.message.id == id).cloned();
                            let _ = reply.send(Ok(row));
                        }
                    }
                    Err(e) => {
                        for (_, reply) in batch.drain(..) {
                            let _ = reply.send(Err(format!("{e:#}")));
                        }
                    }
                }
            }
        });
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while write_rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let changes: Vec<Advance> = batch.iter().map(|(a, _)| a.clone()).collect();
                let outcome = messages::advance_many(&pool, &changes)
                    .await
                    .map_err(|e| format!("{e:#}"));
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(outcome.clone());
                }
            }
        });
        Self { loads, writes }
    }

    pub async fn load(&self, id: Uuid) -> Result<Option<Sending>, String> {
        let (reply, answer) = oneshot::channel();
        self.loads
            .send((id, reply))
            .await
            .map_err(|_| "message store stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "message store stopped".to_owned())?
    }

    pub async fn advance(&self, change: Advance) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        self.writes
            .send((change, reply))
            .await
            .map_err(|_| "message store stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "message store stopped".to_owned())?
    }
}

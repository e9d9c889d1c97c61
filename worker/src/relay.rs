//! The outbox relay: moves committed outbox rows into their apalis-redis queue.
//!
//! It wakes on `NOTIFY bazaar_outbox` (sent by a trigger on insert) and also
//! polls, so a lost notification only costs one poll interval. It is the only
//! producer of Redis tasks and feeds a queue only while that queue's Redis
//! backlog is under `OUTBOX_BACKLOG_CAP`: apalis-redis promotes due tasks with a
//! single Lua `unpack`, which fails past ~8,000 ids and would kill every worker.
//! A large backlog therefore waits in PostgreSQL, durably, not in Redis.
//! Several relays (one per worker process) share the work via SKIP LOCKED.

use std::{sync::Arc, time::Duration};

use apalis::prelude::TaskSink;
use apalis_redis::RedisStorage;
use bazaar_core::{jobs::Queue, outbox, queue_keys, redis_conn};
use redis::aio::ConnectionManager;
use sqlx::postgres::PgListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{jobs, Deps, JobEnvelope};

const NOTIFY_CHANNEL: &str = "bazaar_outbox";
const BUSY_PAUSE: Duration = Duration::from_millis(5);

struct Lane {
    queue: Queue,
    name: String,
    storage: RedisStorage<JobEnvelope>,
}

pub async fn run(deps: Arc<Deps>, shutdown: CancellationToken) -> anyhow::Result<()> {
    let config = &deps.config;
    let pipeline = &config.pipeline;
    let Some(mut redis) = connect_until_cancelled(&deps, &shutdown).await else {
        return Ok(());
    };
    let mut lanes: Vec<Lane> = jobs::queues()
        .into_iter()
        .map(|queue| {
            let name = queue_keys::queue_name(&config.redis_prefix, queue.as_str());
            let storage = RedisStorage::new(redis.clone()).with_config(
                crate::storage_config::base(&config.redis_prefix, &name).emit_events(false),
            );
            Lane {
                queue,
                name,
                storage,
            }
        })
        .collect();
    let mut listener = listen(&deps).await;
    let mut next_stats = Instant::now();
    let mut errors = ErrorLog::default();

    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let mut busy = false;
        for lane in &mut lanes {
            match relay_lane(&deps, &mut redis, lane).await {
                Ok(LaneState::Idle) => {}
                Ok(LaneState::Moved(n)) => busy |= n > 0,
                Ok(LaneState::Full) => busy = true,
                Err(e) => errors.log(&format!("relaying {}: {e:#}", lane.queue)),
            }
        }
        if Instant::now() >= next_stats {
            next_stats = Instant::now() + Duration::from_secs(1);
            if let Ok(lag) = outbox::lag(&deps.pool).await {
                metrics::gauge!("bazaar_outbox_pending").set(lag.pending as f64);
                metrics::gauge!("bazaar_outbox_lag_seconds").set(lag.lag_seconds);
            }
        }
        let pause = if busy {
            BUSY_PAUSE
        } else {
            pipeline.relay_poll_interval
        };
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(pause) => {}
            woke = recv(&mut listener), if listener.is_some() && !busy => {
                if !woke {
                    listener = listen(&deps).await;
                }
            }
        }
    }
}

enum LaneState {
    Idle,
    Moved(usize),
    /// The Redis backlog is at the cap: rows wait in PostgreSQL.
    Full,
}

async fn relay_lane(
    deps: &Deps,
    redis: &mut ConnectionManager,
    lane: &mut Lane,
) -> anyhow::Result<LaneState> {
    // One relay per queue at a time (a session advisory lock, released when
    // done or when the process dies), so the backlog check and the push are
    // atomic across worker processes and the cap holds with any number of them.
    let mut conn = deps.pool.acquire().await?;
    let key = lane_lock_key(&deps.config.redis_prefix, lane.queue);
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(LaneState::Idle);
    }
    let result = relay_locked(deps, &mut conn, redis, lane).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await;
    if unlocked.is_err() {
        // The lock must not outlive this attempt: drop the session with it.
        conn.detach();
    }
    result
}

fn lane_lock_key(prefix: &str, queue: Queue) -> i64 {
    // Stable across processes and versions: FNV-1a of "<prefix>:relay:<queue>".
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{prefix}:relay:{queue}").bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

async fn relay_locked(
    deps: &Deps,
    conn: &mut sqlx::PgConnection,
    redis: &mut ConnectionManager,
    lane: &mut Lane,
) -> anyhow::Result<LaneState> {
    let pipeline = &deps.config.pipeline;
    let backlog = queue_keys::backlog(redis, &lane.name).await?;
    metrics::gauge!("bazaar_queue_depth", "queue" => lane.queue.as_str()).set(backlog as f64);
    let room = pipeline.relay_backlog_cap.saturating_sub(backlog);
    if room == 0 {
        return Ok(LaneState::Full);
    }
    let limit = (room as i64).min(pipeline.relay_batch_size);
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    let due = outbox::claim_due(&mut tx, lane.queue, limit, pipeline.redeliver_after).await?;
    if due.is_empty() {
        tx.rollback().await?;
        return Ok(LaneState::Idle);
    }
    // Commit the claim before pushing: a worker that picks a task up at once
    // must find the row unlocked (a locked row means "running elsewhere").
    tx.commit().await?;
    let moved = due.len();
    let ids: Vec<_> = due.iter().map(|d| d.id).collect();
    let envelopes = due
        .into_iter()
        .map(|d| JobEnvelope {
            id: d.id,
            kind: d.kind,
        })
        .collect();
    if let Err(e) = lane.storage.push_bulk(envelopes).await {
        // Make them due again now rather than after the redelivery timeout. If
        // even that fails, redelivery still picks them up: nothing is lost.
        if let Err(reset) = outbox::make_due_now(conn, &ids).await {
            tracing::warn!(error = %reset, "could not reset claimed rows; they will be redelivered later");
        }
        anyhow::bail!("pushing to Redis: {e}");
    }
    Ok(LaneState::Moved(moved))
}

async fn connect_until_cancelled(
    deps: &Deps,
    shutdown: &CancellationToken,
) -> Option<ConnectionManager> {
    let config = &deps.config;
    let mut errors = ErrorLog::default();
    loop {
        match redis_conn::connect(&config.redis_url, config.redis_response_timeout).await {
            Ok(conn) => return Some(conn),
            Err(e) => errors.log(&format!("relay: {e:#}")),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn listen(deps: &Deps) -> Option<PgListener> {
    let result = async {
        let mut listener = PgListener::connect_with(&deps.pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok::<_, sqlx::Error>(listener)
    }
    .await;
    match result {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "relay cannot LISTEN; polling only until it can");
            None
        }
    }
}

/// Waits for a notification; false when the listener broke.
async fn recv(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => l.try_recv().await.map(|n| n.is_some()).unwrap_or(false),
        None => std::future::pending().await,
    }
}

/// Logs a repeating error once per 10 s instead of once per loop.
#[derive(Default)]
struct ErrorLog {
    last: Option<(String, Instant)>,
}

impl ErrorLog {
    fn log(&mut self, message: &str) {
        let now = Instant::now();
        let repeat = matches!(&self.last, Some((m, at)) if m == message && now - *at < Duration::from_secs(10));
        if !repeat {
            tracing::warn!(error = message, "outbox relay");
            self.last = Some((message.to_owned(), now));
        }
    }
}

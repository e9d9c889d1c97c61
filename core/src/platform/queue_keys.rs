//! Names of the apalis-redis keys bazaar reads directly (backlog, clean-up).
//! The queue name is `<REDIS_PREFIX>:<queue>`, so every key bazaar writes is
//! under its prefix.

pub fn queue_name(prefix: &str, queue: &str) -> String {
    format!("{prefix}:{queue}")
}

/// The sorted set in which apalis-redis workers register their queues
/// (a fixed global key upstream; see patches/apalis-redis/PATCH.md).
pub fn queue_registry(prefix: &str) -> String {
    format!("{prefix}:apalis:queues:list")
}

pub fn active_list(queue_name: &str) -> String {
    format!("{queue_name}:active")
}

pub fn scheduled_set(queue_name: &str) -> String {
    format!("{queue_name}:scheduled")
}

pub fn done_set(queue_name: &str) -> String {
    format!("{queue_name}:done")
}

pub fn dead_set(queue_name: &str) -> String {
    format!("{queue_name}:dead")
}

/// Tasks waiting in Redis for a worker: the active list plus delayed tasks.
pub async fn backlog(
    conn: &mut redis::aio::ConnectionManager,
    queue_name: &str,
) -> redis::RedisResult<u64> {
    let (active, scheduled): (u64, u64) = redis::pipe()
        .llen(active_list(queue_name))
        .zcard(scheduled_set(queue_name))
        .query_async(conn)
        .await?;
    Ok(active + scheduled)
}

pub fn workers_set(queue_name: &str) -> String {
    format!("{queue_name}:workers")
}

fn inflight_set(queue_name: &str, worker: &str) -> String {
    format!("{queue_name}:inflight:{worker}")
}

/// Tasks fetched by live workers of the queue and not yet acknowledged.
pub async fn inflight(
    conn: &mut redis::aio::ConnectionManager,
    queue_name: &str,
) -> redis::RedisResult<u64> {
    let workers: Vec<String> = redis::cmd("ZRANGE")
        .arg(workers_set(queue_name))
        .arg(0)
        .arg(-1)
        .query_async(conn)
        .await?;
    if workers.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for w in &workers {
        pipe.scard(inflight_set(queue_name, w));
    }
    let counts: Vec<u64> = pipe.query_async(conn).await?;
    Ok(counts.into_iter().sum())
}

/// Forgets workers last seen before `cutoff` (unix seconds) whose in-flight
/// set is empty. Every worker start registers a new name, so without this the
/// registry and its metadata keys would grow with every restart.
pub async fn forget_stale_workers(
    conn: &mut redis::aio::ConnectionManager,
    queue_name: &str,
    cutoff: i64,
) -> redis::RedisResult<u64> {
    let stale: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(workers_set(queue_name))
        .arg(0)
        .arg(cutoff)
        .query_async(conn)
        .await?;
    let mut forgotten = 0;
    for worker in stale {
        let inflight: u64 = redis::cmd("SCARD")
            .arg(inflight_set(queue_name, &worker))
            .query_async(conn)
            .await?;
        if inflight == 0 {
            redis::pipe()
                .zrem(workers_set(queue_name), &worker)
                .del(format!("{queue_name}:workers:metadata:{worker}"))
                .query_async::<()>(conn)
                .await?;
            forgotten += 1;
        }
    }
    Ok(forgotten)
}

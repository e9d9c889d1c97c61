//! Names of the apalis-redis keys bazaar reads directly (backlog, clean-up).
//! The queue name is `<REDIS_PREFIX>:<queue>`, so every key bazaar writes is
//! under its prefix.

pub fn queue_name(prefix: &str, queue: &str) -> String {
    format!("{prefix}:{queue}")
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

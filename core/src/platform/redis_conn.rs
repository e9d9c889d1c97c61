//! Redis connections. redis-rs's ConnectionManager answers with an error after
//! 500 ms by default; apalis-redis treats any error as fatal for a worker, so a
//! brief stall would stop it. The response timeout is raised and configurable.

use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::mask_url;

pub async fn connect(url: &str, response_timeout: Duration) -> anyhow::Result<ConnectionManager> {
    let client =
        redis::Client::open(url).with_context(|| format!("invalid REDIS_URL {}", mask_url(url)))?;
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(response_timeout))
        .set_connection_timeout(Some(Duration::from_secs(3)))
        .set_number_of_retries(2)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_with_config(client, config)
        .await
        .with_context(|| {
            format!(
                "cannot connect to Redis at {} (is it running? start it with `redis-server --daemonize yes`, or set REDIS_URL)",
                mask_url(url)
            )
        })
}

pub async fn ping(conn: &mut ConnectionManager) -> redis::RedisResult<()> {
    redis::cmd("PING")
        .query_async::<String>(conn)
        .await
        .map(|_| ())
}

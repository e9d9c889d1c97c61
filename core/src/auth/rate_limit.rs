//! Fixed-window counters in Redis. With Redis unavailable or slow (no answer
//! within `WAIT`) the limiter fails open (the request goes through) and logs
//! it: availability of login beats strict limiting during a Redis outage.

use std::time::Duration;

use redis::aio::ConnectionManager;

const WAIT: Duration = Duration::from_millis(250);

async fn bounded<T>(
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(WAIT, f).await.unwrap_or_else(|_| {
        Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "no answer within 250 ms",
        )))
    })
}

#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    prefix: String,
}

pub struct Limited {
    pub retry_after_secs: u64,
}

impl RateLimiter {
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: format!("{prefix}:ratelimit"),
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// Counts one hit; `Err` when this hit exceeds `limit` within `window`.
    pub async fn hit(&self, name: &str, limit: u64, window: Duration) -> Result<(), Limited> {
        let key = self.key(name);
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<(u64, i64)> = bounded(
            redis::pipe()
                .atomic()
                .incr(&key, 1u64)
                .cmd("EXPIRE")
                .arg(&key)
                .arg(window.as_secs().max(1))
                .arg("NX")
                .ignore()
                .ttl(&key)
                .query_async(&mut conn),
        )
        .await;
        match result {
            Ok((count, ttl)) if count > limit => Err(Limited {
                retry_after_secs: ttl.max(1) as u64,
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, limiter = name, "rate limiter unavailable; allowing request");
                Ok(())
            }
        }
    }

    /// Whether `name` has already reached `limit` (without counting a hit).
    pub async fn check(&self, name: &str, limit: u64) -> Result<(), Limited> {
        let key = self.key(name);
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<(Option<u64>, i64)> =
            bounded(redis::pipe().get(&key).ttl(&key).query_async(&mut conn)).await;
        match result {
            Ok((Some(count), ttl)) if count >= limit => Err(Limited {
                retry_after_secs: ttl.max(1) as u64,
            }),
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, limiter = name, "rate limiter unavailable; allowing request");
                Ok(())
            }
        }
    }

    /// Counts a hit without judging it (e.g. a failed login).
    pub async fn record(&self, name: &str, window: Duration) {
        let _ = self.hit(name, u64::MAX, window).await;
    }

    pub async fn reset(&self, name: &str) {
        let mut conn = self.conn.clone();
        if let Err(e) = bounded(
            redis::cmd("DEL")
                .arg(self.key(name))
                .query_async::<()>(&mut conn),
        )
        .await
        {
            tracing::warn!(error = %e, limiter = name, "could not reset rate limit");
        }
    }
}

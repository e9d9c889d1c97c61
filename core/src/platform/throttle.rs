//! Rate limits shared by every process: sliding one-window counters in
//! Redis, checked and taken in one Lua script on Redis's clock, so two
//! workers on two machines never send more than the provider allows
//! together (teloxide's `Throttle` adaptor limits one process only).
//!
//! A send takes a slot in each of its windows (per chat and overall) or in
//! none; when one is full the caller learns how long until a slot frees.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// At most `limit` events in any `window`.
#[derive(Debug, Clone)]
pub struct Window {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
}

const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[2 * i - 1])
    local window = tonumber(ARGV[2 * i])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    local n = redis.call('ZCARD', key)
    if n >= limit then
        local oldest = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
        local w = tonumber(oldest[2]) + window - now
        if w < 1 then w = 1 end
        if w > wait then wait = w end
    end
end
if wait > 0 then return wait end
local member = ARGV[#ARGV]
for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, tonumber(ARGV[2 * i]) + 1000)
end
return 0
";

#[derive(Clone)]
pub struct Throttle {
    redis: ConnectionManager,
    script: std::sync::Arc<redis::Script>,
}

impl Throttle {
    pub fn new(redis: ConnectionManager) -> Self {
        Self {
            redis,
            script: std::sync::Arc::new(redis::Script::new(SCRIPT)),
        }
    }

    /// Takes a slot in every window, or in none and says how long to wait.
    pub async fn try_take(&self, windows: &[Window]) -> redis::RedisResult<Option<Duration>> {
        let mut invocation = self.script.prepare_invoke();
        for w in windows {
            invocation
                .key(&w.key)
                .arg(w.limit)
                .arg(w.window.as_millis() as u64);
        }
        invocation.arg(uuid::Uuid::now_v7().to_string());
        let wait_ms: u64 = invocation.invoke_async(&mut self.redis.clone()).await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    /// Waits for a slot for at most `patience`; `Err(wait)` when it would
    /// take longer (the caller retries the job after `wait`).
    pub async fn take(&self, windows: &[Window], patience: Duration) -> Result<(), TakeError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match self.try_take(windows).await.map_err(TakeError::Redis)? {
                None => return Ok(()),
                Some(wait) => {
                    if tokio::time::Instant::now() + wait > deadline {
                        return Err(TakeError::Busy(wait));
                    }
                    // A little jitter, so waiters do not all ask again at once.
                    let jitter = Duration::from_millis(rand::random::<u64>() % 20);
                    tokio::time::sleep(wait + jitter).await;
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TakeError {
    #[error("rate limit reached; a slot frees in {0:?}")]
    Busy(Duration),
    #[error("rate limiter unavailable: {0}")]
    Redis(redis::RedisError),
}

//! Rate limits shared by every process, in Redis, on Redis's clock, so two
//! workers on two machines never send more than the provider allows
//! together (teloxide's `Throttle` adaptor limits one process only).
//!
//! Each window is a GCRA (generic cell rate algorithm) meter without burst:
//! "at most `limit` in any `window`" becomes one slot every
//! `window / limit`, which no sliding window of that length can catch
//! exceeding the limit (a burst of `limit` followed by the steady rate
//! could: up to twice the limit within one window). A caller reserves the earliest moment every one of its
//! windows allows, in one Lua script, and waits until then: no polling, and
//! a thousand waiting senders cost a thousand script calls, not a thousand
//! per freed slot. A reservation further away than the caller's patience is
//! not taken; the caller learns how long it would have been.

use std::time::Duration;

use redis::aio::ConnectionManager;

/// At most `limit` events in any `window`.
#[derive(Debug, Clone)]
pub struct Window {
    pub key: String,
    pub limit: u32,
    pub window: Duration,
}

// KEYS: one per window. ARGV: limit and window (ms) per window, then the
// longest acceptable wait (ms). Returns the wait (ms) of the reservation
// taken, or -(wait) when that is beyond the patience (nothing taken).
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local at = now
local tats = {}
for i, key in ipairs(KEYS) do
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    tats[i] = tat
    if tat > at then at = tat end
end
local wait = math.ceil(at - now)
if wait > tonumber(ARGV[#ARGV]) then return -wait end
for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[2 * i - 1])
    local window = tonumber(ARGV[2 * i])
    local tat = tats[i]
    if tat < at then tat = at end
    tat = tat + window / limit
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.ceil(tat - now + window))
end
return wait
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

    /// Reserves the earliest moment every window allows, if it is within
    /// `patience`; returns how long to wait for it, or `Err(wait)` (nothing
    /// reserved) when that is further.
    pub async fn reserve(
        &self,
        windows: &[Window],
        patience: Duration,
    ) -> redis::RedisResult<Result<Duration, Duration>> {
        let mut invocation = self.script.prepare_invoke();
        for w in windows {
            invocation
                .key(&w.key)
                .arg(w.limit.max(1))
                .arg(w.window.as_millis() as u64);
        }
        invocation.arg(patience.as_millis() as u64);
        let wait_ms: i64 = invocation.invoke_async(&mut self.redis.clone()).await?;
        Ok(if wait_ms >= 0 {
            Ok(Duration::from_millis(wait_ms as u64))
        } else {
            Err(Duration::from_millis(wait_ms.unsigned_abs()))
        })
    }

    /// Waits for a slot for at most `patience`; `Err(Busy(wait))` when the
    /// earliest would be later (the caller retries the job after `wait`).
    pub async fn take(&self, windows: &[Window], patience: Duration) -> Result<(), TakeError> {
        match self
            .reserve(windows, patience)
            .await
            .map_err(TakeError::Redis)?
        {
            Ok(wait) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(())
            }
            Err(wait) => Err(TakeError::Busy(wait)),
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

//! What every provider client reads from an HTTP answer the same way.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// `Retry-After` in seconds (the HTTP-date form is used by none of our
/// providers); `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

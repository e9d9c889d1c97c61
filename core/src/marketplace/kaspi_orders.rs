//! Kaspi's orders in bazaar's terms: what each Kaspi status means for our
//! order (`stage`), and the creation-date windows a pull walks (Kaspi lists
//! by creation date only, at most 14 days per call, in milliseconds).

use serde::{Deserialize, Serialize};

use super::import::Stage;

/// `status` and `state` as Kaspi reports them.
pub fn stage(status: &str, state: &str) -> Stage {
    match status {
        // SIGN_REQUIRED: the buyer has yet to sign; hold, do not accept.
        "APPROVED_BY_BANK" if state == "SIGN_REQUIRED" => Stage::Waiting,
        "APPROVED_BY_BANK" => Stage::New,
        "ACCEPTED_BY_MERCHANT" => Stage::Accepted,
        "COMPLETED" => Stage::Completed,
        "CANCELLED" | "CANCELLING" => Stage::Cancelled,
        "RETURNED" => Stage::Returned,
        // KASPI_DELIVERY_RETURN_REQUESTED, RETURN_ACCEPTED_BY_MERCHANT and
        // anything new: a person decides.
        _ => Stage::Other,
    }
}

/// Where the next pull starts: the creation date (ms) up to which every
/// order has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub read_until_ms: i64,
}

/// The `[ge, le]` windows from `since_ms` to `now_ms`, each at most
/// `window_ms` long and none overlapping.
pub fn windows(since_ms: i64, now_ms: i64, window_ms: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut start = since_ms;
    while start <= now_ms {
        let end = (start + window_ms - 1).min(now_ms);
        out.push((start, end));
        start = end + 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_stages() {
        assert_eq!(stage("APPROVED_BY_BANK", "NEW"), Stage::New);
        assert_eq!(stage("APPROVED_BY_BANK", "SIGN_REQUIRED"), Stage::Waiting);
        assert_eq!(stage("ACCEPTED_BY_MERCHANT", "PICKUP"), Stage::Accepted);
        assert_eq!(stage("COMPLETED", "ARCHIVE"), Stage::Completed);
        assert_eq!(stage("CANCELLING", "PICKUP"), Stage::Cancelled);
        assert_eq!(stage("CANCELLED", "ARCHIVE"), Stage::Cancelled);
        assert_eq!(stage("RETURNED", "ARCHIVE"), Stage::Returned);
        assert_eq!(
            stage("KASPI_DELIVERY_RETURN_REQUESTED", "KASPI_DELIVERY"),
            Stage::Other
        );
    }

    #[test]
    fn windows_cover_the_span_without_gaps_or_overlap() {
        let day = 86_400_000;
        let w = windows(0, 30 * day, 13 * day);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0], (0, 13 * day - 1));
        assert_eq!(w[1].0, 13 * day);
        assert_eq!(w[2].1, 30 * day);
        for pair in w.windows(2) {
            assert_eq!(pair[0].1 + 1, pair[1].0);
        }
        assert!(w.iter().all(|(a, b)| b - a < 14 * day));
        assert_eq!(windows(5, 5, day), vec![(5, 5)]);
        assert!(windows(6, 5, day).is_empty());
    }
}

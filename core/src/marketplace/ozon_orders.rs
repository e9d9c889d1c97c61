//! Ozon's FBS postings in bazaar's terms: what each posting status means
//! for our order, and where the next pull resumes (the last status change
//! it has read, UTC).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::import::Stage;

pub fn stage(status: &str) -> Stage {
    match status {
        // Not yet the seller's to pack, but sold: hold the units.
        "awaiting_registration" | "acceptance_in_progress" | "awaiting_approve" => Stage::Waiting,
        "awaiting_packaging" => Stage::New,
        "awaiting_deliver" => Stage::Accepted,
        "delivering" | "driver_pickup" | "sent_by_seller" => Stage::Shipped,
        "delivered" => Stage::Completed,
        "cancelled" | "cancelled_from_split_pending" | "not_accepted" => Stage::Cancelled,
        // arbitration, client_arbitration, anything new: a person decides.
        _ => Stage::Other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Status changes up to here have been read.
    pub changed_until: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_stages() {
        assert_eq!(stage("awaiting_packaging"), Stage::New);
        assert_eq!(stage("awaiting_approve"), Stage::Waiting);
        assert_eq!(stage("awaiting_deliver"), Stage::Accepted);
        assert_eq!(stage("delivering"), Stage::Shipped);
        assert_eq!(stage("delivered"), Stage::Completed);
        assert_eq!(stage("cancelled"), Stage::Cancelled);
        assert_eq!(stage("arbitration"), Stage::Other);
    }
}

//! The order's states as types, and the state machine of ARCHITECTURE.md as
//! a pure function: who may move an order from which status to which. What a
//! move does to payment and stock is in `transitions`.
//!
//! Each state is a `text` column with a CHECK constraint; the enums map to it
//! with `sqlx::Type`, so a value the enum does not know fails to decode
//! instead of turning into a default.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

names!(OrderStatus {
    Pending => "pending",
    Paid => "paid",
    Confirmed => "confirmed",
    Shipped => "shipped",
    Delivered => "delivered",
    Cancelled => "cancelled",
    Refunded => "refunded",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PaymentMethod {
    Stripe,
    Kaspi,
    CashOnDelivery,
    /// A marketplace (Kaspi.kz, Ozon) took the buyer's money and settles
    /// with the shop: nothing for bazaar to capture or give back. Only
    /// imported orders have it; checkout refuses it.
    Marketplace,
}

names!(PaymentMethod {
    Stripe => "stripe",
    Kaspi => "kaspi",
    CashOnDelivery => "cash_on_delivery",
    Marketplace => "marketplace",
});

impl PaymentMethod {
    /// Paid online before the shop confirms.
    pub fn is_prepaid(self) -> bool {
        self != PaymentMethod::CashOnDelivery
    }
}

/// Where the order's money stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for an online payment.
    Pending,
    Paid,
    /// The provider reported a failed attempt; the customer may try again.
    Failed,
    Refunded,
    /// Cash on delivery: paid when delivered.
    OnDelivery,
}

names!(PaymentStatus {
    Pending => "pending",
    Paid => "paid",
    Failed => "failed",
    Refunded => "refunded",
    OnDelivery => "on_delivery",
});

/// Where the order's units stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum StockState {
    /// Held in `variants.reserved`.
    Reserved,
    /// Taken out of `variants.stock` (confirmed).
    Deducted,
    /// Given back (cancelled, expired, refunded).
    Released,
}

names!(StockState {
    Reserved => "reserved",
    Deducted => "deducted",
    Released => "released",
});

/// Where the order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum OrderSource {
    Web,
    Kaspi,
    Ozon,
}

names!(OrderSource {
    Web => "web",
    Kaspi => "kaspi",
    Ozon => "ozon",
});

/// Who asks for a transition; decides what is allowed beyond the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mover {
    Customer,
    Vendor,
    Admin,
    /// Payment providers' events and the scheduler.
    System,
}

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not an edge of the state machine (409).
    Illegal,
    /// An edge, but not for this mover (403).
    NotYours,
}

/// Whether `mover` may move an order paid by `method` from `from` to `to`.
pub fn check(
    from: OrderStatus,
    to: OrderStatus,
    method: PaymentMethod,
    mover: Mover,
) -> Result<(), Refusal> {
    use OrderStatus::*;
    // Payments are the providers' to report and money goes back through
    // admins: a vendor asking for either is refused, whatever the order's
    // state (so a cash order is a 403 too, not a 409).
    if mover == Mover::Vendor && matches!(to, Paid | Refunded) {
        return Err(Refusal::NotYours);
    }
    let edge = match (from, to) {
        (Pending, Paid) => method.is_prepaid(),
        // Cash on delivery is confirmed without being paid first.
        (Pending, Confirmed) => !method.is_prepaid(),
        (Pending, Cancelled) | (Paid, Confirmed) | (Paid, Cancelled) | (Paid, Refunded) => true,
        (Confirmed, Shipped) | (Confirmed, Cancelled) => true,
        (Shipped, Delivered) => true,
        (Delivered, Refunded) | (Cancelled, Refunded) => true,
        _ => false,
    };
    if !edge {
        return Err(Refusal::Illegal);
    }
    // A customer's cancel that comes too late is a conflict with the
    // order's state, not a permission problem.
    if mover == Mover::Customer && to == Cancelled && !matches!(from, Pending | Paid) {
        return Err(Refusal::Illegal);
    }
    let allowed = match mover {
        Mover::System | Mover::Admin => true,
        // Payments are the providers' to report; money goes back through admins.
        // Cancelling a confirmed order is the shop's (admin's) decision.
        Mover::Vendor => !(matches!(to, Paid | Refunded) || (from == Confirmed && to == Cancelled)),
        Mover::Customer => to == Cancelled && matches!(from, Pending | Paid),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::NotYours)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn the_happy_paths_are_edges() {
        let card = PaymentMethod::Stripe;
        for (a, b) in [
            (Pending, Paid),
            (Paid, Confirmed),
            (Confirmed, Shipped),
            (Shipped, Delivered),
        ] {
            assert_eq!(check(a, b, card, Mover::Admin), Ok(()), "{a:?} -> {b:?}");
        }
        assert_eq!(
            check(
                Pending,
                Confirmed,
                PaymentMethod::CashOnDelivery,
                Mover::Vendor
            ),
            Ok(())
        );
    }

    #[test]
    fn everything_off_the_graph_is_illegal_for_everyone() {
        let legal = [
            (Pending, Paid),
            (Pending, Confirmed),
            (Pending, Cancelled),
            (Paid, Confirmed),
            (Paid, Cancelled),
            (Paid, Refunded),
            (Confirmed, Shipped),
            (Confirmed, Cancelled),
            (Shipped, Delivered),
            (Delivered, Refunded),
            (Cancelled, Refunded),
        ];
        for &a in OrderStatus::ALL {
            for &b in OrderStatus::ALL {
                if legal.contains(&(a, b)) {
                    continue;
                }
                for m in [PaymentMethod::Stripe, PaymentMethod::CashOnDelivery] {
                    assert_eq!(
                        check(a, b, m, Mover::System),
                        Err(Refusal::Illegal),
                        "{a:?} -> {b:?}"
                    );
                }
            }
        }
        assert_eq!(
            check(Pending, Confirmed, PaymentMethod::Kaspi, Mover::Admin),
            Err(Refusal::Illegal),
            "prepaid orders are paid before they are confirmed"
        );
        assert_eq!(
            check(Pending, Paid, PaymentMethod::CashOnDelivery, Mover::Admin),
            Err(Refusal::Illegal)
        );
    }

    #[test]
    fn customers_only_cancel_before_confirmation_and_vendors_never_touch_money() {
        let card = PaymentMethod::Stripe;
        assert_eq!(check(Pending, Cancelled, card, Mover::Customer), Ok(()));
        assert_eq!(check(Paid, Cancelled, card, Mover::Customer), Ok(()));
        assert_eq!(
            check(Confirmed, Cancelled, card, Mover::Customer),
            Err(Refusal::Illegal)
        );
        assert_eq!(
            check(Paid, Confirmed, card, Mover::Customer),
            Err(Refusal::NotYours)
        );
        assert_eq!(
            check(Pending, Paid, card, Mover::Vendor),
            Err(Refusal::NotYours)
        );
        assert_eq!(
            check(Paid, Refunded, card, Mover::Vendor),
            Err(Refusal::NotYours)
        );
        // Whatever the order's state or method, money is not the vendor's.
        for &from in OrderStatus::ALL {
            for m in [PaymentMethod::CashOnDelivery, PaymentMethod::Kaspi] {
                for to in [Paid, Refunded] {
                    assert_eq!(
                        check(from, to, m, Mover::Vendor),
                        Err(Refusal::NotYours),
                        "{from:?} -> {to:?} by {m:?}"
                    );
                }
            }
        }
        assert_eq!(check(Confirmed, Shipped, card, Mover::Vendor), Ok(()));
        assert_eq!(
            check(Confirmed, Cancelled, card, Mover::Vendor),
            Err(Refusal::NotYours)
        );
    }

    #[test]
    fn state_names_round_trip_and_unknown_names_are_refused() {
        fn round_trip<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            name: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &x in all {
                assert_eq!(parse(name(x)), Some(x));
                // serde and sqlx use the same names (snake_case).
            }
            assert_eq!(parse("unknown"), None);
            assert_eq!(parse(""), None);
        }
        round_trip(OrderStatus::ALL, OrderStatus::as_str, OrderStatus::parse);
        round_trip(
            PaymentMethod::ALL,
            PaymentMethod::as_str,
            PaymentMethod::parse,
        );
        round_trip(
            PaymentStatus::ALL,
            PaymentStatus::as_str,
            PaymentStatus::parse,
        );
        round_trip(StockState::ALL, StockState::as_str, StockState::parse);
        round_trip(OrderSource::ALL, OrderSource::as_str, OrderSource::parse);
        assert_eq!(
            serde_json::to_value(PaymentStatus::OnDelivery).unwrap(),
            serde_json::json!("on_delivery")
        );
        assert_eq!(
            serde_json::to_value(PaymentMethod::CashOnDelivery).unwrap(),
            serde_json::json!("cash_on_delivery")
        );
    }
}

//! The order state machine of ARCHITECTURE.md, as a pure function: who may
//! move an order from which status to which.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    Confirmed,
    Shipped,
    Delivered,
    Cancelled,
    Refunded,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 7] = [
        OrderStatus::Pending,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Paid => "paid",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Stripe,
    Kaspi,
    CashOnDelivery,
}

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Stripe => "stripe",
            PaymentMethod::Kaspi => "kaspi",
            PaymentMethod::CashOnDelivery => "cash_on_delivery",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentMethod> {
        [
            PaymentMethod::Stripe,
            PaymentMethod::Kaspi,
            PaymentMethod::CashOnDelivery,
        ]
        .into_iter()
        .find(|m| m.as_str() == s)
    }

    /// Paid online before the shop confirms.
    pub fn is_prepaid(self) -> bool {
        self != PaymentMethod::CashOnDelivery
    }
}

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
        for a in OrderStatus::ALL {
            for b in OrderStatus::ALL {
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
        assert_eq!(check(Confirmed, Shipped, card, Mover::Vendor), Ok(()));
        assert_eq!(
            check(Confirmed, Cancelled, card, Mover::Vendor),
            Err(Refusal::NotYours)
        );
    }
}

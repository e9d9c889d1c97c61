//! What a status change does to the order's stock and money, as pure
//! functions of the order's states: the tables the workflow (`workflow`)
//! and the payment columns' writer (`order_payment`) act on. The state
//! machine itself (who may move where) is `status::check`.

use super::{
    inventory::Movement,
    status::{Mover, OrderStatus, PaymentMethod, PaymentStatus, StockState},
};

/// How the order's units move when it becomes `to`, and the state they end
/// in; `None` when they stay where they are.
pub fn stock_effect(to: OrderStatus, stock: StockState) -> Option<(Movement, StockState)> {
    use OrderStatus::*;
    match (to, stock) {
        (Confirmed, StockState::Reserved) => Some((Movement::Deduct, StockState::Deducted)),
        (Cancelled, StockState::Reserved) => Some((Movement::Release, StockState::Released)),
        (Cancelled, StockState::Deducted) => Some((Movement::Restock, StockState::Released)),
        // Refunded before confirmation: the goods never left.
        (Refunded, StockState::Reserved) => Some((Movement::Release, StockState::Released)),
        _ => None,
    }
}

/// The order's payment as the transition finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment {
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// A provider payment (Stripe PaymentIntent) exists for the order.
    pub has_reference: bool,
}

/// A flag that asks a person to give the money back by hand.
pub const KASPI_MANUAL_REFUND: &str = "paid through Kaspi: refund it in the Kaspi merchant cabinet";

/// What a transition does to the order's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentEffect {
    /// The payment status after the transition.
    pub status: PaymentStatus,
    /// Refund the Stripe payment (a `payments.refund` job).
    pub refund: bool,
    /// Cancel the unpaid Stripe PaymentIntent, so it cannot be paid later
    /// (a `payments.cancel` job).
    pub cancel_intent: bool,
    /// Flag for a person (a Kaspi refund is made by hand).
    pub flag: Option<&'static str>,
    /// An order that was never paid gives its coupon use back.
    pub give_back_coupon: bool,
}

/// What moving to `to` does to the payment `p`, when `mover` asks.
pub fn payment_effect(to: OrderStatus, p: Payment, mover: Mover) -> PaymentEffect {
    use OrderStatus::*;
    let paid = p.status == PaymentStatus::Paid;
    // Money goes back when a paid order is cancelled or refunded by people;
    // a refund the provider reports (System) has happened already.
    let gives_money_back = matches!(to, Cancelled | Refunded) && paid && mover != Mover::System;
    let refund = gives_money_back && p.method == PaymentMethod::Stripe;
    let status = match to {
        // Refunded for real when Stripe confirms it (charge.refunded).
        Refunded if refund => PaymentStatus::Paid,
        Paid => PaymentStatus::Paid,
        Refunded => PaymentStatus::Refunded,
        Delivered if p.method == PaymentMethod::CashOnDelivery => PaymentStatus::Paid,
        _ => p.status,
    };
    PaymentEffect {
        status,
        refund,
        cancel_intent: to == Cancelled
            && p.method == PaymentMethod::Stripe
            && !paid
            && p.has_reference,
        flag: (gives_money_back && p.method == PaymentMethod::Kaspi).then_some(KASPI_MANUAL_REFUND),
        give_back_coupon: to == Cancelled && !paid,
    }
}

/// The payment status a new order starts with, and whether its stock is
/// held for a limited time (until it is paid).
pub fn initial_payment(method: PaymentMethod) -> (PaymentStatus, bool) {
    if method.is_prepaid() {
        (PaymentStatus::Pending, true)
    } else {
        (PaymentStatus::OnDelivery, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn stock_moves_by_target_and_state() {
        use Movement::*;
        use StockState::*;
        // Every (target, state) pair: the whole table.
        let table = [
            (Confirmed, Reserved, Some((Deduct, Deducted))),
            (Confirmed, Deducted, None),
            (Confirmed, Released, None),
            (Cancelled, Reserved, Some((Release, Released))),
            (Cancelled, Deducted, Some((Restock, Released))),
            (Cancelled, Released, None),
            (Refunded, Reserved, Some((Release, Released))),
            (Refunded, Deducted, None),
            (Refunded, Released, None),
        ];
        for (to, state, expected) in table {
            assert_eq!(stock_effect(to, state), expected, "{to:?} from {state:?}");
        }
        for to in [Pending, Paid, Shipped, Delivered] {
            for &state in StockState::ALL {
                assert_eq!(stock_effect(to, state), None, "{to:?} from {state:?}");
            }
        }
    }

    fn pay(method: PaymentMethod, status: PaymentStatus, has_reference: bool) -> Payment {
        Payment {
            method,
            status,
            has_reference,
        }
    }

    fn effect(status: PaymentStatus) -> PaymentEffect {
        PaymentEffect {
            status,
            refund: false,
            cancel_intent: false,
            flag: None,
            give_back_coupon: false,
        }
    }

    #[test]
    fn paying_and_delivering_cash_mark_the_money_paid() {
        let card = pay(PaymentMethod::Stripe, PaymentStatus::Pending, true);
        assert_eq!(
            payment_effect(Paid, card, Mover::System),
            effect(PaymentStatus::Paid)
        );
        let cash = pay(
            PaymentMethod::CashOnDelivery,
            PaymentStatus::OnDelivery,
            false,
        );
        assert_eq!(
            payment_effect(Delivered, cash, Mover::Admin),
            effect(PaymentStatus::Paid)
        );
        // A prepaid order's payment is settled before delivery already.
        let paid = pay(PaymentMethod::Kaspi, PaymentStatus::Paid, false);
        assert_eq!(
            payment_effect(Delivered, paid, Mover::Admin),
            effect(PaymentStatus::Paid)
        );
        for to in [Confirmed, Shipped] {
            assert_eq!(
                payment_effect(to, cash, Mover::Vendor),
                effect(PaymentStatus::OnDelivery)
            );
        }
    }

    #[test]
    fn cancelling_a_paid_order_gives_the_money_back_by_method() {
        let card = pay(PaymentMethod::Stripe, PaymentStatus::Paid, true);
        for mover in [Mover::Admin, Mover::Customer, Mover::Vendor] {
            assert_eq!(
                payment_effect(Cancelled, card, mover),
                PaymentEffect {
                    refund: true,
                    ..effect(PaymentStatus::Paid)
                },
                "{mover:?}"
            );
        }
        let kaspi = pay(PaymentMethod::Kaspi, PaymentStatus::Paid, false);
        assert_eq!(
            payment_effect(Cancelled, kaspi, Mover::Admin),
            PaymentEffect {
                flag: Some(KASPI_MANUAL_REFUND),
                ..effect(PaymentStatus::Paid)
            }
        );
    }

    #[test]
    fn refunds_wait_for_stripe_but_not_for_kaspi_or_the_provider() {
        let card = pay(PaymentMethod::Stripe, PaymentStatus::Paid, true);
        // People refund: Stripe confirms later (charge.refunded).
        assert_eq!(
            payment_effect(Refunded, card, Mover::Admin),
            PaymentEffect {
                refund: true,
                ..effect(PaymentStatus::Paid)
            }
        );
        // Stripe reported it: it has happened.
        assert_eq!(
            payment_effect(Refunded, card, Mover::System),
            effect(PaymentStatus::Refunded)
        );
        let kaspi = pay(PaymentMethod::Kaspi, PaymentStatus::Paid, false);
        assert_eq!(
            payment_effect(Refunded, kaspi, Mover::Admin),
            PaymentEffect {
                flag: Some(KASPI_MANUAL_REFUND),
                ..effect(PaymentStatus::Refunded)
            }
        );
    }

    #[test]
    fn cancelling_or_expiring_an_unpaid_order_frees_the_coupon_and_the_intent() {
        let card = pay(PaymentMethod::Stripe, PaymentStatus::Pending, true);
        for mover in [Mover::System, Mover::Customer, Mover::Admin] {
            assert_eq!(
                payment_effect(Cancelled, card, mover),
                PaymentEffect {
                    cancel_intent: true,
                    give_back_coupon: true,
                    ..effect(PaymentStatus::Pending)
                }
            );
        }
        let failed = pay(PaymentMethod::Stripe, PaymentStatus::Failed, true);
        assert!(payment_effect(Cancelled, failed, Mover::System).cancel_intent);
        let no_intent = pay(PaymentMethod::Stripe, PaymentStatus::Pending, false);
        assert_eq!(
            payment_effect(Cancelled, no_intent, Mover::System),
            PaymentEffect {
                give_back_coupon: true,
                ..effect(PaymentStatus::Pending)
            }
        );
        let cash = pay(
            PaymentMethod::CashOnDelivery,
            PaymentStatus::OnDelivery,
            false,
        );
        assert_eq!(
            payment_effect(Cancelled, cash, Mover::Vendor),
            PaymentEffect {
                give_back_coupon: true,
                ..effect(PaymentStatus::OnDelivery)
            }
        );
    }

    #[test]
    fn new_orders_start_pending_online_or_on_delivery() {
        assert_eq!(
            initial_payment(PaymentMethod::Stripe),
            (PaymentStatus::Pending, true)
        );
        assert_eq!(
            initial_payment(PaymentMethod::Kaspi),
            (PaymentStatus::Pending, true)
        );
        assert_eq!(
            initial_payment(PaymentMethod::CashOnDelivery),
            (PaymentStatus::OnDelivery, false)
        );
    }
}

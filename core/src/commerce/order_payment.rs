//! The one writer of an order's payment columns (`payment_status`,
//! `payment_reference`, `client_secret`, `payment_flag`, `refund_id`).
//! Checkout writes the first values with the order; everything after goes
//! through here, so what can happen to an order's money is read in one file.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{status::PaymentStatus, transitions::PaymentEffect};
use crate::Result;

/// Writes what a status transition did to the payment, when it changed
/// anything (see `transitions::payment_effect`).
pub async fn apply_effect(
    conn: &mut PgConnection,
    order: Uuid,
    before: PaymentStatus,
    effect: &PaymentEffect,
) -> Result<()> {
    if effect.status == before && effect.flag.is_none() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE orders SET payment_status = $2, payment_flag = COALESCE($3, payment_flag)
         WHERE id = $1",
    )
    .bind(order)
    .bind(effect.status)
    .bind(effect.flag)
    .execute(conn)
    .await?;
    Ok(())
}

/// Remembers the PaymentIntent created for an order.
pub async fn attach_intent(
    conn: &mut PgConnection,
    order: Uuid,
    intent: &str,
    client_secret: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE orders SET payment_reference = $2, client_secret = $3 WHERE id = $1")
        .bind(order)
        .bind(intent)
        .bind(client_secret)
        .execute(conn)
        .await?;
    Ok(())
}

/// Remembers the provider's payment reference, unless one is known.
pub async fn keep_reference(conn: &mut PgConnection, order: Uuid, reference: &str) -> Result<()> {
    sqlx::query(
        "UPDATE orders SET payment_reference = $2 WHERE id = $1 AND payment_reference IS NULL",
    )
    .bind(order)
    .bind(reference)
    .execute(conn)
    .await?;
    Ok(())
}

/// Flags the order's payment for a person; `status` changes with it when
/// the provider says the money moved.
pub async fn flag(
    conn: &mut PgConnection,
    order: Uuid,
    status: Option<PaymentStatus>,
    why: &str,
) -> Result<()> {
    tracing::warn!(order.id = %order, flag = why, "payment flagged");
    sqlx::query(
        "UPDATE orders SET payment_flag = $2, payment_status = COALESCE($3, payment_status),
             updated_at = now()
         WHERE id = $1",
    )
    .bind(order)
    .bind(why)
    .bind(status)
    .execute(conn)
    .await?;
    Ok(())
}

/// An attempt to pay failed; the customer may try again.
pub async fn mark_failed(conn: &mut PgConnection, order: Uuid) -> Result<()> {
    sqlx::query("UPDATE orders SET payment_status = $2, updated_at = now() WHERE id = $1")
        .bind(order)
        .bind(PaymentStatus::Failed)
        .execute(conn)
        .await?;
    Ok(())
}

/// The refund Stripe issued for the order.
pub async fn record_refund(conn: &mut PgConnection, order: Uuid, refund: &str) -> Result<()> {
    sqlx::query("UPDATE orders SET refund_id = $2, updated_at = now() WHERE id = $1")
        .bind(order)
        .bind(refund)
        .execute(conn)
        .await?;
    Ok(())
}

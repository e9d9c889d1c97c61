//! Payment provider events: stored once by id when they arrive (verified),
//! processed by a `payments.process` job in the job's transaction. Processing
//! decides from the reported object's state, never from arrival order, and
//! checks amount and currency against the order before marking it paid.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{
    orders::{self, OrderRow},
    status::{OrderStatus, PaymentMethod},
    workflow::{self, Move},
    Rules,
};
use crate::{
    jobs::{ProcessPaymentEvent, RefundPayment},
    outbox, Result,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Stripe,
    Kaspi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Kaspi => "kaspi",
        }
    }
}

/// Stores a verified event and enqueues its processing, once per event id.
/// Returns false for a duplicate.
pub async fn record_event(
    pool: &PgPool,
    rules: &Rules,
    provider: Provider,
    event_id: &str,
    kind: &str,
    payload: &Value,
) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let id: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO payment_events (id, provider, event_id, kind, payload) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (provider, event_id) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(provider.as_str())
    .bind(event_id)
    .bind(kind)
    .bind(payload)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Ok(false);
    };
    outbox::enqueue(&mut tx, &rules.pipeline, &ProcessPaymentEvent { event: id }).await?;
    tx.commit().await?;
    Ok(true)
}

/// Remembers the PaymentIntent created for an order.
pub async fn attach_intent(
    pool: &PgPool,
    order: Uuid,
    intent: &str,
    client_secret: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE orders SET payment_reference = $2, client_secret = $3 WHERE id = $1")
        .bind(order)
        .bind(intent)
        .bind(client_secret)
        .execute(pool)
        .await?;
    Ok(())
}

/// What a provider says happened to a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Report {
    Succeeded {
        number: Option<String>,
        reference: Option<String>,
        amount: i64,
        currency: String,
    },
    Failed {
        number: Option<String>,
        reference: Option<String>,
    },
    Refunded {
        number: Option<String>,
        reference: Option<String>,
    },
    Ignored,
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_owned)
}

fn stripe_report(kind: &str, payload: &Value) -> Report {
    let obj = &payload["data"]["object"];
    let number = text(obj, &["metadata", "order_number"]);
    let id = text(obj, &["id"]);
    match kind {
        "payment_intent.succeeded" => Report::Succeeded {
            number,
            reference: id,
            amount: obj["amount_received"]
                .as_i64()
                .filter(|a| *a > 0)
                .or(obj["amount"].as_i64())
                .unwrap_or(-1),
            currency: text(obj, &["currency"]).unwrap_or_default(),
        },
        "payment_intent.payment_failed" | "payment_intent.canceled" => Report::Failed {
            number,
            reference: id,
        },
        "charge.refunded" => {
            let amount = obj["amount"].as_i64().unwrap_or(i64::MAX);
            let full = obj["refunded"].as_bool() == Some(true)
                || obj["amount_refunded"].as_i64().unwrap_or(0) >= amount;
            if full {
                Report::Refunded {
                    number,
                    reference: text(obj, &["payment_intent"]),
                }
            } else {
                Report::Ignored
            }
        }
        _ => Report::Ignored,
    }
}

fn kaspi_report(kind: &str, payload: &Value) -> Report {
    let number = text(payload, &["order_number"]);
    match kind {
        "payment.succeeded" => Report::Succeeded {
            number,
            reference: text(payload, &["payment_id"]),
            amount: payload["amount"].as_i64().unwrap_or(-1),
            currency: text(payload, &["currency"]).unwrap_or_default(),
        },
        "payment.failed" => Report::Failed {
            number,
            reference: None,
        },
        "payment.refunded" => Report::Refunded {
            number,
            reference: None,
        },
        _ => Report::Ignored,
    }
}

async fn locate(
    conn: &mut PgConnection,
    number: &Option<String>,
    reference: &Option<String>,
) -> Result<Option<OrderRow>> {
    if let Some(n) = number {
        if let Some(o) = orders::find_by_number(conn, n, true).await? {
            return Ok(Some(o));
        }
    }
    if let Some(r) = reference {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT id FROM orders WHERE payment_reference = $1")
                .bind(r)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(id) = id {
            return orders::find_by_id(conn, id, true).await;
        }
    }
    Ok(None)
}

async fn flag(conn: &mut PgConnection, order: Uuid, why: &str) -> Result<()> {
    tracing::warn!(order.id = %order, flag = why, "payment flagged");
    sqlx::query("UPDATE orders SET payment_flag = $2, updated_at = now() WHERE id = $1")
        .bind(order)
        .bind(why)
        .execute(conn)
        .await?;
    Ok(())
}

/// Processes a stored event inside the job's transaction; returns the
/// outcome recorded with the event.
pub async fn process(conn: &mut PgConnection, rules: &Rules, event: Uuid) -> Result<String> {
    let row: Option<(String, String, Value, Option<String>)> = sqlx::query_as(
        "SELECT provider, kind, payload, outcome FROM payment_events WHERE id = $1 FOR UPDATE",
    )
    .bind(event)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((provider, kind, payload, done)) = row else {
        return Ok("event not found".into());
    };
    if let Some(done) = done {
        return Ok(done);
    }
    let (report, expected) = if provider == "stripe" {
        (stripe_report(&kind, &payload), PaymentMethod::Stripe)
    } else {
        (kaspi_report(&kind, &payload), PaymentMethod::Kaspi)
    };
    let outcome = apply_report(conn, rules, &provider, report, expected).await?;
    sqlx::query("UPDATE payment_events SET processed_at = now(), outcome = $2 WHERE id = $1")
        .bind(event)
        .bind(&outcome)
        .execute(conn)
        .await?;
    Ok(outcome)
}

async fn apply_report(
    conn: &mut PgConnection,
    rules: &Rules,
    provider: &str,
    report: Report,
    expected: PaymentMethod,
) -> Result<String> {
    match report {
        Report::Ignored => Ok("ignored".into()),
        Report::Succeeded {
            number,
            reference,
            amount,
            currency,
        } => {
            let Some(order) = locate(conn, &number, &reference).await? else {
                return Ok("no such order".into());
            };
            if order.method() != expected {
                flag(
                    conn,
                    order.id,
                    &format!(
                        "{provider} reported a payment for an order paid by {}",
                        order.payment_method
                    ),
                )
                .await?;
                return Ok("flagged: payment method".into());
            }
            if amount != order.total || !currency.eq_ignore_ascii_case(&order.currency) {
                flag(
                    conn,
                    order.id,
                    &format!(
                        "{provider} reported {amount} {} but the order is {} {}",
                        currency.to_ascii_uppercase(),
                        order.total,
                        order.currency
                    ),
                )
                .await?;
                return Ok("flagged: amount mismatch".into());
            }
            if order.payment_reference.is_none() {
                if let Some(r) = &reference {
                    sqlx::query("UPDATE orders SET payment_reference = $2 WHERE id = $1")
                        .bind(order.id)
                        .bind(r)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            match order.status() {
                OrderStatus::Pending => {
                    workflow::apply(
                        conn,
                        rules,
                        &order,
                        Move::system(OrderStatus::Paid, provider, None),
                    )
                    .await?;
                    Ok("paid".into())
                }
                OrderStatus::Cancelled
                    if order.payment_status != "paid" && order.payment_status != "refunded" =>
                {
                    // Paid after the reservation expired or the customer
                    // cancelled: the money goes back.
                    sqlx::query("UPDATE orders SET payment_status = 'paid', payment_flag = $2 WHERE id = $1")
                        .bind(order.id)
                        .bind("paid after cancellation; refund issued")
                        .execute(&mut *conn)
                        .await?;
                    if expected == PaymentMethod::Stripe {
                        outbox::enqueue(conn, &rules.pipeline, &RefundPayment { order: order.id })
                            .await?;
                    } else {
                        let why =
                            "paid after cancellation: refund it in the Kaspi merchant cabinet";
                        flag(conn, order.id, why).await?;
                    }
                    Ok("paid after cancellation: refund".into())
                }
                _ => Ok("already settled".into()),
            }
        }
        Report::Failed { number, reference } => {
            let Some(order) = locate(conn, &number, &reference).await? else {
                return Ok("no such order".into());
            };
            if order.method() != expected {
                return Ok("ignored: the order is not paid that way".into());
            }
            // A failure reported after (or overtaken by) a success changes nothing.
            if order.status() == OrderStatus::Pending && order.payment_status == "pending" {
                sqlx::query(
                    "UPDATE orders SET payment_status = 'failed', updated_at = now() WHERE id = $1",
                )
                .bind(order.id)
                .execute(&mut *conn)
                .await?;
                return Ok("payment failed".into());
            }
            Ok("ignored: order not awaiting payment".into())
        }
        Report::Refunded { number, reference } => {
            let Some(order) = locate(conn, &number, &reference).await? else {
                return Ok("no such order".into());
            };
            if order.method() != expected || order.payment_status != "paid" {
                return Ok("ignored: nothing to refund".into());
            }
            match order.status() {
                OrderStatus::Paid | OrderStatus::Cancelled | OrderStatus::Delivered => {
                    workflow::apply(
                        conn,
                        rules,
                        &order,
                        Move::system(OrderStatus::Refunded, provider, None),
                    )
                    .await?;
                    Ok("refunded".into())
                }
                // Refunded at the provider while the shop is fulfilling it:
                // stop and tell the shop rather than guess.
                other => {
                    sqlx::query("UPDATE orders SET payment_status = 'refunded' WHERE id = $1")
                        .bind(order.id)
                        .execute(&mut *conn)
                        .await?;
                    let why = format!("refunded at {provider} while {}", other.as_str());
                    flag(conn, order.id, &why).await?;
                    Ok("flagged: refunded during fulfilment".into())
                }
            }
        }
    }
}

/// The PaymentIntent to refund for `order`, unless it was refunded already.
pub async fn refund_target(
    conn: &mut PgConnection,
    order: Uuid,
) -> Result<Option<(String, String)>> {
    let row: Option<(Option<String>, Option<String>, String)> = sqlx::query_as(
        "SELECT payment_reference, refund_id, number FROM orders
         WHERE id = $1 AND payment_status = 'paid' FOR UPDATE",
    )
    .bind(order)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some((Some(reference), None, number)) => Some((reference, number)),
        _ => None,
    })
}

pub async fn record_refund(conn: &mut PgConnection, order: Uuid, refund: &str) -> Result<()> {
    sqlx::query("UPDATE orders SET refund_id = $2, updated_at = now() WHERE id = $1")
        .bind(order)
        .bind(refund)
        .execute(conn)
        .await?;
    Ok(())
}

/// The PaymentIntent of a cancelled, unpaid order, to cancel at Stripe.
pub async fn intent_to_cancel(conn: &mut PgConnection, order: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT payment_reference FROM orders
         WHERE id = $1 AND status = 'cancelled' AND payment_status <> 'paid'
           AND payment_method = 'stripe' AND payment_reference IS NOT NULL",
    )
    .bind(order)
    .fetch_optional(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stripe_events_become_reports() {
        let e = json!({"data": {"object": {"id": "pi_1", "amount": 500, "amount_received": 500,
            "currency": "kzt", "metadata": {"order_number": "BZ-000001"}}}});
        assert_eq!(
            stripe_report("payment_intent.succeeded", &e),
            Report::Succeeded {
                number: Some("BZ-000001".into()),
                reference: Some("pi_1".into()),
                amount: 500,
                currency: "kzt".into()
            }
        );
        let partial = json!({"data": {"object": {"payment_intent": "pi_1", "amount": 500,
            "amount_refunded": 100, "refunded": false}}});
        assert_eq!(stripe_report("charge.refunded", &partial), Report::Ignored);
        assert_eq!(stripe_report("customer.created", &e), Report::Ignored);
    }
}

//! Moving orders through the state machine (`status`): every transition
//! moves stock as its new status requires, is logged in `order_status_log`,
//! and notifies the customer, all in the caller's transaction.

use serde::Deserialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    inventory::{self, Want},
    order_payment,
    orders::{self, Order, OrderRow},
    status::{check, Mover, OrderSource, OrderStatus, PaymentStatus, Refusal},
    transitions,
};
use crate::shop::Shop;
use crate::{
    catalog::Actor,
    jobs::{CancelPayment, MarketplaceAction, OrderAction, RefundPayment},
    mail::MailTemplate,
    messaging::notify::{self, Notice},
    outbox,
    users::Role,
    Error, Result,
};

/// A requested transition.
#[derive(Debug, Clone)]
pub struct Move {
    pub to: OrderStatus,
    pub mover: Mover,
    /// What the timeline shows: customer, admin, vendor, system, stripe, kaspi.
    pub actor: String,
    pub actor_id: Option<Uuid>,
    pub note: Option<String>,
    pub tracking_number: Option<String>,
    pub courier: Option<String>,
}

impl Move {
    pub fn system(to: OrderStatus, actor: &str, note: Option<String>) -> Self {
        Move {
            to,
            mover: Mover::System,
            actor: actor.to_owned(),
            actor_id: None,
            note,
            tracking_number: None,
            courier: None,
        }
    }
}

/// What the transition did that the caller may act on after commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Moved {
    /// Stock or reservations moved: what changed of public availability.
    pub availability: inventory::Availability,
    /// Whether stock or reservations moved at all (a confirmation deducts
    /// reserved units: nothing the public sees changes).
    pub stock_changed: bool,
}

/// The units an order holds, per variant.
pub(crate) async fn lines(conn: &mut PgConnection, order: Uuid) -> Result<Vec<Want>> {
    let rows: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT variant_id, quantity FROM order_items WHERE order_id = $1")
            .bind(order)
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(variant_id, quantity)| Want {
            variant_id,
            quantity,
        })
        .collect())
}

/// Applies `mv` to `order`, which the caller has locked (`FOR UPDATE`).
pub async fn apply(
    conn: &mut PgConnection,
    shop: &Shop,
    order: &OrderRow,
    mv: Move,
) -> Result<Moved> {
    let from = order.status;
    let method = order.payment_method;
    match check(from, mv.to, method, mv.mover) {
        Ok(()) => {}
        Err(Refusal::Illegal) => {
            return Err(Error::Conflict(format!(
                "order {} is {}; it cannot become {}",
                order.number,
                from.as_str(),
                mv.to.as_str()
            )))
        }
        Err(Refusal::NotYours) => {
            return Err(Error::Forbidden("this transition is not yours to make"))
        }
    }
    if order.source == OrderSource::Kaspi
        && mv.to == OrderStatus::Delivered
        && mv.mover != Mover::System
    {
        return Err(Error::Conflict(format!(
            "Kaspi order {} is completed with the buyer's code: POST /api/v1/admin/orders/{}/kaspi/complete",
            order.number, order.number
        )));
    }
    let tracking_number = super::optional_text(mv.tracking_number);
    if mv.to == OrderStatus::Shipped && tracking_number.is_none() && order.tracking_number.is_none()
    {
        return Err(Error::invalid(
            "tracking_number",
            "is required to ship an order",
        ));
    }
    let stock = transitions::stock_effect(mv.to, order.stock_state);
    let payment = transitions::payment_effect(
        mv.to,
        transitions::Payment {
            method,
            status: order.payment_status,
            has_reference: order.payment_reference.is_some(),
        },
        mv.mover,
    );
    if payment.give_back_coupon {
        // Before the stock moves, to lock rows in checkout's order (coupon,
        // variants).
        super::coupons::give_back(conn, order.id).await?;
    }
    let mut availability = inventory::Availability::default();
    if let Some((movement, _)) = stock {
        let held = lines(conn, order.id).await?;
        availability = inventory::apply(conn, movement, &held).await?;
    }
    sqlx::query(
        "UPDATE orders SET status = $2, stock_state = $3,
             tracking_number = COALESCE($4, tracking_number), courier = COALESCE($5, courier),
             reserved_until = NULL, updated_at = now()
         WHERE id = $1",
    )
    .bind(order.id)
    .bind(mv.to)
    .bind(stock.map_or(order.stock_state, |(_, state)| state))
    .bind(&tracking_number)
    .bind(super::optional_text(mv.courier))
    .execute(&mut *conn)
    .await?;
    order_payment::apply_effect(conn, order.id, order.payment_status, &payment).await?;

    let note = super::optional_text(mv.note);
    log(
        conn,
        order.id,
        Some(from),
        mv.to,
        &mv.actor,
        mv.actor_id,
        note.as_deref(),
    )
    .await?;
    if payment.refund {
        outbox::enqueue(conn, &shop.pipeline, &RefundPayment { order: order.id }).await?;
    }
    if payment.cancel_intent {
        outbox::enqueue(conn, &shop.pipeline, &CancelPayment { order: order.id }).await?;
    }
    // The shop cancelled a marketplace's order: the marketplace must hear it
    // (what the marketplace itself reports arrives as System and is not
    // echoed back).
    let told = match (order.source, mv.to) {
        (OrderSource::Web, _) => None,
        (_, OrderStatus::Cancelled) => Some(MarketplaceAction::Cancel),
        (OrderSource::Ozon, OrderStatus::Shipped) => Some(MarketplaceAction::Ship),
        _ => None,
    };
    if let Some(action) = told.filter(|_| mv.mover != Mover::System) {
        let action = OrderAction {
            order: order.id,
            action,
        };
        outbox::enqueue(conn, &shop.pipeline, &action).await?;
    }
    notify(
        conn,
        shop,
        order,
        mv.to,
        note,
        tracking_number.or(order.tracking_number.clone()),
    )
    .await?;
    Ok(Moved {
        availability,
        stock_changed: stock.is_some(),
    })
}

/// Who the timeline names for an order's first entry.
pub const CHECKOUT_ACTOR: &str = "customer";

/// The first timeline entry of a new order, as one statement within a
/// larger one (checkout's single round trip): `INSERT ... RETURNING
/// created_at`.
pub fn push_first_entry(
    q: &mut QueryBuilder<Postgres>,
    order: Uuid,
    status: OrderStatus,
    actor_id: Option<Uuid>,
) {
    q.push(
        "INSERT INTO order_status_log (order_id, from_status, to_status, actor, actor_id) VALUES (",
    )
    .push_bind(order)
    .push(", NULL, ")
    .push_bind(status)
    .push(", ")
    .push_bind(CHECKOUT_ACTOR)
    .push(", ")
    .push_bind(actor_id)
    .push(") RETURNING created_at");
}

pub async fn log(
    conn: &mut PgConnection,
    order: Uuid,
    from: Option<OrderStatus>,
    to: OrderStatus,
    actor: &str,
    actor_id: Option<Uuid>,
    note: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO order_status_log (order_id, from_status, to_status, actor, actor_id, note)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(order)
    .bind(from)
    .bind(to)
    .bind(actor)
    .bind(actor_id)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

/// The customer hears of every transition, on every channel they enabled.
async fn notify(
    conn: &mut PgConnection,
    shop: &Shop,
    order: &OrderRow,
    to: OrderStatus,
    note: Option<String>,
    tracking: Option<String>,
) -> Result<()> {
    notify_order(
        conn,
        shop,
        order,
        to.as_str(),
        note,
        tracking.filter(|_| to == OrderStatus::Shipped),
    )
    .await
}

/// An order event (a status, or `payment_failed`) to the order's customer.
pub async fn notify_order(
    conn: &mut PgConnection,
    shop: &Shop,
    order: &OrderRow,
    event: &str,
    note: Option<String>,
    tracking: Option<String>,
) -> Result<()> {
    let name = order
        .shipping_address
        .as_ref()
        .map(|a| a.0.name.clone())
        .unwrap_or_else(|| "customer".into());
    let notice = Notice {
        event: format!("order:{}:{event}", order.id),
        user: order.user_id,
        order: Some(order.id),
        email: order.email.clone(),
        phone: order.phone.clone(),
        template: MailTemplate::OrderStatus {
            name,
            number: order.number.clone(),
            status: event.to_owned(),
            note,
            tracking,
        },
    };
    notify::send(conn, shop, &[notice]).await
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub status: OrderStatus,
    pub tracking_number: Option<String>,
    pub courier: Option<String>,
    pub note: Option<String>,
}

fn check_note(note: &Option<String>) -> Result<()> {
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(Error::invalid("note", "must be at most 1000 characters"));
    }
    Ok(())
}

/// An admin's or vendor's transition. Vendors act on orders whose every line
/// is in their stores; an order without their lines does not exist for them.
pub async fn change_by_staff(
    pool: &PgPool,
    shop: &Shop,
    actor: Actor,
    number: &str,
    change: StatusChange,
) -> Result<(Order, Moved)> {
    check_note(&change.note)?;
    let mut tx = pool.begin().await?;
    let order = orders::find_by_number(&mut tx, number, true)
        .await?
        .ok_or(Error::NotFound)?;
    let (mover, label, stores) = match actor.role {
        Role::Admin => (Mover::Admin, "admin", None),
        Role::Vendor => {
            let mine = orders::vendor_stores(&mut tx, actor.id).await?;
            let line_stores: Vec<Option<Uuid>> =
                sqlx::query_scalar("SELECT store_id FROM order_items WHERE order_id = $1")
                    .bind(order.id)
                    .fetch_all(&mut *tx)
                    .await?;
            let owned = line_stores
                .iter()
                .filter(|s| s.is_some_and(|s| mine.contains(&s)))
                .count();
            if owned == 0 {
                return Err(Error::NotFound);
            }
            if owned < line_stores.len() {
                return Err(Error::Forbidden(
                    "this order has lines of other stores; an admin moves it",
                ));
            }
            (Mover::Vendor, "vendor", Some(mine))
        }
        Role::Customer => return Err(Error::Forbidden("admins and vendors only")),
    };
    let moved = apply(
        &mut tx,
        shop,
        &order,
        Move {
            to: change.status,
            mover,
            actor: label.into(),
            actor_id: Some(actor.id),
            note: change.note,
            tracking_number: change.tracking_number,
            courier: change.courier,
        },
    )
    .await?;
    let row = orders::find_by_id(&mut tx, order.id, false)
        .await?
        .ok_or(Error::NotFound)?;
    let view = orders::one(&mut tx, row, stores.as_deref()).await?;
    tx.commit().await?;
    Ok((view, moved))
}

/// The customer cancels their own order while it is pending or paid.
pub async fn cancel_by_customer(
    pool: &PgPool,
    shop: &Shop,
    user: Uuid,
    number: &str,
    note: Option<String>,
) -> Result<(Order, Moved)> {
    check_note(&note)?;
    let mut tx = pool.begin().await?;
    let order = orders::find_by_number(&mut tx, number, true)
        .await?
        .filter(|o| o.user_id == Some(user))
        .ok_or(Error::NotFound)?;
    let moved = apply(
        &mut tx,
        shop,
        &order,
        Move {
            to: OrderStatus::Cancelled,
            mover: Mover::Customer,
            actor: CHECKOUT_ACTOR.into(),
            actor_id: Some(user),
            note,
            tracking_number: None,
            courier: None,
        },
    )
    .await?;
    let row = orders::find_by_id(&mut tx, order.id, false)
        .await?
        .ok_or(Error::NotFound)?;
    let view = orders::one(&mut tx, row, None).await?;
    tx.commit().await?;
    Ok((view, moved))
}

/// Cancels up to `limit` pending orders whose reservation expired, each in
/// its own transaction. Returns how many, and what that changed of
/// availability.
pub async fn expire_reservations(
    pool: &PgPool,
    shop: &Shop,
    limit: i64,
) -> Result<(u64, inventory::Availability)> {
    // The status is spelled out (not bound) to match the partial index
    // `orders_expiring`, whose predicate a generic plan could not prove.
    let due: Vec<Uuid> = sqlx::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending' AND reserved_until < now()
           AND payment_flag IS NULL
         ORDER BY reserved_until LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut expired = 0;
    let mut availability = inventory::Availability::default();
    for id in due {
        // One order that cannot be expired must not hold up the others.
        match expire_one(pool, shop, id).await {
            Ok(Some(released)) => {
                expired += 1;
                availability.merge(released);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(order.id = %id, error = %e, "could not expire the reservation")
            }
        }
    }
    Ok((expired, availability))
}

async fn expire_one(
    pool: &PgPool,
    shop: &Shop,
    id: Uuid,
) -> Result<Option<inventory::Availability>> {
    let mut tx = pool.begin().await?;
    // Re-checked under the lock: a payment (or a flagged one) may have
    // arrived meanwhile. `reserved_until` itself only changes when the order
    // leaves `pending`.
    let Some(order) = orders::find_by_id(&mut tx, id, true).await?.filter(|o| {
        o.status == OrderStatus::Pending
            && o.payment_status != PaymentStatus::Paid
            && o.payment_flag.is_none()
    }) else {
        return Ok(None);
    };
    let moved = apply(
        &mut tx,
        shop,
        &order,
        Move::system(
            OrderStatus::Cancelled,
            "system",
            Some("payment not received in time; reservation released".into()),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(moved.availability))
}

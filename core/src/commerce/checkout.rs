//! Checkout: one transaction that claims the idempotency key, reserves stock
//! with one conditional update per line, prices the order, counts the coupon
//! use, writes the order with its line snapshots and status log, empties the
//! cart and enqueues the confirmation mail. Payment intents are created by
//! the caller after commit (no provider call holds row locks).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    addresses::{self, AddressInput, ShippingAddress},
    cart::MoneyTotals,
    cart::{self, QuoteLine, MAX_LINES, MAX_QUANTITY},
    coupons,
    inventory::{self, Reserved, Want},
    orders::{self, CouponRef, Order, OrderItem, PaymentInfo, ShippingRef, TimelineEntry},
    pricing,
    shipping::{self, ShippingMethod},
    status::{OrderStatus, PaymentMethod},
    Rules,
};
use crate::{
    catalog::Actor, jobs::SendEmail, mail::MailTemplate, money::Money, outbox, validate, Error,
    FieldError, Result,
};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub variant_id: Uuid,
    pub quantity: i32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A saved address of the caller, or
    pub address_id: Option<Uuid>,
    /// an address given here.
    pub address: Option<AddressInput>,
    pub shipping_method_id: Option<Uuid>,
    /// stripe, kaspi or cash_on_delivery.
    pub payment_method: Option<String>,
    pub phone: Option<String>,
    /// Where order mail goes; the account's address by default.
    pub email: Option<String>,
    pub note: Option<String>,
    /// "Buy now": these lines instead of the cart (which is left alone).
    pub items: Option<Vec<LineInput>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub method: PaymentMethod,
    pub status: String,
    /// Stripe: confirm the PaymentIntent with this in the storefront.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutResponse {
    #[serde(skip)]
    pub order_id: Uuid,
    pub order: Order,
    pub payment: PaymentView,
}

/// What a checkout call did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(Box<CheckoutResponse>),
    /// The key was used before with the same request: that order's id.
    Replayed(Uuid),
}

struct Valid {
    address: Option<ShippingAddress>,
    address_id: Option<Uuid>,
    shipping: Uuid,
    method: PaymentMethod,
    phone: String,
    email: Option<String>,
    note: Option<String>,
    items: Option<Vec<Want>>,
}

fn validate_request(rules: &Rules, req: CheckoutRequest) -> Result<Valid> {
    let mut errors = Vec::new();
    let address = match (req.address_id, req.address) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "address",
                "give address_id or address, not both",
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "address",
                "address_id or address is required",
            ));
            None
        }
        (None, Some(a)) => match a.validate("address.") {
            Ok((a, _)) => Some(a),
            Err(e) => {
                errors.extend(e);
                None
            }
        },
        (Some(_), None) => None,
    };
    if req.shipping_method_id.is_none() {
        errors.push(FieldError::new("shipping_method_id", "is required"));
    }
    let method = match req.payment_method.as_deref().map(PaymentMethod::parse) {
        None => {
            errors.push(FieldError::new("payment_method", "is required"));
            None
        }
        Some(None) => {
            errors.push(FieldError::new(
                "payment_method",
                "must be stripe, kaspi or cash_on_delivery",
            ));
            None
        }
        Some(Some(PaymentMethod::Stripe)) if !rules.stripe_enabled => {
            errors.push(FieldError::new(
                "payment_method",
                "stripe is not enabled in this shop",
            ));
            None
        }
        Some(Some(PaymentMethod::Kaspi)) if !rules.kaspi_enabled => {
            errors.push(FieldError::new(
                "payment_method",
                "kaspi is not enabled in this shop",
            ));
            None
        }
        Some(Some(m)) => Some(m),
    };
    let phone = match super::optional_text(req.phone) {
        None => {
            errors.push(FieldError::new("phone", "is required"));
            String::new()
        }
        Some(p) => validate::phone(&p).unwrap_or_else(|m| {
            errors.push(FieldError::new("phone", m));
            String::new()
        }),
    };
    let email = match super::optional_text(req.email) {
        None => None,
        Some(e) => match validate::email(&e) {
            Ok(e) => Some(e),
            Err(m) => {
                errors.push(FieldError::new("email", m));
                None
            }
        },
    };
    let note = super::optional_text(req.note);
    if note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        errors.push(FieldError::new("note", "must be at most 1000 characters"));
    }
    let items = req.items.map(|items| {
        if items.is_empty() || items.len() as i64 > MAX_LINES {
            errors.push(FieldError::new(
                "items",
                format!("must hold 1 to {MAX_LINES} lines"),
            ));
        }
        for (i, l) in items.iter().enumerate() {
            if !(1..=MAX_QUANTITY).contains(&l.quantity) {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    format!("must be between 1 and {MAX_QUANTITY}"),
                ));
            }
        }
        items
            .into_iter()
            .map(|l| Want {
                variant_id: l.variant_id,
                quantity: l.quantity,
            })
            .collect()
    });
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(Valid {
        address,
        address_id: req.address_id,
        shipping: req.shipping_method_id.unwrap_or_default(),
        method: method.unwrap_or(PaymentMethod::CashOnDelivery),
        phone,
        email,
        note,
        items,
    })
}

/// Claims `(user, key)` for a new order, or finds the order it names.
async fn claim_key(
    conn: &mut PgConnection,
    user: Uuid,
    key: &str,
    hash: &str,
    order: Uuid,
) -> Result<Option<Uuid>> {
    // Blocks while another transaction holds the same key, then sees its
    // outcome: its row if it committed, nothing if it rolled back.
    let claimed = sqlx::query(
        "INSERT INTO checkout_requests (user_id, key, request_hash, order_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (user_id, key) DO NOTHING",
    )
    .bind(user)
    .bind(key)
    .bind(hash)
    .bind(order)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed == 1 {
        return Ok(None);
    }
    let (stored_hash, existing): (String, Uuid) = sqlx::query_as(
        "SELECT request_hash, order_id FROM checkout_requests WHERE user_id = $1 AND key = $2",
    )
    .bind(user)
    .bind(key)
    .fetch_one(conn)
    .await?;
    if stored_hash != hash {
        return Err(Error::invalid(
            "Idempotency-Key",
            "was used before with a different request",
        ));
    }
    Ok(Some(existing))
}

fn line_description(r: &Reserved, quantity: i32) -> String {
    let total = pricing::line_total(r.price, i64::from(quantity)).unwrap_or(i64::MAX);
    format!(
        "{quantity} x {} ({}): {}",
        r.name,
        r.sku,
        Money::new(total, &r.currency).display()
    )
}

/// The request's fingerprint for the idempotency check: its parsed fields,
/// so whitespace and key order do not make a replay look different.
pub fn fingerprint(req: &CheckoutRequest) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(req).unwrap_or_default(),
    ))
}

/// Places an order for `actor` (see the module docs).
pub async fn place(
    pool: &PgPool,
    rules: &Rules,
    actor: Actor,
    key: &str,
    request_hash: &str,
    req: CheckoutRequest,
) -> Result<Outcome> {
    let v = validate_request(rules, req)?;
    let user = actor.id;
    let mut tx = pool.begin().await?;
    let order_id = Uuid::now_v7();
    if let Some(existing) = claim_key(&mut tx, user, key, request_hash, order_id).await? {
        return Ok(Outcome::Replayed(existing));
    }
    let address = match (v.address, v.address_id) {
        (Some(a), _) => a,
        (None, Some(id)) => addresses::get(&mut tx, user, id)
            .await
            .map_err(|e| match e {
                Error::NotFound => Error::invalid("address_id", "no such address"),
                e => e,
            })?
            .into(),
        (None, None) => return Err(Error::invalid("address", "is required")),
    };
    let (email, name, method) = shipping::find_with_customer(&mut tx, v.shipping, user).await?;
    let method: ShippingMethod = method
        .filter(|m| m.active)
        .ok_or_else(|| Error::invalid("shipping_method_id", "no such shipping method"))?;
    let email = v.email.unwrap_or(email);
    let (cart_id, wants, coupon_id) = match v.items {
        Some(items) => (None, items, None),
        None => cart::contents(&mut tx, user).await?,
    };
    if wants.is_empty() {
        return Err(Error::invalid("items", "the cart is empty"));
    }
    let wants = inventory::normalize(&wants);
    // Prices and names now; the stock itself is reserved last (`hold`).
    let reserved = inventory::describe(&mut tx, &wants).await?;
    let quantity_of = |id: Uuid| {
        wants
            .iter()
            .find(|w| w.variant_id == id)
            .map_or(0, |w| w.quantity)
    };
    let coupon = match coupon_id {
        Some(id) => coupons::find(&mut tx, &rules.currency, id).await?,
        None => None,
    };
    let quote_lines: Vec<QuoteLine> = reserved
        .iter()
        .map(|r| QuoteLine {
            unit_price: r.price,
            quantity: quantity_of(r.variant_id),
            category_id: r.category_id,
        })
        .collect();
    let (totals, problem) = cart::quote(
        &mut tx,
        rules,
        &quote_lines,
        coupon.as_ref(),
        Some(user),
        Some(&method),
    )
    .await?;
    if let (Some(c), Some(problem)) = (&coupon, problem) {
        return Err(Error::Conflict(format!(
            "coupon {}: {problem}; remove it and check out again",
            c.code
        )));
    }
    if v.method.is_prepaid() && totals.total < 100 {
        // Providers refuse (near-)zero payments.
        return Err(Error::invalid(
            "payment_method",
            "nothing to pay online for this order; choose cash_on_delivery",
        ));
    }
    let (payment_status, reserved_until) = if v.method.is_prepaid() {
        ("pending", Some(rules.reservation_ttl.as_secs_f64()))
    } else {
        ("on_delivery", None)
    };
    let n = reserved.len();
    let mut ids = Vec::with_capacity(n);
    let mut variants = Vec::with_capacity(n);
    let mut products = Vec::with_capacity(n);
    let mut stores = Vec::with_capacity(n);
    let mut skus = Vec::with_capacity(n);
    let mut names = Vec::with_capacity(n);
    let mut quantities = Vec::with_capacity(n);
    let mut prices = Vec::with_capacity(n);
    let mut line_totals = Vec::with_capacity(n);
    for r in &reserved {
        let q = quantity_of(r.variant_id);
        ids.push(Uuid::now_v7());
        variants.push(r.variant_id);
        products.push(r.product_id);
        stores.push(r.store_id);
        skus.push(r.sku.clone());
        names.push(r.name.clone());
        quantities.push(q);
        prices.push(r.price);
        line_totals.push(
            pricing::line_total(r.price, i64::from(q))
                .map_err(|_| Error::invalid("items", "a line total is too large"))?,
        );
    }
    let payment = match v.method {
        PaymentMethod::Stripe => "card (Stripe)",
        PaymentMethod::Kaspi => "Kaspi.kz",
        PaymentMethod::CashOnDelivery => "cash on delivery",
    };
    let mail = SendEmail {
        key: format!("order:{order_id}:received"),
        to: email.clone(),
        template: MailTemplate::OrderReceived {
            name,
            // Filled in by the statement that draws the number.
            number: String::new(),
            lines: reserved
                .iter()
                .map(|r| line_description(r, quantity_of(r.variant_id)))
                .collect(),
            total: Money::new(totals.total, &rules.currency).display(),
            payment: payment.into(),
        },
    };
    let (job_id, queue, kind, payload, job_key, attempts) = outbox::row(&rules.pipeline, &mail)?;
    // The order, its lines, its first timeline entry and its confirmation
    // mail's outbox row in one round trip (the lines' foreign key is checked
    // at the end of the statement).
    let (number, created_at, logged_at): (String, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
        "WITH o AS (
             INSERT INTO orders (id, number, user_id, status, source, currency, email, phone, note,
                 shipping_address, shipping_method_id, shipping_method, subtotal, discount, shipping, tax, total,
                 coupon_id, coupon_code, payment_method, payment_status, reserved_until)
             VALUES ($1, 'BZ-' || lpad(nextval('order_numbers')::text, 6, '0'), $2, 'pending', 'web', $3, $4, $5, $6,
                 $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 now() + make_interval(secs => $19))
             RETURNING number, created_at),
         i AS (
             INSERT INTO order_items (id, order_id, variant_id, product_id, store_id, sku, name, quantity, unit_price, line_total)
             SELECT t.id, $1, t.variant_id, t.product_id, t.store_id, t.sku, t.name, t.quantity, t.unit_price, t.line_total
             FROM unnest($20::uuid[], $21::uuid[], $22::uuid[], $23::uuid[], $24::text[], $25::text[], $26::int[],
                         $27::bigint[], $28::bigint[])
                  AS t(id, variant_id, product_id, store_id, sku, name, quantity, unit_price, line_total)),
         l AS (
             INSERT INTO order_status_log (order_id, from_status, to_status, actor, actor_id)
             VALUES ($1, NULL, 'pending', 'customer', $2)
             RETURNING created_at),
         j AS (
             INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
             SELECT $29, $30, $31, jsonb_set($32::jsonb, '{template,number}', to_jsonb(o.number)), $33, $34
             FROM o
             ON CONFLICT (idempotency_key) DO NOTHING)
         SELECT o.number, o.created_at, l.created_at FROM o, l",
    )
    .bind(order_id)
    .bind(user)
    .bind(&rules.currency)
    .bind(&email)
    .bind(&v.phone)
    .bind(&v.note)
    .bind(sqlx::types::Json(&address))
    .bind(method.id)
    .bind(&method.name)
    .bind(totals.subtotal)
    .bind(totals.discount)
    .bind(totals.shipping)
    .bind(totals.tax)
    .bind(totals.total)
    .bind(coupon.as_ref().map(|c| c.id))
    .bind(coupon.as_ref().map(|c| c.code.clone()))
    .bind(v.method.as_str())
    .bind(payment_status)
    .bind(reserved_until)
    .bind(&ids)
    .bind(&variants)
    .bind(&products)
    .bind(&stores)
    .bind(&skus)
    .bind(&names)
    .bind(&quantities)
    .bind(&prices)
    .bind(&line_totals)
    .bind(job_id)
    .bind(queue)
    .bind(kind)
    .bind(payload)
    .bind(job_key)
    .bind(attempts)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(cart) = cart_id {
        cart::clear(&mut tx, cart).await?;
    }
    // The contended row locks come last and are held only until the commit:
    // the coupon first, then the variants in id order (the order every
    // transaction takes them in, see `workflow::apply`).
    if let Some(c) = &coupon {
        if totals.discount > 0 {
            coupons::redeem(&mut tx, c, user, order_id).await?;
        }
    }
    inventory::hold(&mut tx, &wants).await?;
    tx.commit().await?;

    // The answer from what was written, without reading it back; it equals
    // what `response` reads for a replay.
    let currency = &rules.currency;
    let mut items: Vec<OrderItem> = reserved
        .iter()
        .zip(&line_totals)
        .map(|(r, total)| OrderItem {
            variant_id: r.variant_id,
            product_id: r.product_id,
            store_id: Some(r.store_id),
            sku: r.sku.clone(),
            name: r.name.clone(),
            quantity: quantity_of(r.variant_id),
            unit_price: Money::new(r.price, currency),
            line_total: Money::new(*total, currency),
        })
        .collect();
    items.sort_by(|a, b| a.sku.cmp(&b.sku));
    let order = Order {
        status: OrderStatus::Pending,
        source: "web".into(),
        items,
        totals: MoneyTotals::new(&totals, currency),
        coupon: coupon.map(|c| CouponRef { code: c.code }),
        shipping_address: Some(address),
        shipping_method: Some(ShippingRef {
            id: Some(method.id),
            name: method.name,
        }),
        payment: PaymentInfo {
            method: v.method,
            status: payment_status.into(),
            flag: None,
        },
        tracking: None,
        timeline: vec![TimelineEntry {
            status: OrderStatus::Pending,
            at: logged_at,
            actor: "customer".into(),
            note: None,
        }],
        phone: Some(v.phone),
        email: Some(email),
        note: v.note,
        created_at,
        number,
    };
    let payment = payment_view(&order.number, v.method, payment_status, None);
    Ok(Outcome::Created(Box::new(CheckoutResponse {
        order_id,
        order,
        payment,
    })))
}

fn payment_view(
    number: &str,
    method: PaymentMethod,
    status: &str,
    client_secret: Option<String>,
) -> PaymentView {
    PaymentView {
        method,
        status: status.to_owned(),
        client_secret,
        instructions: match method {
            PaymentMethod::Kaspi => Some(format!(
                "Pay order {number} in the Kaspi.kz app; the payment is confirmed automatically."
            )),
            PaymentMethod::CashOnDelivery => Some("Pay the courier on delivery.".into()),
            PaymentMethod::Stripe => None,
        },
    }
}

/// The order and payment instructions, as the checkout answers them.
pub async fn response(pool: &PgPool, order: Uuid) -> Result<CheckoutResponse> {
    let mut conn = pool.acquire().await?;
    let row = orders::find_by_id(&mut conn, order, false)
        .await?
        .ok_or(Error::NotFound)?;
    let payment = payment_view(
        &row.number,
        row.method(),
        &row.payment_status,
        row.client_secret.clone(),
    );
    let view = orders::one(&mut conn, row, None).await?;
    Ok(CheckoutResponse {
        order_id: order,
        order: view,
        payment,
    })
}

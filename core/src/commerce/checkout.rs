//! Checkout, in named steps (`place`): one transaction claims the
//! idempotency key (drawing the order number and reading the customer and
//! the shipping method in the same statement), prices the basket, writes the
//! order with its line snapshots, first timeline entry and confirmation
//! notice (every channel the customer enabled, `messaging::notify`) in one
//! statement, then takes the contended locks last (coupon, stock) and
//! commits. A card payment's intent is asked for after the commit
//! (`checkout`), so no provider call ever holds a row lock.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    addresses::{self, AddressInput, ShippingAddress},
    cart::{self, MAX_LINES, MAX_QUANTITY},
    coupons::{self, Coupon},
    gateway::{IntentRequest, PaymentGateway},
    inventory::{self, Availability, Reserved, Want},
    order_payment,
    orders::{self, OrderItem, OrderRow},
    pricing::{self, Totals},
    quote::{self, QuoteLine},
    shipping::{self, ShippingMethod},
    status::{OrderSource, OrderStatus, PaymentMethod, PaymentStatus, StockState},
    transitions, workflow,
};
use crate::shop::Shop;
use crate::{
    catalog::Actor,
    mail::MailTemplate,
    messaging::notify::{self, Notice},
    money::Money,
    validate, Error, FieldError, Result,
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
    pub status: PaymentStatus,
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
    pub order: orders::Order,
    pub payment: PaymentView,
}

/// What a checkout call did.
#[derive(Debug, Clone)]
enum Outcome {
    Created(Box<CheckoutResponse>, Availability),
    /// The key was used before with the same request: that order's id.
    Replayed(Uuid),
}

struct Valid {
    address: Option<ShippingAddress>,
    address_id: Option<Uuid>,
    shipping: Uuid,
    method: PaymentMethod,
    /// `None` until the saved address's is read.
    phone: Option<String>,
    email: Option<String>,
    note: Option<String>,
    items: Option<Vec<Want>>,
}

fn validate_request(shop: &Shop, req: CheckoutRequest) -> Result<Valid> {
    let mut errors = Vec::new();
    let mut address_phone = None;
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
            Ok((a, phone)) => {
                address_phone = phone;
                Some(a)
            }
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
    let method = match req
        .payment_method
        .as_deref()
        .map(PaymentMethod::parse)
        // Marketplace orders are imported, never checked out.
        .map(|m| m.filter(|m| *m != PaymentMethod::Marketplace))
    {
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
        Some(Some(PaymentMethod::Stripe)) if !shop.stripe_enabled => {
            errors.push(FieldError::new(
                "payment_method",
                "stripe is not enabled in this shop",
            ));
            None
        }
        Some(Some(PaymentMethod::Kaspi)) if !shop.kaspi_enabled => {
            errors.push(FieldError::new(
                "payment_method",
                "kaspi is not enabled in this shop",
            ));
            None
        }
        Some(Some(m)) => Some(m),
    };
    // Without a phone of its own, the order takes the address's (a saved
    // address's is read with it, in `place`).
    let phone = match super::optional_text(req.phone) {
        None if req.address_id.is_some() => None,
        None => {
            if address_phone.is_none() {
                errors.push(FieldError::new(
                    "phone",
                    "is required (or give one with the address)",
                ));
            }
            address_phone
        }
        Some(p) => match validate::phone(&p) {
            Ok(p) => Some(p),
            Err(m) => {
                errors.push(FieldError::new("phone", m));
                None
            }
        },
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

/// What claiming an idempotency key found.
enum Claim {
    /// The key is new: this order's number, drawn with the claim, and what
    /// the order needs of the customer and the shipping method.
    New {
        number: String,
        customer: Customer,
        method: Option<ShippingMethod>,
    },
    /// The key was used before with the same request: that order's id.
    Replay(Uuid),
}

/// Who the order is for, as the account says.
struct Customer {
    email: String,
    name: String,
}

#[derive(sqlx::FromRow)]
struct Claimed {
    number: Option<String>,
    email: String,
    name: String,
    #[sqlx(flatten)]
    method: shipping::Joined,
}

/// Claims `(user, key)` for order `order`, or finds the order it names. The
/// statement that claims also draws the order number (only for a new claim)
/// and reads the customer and the shipping method: one round trip.
async fn claim(
    conn: &mut PgConnection,
    user: Uuid,
    (key, hash): (&str, &str),
    order: Uuid,
    shipping_method: Uuid,
) -> Result<Claim> {
    // Blocks while another transaction holds the same key, then sees its
    // outcome: its row if it committed, nothing if it rolled back.
    let claimed: Claimed = sqlx::query_as(concat!(
        "WITH c AS (
             INSERT INTO checkout_requests (user_id, key, request_hash, order_id) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_id, key) DO NOTHING
             RETURNING order_number(nextval('order_numbers')) AS number)
         SELECT c.number, u.email, u.name, ",
        joined_shipping_method!(),
        " FROM users u LEFT JOIN shipping_methods m ON m.id = $5 LEFT JOIN c ON true
         WHERE u.id = $1"
    ))
    .bind(user)
    .bind(key)
    .bind(hash)
    .bind(order)
    .bind(shipping_method)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(number) = claimed.number {
        return Ok(Claim::New {
            number,
            customer: Customer {
                email: claimed.email,
                name: claimed.name,
            },
            method: claimed.method.method(),
        });
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
    Ok(Claim::Replay(existing))
}

fn line_description(line: &OrderItem) -> String {
    format!(
        "{} x {} ({}): {}",
        line.quantity,
        line.name,
        line.sku,
        line.line_total.display()
    )
}

/// The request's fingerprint for the idempotency check: its parsed fields,
/// so whitespace and key order do not make a replay look different.
fn fingerprint(req: &CheckoutRequest) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(
        serde_json::to_vec(req).unwrap_or_default(),
    ))
}

/// Checks out and, for a card payment, asks `card` for the payment intent
/// after the order is committed. Returns the answer and, when this call
/// placed the order (not for a replay), what it changed of availability. A provider failure keeps the
/// order: the same key later gets it, and a new attempt at the intent.
pub async fn checkout(
    pool: &PgPool,
    shop: &Shop,
    card: Option<&dyn PaymentGateway>,
    actor: Actor,
    key: &str,
    req: CheckoutRequest,
) -> Result<(CheckoutResponse, Option<Availability>)> {
    let hash = fingerprint(&req);
    let (mut response, created) = match place(pool, shop, actor, key, &hash, req).await? {
        Outcome::Created(response, availability) => (*response, Some(availability)),
        Outcome::Replayed(id) => (response(pool, id).await?, None),
    };
    let awaits_intent = response.payment.method == PaymentMethod::Stripe
        && response.payment.client_secret.is_none()
        && response.order.status == OrderStatus::Pending;
    if awaits_intent {
        let card = card.ok_or_else(|| Error::Upstream("stripe is not configured".into()))?;
        response.payment.client_secret = ask_for_intent(pool, card, &response).await?;
    }
    Ok((response, created))
}

async fn ask_for_intent(
    pool: &PgPool,
    card: &dyn PaymentGateway,
    response: &CheckoutResponse,
) -> Result<Option<String>> {
    let total = &response.order.totals.total;
    let number = &response.order.number;
    let intent = card
        .create_intent(IntentRequest {
            amount: total.amount,
            currency: &total.currency,
            order_number: number,
            idempotency_key: &format!("checkout-{}", response.order_id),
        })
        .await
        .map_err(|e| {
            tracing::warn!(order.number = %number, error = %e, "creating the payment intent failed");
            let detail = if e.is_retryable() {
                "the payment provider is unavailable; the order is kept: retry with the same Idempotency-Key"
            } else {
                "the payment provider refused the payment"
            };
            Error::Upstream(detail.into())
        })?;
    let mut conn = pool.acquire().await?;
    order_payment::attach_intent(
        &mut conn,
        response.order_id,
        &intent.id,
        intent.client_secret.as_deref(),
    )
    .await?;
    Ok(intent.client_secret)
}

/// What the basket holds: the cart's lines (and coupon), or "buy now" lines.
struct Basket {
    cart: Option<Uuid>,
    wants: Vec<Want>,
    coupon: Option<Coupon>,
}

/// The basket, priced: each line's snapshot and the order's totals.
struct Priced {
    lines: Vec<OrderItem>,
    totals: Totals,
    /// The cart's coupon, shown on the order.
    coupon: Option<Coupon>,
    /// The coupon gives a discount: its use is counted.
    redeem: bool,
}

/// A checkout's statements look rows up by key: their generic plans are
/// the custom ones. Left to choose, PostgreSQL re-planned the lines' lookup
/// (`= ANY($1)`, which a generic plan sizes at ten ids) on every checkout:
/// 0.38 ms of PostgreSQL's 1.6 ms per order. Same round trip as `BEGIN`.
const BEGIN: &str = "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan";

/// Places an order for `actor` (see the module docs); the card payment's
/// intent is `checkout`'s.
async fn place(
    pool: &PgPool,
    shop: &Shop,
    actor: Actor,
    key: &str,
    request_hash: &str,
    req: CheckoutRequest,
) -> Result<Outcome> {
    let v = validate_request(shop, req)?;
    let user = actor.id;
    let mut tx = pool.begin_with(BEGIN).await?;
    let order_id = Uuid::now_v7();
    let (number, customer, method) =
        match claim(&mut tx, user, (key, request_hash), order_id, v.shipping).await? {
            Claim::New {
                number,
                customer,
                method,
            } => (number, customer, method),
            Claim::Replay(existing) => return Ok(Outcome::Replayed(existing)),
        };
    let (address, saved_phone) = shipping_address(&mut tx, user, v.address, v.address_id).await?;
    let phone = v
        .phone
        .or(saved_phone)
        .ok_or_else(|| Error::invalid("phone", "is required: the saved address has none"))?;
    let method: ShippingMethod = method
        .filter(|m| m.active)
        .ok_or_else(|| Error::invalid("shipping_method_id", "no such shipping method"))?;
    let basket = basket(&mut tx, shop, user, v.items).await?;
    let priced = price(&mut tx, shop, user, &basket, &method, v.method).await?;

    let (payment_status, held_until_paid) = transitions::initial_payment(v.method);
    let row = OrderRow {
        id: order_id,
        number,
        user_id: Some(user),
        status: OrderStatus::Pending,
        source: OrderSource::Web,
        currency: shop.currency.clone(),
        email: Some(v.email.unwrap_or(customer.email)),
        phone: Some(phone),
        note: v.note,
        shipping_address: Some(sqlx::types::Json(address)),
        shipping_method_id: Some(method.id),
        shipping_method: Some(method.name),
        subtotal: priced.totals.subtotal,
        discount: priced.totals.discount,
        shipping: priced.totals.shipping,
        tax: priced.totals.tax,
        total: priced.totals.total,
        coupon_code: priced.coupon.as_ref().map(|c| c.code.clone()),
        payment_method: v.method,
        payment_status,
        payment_reference: None,
        payment_flag: None,
        client_secret: None,
        stock_state: StockState::Reserved,
        tracking_number: None,
        courier: None,
        created_at: Utc::now(),
    };
    let reserved_until = held_until_paid.then_some(shop.reservation_ttl);
    let notice = confirmation_notice(&row, customer.name, &priced.lines);
    let (created_at, logged_at) = write_order(
        &mut tx,
        shop,
        &row,
        priced.coupon.as_ref(),
        reserved_until,
        &priced.lines,
        &notice,
    )
    .await?;
    if let Some(cart) = basket.cart {
        cart::clear(&mut tx, cart).await?;
    }
    let availability = reserve(&mut tx, user, order_id, &priced, &basket.wants).await?;
    tx.commit().await?;

    // The answer from what was written, built as a replay's is (`response`).
    let row = OrderRow { created_at, ..row };
    let timeline = vec![orders::TimelineEntry {
        status: OrderStatus::Pending,
        at: logged_at,
        actor: workflow::CHECKOUT_ACTOR.into(),
        note: None,
    }];
    Ok(Outcome::Created(
        Box::new(answer(row, priced.lines, timeline)),
        availability,
    ))
}

/// The address given in the request, or the caller's saved one with its
/// phone.
async fn shipping_address(
    conn: &mut PgConnection,
    user: Uuid,
    given: Option<ShippingAddress>,
    saved: Option<Uuid>,
) -> Result<(ShippingAddress, Option<String>)> {
    match (given, saved) {
        (Some(a), _) => Ok((a, None)),
        (None, Some(id)) => {
            let a = addresses::get(conn, user, id).await.map_err(|e| match e {
                Error::NotFound => Error::invalid("address_id", "no such address"),
                e => e,
            })?;
            let phone = a.phone.clone();
            Ok((a.into(), phone))
        }
        (None, None) => Err(Error::invalid("address", "is required")),
    }
}

async fn basket(
    conn: &mut PgConnection,
    shop: &Shop,
    user: Uuid,
    items: Option<Vec<Want>>,
) -> Result<Basket> {
    let (cart, wants, coupon_id) = match items {
        Some(items) => (None, items, None),
        None => cart::contents(conn, user).await?,
    };
    if wants.is_empty() {
        return Err(Error::invalid("items", "the cart is empty"));
    }
    let coupon = match coupon_id {
        Some(id) => coupons::find(conn, &shop.currency, id).await?,
        None => None,
    };
    Ok(Basket {
        cart,
        wants: inventory::normalize(&wants),
        coupon,
    })
}

/// Prices and names the lines now; the stock itself is reserved last
/// (`reserve`). A coupon that stopped applying is a 409.
async fn price(
    conn: &mut PgConnection,
    shop: &Shop,
    user: Uuid,
    basket: &Basket,
    shipping: &ShippingMethod,
    method: PaymentMethod,
) -> Result<Priced> {
    let described: Vec<Reserved> = inventory::describe(conn, &basket.wants).await?;
    let quantity_of = |id: Uuid| {
        basket
            .wants
            .iter()
            .find(|w| w.variant_id == id)
            .map_or(0, |w| w.quantity)
    };
    let quote_lines: Vec<QuoteLine> = described
        .iter()
        .map(|r| QuoteLine {
            unit_price: r.price,
            quantity: quantity_of(r.variant_id),
            category_id: r.category_id,
        })
        .collect();
    let coupon = basket.coupon.as_ref();
    let (totals, problem) =
        quote::quote(conn, shop, &quote_lines, coupon, Some(user), Some(shipping)).await?;
    if let (Some(c), Some(problem)) = (coupon, problem) {
        return Err(Error::Conflict(format!(
            "coupon {}: {problem}; remove it and check out again",
            c.code
        )));
    }
    if method.is_prepaid() && totals.total < 100 {
        // Providers refuse (near-)zero payments.
        return Err(Error::invalid(
            "payment_method",
            "nothing to pay online for this order; choose cash_on_delivery",
        ));
    }
    let currency = &shop.currency;
    let mut lines = Vec::with_capacity(described.len());
    for r in described {
        let quantity = quantity_of(r.variant_id);
        let total = pricing::line_total(r.price, i64::from(quantity))
            .map_err(|_| Error::invalid("items", "a line total is too large"))?;
        lines.push(OrderItem {
            variant_id: r.variant_id,
            product_id: r.product_id,
            store_id: Some(r.store_id),
            sku: r.sku,
            name: r.name,
            quantity,
            unit_price: Money::new(r.price, currency),
            line_total: Money::new(total, currency),
        });
    }
    // The order lines are shown by SKU (`orders::assemble`).
    lines.sort_by(|a, b| a.sku.cmp(&b.sku));
    Ok(Priced {
        lines,
        coupon: basket.coupon.clone(),
        redeem: basket.coupon.is_some() && totals.discount > 0,
        totals,
    })
}

fn confirmation_notice(order: &OrderRow, name: String, lines: &[OrderItem]) -> Notice {
    let payment = match order.payment_method {
        PaymentMethod::Stripe => "card (Stripe)",
        PaymentMethod::Kaspi => "Kaspi.kz",
        PaymentMethod::CashOnDelivery => "cash on delivery",
        PaymentMethod::Marketplace => "the marketplace",
    };
    Notice {
        event: format!("order:{}:received", order.id),
        user: order.user_id,
        order: Some(order.id),
        email: order.email.clone(),
        phone: order.phone.clone(),
        template: MailTemplate::OrderReceived {
            name,
            number: order.number.clone(),
            lines: lines.iter().map(line_description).collect(),
            total: Money::new(order.total, &order.currency).display(),
            payment: payment.into(),
        },
    }
}

/// The order, its lines, its first timeline entry and its confirmation
/// notice's messages and jobs in one round trip (the lines' foreign key is checked at
/// the end of the statement). Returns when the order and its entry were
/// written.
async fn write_order(
    conn: &mut PgConnection,
    shop: &Shop,
    o: &OrderRow,
    coupon: Option<&Coupon>,
    reserved_for: Option<std::time::Duration>,
    lines: &[OrderItem],
    notice: &Notice,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let ids: Vec<Uuid> = lines.iter().map(|_| Uuid::now_v7()).collect();
    let variants: Vec<Uuid> = lines.iter().map(|l| l.variant_id).collect();
    let products: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let stores: Vec<Option<Uuid>> = lines.iter().map(|l| l.store_id).collect();
    let skus: Vec<&str> = lines.iter().map(|l| l.sku.as_str()).collect();
    let names: Vec<&str> = lines.iter().map(|l| l.name.as_str()).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    let prices: Vec<i64> = lines.iter().map(|l| l.unit_price.amount).collect();
    let totals: Vec<i64> = lines.iter().map(|l| l.line_total.amount).collect();

    let mut q = QueryBuilder::<Postgres>::new(
        "WITH o AS (
             INSERT INTO orders (id, number, user_id, status, source, currency, email, phone, note,
                 shipping_address, shipping_method_id, shipping_method, subtotal, discount, shipping, tax, total,
                 coupon_id, coupon_code, payment_method, payment_status, stock_state, reserved_until) ",
    );
    q.push_values([o], |mut b, o| {
        b.push_bind(o.id)
            .push_bind(&o.number)
            .push_bind(o.user_id)
            .push_bind(o.status)
            .push_bind(o.source)
            .push_bind(&o.currency)
            .push_bind(&o.email)
            .push_bind(&o.phone)
            .push_bind(&o.note)
            .push_bind(&o.shipping_address)
            .push_bind(o.shipping_method_id)
            .push_bind(&o.shipping_method)
            .push_bind(o.subtotal)
            .push_bind(o.discount)
            .push_bind(o.shipping)
            .push_bind(o.tax)
            .push_bind(o.total)
            .push_bind(coupon.map(|c| c.id))
            .push_bind(&o.coupon_code)
            .push_bind(o.payment_method)
            .push_bind(o.payment_status)
            .push_bind(o.stock_state)
            .push("now() + make_interval(secs => ")
            .push_bind_unseparated(reserved_for.map(|d| d.as_secs_f64()))
            .push_unseparated(")");
    });
    q.push(
        " RETURNING created_at),
         i AS (
             INSERT INTO order_items (id, order_id, variant_id, product_id, store_id, sku, name, quantity, unit_price, line_total)
             SELECT t.id, ",
    );
    q.push_bind(o.id)
        .push(", t.variant_id, t.product_id, t.store_id, t.sku, t.name, t.quantity, t.unit_price, t.line_total FROM unnest(")
        .push_bind(&ids)
        .push("::uuid[], ")
        .push_bind(&variants)
        .push("::uuid[], ")
        .push_bind(&products)
        .push("::uuid[], ")
        .push_bind(&stores)
        .push("::uuid[], ")
        .push_bind(&skus)
        .push("::text[], ")
        .push_bind(&names)
        .push("::text[], ")
        .push_bind(&quantities)
        .push("::int[], ")
        .push_bind(&prices)
        .push("::bigint[], ")
        .push_bind(&totals)
        .push(
            "::bigint[]) AS t(id, variant_id, product_id, store_id, sku, name, quantity, unit_price, line_total)),
         l AS (",
        );
    workflow::push_first_entry(&mut q, o.id, o.status, o.user_id);
    q.push("), ");
    notify::push_fan_out(&mut q, shop, std::slice::from_ref(notice))?;
    q.push(" SELECT o.created_at, l.created_at FROM o, l");
    Ok(q.build_query_as().fetch_one(conn).await?)
}

/// The contended row locks come last and are held only until the commit:
/// the coupon first, then the variants in id order (the order every
/// transaction takes them in, see `workflow::apply`).
async fn reserve(
    conn: &mut PgConnection,
    user: Uuid,
    order: Uuid,
    priced: &Priced,
    wants: &[Want],
) -> Result<Availability> {
    if let Some(c) = priced.coupon.as_ref().filter(|_| priced.redeem) {
        coupons::redeem(conn, c, user, order).await?;
    }
    inventory::hold(conn, wants).await
}

fn payment_view(order: &OrderRow) -> PaymentView {
    PaymentView {
        method: order.payment_method,
        status: order.payment_status,
        client_secret: order.client_secret.clone(),
        instructions: match order.payment_method {
            PaymentMethod::Kaspi => Some(format!(
                "Pay order {} in the Kaspi.kz app; the payment is confirmed automatically.",
                order.number
            )),
            PaymentMethod::CashOnDelivery => Some("Pay the courier on delivery.".into()),
            PaymentMethod::Stripe | PaymentMethod::Marketplace => None,
        },
    }
}

/// The checkout's answer for an order: a fresh one's and a replay's alike.
fn answer(
    row: OrderRow,
    items: Vec<OrderItem>,
    timeline: Vec<orders::TimelineEntry>,
) -> CheckoutResponse {
    let payment = payment_view(&row);
    CheckoutResponse {
        order_id: row.id,
        order: orders::view(row, items, timeline),
        payment,
    }
}

/// The order and payment instructions, as the checkout answers them.
async fn response(pool: &PgPool, order: Uuid) -> Result<CheckoutResponse> {
    let mut conn = pool.acquire().await?;
    let row = orders::find_by_id(&mut conn, order, false)
        .await?
        .ok_or(Error::NotFound)?;
    let payment = payment_view(&row);
    let view = orders::one(&mut conn, row, None).await?;
    Ok(CheckoutResponse {
        order_id: order,
        order: view,
        payment,
    })
}

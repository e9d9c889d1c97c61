//! `bazaar seed --orders N`: a shop's order history for the back office and
//! its benchmark. N orders over the past year from a thousand demo
//! customers, of the seeded catalogue's variants, with the mix of statuses,
//! sources and payment methods a selling shop has. Rows go in bulk (one
//! statement per table per 5,000 orders); order numbers come from the same
//! sequence and function as checkout's.

use std::time::{Duration, Instant};

use anyhow::Context;
use bazaar_core::auth::password;
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

const CHUNK: usize = 5_000;
const CUSTOMERS: usize = 1_000;
pub const CUSTOMER_PASSWORD: &str = "demo-password-123";
/// Orders are spread over this many past seconds (a year).
const SPREAD_SECONDS: i64 = 365 * 24 * 3600;

#[derive(sqlx::FromRow)]
struct Variant {
    id: Uuid,
    product_id: Uuid,
    store_id: Uuid,
    sku: String,
    name: String,
    price: i64,
}

pub struct OrdersReport {
    pub orders: usize,
    pub lines: usize,
    pub customers: usize,
    pub elapsed: Duration,
}

impl std::fmt::Display for OrdersReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "orders: {} with {} lines from {} demo customers (demo-customer-N@bazaar.local, password {CUSTOMER_PASSWORD}), in {:.1} s",
            self.orders,
            self.lines,
            self.customers,
            self.elapsed.as_secs_f64()
        )
    }
}

/// (status, payment status, stock state) of a seeded order, weighted like
/// a shop's history: most orders delivered, some cancelled, a few open.
fn lifecycle(rng: &mut StdRng, age: TimeDelta) -> (&'static str, &'static str, &'static str) {
    let roll = rng.random_range(0..100);
    // Recent orders are still on their way; old ones have arrived or not.
    if age < TimeDelta::days(3) {
        return match roll {
            0..=24 => ("pending", "pending", "deducted"),
            25..=44 => ("paid", "paid", "deducted"),
            45..=69 => ("confirmed", "paid", "deducted"),
            70..=89 => ("shipped", "paid", "deducted"),
            _ => ("cancelled", "failed", "released"),
        };
    }
    match roll {
        0..=79 => ("delivered", "paid", "deducted"),
        80..=91 => ("cancelled", "failed", "released"),
        92..=94 => ("refunded", "refunded", "released"),
        _ => ("shipped", "paid", "deducted"),
    }
}

pub async fn run(pool: &PgPool, currency: &str, orders: usize) -> anyhow::Result<OrdersReport> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(rand::random());
    let variants: Vec<Variant> = sqlx::query_as(
        "SELECT v.id, v.product_id, p.store_id, v.sku, p.name, v.price
         FROM variants v JOIN products p ON p.id = v.product_id
         WHERE v.active AND p.deleted_at IS NULL AND v.currency = $1 LIMIT 100000",
    )
    .bind(currency)
    .fetch_all(pool)
    .await?;
    anyhow::ensure!(
        !variants.is_empty(),
        "no products in {currency} to order: run `bazaar seed --products N` first"
    );
    let (shipping_id, shipping_name, shipping_price): (Uuid, String, i64) = sqlx::query_as(
        "SELECT id, name, price FROM shipping_methods WHERE currency = $1 ORDER BY price LIMIT 1",
    )
    .bind(currency)
    .fetch_one(pool)
    .await
    .context("a shipping method (the product seed makes two)")?;
    let customers = ensure_customers(pool).await?;

    let now = Utc::now();
    let mut lines_total = 0;
    let mut done = 0;
    while done < orders {
        let n = CHUNK.min(orders - done);
        let mut o_id = Vec::with_capacity(n);
        let mut o_user = Vec::with_capacity(n);
        let mut o_email = Vec::with_capacity(n);
        let mut o_status = Vec::with_capacity(n);
        let mut o_source = Vec::with_capacity(n);
        let mut o_method = Vec::with_capacity(n);
        let mut o_payment = Vec::with_capacity(n);
        let mut o_stock = Vec::with_capacity(n);
        let mut o_subtotal = Vec::with_capacity(n);
        let mut o_shipping = Vec::with_capacity(n);
        let mut o_total = Vec::with_capacity(n);
        let mut o_created = Vec::with_capacity(n);
        let mut o_tracking: Vec<Option<String>> = Vec::with_capacity(n);
        let mut i_id = Vec::new();
        let mut i_order = Vec::new();
        let mut i_variant = Vec::new();
        let mut i_product = Vec::new();
        let mut i_store = Vec::new();
        let mut i_sku = Vec::new();
        let mut i_name = Vec::new();
        let mut i_qty = Vec::new();
        let mut i_price = Vec::new();
        let mut i_total = Vec::new();
        let mut i_created = Vec::new();
        for _ in 0..n {
            let id = Uuid::now_v7();
            let created: DateTime<Utc> =
                now - TimeDelta::seconds(rng.random_range(0..SPREAD_SECONDS));
            let (status, payment, stock) = lifecycle(&mut rng, now - created);
            let (user, email) = &customers[rng.random_range(0..customers.len())];
            let source = match rng.random_range(0..10) {
                0..=6 => "web",
                7..=8 => "kaspi",
                _ => "ozon",
            };
            let method = match (source, rng.random_range(0..3)) {
                ("web", 0) => "stripe",
                ("web", 1) => "kaspi",
                ("web", _) => "cash_on_delivery",
                _ => "marketplace",
            };
            let mut subtotal = 0i64;
            for _ in 0..rng.random_range(1..=3) {
                let v = &variants[rng.random_range(0..variants.len())];
                let qty: i32 = rng.random_range(1..=3);
                let line = v.price * i64::from(qty);
                subtotal += line;
                i_id.push(Uuid::now_v7());
                i_order.push(id);
                i_variant.push(v.id);
                i_product.push(v.product_id);
                i_store.push(v.store_id);
                i_sku.push(v.sku.clone());
                i_name.push(v.name.clone());
                i_qty.push(qty);
                i_price.push(v.price);
                i_total.push(line);
                i_created.push(created);
            }
            let shipping = if source == "web" { shipping_price } else { 0 };
            o_id.push(id);
            o_user.push(*user);
            o_email.push(email.clone());
            o_status.push(status);
            o_source.push(source);
            o_method.push(method);
            o_payment.push(
                if method == "cash_on_delivery" && payment == "paid" && status != "delivered" {
                    "on_delivery"
                } else {
                    payment
                },
            );
            o_stock.push(stock);
            o_subtotal.push(subtotal);
            o_shipping.push(shipping);
            o_total.push(subtotal + shipping);
            o_created.push(created);
            o_tracking.push(
                matches!(status, "shipped" | "delivered")
                    .then(|| format!("KZ{:09}", rng.random_range(0..1_000_000_000u32))),
            );
        }
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO orders (id, number, user_id, status, source, external_id, currency, email, phone,
                                 shipping_address, shipping_method_id, shipping_method, subtotal, shipping,
                                 total, payment_method, payment_status, stock_state, tracking_number,
                                 courier, created_at, updated_at)
             SELECT o.id, order_number(nextval('order_numbers')), o.user_id, o.status, o.source,
                    CASE WHEN o.source = 'web' THEN NULL ELSE o.id::text END, $1, o.email, '+77010000000',
                    $2, $3, $4, o.subtotal, o.shipping, o.total, o.method, o.payment, o.stock, o.tracking,
                    CASE WHEN o.tracking IS NULL THEN NULL ELSE 'Kazpost' END, o.created, o.created
             FROM unnest($5::uuid[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[],
                         $16::timestamptz[], $17::text[])
                  AS o(id, user_id, email, status, source, method, payment, stock, subtotal, shipping,
                       total, created, tracking)
             ORDER BY o.created",
        )
        .bind(currency)
        .bind(json!({ "name": "Demo Customer", "line1": "Abay Avenue 1", "city": "Almaty",
                      "postal_code": "050000", "country": "KZ" }))
        .bind(shipping_id)
        .bind(&shipping_name)
        .bind(&o_id)
        .bind(&o_user)
        .bind(&o_email)
        .bind(&o_status)
        .bind(&o_source)
        .bind(&o_method)
        .bind(&o_payment)
        .bind(&o_stock)
        .bind(&o_subtotal)
        .bind(&o_shipping)
        .bind(&o_total)
        .bind(&o_created)
        .bind(&o_tracking)
        .execute(&mut *tx)
        .await
        .context("inserting orders")?;
        sqlx::query(
            "INSERT INTO order_items (id, order_id, variant_id, product_id, store_id, sku, name, quantity,
                                      unit_price, line_total, created_at)
             SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[],
                                  $7::text[], $8::int[], $9::bigint[], $10::bigint[], $11::timestamptz[])",
        )
        .bind(&i_id)
        .bind(&i_order)
        .bind(&i_variant)
        .bind(&i_product)
        .bind(&i_store)
        .bind(&i_sku)
        .bind(&i_name)
        .bind(&i_qty)
        .bind(&i_price)
        .bind(&i_total)
        .bind(&i_created)
        .execute(&mut *tx)
        .await
        .context("inserting order lines")?;
        sqlx::query(
            "INSERT INTO order_status_log (order_id, to_status, actor, created_at)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])",
        )
        .bind(&o_id)
        .bind(&o_status)
        .bind(vec!["seed"; n])
        .bind(&o_created)
        .execute(&mut *tx)
        .await
        .context("inserting order timelines")?;
        tx.commit().await?;
        lines_total += i_id.len();
        done += n;
        if done % 100_000 < CHUNK {
            eprintln!("seed: {done}/{orders} orders");
        }
    }
    // Autovacuum is not to be relied on: plans need the real row counts,
    // and the dashboard's index-only scans need the visibility map.
    for statement in [
        "VACUUM (ANALYZE) orders",
        "VACUUM (ANALYZE) order_items",
        "VACUUM (ANALYZE) order_status_log",
        "ANALYZE users",
    ] {
        sqlx::query(statement)
            .execute(pool)
            .await
            .with_context(|| statement.to_owned())?;
    }
    Ok(OrdersReport {
        orders,
        lines: lines_total,
        customers: customers.len(),
        elapsed: started.elapsed(),
    })
}

/// The demo customers (created once), as (id, e-mail).
async fn ensure_customers(pool: &PgPool) -> anyhow::Result<Vec<(Uuid, String)>> {
    let hash = password::hash(CUSTOMER_PASSWORD.to_owned()).await?;
    let emails: Vec<String> = (1..=CUSTOMERS)
        .map(|i| format!("demo-customer-{i}@bazaar.local"))
        .collect();
    let ids: Vec<Uuid> = emails.iter().map(|_| Uuid::now_v7()).collect();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, role)
         SELECT id, email, $3, 'Demo Customer', 'customer' FROM unnest($1::uuid[], $2::text[]) AS u(id, email)
         ON CONFLICT DO NOTHING",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(&hash)
    .execute(pool)
    .await
    .context("creating the demo customers")?;
    Ok(
        sqlx::query_as("SELECT id, email FROM users WHERE email = ANY($1)")
            .bind(&emails)
            .fetch_all(pool)
            .await?,
    )
}

//! Shared arrangements for the commerce tests (cart, checkout, payments,
//! orders): a shop with stocked variants and a shipping method, made through
//! the HTTP API as a client would, plus the calls those tests repeat.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use uuid::Uuid;

use crate::{
    fixtures::{catalog, expect, send, Catalog},
    harness::{eventually, smtp::ReceivedMail, TestApp, PASSWORD},
};

/// The price every generated variant starts at (5 000.00 KZT).
pub const PRICE: i64 = 500_000;
/// The shipping method's price (1 500.00 KZT) ...
pub const SHIPPING: i64 = 150_000;
/// ... free from 50 000.00 KZT of goods (after the discount).
pub const FREE_ABOVE: i64 = 5_000_000;
/// The phone every order is placed with; `/orders/track` compares digits only.
pub const PHONE: &str = "+7 701 234 56 78";
pub const KASPI_SECRET: &str = "kaspi-webhook-secret-for-tests";
/// Waits on the worker and the scheduler: long, the test machine is slow.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub fn money(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "KZT" })
}

/// The minor units of a Money value.
pub fn amount(money: &Value) -> i64 {
    money["amount"]
        .as_i64()
        .unwrap_or_else(|| panic!("not money: {money}"))
}

pub fn address() -> Value {
    json!({
        "name": "Ann Buyer",
        "line1": "Abay Avenue 10",
        "line2": "apt. 5",
        "city": "Almaty",
        "region": "Almaty",
        "postal_code": "050000",
        "country": "KZ",
    })
}

/// The catalogue's "Classic Tee" in sizes S, M, L and colors Red, Blue (six
/// variants, `CTEE-S-RED` ... `CTEE-L-BLUE`, 10 in stock each at `PRICE`) and
/// one shipping method.
pub struct Shop {
    pub catalog: Catalog,
    pub shipping_method_id: String,
    /// (sku, variant id)
    variants: Vec<(String, String)>,
}

impl Shop {
    /// The id of the variant with `sku`.
    pub fn variant(&self, sku: &str) -> String {
        self.variants
            .iter()
            .find(|(s, _)| s == sku)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no variant {sku}"))
    }

    /// A checkout body with a new address, this shop's shipping method and
    /// the order's lines taken from the cart.
    pub fn order(&self, payment_method: &str) -> Value {
        json!({
            "address": address(),
            "shipping_method_id": self.shipping_method_id,
            "payment_method": payment_method,
            "phone": PHONE,
        })
    }

    /// A "buy now" checkout body: `lines` of (sku, quantity), the cart left alone.
    pub fn buy_now(&self, payment_method: &str, lines: &[(&str, i64)]) -> Value {
        let mut body = self.order(payment_method);
        body["items"] = lines
            .iter()
            .map(|(sku, quantity)| json!({ "variant_id": self.variant(sku), "quantity": quantity }))
            .collect();
        body
    }
}

pub async fn shop(app: &TestApp) -> Shop {
    let catalog = catalog(app).await;
    let product = catalog
        .variants(app, &["S", "M", "L"], &["Red", "Blue"], PRICE)
        .await;
    let variants = product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["sku"].as_str().unwrap().to_owned(),
                v["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let method = expect(
        app,
        "POST",
        "/api/v1/admin/shipping-methods",
        Some(&catalog.admin),
        Some(json!({
            "name": "Courier",
            "price": money(SHIPPING),
            "free_above": money(FREE_ABOVE),
            "estimated_days_min": 2,
            "estimated_days_max": 5,
        })),
        201,
    )
    .await;
    Shop {
        shipping_method_id: method["id"].as_str().unwrap().to_owned(),
        catalog,
        variants,
    }
}

/// Sets a variant's stock as its vendor would; returns the variant.
pub async fn set_stock(app: &TestApp, shop: &Shop, variant_id: &str, stock: i64) -> Value {
    expect(
        app,
        "PATCH",
        &format!("/api/v1/variants/{variant_id}"),
        Some(&shop.catalog.vendor),
        Some(json!({ "stock": stock })),
        200,
    )
    .await
}

pub async fn set_price(app: &TestApp, shop: &Shop, variant_id: &str, price: i64) -> Value {
    expect(
        app,
        "PATCH",
        &format!("/api/v1/variants/{variant_id}"),
        Some(&shop.catalog.vendor),
        Some(json!({ "price": money(price) })),
        200,
    )
    .await
}

/// (stock, reserved) of a variant, as stored.
pub async fn stock(app: &TestApp, variant_id: &str) -> (i32, i32) {
    sqlx::query_as("SELECT stock, reserved FROM variants WHERE id = $1")
        .bind(variant_id.parse::<Uuid>().unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

pub async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

pub async fn create_coupon(app: &TestApp, shop: &Shop, body: Value) -> Value {
    expect(
        app,
        "POST",
        "/api/v1/admin/coupons",
        Some(&shop.catalog.admin),
        Some(body),
        201,
    )
    .await
}

/// `POST /api/v1/checkout` with the `Idempotency-Key` header.
pub async fn checkout(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/checkout"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A checkout's status and body (the text as a JSON string when it is not JSON).
pub async fn attempt(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let r = checkout(app, token, key, body).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Checks out `body` under a fresh key, expecting 201; returns `{ order, payment }`.
pub async fn place(app: &TestApp, token: &str, body: &Value) -> Value {
    let (status, placed) = attempt(app, token, &Uuid::now_v7().to_string(), body).await;
    assert_eq!(status, 201, "checkout: {placed}");
    placed
}

/// The order number of a checkout response.
pub fn number(placed: &Value) -> String {
    placed["order"]["number"].as_str().unwrap().to_owned()
}

/// `GET /api/v1/orders/{number}` as `token` (the owner or an admin).
pub async fn order(app: &TestApp, token: &str, number: &str) -> Value {
    expect(
        app,
        "GET",
        &format!("/api/v1/orders/{number}"),
        Some(token),
        None,
        200,
    )
    .await
}

/// Polls the order until it has `status`; returns it.
pub async fn wait_for_status(app: &TestApp, token: &str, number: &str, status: &str) -> Value {
    eventually(
        &format!("order {number} to be {status}"),
        PATIENCE,
        || async {
            let o = order(app, token, number).await;
            (o["status"] == status).then_some(o)
        },
    )
    .await
}

/// `POST /api/v1/admin/orders/{number}/status` as `token` (admin or vendor).
pub async fn move_order(
    app: &TestApp,
    token: &str,
    number: &str,
    body: Value,
) -> reqwest::Response {
    send(
        app,
        "POST",
        &format!("/api/v1/admin/orders/{number}/status"),
        Some(token),
        Some(body),
    )
    .await
}

/// Moves the order to `status` (with a tracking number when shipping),
/// expecting 200; returns the order.
pub async fn advance(app: &TestApp, token: &str, number: &str, status: &str) -> Value {
    let mut body = json!({ "status": status });
    if status == "shipped" {
        body["tracking_number"] = json!("KZ123456789");
        body["courier"] = json!("Kazpost");
    }
    let r = move_order(app, token, number, body).await;
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, 200, "{number} -> {status}: {text}");
    let o: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(o["status"], status, "{o}");
    o
}

/// The (status, actor) pairs of an order's timeline, oldest first.
pub fn timeline(order: &Value) -> Vec<(String, String)> {
    order["timeline"]
        .as_array()
        .unwrap_or_else(|| panic!("no timeline: {order}"))
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Expected (status, actor) pairs, for comparing with `timeline`.
pub fn steps(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(s, a)| ((*s).to_owned(), (*a).to_owned()))
        .collect()
}

/// The mails to `email` about order `number` (by subject).
pub fn mails_about(app: &TestApp, email: &str, number: &str) -> Vec<ReceivedMail> {
    app.smtp
        .mails_to(email)
        .into_iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.contains(number)))
        .collect()
}

/// Waits for a mail to `email` whose subject is `subject`.
pub async fn wait_for_mail(app: &TestApp, email: &str, subject: &str) -> ReceivedMail {
    eventually(&format!("the mail \"{subject}\""), PATIENCE, || async {
        app.smtp
            .mails_to(email)
            .into_iter()
            .find(|m| m.header("Subject").is_some_and(|s| s == subject))
    })
    .await
}

/// Who a cart call is made as: a guest (with the token issued earlier, if
/// any) or a signed-in user.
#[derive(Clone, Copy)]
pub enum As<'a> {
    Guest(Option<&'a str>),
    User(&'a str),
}

pub async fn cart_call(
    app: &TestApp,
    method: &str,
    path: &str,
    who: As<'_>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    match who {
        As::Guest(Some(token)) => req = req.header("X-Cart-Token", token),
        As::Guest(None) => {}
        As::User(bearer) => req = req.bearer_auth(bearer),
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// A cart call expecting `status`; returns the body.
pub async fn cart_expect(
    app: &TestApp,
    method: &str,
    path: &str,
    who: As<'_>,
    body: Option<Value>,
    status: u16,
) -> Value {
    let r = cart_call(app, method, path, who, body).await;
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Adds `quantity` of a variant to the cart, expecting 201; returns the cart.
pub async fn add(app: &TestApp, who: As<'_>, variant_id: &str, quantity: i64) -> Value {
    cart_expect(
        app,
        "POST",
        "/api/v1/cart/items",
        who,
        Some(json!({ "variant_id": variant_id, "quantity": quantity })),
        201,
    )
    .await
}

pub async fn cart(app: &TestApp, who: As<'_>) -> Value {
    cart_expect(app, "GET", "/api/v1/cart", who, None, 200).await
}

/// The cart line of `sku`.
pub fn line<'a>(cart: &'a Value, sku: &str) -> &'a Value {
    cart["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["sku"] == sku)
        .unwrap_or_else(|| panic!("no {sku} line in {cart}"))
}

/// Registers a customer, e-mail = name, sending the guest's cart token along.
pub async fn register_with_cart(app: &TestApp, email: &str, cart_token: &str) -> String {
    let r = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("X-Cart-Token", cart_token)
        .json(&json!({ "email": email, "password": PASSWORD, "name": email, "role": "customer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "register {email}");
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Signs in with a guest cart's token; the whole session answer.
pub async fn login_with_cart(app: &TestApp, email: &str, cart_token: &str) -> Value {
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("X-Cart-Token", cart_token)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {email}");
    r.json().await.unwrap()
}

pub fn hmac_sha256_hex(secret: &str, message: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// Posts a Kaspi payment notification signed with `secret`.
pub async fn kaspi_webhook(app: &TestApp, secret: &str, event: &Value) -> reqwest::Response {
    let body = event.to_string();
    app.client
        .post(app.url("/webhooks/kaspi"))
        .header("content-type", "application/json")
        .header(
            "X-Kaspi-Signature",
            hmac_sha256_hex(secret, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A Kaspi `payment.succeeded` for the whole of a placed order.
pub fn kaspi_paid(event_id: &str, placed: &Value) -> Value {
    json!({
        "id": event_id,
        "type": "payment.succeeded",
        "order_number": number(placed),
        "amount": amount(&placed["order"]["totals"]["total"]),
        "currency": "KZT",
    })
}

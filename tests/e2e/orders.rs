//! Orders after checkout (issue 4): the whole story from a guest's cart to a
//! verified review, the workflow's refusals, stock moved by confirmation and
//! cancellation, who may see and move which order, public tracking, and
//! unpaid reservations expiring.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::{
    commerce::{
        add, advance, amount, cart, cart_expect, count, create_coupon, kaspi_paid, kaspi_webhook,
        line, mails_about, money, move_order, number, order, place, register_with_cart, shop,
        steps, stock, timeline, wait_for_status, As, Shop, KASPI_SECRET, PATIENCE, PHONE, PRICE,
        SHIPPING,
    },
    fixtures::{customer, expect, send, vendor},
    harness::{assert_problem, error_fields, eventually, stripe, TestApp},
};

/// Buys `quantity` of `sku` at once; returns the order number.
async fn buy(
    app: &TestApp,
    shop: &Shop,
    token: &str,
    payment_method: &str,
    (sku, quantity): (&str, i64),
) -> String {
    number(
        &place(
            app,
            token,
            &shop.buy_now(payment_method, &[(sku, quantity)]),
        )
        .await,
    )
}

/// A cash-on-delivery order of one `sku`, moved by the admin through `path`.
async fn order_in(app: &TestApp, shop: &Shop, token: &str, sku: &str, path: &[&str]) -> String {
    let order_number = buy(app, shop, token, "cash_on_delivery", (sku, 1)).await;
    for status in path {
        advance(app, &shop.catalog.admin, &order_number, status).await;
    }
    order_number
}

/// The status-log rows of an order.
async fn log_rows(app: &TestApp, order_number: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM order_status_log l JOIN orders o ON o.id = l.order_id
         WHERE o.number = $1",
    )
    .bind(order_number)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The orders a back-office user (admin or vendor) sees.
async fn back_office(app: &TestApp, token: &str) -> Value {
    expect(app, "GET", "/api/v1/admin/orders", Some(token), None, 200).await
}

/// `POST /api/v1/orders/track`, as anyone.
async fn track(app: &TestApp, order_number: &str, phone: &str) -> reqwest::Response {
    let body = json!({ "number": order_number, "phone": phone });
    send(app, "POST", "/api/v1/orders/track", None, Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_signs_up_pays_gets_the_tee_delivered_and_writes_a_verified_review() {
    let app = TestApp::builder().stripe().start().await;
    let fake = app.stripe.as_ref().unwrap();
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.as_str();
    let medium_blue = shop.variant("CTEE-M-BLUE");
    create_coupon(
        &app,
        &shop,
        json!({ "code": "TEN-OFF", "kind": "percent", "value": 10 }),
    )
    .await;

    // Browsing as a guest; signing up brings the cart along.
    let guest = add(&app, As::Guest(None), &medium_blue, 2).await;
    let ann = register_with_cart(&app, "ann@example.com", guest["token"].as_str().unwrap()).await;
    let me = As::User(&ann);
    assert_eq!(line(&cart(&app, me).await, "CTEE-M-BLUE")["quantity"], 2);
    cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        me,
        Some(json!({ "code": "ten-off" })),
        200,
    )
    .await;
    let address = expect(
        &app,
        "POST",
        "/api/v1/me/addresses",
        Some(&ann),
        Some(json!({
            "name": "Ann Buyer", "line1": "Abay Avenue 10", "city": "Almaty",
            "postal_code": "050000", "country": "KZ",
        })),
        201,
    )
    .await;

    let placed = place(
        &app,
        &ann,
        &json!({
            "address_id": address["id"],
            "shipping_method_id": shop.shipping_method_id,
            "payment_method": "stripe",
            "phone": PHONE,
            "note": "Ring twice",
        }),
    )
    .await;
    let order_number = number(&placed);
    let sold = &placed["order"];
    let totals: Vec<i64> = ["subtotal", "discount", "shipping", "tax", "total"]
        .iter()
        .map(|k| amount(&sold["totals"][*k]))
        .collect();
    let total = 2 * PRICE - 2 * PRICE / 10 + SHIPPING;
    assert_eq!(totals, [2 * PRICE, 2 * PRICE / 10, SHIPPING, 0, total]);
    assert_eq!(sold["coupon"]["code"], "TEN-OFF");
    assert_eq!(sold["note"], "Ring twice");
    assert_eq!(sold["shipping_address"]["line1"], "Abay Avenue 10");
    assert_eq!(cart(&app, me).await["items"], json!([]));
    let intent = fake
        .payment_intents()
        .into_iter()
        .find(|i| i.order_number == order_number)
        .expect("a payment intent");
    assert_eq!(intent.amount, total);
    assert_eq!(
        placed["payment"]["client_secret"],
        intent.client_secret.as_str()
    );

    // Stripe reports the payment; the shop confirms, ships and delivers.
    let paid = stripe::event(
        "evt_story_paid",
        "payment_intent.succeeded",
        stripe::intent_object(&intent, "succeeded"),
    );
    assert_eq!(app.stripe_webhook(&paid).await.status(), 200);
    wait_for_status(&app, &ann, &order_number, "paid").await;
    advance(&app, admin, &order_number, "confirmed").await;
    assert_eq!(stock(&app, &medium_blue).await, (8, 0), "deducted");
    let shipped = advance(&app, admin, &order_number, "shipped").await;
    assert_eq!(
        shipped["tracking"],
        json!({ "number": "KZ123456789", "courier": "Kazpost" })
    );
    advance(&app, admin, &order_number, "delivered").await;

    let delivered = order(&app, &ann, &order_number).await;
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(
        timeline(&delivered),
        steps(&[
            ("pending", "customer"),
            ("paid", "stripe"),
            ("confirmed", "admin"),
            ("shipped", "admin"),
            ("delivered", "admin"),
        ])
    );
    let times: Vec<_> = delivered["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    // One mail per step, each its own.
    app.drain().await;
    let mails = eventually("a mail per step", PATIENCE, || async {
        let m = mails_about(&app, "ann@example.com", &order_number);
        (m.len() >= 5).then_some(m)
    })
    .await;
    let subjects: HashSet<String> = mails.iter().filter_map(|m| m.header("Subject")).collect();
    assert_eq!(mails.len(), 5, "{subjects:?}");
    assert_eq!(subjects.len(), 5, "{subjects:?}");
    assert!(subjects.contains(&format!("Order {order_number} received")));

    // Having received it, Ann's review is verified.
    let review = expect(
        &app,
        "POST",
        &format!("/api/v1/products/{}/reviews", shop.catalog.product_id),
        Some(&ann),
        Some(json!({ "rating": 5, "title": "Fits well" })),
        201,
    )
    .await;
    assert_eq!(review["verified"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_illegal_transition_is_refused_with_409_and_changes_nothing() {
    let app = TestApp::builder()
        .var("KASPI_WEBHOOK_SECRET", KASPI_SECRET)
        .start()
        .await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let admin = shop.catalog.admin.as_str();
    let sku = "CTEE-S-RED";

    let pending = order_in(&app, &shop, &ann, sku, &[]).await;
    let kaspi = place(&app, &ann, &shop.buy_now("kaspi", &[(sku, 1)])).await;
    let r = kaspi_webhook(&app, KASPI_SECRET, &kaspi_paid("kaspi-paid", &kaspi)).await;
    assert_eq!(r.status(), 200);
    let paid = number(&kaspi);
    wait_for_status(&app, &ann, &paid, "paid").await;
    let confirmed = order_in(&app, &shop, &ann, sku, &["confirmed"]).await;
    let shipped = order_in(&app, &shop, &ann, sku, &["confirmed", "shipped"]).await;
    let delivered = order_in(
        &app,
        &shop,
        &ann,
        sku,
        &["confirmed", "shipped", "delivered"],
    )
    .await;
    let cancelled = order_in(&app, &shop, &ann, sku, &["cancelled"]).await;
    let refunded = order_in(
        &app,
        &shop,
        &ann,
        "CTEE-M-RED",
        &["confirmed", "shipped", "delivered", "refunded"],
    )
    .await;

    // From each status, what it may not become.
    let table = [
        ("pending", &pending, "shipped delivered refunded pending"),
        ("paid", &paid, "pending shipped delivered"),
        ("confirmed", &confirmed, "pending paid delivered confirmed"),
        (
            "shipped",
            &shipped,
            "pending paid confirmed cancelled refunded",
        ),
        (
            "delivered",
            &delivered,
            "pending paid confirmed shipped cancelled",
        ),
        (
            "cancelled",
            &cancelled,
            "pending paid confirmed shipped delivered",
        ),
        (
            "refunded",
            &refunded,
            "pending paid confirmed shipped delivered cancelled",
        ),
    ];
    for (from, order_number, targets) in table {
        assert_eq!(order(&app, admin, order_number).await["status"], from);
        let rows = log_rows(&app, order_number).await;
        for to in targets.split_whitespace() {
            let r = move_order(
                &app,
                admin,
                order_number,
                json!({ "status": to, "tracking_number": "TRK-1", "courier": "Kazpost" }),
            )
            .await;
            assert_eq!(r.status(), 409, "{from} -> {to}");
            assert_problem(r, 409).await;
        }
        assert_eq!(order(&app, admin, order_number).await["status"], from);
        assert_eq!(log_rows(&app, order_number).await, rows, "{from}");
    }

    // Shipping needs a tracking number; a status must be one.
    let r = move_order(&app, admin, &confirmed, json!({ "status": "shipped" })).await;
    assert_eq!(
        error_fields(&assert_problem(r, 422).await),
        ["tracking_number"]
    );
    let r = move_order(&app, admin, &confirmed, json!({ "status": "lost" })).await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["status"]);
    assert_eq!(order(&app, admin, &confirmed).await["status"], "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirming_deducts_the_stock_and_cancelling_gives_it_back() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    let admin = shop.catalog.admin.as_str();
    let variant = shop.variant("CTEE-S-RED");
    let available = || async {
        let p = expect(
            &app,
            "GET",
            &format!("/api/v1/products/{}", shop.catalog.product_id),
            None,
            None,
            200,
        )
        .await;
        p["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == variant.as_str())
            .unwrap()["available"]
            .clone()
    };

    let two = buy(&app, &shop, &ann, "cash_on_delivery", ("CTEE-S-RED", 2)).await;
    assert_eq!(stock(&app, &variant).await, (10, 2));
    assert_eq!(available().await, 8);
    advance(&app, admin, &two, "confirmed").await;
    assert_eq!(stock(&app, &variant).await, (8, 0), "taken from the stock");
    assert_eq!(available().await, 8);
    advance(&app, admin, &two, "cancelled").await;
    assert_eq!(stock(&app, &variant).await, (10, 0), "put back");
    assert_eq!(available().await, 10);

    let three = buy(&app, &shop, &ann, "cash_on_delivery", ("CTEE-S-RED", 3)).await;
    assert_eq!(stock(&app, &variant).await, (10, 3));
    // Not Bob's to see or cancel.
    let cancel = format!("/api/v1/orders/{three}/cancel");
    assert_problem(
        send(
            &app,
            "GET",
            &format!("/api/v1/orders/{three}"),
            Some(&bob),
            None,
        )
        .await,
        404,
    )
    .await;
    // (A `null` body is no body: it gets as far as the ownership check.)
    assert_problem(
        send(&app, "POST", &cancel, Some(&bob), Some(json!(null))).await,
        404,
    )
    .await;
    let bobs = expect(&app, "GET", "/api/v1/orders", Some(&bob), None, 200).await;
    assert_eq!(bobs["total"], 0);
    assert_eq!(stock(&app, &variant).await, (10, 3));

    let cancelled = expect(
        &app,
        "POST",
        &cancel,
        Some(&ann),
        Some(json!({ "note": "ordered by mistake" })),
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(
        timeline(&cancelled),
        steps(&[("pending", "customer"), ("cancelled", "customer")])
    );
    assert_eq!(cancelled["timeline"][1]["note"], "ordered by mistake");
    assert_eq!(stock(&app, &variant).await, (10, 0), "released");
    assert_problem(
        send(&app, "POST", &cancel, Some(&ann), Some(json!({}))).await,
        409,
    )
    .await;
    assert_eq!(stock(&app, &variant).await, (10, 0));

    // Once confirmed, only the shop may cancel.
    let one = order_in(&app, &shop, &ann, "CTEE-S-RED", &["confirmed"]).await;
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/orders/{one}/cancel"),
        Some(&ann),
        Some(json!({})),
    )
    .await;
    assert_problem(r, 409).await;
    assert_eq!(order(&app, &ann, &one).await["status"], "confirmed");
    assert_eq!(stock(&app, &variant).await, (9, 0));

    let history = expect(&app, "GET", "/api/v1/orders", Some(&ann), None, 200).await;
    let numbers: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers,
        [one.as_str(), three.as_str(), two.as_str()],
        "newest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendors_see_and_move_only_orders_of_their_own_stores() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let ours = shop.catalog.vendor.as_str();

    // A second vendor, with a tee of its own.
    let theirs = vendor(&app, "other-vendor@example.com").await;
    let store = expect(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&theirs),
        Some(json!({ "name": "Other Shop" })),
        201,
    )
    .await;
    let product = expect(
        &app,
        "POST",
        "/api/v1/products",
        Some(&theirs),
        Some(json!({
            "store_id": store["id"],
            "category_id": shop.catalog.category_id,
            "product_type_id": shop.catalog.type_id,
            "name": "Striped Tee",
            "code": "STEE",
            "attributes": { "material": "Linen" },
        })),
        201,
    )
    .await;
    let generated = expect(
        &app,
        "POST",
        &format!(
            "/api/v1/products/{}/variants/generate",
            product["id"].as_str().unwrap()
        ),
        Some(&theirs),
        Some(json!({ "size": ["S"], "color": ["Red"], "price": money(300_000), "stock": 10 })),
        201,
    )
    .await;
    let striped = generated["variants"][0]["id"].clone();

    let own = buy(&app, &shop, &ann, "cash_on_delivery", ("CTEE-S-RED", 1)).await;
    let mut both = shop.buy_now("cash_on_delivery", &[("CTEE-M-RED", 1)]);
    both["items"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "variant_id": striped, "quantity": 1 }));
    let mixed = number(&place(&app, &ann, &both).await);

    let skus = |o: &Value| -> Vec<String> {
        o["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["sku"].as_str().unwrap().to_owned())
            .collect()
    };

    // The other vendor sees its line of the mixed order, nothing of ours.
    let seen = back_office(&app, &theirs).await;
    assert_eq!(seen["total"], 1, "{seen}");
    assert_eq!(seen["items"][0]["number"], mixed.as_str());
    assert_eq!(skus(&seen["items"][0]), ["STEE-S-RED"]);
    assert_problem(
        send(
            &app,
            "GET",
            &format!("/api/v1/orders/{own}"),
            Some(&theirs),
            None,
        )
        .await,
        404,
    )
    .await;
    let confirm = json!({ "status": "confirmed" });
    assert_problem(move_order(&app, &theirs, &own, confirm.clone()).await, 404).await;
    assert_problem(
        move_order(&app, &theirs, &mixed, confirm.clone()).await,
        403,
    )
    .await;

    // We see both, the mixed one with our line only, and move only our own.
    let seen = back_office(&app, ours).await;
    assert_eq!(seen["total"], 2, "{seen}");
    let mixed_seen = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["number"] == mixed.as_str())
        .unwrap();
    assert_eq!(skus(mixed_seen), ["CTEE-M-RED"]);
    assert_problem(move_order(&app, ours, &mixed, confirm).await, 403).await;
    // Marking a cash order paid is not the vendor's either: 403, not 409.
    let r = move_order(&app, ours, &own, json!({ "status": "paid" })).await;
    assert_problem(r, 403).await;
    advance(&app, ours, &own, "confirmed").await;
    advance(&app, ours, &own, "shipped").await;
    let delivered = advance(&app, ours, &own, "delivered").await;
    assert_eq!(
        timeline(&delivered),
        steps(&[
            ("pending", "customer"),
            ("confirmed", "vendor"),
            ("shipped", "vendor"),
            ("delivered", "vendor"),
        ])
    );
    // Money goes back through an admin only.
    let r = move_order(&app, ours, &own, json!({ "status": "refunded" })).await;
    assert_problem(r, 403).await;
    assert_eq!(order(&app, &ann, &own).await["status"], "delivered");
    advance(&app, &shop.catalog.admin, &own, "refunded").await;

    assert_eq!(order(&app, &ann, &mixed).await["status"], "pending");
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracking_by_number_and_phone_shows_the_status_and_nothing_else() {
    let app = TestApp::builder()
        .without_worker()
        .var("RATE_LIMIT_TRACK_PER_IP", "3")
        .start()
        .await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let tracked = order_in(&app, &shop, &ann, "CTEE-S-RED", &["confirmed", "shipped"]).await;

    // The phone written another way: compared by its digits.
    let r = track(&app, &tracked, "+7 (701) 234-56-78").await;
    assert_eq!(r.status(), 200);
    let found: Value = r.json().await.unwrap();
    let mut keys: Vec<&str> = found
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["number", "status", "timeline", "tracking"],
        "{found}"
    );
    assert_eq!(found["number"], tracked.as_str());
    assert_eq!(found["status"], "shipped");
    assert_eq!(
        found["tracking"],
        json!({ "number": "KZ123456789", "courier": "Kazpost" })
    );
    let statuses: Vec<&str> = found["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "confirmed", "shipped"]);

    // A wrong phone and a wrong number are told apart by nothing.
    let wrong_phone = assert_problem(track(&app, &tracked, "+7 701 000 00 00").await, 404).await;
    let wrong_number = assert_problem(track(&app, "BZ-999999", PHONE).await, 404).await;
    assert_eq!(wrong_phone["detail"], wrong_number["detail"]);
    assert_eq!(wrong_phone["title"], wrong_number["title"]);

    // Three tries a minute: the next is refused (should a minute turn
    // meanwhile, within three more).
    let mut limited = None;
    for _ in 0..4 {
        let r = track(&app, &tracked, PHONE).await;
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status(), 200);
    }
    let r = limited.expect("a 429 after three tries");
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_kaspi_order_is_cancelled_by_the_system_when_its_reservation_expires() {
    let app = TestApp::builder()
        .var("KASPI_WEBHOOK_SECRET", KASPI_SECRET)
        .var("RESERVATION_TTL_SECS", "1")
        .var("SCHEDULE_EXPIRE_RESERVATIONS", "* * * * * *")
        .schedulers(1)
        .start()
        .await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let variant = shop.variant("CTEE-S-RED");
    let on_delivery = buy(&app, &shop, &ann, "cash_on_delivery", ("CTEE-S-RED", 2)).await;
    let unpaid = buy(&app, &shop, &ann, "kaspi", ("CTEE-S-RED", 3)).await;

    let expired = wait_for_status(&app, &ann, &unpaid, "cancelled").await;
    assert_eq!(
        timeline(&expired),
        steps(&[("pending", "customer"), ("cancelled", "system")])
    );
    assert_eq!(
        stock(&app, &variant).await,
        (10, 2),
        "the kaspi units are back"
    );
    // Cash on delivery waits for the shop, however long.
    assert_eq!(order(&app, &ann, &on_delivery).await["status"], "pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_state_the_code_does_not_know_is_an_error_not_a_default() {
    use bazaar_core::commerce::status::{
        OrderSource, OrderStatus, PaymentMethod, PaymentStatus, StockState,
    };
    let app = TestApp::builder().without_worker().start().await;
    let known: (OrderStatus, PaymentMethod, PaymentStatus, StockState, OrderSource) =
        sqlx::query_as(
            "SELECT 'shipped'::text, 'cash_on_delivery'::text, 'on_delivery'::text, 'deducted'::text, 'ozon'::text",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        known,
        (
            OrderStatus::Shipped,
            PaymentMethod::CashOnDelivery,
            PaymentStatus::OnDelivery,
            StockState::Deducted,
            OrderSource::Ozon
        )
    );
    // A newer version's state (a rolling deploy) or a hand-edited row.
    let unknown = sqlx::query_scalar::<_, OrderStatus>("SELECT 'lost_at_sea'::text")
        .fetch_one(&app.pool)
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    let unknown = sqlx::query_scalar::<_, PaymentMethod>("SELECT 'cheque'::text")
        .fetch_one(&app.pool)
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kazakh_and_russian_numbers_are_one_number_in_every_notation() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let mut body = shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]);
    body["phone"] = json!("8 (701) 234-56-78");
    let placed = place(&app, &ann, &body).await;
    assert_eq!(placed["order"]["phone"], "+77012345678");
    let number = number(&placed);
    for notation in [
        "+7 701 234 56 78",
        "8 701 234 56 78",
        "7012345678",
        "77012345678",
    ] {
        let r = track(&app, &number, notation).await;
        assert_eq!(r.status(), 200, "{notation}");
    }
    assert_problem(track(&app, &number, "8 701 234 56 79").await, 404).await;

    // A Russian mobile in its domestic form, on the account.
    let me = expect(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(&ann),
        Some(json!({ "phone": "8 916 123-45-67" })),
        200,
    )
    .await;
    assert_eq!(me["phone"], "+79161234567");
}

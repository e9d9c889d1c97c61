//! Checkout (issue 4): stock reserved atomically however many buyers race,
//! coupon limits that hold under concurrency, one order per Idempotency-Key,
//! orders that keep what they were sold at, and Stripe payment intents.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::json;

use crate::{
    commerce::{
        add, amount, attempt, cart, cart_expect, checkout, count, create_coupon, line, money,
        number, order, place, set_price, set_stock, shop, steps, stock, timeline, wait_for_mail,
        As, PRICE, SHIPPING,
    },
    fixtures::{customer, expect},
    harness::{assert_problem, TestApp},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_buyers_racing_for_fifty_units_get_exactly_fifty_orders_every_time() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let variant = shop.variant("CTEE-S-RED");
    let buyers = join_all((0..10).map(|i| {
        let app = &app;
        async move { customer(app, &format!("buyer{i}@example.com")).await }
    }))
    .await;
    let body = shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]);
    let mut numbers = HashSet::new();
    let sold_out = json!([
        { "variant_id": variant, "sku": "CTEE-S-RED", "requested": 1, "available": 0 },
    ]);

    for round in 0..20 {
        // Exactly fifty for sale, whatever earlier rounds hold.
        let (_, held) = stock(&app, &variant).await;
        let stocked = held + 50;
        set_stock(&app, &shop, &variant, i64::from(stocked)).await;

        let results = join_all((0..200).map(|i| {
            let (app, body) = (&app, &body);
            let token = buyers[i % buyers.len()].as_str();
            async move { attempt(app, token, &format!("race-{round}-{i}"), body).await }
        }))
        .await;

        let mut sold = 0;
        for (status, body) in &results {
            match *status {
                201 => {
                    sold += 1;
                    assert_eq!(body["order"]["items"][0]["variant_id"], variant.as_str());
                    let number = body["order"]["number"].as_str().unwrap().to_owned();
                    assert!(numbers.insert(number), "an order number twice: {body}");
                }
                409 => assert_eq!(body["lines"], sold_out, "round {round}"),
                _ => panic!("round {round}: {status} {body}"),
            }
        }
        assert_eq!(sold, 50, "round {round}");
        assert_eq!(
            stock(&app, &variant).await,
            (stocked, held + 50),
            "round {round}: the stock stays, the orders hold fifty more"
        );
        assert_eq!(
            count(&app, "SELECT count(*) FROM orders").await,
            50 * (round + 1),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_customers_racing_for_a_coupon_limited_to_ten_get_ten_discounted_orders() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let variant = shop.variant("CTEE-S-RED");
    set_stock(&app, &shop, &variant, 100).await;
    let coupon = create_coupon(
        &app,
        &shop,
        json!({ "code": "FIRST-TEN", "kind": "percent", "value": 10, "usage_limit": 10 }),
    )
    .await;
    let customers = join_all((0..50).map(|i| {
        let app = &app;
        async move { customer(app, &format!("c{i}@example.com")).await }
    }))
    .await;
    // Everyone has the coupon in the cart before anyone checks out.
    for token in &customers {
        add(&app, As::User(token), &variant, 1).await;
        let applied = cart_expect(
            &app,
            "POST",
            "/api/v1/cart/coupon",
            As::User(token),
            Some(json!({ "code": "FIRST-TEN" })),
            200,
        )
        .await;
        assert_eq!(applied["coupon"]["discount"], money(PRICE / 10));
    }

    let body = shop.order("cash_on_delivery");
    let results = join_all(customers.iter().enumerate().map(|(i, token)| {
        let (app, body) = (&app, &body);
        async move { attempt(app, token, &format!("coupon-{i}"), body).await }
    }))
    .await;

    let mut winners = Vec::new();
    for (i, (status, body)) in results.iter().enumerate() {
        match *status {
            201 => {
                assert_eq!(amount(&body["order"]["totals"]["discount"]), PRICE / 10);
                assert_eq!(body["order"]["coupon"]["code"], "FIRST-TEN");
                winners.push(i);
            }
            409 => assert!(body["detail"].is_string(), "{body}"),
            _ => panic!("{status} {body}"),
        }
    }
    assert_eq!(winners.len(), 10);
    let stored = expect(
        &app,
        "GET",
        &format!("/api/v1/admin/coupons/{}", coupon["id"].as_str().unwrap()),
        Some(&shop.catalog.admin),
        None,
        200,
    )
    .await;
    assert_eq!(stored["used"], 10);
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 10);
    assert_eq!(
        count(&app, "SELECT count(*) FROM orders WHERE discount > 0").await,
        10
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM coupon_redemptions").await,
        10
    );
    assert_eq!(stock(&app, &variant).await, (100, 10));

    // The others have no order, and their carts are as they were.
    for (i, token) in customers.iter().enumerate() {
        if winners.contains(&i) {
            continue;
        }
        let orders = expect(&app, "GET", "/api/v1/orders", Some(token), None, 200).await;
        assert_eq!(orders["total"], 0, "customer {i}");
        let kept = cart(&app, As::User(token)).await;
        assert_eq!(line(&kept, "CTEE-S-RED")["quantity"], 1, "customer {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_gives_one_order_however_often_it_is_sent() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    add(&app, As::User(&ann), &shop.variant("CTEE-S-RED"), 2).await;

    // Sent twice: the second answer re-reads the first order, though the
    // cart is empty by then.
    let body = shop.order("cash_on_delivery");
    let (status, first) = attempt(&app, &ann, "order-1", &body).await;
    assert_eq!(status, 201, "{first}");
    let (status, second) = attempt(&app, &ann, "order-1", &body).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second, first);
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 2));

    // The key with another (valid) body: refused, nothing bought.
    let other = shop.buy_now("cash_on_delivery", &[("CTEE-S-BLUE", 1)]);
    assert_problem(checkout(&app, &ann, "order-1", &other).await, 422).await;
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(stock(&app, &shop.variant("CTEE-S-BLUE")).await, (10, 0));

    // No key at all.
    let r = app
        .client
        .post(app.url("/api/v1/checkout"))
        .bearer_auth(ann.as_str())
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;

    // Eight at once with one key: one order, the same answer to all.
    let now = shop.buy_now("cash_on_delivery", &[("CTEE-M-RED", 1)]);
    let results = join_all((0..8).map(|_| attempt(&app, &ann, "order-2", &now))).await;
    let numbers: HashSet<&str> = results
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 201, "{body}");
            body["order"]["number"].as_str().unwrap()
        })
        .collect();
    assert_eq!(numbers.len(), 1, "{numbers:?}");
    assert!(!numbers.contains(number(&first).as_str()));
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 2);
    assert_eq!(stock(&app, &shop.variant("CTEE-M-RED")).await, (10, 1));

    // A refused attempt stores nothing: its key is still free.
    let too_many = shop.buy_now("cash_on_delivery", &[("CTEE-L-RED", 11)]);
    let (status, refused) = attempt(&app, &ann, "order-3", &too_many).await;
    assert_eq!(status, 409, "{refused}");
    let one = shop.buy_now("cash_on_delivery", &[("CTEE-L-RED", 1)]);
    let (status, placed) = attempt(&app, &ann, "order-3", &one).await;
    assert_eq!(status, 201, "{placed}");

    // Keys are each customer's own.
    let (status, bobs) = attempt(&app, &bob, "order-1", &other).await;
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(number(&bobs), number(&first));
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_short_of_stock_lists_every_short_line_and_reserves_nothing() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let me = As::User(&ann);
    let (small, medium, large) = (
        shop.variant("CTEE-S-RED"),
        shop.variant("CTEE-M-RED"),
        shop.variant("CTEE-L-RED"),
    );
    add(&app, me, &small, 5).await;
    add(&app, me, &medium, 4).await;
    add(&app, me, &large, 1).await;
    // Others bought meanwhile.
    set_stock(&app, &shop, &small, 3).await;
    set_stock(&app, &shop, &medium, 0).await;

    let body = shop.order("cash_on_delivery");
    let problem = assert_problem(checkout(&app, &ann, "short", &body).await, 409).await;
    let mut lines = problem["lines"].as_array().unwrap().clone();
    lines.sort_by_key(|l| l["sku"].as_str().unwrap().to_owned());
    assert_eq!(
        json!(lines),
        json!([
            { "variant_id": medium, "sku": "CTEE-M-RED", "requested": 4, "available": 0 },
            { "variant_id": small, "sku": "CTEE-S-RED", "requested": 5, "available": 3 },
        ])
    );
    assert_eq!(stock(&app, &small).await, (3, 0));
    assert_eq!(stock(&app, &medium).await, (0, 0));
    assert_eq!(stock(&app, &large).await, (10, 0));
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(cart(&app, me).await["items"].as_array().unwrap().len(), 3);

    // Restocked, the same key goes through.
    set_stock(&app, &shop, &small, 5).await;
    set_stock(&app, &shop, &medium, 4).await;
    let (status, placed) = attempt(&app, &ann, "short", &body).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(stock(&app, &small).await, (5, 5));
    assert_eq!(stock(&app, &medium).await, (4, 4));
    assert_eq!(stock(&app, &large).await, (10, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_empties_the_cart_mails_a_confirmation_and_keeps_the_prices_it_sold_at() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let me = As::User(&ann);
    add(&app, me, &shop.variant("CTEE-S-RED"), 2).await;
    add(&app, me, &shop.variant("CTEE-M-BLUE"), 1).await;

    let placed = place(&app, &ann, &shop.order("cash_on_delivery")).await;
    let order_number = number(&placed);
    let sold = &placed["order"];
    assert!(order_number.starts_with("BZ-"), "{order_number}");
    assert_eq!(sold["status"], "pending");
    assert_eq!(sold["source"], "web");
    assert_eq!(sold["payment"]["method"], "cash_on_delivery");
    assert_eq!(placed["payment"]["method"], "cash_on_delivery");
    assert!(placed["payment"]["client_secret"].is_null(), "{placed}");
    assert_eq!(timeline(sold), steps(&[("pending", "customer")]));
    assert!(sold["coupon"].is_null());
    assert_eq!(sold["email"], "ann@example.com");
    assert_eq!(sold["shipping_address"]["city"], "Almaty");
    assert_eq!(sold["shipping_address"]["country"], "KZ");
    assert_eq!(
        sold["shipping_method"]["id"],
        shop.shipping_method_id.as_str()
    );
    assert_eq!(sold["shipping_method"]["name"], "Courier");
    let totals = &sold["totals"];
    assert_eq!(totals["subtotal"], money(3 * PRICE));
    assert_eq!(totals["discount"], money(0));
    assert_eq!(totals["shipping"], money(SHIPPING));
    assert_eq!(totals["tax"], money(0));
    assert_eq!(totals["total"], money(3 * PRICE + SHIPPING));
    let items = sold["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let tee = items.iter().find(|i| i["sku"] == "CTEE-S-RED").unwrap();
    assert_eq!(tee["variant_id"], shop.variant("CTEE-S-RED").as_str());
    assert_eq!(tee["product_id"], shop.catalog.product_id.as_str());
    assert_eq!(tee["store_id"], shop.catalog.store_id.as_str());
    assert_eq!(tee["quantity"], 2);
    assert_eq!(tee["unit_price"], money(PRICE));
    assert_eq!(tee["line_total"], money(2 * PRICE));
    assert!(
        tee["name"].as_str().unwrap().contains("Classic Tee"),
        "{tee}"
    );

    // The cart is empty; the units are held for the order.
    assert_eq!(cart(&app, me).await["items"], json!([]));
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 2));
    assert_eq!(stock(&app, &shop.variant("CTEE-M-BLUE")).await, (10, 1));

    wait_for_mail(
        &app,
        "ann@example.com",
        &format!("Order {order_number} received"),
    )
    .await;

    // A later price change leaves the order as it was sold; new carts see it.
    set_price(&app, &shop, &shop.variant("CTEE-S-RED"), 450_000).await;
    let later = order(&app, &ann, &order_number).await;
    assert_eq!(later["items"], sold["items"]);
    assert_eq!(later["totals"], sold["totals"]);
    let new_cart = add(&app, me, &shop.variant("CTEE-S-RED"), 1).await;
    assert_eq!(line(&new_cart, "CTEE-S-RED")["unit_price"], money(450_000));

    let history = expect(&app, "GET", "/api/v1/orders", Some(&ann), None, 200).await;
    assert_eq!(history["total"], 1);
    assert_eq!(history["items"][0]["number"], order_number.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_checkout_creates_a_payment_intent_for_the_order_total() {
    let app = TestApp::builder().stripe().start().await;
    let fake = app.stripe.as_ref().unwrap();
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    add(&app, As::User(&ann), &shop.variant("CTEE-S-RED"), 1).await;

    let body = shop.order("stripe");
    let (status, placed) = attempt(&app, &ann, "pay-1", &body).await;
    assert_eq!(status, 201, "{placed}");
    let order_number = number(&placed);
    let total = amount(&placed["order"]["totals"]["total"]);
    assert_eq!(total, PRICE + SHIPPING);
    assert_eq!(placed["payment"]["method"], "stripe");
    assert_eq!(placed["payment"]["status"], "pending");

    let intents = fake.payment_intents();
    assert_eq!(intents.len(), 1);
    let intent = &intents[0];
    assert_eq!(
        placed["payment"]["client_secret"],
        intent.client_secret.as_str()
    );
    assert_eq!(intent.amount, total);
    assert_eq!(intent.currency, "kzt");
    assert_eq!(intent.order_number, order_number);
    // Stripe's key is derived from the order (its id), so every retry of
    // this checkout reuses it and order numbers of other databases never clash.
    assert!(
        intent.idempotency_key.starts_with("checkout-"),
        "{}",
        intent.idempotency_key
    );
    assert_eq!(fake.rejected(), 0);

    // The same request again is the same order and the same payment intent.
    let (status, again) = attempt(&app, &ann, "pay-1", &body).await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(again, placed);
    let ids: HashSet<String> = fake
        .payment_intents()
        .into_iter()
        .filter(|i| i.order_number == order_number)
        .map(|i| i.id)
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stripe_outage_at_checkout_is_502_and_the_same_key_later_gets_the_order_and_a_payment() {
    let app = TestApp::builder().stripe().start().await;
    let fake = app.stripe.as_ref().unwrap();
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    add(&app, As::User(&ann), &shop.variant("CTEE-S-RED"), 1).await;
    let body = shop.order("stripe");

    fake.fail_next(503, 1);
    assert_problem(checkout(&app, &ann, "pay-once", &body).await, 502).await;
    // The order is kept, and its stock.
    let history = expect(&app, "GET", "/api/v1/orders", Some(&ann), None, 200).await;
    assert_eq!(history["total"], 1, "{history}");
    let kept = &history["items"][0];
    assert_eq!(kept["status"], "pending");
    let order_number = kept["number"].as_str().unwrap().to_owned();
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 1));

    let (status, retried) = attempt(&app, &ann, "pay-once", &body).await;
    assert_eq!(status, 201, "{retried}");
    assert_eq!(number(&retried), order_number);
    let intent = fake
        .payment_intents()
        .into_iter()
        .find(|i| i.order_number == order_number)
        .expect("a payment intent for the order");
    assert_eq!(
        retried["payment"]["client_secret"],
        intent.client_secret.as_str()
    );
    assert_eq!(intent.amount, PRICE + SHIPPING);
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 1);
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_without_a_phone_takes_the_phone_of_its_address() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let saved = expect(
        &app,
        "POST",
        "/api/v1/me/addresses",
        Some(&ann),
        Some(json!({
            "name": "Ann Buyer", "line1": "Abay Avenue 10", "city": "Almaty",
            "postal_code": "050000", "country": "KZ", "phone": "+7 701 555 00 11",
        })),
        201,
    )
    .await;
    let bare = expect(
        &app,
        "POST",
        "/api/v1/me/addresses",
        Some(&ann),
        Some(json!({
            "name": "Ann Buyer", "line1": "Abay Avenue 12", "city": "Almaty",
            "postal_code": "050000", "country": "KZ",
        })),
        201,
    )
    .await;
    let mut body = shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]);
    let obj = body.as_object_mut().unwrap();
    obj.remove("phone");
    obj.remove("address");

    // A saved address with a phone: the order takes it.
    body["address_id"] = saved["id"].clone();
    let placed = place(&app, &ann, &body).await;
    assert_eq!(placed["order"]["phone"], saved["phone"]);

    // A saved address without one: a 422 naming the phone, nothing stored.
    body["address_id"] = bare["id"].clone();
    let (status, problem) = attempt(&app, &ann, "no-phone", &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "phone", "{problem}");
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 1);

    // An address given inline with its phone: the order takes that.
    body.as_object_mut().unwrap().remove("address_id");
    body["address"] = json!({
        "name": "Bo", "line1": "Dostyk 5", "city": "Almaty", "postal_code": "050010",
        "country": "KZ", "phone": "+77015550022",
    });
    let placed = place(&app, &ann, &body).await;
    assert_eq!(placed["order"]["phone"], "+77015550022");

    // Neither: the 422 lists the phone with the request's other problems.
    body["address"] = json!({
        "name": "Bo", "line1": "Dostyk 5", "city": "Almaty", "postal_code": "050010",
        "country": "KZ",
    });
    body["payment_method"] = json!("cheque");
    let (status, problem) = attempt(&app, &ann, "neither", &body).await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"phone") && fields.contains(&"payment_method"),
        "{problem}"
    );
}

/// The claim reads the shipping method with the customer: a method that is
/// unknown or switched off is a 422 on `shipping_method_id`, and the failed
/// attempt stores nothing (its key stays free for the corrected request).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shipping_method_that_is_unknown_or_off_is_a_422_and_stores_nothing() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let method_path = format!("/api/v1/admin/shipping-methods/{}", shop.shipping_method_id);
    let admin = Some(shop.catalog.admin.as_str());
    let body = shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]);
    let mut unknown = body.clone();
    unknown["shipping_method_id"] = json!(uuid::Uuid::now_v7());

    let switch = |active: bool| {
        expect(
            &app,
            "PATCH",
            &method_path,
            admin,
            Some(json!({ "active": active })),
            200,
        )
    };
    let refused = |key: &'static str, body: serde_json::Value| {
        let (app, ann) = (&app, &ann);
        async move {
            let problem = assert_problem(checkout(app, ann, key, &body).await, 422).await;
            assert_eq!(
                problem["errors"][0]["field"], "shipping_method_id",
                "{problem}"
            );
        }
    };

    refused("order-1", unknown).await;
    switch(false).await;
    refused("order-2", body.clone()).await;
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(
        count(&app, "SELECT count(*) FROM checkout_requests").await,
        0
    );
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 0));

    switch(true).await;
    let (status, placed) = attempt(&app, &ann, "order-2", &body).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["order"]["shipping_method"]["name"], "Courier");
    assert_eq!(placed["order"]["totals"]["shipping"], money(SHIPPING));
    assert_eq!(placed["order"]["email"], "ann@example.com");
}

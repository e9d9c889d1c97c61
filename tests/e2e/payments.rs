//! Payments (issue 4): signed provider webhooks, stored once by event id and
//! judged by the payment's state rather than by arrival order; amounts that
//! must match; refunds of cancelled paid orders.

use serde_json::{json, Value};

use crate::{
    commerce::{
        amount, checkout, count, hmac_sha256_hex, kaspi_paid, kaspi_webhook, mails_about, number,
        order, place, shop, steps, stock, timeline, wait_for_status, Shop, KASPI_SECRET, PATIENCE,
        PRICE, SHIPPING,
    },
    fixtures::{customer, expect},
    harness::{
        assert_problem, error_fields, eventually,
        stripe::{self, Intent},
        TestApp,
    },
};

/// A Stripe order of one tee; returns the checkout answer and its payment
/// intent at the fake.
async fn stripe_order(app: &TestApp, shop: &Shop, token: &str) -> (Value, Intent) {
    let placed = place(app, token, &shop.buy_now("stripe", &[("CTEE-S-RED", 1)])).await;
    let order_number = number(&placed);
    let intent = app
        .stripe
        .as_ref()
        .unwrap()
        .payment_intents()
        .into_iter()
        .find(|i| i.order_number == order_number)
        .expect("a payment intent for the order");
    (placed, intent)
}

async fn deliver(app: &TestApp, event: &Value) {
    let r = app.stripe_webhook(event).await;
    assert_eq!(r.status(), 200, "{event}");
    assert_eq!(r.json::<Value>().await.unwrap()["received"], json!(true));
}

/// Posts to the Stripe webhook with a signature header of our own making.
async fn post_stripe(app: &TestApp, signature: Option<&str>, body: &str) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(s) = signature {
        req = req.header("Stripe-Signature", s);
    }
    req.send().await.unwrap()
}

fn succeeded(id: &str, intent: &Intent) -> Value {
    stripe::event(
        id,
        "payment_intent.succeeded",
        stripe::intent_object(intent, "succeeded"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_reported_five_times_marks_the_order_paid_once() {
    let app = TestApp::builder().stripe().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (placed, intent) = stripe_order(&app, &shop, &ann).await;
    let order_number = number(&placed);
    let event = succeeded("evt_paid_1", &intent);

    deliver(&app, &event).await;
    let paid = wait_for_status(&app, &ann, &order_number, "paid").await;
    assert_eq!(paid["payment"]["status"], "paid");
    for _ in 0..4 {
        deliver(&app, &event).await;
    }
    app.drain().await;

    let after = order(&app, &ann, &order_number).await;
    assert_eq!(
        timeline(&after),
        steps(&[("pending", "customer"), ("paid", "stripe")])
    );
    assert_eq!(count(&app, "SELECT count(*) FROM payment_events").await, 1);
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM order_status_log WHERE to_status = 'paid'"
        )
        .await,
        1
    );
    // "received" and one mail for the payment.
    let mails = mails_about(&app, "ann@example.com", &order_number);
    let subjects: Vec<String> = mails.iter().filter_map(|m| m.header("Subject")).collect();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.contains(&format!("Order {order_number} received")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_events_are_judged_by_the_payments_state_not_their_arrival_order() {
    let app = TestApp::builder().stripe().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (placed, intent) = stripe_order(&app, &shop, &ann).await;
    let order_number = number(&placed);

    // A declined card first: the order waits for another try.
    deliver(
        &app,
        &stripe::event(
            "evt_failed_1",
            "payment_intent.payment_failed",
            stripe::intent_object(&intent, "requires_payment_method"),
        ),
    )
    .await;
    app.drain().await;
    assert_eq!(order(&app, &ann, &order_number).await["status"], "pending");

    deliver(&app, &succeeded("evt_ok", &intent)).await;
    wait_for_status(&app, &ann, &order_number, "paid").await;

    // A failure and a cancellation delivered late change nothing.
    deliver(
        &app,
        &stripe::event(
            "evt_failed_2",
            "payment_intent.payment_failed",
            stripe::intent_object(&intent, "requires_payment_method"),
        ),
    )
    .await;
    deliver(
        &app,
        &stripe::event(
            "evt_canceled",
            "payment_intent.canceled",
            stripe::intent_object(&intent, "canceled"),
        ),
    )
    .await;
    app.drain().await;
    let after = order(&app, &ann, &order_number).await;
    assert_eq!(after["status"], "paid");
    assert_eq!(after["payment"]["status"], "paid");
    assert_eq!(
        timeline(&after),
        steps(&[("pending", "customer"), ("paid", "stripe")])
    );
    assert_eq!(count(&app, "SELECT count(*) FROM payment_events").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_stale_and_tampered_webhooks_are_400_and_store_nothing() {
    let app = TestApp::builder().stripe().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (placed, intent) = stripe_order(&app, &shop, &ann).await;
    let order_number = number(&placed);
    let event = succeeded("evt_signed", &intent);
    let body = event.to_string();
    let now = chrono::Utc::now().timestamp();
    let signed = |secret: &str, t: i64, body: &str| {
        hmac_sha256_hex(secret, format!("{t}.{body}").as_bytes())
    };
    let mut tampered = event.clone();
    tampered["data"]["object"]["amount"] = json!(100);
    let tampered = tampered.to_string();

    let refused = [
        (None, body.clone()),
        (Some("nonsense".to_owned()), body.clone()),
        (
            Some(format!(
                "t={now},v1={}",
                signed("whsec_not_the_secret", now, &body)
            )),
            body.clone(),
        ),
        (
            Some(stripe::signature_header(&body, now - 400)),
            body.clone(),
        ),
        (
            Some(stripe::signature_header(&body, now + 400)),
            body.clone(),
        ),
        // Only v1 signatures count.
        (
            Some(format!(
                "t={now},v0={}",
                signed(stripe::WEBHOOK_SECRET, now, &body)
            )),
            body.clone(),
        ),
        (Some(stripe::signature_header(&body, now)), tampered),
    ];
    for (i, (signature, body)) in refused.iter().enumerate() {
        let r = post_stripe(&app, signature.as_deref(), body).await;
        assert_eq!(r.status(), 400, "case {i}: {signature:?}");
        assert_problem(r, 400).await;
    }
    assert_eq!(count(&app, "SELECT count(*) FROM payment_events").await, 0);
    app.drain().await;
    assert_eq!(order(&app, &ann, &order_number).await["status"], "pending");

    // During a secret rotation any one good v1 will do.
    let rotated = format!(
        "t={now},v1={},v1={}",
        signed("whsec_the_old_secret", now, &body),
        signed(stripe::WEBHOOK_SECRET, now, &body)
    );
    let r = post_stripe(&app, Some(&rotated), &body).await;
    assert_eq!(r.status(), 200);
    wait_for_status(&app, &ann, &order_number, "paid").await;
    assert_eq!(count(&app, "SELECT count(*) FROM payment_events").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_that_does_not_match_the_order_is_flagged_and_not_paid() {
    let app = TestApp::builder().stripe().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (short, short_intent) = stripe_order(&app, &shop, &ann).await;
    let (dollars, dollars_intent) = stripe_order(&app, &shop, &ann).await;

    let mut object = stripe::intent_object(&short_intent, "succeeded");
    // Less than the order's total, by both of Stripe's counts.
    object["amount"] = json!(short_intent.amount - 100);
    object["amount_received"] = json!(short_intent.amount - 100);
    deliver(
        &app,
        &stripe::event("evt_short", "payment_intent.succeeded", object),
    )
    .await;
    let mut object = stripe::intent_object(&dollars_intent, "succeeded");
    object["currency"] = json!("usd");
    deliver(
        &app,
        &stripe::event("evt_usd", "payment_intent.succeeded", object),
    )
    .await;
    app.drain().await;

    let admin = &shop.catalog.admin;
    let pending = expect(
        &app,
        "GET",
        "/api/v1/admin/orders?status=pending",
        Some(admin),
        None,
        200,
    )
    .await;
    for placed in [&short, &dollars] {
        let order_number = number(placed);
        let mine = order(&app, &ann, &order_number).await;
        assert_eq!(mine["status"], "pending");
        assert_ne!(mine["payment"]["status"], "paid");
        assert_eq!(timeline(&mine), steps(&[("pending", "customer")]));
        let listed = pending["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["number"] == order_number.as_str())
            .unwrap_or_else(|| panic!("{order_number} not pending: {pending}"));
        let flag = listed["payment"]["flag"].as_str().unwrap_or_default();
        assert!(!flag.is_empty(), "{listed}");
        let detail = order(&app, admin, &order_number).await;
        assert_eq!(detail["payment"]["flag"], listed["payment"]["flag"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_paid_stripe_order_refunds_it_once_and_stripe_confirms_the_refund() {
    let app = TestApp::builder().stripe().start().await;
    let fake = app.stripe.as_ref().unwrap();
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (placed, intent) = stripe_order(&app, &shop, &ann).await;
    let order_number = number(&placed);
    deliver(&app, &succeeded("evt_paid", &intent)).await;
    wait_for_status(&app, &ann, &order_number, "paid").await;

    let cancelled = expect(
        &app,
        "POST",
        &format!("/api/v1/orders/{order_number}/cancel"),
        Some(&ann),
        Some(json!({ "note": "changed my mind" })),
        200,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 0));

    eventually("the refund at Stripe", PATIENCE, || async {
        (!fake.refunds().is_empty()).then_some(())
    })
    .await;
    app.drain().await;
    let refunds = fake.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].payment_intent, intent.id);
    assert_eq!(fake.refund_calls(), 1);
    assert_eq!(
        order(&app, &ann, &order_number).await["status"],
        "cancelled"
    );

    // Stripe reports the refund, twice.
    let refunded = stripe::event(
        "evt_refunded",
        "charge.refunded",
        stripe::charge_refunded_object(&intent),
    );
    deliver(&app, &refunded).await;
    let done = wait_for_status(&app, &ann, &order_number, "refunded").await;
    assert_eq!(done["payment"]["status"], "refunded");
    deliver(&app, &refunded).await;
    app.drain().await;
    assert_eq!(fake.refund_calls(), 1);
    assert_eq!(
        timeline(&order(&app, &ann, &order_number).await),
        steps(&[
            ("pending", "customer"),
            ("paid", "stripe"),
            ("cancelled", "customer"),
            ("refunded", "stripe"),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_kaspi_notification_marks_a_kaspi_order_paid_and_a_forged_one_is_400() {
    let app = TestApp::builder()
        .var("KASPI_WEBHOOK_SECRET", KASPI_SECRET)
        .start()
        .await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let placed = place(&app, &ann, &shop.buy_now("kaspi", &[("CTEE-S-RED", 1)])).await;
    let order_number = number(&placed);
    assert_eq!(placed["payment"]["method"], "kaspi");
    assert!(!placed["payment"]["instructions"].is_null(), "{placed}");
    assert_eq!(
        amount(&placed["order"]["totals"]["total"]),
        PRICE + SHIPPING
    );
    let event = kaspi_paid("kaspi-evt-1", &placed);

    assert_problem(kaspi_webhook(&app, "not-the-secret", &event).await, 400).await;
    let body = event.to_string();
    let unsigned = app
        .client
        .post(app.url("/webhooks/kaspi"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_problem(unsigned, 400).await;
    let mut cheaper = event.clone();
    cheaper["amount"] = json!(1);
    let tampered = app
        .client
        .post(app.url("/webhooks/kaspi"))
        .header("content-type", "application/json")
        .header(
            "X-Kaspi-Signature",
            hmac_sha256_hex(KASPI_SECRET, body.as_bytes()),
        )
        .body(cheaper.to_string())
        .send()
        .await
        .unwrap();
    assert_problem(tampered, 400).await;
    assert_eq!(count(&app, "SELECT count(*) FROM payment_events").await, 0);

    let r = kaspi_webhook(&app, KASPI_SECRET, &event).await;
    assert_eq!(r.status(), 200);
    let paid = wait_for_status(&app, &ann, &order_number, "paid").await;
    assert_eq!(paid["payment"]["status"], "paid");
    assert_eq!(
        timeline(&paid),
        steps(&[("pending", "customer"), ("paid", "kaspi")])
    );
    let again = kaspi_webhook(&app, KASPI_SECRET, &event).await;
    assert_eq!(again.status(), 200);
    app.drain().await;
    assert_eq!(count(&app, "SELECT count(*) FROM payment_events").await, 1);
    assert_eq!(timeline(&order(&app, &ann, &order_number).await).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_their_configuration_kaspi_and_stripe_are_not_offered() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let event = json!({
        "id": "kaspi-evt-1", "type": "payment.succeeded", "order_number": "BZ-000001",
        "amount": 100, "currency": "KZT",
    });
    assert_problem(kaspi_webhook(&app, KASPI_SECRET, &event).await, 503).await;
    for method in ["stripe", "kaspi"] {
        let r = checkout(
            &app,
            &ann,
            &format!("offline-{method}"),
            &shop.buy_now(method, &[("CTEE-S-RED", 1)]),
        )
        .await;
        let problem = assert_problem(r, 422).await;
        assert_eq!(error_fields(&problem), ["payment_method"], "{method}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_made_at_stripe_before_confirmation_gives_the_reserved_units_back() {
    let app = TestApp::builder().stripe().start().await;
    let fake = app.stripe.as_ref().unwrap();
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (placed, intent) = stripe_order(&app, &shop, &ann).await;
    let order_number = number(&placed);
    deliver(&app, &succeeded("evt_paid", &intent)).await;
    wait_for_status(&app, &ann, &order_number, "paid").await;
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 1));

    // Support refunds it from the Stripe dashboard.
    let refunded = stripe::event(
        "evt_dashboard_refund",
        "charge.refunded",
        stripe::charge_refunded_object(&intent),
    );
    deliver(&app, &refunded).await;
    let done = wait_for_status(&app, &ann, &order_number, "refunded").await;
    assert_eq!(done["payment"]["status"], "refunded");
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 0));
    app.drain().await;
    assert_eq!(fake.refund_calls(), 0, "Stripe refunded it already");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_order_cancelled_gives_its_coupon_use_back() {
    let app = TestApp::builder().stripe().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    crate::commerce::create_coupon(
        &app,
        &shop,
        json!({ "code": "ONCE", "kind": "percent", "value": 10, "usage_limit": 1, "per_customer_limit": 1 }),
    )
    .await;
    let variant = shop.variant("CTEE-S-RED");
    crate::commerce::add(&app, crate::commerce::As::User(&ann), &variant, 1).await;
    crate::commerce::cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        crate::commerce::As::User(&ann),
        Some(json!({ "code": "once" })),
        200,
    )
    .await;
    let placed = place(&app, &ann, &shop.order("stripe")).await;
    assert!(amount(&placed["order"]["totals"]["discount"]) > 0);
    assert_eq!(
        count(&app, "SELECT used::bigint FROM coupons WHERE code = 'ONCE'").await,
        1
    );
    let order_number = number(&placed);
    expect(
        &app,
        "POST",
        &format!("/api/v1/orders/{order_number}/cancel"),
        Some(&ann),
        None,
        200,
    )
    .await;
    assert_eq!(
        count(&app, "SELECT used::bigint FROM coupons WHERE code = 'ONCE'").await,
        0,
        "the card never paid: the coupon is free again"
    );
    // And the customer can use it again.
    crate::commerce::add(&app, crate::commerce::As::User(&ann), &variant, 1).await;
    crate::commerce::cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        crate::commerce::As::User(&ann),
        Some(json!({ "code": "ONCE" })),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_stripe_order_cancelled_has_its_payment_intent_cancelled_so_it_cannot_be_paid() {
    let app = TestApp::builder().stripe().start().await;
    let fake = app.stripe.as_ref().unwrap();
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let (placed, intent) = stripe_order(&app, &shop, &ann).await;
    let order_number = number(&placed);
    expect(
        &app,
        "POST",
        &format!("/api/v1/orders/{order_number}/cancel"),
        Some(&ann),
        None,
        200,
    )
    .await;
    eventually(
        "the payment intent cancelled at Stripe",
        PATIENCE,
        || async { (fake.canceled() == vec![intent.id.clone()]).then_some(()) },
    )
    .await;
    app.drain().await;
    assert_eq!(fake.canceled(), vec![intent.id.clone()], "cancelled once");
    assert_eq!(
        fake.refund_calls(),
        0,
        "nothing was paid, nothing to refund"
    );
    assert_eq!(stock(&app, &shop.variant("CTEE-S-RED")).await, (10, 0));
}

/// A burst of signed events, each sent three times at once: every event is
/// stored once with one processing job, exactly one of its deliveries is
/// answered `new`, and every answer came after its event was stored (the
/// writes are grouped, the acknowledgements are not early).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_duplicate_webhooks_stores_each_event_once_before_answering() {
    let app = TestApp::builder().stripe().without_worker().start().await;
    let events: Vec<Value> = (0..100)
        .map(|i| {
            stripe::event(
                &format!("evt_burst_{i}"),
                "charge.dispute.created",
                json!({ "id": format!("dp_{i}"), "object": "dispute" }),
            )
        })
        .collect();
    let deliveries = events.iter().flat_map(|e| [e, e, e]).map(|event| {
        let app = &app;
        async move {
            let r = app.stripe_webhook(event).await;
            assert_eq!(r.status(), 200, "{event}");
            let answer: Value = r.json().await.unwrap();
            let id = event["id"].as_str().unwrap().to_owned();
            // Durable before the answer: the row is there now.
            let stored: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM payment_events WHERE provider = 'stripe' AND event_id = $1",
            )
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
            assert_eq!(stored, 1, "{id} answered before it was stored");
            (id, answer["new"].as_bool().unwrap())
        }
    });
    let answers = futures::future::join_all(deliveries).await;
    for e in &events {
        let id = e["id"].as_str().unwrap();
        let new = answers.iter().filter(|(i, new)| i == id && *new).count();
        assert_eq!(new, 1, "{id} was new {new} times");
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM payment_events").await,
        100
    );
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM outbox WHERE kind = 'payments.process'
               AND payload->>'event' IN (SELECT id::text FROM payment_events)"
        )
        .await,
        100
    );
}

//! Kaspi.kz: listings, the price-list feed, the order pull (import,
//! reservation, acceptance, refusal for lack of stock, unknown SKUs, buyer
//! cancellations) and the two-step completion, against the fake merchant
//! API (which fails the test when bazaar breaks one of Kaspi's rules).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::{
    commerce::{self, place, set_stock, shop, wait_for_status, PATIENCE, PRICE},
    fixtures::{customer, expect, send, vendor},
    harness::{
        assert_problem, error_fields, eventually,
        kaspi::{self, NewEntry, NewOrder},
        TestApp,
    },
};

const DAY_MS: i64 = 86_400_000;

/// Stock and reserved of the variant with `sku`.
pub(crate) async fn counters(app: &TestApp, sku: &str) -> (i32, i32) {
    sqlx::query_as("SELECT stock, reserved FROM variants WHERE sku = $1")
        .bind(sku)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn list_on_kaspi(app: &TestApp, token: &str, variant: &str) -> Value {
    expect(
        app,
        "PUT",
        &format!("/api/v1/variants/{variant}/listings/kaspi"),
        Some(token),
        Some(json!({})),
        200,
    )
    .await
}

async fn sync_now(app: &TestApp, admin: &str) {
    expect(
        app,
        "POST",
        "/api/v1/admin/integrations/kaspi/sync",
        Some(admin),
        None,
        202,
    )
    .await;
}

/// Asks for a sync and waits until it has run (its job is done).
async fn sync_and_wait(app: &TestApp, admin: &str) {
    let (_, done_before, _) = app.job_counts("marketplace.kaspi_orders").await;
    sync_now(app, admin).await;
    eventually("the Kaspi sync to run", PATIENCE, || async {
        let (_, done, _) = app.job_counts("marketplace.kaspi_orders").await;
        (done > done_before).then_some(())
    })
    .await;
    app.drain().await;
}

fn entry(sku: &str, quantity: i32) -> NewEntry {
    NewEntry {
        sku: sku.into(),
        name: format!("{sku} name"),
        quantity,
        base_price: PRICE / 100,
    }
}

async fn kaspi_order(app: &TestApp, admin: &str, code: &str) -> Value {
    expect(
        app,
        "GET",
        &format!("/api/v1/orders/KS-{code}"),
        Some(admin),
        None,
        200,
    )
    .await
}

/// `sku -> (stockCount per storeId, price)` of a feed, read as XML (which
/// also proves it well-formed).
fn offers(xml: &str) -> BTreeMap<String, (BTreeMap<String, i64>, i64)> {
    use quick_xml::{events::Event, Reader};
    let mut reader = Reader::from_str(xml);
    let mut out = BTreeMap::new();
    let mut sku = String::new();
    let mut in_price = false;
    let attr = |e: &quick_xml::events::BytesStart, name: &str| -> Option<String> {
        e.attributes()
            .map(|a| a.unwrap())
            .find(|a| a.key.as_ref() == name.as_bytes())
            .map(|a| a.unescape_value().unwrap().into_owned())
    };
    loop {
        match reader.read_event().expect("the feed is well-formed XML") {
            Event::Eof => break,
            Event::Start(e) if e.name().as_ref() == b"offer" => {
                sku = attr(&e, "sku").expect("offer@sku");
                out.insert(sku.clone(), (BTreeMap::new(), -1));
            }
            Event::Empty(e) if e.name().as_ref() == b"availability" => {
                let store = attr(&e, "storeId").unwrap();
                let count: i64 = attr(&e, "stockCount").unwrap().parse().unwrap();
                let available = attr(&e, "available").unwrap();
                assert_eq!(
                    available == "yes",
                    count > 0,
                    "available={available} with {count}"
                );
                out.get_mut(&sku).unwrap().0.insert(store, count);
            }
            Event::Start(e) if e.name().as_ref() == b"price" => in_price = true,
            Event::Text(t) if in_price => {
                out.get_mut(&sku).unwrap().1 = t.decode().unwrap().trim().parse().unwrap();
                in_price = false;
            }
            _ => {}
        }
    }
    out
}

async fn feed(app: &TestApp) -> String {
    let r = app
        .client
        .get(app.url(&format!("/feeds/kaspi.xml?token={}", kaspi::FEED_TOKEN)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/xml"));
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_belong_to_the_stores_owner_and_every_bad_field_is_named() {
    let app = TestApp::builder().kaspi().start().await;
    let shop = shop(&app).await;
    let (admin, owner) = (shop.catalog.admin.clone(), shop.catalog.vendor.clone());
    let variant = shop.variant("CTEE-S-RED");
    let path = format!("/api/v1/variants/{variant}/listings/kaspi");

    assert_problem(send(&app, "GET", &path, Some(&owner), None).await, 404).await;
    let listed = list_on_kaspi(&app, &owner, &variant).await;
    assert_eq!(listed["sku"], "CTEE-S-RED");
    assert_eq!(listed["price"], json!({"amount": PRICE, "currency": "KZT"}));
    assert_eq!(listed["available"], 10);
    expect(&app, "GET", &path, Some(&admin), None, 200).await;

    let stranger = vendor(&app, "other-vendor@example.com").await;
    assert_problem(send(&app, "GET", &path, Some(&stranger), None).await, 403).await;
    let customer = customer(&app, "buyer@example.com").await;
    assert_problem(
        send(&app, "PUT", &path, Some(&customer), Some(json!({}))).await,
        403,
    )
    .await;
    assert_problem(
        send(
            &app,
            "GET",
            &format!("/api/v1/variants/{variant}/listings/wildberries"),
            Some(&owner),
            None,
        )
        .await,
        404,
    )
    .await;

    // Every problem of the body at once.
    let bad = send(
        &app,
        "PUT",
        &path,
        Some(&owner),
        Some(json!({
            "price_override": {"amount": 0, "currency": "KZT"},
            "ozon_product_id": 5, "ozon_sku": 6, "warehouse_id": "PP9"
        })),
    )
    .await;
    let problem = assert_problem(bad, 422).await;
    let mut fields = error_fields(&problem);
    fields.sort_unstable();
    assert_eq!(
        fields,
        vec![
            "ozon_product_id",
            "ozon_sku",
            "price_override.amount",
            "warehouse_id"
        ]
    );

    let priced = expect(
        &app,
        "PUT",
        &path,
        Some(&owner),
        Some(json!({"price_override": {"amount": 612_345, "currency": "KZT"}})),
        200,
    )
    .await;
    assert_eq!(priced["price"]["amount"], 612_345);
    let xml = feed(&app).await;
    assert_eq!(offers(&xml)["CTEE-S-RED"].1, 6123, "whole tenge, rounded");

    expect(&app, "DELETE", &path, Some(&owner), None, 204).await;
    assert_problem(send(&app, "GET", &path, Some(&owner), None).await, 404).await;

    // A whole store at once; the vendor may not list another's store.
    let bulk = expect(
        &app,
        "POST",
        "/api/v1/admin/integrations/kaspi/listings/bulk",
        Some(&owner),
        Some(json!({"store_id": shop.catalog.store_id})),
        200,
    )
    .await;
    assert_eq!(bulk["listed"], 6);
    assert_eq!(bulk["skipped"], json!([]));
    assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/admin/integrations/kaspi/listings/bulk",
            Some(&stranger),
            Some(json!({"store_id": shop.catalog.store_id})),
        )
        .await,
        403,
    )
    .await;
    let empty = send(
        &app,
        "POST",
        "/api/v1/admin/integrations/kaspi/listings/bulk",
        Some(&admin),
        Some(json!({})),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(empty, 422).await).len(), 2);
    assert_eq!(offers(&feed(&app).await).len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_answers_its_token_only_and_follows_every_sale() {
    let app = TestApp::builder()
        .kaspi()
        .var("KASPI_STORE_IDS", "PP1,PP2")
        .var("KASPI_SAFETY_STOCK", "1")
        .start()
        .await;
    let shop = shop(&app).await;
    list_on_kaspi(&app, &shop.catalog.vendor, &shop.variant("CTEE-S-RED")).await;
    list_on_kaspi(&app, &shop.catalog.vendor, &shop.variant("CTEE-M-BLUE")).await;
    for q in ["", "?token=", "?token=wrong-token", "?tokens=x"] {
        let r = app
            .client
            .get(app.url(&format!("/feeds/kaspi.xml{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{q}");
    }
    let xml = feed(&app).await;
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    assert!(xml.contains("xmlns=\"kaspiShopping\""));
    assert!(xml.contains(&format!("<merchantid>{}</merchantid>", kaspi::MERCHANT_ID)));
    let before = offers(&xml);
    assert_eq!(before.len(), 2, "listed variants only");
    let red = &before["CTEE-S-RED"];
    assert_eq!(
        red.0,
        BTreeMap::from([("PP1".into(), 9), ("PP2".into(), 9)]),
        "10 less the safety unit"
    );
    assert_eq!(red.1, PRICE / 100);

    // A sale on the site reaches the feed at its next read.
    let customer = customer(&app, "buyer@example.com").await;
    place(
        &app,
        &customer,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 9)]),
    )
    .await;
    let after = offers(&feed(&app).await);
    assert_eq!(
        after["CTEE-S-RED"].0["PP1"], 0,
        "the last unit is the safety stock"
    );
    assert_eq!(after["CTEE-M-BLUE"].0["PP1"], 9);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_kaspi_order_reserves_its_units_is_accepted_once_and_a_rerun_changes_nothing() {
    let app = TestApp::builder().kaspi().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    fake.add_order(NewOrder::new(
        "NDk3MTQ6MDIx",
        "496149022",
        kaspi::now_ms() - 3_600_000,
        vec![entry("CTEE-S-RED", 2), entry("CTEE-M-RED", 1)],
    ));
    sync_and_wait(&app, &admin).await;

    let order = wait_for_status(&app, &admin, "KS-496149022", "confirmed").await;
    assert_eq!(order["source"], "kaspi");
    assert_eq!(order["payment"]["method"], "marketplace");
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        fake.order("NDk3MTQ6MDIx").unwrap().status,
        "ACCEPTED_BY_MERCHANT"
    );
    assert_eq!(
        counters(&app, "CTEE-S-RED").await,
        (8, 0),
        "accepted: deducted"
    );
    assert_eq!(counters(&app, "CTEE-M-RED").await, (9, 0));

    let posts = fake.status_posts().len();
    sync_and_wait(&app, &admin).await;
    sync_and_wait(&app, &admin).await;
    assert_eq!(fake.status_posts().len(), posts, "nothing is sent twice");
    assert_eq!(
        commerce::count(&app, "SELECT count(*) FROM orders WHERE source = 'kaspi'").await,
        1
    );
    assert_eq!(counters(&app, "CTEE-S-RED").await, (8, 0));

    let view = expect(
        &app,
        "GET",
        "/api/v1/admin/integrations",
        Some(&admin),
        None,
        200,
    )
    .await;
    let k = view["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "kaspi")
        .unwrap()
        .clone();
    assert_eq!(k["enabled"], true);
    let orders_sync = &k["marketplace"]["syncs"][0];
    assert_eq!(orders_sync["kind"], "orders");
    assert!(orders_sync["last_success_at"].is_string());
    assert_eq!(orders_sync["counts"]["unchanged"], 1);
    assert_eq!(k["marketplace"]["orders"], 1);
    assert!(k["limiter"]["key"]
        .as_str()
        .unwrap()
        .ends_with(":throttle:marketplace:kaspi"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_stock_cannot_fill_is_cancelled_on_kaspi_as_out_of_stock() {
    let app = TestApp::builder().kaspi().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    fake.add_order(NewOrder::new(
        "T1",
        "100000001",
        kaspi::now_ms() - 60_000,
        vec![entry("CTEE-S-RED", 11)],
    ));
    sync_and_wait(&app, &admin).await;
    let order = wait_for_status(&app, &admin, "KS-100000001", "cancelled").await;
    assert!(order["timeline"].to_string().contains("out of stock"));
    eventually("Kaspi to hear of the cancellation", PATIENCE, || async {
        (fake.order("T1").unwrap().status == "CANCELLED").then_some(())
    })
    .await;
    assert_eq!(
        fake.order("T1").unwrap().cancellation_reason.as_deref(),
        Some("MERCHANT_OUT_OF_STOCK")
    );
    assert_eq!(counters(&app, "CTEE-S-RED").await, (10, 0), "nothing held");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_hold_an_unfillable_order_waits_for_stock_then_is_accepted() {
    let app = TestApp::builder()
        .kaspi()
        .var("KASPI_OUT_OF_STOCK", "hold")
        .start()
        .await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    fake.add_order(NewOrder::new(
        "H1",
        "100000002",
        kaspi::now_ms() - 60_000,
        vec![entry("CTEE-S-RED", 12)],
    ));
    sync_and_wait(&app, &admin).await;
    let held = kaspi_order(&app, &admin, "100000002").await;
    assert_eq!(held["status"], "paid");
    assert!(fake.status_posts().is_empty(), "held, not refused");
    let view = expect(
        &app,
        "GET",
        "/api/v1/admin/integrations",
        Some(&admin),
        None,
        200,
    )
    .await;
    assert!(view
        .to_string()
        .contains("held: out of stock: CTEE-S-RED (wanted 12, available 10)"));

    set_stock(&app, &shop, &shop.variant("CTEE-S-RED"), 15).await;
    sync_and_wait(&app, &admin).await;
    wait_for_status(&app, &admin, "KS-100000002", "confirmed").await;
    assert_eq!(fake.order("H1").unwrap().status, "ACCEPTED_BY_MERCHANT");
    assert_eq!(counters(&app, "CTEE-S-RED").await, (3, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_sku_is_kept_and_reported_never_dropped() {
    let app = TestApp::builder().kaspi().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    fake.add_order(NewOrder::new(
        "U1",
        "100000003",
        kaspi::now_ms() - 60_000,
        vec![entry("CTEE-S-RED", 1), entry("NO-SUCH-SKU", 2)],
    ));
    sync_and_wait(&app, &admin).await;
    let order = kaspi_order(&app, &admin, "100000003").await;
    assert_eq!(
        order["status"], "paid",
        "not accepted: a line cannot be filled"
    );
    assert_eq!(order["items"].as_array().unwrap().len(), 1);
    assert!(fake.status_posts().is_empty());
    let kept: (String, i32) = sqlx::query_as("SELECT sku, quantity FROM marketplace_unmatched")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(kept, ("NO-SUCH-SKU".into(), 2));
    let view = expect(
        &app,
        "GET",
        "/api/v1/admin/integrations",
        Some(&admin),
        None,
        200,
    )
    .await;
    let k = view["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "kaspi")
        .unwrap()
        .clone();
    assert_eq!(
        k["marketplace"]["unmatched_skus"],
        json!([{"sku": "NO-SUCH-SKU", "orders": 1, "units": 2}])
    );
    assert_eq!(
        k["marketplace"]["syncs"][0]["counts"]["unmatched_skus"],
        json!(["NO-SUCH-SKU"])
    );
    assert_eq!(
        counters(&app, "CTEE-S-RED").await,
        (10, 1),
        "the known line is held"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buyer_cancellation_on_kaspi_is_seen_by_rereading_open_orders() {
    let app = TestApp::builder()
        .kaspi()
        .var("KASPI_ORDERS_OVERLAP_SECS", "1")
        .var("KASPI_ORDERS_REREAD_SECS", "0")
        .start()
        .await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    // Beyond KASPI_ORDERS_LOOKBACK_DAYS (14): the first pull does not reach it.
    fake.add_order(NewOrder::new(
        "C1",
        "100000004",
        kaspi::now_ms() - 20 * DAY_MS,
        vec![entry("CTEE-L-RED", 3)],
    ));
    fake.add_order(NewOrder::new(
        "C2",
        "100000005",
        kaspi::now_ms() - 3 * DAY_MS,
        vec![entry("CTEE-L-RED", 3)],
    ));
    sync_and_wait(&app, &admin).await;
    wait_for_status(&app, &admin, "KS-100000005", "confirmed").await;
    assert_eq!(
        commerce::count(&app, "SELECT count(*) FROM orders WHERE source = 'kaspi'").await,
        1
    );
    assert_eq!(counters(&app, "CTEE-L-RED").await, (7, 0));

    // The next pull lists only what was created since the last one: the
    // cancellation of a three-day-old order is found by reading it again.
    fake.set_status("C2", "CANCELLED", "ARCHIVE");
    let reads = fake.get_calls();
    sync_and_wait(&app, &admin).await;
    let order = wait_for_status(&app, &admin, "KS-100000005", "cancelled").await;
    assert!(fake.get_calls() > reads, "open orders are read one by one");
    assert!(order["timeline"].to_string().contains("kaspi"));
    assert_eq!(
        counters(&app, "CTEE-L-RED").await,
        (10, 0),
        "back on the shelf"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_that_fails_part_way_resumes_where_it_stopped() {
    let app = TestApp::builder()
        .kaspi()
        .var("KASPI_ORDERS_LOOKBACK_DAYS", "30")
        .var("KASPI_ORDERS_OVERLAP_SECS", "1")
        .start()
        .await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    // One order in each of the three 13-day windows of the first pull.
    for (id, code, age) in [
        ("R1", "400000001", 25),
        ("R2", "400000002", 10),
        ("R3", "400000003", 0),
    ] {
        fake.add_order(NewOrder::new(
            id,
            code,
            kaspi::now_ms() - age * DAY_MS - 60_000,
            vec![entry("CTEE-S-RED", 1)],
        ));
    }
    // The first window is read, the second fails once: the retry starts
    // after the first window, not from the beginning.
    fake.fail_lists_after(1, 1);
    sync_and_wait(&app, &admin).await;
    for code in ["400000001", "400000002", "400000003"] {
        wait_for_status(&app, &admin, &format!("KS-{code}"), "confirmed").await;
    }
    assert_eq!(
        fake.list_calls(),
        3,
        "window 1, then windows 2 and 3 after the failure"
    );
    let cursor: serde_json::Value = sqlx::query_scalar(
        "SELECT cursor FROM marketplace_syncs WHERE marketplace = 'kaspi' AND kind = 'orders'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(cursor["read_until_ms"].as_i64().unwrap() > kaspi::now_ms() - 60_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn completion_takes_the_buyers_code_and_a_wrong_code_changes_nothing() {
    let app = TestApp::builder().kaspi().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.kaspi.as_ref().unwrap();
    fake.add_order(NewOrder::new(
        "D1",
        "100000006",
        kaspi::now_ms() - 60_000,
        vec![entry("CTEE-S-BLUE", 1)],
    ));
    sync_and_wait(&app, &admin).await;
    wait_for_status(&app, &admin, "KS-100000006", "confirmed").await;
    let path = "/api/v1/admin/orders/KS-100000006/kaspi/complete";

    // The usual status change may not skip Kaspi's code.
    let r =
        commerce::move_order(&app, &admin, "KS-100000006", json!({"status": "delivered"})).await;
    assert_problem(r, 409).await;

    let sent = expect(&app, "POST", path, Some(&admin), Some(json!({})), 202).await;
    assert_eq!(sent["status"], "code_sent");
    assert_eq!(fake.codes_sent("D1"), 1);
    let code = fake.security_code("D1").unwrap();
    let wrong = if code == "0000" { "1111" } else { "0000" };
    let r = send(
        &app,
        "POST",
        path,
        Some(&admin),
        Some(json!({"code": wrong})),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), vec!["code"]);
    assert_eq!(
        kaspi_order(&app, &admin, "100000006").await["status"],
        "confirmed"
    );
    assert_eq!(fake.order("D1").unwrap().status, "ACCEPTED_BY_MERCHANT");
    let r = send(
        &app,
        "POST",
        path,
        Some(&admin),
        Some(json!({"code": "12ab"})),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), vec!["code"]);

    let done = expect(
        &app,
        "POST",
        path,
        Some(&admin),
        Some(json!({"code": code})),
        200,
    )
    .await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["order"]["status"], "delivered");
    assert_eq!(fake.order("D1").unwrap().status, "COMPLETED");
    // Only Kaspi orders, only once.
    let again = send(
        &app,
        "POST",
        path,
        Some(&admin),
        Some(json!({"code": code})),
    )
    .await;
    assert_problem(again, 409).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_scheduled_pull_rides_out_kaspi_throttling_and_reads_long_spans_in_legal_windows() {
    let app = TestApp::builder()
        .kaspi()
        .var("KASPI_ORDERS_LOOKBACK_DAYS", "40")
        .var("SCHEDULE_KASPI_ORDERS", "*/2 * * * * *")
        .var("KASPI_RATE_PER_SEC", "50")
        .start()
        .await;
    let shop = shop(&app).await;
    let fake = app.kaspi.as_ref().unwrap();
    // 150 orders over 35 days: three windows, several pages.
    for i in 0..150i64 {
        fake.add_order(NewOrder::new(
            &format!("W{i:03}"),
            &format!("2{i:08}"),
            kaspi::now_ms() - 35 * DAY_MS + i * (DAY_MS / 5),
            vec![entry(
                if i % 2 == 0 {
                    "CTEE-S-RED"
                } else {
                    "CTEE-M-BLUE"
                },
                1,
            )],
        ));
    }
    set_stock(&app, &shop, &shop.variant("CTEE-S-RED"), 100).await;
    set_stock(&app, &shop, &shop.variant("CTEE-M-BLUE"), 100).await;
    fake.fail_next(2, 429, Some(1));
    // Started once the orders exist: they are backdated, and a pull that
    // ran before one was added would have moved past its creation date.
    app.start_scheduler();
    eventually("all 150 Kaspi orders to be accepted", PATIENCE, || async {
        let n = commerce::count(
            &app,
            "SELECT count(*) FROM orders WHERE source = 'kaspi' AND status = 'confirmed'",
        )
        .await;
        (n == 150).then_some(())
    })
    .await;
    assert_eq!(counters(&app, "CTEE-S-RED").await, (25, 0));
    assert_eq!(counters(&app, "CTEE-M-BLUE").await, (25, 0));
    let accepts = fake
        .status_posts()
        .iter()
        .filter(|p| p.status == "ACCEPTED_BY_MERCHANT")
        .count();
    assert_eq!(accepts, 150, "each accepted once");
    let violations = fake.violations();
    assert!(
        violations.is_empty(),
        "bazaar broke Kaspi's rules: {violations:#?}"
    );
    app.leaves_jobs("the scheduler keeps enqueueing pulls while the test ends");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_of_a_hundred_thousand_offers_is_streamed_and_well_formed() {
    use futures::StreamExt;
    let app = TestApp::builder().kaspi().without_worker().start().await;
    let shop = shop(&app).await;
    // 100,000 variants of the product, listed on Kaspi; one name with every
    // character XML gives meaning to. Bulk-loaded with the row triggers off
    // (they keep the product's facets, which the feed does not read).
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO variants (id, product_id, sku, attributes, price, currency, stock)
         SELECT gen_random_uuid(), $1::uuid, 'F' || lpad(i::text, 6, '0'),
                jsonb_build_object('size', CASE WHEN i = 7 THEN 'A&B <\"x\"> ''y''' ELSE 'S' || i END),
                100000 + i, 'KZT', i % 5
           FROM generate_series(1, 100000) i",
    )
    .bind(&shop.catalog.product_id)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("INSERT INTO listings (variant_id, marketplace) SELECT id, 'kaspi' FROM variants WHERE sku LIKE 'F%'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("ANALYZE variants")
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url(&format!("/feeds/kaspi.xml?token={}", kaspi::FEED_TOKEN)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("content-length").is_none(),
        "streamed, not buffered"
    );
    let mut body = Vec::new();
    let mut chunks = 0;
    let mut stream = r.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 100, "{chunks} chunks for {} bytes", body.len());
    let xml = String::from_utf8(body).unwrap();
    let all = offers(&xml);
    assert_eq!(all.len(), 100_000);
    assert_eq!(all["F000007"].1, 1000, "whole tenge");
    assert!(xml.contains("<model>Classic Tee A&amp;B &lt;&quot;x&quot;&gt; &apos;y&apos;</model>"));
    assert_eq!(all["F000004"].0["PP1"], 4);
    assert_eq!(all["F000005"].0["PP1"], 0);
}

//! Ozon: stock pushed after every change (coalesced, within Ozon's limits),
//! prices, card imports with their per-item errors, postings imported,
//! shipped by SKU and re-checked, cancelled with a reason Ozon offers, and
//! "Circle is open" respected, against the fake Seller API (which fails the
//! test when bazaar breaks one of Ozon's rules).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    commerce::{self, place, set_price, set_stock, shop, wait_for_status, Shop, PATIENCE, PRICE},
    fixtures::{customer, expect},
    harness::{
        eventually,
        ozon::{self, NewPosting, NewPostingProduct},
        TestApp,
    },
    marketplaces_kaspi::counters,
};

/// Ozon's ids of the shop's variants in the fake: product id and SKU.
fn ozon_ids(n: i64) -> (i64, i64) {
    (300_000 + n, 1_900_000 + n)
}

/// Lists `skus` on Ozon with cards the fake knows.
async fn list_on_ozon(app: &TestApp, shop: &Shop, skus: &[&str]) {
    let fake = app.ozon.as_ref().unwrap();
    for (n, sku) in skus.iter().enumerate() {
        let (product_id, ozon_sku) = ozon_ids(n as i64);
        fake.add_product(sku, product_id, ozon_sku);
        expect(
            app,
            "PUT",
            &format!("/api/v1/variants/{}/listings/ozon", shop.variant(sku)),
            Some(&shop.catalog.vendor),
            Some(json!({ "ozon_product_id": product_id, "ozon_sku": ozon_sku })),
            200,
        )
        .await;
    }
}

async fn sync(app: &TestApp, admin: &str) {
    let (_, before, _) = app.job_counts("marketplace.ozon_orders").await;
    expect(
        app,
        "POST",
        "/api/v1/admin/integrations/ozon/sync",
        Some(admin),
        None,
        202,
    )
    .await;
    eventually("the Ozon sync to run", PATIENCE, || async {
        let (_, done, _) = app.job_counts("marketplace.ozon_orders").await;
        (done > before).then_some(())
    })
    .await;
    app.drain().await;
}

fn line(sku: &str, n: i64, quantity: i32) -> NewPostingProduct {
    NewPostingProduct {
        sku: ozon_ids(n).1,
        offer_id: sku.into(),
        name: format!("{sku} on Ozon"),
        quantity,
        price: "5000.00".into(),
    }
}

async fn stock_on_ozon(app: &TestApp, sku: &str, figure: i64) {
    let fake = app.ozon.as_ref().unwrap();
    eventually(
        &format!("Ozon to show {figure} of {sku}"),
        PATIENCE,
        || async { (fake.stock(sku, ozon::WAREHOUSE_ID) == Some(figure)).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sale_reaches_ozon_coalesced_and_never_twice_within_the_pair_interval() {
    let app = TestApp::builder()
        .ozon()
        .var("SCHEDULE_MARKETPLACE_SYNC", "* * * * * *")
        .schedulers(1)
        .start()
        .await;
    let shop = shop(&app).await;
    list_on_ozon(&app, &shop, &["CTEE-S-RED", "CTEE-M-RED"]).await;
    stock_on_ozon(&app, "CTEE-S-RED", 10).await;
    stock_on_ozon(&app, "CTEE-M-RED", 10).await;

    // Five sales in a burst, then an admin edit: Ozon ends with the last
    // figure, in fewer pushes than changes.
    let buyer = customer(&app, "buyer@example.com").await;
    let started = Instant::now();
    for _ in 0..5 {
        place(
            &app,
            &buyer,
            &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
        )
        .await;
    }
    stock_on_ozon(&app, "CTEE-S-RED", 5).await;
    let reached = started.elapsed();
    set_stock(&app, &shop, &shop.variant("CTEE-M-RED"), 4).await;
    stock_on_ozon(&app, "CTEE-M-RED", 4).await;

    let fake = app.ozon.as_ref().unwrap();
    let red: Vec<_> = fake
        .stock_updates()
        .into_iter()
        .filter(|u| u.offer_id == "CTEE-S-RED")
        .collect();
    assert!(
        red.len() <= 3,
        "coalesced: {} pushes for 5 sales",
        red.len() - 1
    );
    for pair in red.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::from_millis(1950),
            "never twice within the interval"
        );
    }
    assert!(
        reached < Duration::from_secs(30),
        "a sale reaches Ozon within a cycle: {reached:?}"
    );
    assert!(red
        .iter()
        .all(|u| u.warehouse_id == ozon::WAREHOUSE_ID && u.product_id == ozon_ids(0).0));
    app.leaves_jobs("the scheduler keeps enqueueing syncs while the test ends");
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_posting_reserves_its_units_and_ships_by_sku_until_ozon_really_ships_it() {
    let app = TestApp::builder().ozon().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    list_on_ozon(&app, &shop, &["CTEE-S-RED"]).await;
    let fake = app.ozon.as_ref().unwrap();
    fake.add_posting(NewPosting::new(
        "0132112277-0101-1",
        vec![line("CTEE-S-RED", 0, 2)],
    ));
    sync(&app, &admin).await;

    let number = "OZ-0132112277-0101-1";
    let order = wait_for_status(&app, &admin, number, "paid").await;
    assert_eq!(order["source"], "ozon");
    assert_eq!(order["items"][0]["quantity"], 2);
    assert_eq!(counters(&app, "CTEE-S-RED").await, (10, 2));
    sync(&app, &admin).await;
    assert_eq!(
        commerce::count(&app, "SELECT count(*) FROM orders WHERE source = 'ozon'").await,
        1,
        "a second pull changes nothing"
    );

    fake.ship_fails_once("0132112277-0101-1");
    commerce::advance(&app, &admin, number, "confirmed").await;
    commerce::advance(&app, &admin, number, "shipped").await;
    eventually("Ozon to ship the posting", PATIENCE, || async {
        let p = fake.posting("0132112277-0101-1").unwrap();
        (p.status == "awaiting_deliver").then_some(p)
    })
    .await;
    let p = fake.posting("0132112277-0101-1").unwrap();
    assert_eq!(
        p.ship_calls, 2,
        "the 200 that did not ship was shipped again"
    );
    assert_eq!(
        p.shipped_packages,
        vec![vec![(ozon_ids(0).1, 2)]],
        "by Ozon SKU"
    );
    app.drain().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unfillable_posting_is_cancelled_with_the_out_of_stock_reason_ozon_offers() {
    let app = TestApp::builder().ozon().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    list_on_ozon(&app, &shop, &["CTEE-S-RED"]).await;
    let fake = app.ozon.as_ref().unwrap();
    fake.add_posting(NewPosting::new(
        "0200-0001-1",
        vec![line("CTEE-S-RED", 0, 11)],
    ));
    sync(&app, &admin).await;
    wait_for_status(&app, &admin, "OZ-0200-0001-1", "cancelled").await;
    eventually("Ozon to cancel the posting", PATIENCE, || async {
        let p = fake.posting("0200-0001-1").unwrap();
        (p.status == "cancelled").then_some(p)
    })
    .await;
    assert_eq!(
        fake.posting("0200-0001-1").unwrap().cancel_reason_id,
        Some(352)
    );

    // A buyer's cancellation on Ozon gives the units back here.
    fake.add_posting(NewPosting::new(
        "0200-0002-1",
        vec![line("CTEE-S-RED", 0, 3)],
    ));
    sync(&app, &admin).await;
    wait_for_status(&app, &admin, "OZ-0200-0002-1", "paid").await;
    fake.set_posting_status("0200-0002-1", "cancelled");
    sync(&app, &admin).await;
    wait_for_status(&app, &admin, "OZ-0200-0002-1", "cancelled").await;
    assert_eq!(counters(&app, "CTEE-S-RED").await, (10, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn cards_are_created_prices_coalesce_under_the_hourly_limit_and_item_errors_show() {
    let app = TestApp::builder()
        .ozon_limits(ozon::Limits {
            stock_pair_interval: Duration::from_secs(2),
            price_changes_per_hour: 2,
            ..ozon::Limits::default()
        })
        .start()
        .await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.ozon.as_ref().unwrap();
    // No card yet: bazaar creates it and learns Ozon's ids.
    let path = format!(
        "/api/v1/variants/{}/listings/ozon",
        shop.variant("CTEE-L-BLUE")
    );
    expect(
        &app,
        "PUT",
        &path,
        Some(&shop.catalog.vendor),
        Some(json!({})),
        200,
    )
    .await;
    // A card Ozon does not know: its per-item error is shown.
    expect(
        &app,
        "PUT",
        &format!(
            "/api/v1/variants/{}/listings/ozon",
            shop.variant("CTEE-M-BLUE")
        ),
        Some(&shop.catalog.vendor),
        Some(json!({ "ozon_product_id": 777 })),
        200,
    )
    .await;
    eventually("the card to be created on Ozon", PATIENCE, || async {
        sync(&app, &admin).await;
        let listing = expect(&app, "GET", &path, Some(&admin), None, 200).await;
        listing["ozon_product_id"].as_i64().map(|id| (id, listing))
    })
    .await;
    assert_eq!(fake.product("CTEE-L-BLUE").unwrap().state, "price_sent");
    stock_on_ozon(&app, "CTEE-L-BLUE", 10).await;

    let view = expect(
        &app,
        "GET",
        "/api/v1/admin/integrations",
        Some(&admin),
        None,
        200,
    )
    .await;
    let oz = view["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "ozon")
        .unwrap()
        .clone();
    let errors = oz["marketplace"]["item_errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e["sku"] == "CTEE-M-BLUE"
            && e["error"].as_str().unwrap().contains("offer_id_not_found")),
        "{errors:?}"
    );
    let syncs: Vec<&str> = oz["marketplace"]["syncs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(syncs, vec!["orders", "prices", "products", "stock"]);

    // Three price changes, two pushes allowed an hour: the third waits.
    let before = fake
        .price_updates()
        .iter()
        .filter(|p| p.offer_id == "CTEE-L-BLUE")
        .count();
    for price in [PRICE + 10_000, PRICE + 20_000, PRICE + 30_000] {
        set_price(&app, &shop, &shop.variant("CTEE-L-BLUE"), price).await;
        sync(&app, &admin).await;
    }
    let prices: Vec<String> = fake
        .price_updates()
        .iter()
        .filter(|p| p.offer_id == "CTEE-L-BLUE")
        .map(|p| p.price.clone())
        .collect();
    assert_eq!(prices.len(), 2, "{prices:?} ({before} before)");
    assert!(
        prices.iter().all(|p| p.contains('.')),
        "decimal strings: {prices:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_circle_is_left_alone_until_it_closes() {
    let app = TestApp::builder()
        .ozon()
        .var("SCHEDULE_MARKETPLACE_SYNC", "* * * * * *")
        .schedulers(1)
        .start()
        .await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let fake = app.ozon.as_ref().unwrap();
    fake.circle_open(ozon::STOCKS, 1);
    list_on_ozon(&app, &shop, &["CTEE-S-BLUE"]).await;
    expect(
        &app,
        "POST",
        "/api/v1/admin/integrations/ozon/sync",
        Some(&admin),
        None,
        202,
    )
    .await;
    stock_on_ozon(&app, "CTEE-S-BLUE", 10).await;
    assert_eq!(
        fake.calls(ozon::STOCKS),
        2,
        "one refused, one after the rest"
    );
    assert!(fake.violations().is_empty(), "{:#?}", fake.violations());
    app.leaves_jobs("the scheduler keeps enqueueing syncs while the test ends");
}

/// The race: the last five units, fifty site checkouts, a Kaspi order and an
/// Ozon posting at the same moment. Never oversold; every loser refused
/// (409) or cancelled with the out-of-stock reason; the counters agree with
/// the orders.
#[tokio::test(flavor = "multi_thread")]
async fn the_last_five_units_are_sold_once_across_the_site_kaspi_and_ozon() {
    use crate::harness::kaspi::{self, NewEntry, NewOrder};
    let app = TestApp::builder().ozon().kaspi().start().await;
    let shop = shop(&app).await;
    let admin = shop.catalog.admin.clone();
    let variant = shop.variant("CTEE-S-RED");
    list_on_ozon(&app, &shop, &["CTEE-S-RED"]).await;
    set_stock(&app, &shop, &variant, 5).await;
    let buyers = futures::future::join_all((0..10).map(|i| {
        let app = &app;
        async move { customer(app, &format!("racer{i}@example.com")).await }
    }))
    .await;
    app.kaspi.as_ref().unwrap().add_order(NewOrder::new(
        "RACE1",
        "300000001",
        kaspi::now_ms() - 1_000,
        vec![NewEntry {
            sku: "CTEE-S-RED".into(),
            name: "Tee".into(),
            quantity: 2,
            base_price: 5000,
        }],
    ));
    app.ozon.as_ref().unwrap().add_posting(NewPosting::new(
        "0300-0001-1",
        vec![line("CTEE-S-RED", 0, 2)],
    ));

    let body = shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]);
    let site = futures::future::join_all((0..50).map(|i| {
        let (app, body) = (&app, &body);
        let token = buyers[i % buyers.len()].as_str();
        async move { commerce::attempt(app, token, &format!("race-{i}"), body).await }
    }));
    let kaspi_sync = expect(
        &app,
        "POST",
        "/api/v1/admin/integrations/kaspi/sync",
        Some(&admin),
        None,
        202,
    );
    let ozon_sync = expect(
        &app,
        "POST",
        "/api/v1/admin/integrations/ozon/sync",
        Some(&admin),
        None,
        202,
    );
    let (site, _, _) = tokio::join!(site, kaspi_sync, ozon_sync);
    let sold_on_site = site.iter().filter(|(s, _)| *s == 201).count() as i64;
    assert!(
        site.iter()
            .all(|(s, b)| *s == 201 || (*s == 409 && b["lines"][0]["sku"] == "CTEE-S-RED")),
        "{site:?}"
    );

    // Both marketplace orders exist, each either holding its units or
    // cancelled as out of stock on its marketplace.
    let settled = eventually("both marketplace orders to settle", PATIENCE, || async {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT number, status FROM orders WHERE source <> 'web' ORDER BY number",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        let pending = app.job_counts("marketplace.order_action").await.0;
        (rows.len() == 2 && pending == 0).then_some(rows)
    })
    .await;
    app.drain().await;
    let mut held_by_marketplaces = 0;
    for (number, status) in &settled {
        match status.as_str() {
            "paid" | "confirmed" => held_by_marketplaces += 2,
            "cancelled" => {}
            other => panic!("{number} is {other}"),
        }
    }
    assert!(
        sold_on_site + held_by_marketplaces <= 5,
        "oversold: {sold_on_site} on the site, {held_by_marketplaces} on marketplaces"
    );
    let kaspi_order = app.kaspi.as_ref().unwrap().order("RACE1").unwrap();
    let kaspi_lost = settled
        .iter()
        .any(|(n, s)| n == "KS-300000001" && s == "cancelled");
    if kaspi_lost {
        assert_eq!(
            kaspi_order.cancellation_reason.as_deref(),
            Some("MERCHANT_OUT_OF_STOCK")
        );
    } else {
        assert_eq!(kaspi_order.status, "ACCEPTED_BY_MERCHANT");
    }
    let ozon_lost = settled
        .iter()
        .any(|(n, s)| n == "OZ-0300-0001-1" && s == "cancelled");
    if ozon_lost {
        assert_eq!(
            app.ozon
                .as_ref()
                .unwrap()
                .posting("0300-0001-1")
                .unwrap()
                .cancel_reason_id,
            Some(352)
        );
    }
    // The counters agree with the orders that hold units.
    let (stock, reserved): (i32, i32) =
        sqlx::query_as("SELECT stock, reserved FROM variants WHERE id = $1::uuid")
            .bind(&variant)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let held: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(i.quantity), 0)::bigint FROM order_items i JOIN orders o ON o.id = i.order_id
          WHERE i.variant_id = $1::uuid AND o.stock_state = 'reserved'",
    )
    .bind(&variant)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let deducted: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(i.quantity), 0)::bigint FROM order_items i JOIN orders o ON o.id = i.order_id
          WHERE i.variant_id = $1::uuid AND o.stock_state = 'deducted'",
    )
    .bind(&variant)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        i64::from(reserved),
        held,
        "reservations match the orders holding units"
    );
    assert_eq!(
        i64::from(stock) + deducted,
        5,
        "stock plus what left it is what there was"
    );
    assert!(reserved <= stock);
    // With five units and demand for 54, every unit is sold.
    assert_eq!(held + deducted, 5, "every unit found a buyer");
    assert_eq!(sold_on_site + held_by_marketplaces, 5);
}

/// The variant's Ozon figures are followed while it is listed there, and
/// only then: listing marks the variant, a sale or a price edit moves the
/// listing's versions, unlisting unmarks it, and a variant on Kaspi alone is
/// not followed (the checkout's stock movement skips the Ozon trigger).
#[tokio::test(flavor = "multi_thread")]
async fn a_variant_is_followed_for_ozon_while_it_is_listed_there() {
    let app = TestApp::builder().ozon().kaspi().start().await;
    let shop = shop(&app).await;
    let variant = shop.variant("CTEE-S-RED");
    let kaspi_only = shop.variant("CTEE-M-RED");
    let marked = |id: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>("SELECT on_ozon FROM variants WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let versions = || async {
        sqlx::query_as::<_, (i64, i64)>(
            "SELECT stock_version, price_version FROM listings
              WHERE variant_id = $1::uuid AND marketplace = 'ozon'",
        )
        .bind(&variant)
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    assert!(!marked(variant.clone()).await, "not listed yet");
    list_on_ozon(&app, &shop, &["CTEE-S-RED"]).await;
    expect(
        &app,
        "PUT",
        &format!("/api/v1/variants/{kaspi_only}/listings/kaspi"),
        Some(&shop.catalog.vendor),
        Some(json!({"price_override": {"amount": 612_345, "currency": "KZT"}})),
        200,
    )
    .await;
    assert!(marked(variant.clone()).await, "listed on Ozon");
    assert!(!marked(kaspi_only.clone()).await, "listed on Kaspi only");

    let (stock_before, price_before) = versions().await;
    let buyer = customer(&app, "buyer@example.com").await;
    for sku in ["CTEE-S-RED", "CTEE-M-RED"] {
        place(&app, &buyer, &shop.buy_now("cash_on_delivery", &[(sku, 1)])).await;
    }
    set_price(&app, &shop, &variant, PRICE + 100).await;
    let (stock_after, price_after) = versions().await;
    assert_eq!(stock_after, stock_before + 1, "the sale is due on Ozon");
    assert_eq!(
        price_after,
        price_before + 1,
        "the new price is due on Ozon"
    );

    let path = format!("/api/v1/variants/{variant}/listings/ozon");
    expect(&app, "DELETE", &path, Some(&shop.catalog.vendor), None, 204).await;
    assert!(!marked(variant.clone()).await, "unlisted");
    // Selling an unlisted variant touches no listing (there is none) and
    // still works.
    place(
        &app,
        &buyer,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
    )
    .await;
    list_on_ozon(&app, &shop, &["CTEE-S-RED"]).await;
    assert!(marked(variant.clone()).await, "listed again");
}

//! The back office's API: the dashboard (admin and vendor scope), the order
//! desk's filters and CSV export, job discard, the CMS and the contact form.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    commerce::{advance, amount, number, place, set_stock, shop, Shop, PRICE},
    fixtures::{customer, expect, send, vendor},
    harness::{assert_problem, error_fields, eventually, TestApp},
};

/// A second vendor with a store and one product, "Mug" (MUG-RED at
/// 2 000.00 KZT, 10 in stock), of the first shop's type and category.
/// Returns the vendor's token and the variant's id.
pub async fn second_vendor(app: &TestApp, shop: &Shop) -> (String, String) {
    let token = vendor(app, "other-vendor@example.com").await;
    let store = expect(
        app,
        "POST",
        "/api/v1/stores",
        Some(&token),
        Some(json!({ "name": "Other" })),
        201,
    )
    .await;
    let product = expect(
        app,
        "POST",
        "/api/v1/products",
        Some(&token),
        Some(json!({
            "store_id": store["id"],
            "category_id": shop.catalog.category_id,
            "product_type_id": shop.catalog.type_id,
            "name": "Mug",
            "code": "MUG",
            "attributes": { "material": "Linen" },
        })),
        201,
    )
    .await;
    let generated = expect(
        app,
        "POST",
        &format!(
            "/api/v1/products/{}/variants/generate",
            product["id"].as_str().unwrap()
        ),
        Some(&token),
        Some(json!({
            "size": ["S"],
            "color": ["Red"],
            "price": { "amount": 200_000, "currency": "KZT" },
            "stock": 10,
        })),
        201,
    )
    .await;
    let variant = generated["variants"][0]["id"].as_str().unwrap().to_owned();
    (token, variant)
}

fn checkout_body(shop: &Shop, lines: &[(&str, i64)]) -> Value {
    let mut body = shop.order("cash_on_delivery");
    body["items"] = lines
        .iter()
        .map(|(variant, quantity)| json!({ "variant_id": variant, "quantity": quantity }))
        .collect();
    body
}

fn today(dashboard: &Value) -> &Value {
    dashboard["revenue_by_day"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
}

fn status_count(dashboard: &Value, status: &str) -> i64 {
    dashboard["orders_by_status"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == status)
        .unwrap_or_else(|| panic!("no {status} in {dashboard}"))["orders"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_adds_up_what_was_sold_and_a_vendor_sees_only_their_stores() {
    let app = TestApp::builder()
        .var("DASHBOARD_CACHE_SECS", "1")
        .var("LOW_STOCK_THRESHOLD", "3")
        .start()
        .await;
    let shop = shop(&app).await;
    let (other, mug) = second_vendor(&app, &shop).await;
    let ann = customer(&app, "ann@example.com").await;
    let tee = shop.variant("CTEE-S-RED");
    // Two tees and a mug; one tee alone; a mug alone, cancelled.
    let mixed = place(&app, &ann, &checkout_body(&shop, &[(&tee, 2), (&mug, 1)])).await;
    let tee_only = place(&app, &ann, &checkout_body(&shop, &[(&tee, 1)])).await;
    let mug_only = place(&app, &ann, &checkout_body(&shop, &[(&mug, 1)])).await;
    expect(
        &app,
        "POST",
        &format!("/api/v1/orders/{}/cancel", number(&mug_only)),
        Some(&ann),
        Some(json!({})),
        200,
    )
    .await;
    advance(&app, &shop.catalog.admin, &number(&tee_only), "confirmed").await;
    // Low stock: the tee in L/Blue down to 2 (threshold 3).
    set_stock(&app, &shop, &shop.variant("CTEE-L-BLUE"), 2).await;
    app.drain().await;

    let admin = expect(
        &app,
        "GET",
        "/api/v1/admin/dashboard",
        Some(&shop.catalog.admin),
        None,
        200,
    )
    .await;
    assert_eq!(admin["orders_today"], 3, "{admin}");
    let kept =
        amount(&mixed["order"]["totals"]["total"]) + amount(&tee_only["order"]["totals"]["total"]);
    assert_eq!(
        amount(&admin["revenue_today"]),
        kept,
        "cancelled orders earn nothing"
    );
    assert_eq!(admin["revenue_by_day"].as_array().unwrap().len(), 30);
    assert_eq!(today(&admin)["orders"], 3);
    assert_eq!(status_count(&admin, "pending"), 1);
    assert_eq!(status_count(&admin, "confirmed"), 1);
    assert_eq!(status_count(&admin, "cancelled"), 1);
    let low: Vec<&str> = admin["low_stock"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sku"].as_str().unwrap())
        .collect();
    assert_eq!(low, vec!["CTEE-L-BLUE"], "{admin}");
    assert_eq!(admin["low_stock"][0]["available"], 2);
    assert_eq!(admin["failed_jobs"], 0);
    assert_eq!(admin["reviews_pending"], 0);
    assert_eq!(admin["top_products"][0]["name"], "Classic Tee");
    assert_eq!(admin["top_products"][0]["units"], 3);

    // The first vendor: tee lines only (3 x PRICE), two orders today.
    let first = expect(
        &app,
        "GET",
        "/api/v1/admin/dashboard",
        Some(&shop.catalog.vendor),
        None,
        200,
    )
    .await;
    assert_eq!(first["orders_today"], 2, "{first}");
    assert_eq!(amount(&first["revenue_today"]), 3 * PRICE);
    assert!(first["failed_jobs"].is_null() && first["reviews_pending"].is_null());
    assert_eq!(first["top_products"].as_array().unwrap().len(), 1);
    // The second: one live mug (the cancelled one counts as an order, not as revenue).
    let second = expect(
        &app,
        "GET",
        "/api/v1/admin/dashboard",
        Some(&other),
        None,
        200,
    )
    .await;
    assert_eq!(second["orders_today"], 2, "{second}");
    assert_eq!(amount(&second["revenue_today"]), 200_000);
    assert_eq!(second["top_products"][0]["name"], "Mug");
    assert!(
        second["low_stock"].as_array().unwrap().is_empty(),
        "{second}"
    );

    let r = send(&app, "GET", "/api/v1/admin/dashboard", Some(&ann), None).await;
    assert_problem(r, 403).await;
    let r = send(&app, "GET", "/api/v1/admin/dashboard", None, None).await;
    assert_problem(r, 401).await;
}

/// The CSV body's rows (header first), split naively: the tests' values
/// hold no commas or quotes except where a test says so.
fn rows(csv: &str) -> Vec<Vec<String>> {
    csv.lines()
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_order_desk_filters_and_exports_what_it_lists_and_vendors_get_their_lines() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let (other, mug) = second_vendor(&app, &shop).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    let tee = shop.variant("CTEE-M-RED");
    let a1_placed = place(&app, &ann, &checkout_body(&shop, &[(&tee, 1)])).await;
    let a1 = number(&a1_placed);
    let a2 = number(&place(&app, &ann, &checkout_body(&shop, &[(&tee, 1), (&mug, 2)])).await);
    let b1 = number(&place(&app, &bob, &checkout_body(&shop, &[(&mug, 1)])).await);
    advance(&app, &shop.catalog.admin, &a2, "confirmed").await;
    // Staff type the tracking number; a formula in it must stay text.
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/admin/orders/{a2}/status"),
        Some(&shop.catalog.admin),
        Some(json!({ "status": "shipped", "tracking_number": "=HYPERLINK(1)", "courier": "Kazpost" })),
    )
    .await;
    assert_eq!(r.status(), 200);
    app.drain().await;
    let admin = &shop.catalog.admin;

    let numbers = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["number"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = expect(&app, "GET", "/api/v1/admin/orders", Some(admin), None, 200).await;
    assert_eq!(
        numbers(&all),
        vec![b1.clone(), a2.clone(), a1.clone()],
        "newest first"
    );
    let anns = expect(
        &app,
        "GET",
        "/api/v1/admin/orders?customer=ANN@example.com&status=pending",
        Some(admin),
        None,
        200,
    )
    .await;
    assert_eq!(numbers(&anns), vec![a1.clone()]);
    assert_eq!(anns["total"], 1);
    let one = expect(
        &app,
        "GET",
        &format!("/api/v1/admin/orders?number={}", a2.to_lowercase()),
        Some(admin),
        None,
        200,
    )
    .await;
    assert_eq!(numbers(&one), vec![a2.clone()]);
    let web = expect(
        &app,
        "GET",
        "/api/v1/admin/orders?source=web&status=",
        Some(admin),
        None,
        200,
    )
    .await;
    assert_eq!(web["total"], 3, "an empty parameter filters nothing");
    let none = expect(
        &app,
        "GET",
        "/api/v1/admin/orders?source=kaspi",
        Some(admin),
        None,
        200,
    )
    .await;
    assert_eq!(none["total"], 0);
    let bad = send(&app, "GET", "/api/v1/admin/orders?status=lost&source=ebay&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", Some(admin), None).await;
    let p = assert_problem(bad, 422).await;
    assert_eq!(error_fields(&p), vec!["status", "source", "to"]);

    // The export lists what the list lists, newest first.
    let r = send(
        &app,
        "GET",
        "/api/v1/admin/orders/export?customer=ann@example.com",
        Some(admin),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("orders.csv"));
    let csv = r.text().await.unwrap();
    let table = rows(&csv);
    assert_eq!(table[0][0], "number");
    assert_eq!(table.len(), 3, "{csv}");
    assert_eq!(table[1][0], a2);
    assert_eq!(table[2][0], a1);
    assert_eq!(table[1][2], "shipped");
    assert_eq!(table[1][6], "2", "two lines");
    assert_eq!(table[1][15], "'=HYPERLINK(1)", "formulas stay text: {csv}");
    let total = amount(&a1_placed["order"]["totals"]["total"]);
    assert_eq!(
        table[2][11],
        format!("{}.{:02}", total / 100, total % 100),
        "major units"
    );

    // The second vendor: the orders with a mug, and only the mug lines.
    let theirs = expect(&app, "GET", "/api/v1/admin/orders", Some(&other), None, 200).await;
    assert_eq!(numbers(&theirs), vec![b1.clone(), a2.clone()]);
    for o in theirs["items"].as_array().unwrap() {
        for line in o["items"].as_array().unwrap() {
            assert_eq!(line["sku"], "MUG-S-RED", "{o}");
        }
    }
    let csv = send(
        &app,
        "GET",
        "/api/v1/admin/orders/export",
        Some(&other),
        None,
    )
    .await
    .text()
    .await
    .unwrap();
    let table = rows(&csv);
    assert_eq!(table.len(), 3, "{csv}");
    assert_eq!(table[2][0], a2);
    assert_eq!(table[2][6], "1", "their line only");
    assert_eq!(
        table[2][11], "4000.00",
        "their two mugs, not the order's total"
    );
    let r = send(&app, "GET", "/api/v1/admin/orders/export", Some(&ann), None).await;
    assert_problem(r, 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discarded_job_is_kept_marked_and_never_runs_again() {
    let app = TestApp::builder()
        .var("QUEUE_OPS_MAX_ATTEMPTS", "1")
        .start()
        .await;
    app.leaves_jobs("a job fails for good on purpose, then is discarded");
    let mut conn = app.pool.acquire().await.unwrap();
    let probe = bazaar_core::jobs::Probe {
        key: "hopeless".into(),
        work_ms: 0,
        fail_times: 1000,
    };
    let id = bazaar_core::outbox::enqueue(&mut conn, &app.config.pipeline, &probe)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let admin = app.admin_token().await;
    eventually(
        "the probe to fail for good",
        Duration::from_secs(30),
        || async {
            let (_, _, failed) = app.job_counts("ops.probe").await;
            (failed == 1).then_some(())
        },
    )
    .await;
    let r = app
        .post_auth(
            &format!("/api/v1/admin/jobs/ops/{id}/discard"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    let (status, by): (String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT status, discarded_by FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "discarded");
    assert!(by.is_some(), "who discarded it is kept");
    let jobs: Value = app
        .get_auth("/api/v1/admin/jobs", &admin)
        .await
        .json()
        .await
        .unwrap();
    let ops = jobs["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "ops")
        .unwrap();
    assert_eq!(
        (ops["failed"].as_i64(), ops["discarded"].as_i64()),
        (Some(0), Some(1))
    );
    assert!(jobs["latest_failures"].as_array().unwrap().is_empty());
    // Neither discarded twice nor retried: it is no longer a failed job.
    for action in ["discard", "retry"] {
        let r = app
            .post_auth(
                &format!("/api/v1/admin/jobs/ops/{id}/{action}"),
                &admin,
                json!({}),
            )
            .await;
        assert_problem(r, 404).await;
    }
    let customer = app.register("c@example.com").await;
    let r = app
        .post_auth(
            &format!("/api/v1/admin/jobs/ops/{id}/discard"),
            customer["access_token"].as_str().unwrap(),
            json!({}),
        )
        .await;
    assert_problem(r, 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cms_pages_render_markdown_safely_and_public_reads_follow_every_edit() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let created = expect(
        &app,
        "POST",
        "/api/v1/admin/pages",
        Some(&admin),
        Some(json!({
            "slug": "delivery",
            "title": "Delivery",
            "body": "We ship **fast**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        })),
        201,
    )
    .await;
    let html = created["body_html"].as_str().unwrap();
    assert!(html.contains("<strong>fast</strong>"), "{html}");
    for bad in ["<script", "javascript:", "onerror"] {
        assert!(!html.contains(bad), "{bad} survived: {html}");
    }
    let public = expect(&app, "GET", "/api/v1/pages/delivery", None, None, 200).await;
    assert_eq!(public["title"], "Delivery");
    // Cached, then edited: the next read shows the edit.
    let id = created["id"].as_str().unwrap();
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/admin/pages/{id}"),
        Some(&admin),
        Some(json!({ "title": "Delivery and returns" })),
        200,
    )
    .await;
    let public = expect(&app, "GET", "/api/v1/pages/delivery", None, None, 200).await;
    assert_eq!(public["title"], "Delivery and returns");
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/admin/pages/{id}"),
        Some(&admin),
        Some(json!({ "published": false })),
        200,
    )
    .await;
    assert_problem(
        send(&app, "GET", "/api/v1/pages/delivery", None, None).await,
        404,
    )
    .await;

    let dup = send(
        &app,
        "POST",
        "/api/v1/admin/pages",
        Some(&admin),
        Some(json!({ "slug": "delivery", "title": "Again", "body": "x" })),
    )
    .await;
    assert_problem(dup, 409).await;
    let bad = send(
        &app,
        "POST",
        "/api/v1/admin/pages",
        Some(&admin),
        Some(json!({ "slug": "Not A Slug", "title": "" })),
    )
    .await;
    let p = assert_problem(bad, 422).await;
    assert_eq!(error_fields(&p), vec!["slug", "title", "body"]);
    let customer = app.register("c@example.com").await;
    let token = customer["access_token"].as_str().unwrap();
    let r = send(
        &app,
        "POST",
        "/api/v1/admin/pages",
        Some(token),
        Some(json!({ "slug": "x", "title": "x", "body": "x" })),
    )
    .await;
    assert_problem(r, 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banners_show_inside_their_window_in_position_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let now = chrono::Utc::now();
    let make = |title: &str,
                position: i32,
                starts: Option<chrono::DateTime<chrono::Utc>>,
                ends: Option<chrono::DateTime<chrono::Utc>>| {
        json!({
            "title": title,
            "image_url": "https://cdn.example.com/b.jpg",
            "link_url": "/sale",
            "position": position,
            "starts_at": starts,
            "ends_at": ends,
        })
    };
    for body in [
        make("second", 2, None, None),
        make(
            "first",
            1,
            Some(now - chrono::Duration::hours(1)),
            Some(now + chrono::Duration::hours(1)),
        ),
        make(
            "over",
            0,
            Some(now - chrono::Duration::hours(2)),
            Some(now - chrono::Duration::hours(1)),
        ),
        make("later", 0, Some(now + chrono::Duration::hours(1)), None),
    ] {
        expect(
            &app,
            "POST",
            "/api/v1/admin/banners",
            Some(&admin),
            Some(body),
            201,
        )
        .await;
    }
    let off = expect(
        &app,
        "POST",
        "/api/v1/admin/banners",
        Some(&admin),
        Some(make("off", 0, None, None)),
        201,
    )
    .await;
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/admin/banners/{}", off["id"].as_str().unwrap()),
        Some(&admin),
        Some(json!({ "active": false, "link_url": null })),
        200,
    )
    .await;
    let showing = expect(&app, "GET", "/api/v1/banners", None, None, 200).await;
    let titles: Vec<&str> = showing
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["first", "second"]);
    let listed = expect(
        &app,
        "GET",
        "/api/v1/admin/banners",
        Some(&admin),
        None,
        200,
    )
    .await;
    assert_eq!(listed["total"], 5);

    let bad = send(
        &app,
        "POST",
        "/api/v1/admin/banners",
        Some(&admin),
        Some(json!({ "title": "x", "image_url": "javascript:alert(1)", "link_url": "//evil.example", "position": 5000,
                     "starts_at": now, "ends_at": now - chrono::Duration::hours(1) })),
    )
    .await;
    let p = assert_problem(bad, 422).await;
    assert_eq!(
        error_fields(&p),
        vec!["image_url", "link_url", "position", "ends_at"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contact_form_mails_the_shop_once_copies_only_signed_in_senders_and_holds_its_limits() {
    let app = TestApp::builder()
        .var("SHOP_EMAIL", "desk@shop.test")
        .var("RATE_LIMIT_CONTACT_PER_IP", "3")
        .start()
        .await;
    let message = |email: &str| json!({ "name": "Ann", "email": email, "message": "Do you deliver to Almaty?", "website": "" });
    // A visitor: the shop gets it; the typed address gets nothing.
    let r = app
        .post("/api/v1/contact", message("stranger@example.com"))
        .await;
    assert_eq!(r.status(), 202);
    // A robot fills the honeypot: a 202 like anyone, and no mail.
    let mut robot = message("bot@example.com");
    robot["website"] = json!("http://spam.example");
    assert_eq!(app.post("/api/v1/contact", robot).await.status(), 202);
    // A signed-in customer typing someone else's address: the copy goes to
    // their own account's address.
    let ann = app.register("ann@example.com").await;
    let r = app
        .post_auth(
            "/api/v1/contact",
            ann["access_token"].as_str().unwrap(),
            message("victim@example.com"),
        )
        .await;
    assert_eq!(r.status(), 202);
    app.drain().await;
    let desk = app.smtp.mails_to("desk@shop.test");
    assert_eq!(desk.len(), 2, "one mail per human message");
    assert!(desk
        .iter()
        .all(|m| m.decoded().contains("Do you deliver to Almaty?")));
    assert!(desk
        .iter()
        .any(|m| m.decoded().contains("stranger@example.com")));
    assert!(app.smtp.mails_to("stranger@example.com").is_empty());
    assert!(app.smtp.mails_to("victim@example.com").is_empty());
    assert!(app.smtp.mails_to("bot@example.com").is_empty());
    let copies: Vec<_> = app
        .smtp
        .mails_to("ann@example.com")
        .into_iter()
        .filter(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains("received your message"))
        })
        .collect();
    assert_eq!(copies.len(), 1);

    // Invalid: every field named, nothing counted.
    let bad = app
        .post(
            "/api/v1/contact",
            json!({ "name": "", "email": "nope", "message": "" }),
        )
        .await;
    let p = assert_problem(bad, 422).await;
    assert_eq!(error_fields(&p), vec!["name", "email", "message"]);
    // The third message from this address passes, the fourth is refused.
    assert_eq!(
        app.post("/api/v1/contact", message("c@example.com"))
            .await
            .status(),
        202
    );
    let limited = app.post("/api/v1/contact", message("c@example.com")).await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429).await;
    app.drain().await;
    assert_eq!(app.smtp.mails_to("desk@shop.test").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_numbers_keep_counting_past_a_million() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    // A shop a million orders in (`lpad` used to cut the seventh digit off,
    // making BZ-100000 again, a duplicate, and every later checkout failed).
    sqlx::query("SELECT setval('order_numbers', 999999, false)")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut numbers = Vec::new();
    for _ in 0..2 {
        let placed = place(
            &app,
            &ann,
            &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
        )
        .await;
        numbers.push(number(&placed));
    }
    assert_eq!(numbers, vec!["BZ-999999", "BZ-1000000"]);
    app.drain().await;
}

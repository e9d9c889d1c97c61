//! The console in a real browser: headless Chromium through ChromeDriver.
//! Each test signs in through the form and clicks through the pages a
//! shop's staff use, checking what they see against the data and what the
//! fake providers received; every page is saved as a screenshot under
//! `target/e2e-artifacts/screenshots/<test>/`.

use std::time::Duration;

use bazaar_core::money::Money;
use serde_json::{json, Value};

use crate::{
    back_office::second_vendor,
    commerce::{advance, amount, number, place, shop, PATIENCE},
    fixtures::{customer, expect},
    harness::{browser::Browser, eventually, TestApp, PASSWORD},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_the_shop_from_the_console() {
    let app = TestApp::builder()
        .var("QUEUE_OPS_MAX_ATTEMPTS", "1")
        .start()
        .await;
    app.leaves_jobs("a job is made to fail for good, to be retried from the console");
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let first = place(
        &app,
        &ann,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 2)]),
    )
    .await;
    let second = place(
        &app,
        &ann,
        &shop.buy_now("cash_on_delivery", &[("CTEE-M-RED", 1)]),
    )
    .await;
    let to_ship = number(&second);
    advance(&app, &shop.catalog.admin, &to_ship, "confirmed").await;
    // A job that fails for good, waiting for a person.
    let mut conn = app.pool.acquire().await.unwrap();
    let job = bazaar_core::outbox::enqueue(
        &mut conn,
        &app.config.pipeline,
        &bazaar_core::jobs::Probe {
            key: "broken".into(),
            work_ms: 0,
            fail_times: 1000,
        },
    )
    .await
    .unwrap()
    .unwrap();
    drop(conn);
    eventually("the probe to fail for good", PATIENCE, || async {
        let (_, _, failed) = app.job_counts("ops.probe").await;
        (failed == 1).then_some(())
    })
    .await;
    let (admin, _) = app.admin().await;

    let b = Browser::start(&app, "admin").await;
    b.open("/admin").await;
    assert_eq!(
        b.path().await,
        "/admin/login",
        "signed out, the console asks to sign in"
    );
    b.shot("01-sign-in").await;
    b.sign_in(&admin, PASSWORD).await;
    b.find("#orders-today").await;
    assert_eq!(b.path().await, "/admin");

    // The dashboard's figures are the seeded orders'.
    assert_eq!(b.text("#orders-today").await, "2");
    let revenue =
        amount(&first["order"]["totals"]["total"]) + amount(&second["order"]["totals"]["total"]);
    assert_eq!(
        b.text("#revenue-today").await,
        Money::new(revenue, "KZT").display().replace('\u{a0}', " "),
        "WebDriver reads the non-breaking space as a space"
    );
    assert_eq!(b.text("#failed-jobs").await, "1");
    let bars = b
        .client
        .find_all(fantoccini::Locator::Css("#revenue-chart rect.bar"))
        .await
        .unwrap();
    assert_eq!(bars.len(), 30, "one bar per day");
    b.shot("02-dashboard").await;
    // On a phone the page fits the screen's width.
    b.client.set_window_size(390, 844).await.unwrap();
    let fits = b
        .client
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(fits, Value::Bool(true), "no sideways scrolling on a phone");
    b.shot("03-dashboard-phone").await;
    b.client.set_window_size(1280, 1000).await.unwrap();

    // The order desk, filtered to confirmed orders.
    b.open("/admin/orders").await;
    b.find("select[name=status]")
        .await
        .select_by_value("confirmed")
        .await
        .unwrap();
    b.click("#apply-filters").await;
    b.wait_for_url("the filtered list", |u| {
        u.query().is_some_and(|q| q.contains("status=confirmed"))
    })
    .await;
    b.find(&format!("tr[data-number='{to_ship}']")).await;
    let rows = b
        .client
        .find_all(fantoccini::Locator::Css("#orders tbody tr[data-number]"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the confirmed order");
    assert!(b.path().await.starts_with("/admin/orders"));
    b.shot("04-orders-filtered").await;

    // Ship it with a courier and tracking number.
    b.click(&format!("tr[data-number='{to_ship}'] a")).await;
    b.find("#move-shipped").await;
    b.shot("05-order").await;
    b.fill("#courier", "Kazpost").await;
    b.fill("#tracking-number", "KZ987654321").await;
    b.click("#action-shipped").await;
    b.find("#flash").await;
    assert_eq!(b.text("#order-status").await, "shipped");
    assert!(b.text("#tracking").await.contains("KZ987654321"));
    // The customer's notification reaches the mail server...
    let mail = eventually("the shipping mail", PATIENCE, || async {
        app.smtp.mails_to("ann@example.com").into_iter().find(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains(&to_ship) && s.contains("shipped"))
        })
    })
    .await;
    assert!(
        mail.decoded().contains("KZ987654321"),
        "the tracking number is in the mail"
    );
    // ... and the order page lists it.
    eventually("the notification on the order page", PATIENCE, || async {
        b.open(&format!("/admin/orders/{to_ship}")).await;
        let text = b.text("#notifications").await;
        (text.contains("email") && text.contains(":shipped") && text.contains("sent")).then_some(())
    })
    .await;
    b.shot("06-order-shipped").await;

    // Retry the failed job.
    b.open("/admin/jobs").await;
    b.find(&format!("#job-{job}")).await;
    b.shot("07-jobs").await;
    b.click(&format!("#job-{job} button.retry")).await;
    b.find("#flash").await;
    let attempts: i32 = eventually("the retried job to run again", PATIENCE, || async {
        let (status, attempts): (String, i32) =
            sqlx::query_as("SELECT status, attempts FROM outbox WHERE id = $1")
                .bind(job)
                .fetch_one(&app.pool)
                .await
                .ok()?;
        (status == "failed" && attempts == 2).then_some(attempts)
    })
    .await;
    assert_eq!(attempts, 2, "the retry ran once more");

    // Write a CMS page and read it through the public API.
    b.open("/admin/pages/new").await;
    b.fill("input[name=slug]", "delivery").await;
    b.fill("input[name=title]", "Delivery").await;
    b.fill("textarea[name=body]", "We deliver **everywhere**.")
        .await;
    b.click("#save-page").await;
    b.wait_for_url("the saved page", |u| u.query() == Some("saved=1"))
        .await;
    let page = expect(&app, "GET", "/api/v1/pages/delivery", None, None, 200).await;
    assert_eq!(page["title"], "Delivery");
    assert!(page["body_html"]
        .as_str()
        .unwrap()
        .contains("<strong>everywhere</strong>"));
    b.fill("input[name=title]", "Delivery and returns").await;
    b.click("#save-page").await;
    b.find("#page-form").await;
    b.shot("08-page-edit").await;
    let page = expect(&app, "GET", "/api/v1/pages/delivery", None, None, 200).await;
    assert_eq!(
        page["title"], "Delivery and returns",
        "the edit is public at once"
    );

    // Every other page renders, with a screenshot each.
    for (name, path, marker) in [
        ("09-products", "/admin/products", "#products"),
        ("10-reviews", "/admin/reviews", "h1"),
        ("11-messages", "/admin/messages", "#messages"),
        ("12-integrations", "/admin/integrations", "#integrations"),
        ("13-pages", "/admin/pages", "#pages"),
        ("14-banners", "/admin/banners", "#banners"),
        ("15-banner-new", "/admin/banners/new", "#banner-form"),
    ] {
        b.open(path).await;
        b.find(marker).await;
        b.shot(name).await;
    }
    b.click("#sign-out").await;
    b.find("#sign-in").await;
    b.open("/admin").await;
    assert_eq!(b.path().await, "/admin/login", "signed out");
    b.quit().await;
    // The shipping mail went once, whatever the page reloads did.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let shipped = app
        .smtp
        .mails_to("ann@example.com")
        .into_iter()
        .filter(|m| {
            m.header("Subject")
                .is_some_and(|s| s.contains(&to_ship) && s.contains("shipped"))
        })
        .count();
    assert_eq!(shipped, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_in_the_browser_sees_their_stores_only() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let (_, mug) = second_vendor(&app, &shop).await;
    let ann = customer(&app, "ann@example.com").await;
    let tee = number(
        &place(
            &app,
            &ann,
            &shop.buy_now("cash_on_delivery", &[("CTEE-L-RED", 1)]),
        )
        .await,
    );
    let mut body = shop.order("cash_on_delivery");
    body["items"] = json!([{ "variant_id": mug, "quantity": 1 }]);
    let mug_order = number(&place(&app, &ann, &body).await);
    app.drain().await;

    let b = Browser::start(&app, "vendor").await;
    b.sign_in("vendor@example.com", PASSWORD).await;
    b.find("#orders-today").await;
    assert_eq!(b.text("#orders-today").await, "1", "their order only");
    let top = b.text("#top-products").await;
    assert!(top.contains("Classic Tee") && !top.contains("Mug"), "{top}");
    let menu = b.text("header.top nav").await;
    assert!(
        !menu.contains("Jobs") && !menu.contains("Pages"),
        "no admin menu: {menu}"
    );
    b.shot("01-dashboard").await;
    b.open("/admin/orders").await;
    b.find(&format!("tr[data-number='{tee}']")).await;
    assert!(!b.source().await.contains(&mug_order));
    b.shot("02-orders").await;
    b.open("/admin/products").await;
    let products = b.text("#products").await;
    assert!(
        products.contains("CTEE") && !products.contains("MUG"),
        "{products}"
    );
    b.shot("03-products").await;
    b.open("/admin/jobs").await;
    assert!(b.text("#error-message").await.contains("Only admins"));
    b.shot("04-jobs-refused").await;
    b.quit().await;
}

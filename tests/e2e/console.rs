//! The back-office console over HTTP: sign-in for staff only, sessions,
//! anti-forgery tokens, security headers, vendor scope on every page, and
//! escaping of everything customers and vendors typed.

use reqwest::StatusCode;
use serde_json::json;

use crate::{
    back_office::second_vendor,
    commerce::{advance, number, place, shop},
    fixtures::{customer, expect},
    harness::{
        console::{csrf_of, ConsoleClient},
        TestApp, PASSWORD,
    },
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_staff_sign_in_sessions_end_and_every_form_needs_its_token() {
    let app = TestApp::builder()
        .var("RATE_LIMIT_LOGIN_PER_IP", "8")
        .start()
        .await;
    let (admin, _) = app.admin().await;
    app.register("ann@example.com").await;
    let mut c = ConsoleClient::new(&app);

    // Signed out, every page leads to the sign-in form.
    for path in ["/admin", "/admin/orders", "/admin/jobs", "/admin/pages/new"] {
        let r = c.get(path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/admin/login");
    }
    let r = c.get("/admin/login").await;
    for (header, value) in [
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
        ("referrer-policy", "same-origin"),
        ("x-content-type-options", "nosniff"),
    ] {
        assert_eq!(r.headers()[header], value, "{header}");
    }
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let form = r.text().await.unwrap();
    let csrf = csrf_of(&form);

    // The sign-in form's own token: missing or wrong is a 403.
    let r = c
        .post("/admin/login", &[("email", &admin), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(
            "/admin/login",
            &[
                ("email", &admin),
                ("password", PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Wrong password; a customer's right one: no session either way.
    let r = c
        .post(
            "/admin/login",
            &[
                ("email", &admin),
                ("password", "wrong-password-1"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let mut customer = ConsoleClient::new(&app);
    let r = customer.sign_in("ann@example.com", PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let text = r.text().await.unwrap();
    assert!(text.contains("customer account"), "{text}");
    assert!(!customer.cookies.contains_key("bazaar_console"));
    assert_eq!(customer.get("/admin").await.status(), StatusCode::SEE_OTHER);

    // The admin signs in: an HttpOnly, SameSite=Strict cookie for /admin.
    let mut c = ConsoleClient::new(&app);
    let form = c.page("/admin/login").await;
    let r = c
        .post(
            "/admin/login",
            &[
                ("email", &admin),
                ("password", PASSWORD),
                ("csrf", &csrf_of(&form)),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("bazaar_console="))
        .expect("session cookie");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age="] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");
    let dashboard = c.page("/admin").await;
    assert!(dashboard.contains("Dashboard") && dashboard.contains("id=\"orders-today\""));

    // A form posted without the session's token changes nothing.
    let r = c
        .post(
            "/admin/pages",
            &[
                ("slug", "forged"),
                ("title", "Forged"),
                ("body", "x"),
                ("published", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c
        .post(
            "/admin/pages",
            &[
                ("slug", "forged"),
                ("title", "Forged"),
                ("body", "x"),
                ("csrf", "guess"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let pages: i64 = sqlx::query_scalar("SELECT count(*) FROM pages")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(pages, 0);
    // With it, the page is saved.
    let r = c
        .submit(
            "/admin/pages/new",
            "/admin/pages",
            &[
                ("slug", "about"),
                ("title", "About us"),
                ("body", "Hello"),
                ("published", "on"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    expect(&app, "GET", "/api/v1/pages/about", None, None, 200).await;

    // Sign-out ends the session on the server, not just in this browser.
    let stolen = c.cookies.clone();
    let r = c.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(!c.cookies.contains_key("bazaar_console"));
    let mut replay = ConsoleClient::new(&app);
    replay.cookies = stolen;
    assert_eq!(replay.get("/admin").await.status(), StatusCode::SEE_OTHER);

    // Sign-in is limited like /auth/login (8 per minute per address here).
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = ConsoleClient::new(&app)
            .sign_in(&admin, "wrong-password-1")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_sees_only_their_own_stores_on_every_page() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let (other, mug) = second_vendor(&app, &shop).await;
    let _ = other;
    let ann = customer(&app, "ann@example.com").await;
    let mut body = shop.order("cash_on_delivery");
    body["items"] = json!([{ "variant_id": shop.variant("CTEE-S-BLUE"), "quantity": 1 }]);
    let tee_order = number(&place(&app, &ann, &body).await);
    body["items"] = json!([{ "variant_id": mug, "quantity": 3 }]);
    let mug_order = number(&place(&app, &ann, &body).await);
    app.drain().await;

    let mut v = ConsoleClient::signed_in(&app, "vendor@example.com", PASSWORD).await;
    let dashboard = v.page("/admin").await;
    assert!(dashboard.contains("Classic Tee"), "their best seller");
    assert!(!dashboard.contains("Mug"), "not the other store's");
    assert!(!dashboard.contains("failed-jobs") && !dashboard.contains("/admin/jobs"));
    let orders = v.page("/admin/orders").await;
    assert!(
        orders.contains(&tee_order) && !orders.contains(&mug_order),
        "{orders}"
    );
    let detail = v.page(&format!("/admin/orders/{tee_order}")).await;
    assert!(detail.contains("CTEE-S-BLUE"));
    assert_eq!(
        v.get(&format!("/admin/orders/{mug_order}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let csv = v.page("/admin/orders/export").await;
    assert!(
        csv.contains(&tee_order) && !csv.contains(&mug_order),
        "{csv}"
    );
    let products = v.page("/admin/products").await;
    assert!(
        products.contains("CTEE") && !products.contains("MUG"),
        "{products}"
    );
    for admin_only in [
        "/admin/jobs",
        "/admin/reviews",
        "/admin/messages",
        "/admin/integrations",
        "/admin/pages",
        "/admin/banners/new",
    ] {
        assert_eq!(
            v.get(admin_only).await.status(),
            StatusCode::FORBIDDEN,
            "{admin_only}"
        );
    }
    // Moving the other store's order: it does not exist for this vendor.
    let r = v
        .submit(
            &format!("/admin/orders/{tee_order}"),
            &format!("/admin/orders/{mug_order}/status"),
            &[("status", "confirmed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Their own moves work, and admin-only pages' forms stay shut.
    let r = v
        .submit(
            &format!("/admin/orders/{tee_order}"),
            &format!("/admin/orders/{tee_order}/status"),
            &[("status", "confirmed")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = v
        .submit(
            "/admin",
            "/admin/pages",
            &[("slug", "x"), ("title", "x"), ("body", "x")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    app.drain().await;
}

/// Whether `html` shows `raw` as text: with `<` and `>` escaped (as
/// entities by name or by number).
fn shown_as_text(html: &str, raw: &str) -> bool {
    let named = raw.replace('<', "&lt;").replace('>', "&gt;");
    let numeric = raw.replace('<', "&#60;").replace('>', "&#62;");
    html.contains(&named) || html.contains(&numeric)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_customers_and_vendors_typed_renders_as_text() {
    let app = TestApp::spawn().await;
    let shop = shop(&app).await;
    let xss = "<script>alert(1)</script>";
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/products/{}", shop.catalog.product_id),
        Some(&shop.catalog.vendor),
        Some(json!({ "name": xss })),
        200,
    )
    .await;
    let ann = customer(&app, "ann@example.com").await;
    let mut body = shop.buy_now("cash_on_delivery", &[("CTEE-M-BLUE", 1)]);
    body["note"] = json!("<img src=x onerror=alert(2)>");
    body["address"]["line1"] = json!("<b onmouseover=alert(3)>Abay</b>");
    let placed = place(&app, &ann, &body).await;
    let order = number(&placed);
    advance(&app, &shop.catalog.admin, &order, "confirmed").await;
    expect(
        &app,
        "POST",
        &format!("/api/v1/products/{}/reviews", shop.catalog.product_id),
        Some(&ann),
        Some(json!({ "rating": 5, "title": "<i>great</i>", "body": "<script>alert(4)</script>" })),
        201,
    )
    .await;
    app.drain().await;
    let (admin, _) = app.admin().await;
    let mut c = ConsoleClient::signed_in(&app, &admin, PASSWORD).await;
    for path in [
        "/admin",
        "/admin/orders",
        &format!("/admin/orders/{order}"),
        "/admin/products",
        "/admin/reviews",
    ] {
        let html = c.page(path).await;
        for raw in ["<script>alert", "<img src=x", "<b onmouseover", "<i>great"] {
            assert!(!html.contains(raw), "{raw} unescaped on {path}");
        }
    }
    let detail = c.page(&format!("/admin/orders/{order}")).await;
    assert!(shown_as_text(&detail, xss), "the product name, as text");
    assert!(
        shown_as_text(&detail, "<img src=x onerror=alert(2)>"),
        "the note, as text"
    );
    let reviews = c.page("/admin/reviews").await;
    assert!(shown_as_text(&reviews, "<script>alert(4)</script>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_when_it_expires_and_when_the_password_is_reset() {
    let app = TestApp::spawn().await;
    let (admin, _) = app.admin().await;
    let mut c = ConsoleClient::signed_in(&app, &admin, PASSWORD).await;
    c.page("/admin").await;
    // Its expiry passes (the clock moved on: the row says when it ends).
    sqlx::query("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(c.get("/admin").await.status(), StatusCode::SEE_OTHER);

    // A password reset signs every console session of the account out.
    let mut c = ConsoleClient::signed_in(&app, &admin, PASSWORD).await;
    c.page("/admin/orders").await;
    let r = app
        .post("/api/v1/auth/password/forgot", json!({ "email": admin }))
        .await;
    assert_eq!(r.status(), 202);
    let mail = crate::harness::eventually(
        "the reset mail",
        std::time::Duration::from_secs(30),
        || async {
            app.smtp
                .mails_to(&admin)
                .into_iter()
                .find(|m| m.header("Subject").is_some_and(|s| s.contains("Reset")))
        },
    )
    .await;
    let body = mail.decoded();
    let start = body.find("token=").unwrap() + "token=".len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": token, "new_password": "brand-new-secret" }),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = c.get("/admin/orders").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/admin/login");
    app.drain().await;
}

//! Reviews with exact rating aggregates, and wishlists (issue 3, reviews part).

use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    fixtures::{catalog, customer, expect, send, Catalog},
    harness::{assert_problem, error_fields, TestApp},
};

fn reviews_path(c: &Catalog) -> String {
    format!("/api/v1/products/{}/reviews", c.product_id)
}

/// The mean the API must show: two decimals.
fn mean(sum: i64, count: i64) -> f64 {
    (sum as f64 / count as f64 * 100.0).round() / 100.0
}

async fn assert_rating(app: &TestApp, c: &Catalog, average: f64, count: i64) {
    let p = expect(
        app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(p["rating"]["count"], count, "{}", p["rating"]);
    let got = p["rating"]["average"].as_f64().unwrap();
    assert!((got - average).abs() < 1e-9, "average {got} != {average}");
}

async fn stored_aggregates(app: &TestApp, c: &Catalog) -> (i32, i32) {
    sqlx::query_as("SELECT rating_count, rating_sum FROM products WHERE id = $1")
        .bind(c.product_uuid())
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn assert_newest_first(items: &[Value], field: &str) {
    let times: Vec<_> = items
        .iter()
        .map(|i| chrono::DateTime::parse_from_rfc3339(i[field].as_str().unwrap()).unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_reviews_leave_the_rating_exact() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let tokens = join_all((0..50).map(|i| {
        let app = &app;
        async move { customer(app, &format!("c{i}@example.com")).await }
    }))
    .await;
    let stars = |i: usize| ((i * i + i / 7) % 5 + 1) as i64;
    let path = reviews_path(&c);

    let responses = join_all(tokens.iter().enumerate().map(|(i, t)| {
        send(
            &app,
            "POST",
            &path,
            Some(t.as_str()),
            Some(json!({ "rating": stars(i), "title": format!("Review {i}") })),
        )
    }))
    .await;
    for r in responses {
        assert_eq!(r.status(), 201);
    }

    let sum: i64 = (0..50).map(stars).sum();
    assert_rating(&app, &c, mean(sum, 50), 50).await;
    assert_eq!(stored_aggregates(&app, &c).await, (50, sum as i32));
    let listing = expect(
        &app,
        "GET",
        &format!("{path}?page=2&per_page=20"),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(listing["total"], 50);
    let items = listing["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert_newest_first(items, "created_at");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_is_one_per_customer_rated_one_to_five_and_by_customers_only() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    let path = reviews_path(&c);

    let review = expect(
        &app,
        "POST",
        &path,
        Some(&ann),
        Some(json!({ "rating": 4, "title": " Good ", "body": "Soft cotton." })),
        201,
    )
    .await;
    assert_eq!(review["product_id"], c.product_id.as_str());
    assert_eq!(review["author"]["name"], "ann@example.com");
    assert_eq!(review["title"], "Good");
    assert_eq!(review["status"], "published");
    assert_eq!(review["verified"], false);

    let body = assert_problem(
        send(
            &app,
            "POST",
            &path,
            Some(&ann),
            Some(json!({ "rating": 5 })),
        )
        .await,
        409,
    )
    .await;
    assert_eq!(body["detail"], "you have already reviewed this product");

    for bad in [0, 6] {
        let r = send(
            &app,
            "POST",
            &path,
            Some(&bob),
            Some(json!({ "rating": bad })),
        )
        .await;
        let body = assert_problem(r, 422).await;
        assert_eq!(body["errors"][0]["field"], "rating", "{body}");
    }
    let r = send(
        &app,
        "POST",
        &path,
        Some(&bob),
        Some(json!({ "rating": 9, "title": "x".repeat(201), "body": "y".repeat(5001) })),
    )
    .await;
    let body = assert_problem(r, 422).await;
    let fields = error_fields(&body);
    assert_eq!(fields, ["rating", "title", "body"]);
    let r = send(
        &app,
        "POST",
        &path,
        Some(&bob),
        Some(json!({ "title": "No stars" })),
    )
    .await;
    assert_eq!(assert_problem(r, 422).await["errors"][0]["field"], "rating");

    let five = Some(json!({ "rating": 5 }));
    assert_problem(
        send(&app, "POST", &path, Some(&c.vendor), five.clone()).await,
        403,
    )
    .await;
    assert_problem(
        send(&app, "POST", &path, Some(&c.admin), five.clone()).await,
        403,
    )
    .await;
    assert_problem(send(&app, "POST", &path, None, five.clone()).await, 401).await;
    let unknown = format!("/api/v1/products/{}/reviews", Uuid::now_v7());
    assert_problem(
        send(&app, "POST", &unknown, Some(&bob), five.clone()).await,
        404,
    )
    .await;
    assert_problem(send(&app, "GET", &unknown, None, None).await, 404).await;
    assert_problem(
        send(
            &app,
            "POST",
            "/api/v1/products/nope/reviews",
            Some(&bob),
            five,
        )
        .await,
        404,
    )
    .await;

    assert_rating(&app, &c, 4.0, 1).await;
}

/// Checkout does not exist yet, so the order is written directly.
async fn order(app: &TestApp, c: &Catalog, email: &str, status: &str, variant: &Value) {
    let user: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let order_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO orders (id, number, user_id, status, currency) VALUES ($1, $2, $3, $4, 'KZT')",
    )
    .bind(order_id)
    .bind(format!("T-{}", order_id.simple()))
    .bind(user)
    .bind(status)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO order_items (id, order_id, variant_id, product_id, sku, name, quantity, unit_price)
         VALUES ($1, $2, $3, $4, $5, 'Classic Tee', 1, 500000)",
    )
    .bind(Uuid::now_v7())
    .bind(order_id)
    .bind(variant["id"].as_str().unwrap().parse::<Uuid>().unwrap())
    .bind(c.product_uuid())
    .bind(variant["sku"].as_str().unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_customer_who_received_the_product_writes_a_verified_review() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let product = c.variants(&app, &["S"], &["Red"], 500_000).await;
    let variant = &product["variants"][0];
    let buyer = customer(&app, "buyer@example.com").await;
    let waiting = customer(&app, "waiting@example.com").await;
    let browser = customer(&app, "browser@example.com").await;
    order(&app, &c, "buyer@example.com", "delivered", variant).await;
    order(&app, &c, "waiting@example.com", "shipped", variant).await;

    for (who, token, verified) in [
        ("buyer", &buyer, true),
        ("waiting", &waiting, false),
        ("browser", &browser, false),
    ] {
        let review = expect(
            &app,
            "POST",
            &reviews_path(&c),
            Some(token.as_str()),
            Some(json!({ "rating": 5 })),
            201,
        )
        .await;
        assert_eq!(review["verified"], verified, "{who}");
    }
}

async fn patch(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    send(app, "PATCH", path, Some(token), Some(body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_moderation_and_deletion_keep_the_rating_exact() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    let path = reviews_path(&c);
    let anns = expect(
        &app,
        "POST",
        &path,
        Some(&ann),
        Some(json!({ "rating": 5 })),
        201,
    )
    .await;
    let bobs = expect(
        &app,
        "POST",
        &path,
        Some(&bob),
        Some(json!({ "rating": 3 })),
        201,
    )
    .await;
    assert_rating(&app, &c, 4.0, 2).await;
    let ann_path = format!("/api/v1/reviews/{}", anns["id"].as_str().unwrap());
    let bob_path = format!("/api/v1/reviews/{}", bobs["id"].as_str().unwrap());

    let edited = expect(
        &app,
        "PATCH",
        &ann_path,
        Some(&ann),
        Some(json!({ "rating": 1, "title": "Shrank in the wash" })),
        200,
    )
    .await;
    assert_eq!(edited["rating"], 1);
    assert_eq!(edited["title"], "Shrank in the wash");
    assert_rating(&app, &c, 2.0, 2).await;

    assert_problem(
        patch(&app, &bob, &ann_path, json!({ "rating": 5 })).await,
        403,
    )
    .await;
    assert_problem(
        patch(&app, &ann, &ann_path, json!({ "status": "hidden" })).await,
        403,
    )
    .await;
    assert_problem(
        patch(&app, &ann, &ann_path, json!({ "rating": 7 })).await,
        422,
    )
    .await;
    assert_problem(
        patch(&app, &c.admin, &ann_path, json!({ "status": "gone" })).await,
        422,
    )
    .await;
    let unknown = format!("/api/v1/reviews/{}", Uuid::now_v7());
    assert_problem(
        patch(&app, &ann, &unknown, json!({ "rating": 2 })).await,
        404,
    )
    .await;

    // Hidden: out of the public list and the rating; invisible to others.
    let hidden = expect(
        &app,
        "PATCH",
        &bob_path,
        Some(&c.admin),
        Some(json!({ "status": "hidden" })),
        200,
    )
    .await;
    assert_eq!(hidden["status"], "hidden");
    let listing = expect(&app, "GET", &path, None, None, 200).await;
    assert_eq!(listing["total"], 1);
    assert_eq!(listing["items"][0]["id"], anns["id"]);
    assert_rating(&app, &c, 1.0, 1).await;
    assert_problem(
        patch(&app, &ann, &bob_path, json!({ "rating": 2 })).await,
        404,
    )
    .await;
    let moderated: bool =
        sqlx::query_scalar("SELECT moderated_at IS NOT NULL FROM reviews WHERE id = $1")
            .bind(bobs["id"].as_str().unwrap().parse::<Uuid>().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(moderated);

    // Its author may still edit it; it counts again, at the new rating, once published.
    expect(
        &app,
        "PATCH",
        &bob_path,
        Some(&bob),
        Some(json!({ "rating": 4 })),
        200,
    )
    .await;
    assert_rating(&app, &c, 1.0, 1).await;
    expect(
        &app,
        "PATCH",
        &bob_path,
        Some(&c.admin),
        Some(json!({ "status": "published" })),
        200,
    )
    .await;
    assert_rating(&app, &c, 2.5, 2).await;

    assert_problem(send(&app, "DELETE", &ann_path, Some(&bob), None).await, 403).await;
    assert_eq!(
        send(&app, "DELETE", &ann_path, Some(&ann), None)
            .await
            .status(),
        204
    );
    assert_problem(send(&app, "DELETE", &ann_path, Some(&ann), None).await, 404).await;
    assert_rating(&app, &c, 4.0, 1).await;
    assert_eq!(stored_aggregates(&app, &c).await, (1, 4));

    // Deleting a hidden review leaves the aggregates alone.
    expect(
        &app,
        "PATCH",
        &bob_path,
        Some(&c.admin),
        Some(json!({ "status": "hidden" })),
        200,
    )
    .await;
    assert_eq!(
        send(&app, "DELETE", &bob_path, Some(&bob), None)
            .await
            .status(),
        204
    );
    assert_rating(&app, &c, 0.0, 0).await;
    assert_eq!(stored_aggregates(&app, &c).await, (0, 0));
}

async fn add(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    send(app, "POST", "/api/v1/wishlist", Some(token), Some(body)).await
}

async fn list(app: &TestApp, token: &str) -> Value {
    expect(app, "GET", "/api/v1/wishlist", Some(token), None, 200).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wishlist_adds_idempotently_shows_prices_and_removes() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;

    let item = expect(
        &app,
        "POST",
        "/api/v1/wishlist",
        Some(&ann),
        Some(json!({ "product_id": c.product_id })),
        201,
    )
    .await;
    assert_eq!(item["product"]["id"], c.product_id.as_str());
    assert_eq!(item["product"]["name"], "Classic Tee");
    assert!(item["product"]["min_price"].is_null(), "no variants yet");
    assert_eq!(item["price_alert"], false);
    let r = add(
        &app,
        &ann,
        json!({ "product_id": c.product_id, "price_alert": true }),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.json::<Value>().await.unwrap()["price_alert"], true);
    // Adding again without saying keeps the alert.
    let r = add(&app, &ann, json!({ "product_id": c.product_id })).await;
    assert_eq!(r.json::<Value>().await.unwrap()["price_alert"], true);

    let product = c.variants(&app, &["S", "M"], &["Red"], 500_000).await;
    let listing = list(&app, &ann).await;
    assert_eq!(listing["total"], 1);
    let wished = &listing["items"][0];
    assert_eq!(wished["product"]["min_price"], 500_000);
    assert_eq!(wished["product"]["currency"], "KZT");
    assert_eq!(wished["price_alert"], true);

    let mut conn = app.pool.acquire().await.unwrap();
    let watchers =
        bazaar_core::catalog::wishlist::price_alert_watchers(&mut conn, c.product_uuid())
            .await
            .unwrap();
    drop(conn);
    assert_eq!(watchers.len(), 1);
    assert_eq!(watchers[0].1, "ann@example.com");

    let variant = product["variants"][0]["id"].as_str().unwrap();
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/variants/{variant}"),
        Some(&c.vendor),
        Some(json!({ "price": { "amount": 400_000, "currency": "KZT" } })),
        200,
    )
    .await;
    assert_eq!(
        list(&app, &ann).await["items"][0]["product"]["min_price"],
        400_000
    );

    // Newest first, paginated.
    let vneck = expect(
        &app,
        "POST",
        "/api/v1/products",
        Some(&c.vendor),
        Some(json!({
            "store_id": c.store_id,
            "category_id": c.category_id,
            "product_type_id": c.type_id,
            "name": "V-Neck Tee",
            "code": "VTEE",
            "attributes": { "material": "Linen" },
        })),
        201,
    )
    .await;
    assert_eq!(
        add(&app, &ann, json!({ "product_id": vneck["id"] }))
            .await
            .status(),
        201
    );
    let page = expect(
        &app,
        "GET",
        "/api/v1/wishlist?per_page=1",
        Some(&ann),
        None,
        200,
    )
    .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["product"]["id"], vneck["id"]);
    assert_newest_first(
        list(&app, &ann).await["items"].as_array().unwrap(),
        "added_at",
    );
    assert_eq!(list(&app, &bob).await["total"], 0);

    let r = add(&app, &ann, json!({ "product_id": Uuid::now_v7() })).await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "product_id");
    assert_problem(
        add(&app, &c.vendor, json!({ "product_id": c.product_id })).await,
        403,
    )
    .await;
    assert_problem(
        send(&app, "GET", "/api/v1/wishlist", Some(&c.vendor), None).await,
        403,
    )
    .await;
    assert_problem(send(&app, "GET", "/api/v1/wishlist", None, None).await, 401).await;

    let item_path = format!("/api/v1/wishlist/{}", c.product_id);
    assert_problem(
        send(&app, "DELETE", &item_path, Some(&bob), None).await,
        404,
    )
    .await;
    assert_eq!(
        send(&app, "DELETE", &item_path, Some(&ann), None)
            .await
            .status(),
        204
    );
    assert_problem(
        send(&app, "DELETE", &item_path, Some(&ann), None).await,
        404,
    )
    .await;
    assert_eq!(list(&app, &ann).await["total"], 1);
    assert_problem(
        send(
            &app,
            "DELETE",
            "/api/v1/wishlist/not-an-id",
            Some(&ann),
            None,
        )
        .await,
        404,
    )
    .await;
}

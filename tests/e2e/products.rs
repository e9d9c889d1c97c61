//! Products, variants, images, the catalogue cache and price-drop alerts.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    fixtures::{catalog, customer, expect, png, send, upload, vendor},
    harness::{assert_problem, error_fields, eventually, TestApp},
};

fn skus(product: &Value) -> Vec<String> {
    let mut skus: Vec<String> = product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sku"].as_str().unwrap().to_owned())
        .collect();
    skus.sort();
    skus
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sizes_by_three_colors_make_nine_variants_with_their_skus() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    // A third color, so that the type allows 3 x 3.
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/product-types/{}", c.type_id),
        Some(&c.admin),
        Some(json!({ "attributes": [
            { "code": "size", "name": "Size", "level": "variant", "values": ["S", "M", "L"] },
            { "code": "color", "name": "Color", "level": "variant", "values": ["Red", "Blue", "Light green"] },
            { "code": "material", "name": "Material", "level": "product", "values": ["Cotton", "Linen"] },
        ] })),
        200,
    )
    .await;
    let path = format!("/api/v1/products/{}/variants/generate", c.product_id);
    let product = expect(
        &app,
        "POST",
        &path,
        Some(&c.vendor),
        Some(json!({
            "color": ["Red", "Blue", "Light green"],
            "size": ["S", "M", "L"],
            "price": { "amount": 499_000, "currency": "KZT" },
            "stock": 5,
        })),
        201,
    )
    .await;
    let mut expected = Vec::new();
    for size in ["S", "M", "L"] {
        for color in ["RED", "BLUE", "LIGHT-GREEN"] {
            expected.push(format!("CTEE-{size}-{color}"));
        }
    }
    expected.sort();
    assert_eq!(skus(&product), expected);
    let variant = product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == "CTEE-M-LIGHT-GREEN")
        .unwrap();
    assert_eq!(
        variant["attributes"],
        json!({ "size": "M", "color": "Light green" })
    );
    assert_eq!(
        variant["price"],
        json!({ "amount": 499_000, "currency": "KZT" })
    );
    assert_eq!(variant["available"], 5);
    assert_eq!(
        product["price_range"]["min"],
        json!({ "amount": 499_000, "currency": "KZT" })
    );

    // The public sees what a customer may buy, not the stock.
    let public = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(skus(&public), expected);
    assert!(public["variants"][0].get("stock").is_none());
    let by_slug = expect(&app, "GET", "/api/v1/products/classic-tee", None, None, 200).await;
    assert_eq!(by_slug["id"], public["id"]);

    // Generating again adds only the missing combinations (none here).
    let again = expect(
        &app,
        "POST",
        &path,
        Some(&c.vendor),
        Some(json!({ "size": ["S", "M"], "color": ["Red"] })),
        201,
    )
    .await;
    assert_eq!(skus(&again).len(), 9);

    // Values the type does not allow, and codes it does not have: 422, all named.
    let r = send(
        &app,
        "POST",
        &path,
        Some(&c.vendor),
        Some(json!({ "size": ["XXL"], "color": ["Red"], "shape": ["Round"], "material": ["Cotton"] })),
    )
    .await;
    let problem = assert_problem(r, 422).await;
    let fields = error_fields(&problem);
    for field in ["size", "shape", "material"] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    assert_eq!(
        skus(
            &expect(
                &app,
                "GET",
                &format!("/api/v1/products/{}", c.product_id),
                None,
                None,
                200
            )
            .await
        )
        .len(),
        9
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sku_already_in_use_is_a_clear_conflict_and_nothing_is_created() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    c.variants(&app, &["S"], &["Red"], 100_000).await;
    // Another product whose code plus values make CTEE-S-RED again.
    let other = c
        .product(&app, json!({ "name": "Clash Tee", "code": "CTEE-S" }))
        .await;
    let r = send(
        &app,
        "POST",
        &format!(
            "/api/v1/products/{}/variants/generate",
            other["id"].as_str().unwrap()
        ),
        Some(&c.vendor),
        Some(json!({ "color": ["Red", "Blue"] })),
    )
    .await;
    let problem = assert_problem(r, 409).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("CTEE-S-RED"),
        "{problem}"
    );
    let after = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", other["id"].as_str().unwrap()),
        Some(&c.vendor),
        None,
        200,
    )
    .await;
    assert!(after["variants"].as_array().unwrap().is_empty(), "{after}");

    // A product code taken: 409 as well.
    let r = send(
        &app,
        "POST",
        "/api/v1/products",
        Some(&c.vendor),
        Some(json!({
            "store_id": c.store_id, "category_id": c.category_id, "product_type_id": c.type_id,
            "name": "Another Tee", "code": "CTEE",
        })),
    )
    .await;
    assert_problem(r, 409).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_values_are_validated_against_the_type() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let r = send(
        &app,
        "POST",
        "/api/v1/products",
        Some(&c.vendor),
        Some(json!({
            "store_id": c.store_id, "category_id": uuid::Uuid::now_v7(), "product_type_id": c.type_id,
            "name": " ", "code": "bad code", "attributes": { "material": "Silk", "size": "M" },
        })),
    )
    .await;
    let problem = assert_problem(r, 422).await;
    let fields = error_fields(&problem);
    for field in [
        "name",
        "code",
        "category_id",
        "attributes.material",
        "attributes.size",
    ] {
        assert!(fields.contains(&field), "{field} not in {fields:?}");
    }
    // Another vendor's store: 403.
    let other = vendor(&app, "intruder@example.com").await;
    let r = send(
        &app,
        "POST",
        "/api/v1/products",
        Some(&other),
        Some(json!({
            "store_id": c.store_id, "category_id": c.category_id, "product_type_id": c.type_id,
            "name": "Sneaky Tee",
        })),
    )
    .await;
    assert_problem(r, 403).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_checked_stored_and_served_back_byte_for_byte() {
    let app = TestApp::builder()
        .without_worker()
        .var("MAX_IMAGE_BYTES", "100000")
        .start()
        .await;
    let c = catalog(&app).await;
    let original = png(50_000);
    let r = upload(
        &app,
        &c.vendor,
        &c.product_id,
        original.clone(),
        "image/png",
    )
    .await;
    assert_eq!(r.status(), 201);
    let image: Value = r.json().await.unwrap();
    let url = image["url"].as_str().unwrap();
    assert!(url.starts_with("http://shop.test/media/"), "{url}");
    let served = app
        .client
        .get(app.url(url.trim_start_matches("http://shop.test")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), original);
    let product = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(product["images"][0]["url"], image["url"]);

    // A script claiming to be a PNG is refused by its content.
    let r = upload(
        &app,
        &c.vendor,
        &c.product_id,
        b"<svg onload=alert(1)>".to_vec(),
        "image/png",
    )
    .await;
    assert_problem(r, 415).await;
    // Too large.
    let r = upload(&app, &c.vendor, &c.product_id, png(100_001), "image/png").await;
    assert_problem(r, 413).await;
    // Not multipart at all.
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/products/{}/images", c.product_id),
        Some(&c.vendor),
        Some(json!({})),
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    // Not the owner.
    let other = vendor(&app, "other@example.com").await;
    let r = upload(&app, &other, &c.product_id, png(10), "image/png").await;
    assert_problem(r, 403).await;
    // Unknown media: 404.
    let r = send(&app, "GET", "/media/products/nope.png", None, None).await;
    assert_eq!(r.status(), 404);

    let images = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await["images"]
        .clone();
    assert_eq!(
        images.as_array().unwrap().len(),
        1,
        "rejected uploads left no image"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_visible_in_the_next_read_of_every_cached_view() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let product = c.variants(&app, &["S"], &["Red"], 100_000).await;
    let variant = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let detail = format!("/api/v1/products/{}", c.product_id);
    let listing = format!("/api/v1/products?category={}", c.category_id);
    // Warm every cached view, twice, so the second read is a hit.
    for _ in 0..2 {
        expect(&app, "GET", &detail, None, None, 200).await;
        expect(&app, "GET", &listing, None, None, 200).await;
        expect(&app, "GET", "/api/v1/categories", None, None, 200).await;
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("bazaar_catalog_cache_total{outcome=\"hit\"}"),
        "the cache served nothing: {metrics}"
    );

    for price in [90_000, 80_000, 120_000] {
        expect(
            &app,
            "PATCH",
            &format!("/api/v1/variants/{variant}"),
            Some(&c.vendor),
            Some(json!({ "price": { "amount": price, "currency": "KZT" } })),
            200,
        )
        .await;
        let d = expect(&app, "GET", &detail, None, None, 200).await;
        assert_eq!(d["variants"][0]["price"]["amount"], price);
        let l = expect(&app, "GET", &listing, None, None, 200).await;
        assert_eq!(l["items"][0]["price_range"]["min"]["amount"], price);
        assert_eq!(l["facets"]["price"]["max"]["amount"], price);
    }
    expect(
        &app,
        "PATCH",
        &detail,
        Some(&c.vendor),
        Some(json!({ "name": "Renamed Tee" })),
        200,
    )
    .await;
    assert_eq!(
        expect(&app, "GET", &detail, None, None, 200).await["name"],
        "Renamed Tee"
    );
    let tree = expect(&app, "GET", "/api/v1/categories", None, None, 200).await;
    assert_eq!(tree[0]["product_count"], 1);
    expect(
        &app,
        "PATCH",
        &detail,
        Some(&c.vendor),
        Some(json!({ "active": false })),
        200,
    )
    .await;
    assert_eq!(send(&app, "GET", &detail, None, None).await.status(), 404);
    assert_eq!(
        expect(&app, "GET", &listing, None, None, 200).await["total"],
        0
    );
    assert_eq!(
        expect(&app, "GET", "/api/v1/categories", None, None, 200).await[0]["product_count"],
        0
    );

    // Conditional requests: an unchanged view answers 304.
    expect(
        &app,
        "PATCH",
        &detail,
        Some(&c.vendor),
        Some(json!({ "active": true })),
        200,
    )
    .await;
    let first = send(&app, "GET", &detail, None, None).await;
    let etag = first.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url(&detail))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_drop_mails_the_watchers_once_and_a_rise_mails_nobody() {
    let app = TestApp::spawn().await;
    let c = catalog(&app).await;
    let product = c.variants(&app, &["S", "M"], &["Red"], 100_000).await;
    let variant = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let watcher = customer(&app, "watcher@example.com").await;
    let quiet = customer(&app, "quiet@example.com").await;
    expect(
        &app,
        "POST",
        "/api/v1/wishlist",
        Some(&watcher),
        Some(json!({ "product_id": c.product_id, "price_alert": true })),
        201,
    )
    .await;
    expect(
        &app,
        "POST",
        "/api/v1/wishlist",
        Some(&quiet),
        Some(json!({ "product_id": c.product_id })),
        201,
    )
    .await;
    let set_price = |amount: i64| {
        let app = &app;
        let variant = variant.clone();
        let vendor = c.vendor.clone();
        async move {
            expect(
                app,
                "PATCH",
                &format!("/api/v1/variants/{variant}"),
                Some(&vendor),
                Some(json!({ "price": { "amount": amount, "currency": "KZT" } })),
                200,
            )
            .await
        }
    };

    set_price(120_000).await; // a rise
    set_price(80_000).await; // a drop
    let mails = eventually("the price-drop mail", Duration::from_secs(30), || async {
        let mails = app.smtp.mails_to("watcher@example.com");
        mails
            .iter()
            .any(|m| {
                m.header("Subject")
                    .unwrap_or_default()
                    .contains("Price drop")
            })
            .then_some(mails)
    })
    .await;
    app.drain().await;
    let drops: Vec<_> = app
        .smtp
        .mails_to("watcher@example.com")
        .into_iter()
        .filter(|m| {
            m.header("Subject")
                .unwrap_or_default()
                .contains("Price drop")
        })
        .collect();
    assert_eq!(drops.len(), 1, "{mails:?}");
    let text = drops[0].decoded();
    assert!(text.contains("now costs 800.00 KZT"), "{text}");
    assert!(text.contains("200.00 KZT"), "the old price: {text}");
    assert!(app.smtp.mails_to("quiet@example.com").iter().all(|m| !m
        .header("Subject")
        .unwrap_or_default()
        .contains("Price drop")));
    // Another rise: still one mail.
    set_price(95_000).await;
    app.drain().await;
    let drops = app
        .smtp
        .mails_to("watcher@example.com")
        .into_iter()
        .filter(|m| {
            m.header("Subject")
                .unwrap_or_default()
                .contains("Price drop")
        })
        .count();
    assert_eq!(drops, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variants_generated_without_a_price_go_on_sale_once_priced() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let product = expect(
        &app,
        "POST",
        &format!("/api/v1/products/{}/variants/generate", c.product_id),
        Some(&c.vendor),
        Some(json!({ "size": ["S", "M"], "color": ["Red"] })),
        201,
    )
    .await;
    let variants = product["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    assert!(variants
        .iter()
        .all(|v| v["active"] == false && v["price"]["amount"] == 0));
    // Not for free: activating without a price is refused.
    let r = send(
        &app,
        "PATCH",
        &format!("/api/v1/variants/{}", variants[0]["id"].as_str().unwrap()),
        Some(&c.vendor),
        Some(json!({ "active": true, "stock": 4 })),
    )
    .await;
    assert_eq!(assert_problem(r, 422).await["errors"][0]["field"], "active");
    let public = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(
        public["variants"],
        json!([]),
        "unpriced variants are not shown to the public"
    );
    assert_eq!(
        product["price_range"],
        Value::Null,
        "nothing is for sale yet"
    );

    let priced = expect(
        &app,
        "PATCH",
        &format!("/api/v1/variants/{}", variants[0]["id"].as_str().unwrap()),
        Some(&c.vendor),
        Some(json!({ "price": { "amount": 350_000, "currency": "KZT" }, "stock": 4 })),
        200,
    )
    .await;
    assert_eq!(priced["active"], true);
    assert_eq!(priced["available"], 4);
    // Kept off when the vendor says so.
    let held = expect(
        &app,
        "PATCH",
        &format!("/api/v1/variants/{}", variants[1]["id"].as_str().unwrap()),
        Some(&c.vendor),
        Some(json!({ "price": { "amount": 350_000, "currency": "KZT" }, "active": false })),
        200,
    )
    .await;
    assert_eq!(held["active"], false);
    // A price in another currency is refused, naming the field.
    let r = send(
        &app,
        "PATCH",
        &format!("/api/v1/variants/{}", variants[1]["id"].as_str().unwrap()),
        Some(&c.vendor),
        Some(json!({ "price": { "amount": 100, "currency": "USD" }, "stock": -1 })),
    )
    .await;
    let problem = assert_problem(r, 422).await;
    let fields = error_fields(&problem);
    assert_eq!(fields, ["price.currency", "stock"]);
    let public = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(
        public["price_range"],
        json!({ "min": { "amount": 350_000, "currency": "KZT" }, "max": { "amount": 350_000, "currency": "KZT" } })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_postgres_cannot_store_is_a_400_not_a_500() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    for path in [
        "/api/v1/products/%00".to_owned(),
        "/api/v1/products?category=%00".to_owned(),
        "/api/v1/products?attr.size=a%00b".to_owned(),
        "/media/products/%00.png".to_owned(),
    ] {
        let r = send(&app, "GET", &path, None, None).await;
        assert_eq!(r.status(), 400, "{path}");
    }
    // A search's text is a field of the listing's query: 422 naming it, and
    // saying what is wrong with it (it said "at most 200 characters").
    let r = send(&app, "GET", "/api/v1/products?q=a%00b", None, None).await;
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(
        problem["errors"],
        json!([{ "field": "q", "message": "text must not contain NUL characters" }])
    );
    let r = send(
        &app,
        "PATCH",
        &format!("/api/v1/products/{}", c.product_id),
        Some(&c.vendor),
        Some(json!({ "description": "nul \u{0} inside" })),
    )
    .await;
    assert!(r.status().is_client_error(), "{}", r.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_price_changes_leave_the_price_range_exact() {
    let app = TestApp::builder().without_worker().start().await;
    let c = catalog(&app).await;
    let product = c
        .variants(&app, &["S", "M", "L"], &["Red", "Blue"], 100_000)
        .await;
    let ids: Vec<String> = product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    for round in 0..5_i64 {
        let writes = ids.iter().enumerate().map(|(i, id)| {
            let app = &app;
            let vendor = &c.vendor;
            async move {
                let amount = 10_000 + ((i as i64 * 7919 + round * 104_729) % 90_000);
                let r = send(
                    app,
                    "PATCH",
                    &format!("/api/v1/variants/{id}"),
                    Some(vendor),
                    Some(json!({ "price": { "amount": amount, "currency": "KZT" } })),
                )
                .await;
                assert_eq!(r.status(), 200);
                amount
            }
        });
        let prices = futures::future::join_all(writes).await;
        let view = expect(
            &app,
            "GET",
            &format!("/api/v1/products/{}", c.product_id),
            None,
            None,
            200,
        )
        .await;
        assert_eq!(
            view["price_range"]["min"]["amount"],
            *prices.iter().min().unwrap(),
            "round {round}"
        );
        assert_eq!(
            view["price_range"]["max"]["amount"],
            *prices.iter().max().unwrap(),
            "round {round}"
        );
    }
}

/// Product pages and list items are read in batches (`platform::batch`):
/// the requests in flight together share one statement. Many concurrent
/// readers, asking for products by slug and by id, the same product several
/// times in one burst, with unknown keys among them, each get exactly the
/// product they asked for (or a 404; a key PostgreSQL cannot read is a 400
/// for its asker alone); concurrent listing pages each get
/// their own items, as read one at a time. The cache is off so that every
/// read goes to the batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_of_pages_and_lists_each_get_their_own_products() {
    let app = TestApp::builder()
        .var("CATALOG_CACHE", "false")
        .without_worker()
        .start()
        .await;
    app.seed(60);
    let products: Vec<(uuid::Uuid, String, String)> = sqlx::query_as(
        "SELECT p.id, p.slug, p.name FROM products p JOIN stores s ON s.id = p.store_id
          WHERE p.active AND p.deleted_at IS NULL AND s.active",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert!(products.len() >= 50, "{} products", products.len());

    // Every product three times (twice by slug, once by id), and keys that
    // match nothing, all at once.
    let mut asks: Vec<(String, Option<(uuid::Uuid, &str)>)> = Vec::new();
    for (id, slug, name) in &products {
        for key in [slug.clone(), id.to_string(), slug.clone()] {
            asks.push((key, Some((*id, name.as_str()))));
        }
    }
    asks.push(("no-such-product".into(), None));
    asks.push((uuid::Uuid::now_v7().to_string(), None));
    asks.push(("%00".into(), None));
    let answers = futures::future::join_all(asks.iter().map(|(key, _)| {
        app.client
            .get(app.url(&format!("/api/v1/products/{key}")))
            .send()
    }))
    .await;
    for ((key, wanted), answer) in asks.iter().zip(answers) {
        let answer = answer.unwrap();
        match wanted {
            Some((id, name)) => {
                assert_eq!(answer.status(), 200, "{key}");
                let page: Value = answer.json().await.unwrap();
                assert_eq!(page["id"], id.to_string(), "{key}");
                assert_eq!(page["name"], *name, "{key}");
            }
            None if key == "%00" => assert_eq!(answer.status(), 400, "{key}"),
            None => assert_eq!(answer.status(), 404, "{key}"),
        }
    }

    // Listing pages read one at a time, then all together (each twice).
    let page_path = |page: usize| format!("/api/v1/products?sort=newest&per_page=7&page={page}");
    let ids = |listing: &Value| -> Vec<String> {
        listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut alone = Vec::new();
    for page in 1..=9 {
        alone.push(ids(
            &expect(&app, "GET", &page_path(page), None, None, 200).await
        ));
    }
    assert_eq!(
        alone
            .iter()
            .flatten()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        products.len().min(63),
        "the pages read alone hold distinct products"
    );
    let paths: Vec<String> = (1..=9).chain(1..=9).map(page_path).collect();
    let together = futures::future::join_all(
        paths
            .iter()
            .map(|path| expect(&app, "GET", path, None, None, 200)),
    )
    .await;
    for (i, listing) in together.iter().enumerate() {
        assert_eq!(ids(listing), alone[i % 9], "page {}", i % 9 + 1);
    }
}

//! The catalogue cache under sales (issue 13): a checkout or cancellation
//! evicts the pages of the products whose availability it moved, and only
//! when a variant sells out or comes back the in-stock listings and the
//! listings that show its product. Each test changes a
//! row behind the cache's back (plain SQL, no invalidation) to see which
//! views were served from the cache and which were read again.

use futures::future::join_all;
use serde_json::{json, Value};

use std::time::Duration;

use crate::{
    commerce::{number, place, shop, PRICE},
    fixtures::{customer, expect, send},
    harness::{
        eventually,
        ports::free_port,
        process::{wait_until_serving, BazaarProcess},
        TestApp,
    },
};

async fn get(app: &TestApp, path: &str) -> Value {
    expect(app, "GET", path, None, None, 200).await
}

/// Waits until the in-process api listens for catalogue changes: until then
/// its cache is bypassed, and nothing here would be cached.
async fn cache_listening(app: &TestApp) {
    let client = redis::Client::open(app.vars["REDIS_URL"].as_str()).unwrap();
    let channel = format!("{}:catalog:changed", app.vars["REDIS_PREFIX"]);
    eventually(
        "the cache's subscription",
        Duration::from_secs(30),
        || async {
            let mut redis = client.get_multiplexed_async_connection().await.ok()?;
            let (_, listeners): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut redis)
                .await
                .ok()?;
            (listeners > 0).then_some(())
        },
    )
    .await;
}

fn names(listing: &Value) -> Vec<String> {
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_evict_the_sold_products_page_and_listings_only_when_a_variant_sells_out_or_returns()
{
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let c = &shop.catalog;
    let shirt = c
        .product(
            &app,
            json!({ "name": "Linen Shirt", "code": "LSHT", "attributes": { "material": "Linen" } }),
        )
        .await;
    let shirt_id = shirt["id"].as_str().unwrap().to_owned();
    expect(
        &app,
        "POST",
        &format!("/api/v1/products/{shirt_id}/variants/generate"),
        Some(&c.vendor),
        Some(json!({ "size": ["M"], "color": ["Blue"], "price": { "amount": PRICE, "currency": "KZT" }, "stock": 10 })),
        201,
    )
    .await;
    let buyer = customer(&app, "buyer@example.com").await;
    cache_listening(&app).await;

    let tee = format!("/api/v1/products/{}", c.product_id);
    let shirt_page = format!("/api/v1/products/{shirt_id}");
    let listing = format!("/api/v1/products?category={}&sort=price", c.category_id);
    let red_small = format!(
        "/api/v1/products?category={}&in_stock=true&attr.size=S&attr.color=Red",
        c.category_id
    );
    // Shows only the shirt: the tee's stock is none of its business.
    let linen = format!(
        "/api/v1/products?category={}&attr.material=Linen",
        c.category_id
    );
    let sku = "CTEE-S-RED";
    let page = get(&app, &tee).await;
    let available = |page: &Value| {
        page["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["sku"] == sku)
            .unwrap()["available"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(available(&page), 10);
    assert_eq!(get(&app, &red_small).await["total"], 1);
    assert!(names(&get(&app, &listing).await).contains(&"Linen Shirt".to_owned()));
    assert_eq!(names(&get(&app, &linen).await), vec!["Linen Shirt"]);
    assert_eq!(get(&app, &shirt_page).await["name"], "Linen Shirt");

    // Behind the cache's back: only a view read again shows this.
    sqlx::query("UPDATE products SET name = 'Renamed Behind The Cache' WHERE id = $1::uuid")
        .bind(&shirt_id)
        .execute(&app.pool)
        .await
        .unwrap();

    // An ordinary sale: the tee's page is read again, nothing else is.
    place(&app, &buyer, &shop.buy_now("cash_on_delivery", &[(sku, 3)])).await;
    assert_eq!(
        available(&get(&app, &tee).await),
        7,
        "the sold product's page"
    );
    assert!(
        names(&get(&app, &listing).await).contains(&"Linen Shirt".to_owned()),
        "a sale that sold nothing out evicted the listing"
    );
    assert_eq!(
        get(&app, &shirt_page).await["name"],
        "Linen Shirt",
        "a sale evicted another product's page"
    );

    // Selling the variant out changes what listings showing the tee and
    // in-stock listings show: they are read again; the others are not.
    let last = number(&place(&app, &buyer, &shop.buy_now("cash_on_delivery", &[(sku, 7)])).await);
    assert_eq!(available(&get(&app, &tee).await), 0);
    assert_eq!(get(&app, &red_small).await["total"], 0, "sold out");
    assert!(names(&get(&app, &listing).await).contains(&"Renamed Behind The Cache".to_owned()));
    assert_eq!(
        names(&get(&app, &linen).await),
        vec!["Linen Shirt"],
        "a sell-out evicted a listing that does not show the product"
    );
    let tee_item = |listing: &Value| {
        listing["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == c.product_id.as_str())
            .cloned()
            .unwrap()
    };
    // Other sizes are still there.
    assert_eq!(tee_item(&get(&app, &listing).await)["in_stock"], true);

    // Cancelling gives the units back: in stock again, at once.
    let r = send(
        &app,
        "POST",
        &format!("/api/v1/orders/{last}/cancel"),
        Some(&buyer),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(available(&get(&app, &tee).await), 7);
    assert_eq!(get(&app, &red_small).await["total"], 1, "back in stock");
}

/// An API process of its own (its /metrics count only its requests).
async fn api_process(app: &TestApp, extra: &[(&str, &str)]) -> (BazaarProcess, String) {
    let port = free_port();
    let mut vars = app.vars.clone();
    vars.insert("BAZAAR_BIND".into(), format!("127.0.0.1:{port}"));
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    let process = BazaarProcess::spawn("api", &vars);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_serving(&format!("{base}/health/live"), Duration::from_secs(30)).await;
    (process, base)
}

async fn cache_count(base: &str, outcome: &str) -> f64 {
    metric(
        base,
        &format!("bazaar_catalog_cache_total{{outcome=\"{outcome}\"}}"),
    )
    .await
}

/// The sum of the process's series named `series` (with its labels).
async fn metric(base: &str, series: &str) -> f64 {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.strip_prefix(series)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// More distinct pages than `CATALOG_CACHE_BYTES` holds: the cache evicts
/// down to its bound, says in /metrics what it holds, and a page served
/// from it (held packed) is the page as it was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_keeps_to_its_bound_and_reports_what_it_holds() {
    const BOUND: f64 = 65_536.0;
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let (_api, base) = api_process(&app, &[("CATALOG_CACHE_BYTES", "65536")]).await;
    let client = reqwest::Client::new();
    let listing = |per_page: u8, page: u8| {
        format!(
            "{base}/api/v1/products?category={}&per_page={per_page}&page={page}",
            shop.catalog.category_id
        )
    };
    let read = |url: String| {
        let client = client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    eventually("the cache to serve", Duration::from_secs(30), || async {
        client.get(listing(1, 1)).send().await.ok()?;
        (cache_count(&base, "hit").await > 0.0).then_some(())
    })
    .await;
    let hits = cache_count(&base, "hit").await;
    let first = read(listing(2, 1)).await;
    assert_eq!(read(listing(2, 1)).await, first, "the cached page differs");
    assert_eq!(cache_count(&base, "hit").await, hits + 1.0);

    let mut distinct = 1u32;
    for per_page in 3..=24 {
        for page in 1..=10 {
            read(listing(per_page, page)).await;
            distinct += 1;
        }
    }
    let (bytes, entries) = eventually(
        "the cache back within its bound",
        Duration::from_secs(30),
        || async {
            let bytes = metric(&base, "bazaar_catalog_cache_bytes").await;
            let entries = metric(&base, "bazaar_catalog_cache_entries").await;
            (bytes > 0.0 && bytes <= BOUND).then_some((bytes, entries))
        },
    )
    .await;
    assert!(
        entries >= 1.0 && entries < f64::from(distinct),
        "{entries} entries of {distinct} pages read in {bytes} bytes"
    );
}

/// Sixty-four readers of one uncached listing wait for one computation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_of_one_key_compute_it_once() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let (_api, base) = api_process(&app, &[]).await;
    let client = reqwest::Client::new();
    let listing = |per_page: u8| {
        format!(
            "{base}/api/v1/products?category={}&per_page={per_page}",
            shop.catalog.category_id
        )
    };
    // The cache serves once the process has subscribed to its invalidations.
    eventually("the cache to serve", Duration::from_secs(30), || async {
        client.get(listing(6)).send().await.ok()?;
        (cache_count(&base, "hit").await > 0.0).then_some(())
    })
    .await;
    let before = cache_count(&base, "miss").await;
    let pages = join_all((0..64).map(|_| async {
        let r = client.get(listing(5)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.text().await.unwrap()
    }))
    .await;
    assert!(pages.iter().all(|p| p == &pages[0]));
    let misses = cache_count(&base, "miss").await - before;
    assert_eq!(
        misses, 1.0,
        "64 concurrent readers computed the listing {misses} times"
    );
}

/// A class of routes at its limit answers 503 with Retry-After at once,
/// while other classes and health checks are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_route_class_sheds_with_503_and_retry_after() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let (_api, base) = api_process(
        &app,
        &[
            ("CONCURRENCY_READS", "2"),
            ("CONCURRENCY_WAIT_MS", "100"),
            ("CATALOG_CACHE", "false"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let listing = format!(
        "{base}/api/v1/products?category={}",
        shop.catalog.category_id
    );
    // Two slow reads fill the class: a lock holds them in PostgreSQL. They
    // are sent one at a time, each waited for in PostgreSQL: sent together,
    // list reads share one statement (batched), so the count of waiting
    // statements would not tell whether both are inside.
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut slow = Vec::new();
    for inside in 1..=2i64 {
        slow.push(tokio::spawn(client.get(&listing).send()));
        eventually(
            "the read waiting for the lock",
            Duration::from_secs(30),
            || async {
                // List items' statement (products by id), not background
                // reads of the catalogue that the lock holds up as well.
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity
                      WHERE datname = current_database() AND wait_event_type = 'Lock'
                        AND query LIKE '%p.id = ANY($1)'",
                )
                .fetch_one(&app.pool)
                .await
                .ok()?;
                (waiting == inside).then_some(())
            },
        )
        .await;
    }
    let shed = client
        .get(&listing)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    assert_eq!(shed.headers()["content-type"], "application/problem+json");
    // Health and the other classes are not held up by the reads.
    let health = client
        .get(format!("{base}/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let r = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": "nobody@example.com", "password": "wrong-password" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a write was shed with the reads");
    lock.rollback().await.unwrap();
    for read in slow {
        assert_eq!(read.await.unwrap().unwrap().status(), 200);
    }
    assert_eq!(client.get(&listing).send().await.unwrap().status(), 200);
}

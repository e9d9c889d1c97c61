//! `bazaar bench marketplaces`: the marketplace paths end to end, against a
//! worker (and for `propagation` an API and a scheduler) running on the
//! same database. It serves minimal marketplace fakes itself (no limits,
//! every request counted):
//!
//! - `import`: a Kaspi merchant API listing `--orders` new orders (one line
//!   each, SKUs of the seeded catalogue) and accepting them; the bench asks
//!   for a pull and measures orders/s from the request to the last order
//!   imported, reserved and accepted (confirmed here);
//! - `propagation`: an Ozon Seller API taking stock figures; the bench
//!   lists `--variants` variants on Ozon, places site checkouts through the
//!   API at `--rate` a second for `--seconds`, and measures, for each sale,
//!   the time from the checkout's answer to the first figure Ozon receives
//!   that counts it: p50, p90, p99, max.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
    routing::{get, post},
    Json, Router,
};
use bazaar_core::{config::Config, db, jobs::KaspiOrders, outbox};
use serde_json::{json, Value};

async fn serve(router: Router, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the fakes to {addr}"))?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(())
}

struct KaspiFake {
    run: String,
    orders: usize,
    skus: Vec<String>,
    created_ms: i64,
    accepted: AtomicU64,
}

fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        let k = k
            .replace("%5B", "[")
            .replace("%5D", "]")
            .replace("%24", "$");
        (k == key).then_some(v)
    })
}

async fn kaspi_list(State(f): State<Arc<KaspiFake>>, RawQuery(q): RawQuery) -> Json<Value> {
    let q = q.unwrap_or_default();
    let num = |k: &str| query_value(&q, k).and_then(|v| v.parse::<i64>().ok());
    let (ge, le) = (
        num("filter[orders][creationDate][$ge]").unwrap_or(0),
        num("filter[orders][creationDate][$le]").unwrap_or(i64::MAX),
    );
    let total = if (ge..=le).contains(&f.created_ms) {
        f.orders
    } else {
        0
    };
    let page = num("page[number]").unwrap_or(0) as usize;
    let size = num("page[size]").unwrap_or(100) as usize;
    let (mut data, mut included) = (Vec::new(), Vec::new());
    for i in (page * size)..((page + 1) * size).min(total) {
        let sku = &f.skus[i % f.skus.len()];
        let (id, entry) = (format!("B{}-{i}", f.run), format!("B{}-{i}-e", f.run));
        data.push(json!({"type": "orders", "id": id,
            "attributes": {"code": format!("{}{i:07}", f.run), "totalPrice": 1000.0, "creationDate": f.created_ms,
                "state": "NEW", "status": "APPROVED_BY_BANK",
                "customer": {"cellPhone": "7011234567", "firstName": "Bench", "lastName": "Buyer"}},
            "relationships": {"entries": {"data": [{"type": "orderentries", "id": entry}]}}}));
        included.push(json!({"type": "orderentries", "id": entry,
            "attributes": {"quantity": 1, "basePrice": 1000.0, "offer": {"code": sku, "name": "Bench"}}}));
    }
    Json(json!({"data": data, "included": included,
        "meta": {"pageCount": total.div_ceil(size.max(1)), "totalCount": total}}))
}

async fn kaspi_status(State(f): State<Arc<KaspiFake>>, body: axum::body::Bytes) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    f.accepted.fetch_add(1, Ordering::Relaxed);
    Json(json!({"data": {"type": "orders", "id": body["data"]["id"],
        "attributes": body["data"]["attributes"]}, "included": []}))
}

async fn kaspi_one(Path(_id): Path<String>) -> (StatusCode, Json<Value>) {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"errors": [{"title": "not found"}]})),
    )
}

async fn wait_for(
    pool: &sqlx::PgPool,
    sql: &str,
    arg: &str,
    want: i64,
    limit: Duration,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(arg)
            .fetch_one(pool)
            .await?;
        if n >= want {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "gave up after {limit:?}: {n} of {want}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn import(config: &Config, orders: usize, fakes: SocketAddr) -> anyhow::Result<()> {
    let pool = db::connect(&config.database_url, 4).await?;
    let skus: Vec<String> = sqlx::query_scalar(
        "SELECT v.sku FROM variants v JOIN products p ON p.id = v.product_id
          WHERE v.active AND v.price > 0 AND p.active ORDER BY v.sku LIMIT 500",
    )
    .fetch_all(&pool)
    .await?;
    anyhow::ensure!(
        !skus.is_empty(),
        "no sellable variants: run `bazaar seed` first"
    );
    sqlx::query("UPDATE variants SET stock = stock + 1000000 WHERE sku = ANY($1)")
        .bind(&skus)
        .execute(&pool)
        .await?;
    let run = format!("{:03}", chrono::Utc::now().timestamp() % 1000);
    let fake = Arc::new(KaspiFake {
        run: run.clone(),
        orders,
        skus,
        created_ms: chrono::Utc::now().timestamp_millis() - 3_600_000,
        accepted: AtomicU64::new(0),
    });
    let router = Router::new()
        .route("/shop/api/v2/orders", get(kaspi_list).post(kaspi_status))
        .route("/shop/api/v2/orders/{id}", get(kaspi_one))
        .with_state(fake.clone());
    serve(router, fakes).await?;
    println!("bench marketplaces import: run {run}, {orders} Kaspi orders");
    let started = Instant::now();
    {
        let mut conn = pool.acquire().await?;
        outbox::enqueue(
            &mut conn,
            &config.pipeline,
            &KaspiOrders {
                tick: format!("bench:{run}:{}", uuid::Uuid::now_v7()),
            },
        )
        .await?;
    }
    let prefix = format!("{run}%");
    let limit = Duration::from_secs(600);
    let imported = wait_for(
        &pool,
        "SELECT count(*) FROM orders WHERE source = 'kaspi' AND external_code LIKE $1",
        &prefix,
        orders as i64,
        limit,
    )
    .await?;
    let confirmed = wait_for(
        &pool,
        "SELECT count(*) FROM orders WHERE source = 'kaspi' AND external_code LIKE $1 AND status = 'confirmed'",
        &prefix,
        orders as i64,
        limit,
    )
    .await?;
    let total = started.elapsed().max(confirmed);
    println!(
        "imported and reserved: {orders} in {:.2} s = {:.0} orders/s; accepted on Kaspi (confirmed): {:.2} s = {:.0} orders/s; accept calls {}",
        imported.as_secs_f64(),
        orders as f64 / imported.as_secs_f64(),
        total.as_secs_f64(),
        orders as f64 / total.as_secs_f64(),
        fake.accepted.load(Ordering::Relaxed)
    );
    Ok(())
}

#[derive(Default)]
struct OzonFake {
    /// Per offer: (figure, when received), in order.
    received: Mutex<HashMap<String, Vec<(i64, Instant)>>>,
}

async fn ozon_stocks(State(f): State<Arc<OzonFake>>, Json(body): Json<Value>) -> Json<Value> {
    let now = Instant::now();
    let items = body["stocks"].as_array().cloned().unwrap_or_default();
    let mut received = f.received.lock().expect("fake lock");
    let result: Vec<Value> = items
        .iter()
        .map(|i| {
            let offer = i["offer_id"].as_str().unwrap_or_default().to_owned();
            received.entry(offer.clone()).or_default().push((i["stock"].as_i64().unwrap_or(0), now));
            json!({"offer_id": offer, "product_id": i["product_id"], "warehouse_id": i["warehouse_id"], "updated": true, "errors": []})
        })
        .collect();
    Json(json!({ "result": result }))
}

async fn ozon_other(body: axum::body::Bytes) -> Json<Value> {
    let _ = body;
    Json(json!({ "result": [], "postings": [], "cursor": "", "has_next": false }))
}

/// The sale's latency: the first figure Ozon received after the answer
/// that is at most what the sale left.
fn latency(received: &[(i64, Instant)], answered: Instant, left: i64) -> Option<Duration> {
    received
        .iter()
        .find(|(figure, at)| *at >= answered && *figure <= left)
        .map(|(_, at)| *at - answered)
}

#[allow(clippy::too_many_arguments)]
pub async fn propagation(
    config: &Config,
    api: String,
    tokens: Vec<String>,
    shipping: String,
    variants: usize,
    rate: u32,
    seconds: u64,
    fakes: SocketAddr,
) -> anyhow::Result<()> {
    let pool = db::connect(&config.database_url, 4).await?;
    let rows: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT v.id, v.sku FROM variants v JOIN products p ON p.id = v.product_id
          WHERE v.active AND v.price > 0 AND p.active ORDER BY random() LIMIT $1",
    )
    .bind(variants as i64)
    .fetch_all(&pool)
    .await?;
    anyhow::ensure!(
        !rows.is_empty(),
        "no sellable variants: run `bazaar seed` first"
    );
    let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.0).collect();
    sqlx::query("UPDATE variants SET stock = 100000, reserved = 0 WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&pool)
        .await?;
    // Listed and already in step with Ozon: only the sales are news.
    sqlx::query(
        "INSERT INTO listings (variant_id, marketplace, ozon_product_id)
         SELECT id, 'ozon', row_number() OVER () FROM unnest($1::uuid[]) id
         ON CONFLICT (variant_id, marketplace) DO UPDATE SET ozon_product_id = EXCLUDED.ozon_product_id",
    )
    .bind(&ids)
    .execute(&pool)
    .await?;
    sqlx::query(
        "UPDATE listings SET stock_pushed_version = stock_version, price_pushed_version = price_version,
                stock_pushed_at = now() - interval '1 hour', ozon_import_status = 'imported'
          WHERE marketplace = 'ozon'",
    )
    .execute(&pool)
    .await?;
    sqlx::query("ANALYZE listings").execute(&pool).await?;
    let fake = Arc::new(OzonFake::default());
    let router = Router::new()
        .route("/v2/products/stocks", post(ozon_stocks))
        .fallback(ozon_other)
        .with_state(fake.clone());
    serve(router, fakes).await?;
    println!(
        "bench marketplaces propagation: {} variants on Ozon, {rate} checkouts/s for {seconds} s",
        rows.len()
    );
    let client = reqwest::Client::new();
    let sales: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let failures = Arc::new(AtomicU64::new(0));
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    let mut tasks = tokio::task::JoinSet::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut n = 0usize;
    while Instant::now() < deadline {
        ticker.tick().await;
        n += 1;
        let (id, sku) = rows[rand::random_range(0..rows.len())].clone();
        let token = tokens[n % tokens.len()].clone();
        let body = json!({"items": [{"variant_id": id, "quantity": 1}], "shipping_method_id": shipping,
            "payment_method": "cash_on_delivery", "phone": "+77011234567",
            "address": {"name": "Bench", "line1": "Abay 1", "city": "Almaty", "postal_code": "050000", "country": "KZ"}});
        let (client, api, sales, failures) =
            (client.clone(), api.clone(), sales.clone(), failures.clone());
        tasks.spawn(async move {
            let r = client
                .post(format!("{api}/api/v1/checkout"))
                .bearer_auth(token)
                .header("idempotency-key", uuid::Uuid::now_v7().to_string())
                .json(&body)
                .send()
                .await;
            match r {
                Ok(r) if r.status() == StatusCode::CREATED => {
                    sales.lock().expect("sales").push((sku, Instant::now()))
                }
                _ => {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let placed = sales.lock().expect("sales").clone();
    println!(
        "checkouts: {} placed, {} failed",
        placed.len(),
        failures.load(Ordering::Relaxed)
    );
    // Wait until Ozon has the last figure of every variant sold.
    let mut sold: HashMap<String, i64> = HashMap::new();
    for (sku, _) in &placed {
        *sold.entry(sku.clone()).or_default() += 1;
    }
    let waited = Instant::now();
    loop {
        let done = {
            let received = fake.received.lock().expect("fake lock");
            sold.iter().all(|(sku, k)| {
                received
                    .get(sku)
                    .is_some_and(|r| r.iter().any(|(f, _)| *f <= 100_000 - k))
            })
        };
        if done {
            break;
        }
        anyhow::ensure!(
            waited.elapsed() < Duration::from_secs(300),
            "Ozon never got every figure"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = fake.received.lock().expect("fake lock").clone();
    let mut count: HashMap<&str, i64> = HashMap::new();
    let mut latencies: Vec<Duration> = placed
        .iter()
        .filter_map(|(sku, at)| {
            let k = count.entry(sku.as_str()).or_default();
            *k += 1;
            latency(
                received.get(sku).map(Vec::as_slice).unwrap_or(&[]),
                *at,
                100_000 - *k,
            )
        })
        .collect();
    latencies.sort_unstable();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    let pushes: usize = received.values().map(Vec::len).sum();
    println!(
        "checkout -> Ozon: p50 {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s over {} sales; {} figures pushed for {} variants sold",
        pick(0.5).as_secs_f64(),
        pick(0.9).as_secs_f64(),
        pick(0.99).as_secs_f64(),
        pick(1.0).as_secs_f64(),
        latencies.len(),
        pushes,
        sold.len()
    );
    Ok(())
}

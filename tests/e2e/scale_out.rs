//! Scale-out: two `api`, two `worker` and two `scheduler` processes behind
//! nginx (Debian's, the repository's config) on one PostgreSQL and Redis,
//! under checkouts and catalogue reads. During the load one api is stopped
//! (SIGTERM) and started again, as a rolling deploy does; one worker is
//! killed (SIGKILL) for good; PostgreSQL is restarted.
//!
//! Pass: no request fails at nginx except while PostgreSQL restarts (those
//! are counted; a storefront retries a checkout with the same
//! Idempotency-Key); every checkout is one order, every order one
//! confirmation mail, every order's units reserved once; every scheduler
//! tick ran once, and only the ticks while PostgreSQL was down are missing.
//!
//! `ops/scripts/scale-out.sh` runs this test alone and prints its figures;
//! `SCALE_OUT_SECS` and `SCALE_OUT_CLIENTS` make the load longer or wider.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, DurationRound, Utc};
use rand::{seq::IndexedRandom, Rng};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{
    nginx::Nginx,
    ports::free_port,
    postgres_server::PostgresServer,
    process::{wait_until_serving, BazaarProcess},
    TestApp, PASSWORD,
};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One HTTP request as the storefront saw it.
struct Attempt {
    started: Instant,
    ended: Instant,
    what: &'static str,
    /// `None`: no HTTP answer at all.
    status: Option<u16>,
}

impl Attempt {
    fn failed(&self) -> bool {
        !self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn overlaps(&self, from: Instant, to: Instant) -> bool {
        self.started <= to && self.ended >= from
    }
}

#[derive(Default)]
struct Record {
    attempts: Vec<Attempt>,
    /// Idempotency-Key -> the number of the order its checkout returned.
    orders: HashMap<String, String>,
}

struct Storefront {
    client: reqwest::Client,
    base: String,
    tokens: Vec<String>,
    paths: Vec<String>,
    variants: Vec<Uuid>,
    shipping: Uuid,
    record: Mutex<Record>,
}

impl Storefront {
    fn note(&self, started: Instant, what: &'static str, status: Option<u16>) {
        let attempt = Attempt {
            started,
            ended: Instant::now(),
            what,
            status,
        };
        self.record.lock().unwrap().attempts.push(attempt);
    }

    async fn browse(&self) {
        let path = self.paths.choose(&mut rand::rng()).unwrap().clone();
        let started = Instant::now();
        let status = match self.client.get(format!("{}{path}", self.base)).send().await {
            // Read the whole body: a body cut off is a failure too.
            Ok(r) => {
                let status = r.status().as_u16();
                r.bytes().await.ok().map(|_| status)
            }
            Err(_) => None,
        };
        self.note(started, "read", status);
    }

    /// A "buy now" of one unit, retried with the same Idempotency-Key until
    /// it succeeds, as a storefront does after a 503 or a lost answer.
    async fn buy(&self) {
        let (token, body) = {
            let mut rng = rand::rng();
            let variant = self.variants.choose(&mut rng).unwrap();
            let token = self.tokens.choose(&mut rng).unwrap().clone();
            let body = json!({
                "items": [{ "variant_id": variant, "quantity": 1 }],
                "shipping_method_id": self.shipping,
                "payment_method": "cash_on_delivery",
                "phone": "+77011234567",
                "address": { "name": "Scale Out", "line1": "Abay 1", "city": "Almaty",
                             "postal_code": "050000", "country": "KZ" },
            });
            (token, body)
        };
        let key = Uuid::now_v7().to_string();
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let started = Instant::now();
            let sent = self
                .client
                .post(format!("{}/api/v1/checkout", self.base))
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            let (status, order) = match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let answer: Option<Value> = r.json().await.ok();
                    let order = answer
                        .as_ref()
                        .and_then(|a| a["order"]["number"].as_str())
                        .map(str::to_owned);
                    (Some(status), order)
                }
                Err(_) => (None, None),
            };
            self.note(started, "checkout", status);
            if let (Some(200..=299), Some(order)) = (status, order) {
                self.record.lock().unwrap().orders.insert(key, order);
                return;
            }
            assert!(
                Instant::now() < deadline,
                "checkout {key} still failing after 90 s: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

async fn ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/health/ready");
    wait_until_serving(&url, Duration::from_secs(90)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_each_role_behind_nginx_lose_nothing_to_a_stopped_api_a_killed_worker_or_a_postgres_restart(
) {
    let load = Duration::from_secs(setting("SCALE_OUT_SECS", 24));
    let clients = setting("SCALE_OUT_CLIENTS", 8) as usize;
    // Declared before the app, so dropped after it (its last checks).
    let pg = Arc::new(PostgresServer::start());
    let app = TestApp::builder()
        .alone()
        .without_worker()
        .var("DATABASE_URL", pg.url("bazaar"))
        .var("RATE_LIMIT_LOGIN_PER_IP", "100000")
        // nginx is the client the APIs see.
        .var("TRUST_FORWARDED_FOR", "true")
        // Every second, so the test sees many ticks.
        .var("SCHEDULE_HEALTH_CHECK", "* * * * * *")
        .var("SCHEDULE_CLEANUP", "*/2 * * * * *")
        .var("SCHEDULE_EXPIRE_RESERVATIONS", "* * * * * *")
        .start()
        .await;
    app.seed(200);
    sqlx::query("UPDATE variants SET stock = 1000000, reserved = 0")
        .execute(&app.pool)
        .await
        .unwrap();

    let spawn_api = |port: u16| {
        let mut vars = app.vars.clone();
        vars.insert("BAZAAR_BIND".into(), format!("127.0.0.1:{port}"));
        BazaarProcess::spawn("api", &vars)
    };
    let ports = [free_port(), free_port()];
    let mut apis = ports.map(spawn_api);
    for port in ports {
        ready(port).await;
    }
    let mut workers = [0, 1].map(|_| BazaarProcess::spawn("worker", &app.vars));
    let mut schedulers = [0, 1].map(|_| BazaarProcess::spawn("scheduler", &app.vars));
    let upstreams: Vec<SocketAddr> = ports
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let nginx = Nginx::start(&upstreams).await;

    // Customers and the storefront's paths.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut tokens = Vec::new();
    for i in 0..20 {
        let r = client
            .post(format!("{}/api/v1/auth/register", nginx.url()))
            .json(
                &json!({ "email": format!("buyer{i}@example.com"), "password": PASSWORD,
                           "name": format!("Buyer {i}"), "role": "customer" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let session: Value = r.json().await.unwrap();
        tokens.push(session["access_token"].as_str().unwrap().to_owned());
    }
    let paths: Vec<String> = sqlx::query_scalar(
        "(SELECT '/api/v1/products/' || slug FROM products WHERE active AND deleted_at IS NULL)
         UNION ALL
         (SELECT '/api/v1/products?category=' || slug || '&page=' || p || '&per_page=24'
            FROM categories, generate_series(1, 3) p)
         UNION ALL
         (SELECT DISTINCT '/api/v1/products?q=' || lower(w) || '&per_page=24'
            FROM products, regexp_split_to_table(name, ' ') w WHERE w ~ '^[A-Za-z]{4,}$')",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let variants: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM variants WHERE active AND price > 0")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let shipping: Uuid =
        sqlx::query_scalar("SELECT id FROM shipping_methods ORDER BY price LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let shop = Arc::new(Storefront {
        client: client.clone(),
        base: nginx.url(),
        tokens,
        paths,
        variants,
        shipping,
        record: Mutex::new(Record::default()),
    });

    // The load: each client buys about one time in four and browses otherwise.
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let began_at = Utc::now();
    let mut load_tasks = Vec::new();
    for _ in 0..clients {
        let (shop, stop) = (shop.clone(), stop.clone());
        load_tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if rand::rng().random_bool(0.25) {
                    shop.buy().await;
                } else {
                    shop.browse().await;
                }
            }
        }));
    }
    let at = |fraction: f64| began + load.mul_f64(fraction);

    // A rolling restart of one api: SIGTERM, wait for it to exit, start it.
    tokio::time::sleep_until(at(0.2).into()).await;
    let terminated = Instant::now();
    apis[0].signal("TERM");
    let exit = apis[0].wait(Duration::from_secs(30)).await;
    let drained_in = terminated.elapsed();
    assert!(
        exit.success(),
        "the stopped api exited {exit:?}: {}",
        apis[0].log_text()
    );
    apis[0] = spawn_api(ports[0]);
    ready(ports[0]).await;

    // A worker dies mid-batch, for good: the other one takes over its jobs.
    tokio::time::sleep_until(at(0.45).into()).await;
    workers[0].kill();

    // PostgreSQL restarts.
    tokio::time::sleep_until(at(0.6).into()).await;
    let restart_began = Instant::now();
    let restart_began_at = Utc::now();
    let restarting = pg.clone();
    tokio::task::spawn_blocking(move || restarting.restart())
        .await
        .unwrap();
    let restart_ended = Instant::now();
    let restart_ended_at = Utc::now();

    tokio::time::sleep_until(at(1.0).into()).await;
    stop.store(true, Ordering::Relaxed);
    for task in load_tasks {
        task.await.unwrap();
    }
    let loaded_for = began.elapsed();
    let ended_at = Utc::now();
    assert!(
        apis.iter_mut().all(|a| a.try_status().is_none()),
        "an api died"
    );
    assert!(
        workers[1].try_status().is_none(),
        "the surviving worker died"
    );

    // The schedulers stop (no new ticks), then every job runs, none fails.
    for scheduler in &mut schedulers {
        scheduler.signal("TERM");
        let exit = scheduler.wait(Duration::from_secs(30)).await;
        assert!(
            exit.success(),
            "a scheduler exited {exit:?}: {}",
            scheduler.log_text()
        );
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let pending: Vec<(String, i32, i32, String, Option<String>)> = sqlx::query_as(
            "SELECT kind, attempts, relay_count, (due_at - now())::text, last_error
               FROM outbox WHERE status = 'pending' ORDER BY created_at LIMIT 20",
        )
        .fetch_all(&app.pool)
        .await
        .unwrap();
        if pending.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "jobs still pending 90 s after the load: {pending:#?}\nworker log: {}",
            workers[1].log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.drain().await;
    let record = std::mem::take(&mut *shop.record.lock().unwrap());
    let during_restart = |a: &&Attempt| a.overlaps(restart_began, restart_ended);
    let failed_outside: Vec<String> = record
        .attempts
        .iter()
        .filter(|a| a.failed() && !during_restart(a))
        .map(|a| {
            format!(
                "{} at {:?}: {:?}",
                a.what,
                a.started.duration_since(began),
                a.status
            )
        })
        .collect();
    assert!(
        failed_outside.is_empty(),
        "requests failed outside the PostgreSQL restart ({:?}..{:?}): {failed_outside:#?}\nnginx: {}",
        restart_began.duration_since(began),
        restart_ended.duration_since(began),
        nginx.error_log()
    );
    let failed_during = record.attempts.iter().filter(|a| a.failed()).count();
    // While the database is away the API says so: 503 (with Retry-After,
    // see ops::a_database_with_every_connection_busy...), never a 500.
    assert!(
        record
            .attempts
            .iter()
            .filter(|a| a.failed())
            .all(|a| a.status == Some(503)),
        "failures during the restart other than 503"
    );
    // nginx saw the same failures the storefront did.
    let nginx_failures = nginx
        .access_log()
        .iter()
        .filter(|l| {
            l["status"]
                .as_u64()
                .is_none_or(|s| !(200..400).contains(&s))
        })
        .count();
    assert_eq!(
        nginx_failures, failed_during,
        "nginx's log and the storefront disagree"
    );

    // Orders: one per checkout key, and no other.
    let placed: HashSet<String> = record.orders.values().cloned().collect();
    assert_eq!(placed.len(), record.orders.len(), "two keys got one order");
    let numbers: HashMap<Uuid, String> = sqlx::query_as("SELECT id, number FROM orders")
        .fetch_all(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    let in_db: HashSet<String> = numbers.values().cloned().collect();
    assert_eq!(
        in_db, placed,
        "orders in the database vs checkouts that succeeded"
    );

    // Mails: each order's confirmation arrived, as one message.
    let mut messages: HashMap<String, HashSet<String>> = HashMap::new();
    let mut deliveries = 0;
    for mail in app.smtp.mails() {
        let Some(key) = mail.header("X-Bazaar-Idempotency-Key") else {
            continue;
        };
        let Some(order) = key
            .strip_prefix("order:")
            .and_then(|k| k.strip_suffix(":received:email"))
        else {
            continue;
        };
        deliveries += 1;
        let id: Uuid = order.parse().unwrap();
        messages
            .entry(numbers.get(&id).cloned().unwrap_or_else(|| id.to_string()))
            .or_default()
            .insert(mail.header("Message-ID").unwrap());
    }
    let mailed: HashSet<String> = messages.keys().cloned().collect();
    assert_eq!(mailed, placed, "confirmation mails vs orders");
    // A delivery twice (at least once) is the same message: one Message-ID
    // per order, none shared by two orders.
    let message_ids: HashSet<&String> = messages.values().flatten().collect();
    assert_eq!(
        message_ids.len(),
        placed.len(),
        "distinct confirmation messages"
    );

    // Stock: every variant holds exactly its pending orders' units.
    let (units, reserved, disagreeing): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COALESCE(sum(quantity), 0) FROM order_items)::bigint,
                (SELECT COALESCE(sum(reserved), 0) FROM variants)::bigint,
                (SELECT count(*) FROM variants v WHERE v.reserved <>
                   COALESCE((SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
                              WHERE i.variant_id = v.id AND o.status = 'pending'), 0))",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(units, placed.len() as i64, "one unit per order");
    assert_eq!(
        (reserved, disagreeing),
        (units, 0),
        "reservations vs orders"
    );

    // The scheduler: a tick cannot run twice (it is the primary key of a
    // health run and part of its jobs' idempotency keys), and none is
    // missing but while PostgreSQL was down (give or take a few seconds for
    // a claim that was slow to reach it: ten processes share two cores).
    let health_ticks: Vec<DateTime<Utc>> =
        sqlx::query_scalar("SELECT tick_at FROM health_runs WHERE tick_at BETWEEN $1 AND $2")
            .bind(began_at)
            .bind(ended_at)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let expiry_ticks: Vec<DateTime<Utc>> = sqlx::query_scalar::<_, String>(
        // A finished job's payload is dropped; its key names the tick.
        "SELECT substr(idempotency_key, length('ops.expire_reservations:') + 1) FROM outbox
          WHERE kind = 'ops.expire_reservations' AND status = 'done'",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .iter()
    .map(|t| t.parse().unwrap())
    .filter(|t| (began_at..=ended_at).contains(t))
    .collect();
    let second = chrono::TimeDelta::seconds(1);
    let margin = chrono::TimeDelta::seconds(3);
    let outage = (restart_began_at - margin)..=(restart_ended_at + margin);
    let mut missed = 0;
    for (what, ran) in [
        ("health check", &health_ticks),
        ("reservation expiry", &expiry_ticks),
    ] {
        let mut tick = began_at.duration_trunc(second).unwrap() + second;
        while tick + second < ended_at {
            if !ran.contains(&tick) {
                assert!(
                    outage.contains(&tick),
                    "{what} tick {tick} missed outside the restart ({outage:?})"
                );
                missed += 1;
            }
            tick += second;
        }
    }

    let checkouts = record
        .attempts
        .iter()
        .filter(|a| a.what == "checkout")
        .count();
    println!(
        "scale-out figures ({clients} clients for {loaded_for:.1?}, 2 api + 2 worker + 2 scheduler behind nginx):\n\
         \x20 requests              {} ({checkouts} checkout attempts, {} reads), {:.0}/s\n\
         \x20 failed                0 outside the PostgreSQL restart; {failed_during} during it, all 503\n\
         \x20 PostgreSQL restart    {:.1?} (pg_ctl restart -m fast)\n\
         \x20 api SIGTERM -> exit 0 {drained_in:.1?} (drain: nginx lets go of its connections)\n\
         \x20 orders                {} = successful checkouts, {} units reserved = units ordered\n\
         \x20 confirmation mails    {} messages for {} orders ({deliveries} SMTP deliveries)\n\
         \x20 scheduler ticks       {} health checks and {} reservation expiries, one per tick; {missed} missed (all while PostgreSQL was down)",
        record.attempts.len(),
        record.attempts.len() - checkouts,
        record.attempts.len() as f64 / loaded_for.as_secs_f64(),
        restart_ended - restart_began,
        placed.len(),
        reserved,
        messages.len(),
        placed.len(),
        health_ticks.len(),
        expiry_ticks.len(),
    );
}

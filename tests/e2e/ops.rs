use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{
    eventually,
    ports::free_port,
    process::{wait_until_serving, BazaarProcess},
    RedisServer, TestApp,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_readiness_and_request_ids() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!generated.is_empty());

    let r = app
        .client
        .get(app.url("/health/ready"))
        .header("x-request-id", "client-id-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "client-id-123");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");

    // An id that is too long is replaced rather than echoed.
    let long = "x".repeat(129);
    let r = app
        .client
        .get(app.url("/health/live"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_ne!(r.headers()["x-request-id"].to_str().unwrap(), long);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_503_naming_redis_when_it_is_down() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::builder()
        .var("REDIS_URL", redis.url())
        .without_worker()
        .start()
        .await;
    redis.stop();
    let r = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
    assert!(
        body["checks"]["redis"]
            .as_str()
            .unwrap()
            .starts_with("error"),
        "{body}"
    );
    redis.restart().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_expose_http_jobs_queues_and_outbox() {
    let app = TestApp::spawn().await;
    app.register("metrics@example.com").await;
    app.drain().await;
    let text = app.metrics().await;
    for needle in [
        "http_requests_total{method=\"POST\",route=\"/api/v1/auth/register\",status=\"201\"}",
        "http_request_duration_seconds_bucket",
        "bazaar_jobs_total{queue=\"email\",outcome=\"succeeded\"}",
        "bazaar_job_duration_seconds_bucket",
        "bazaar_queue_depth{queue=\"email\"}",
        "bazaar_outbox_pending",
        "bazaar_outbox_lag_seconds",
    ] {
        assert!(text.contains(needle), "{needle} missing from /metrics");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_and_swagger_ui_are_served() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/me",
        "/api/v1/admin/health",
        "/api/v1/admin/jobs",
        "/health/ready",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Clean enough to generate a client from: one id per operation, and
    // every response described.
    let mut ids = std::collections::HashMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(id) = op["operationId"].as_str() else {
                panic!("{method} {path} has no operationId");
            };
            if let Some(other) = ids.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} is both {other} and {method} {path}");
            }
            for (status, response) in op["responses"].as_object().unwrap() {
                let described = response["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty());
                assert!(described, "{method} {path} {status} has no description");
            }
        }
    }
    assert!(ids.len() > 100, "{} operations", ids.len());
    // Request schemas say what is required, with no made-up defaults (the
    // register example was itself refused), and where a price must be in
    // the shop's currency; headers are declared both ways.
    let schemas = &doc["components"]["schemas"];
    for (schema, fields) in [
        (
            "RegisterRequest",
            &["email", "password", "name", "role"][..],
        ),
        (
            "CreateProduct",
            &["store_id", "category_id", "product_type_id", "name"],
        ),
        (
            "AddressInput",
            &["name", "line1", "city", "postal_code", "country"],
        ),
        ("NewPage", &["slug", "title", "body"]),
    ] {
        for field in fields {
            assert!(
                schemas[schema]["required"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == field),
                "{schema}.{field} is not required: {}",
                schemas[schema]
            );
            assert!(
                schemas[schema]["properties"][field]
                    .get("default")
                    .is_none(),
                "{schema}.{field} has a default"
            );
        }
    }
    assert!(schemas["AddressPatch"].get("required").is_none());
    assert_eq!(
        schemas["Price"]["properties"]["currency"]["enum"],
        json!(["KZT"])
    );
    let ops = &doc["paths"];
    let header = |path: &str, method: &str, name: &str| {
        ops[path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["in"] == "header" && p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{method} {path} does not take {name}"))
    };
    assert!(header("/api/v1/checkout", "post", "Idempotency-Key")["schema"]["pattern"].is_string());
    header("/api/v1/auth/login", "post", "X-Cart-Token");
    assert!(ops["/api/v1/products"]["get"]["responses"]["200"]["headers"]["ETag"].is_object());
    assert!(ops["/api/v1/products"]["get"]["responses"]["304"].is_object());
    assert!(
        ops["/api/v1/cart/items"]["post"]["responses"]["201"]["headers"]["X-Cart-Token"]
            .is_object()
    );
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("swagger"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_as_eml_files() {
    let dir = std::env::temp_dir().join(format!("bazaar-outbox-{}", uuid::Uuid::now_v7().simple()));
    let app = TestApp::builder()
        .var("SMTP_URL", "")
        .var("MAIL_OUTBOX_DIR", dir.to_str().unwrap())
        .start()
        .await;
    app.register("eml@example.com").await;
    app.drain().await;
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].path().extension().is_some_and(|e| e == "eml"));
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("eml@example.com") && text.contains("Welcome"));
    assert!(app.smtp.mails().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_serves_metrics_on_metrics_bind() {
    let app = TestApp::builder().without_worker().start().await;
    let port = crate::harness::ports::free_port();
    let mut vars = app.vars.clone();
    vars.insert("METRICS_BIND".into(), format!("127.0.0.1:{port}"));
    let _worker = crate::harness::process::BazaarProcess::spawn("worker", &vars);
    let text = crate::harness::eventually(
        "worker metrics",
        std::time::Duration::from_secs(60),
        || async {
            let r = app
                .client
                .get(format!("http://127.0.0.1:{port}/metrics"))
                .send()
                .await
                .ok()?;
            r.text().await.ok()
        },
    )
    .await;
    assert!(text.contains("bazaar_queue_depth{queue=\"ops\"}"), "{text}");
    assert!(text.contains("bazaar_outbox_pending"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_production_metrics_are_served_on_metrics_bind_only() {
    let app = TestApp::builder().without_worker().start().await;
    let (api, metrics) = (free_port(), free_port());
    let mut vars = app.vars.clone();
    vars.insert("BAZAAR_ENV".into(), "production".into());
    vars.insert("BAZAAR_BIND".into(), format!("127.0.0.1:{api}"));
    vars.insert("METRICS_BIND".into(), format!("127.0.0.1:{metrics}"));
    let mut process = BazaarProcess::spawn("api", &vars);
    let client = reqwest::Client::new();
    let public = format!("http://127.0.0.1:{api}");
    wait_until_serving(&format!("{public}/health/live"), Duration::from_secs(30)).await;
    let r = client
        .get(format!("{public}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "metrics on the public listener");
    let text = eventually(
        "metrics on METRICS_BIND",
        Duration::from_secs(10),
        || async {
            let r = client
                .get(format!("http://127.0.0.1:{metrics}/metrics"))
                .send()
                .await
                .ok()?;
            if !r.status().is_success() {
                return None;
            }
            r.text().await.ok()
        },
    )
    .await;
    assert!(text.contains("http_requests_total"), "{text}");
    process.signal("TERM");
    assert!(
        process.wait(Duration::from_secs(20)).await.success(),
        "{}",
        process.log_text()
    );
}

/// ARCHITECTURE.md: "every Redis key bazaar writes starts with REDIS_PREFIX".
/// On a Redis of its own, after the API, the relay, the workers and a job
/// have all run, there is no key outside the prefix (apalis-redis's queue
/// registry included: patches/apalis-redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redis_key_bazaar_writes_carries_its_prefix() {
    let redis = RedisServer::start().await;
    let app = TestApp::builder()
        .var("REDIS_URL", redis.url())
        .start()
        .await;
    let prefix = app.vars["REDIS_PREFIX"].clone();
    // A registration: rate-limit keys, an outbox job relayed to Redis and run.
    app.register("keys@example.com").await;
    app.drain().await;
    let client = redis::Client::open(redis.url()).unwrap();
    let conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys = eventually("the workers to register", Duration::from_secs(10), || {
        let mut conn = conn.clone();
        let prefix = prefix.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut conn)
                .await
                .ok()?;
            keys.iter()
                .any(|k| k == &format!("{prefix}:apalis:queues:list"))
                .then_some(keys)
        }
    })
    .await;
    let outside: Vec<&String> = keys
        .iter()
        .filter(|k| !k.starts_with(&format!("{prefix}:")))
        .collect();
    assert!(outside.is_empty(), "keys outside {prefix}: {outside:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_with_every_connection_busy_is_a_503_with_retry_after_not_a_500() {
    let app = TestApp::builder()
        .var("DATABASE_MAX_CONNECTIONS", "2")
        .without_worker()
        .start()
        .await;
    let session = app.register("ann@example.com").await;
    let token = session["access_token"].as_str().unwrap().to_owned();
    // The test holds both of the API's connections (the harness shares its
    // pool with the API), as a slow query would.
    let held = (
        app.pool.acquire().await.unwrap(),
        app.pool.acquire().await.unwrap(),
    );
    let r = app.get_auth("/api/v1/me", &token).await;
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/overloaded");
    drop(held);
    assert_eq!(app.get_auth("/api/v1/me", &token).await.status(), 200);
}

/// One HTTP/1.1 GET on an open connection; the answer's head, lower-cased.
async fn get_on(conn: &mut tokio::net::TcpStream, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(format!("GET {path} HTTP/1.1\r\nHost: bazaar\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "closed before answering: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if answer.len() >= end + 4 + length {
                return text[..end].to_owned();
            }
        }
    }
}

/// `bazaar_api::drain`: on SIGTERM the API refuses new connections at once,
/// still answers on the ones it has (closing each after its answer, so a
/// proxy never writes to a connection being closed) and exits when they are
/// gone, long before SHUTDOWN_DRAIN_SECS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_api_refuses_new_connections_and_closes_open_ones_after_their_next_answer() {
    let app = TestApp::builder().without_worker().start().await;
    let port = free_port();
    let mut vars = app.vars.clone();
    vars.insert("BAZAAR_BIND".into(), format!("127.0.0.1:{port}"));
    vars.insert("SHUTDOWN_DRAIN_SECS".into(), "60".into());
    let mut api = BazaarProcess::spawn("api", &vars);
    let mut conn = eventually("the api to listen", Duration::from_secs(60), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    let head = get_on(&mut conn, "/health/live").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");

    api.signal("TERM");
    eventually(
        "new connections to be refused",
        Duration::from_secs(10),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    assert!(api.try_status().is_none(), "exited with a connection open");
    let head = get_on(&mut conn, "/health/live").await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let status = api.wait(Duration::from_secs(15)).await;
    assert!(status.success(), "{status:?}: {}", api.log_text());
}

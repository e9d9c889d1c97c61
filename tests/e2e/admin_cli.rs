//! The command line as an operator uses it.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{json, Value};

use crate::harness::{
    ports::free_port,
    process::{wait_until_serving, BazaarProcess},
    TestApp,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_reads_the_password_from_stdin() {
    let app = TestApp::spawn().await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bazaar"))
        .args([
            "admin",
            "create",
            "--email",
            "root@bazaar.test",
            "--name",
            "Root",
        ])
        .envs(&app.vars)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"root-password-1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let login: Value = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "root@bazaar.test", "password": "root-password-1" }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(login["user"]["role"], "admin");
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_auth("/api/v1/admin/jobs", token).await.status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_every_role_with_exit_code_zero() {
    let app = TestApp::builder().without_worker().start().await;
    let port = free_port();
    let mut vars = app.vars.clone();
    vars.insert("BAZAAR_BIND".into(), format!("127.0.0.1:{port}"));
    let mut all = BazaarProcess::spawn("all", &vars);
    let live = format!("http://127.0.0.1:{port}/health/live");
    wait_until_serving(&live, Duration::from_secs(60)).await;
    all.signal("TERM");
    let status = all.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "exit {status:?}; log: {}", all.log_text());
}

/// Runs a role that must fail at start; returns its `bazaar:` error line and
/// everything it printed.
fn failed_start(role: &str, vars: &std::collections::HashMap<String, String>) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bazaar"))
        .arg(role)
        .envs(vars)
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{role} must fail to start");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let line = printed
        .lines()
        .find(|l| l.starts_with("bazaar:"))
        .expect("an error line")
        .to_owned();
    assert!(!printed.contains("panicked"), "{printed}");
    (line, printed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_one_clear_line_with_the_password_masked() {
    let port = free_port();
    let vars = [(
        "DATABASE_URL".to_owned(),
        format!("postgres://app:s3cret@127.0.0.1:{port}/shop"),
    )]
    .into();
    let (line, printed) = failed_start("api", &vars);
    assert!(
        line.contains(&format!("postgres://app:***@127.0.0.1:{port}/shop")),
        "{line}"
    );
    assert!(!printed.contains("s3cret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_one_clear_line() {
    let app = TestApp::builder().without_worker().start().await;
    let port = free_port();
    let mut vars = app.vars.clone();
    vars.insert(
        "REDIS_URL".into(),
        format!("redis://:hunter22@127.0.0.1:{port}"),
    );
    let (line, printed) = failed_start("worker", &vars);
    assert!(
        line.contains("cannot connect to Redis") && line.contains(&port.to_string()),
        "{line}"
    );
    assert!(!printed.contains("hunter22"));
}

/// `bazaar seed` bulk-loads without rewriting what it just wrote: the
/// variants' trigger finds each product's price range and facet values right
/// and updates nothing (before: one dead row per product), the derived
/// columns are what the triggers would compute, and the tables are analysed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_leaves_no_dead_rows() {
    let app = TestApp::spawn().await;
    app.seed(300);
    // The seed's backend has exited, so its statistics are flushed.
    let (updates, analysed): (i64, bool) = sqlx::query_as(
        "SELECT n_tup_upd, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'products'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(updates, 0, "the seed rewrote product rows");
    assert!(analysed, "products not analysed");
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM products p
          WHERE facet_values IS DISTINCT FROM product_facet_values(p.id, p.attributes)
             OR min_price IS DISTINCT FROM (SELECT min(price) FROM variants WHERE product_id = p.id AND active)
             OR max_price IS DISTINCT FROM (SELECT max(price) FROM variants WHERE product_id = p.id AND active)",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "products whose derived columns are wrong");
    let products: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(products, 300);

    // A price edit through the trigger still moves the range (and only then
    // writes the product).
    let variant: (uuid::Uuid, uuid::Uuid) =
        sqlx::query_as("SELECT id, product_id FROM variants ORDER BY price DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    sqlx::query("UPDATE variants SET price = price + 100 WHERE id = $1")
        .bind(variant.0)
        .execute(&app.pool)
        .await
        .unwrap();
    let (max, expected): (i64, i64) = sqlx::query_as(
        "SELECT p.max_price, (SELECT max(price) FROM variants WHERE product_id = p.id AND active)
           FROM products p WHERE p.id = $1",
    )
    .bind(variant.1)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(max, expected);
}

//! The command line as an operator uses it.

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{json, Value};

use crate::harness::{eventually, process::BazaarProcess, redis_server::free_port, TestApp};

#[tokio::test]
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

#[tokio::test]
async fn sigterm_stops_every_role_with_exit_code_zero() {
    let app = TestApp::builder().without_worker().start().await;
    let port = free_port();
    let mut vars = app.vars.clone();
    vars.insert("BAZAAR_BIND".into(), format!("127.0.0.1:{port}"));
    let mut all = BazaarProcess::spawn("all", &vars);
    let client = reqwest::Client::new();
    eventually("bazaar all to listen", Duration::from_secs(60), || async {
        let r = client
            .get(format!("http://127.0.0.1:{port}/health/live"))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(())
    })
    .await;
    all.signal("TERM");
    let status = all.wait(Duration::from_secs(30)).await;
    assert!(status.success(), "exit {status:?}; log: {}", all.log_text());
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_line_with_the_password_masked() {
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_bazaar"))
        .arg("api")
        .env(
            "DATABASE_URL",
            format!("postgres://app:s3cret@127.0.0.1:{port}/shop"),
        )
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("bazaar:"))
        .expect("an error line");
    assert!(
        line.contains(&format!("postgres://app:***@127.0.0.1:{port}/shop")),
        "{line}"
    );
    assert!(!stderr.contains("s3cret") && !String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    assert!(!stderr.contains("panicked"));
}

#[tokio::test]
async fn an_unreachable_redis_is_one_clear_line() {
    let app = TestApp::builder().without_worker().start().await;
    let port = free_port();
    let out = Command::new(env!("CARGO_BIN_EXE_bazaar"))
        .arg("worker")
        .envs(&app.vars)
        .env("REDIS_URL", format!("redis://:hunter22@127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("bazaar:"))
        .expect("an error line");
    assert!(
        line.contains("cannot connect to Redis") && line.contains(&port.to_string()),
        "{line}"
    );
    assert!(!stderr.contains("hunter22"));
}

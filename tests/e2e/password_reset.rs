use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{assert_problem, eventually, TestApp, PASSWORD};

fn token_from(mail: &str) -> String {
    let start = mail.find("token=").expect("reset link in mail") + "token=".len();
    mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_mails_one_single_use_link_that_resets_the_password() {
    let app = TestApp::spawn().await;
    let session = app.register("gina@example.com").await;
    let old_refresh = session["refresh_token"].as_str().unwrap().to_owned();

    let r = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "gina@example.com" }),
        )
        .await;
    assert_eq!(r.status(), 202);
    app.drain().await;
    let mails = eventually("the reset mail", Duration::from_secs(10), || async {
        let m: Vec<_> = app
            .smtp
            .mails_to("gina@example.com")
            .into_iter()
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains("Reset")))
            .collect();
        (!m.is_empty()).then_some(m)
    })
    .await;
    assert_eq!(mails.len(), 1, "exactly one reset mail");
    let body = mails[0].decoded();
    assert!(
        body.contains("http://shop.test/reset-password?token="),
        "{body}"
    );
    assert!(body.contains("text/html") && body.contains("text/plain"));
    let token = token_from(&body);

    let r = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": token, "new_password": "brand-new-secret" }),
        )
        .await;
    assert_eq!(r.status(), 204);

    let old = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "gina@example.com", "password": PASSWORD }),
        )
        .await;
    assert_problem(old, 401).await;
    let new = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "gina@example.com", "password": "brand-new-secret" }),
        )
        .await;
    assert_eq!(new.status(), 200);

    // The token is dead, and so are the sessions from before the reset.
    let again = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": token, "new_password": "another-secret-1" }),
        )
        .await;
    assert_problem(again, 400).await;
    let r = app
        .post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": old_refresh }),
        )
        .await;
    assert_problem(r, 401).await;
    // Their access tokens too, at once rather than when they expire.
    let old_access = session["access_token"].as_str().unwrap();
    assert_problem(app.get_auth("/api/v1/me", old_access).await, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_reveals_nothing_about_unknown_accounts() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "ghost@example.com" }),
        )
        .await;
    assert_eq!(r.status(), 202);
    app.drain().await;
    assert!(app.smtp.mails().is_empty());
    let bad = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "not-an-email" }),
        )
        .await;
    assert_problem(bad, 422).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_is_limited_to_five_per_account_per_hour() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let r = app
            .post(
                "/api/v1/auth/password/forgot",
                json!({ "email": "hal@example.com" }),
            )
            .await;
        assert_eq!(r.status(), 202);
    }
    let r = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "hal@example.com" }),
        )
        .await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_weak_reset_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": "made-up", "new_password": "long-enough-1" }),
        )
        .await;
    assert_problem(r, 400).await;
    let r = app
        .post(
            "/api/v1/auth/password/reset",
            json!({ "token": "made-up", "new_password": "short" }),
        )
        .await;
    let body: Value = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "new_password");
}

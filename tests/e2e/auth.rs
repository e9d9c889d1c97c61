use serde_json::{json, Value};

use crate::harness::{assert_problem, TestApp, PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_then_login_then_me() {
    let app = TestApp::spawn().await;
    let session = app.register("ann@example.com").await;
    assert_eq!(session["token_type"], "Bearer");
    assert_eq!(session["user"]["email"], "ann@example.com");
    assert_eq!(session["user"]["role"], "customer");
    assert!(session["expires_in"].as_u64().unwrap() > 0);

    let login = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "ANN@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    let me: Value = app
        .get_auth("/api/v1/me", login["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["id"], session["user"]["id"]);
    assert!(me["created_at"].is_string());

    // The welcome mail went out through the outbox, once.
    app.drain().await;
    let mails = app.smtp.mails_to("ann@example.com");
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].from, "shop@bazaar.test");
    assert!(mails[0].header("Subject").unwrap().contains("Welcome"));
    assert!(mails[0]
        .header("X-Bazaar-Idempotency-Key")
        .unwrap()
        .starts_with("welcome:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_email_is_409_and_wrong_password_is_401_like_unknown_email() {
    let app = TestApp::spawn().await;
    app.register("bob@example.com").await;
    let again = app
        .post(
            "/api/v1/auth/register",
            json!({ "email": "Bob@Example.com", "password": PASSWORD, "name": "Bob", "role": "vendor" }),
        )
        .await;
    assert_problem(again, 409).await;

    let wrong = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "bob@example.com", "password": "nope-nope-nope" }),
        )
        .await;
    let wrong = assert_problem(wrong, 401).await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "nobody@example.com", "password": "nope-nope-nope" }),
        )
        .await;
    let unknown = assert_problem(unknown, 401).await;
    assert_eq!(wrong["detail"], unknown["detail"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_as_admin_is_refused() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({ "email": "eve@example.com", "password": PASSWORD, "name": "Eve", "role": "admin" }),
        )
        .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "role");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reusing_a_rotated_token_revokes_the_family() {
    let app = TestApp::spawn().await;
    let session = app.register("carol@example.com").await;
    let first = session["refresh_token"].as_str().unwrap().to_owned();

    let r = app
        .post("/api/v1/auth/refresh", json!({ "refresh_token": first }))
        .await;
    assert_eq!(r.status(), 200);
    let second: Value = r.json().await.unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first);
    assert_eq!(
        app.get_auth("/api/v1/me", second["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );

    let r = app
        .post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": second_refresh }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let third: Value = r.json().await.unwrap();
    let third_refresh = third["refresh_token"].as_str().unwrap().to_owned();

    // The first token was rotated away: presenting it again is theft.
    let reuse = app
        .post("/api/v1/auth/refresh", json!({ "refresh_token": first }))
        .await;
    assert_problem(reuse, 401).await;
    // ...so the newest token of that family dies too.
    let r = app
        .post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": third_refresh }),
        )
        .await;
    assert_problem(r, 401).await;

    // Another login (another family) is unaffected.
    let login: Value = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "carol@example.com", "password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    let r = app
        .post(
            "/api/v1/auth/refresh",
            json!({ "refresh_token": login["refresh_token"] }),
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_of_one_token_let_at_most_one_through() {
    let app = TestApp::spawn().await;
    let session = app.register("race@example.com").await;
    let token = session["refresh_token"].as_str().unwrap().to_owned();
    let attempts =
        (0..8).map(|_| app.post("/api/v1/auth/refresh", json!({ "refresh_token": token })));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 401),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_the_refresh_token() {
    let app = TestApp::spawn().await;
    let session = app.register("dave@example.com").await;
    let access = session["access_token"].as_str().unwrap();
    let refresh = session["refresh_token"].as_str().unwrap();
    let r = app
        .post_auth(
            "/api/v1/auth/logout",
            access,
            json!({ "refresh_token": refresh }),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = app
        .post("/api/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_problem(r, 401).await;
    let r = app
        .post("/api/v1/auth/logout", json!({ "refresh_token": refresh }))
        .await;
    assert_problem(r, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_can_be_patched_and_requires_a_valid_token() {
    let app = TestApp::spawn().await;
    let session = app.register("erin@example.com").await;
    let access = session["access_token"].as_str().unwrap();
    let r = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(access)
        .json(&json!({ "name": "Erin E.", "phone": "+7 701 123 45 67", "notifications": { "telegram": false } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["name"], "Erin E.");
    assert_eq!(me["phone"], "+77011234567");
    assert_eq!(me["notifications"]["telegram"], false);
    assert_eq!(me["notifications"]["email"], true);

    let bad = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(access)
        .json(&json!({ "name": "", "phone": "12" }))
        .send()
        .await
        .unwrap();
    let body = assert_problem(bad, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);

    assert_problem(app.get_auth("/api/v1/me", "not-a-jwt").await, 401).await;
    assert_problem(
        app.client.get(app.url("/api/v1/me")).send().await.unwrap(),
        401,
    )
    .await;
}

/// A login from `ip` (the app trusts X-Forwarded-For in these tests).
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
}

fn retry_after(r: &reqwest::Response) -> u64 {
    r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_wrong_passwords_lock_out_the_guesser_and_slow_the_account_not_lock_its_owner() {
    let app = TestApp::builder()
        .var("TRUST_FORWARDED_FOR", "true")
        .var("RATE_LIMIT_LOGIN_SLOW_DOWN_SECS", "2")
        .start()
        .await;
    app.register("frank@example.com").await;
    let guesser = "203.0.113.7";
    for _ in 0..10 {
        let r = login_from(&app, guesser, "frank@example.com", "wrong-password").await;
        assert_eq!(r.status(), 401);
    }
    // The guesser is locked out, even with the right password.
    let r = login_from(&app, guesser, "frank@example.com", PASSWORD).await;
    let wait = retry_after(&r);
    assert!(wait > 2 && wait <= 900, "{wait}");
    assert_problem(r, 429).await;

    // The owner, elsewhere, signs in.
    let r = login_from(&app, "198.51.100.1", "frank@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
    // But the account is slowed down for everyone: one attempt per 2 s, so a
    // guesser spread over many addresses gets few tries.
    let r = login_from(&app, "198.51.100.2", "frank@example.com", "wrong-again").await;
    let wait = retry_after(&r);
    assert!((1..=2).contains(&wait), "{wait}");
    assert_problem(r, 429).await;
    // The owner, told to wait that long, then gets in. (Polling would run
    // into the per-address limit, 30 a minute.)
    tokio::time::sleep(std::time::Duration::from_secs(wait + 1)).await;
    let r = login_from(&app, "198.51.100.1", "frank@example.com", PASSWORD).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_rate_limited_per_ip() {
    let app = TestApp::builder()
        .var("RATE_LIMIT_LOGIN_PER_IP", "5")
        .start()
        .await;
    for i in 0..5 {
        let r = app
            .post(
                "/api/v1/auth/login",
                json!({ "email": format!("u{i}@example.com"), "password": "whatever-123" }),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "u9@example.com", "password": "whatever-123" }),
        )
        .await;
    assert!(r.headers().contains_key("retry-after"));
    assert_problem(r, 429).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_or_logout_without_its_token_is_a_validation_error() {
    let app = TestApp::spawn().await;
    let session = app.register("ivy@example.com").await;
    let access = session["access_token"].as_str().unwrap();
    for body in [
        json!({}),
        json!({ "refresh_token": "" }),
        json!({ "refresh_token": "  " }),
    ] {
        let problem =
            assert_problem(app.post("/api/v1/auth/refresh", body.clone()).await, 422).await;
        assert_eq!(problem["errors"][0]["field"], "refresh_token", "{problem}");
        let problem = assert_problem(
            app.post_auth("/api/v1/auth/logout", access, body).await,
            422,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "refresh_token", "{problem}");
    }
    // A token that is there but wrong is still a 401.
    let r = app
        .post("/api/v1/auth/refresh", json!({ "refresh_token": "nope" }))
        .await;
    assert_problem(r, 401).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_preferences_must_be_an_object_and_messengers_start_off() {
    let app = TestApp::spawn().await;
    let session = app.register("jay@example.com").await;
    let access = session["access_token"].as_str().unwrap();
    let me: Value = app
        .get_auth("/api/v1/me", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["notifications"],
        json!({ "email": true, "telegram": false, "whatsapp": false })
    );
    let r = app
        .client
        .patch(app.url("/api/v1/me"))
        .bearer_auth(access)
        .json(&json!({ "notifications": [false, true, true] }))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(r, 422).await;
    assert_eq!(problem["errors"][0]["field"], "notifications", "{problem}");
    let me: Value = app
        .get_auth("/api/v1/me", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["notifications"]["email"], true, "nothing was applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_address_in_a_browser_leads_to_the_docs() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(r.headers()["location"], "/docs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_account_is_gone_is_a_401_on_every_endpoint() {
    let app = TestApp::spawn().await;
    let customer = app.register("gone@example.com").await;
    let customer_token = customer["access_token"].as_str().unwrap().to_owned();
    let vendor = crate::fixtures::vendor(&app, "gone-vendor@example.com").await;
    sqlx::query("DELETE FROM users WHERE email IN ('gone@example.com', 'gone-vendor@example.com')")
        .execute(&app.pool)
        .await
        .unwrap();
    let calls: [(&str, &str, &str, Value); 6] = [
        (
            "POST",
            "/api/v1/cart/items",
            &customer_token,
            json!({ "variant_id": uuid::Uuid::now_v7(), "quantity": 1 }),
        ),
        (
            "POST",
            "/api/v1/me/addresses",
            &customer_token,
            json!({ "name": "A", "line1": "B", "city": "C", "postal_code": "1", "country": "KZ" }),
        ),
        ("POST", "/api/v1/checkout", &customer_token, json!({})),
        ("GET", "/api/v1/me", &customer_token, Value::Null),
        ("GET", "/api/v1/cart", &customer_token, Value::Null),
        (
            "POST",
            "/api/v1/stores",
            &vendor,
            json!({ "name": "Ghost Shop" }),
        ),
    ];
    for (method, path, token, body) in calls {
        let mut req = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .bearer_auth(token)
            .header("Idempotency-Key", "gone-1");
        if !body.is_null() {
            req = req.json(&body);
        }
        let problem = assert_problem(req.send().await.unwrap(), 401).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("no longer exists"),
            "{method} {path}: {problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_access_token_of_its_session_at_once() {
    let app = TestApp::spawn().await;
    let first = app.register("kim2@example.com").await;
    let other: Value = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "kim2@example.com", "password": PASSWORD }),
        )
        .await
        .json()
        .await
        .unwrap();
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(app.get_auth("/api/v1/me", access).await.status(), 200);
    let r = app
        .post_auth(
            "/api/v1/auth/logout",
            access,
            json!({ "refresh_token": first["refresh_token"] }),
        )
        .await;
    assert_eq!(r.status(), 204);
    let problem = assert_problem(app.get_auth("/api/v1/me", access).await, 401).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("session has ended"),
        "{problem}"
    );
    // The other session (another login) goes on.
    let other = other["access_token"].as_str().unwrap();
    assert_eq!(app.get_auth("/api/v1/me", other).await.status(), 200);
}

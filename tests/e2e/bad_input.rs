//! Bad input of every kind gets a 4xx problem+json, never a 5xx.

use serde_json::json;

use crate::harness::{assert_problem, error_fields, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for body in ["{", "{\"email\": }", "not json", "{} {}", ""] {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types_missing_and_unknown_fields_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": 42, "password": "x" }),
        )
        .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "email");

    // Every field of the wrong type is named, not only the first.
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": 12345, "password": 1 }),
        )
        .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(error_fields(&body), vec!["email", "password"]);
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({ "email": 1, "password": true, "name": "A", "role": 5, "is_admin": true }),
        )
        .await;
    let body = assert_problem(r, 422).await;
    let mut fields = error_fields(&body);
    fields.sort_unstable();
    assert_eq!(fields, vec!["email", "is_admin", "password", "role"]);

    // Every missing field of a registration is listed at once.
    let r = app.post("/api/v1/auth/register", json!({})).await;
    let body = assert_problem(r, 422).await;
    let fields = error_fields(&body);
    for f in ["email", "password", "name", "role"] {
        assert!(fields.contains(&f), "{f} missing from {fields:?}");
    }

    // A misspelt or smuggled field is refused, not silently ignored.
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({ "email": "a@b.co", "password": "long-enough", "name": "A", "role": "customer", "is_admin": true }),
        )
        .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"][0]["field"], "is_admin");

    let r = app.post("/api/v1/auth/login", json!(["a", "b"])).await;
    assert_problem(r, 422).await;

    // PostgreSQL text cannot hold NUL: refused up front, not a 500.
    for body in [
        json!({ "email": "a\u{0}b@example.com", "password": "long-enough" }),
        json!({ "email": "nul@example.com", "password": "long-enough", "name": "N\u{0}", "role": "customer" }),
    ] {
        let r = app.post("/api/v1/auth/register", body).await;
        assert_problem(r, 422).await;
    }
    let r = app
        .post(
            "/api/v1/auth/login",
            json!({ "email": "x\u{0}@example.com", "password": "p" }),
        )
        .await;
    assert_problem(r, 422).await;

    // Login lists what is missing rather than answering 401.
    let r = app.post("/api/v1/auth/login", json!({})).await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type_is_415_and_oversized_body_is_413() {
    let app = TestApp::builder()
        .var("MAX_BODY_BYTES", "1024")
        .start()
        .await;
    let r = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body("{\"email\":\"a@b.co\",\"password\":\"x\"}")
        .send()
        .await
        .unwrap();
    assert_problem(r, 415).await;

    let huge = json!({ "email": "a@b.co", "password": "x".repeat(4096) });
    let r = app.post("/api/v1/auth/login", huge).await;
    assert_problem(r, 413).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_wrong_methods_and_bad_pages_are_problems() {
    let app = TestApp::spawn().await;
    assert_problem(
        app.client
            .get(app.url("/api/v1/nope"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    let r = app
        .client
        .delete(app.url("/api/v1/auth/login"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("allow"));
    assert_problem(r, 405).await;

    let admin = app.admin_token().await;
    for query in [
        "per_page=101",
        "per_page=0",
        "page=0",
        "page=abc",
        "page=9223372036854775807",
        "page=100001",
    ] {
        let r = app
            .get_auth(&format!("/api/v1/admin/health?{query}"), &admin)
            .await;
        assert_problem(r, 422).await;
    }
    let r = app
        .get_auth("/api/v1/admin/health?per_page=100", &admin)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_an_admin() {
    let app = TestApp::spawn().await;
    let session = app.register("ivy@example.com").await;
    let customer = session["access_token"].as_str().unwrap();
    assert_problem(app.get_auth("/api/v1/admin/jobs", customer).await, 403).await;
    assert_problem(
        app.client
            .get(app.url("/api/v1/admin/jobs"))
            .send()
            .await
            .unwrap(),
        401,
    )
    .await;
    let admin = app.admin_token().await;
    let r = app
        .post_auth(
            &format!("/api/v1/admin/jobs/email/{}/retry", uuid::Uuid::now_v7()),
            &admin,
            json!({}),
        )
        .await;
    assert_problem(r, 404).await;
    let r = app
        .post_auth(
            "/api/v1/admin/jobs/nope/not-a-uuid/retry",
            &admin,
            json!({}),
        )
        .await;
    assert_problem(r, 404).await;
}

/// Sends one raw HTTP/1.1 request on a new connection and returns the
/// response head (status line and headers), lower-cased.
async fn response_head(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("the response head in time")
            .unwrap();
        assert_eq!(n, 1, "the connection closed before the head: {head:?}");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_before_its_body_was_read_says_the_connection_closes() {
    let app = TestApp::builder().without_worker().start().await;
    let body = format!(r#"{{"name":"{}"}}"#, "x".repeat(20_000));
    // No token: the auth extractor refuses before the body is read.
    let refused = format!(
        "POST /api/v1/me/addresses HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let head = response_head(&app, refused.as_bytes()).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(head.contains("connection: close"), "{head}");

    // A body that was read (a wrong password) keeps the connection open.
    let login = r#"{"email":"nobody@example.com","password":"wrong-password"}"#;
    let read = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nhost: shop\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{login}",
        login.len()
    );
    let head = response_head(&app, read.as_bytes()).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
}

/// What the OpenAPI document now states, held by the server as a client of
/// the document would meet it (each failed before the document was exact).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inputs_are_taken_and_refused_as_the_openapi_document_states() {
    use crate::fixtures::{self, expect, send};
    let app = TestApp::spawn().await;
    let catalog = fixtures::catalog(&app).await;
    let product = catalog.variants(&app, &["M"], &["Red"], 10_000).await;
    let variant = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let customer = fixtures::customer(&app, "doc@example.com").await;

    // A whole number written as 2.0 is the integer 2; 2.5 is not one.
    let cart = expect(
        &app,
        "POST",
        "/api/v1/cart/items",
        Some(&customer),
        Some(json!({ "variant_id": variant, "quantity": 2.0 })),
        201,
    )
    .await;
    assert_eq!(cart["items"][0]["quantity"], 2, "{cart}");
    let r = send(
        &app,
        "POST",
        "/api/v1/cart/items",
        Some(&customer),
        Some(json!({ "variant_id": variant, "quantity": 2.5 })),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["quantity"]);

    // A malformed X-Cart-Token is a 400 beside a bearer token too.
    let r = app
        .client
        .get(app.url("/api/v1/cart"))
        .bearer_auth(&customer)
        .header("x-cart-token", "has spaces in it")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400).await;

    // An upload's only part is its file: another part is named in a 422.
    let part = reqwest::multipart::Part::bytes(fixtures::png(10))
        .file_name("photo.png")
        .mime_str("image/png")
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("caption", "hello")
        .part("file", part);
    let r = app
        .client
        .post(app.url(&format!("/api/v1/products/{}/images", catalog.product_id)))
        .bearer_auth(&catalog.vendor)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["caption"]);

    // A slug is an identifier: not trimmed. A valid name without letters or
    // digits gets a slug of its own instead of a refusal.
    let r = send(
        &app,
        "POST",
        "/api/v1/categories",
        Some(&catalog.admin),
        Some(json!({ "name": "Summer", "slug": " summer " })),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["slug"]);
    let stars = expect(
        &app,
        "POST",
        "/api/v1/categories",
        Some(&catalog.admin),
        Some(json!({ "name": "★★★" })),
        201,
    )
    .await;
    assert!(stars["slug"].as_str().unwrap().starts_with("n-"), "{stars}");

    // Amounts an admin sets are bounded like prices, so no total overflows.
    let huge = json!({ "amount": 9_000_000_000_000_000_000_i64, "currency": "KZT" });
    let r = send(
        &app,
        "POST",
        "/api/v1/admin/shipping-methods",
        Some(&catalog.admin),
        Some(json!({ "name": "Rocket", "price": huge })),
    )
    .await;
    assert_eq!(
        error_fields(&assert_problem(r, 422).await),
        ["price.amount"]
    );
    let r = send(
        &app,
        "POST",
        "/api/v1/admin/coupons",
        Some(&catalog.admin),
        Some(json!({ "code": "BIG", "kind": "percent", "value": 10, "min_order": huge })),
    )
    .await;
    assert_eq!(
        error_fields(&assert_problem(r, 422).await),
        ["min_order.amount"]
    );
    // Money has exactly its two fields.
    let r = send(
        &app,
        "POST",
        "/api/v1/admin/shipping-methods",
        Some(&catalog.admin),
        Some(json!({ "name": "Rocket", "price": { "amount": 1, "currency": "KZT", "cents": 5 } })),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["price.cents"]);

    // An e-mail domain's labels are all there.
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({ "email": "ann@.example", "password": "correct-horse-9", "name": "Ann", "role": "customer" }),
        )
        .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["email"]);
}

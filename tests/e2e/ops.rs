use serde_json::Value;

use crate::harness::{RedisServer, TestApp};

#[tokio::test]
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

#[tokio::test]
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

#[tokio::test]
async fn metrics_expose_http_jobs_queues_and_outbox() {
    let app = TestApp::spawn().await;
    app.register("metrics@example.com").await;
    app.drain().await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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

#[tokio::test]
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
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().to_lowercase().contains("swagger"));
}

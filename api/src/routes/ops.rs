//! Liveness, readiness and Prometheus metrics.

use std::{sync::Arc, time::Duration};

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use bazaar_core::{
    config::{Config, Environment},
    jobs::Queue,
    outbox, queue_keys, redis_conn, telemetry,
};
use redis::aio::ConnectionManager;
use serde_json::json;
use sqlx::PgPool;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(ready))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, description = "{\"status\":\"ok\"}")))]
async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

fn outcome<E: std::fmt::Display>(r: Result<Result<(), E>, tokio::time::error::Elapsed>) -> String {
    match r {
        Ok(Ok(())) => "ok".into(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(_) => format!("error: no answer within {} ms", CHECK_TIMEOUT.as_millis()),
    }
}

/// 200 when PostgreSQL and Redis both answer, 503 naming what does not:
/// `{ "status": "ok" | "unavailable", "checks": { "database": "ok", "redis": "error: ..." } }`.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "database and Redis answer"),
    (status = 503, description = "something is down; `checks` says what")))]
async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let mut redis = state.redis.clone();
    let (database, redis) = tokio::join!(
        tokio::time::timeout(CHECK_TIMEOUT, async {
            sqlx::query("SELECT 1")
                .execute(&state.pool)
                .await
                .map(|_| ())
        }),
        tokio::time::timeout(CHECK_TIMEOUT, redis_conn::ping(&mut redis)),
    );
    let (database, redis) = (outcome(database), outcome(redis));
    let ok = database == "ok" && redis == "ok";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ok" } else { "unavailable" },
            "checks": { "database": database, "redis": redis },
        })),
    )
}

/// Prometheus metrics (text format): HTTP, jobs, queues, outbox. In
/// production (`BAZAAR_ENV=production`) they are not on the public listener
/// (404): serve them on `METRICS_BIND`, which every role honours.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, content_type = "text/plain", description = "Prometheus exposition format"),
    (status = 404, description = "production: see METRICS_BIND", body = crate::error::Problem, content_type = "application/problem+json")))]
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    if state.config.environment == Environment::Production {
        return crate::error::not_found().await.into_response();
    }
    render(&state.config, &state.pool, Some(state.redis.clone()))
        .await
        .into_response()
}

/// Refreshes the gauges every process can read (outbox, queue depth), so any
/// role's `/metrics` shows them, then renders everything recorded.
async fn render(
    config: &Config,
    pool: &PgPool,
    redis: Option<ConnectionManager>,
) -> impl IntoResponse {
    if let Ok(Ok(lag)) = tokio::time::timeout(CHECK_TIMEOUT, outbox::lag(pool)).await {
        metrics::gauge!("bazaar_outbox_pending").set(lag.pending as f64);
        metrics::gauge!("bazaar_outbox_lag_seconds").set(lag.lag_seconds);
    }
    if let Some(mut conn) = redis {
        for queue in Queue::ALL {
            let name = queue_keys::queue_name(&config.redis_prefix, queue.as_str());
            if let Ok(Ok(depth)) =
                tokio::time::timeout(CHECK_TIMEOUT, queue_keys::backlog(&mut conn, &name)).await
            {
                metrics::gauge!("bazaar_queue_depth", "queue" => queue.as_str()).set(depth as f64);
            }
        }
    }
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        telemetry::prometheus().render(),
    )
}

/// The router of `METRICS_BIND` for the worker and scheduler roles. The Redis
/// connection is made on the first scrape that can make it, then reused.
pub fn metrics_router(config: Arc<Config>, pool: PgPool) -> Router {
    let redis: Arc<tokio::sync::OnceCell<ConnectionManager>> = Arc::default();
    Router::new().route(
        "/metrics",
        get(move || {
            let (config, pool, redis) = (config.clone(), pool.clone(), redis.clone());
            async move {
                let conn = redis
                    .get_or_try_init(|| async {
                        tokio::time::timeout(
                            CHECK_TIMEOUT,
                            redis_conn::connect(&config.redis_url, config.redis_response_timeout),
                        )
                        .await
                        .map_err(|_| anyhow::anyhow!("timeout"))?
                    })
                    .await
                    .ok()
                    .cloned();
                render(&config, &pool, conn).await
            }
        }),
    )
}

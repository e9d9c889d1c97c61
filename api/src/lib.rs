//! The `api` role: axum routers, extractors, the error mapping and OpenAPI.
//! Handlers parse, authorize, call `bazaar_core` and map the result.

pub mod cache;
mod console;
pub mod drain;
pub mod error;
mod extract;
mod middleware;
mod openapi;
mod page;
mod recent;
mod routes;
mod shed;
mod state;

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::{extract::DefaultBodyLimit, serve::ListenerExt, Router};
use bazaar_core::config::Config;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use utoipa_swagger_ui::SwaggerUi;

pub use state::AppState;

/// The whole HTTP application: API routes, webhooks, health, metrics, docs.
pub fn app(state: AppState) -> Router {
    let (api, openapi) = routes::router().split_for_parts();
    let openapi_json = openapi::document(openapi, &state.shop.currency);
    let cors = cors(&state.config);
    let max_body = state.config.max_body_bytes;
    let shedder = shed::Shedder::new(&state.config.concurrency);
    Router::new()
        // A person who opens the server's address in a browser wants the docs.
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/docs") }),
        )
        .merge(api)
        .merge(console::router())
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let body = openapi_json.clone();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        )
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/openapi.json")))
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn(
            middleware::problem_for_bare_errors,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            middleware::panic_response,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(shedder, shed::limit))
        .layer(cors)
        .layer(axum::middleware::from_fn(middleware::observe))
        .layer(axum::middleware::from_fn(middleware::close_if_body_unread))
        .with_state(state)
}

fn cors(config: &Config) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(std::time::Duration::from_secs(3600));
    if config.cors_allowed_origins.is_empty()
        || config.cors_allowed_origins.iter().any(|o| o == "*")
    {
        // Bearer tokens, not cookies: allowing any origin exposes nothing.
        base.allow_origin(Any)
    } else {
        let origins = config
            .cors_allowed_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect::<Vec<http::HeaderValue>>();
        base.allow_origin(AllowOrigin::list(origins))
    }
}

/// Serves the API on `listener` until `shutdown`, then drains its
/// connections (see `drain`) and the requests in flight.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "api listening");
    let drain_limit = state.config.shutdown_drain;
    let listener = drain::DrainingListener::new(listener, shutdown.clone())?;
    let all_closed = listener.all_closed();
    let stopping = shutdown.clone();
    let app = app(state).layer(axum::middleware::from_fn(move |req, next| {
        drain::close_when_stopping(stopping.clone(), req, next)
    }));
    axum::serve(
        // tap_io: ConnectInfo<SocketAddr> for any listener whose address is one.
        listener.tap_io(|_| {}),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.cancelled().await;
        if tokio::time::timeout(drain_limit, all_closed).await.is_err() {
            tracing::warn!(
                ?drain_limit,
                "connections still open after the drain; closing them"
            );
        }
    })
    .await
    .context("serving HTTP")
}

/// `/metrics` alone, for the worker and scheduler roles (`METRICS_BIND`).
pub async fn serve_metrics(
    config: Arc<Config>,
    pool: PgPool,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    let app = routes::ops::metrics_router(config, pool);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .context("serving metrics")
}

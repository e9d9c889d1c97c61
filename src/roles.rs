//! Starting the process roles with shared connections, and stopping them on
//! SIGTERM/SIGINT after in-flight work is done.

use std::sync::Arc;

use anyhow::Context;
use bazaar_core::{config::Config, db, redis_conn, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
    pub scheduler: bool,
}

impl Roles {
    pub fn all() -> Self {
        Roles {
            api: true,
            worker: true,
            scheduler: true,
        }
    }
    pub fn only_api() -> Self {
        Roles {
            api: true,
            worker: false,
            scheduler: false,
        }
    }
    pub fn only_worker() -> Self {
        Roles {
            api: false,
            worker: true,
            scheduler: false,
        }
    }
    pub fn only_scheduler() -> Self {
        Roles {
            api: false,
            worker: false,
            scheduler: true,
        }
    }
}

pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let pool = db::prepare(&config.database_url, 2).await?;
    pool.close().await;
    tracing::info!("migrations applied");
    Ok(())
}

fn log_integrations(config: &Config) {
    for (name, enabled) in &config.integrations {
        if *enabled {
            tracing::info!(integration = name, "integration enabled");
        } else {
            tracing::info!(integration = name, "integration disabled (no credentials)");
        }
    }
}

pub async fn run(config: Config, roles: Roles) -> anyhow::Result<()> {
    let config = Arc::new(config);
    telemetry::prometheus();
    log_integrations(&config);
    let schedule = bazaar_scheduler::table::load(&bazaar_core::config::Env::process())?;
    let pool = db::prepare_with(
        &config.database_url,
        config.database_max_connections,
        config.database_acquire_timeout,
    )
    .await?;
    let redis = redis_conn::connect(&config.redis_url, config.redis_response_timeout).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));

    let mut tasks = tokio::task::JoinSet::new();
    if roles.api {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on BAZAAR_BIND={}", config.bind))?;
        let storage = bazaar_core::storage::Storage::from_url(&config.storage_url)?;
        tracing::info!(storage = %storage.description, "media storage");
        let payments = bazaar_integrations::wire::payment_providers(&config);
        let state = bazaar_api::AppState::new(
            config.clone(),
            pool.clone(),
            redis.clone(),
            storage,
            payments,
        )
        .with_messengers(bazaar_integrations::wire::messenger_webhooks(&config))
        .with_kaspi(bazaar_integrations::wire::kaspi_completion(&config));
        tasks.spawn(bazaar_api::serve(state, listener, shutdown.clone()));
    }
    // Every role serves its metrics on METRICS_BIND when it is set; the API
    // keeps them off its public listener in production.
    if let Some(addr) = config.metrics_bind {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on METRICS_BIND={addr}"))?;
        tasks.spawn(bazaar_api::serve_metrics(
            config.clone(),
            pool.clone(),
            listener,
            shutdown.clone(),
        ));
    }
    // Each role has its own pool, so running jobs (which hold a connection
    // per batch) can never starve the API, nor the API the jobs.
    if roles.worker {
        let worker_pool = bazaar_worker::connect_pool(&config).await?;
        tasks.spawn(bazaar_worker::run(
            config.clone(),
            worker_pool,
            shutdown.clone(),
        ));
    }
    if roles.scheduler {
        let scheduler_pool = db::connect(&config.database_url, 4).await?;
        tasks.spawn(bazaar_scheduler::run(
            config.clone(),
            scheduler_pool,
            schedule,
            shutdown.clone(),
        ));
    }

    let mut result = Ok(());
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a role panicked").and_then(|r| r);
        if !shutdown.is_cancelled() {
            // A role ended by itself: that is a failure even if it said Ok.
            shutdown.cancel();
            if result.is_ok() {
                result = Err(outcome
                    .err()
                    .unwrap_or_else(|| anyhow::anyhow!("a role stopped unexpectedly")));
            }
        } else if let Err(e) = outcome {
            if result.is_ok() {
                result = Err(e);
            }
        }
    }
    pool.close().await;
    if result.is_ok() {
        tracing::info!("stopped cleanly");
    }
    result
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight work");
    shutdown.cancel();
}

//! tracing (pretty on a terminal, JSON otherwise) and Sentry.

use std::io::IsTerminal;

use bazaar_core::config::{Config, LogFormat};
use secrecy::ExposeSecret;
use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

pub fn init(config: &Config) -> Option<sentry::ClientInitGuard> {
    let sentry = config.sentry_dsn.as_ref().map(|dsn| {
        sentry::init((
            dsn.expose_secret(),
            sentry::ClientOptions::new()
                .maybe_release(sentry::release_name!())
                .environment(match config.environment {
                    bazaar_core::config::Environment::Production => "production",
                    bazaar_core::config::Environment::Development => "development",
                }),
        ))
    });
    // PostgreSQL's notices arrive at info level; the one every start gets
    // ("relation _sqlx_migrations already exists, skipping") reads like an
    // error. Warnings and up still show; RUST_LOG overrides all of it.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let format = config
        .log_format
        .unwrap_or(if std::io::stdout().is_terminal() {
            LogFormat::Pretty
        } else {
            LogFormat::Json
        });
    let registry = tracing_subscriber::registry().with(filter).with(
        sentry
            .as_ref()
            .map(|_| sentry::integrations::tracing::ErrorLayer::new()),
    );
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer()).try_init(),
    };
    sentry
}

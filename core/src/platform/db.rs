//! PostgreSQL pool, database creation and migrations.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
    ConnectOptions, Connection, PgConnection, PgPool,
};

use crate::config::mask_url;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

fn unreachable_hint(url: &str) -> String {
    format!(
        "cannot connect to PostgreSQL at {} (is it running? on this machine: \
         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`; or set DATABASE_URL)",
        mask_url(url)
    )
}

/// Creates the database named in `url` when it does not exist yet.
pub async fn create_database_if_missing(url: &str) -> anyhow::Result<()> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("invalid DATABASE_URL {}", mask_url(url)))?;
    let name = options
        .get_database()
        .map(str::to_owned)
        .unwrap_or_else(|| options.get_username().to_owned());
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .with_context(|| unreachable_hint(url))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", name.replace('"', "\"\""));
        match // The name is quoted as an identifier above; CREATE DATABASE takes no parameters.
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}"))).execute(&mut admin).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Another process created it between our check and our CREATE.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).context(format!("creating database {name}")),
        }
    }
    admin.close().await.ok();
    Ok(())
}

/// How long a caller waits for a free connection unless told otherwise.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    connect_with(url, max_connections, None, ACQUIRE_TIMEOUT).await
}

/// Whether the URL names this machine (a loopback address or a socket
/// directory) without saying how to use TLS.
fn loopback_without_sslmode(url: &str, options: &PgConnectOptions) -> bool {
    if url.contains("sslmode=") {
        return false;
    }
    let host = options.get_host();
    host.starts_with('/')
        || host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `idle_in_transaction` ends sessions that hold a transaction open without
/// sending anything for that long: a worker that vanished from the network
/// must not keep its jobs' row locks until TCP gives up.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    idle_in_transaction: Option<Duration>,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    let mut options = PgConnectOptions::from_str(url)
        .with_context(|| format!("invalid DATABASE_URL {}", mask_url(url)))?
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(1));
    // sqlx's default `prefer` negotiates TLS whenever the server offers it:
    // to a database on this machine that is encryption of nothing, and it
    // cost about a fifth of a checkout's CPU. `?sslmode=` in the URL decides
    // otherwise.
    if loopback_without_sslmode(url, &options) {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    if let Some(limit) = idle_in_transaction {
        options = options.options([(
            "idle_in_transaction_session_timeout",
            format!("{}", limit.as_millis()),
        )]);
    }
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .with_context(|| unreachable_hint(url))
}

/// Creates the database if needed, connects and applies pending migrations.
/// Concurrent callers are safe: sqlx serialises migrations with an advisory lock.
pub async fn prepare(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    prepare_with(url, max_connections, ACQUIRE_TIMEOUT).await
}

/// [`prepare`] with callers waiting at most `acquire_timeout` for a connection.
pub async fn prepare_with(
    url: &str,
    max_connections: u32,
    acquire_timeout: Duration,
) -> anyhow::Result<PgPool> {
    create_database_if_missing(url).await?;
    let pool = connect_with(url, max_connections, None, acquire_timeout).await?;
    MIGRATOR.run(&pool).await.context("applying migrations")?;
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(url: &str) -> bool {
        loopback_without_sslmode(url, &PgConnectOptions::from_str(url).unwrap())
    }

    #[test]
    fn tls_is_skipped_only_for_this_machine_when_the_url_is_silent() {
        assert!(loopback("postgres://postgres@127.0.0.1:5432/bazaar"));
        assert!(loopback("postgres://postgres@localhost/bazaar"));
        assert!(loopback("postgres://postgres@[::1]:5432/bazaar"));
        assert!(!loopback(
            "postgres://postgres@127.0.0.1/bazaar?sslmode=require"
        ));
        assert!(!loopback("postgres://postgres@db.example.com/bazaar"));
        assert!(!loopback("postgres://postgres@10.0.0.5/bazaar"));
    }
}

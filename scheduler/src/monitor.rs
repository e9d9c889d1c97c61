//! One health-check tick: claim it (one replica per tick), check every
//! component, store the run, and apply the alerting rule.
//!
//! Claiming and the alert state live in PostgreSQL. When the database itself is
//! down, the claim falls back to a Redis `SET NX` and the state to this
//! process's memory, so "database down" is still reported.

use std::sync::Arc;

use anyhow::Context;
use bazaar_core::{
    config::Config,
    health::{self, AlertAction, AlertState, Report},
    redis_conn,
};
use bazaar_integrations::{smtp::Mailer, telegram::TelegramClient};
use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::alerts::{Alert, Alerter};

pub struct HealthMonitor {
    config: Arc<Config>,
    pool: PgPool,
    redis: Mutex<Option<ConnectionManager>>,
    alerter: Alerter,
    runner: String,
    /// Alert state used while the database is unreachable.
    fallback: Mutex<AlertState>,
}

impl HealthMonitor {
    pub fn new(config: Arc<Config>, pool: PgPool) -> anyhow::Result<Self> {
        let telegram = match (&config.telegram.bot_token, config.telegram.admin_chat_id) {
            (Some(token), Some(chat)) => Some((
                TelegramClient::new(token.expose_secret(), &config.telegram.api_url)
                    .map_err(anyhow::Error::msg)?,
                chat,
            )),
            _ => {
                tracing::info!("Telegram admin alerts disabled (TELEGRAM_BOT_TOKEN and TELEGRAM_ADMIN_CHAT_ID unset)");
                None
            }
        };
        let mailer = if config.admin_emails.is_empty() {
            tracing::info!("admin alert mails disabled (ADMIN_EMAILS unset)");
            None
        } else {
            let smtp_url = config.smtp_url.as_ref().map(|s| s.expose_secret());
            let mailer = Mailer::new(smtp_url, &config.mail_from, &config.mail_outbox_dir)
                .context("configuring alert e-mail")?;
            Some((mailer, config.admin_emails.clone()))
        };
        let runner = format!(
            "{}-{}-{:04x}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "scheduler".into()),
            std::process::id(),
            rand::random::<u16>()
        );
        Ok(Self {
            config,
            pool,
            redis: Mutex::new(None),
            alerter: Alerter { telegram, mailer },
            runner,
            fallback: Mutex::new(AlertState::default()),
        })
    }

    /// The cached connection, or a new one; the error says why none could be made.
    /// A connection that answered just now. The cached one is reused only if
    /// it answers a PING; otherwise a fresh connection is made, so "Redis is
    /// down" means Redis, not this replica's stale socket (which would make
    /// replicas disagree and the alert flap after a Redis restart).
    async fn redis(&self) -> Result<ConnectionManager, String> {
        let mut slot = self.redis.lock().await;
        let timeout = self.config.health.check_timeout;
        if let Some(conn) = slot.as_mut() {
            if let Ok(Ok(())) = tokio::time::timeout(timeout, redis_conn::ping(conn)).await {
                return Ok(conn.clone());
            }
            *slot = None;
        }
        let connect =
            redis_conn::connect(&self.config.redis_url, self.config.redis_response_timeout);
        let conn = match tokio::time::timeout(timeout, connect).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(format!("{e:#}")),
            Err(_) => return Err(format!("no connection within {} ms", timeout.as_millis())),
        };
        *slot = Some(conn.clone());
        Ok(conn)
    }

    #[tracing::instrument(name = "health_check", skip(self), fields(runner = %self.runner))]
    pub async fn run_tick(&self, tick: DateTime<Utc>) {
        if !self.claim(tick).await {
            tracing::debug!("tick already taken by another scheduler");
            return;
        }
        let mut conn = self.redis().await;
        let report = health::check(
            &self.pool,
            conn.as_mut().map_err(|e| e.clone()),
            &self.config.redis_prefix,
            &self.config.health,
            &self.config.integrations,
        )
        .await;
        let status = if report.healthy() { "ok" } else { "unhealthy" };
        metrics::counter!("bazaar_health_runs_total", "status" => status).increment(1);
        if let Err(e) = health::finish_run(&self.pool, tick, &report).await {
            tracing::warn!(error = %e, "could not store the health run");
        }
        self.apply_alert_rule(tick, &report).await;
        tracing::info!(%status, failing = ?report.failing(), "health check done");
    }

    async fn claim(&self, tick: DateTime<Utc>) -> bool {
        match health::claim_tick(&self.pool, tick, &self.runner).await {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim the tick in PostgreSQL; trying Redis");
                let Ok(mut conn) = self.redis().await else {
                    return true;
                };
                let key = format!(
                    "{}:health:tick:{}",
                    self.config.redis_prefix,
                    tick.timestamp()
                );
                let set: redis::RedisResult<Option<String>> = redis::cmd("SET")
                    .arg(&key)
                    .arg(&self.runner)
                    .arg("NX")
                    .arg("EX")
                    .arg(3600)
                    .query_async(&mut conn)
                    .await;
                // Neither store answers: run, duplicates beat silence.
                set.map(|r| r.is_some()).unwrap_or(true)
            }
        }
    }

    /// Decides under the alert-state row lock, commits, then sends: a slow
    /// channel never holds the lock, and a failed commit never leads to a
    /// second send. With the database down the decision uses this process's
    /// memory (several replicas may then each alert: duplicates beat silence).
    async fn apply_alert_rule(&self, tick: DateTime<Utc>, report: &Report) {
        let failing = report.failing();
        let summary = failing.join("; ");
        let repeat = self.config.alert_repeat;
        let persisted = async {
            let mut tx = self.pool.begin().await?;
            let state = health::lock_alert_state(&mut tx).await?;
            let (action, next) =
                health::decide(&state, report.healthy(), &summary, Utc::now(), repeat);
            health::save_alert_state(&mut tx, &next).await?;
            tx.commit().await?;
            Ok::<_, sqlx::Error>((action, state, next))
        }
        .await;
        let (action, before) = {
            let mut fallback = self.fallback.lock().await;
            match persisted {
                Ok((action, before, next)) => {
                    *fallback = next;
                    (action, before)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert state unavailable in PostgreSQL; using memory");
                    let before = fallback.clone();
                    let (action, next) =
                        health::decide(&before, report.healthy(), &summary, Utc::now(), repeat);
                    *fallback = next;
                    (action, before)
                }
            }
        };
        self.notify(action, &before, &failing, tick).await;
    }

    async fn notify(
        &self,
        action: AlertAction,
        before: &AlertState,
        failing: &[String],
        tick: DateTime<Utc>,
    ) {
        let components: Vec<&str> = failing
            .iter()
            .map(|f| f.split(':').next().unwrap_or(f))
            .collect();
        let alert = match action {
            AlertAction::None => return,
            AlertAction::Alert => Alert {
                subject: format!("[bazaar] ALERT: unhealthy ({})", components.join(", ")),
                lines: failing.to_vec(),
                key: format!("alert:{}", tick.timestamp()),
            },
            AlertAction::Repeat => Alert {
                subject: format!(
                    "[bazaar] ALERT: still unhealthy ({})",
                    components.join(", ")
                ),
                lines: failing
                    .iter()
                    .cloned()
                    .chain(
                        before
                            .unhealthy_since
                            .map(|s| format!("unhealthy since {}", s.to_rfc3339())),
                    )
                    .collect(),
                key: format!("alert:{}", tick.timestamp()),
            },
            AlertAction::Recovered => Alert {
                subject: "[bazaar] RECOVERED: all components healthy".into(),
                lines: vec![match before.unhealthy_since {
                    Some(since) => format!(
                        "unhealthy from {} for {} s ({})",
                        since.to_rfc3339(),
                        (Utc::now() - since).num_seconds(),
                        before.failing
                    ),
                    None => "all components healthy".into(),
                }],
                key: format!("recovered:{}", tick.timestamp()),
            },
        };
        tracing::warn!(subject = %alert.subject, "sending admin alert");
        self.alerter.send(&alert).await;
    }
}

//! Health checks and the alerting rule. The scheduler runs the checks itself
//! (not through a queue) so that a broken Redis or database is still reported;
//! each run is stored in `health_runs`, one per tick.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::{config::HealthThresholds, jobs::Queue, outbox, queue_keys};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
    /// Could not be determined because something it depends on is down.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

impl Component {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub components: Vec<Component>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.components.iter().all(|c| c.status != Status::Error)
    }

    /// "redis: connection refused" for each failing component.
    pub fn failing(&self) -> Vec<String> {
        self.components
            .iter()
            .filter(|c| c.status == Status::Error)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect()
    }
}

async fn timed<T, E: std::fmt::Display>(
    limit: Duration,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(short_error(&e.to_string())),
        Err(_) => Err(format!("timed out after {} ms", limit.as_millis())),
    }
}

/// The root cause of an error chain, without the noise of wrapper layers.
fn short_error(message: &str) -> String {
    let lower = message.to_lowercase();
    if lower.contains("connection refused") {
        "connection refused".into()
    } else {
        message.chars().take(200).collect()
    }
}

/// Runs every check; never fails, every problem becomes a component status.
/// `redis` is the connection, or why none could be made.
pub async fn check(
    pool: &PgPool,
    redis: Result<&mut ConnectionManager, String>,
    redis_prefix: &str,
    thresholds: &HealthThresholds,
    integrations: &[(&'static str, bool)],
) -> Report {
    let limit = thresholds.check_timeout;
    let mut components = Vec::new();

    let db = timed(limit, sqlx::query("SELECT 1").execute(pool)).await;
    components.push(match &db {
        Ok(_) => Component::new("database", Status::Ok, "ok"),
        Err(e) => Component::new("database", Status::Error, e.clone()),
    });
    let (mut redis, redis_ok) = match redis {
        Ok(conn) => {
            let ping = timed(limit, crate::redis_conn::ping(conn)).await;
            (Some(conn), ping)
        }
        Err(e) => (None, Err(short_error(&e))),
    };
    components.push(match &redis_ok {
        Ok(_) => Component::new("redis", Status::Ok, "ok"),
        Err(e) => Component::new("redis", Status::Error, e.clone()),
    });

    let counts = match db {
        Ok(_) => timed(limit, outbox::queue_counts(pool)).await.ok(),
        Err(_) => None,
    };
    for queue in Queue::ALL {
        let backlog = match (&redis_ok, redis.as_deref_mut()) {
            (Ok(_), Some(conn)) => timed(
                limit,
                queue_keys::backlog(conn, &queue_keys::queue_name(redis_prefix, queue.as_str())),
            )
            .await
            .ok(),
            _ => None,
        };
        let name = format!("queue:{queue}");
        let row = counts
            .as_ref()
            .and_then(|c| c.iter().find(|r| r.queue == queue.as_str()));
        components.push(match (row, backlog) {
            (Some(row), redis_backlog) => {
                let detail = format!(
                    "pending {}, in redis {}, failed in the last hour {}",
                    row.pending,
                    redis_backlog.map_or("unknown".to_owned(), |b| b.to_string()),
                    row.failed_last_hour
                );
                let bad = row.pending > thresholds.max_backlog
                    || row.failed_last_hour > thresholds.max_failed_last_hour;
                Component::new(name, if bad { Status::Error } else { Status::Ok }, detail)
            }
            (None, _) => Component::new(name, Status::Unknown, "database unavailable"),
        });
    }

    components.push(match counts {
        Some(_) => match timed(limit, outbox::lag(pool)).await {
            Ok(lag) => {
                let detail = format!("{} waiting, oldest {:.1} s", lag.pending, lag.lag_seconds);
                let bad = lag.lag_seconds > thresholds.max_outbox_lag.as_secs_f64();
                Component::new(
                    "outbox",
                    if bad { Status::Error } else { Status::Ok },
                    detail,
                )
            }
            Err(e) => Component::new("outbox", Status::Unknown, e),
        },
        None => Component::new("outbox", Status::Unknown, "database unavailable"),
    });

    let enabled: Vec<&str> = integrations
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    components.push(Component::new(
        "integrations",
        Status::Ok,
        if enabled.is_empty() {
            "none configured".to_owned()
        } else {
            format!("enabled: {}", enabled.join(", "))
        },
    ));
    Report { components }
}

#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct AlertState {
    pub unhealthy_since: Option<DateTime<Utc>>,
    pub last_alert_at: Option<DateTime<Utc>>,
    pub failing: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    None,
    /// The change from healthy to unhealthy.
    Alert,
    /// Still unhealthy after the repeat interval.
    Repeat,
    Recovered,
}

/// The alerting rule: one alert on the change to unhealthy, a repeat every
/// `repeat` while it lasts, one recovery message when all is well again.
pub fn decide(
    state: &AlertState,
    healthy: bool,
    failing: &str,
    now: DateTime<Utc>,
    repeat: Duration,
) -> (AlertAction, AlertState) {
    match (healthy, state.unhealthy_since) {
        (true, None) => (AlertAction::None, state.clone()),
        (true, Some(_)) => (AlertAction::Recovered, AlertState::default()),
        (false, None) => (
            AlertAction::Alert,
            AlertState {
                unhealthy_since: Some(now),
                last_alert_at: Some(now),
                failing: failing.to_owned(),
            },
        ),
        (false, Some(since)) => {
            let last = state.last_alert_at.unwrap_or(since);
            let due = (now - last).to_std().map(|d| d >= repeat).unwrap_or(false);
            if due {
                (
                    AlertAction::Repeat,
                    AlertState {
                        unhealthy_since: Some(since),
                        last_alert_at: Some(now),
                        failing: failing.to_owned(),
                    },
                )
            } else {
                (
                    AlertAction::None,
                    AlertState {
                        failing: failing.to_owned(),
                        ..state.clone()
                    },
                )
            }
        }
    }
}

/// Claims a tick for this runner. Exactly one caller gets `true` per tick.
pub async fn claim_tick(pool: &PgPool, tick: DateTime<Utc>, runner: &str) -> sqlx::Result<bool> {
    let claimed = sqlx::query(
        "INSERT INTO health_runs (tick_at, runner) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(tick)
    .bind(runner)
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

pub async fn finish_run(pool: &PgPool, tick: DateTime<Utc>, report: &Report) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO health_runs (tick_at, runner, status, components, finished_at)
         VALUES ($1, 'unknown', $2, $3, now())
         ON CONFLICT (tick_at) DO UPDATE SET status = $2, components = $3, finished_at = now()",
    )
    .bind(tick)
    .bind(if report.healthy() { "ok" } else { "unhealthy" })
    .bind(sqlx::types::Json(&report.components))
    .execute(pool)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Run {
    pub tick_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: String,
    #[sqlx(json)]
    pub components: Vec<Component>,
    pub runner: String,
}

pub async fn list_runs(pool: &PgPool, limit: i64, offset: i64) -> sqlx::Result<(Vec<Run>, i64)> {
    let runs = sqlx::query_as(
        "SELECT tick_at, started_at, finished_at, status, components, runner
         FROM health_runs ORDER BY tick_at DESC LIMIT $1 OFFSET $2",
    )
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM health_runs")
        .fetch_one(pool)
        .await?;
    Ok((runs, total))
}

pub async fn lock_alert_state(conn: &mut PgConnection) -> sqlx::Result<AlertState> {
    sqlx::query_as(
        "SELECT unhealthy_since, last_alert_at, failing FROM alert_state WHERE id = 1 FOR UPDATE",
    )
    .fetch_one(conn)
    .await
}

pub async fn save_alert_state(conn: &mut PgConnection, s: &AlertState) -> sqlx::Result<()> {
    sqlx::query("UPDATE alert_state SET unhealthy_since = $1, last_alert_at = $2, failing = $3 WHERE id = 1")
        .bind(s.unhealthy_since)
        .bind(s.last_alert_at)
        .bind(&s.failing)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn purge_runs(pool: &PgPool, keep: Duration) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM health_runs WHERE tick_at < now() - make_interval(secs => $1)")
            .bind(keep.as_secs_f64())
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + min * 60, 0).unwrap()
    }

    #[test]
    fn alerts_once_repeats_after_the_interval_and_recovers_once() {
        let repeat = Duration::from_secs(30 * 60);
        let mut state = AlertState::default();
        let mut actions = Vec::new();
        for (minute, healthy) in [
            (0, true),
            (1, false),
            (2, false),
            (30, false),
            (31, false),
            (32, true),
            (33, true),
        ] {
            let (action, next) = decide(
                &state,
                healthy,
                "redis: connection refused",
                at(minute),
                repeat,
            );
            actions.push(action);
            state = next;
        }
        use AlertAction::*;
        assert_eq!(actions, [None, Alert, None, None, Repeat, Recovered, None]);
    }

    #[test]
    fn failing_lists_only_components_in_error() {
        let r = Report {
            components: vec![
                Component::new("database", Status::Ok, "ok"),
                Component::new("redis", Status::Error, "connection refused"),
                Component::new("outbox", Status::Unknown, "database unavailable"),
            ],
        };
        assert!(!r.healthy());
        assert_eq!(r.failing(), ["redis: connection refused"]);
    }
}

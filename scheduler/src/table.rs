//! The cron table. Each entry's schedule can be overridden with
//! `SCHEDULE_<JOB>` (6 fields, seconds first; a 5-field expression means
//! second 0).
//!
//! Ticks are computed here with the `cron` crate rather than apalis-cron: its
//! stream is in-memory per replica and its worker dies when a handler outlives
//! the period, while bazaar needs the tick's timestamp to de-duplicate
//! replicas and must keep ticking whatever a handler does.

use std::{future::Future, str::FromStr};

use bazaar_core::config::Env;
use chrono::{DateTime, Utc};
use cron::Schedule;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduledJob {
    HealthCheck,
    Cleanup,
    ExpireReservations,
    /// The Kaspi order pull (only while Kaspi is enabled).
    KaspiOrders,
    /// The Ozon posting pull (only while Ozon is enabled).
    OzonOrders,
    /// Stock, prices and cards pushed to Ozon.
    MarketplaceSync,
}

impl ScheduledJob {
    pub const ALL: [ScheduledJob; 6] = [
        ScheduledJob::HealthCheck,
        ScheduledJob::Cleanup,
        ScheduledJob::ExpireReservations,
        ScheduledJob::KaspiOrders,
        ScheduledJob::OzonOrders,
        ScheduledJob::MarketplaceSync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ScheduledJob::HealthCheck => "health_check",
            ScheduledJob::Cleanup => "cleanup",
            ScheduledJob::ExpireReservations => "expire_reservations",
            ScheduledJob::KaspiOrders => "kaspi_orders",
            ScheduledJob::OzonOrders => "ozon_orders",
            ScheduledJob::MarketplaceSync => "marketplace_sync",
        }
    }

    pub fn default_expression(self) -> &'static str {
        match self {
            ScheduledJob::HealthCheck => "0 * * * * *",
            ScheduledJob::Cleanup => "0 17 * * * *",
            ScheduledJob::ExpireReservations => "15 * * * * *",
            // New orders wait for acceptance: every two minutes.
            ScheduledJob::KaspiOrders => "30 */2 * * * *",
            ScheduledJob::OzonOrders => "45 */2 * * * *",
            // A sale reaches Ozon within a minute: a figure waits for the
            // next tick, at most 30 s per product and warehouse (Ozon's rule).
            ScheduledJob::MarketplaceSync => "*/10 * * * * *",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub job: ScheduledJob,
    pub expression: String,
    pub schedule: Schedule,
}

/// A 5-field (minute-first) expression gets second 0 in front.
pub fn normalize(expression: &str) -> String {
    let expression = expression.trim();
    if expression.split_whitespace().count() == 5 {
        format!("0 {expression}")
    } else {
        expression.to_owned()
    }
}

pub fn load(env: &Env<'_>) -> anyhow::Result<Vec<Entry>> {
    ScheduledJob::ALL
        .into_iter()
        .map(|job| {
            let var = format!("SCHEDULE_{}", job.name().to_ascii_uppercase());
            let expression = normalize(
                &env.get(&var)
                    .unwrap_or_else(|| job.default_expression().into()),
            );
            let schedule = Schedule::from_str(&expression)
                .map_err(|e| anyhow::anyhow!("invalid value for {var}: {expression:?}: {e}"))?;
            Ok(Entry {
                job,
                expression,
                schedule,
            })
        })
        .collect()
}

/// Calls `fire(tick)` at every tick of `schedule` until `shutdown`. Each tick
/// runs in its own task, so a slow run never delays or skips the next tick;
/// on shutdown the runs in progress are awaited.
pub async fn drive<F, Fut>(schedule: &Schedule, fire: F, shutdown: CancellationToken)
where
    F: Fn(DateTime<Utc>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut after = Utc::now();
    let mut running = tokio::task::JoinSet::new();
    while let Some(tick) = schedule.after(&after).next() {
        let wait = (tick - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        running.spawn(fire(tick));
        while running.try_join_next().is_some() {}
        after = tick;
    }
    while running.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn five_field_expressions_mean_second_zero() {
        assert_eq!(normalize("*/5 * * * *"), "0 */5 * * * *");
        assert_eq!(normalize("*/30 * * * * *"), "*/30 * * * * *");
    }

    #[test]
    fn overrides_replace_defaults_and_bad_ones_name_the_variable() {
        let vars: HashMap<&str, &str> = [("SCHEDULE_HEALTH_CHECK", "*/30 * * * * *")].into();
        let entries = load(&Env::new(|k| vars.get(k).map(|v| v.to_string()))).unwrap();
        assert_eq!(entries[0].expression, "*/30 * * * * *");
        assert_eq!(entries[1].expression, "0 17 * * * *");

        let bad: HashMap<&str, &str> = [("SCHEDULE_CLEANUP", "every hour")].into();
        let err = load(&Env::new(|k| bad.get(k).map(|v| v.to_string()))).unwrap_err();
        assert!(err.to_string().contains("SCHEDULE_CLEANUP"));
    }
}

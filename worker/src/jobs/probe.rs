use std::time::Duration;

use bazaar_core::{jobs::Probe, outbox::LockedJob};
use chrono::Utc;
use sqlx::PgConnection;

use super::JobError;

/// Records when the probe was enqueued and started; `fail_times` makes the
/// first attempts fail, to exercise the retry policy.
pub async fn run(conn: &mut PgConnection, job: &LockedJob, probe: Probe) -> Result<(), JobError> {
    let started_at = Utc::now();
    if (job.attempts as u32) < probe.fail_times {
        return Err(JobError::retry(format!(
            "probe asked to fail {} times",
            probe.fail_times
        )));
    }
    if probe.work_ms > 0 {
        tokio::time::sleep(Duration::from_millis(probe.work_ms)).await;
    }
    sqlx::query(
        "INSERT INTO job_probes (idempotency_key, enqueued_at, started_at) VALUES ($1, $2, $3)",
    )
    .bind(&probe.key)
    .bind(job.created_at)
    .bind(started_at)
    .execute(conn)
    .await
    .map_err(|e| JobError::retry(format!("recording probe: {e}")))?;
    Ok(())
}

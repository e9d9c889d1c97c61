//! `ops.probe`: a row in `job_probes`, to measure the pipeline (benchmarks)
//! and prove exactly-once execution (chaos tests).

use std::time::Duration;

use bazaar_core::jobs::Probe;
use chrono::Utc;
use sqlx::PgConnection;

use super::{Context, DatabaseHandler, JobError, Outcome};

pub struct ProbeHandler;

impl DatabaseHandler for ProbeHandler {
    type Job = Probe;

    /// Records when the probe was enqueued and started; `fail_times` makes
    /// the first attempts fail, to exercise the retry policy.
    async fn run(cx: Context<'_>, conn: &mut PgConnection, probe: Probe) -> Outcome {
        run(cx, conn, probe).await
    }
}

async fn run(cx: Context<'_>, conn: &mut PgConnection, probe: Probe) -> Outcome {
    let job = cx.job;
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

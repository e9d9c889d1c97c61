//! Admin views of the machinery: health-check runs and job queues.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use bazaar_core::{health, jobs::Queue, outbox, queue_keys};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AdminUser, Json, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health_runs))
        .routes(routes!(jobs))
        .routes(routes!(retry_job))
        .routes(routes!(discard_job))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComponentView {
    #[schema(example = "redis")]
    name: String,
    /// `ok`, `error` or `unknown`.
    status: String,
    #[schema(example = "connection refused")]
    detail: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthRunView {
    /// The scheduled tick this run belongs to (one run per tick).
    tick_at: DateTime<Utc>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    /// `ok`, `unhealthy`, or `running`.
    status: String,
    components: Vec<ComponentView>,
    /// Which scheduler process ran it.
    runner: String,
}

/// Recent health-check runs, newest first.
#[utoipa::path(get, path = "/api/v1/admin/health", tag = "admin", security(("bearer" = [])),
    params(Pagination),
    responses((status = 200, body = Page<HealthRunView>), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn health_runs(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
) -> ApiResult<Json<Page<HealthRunView>>> {
    let (runs, total) = health::list_runs(&state.pool, page.per_page(), page.offset()).await?;
    let items = runs
        .into_iter()
        .map(|r| HealthRunView {
            tick_at: r.tick_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status,
            components: r
                .components
                .into_iter()
                .map(|c| ComponentView {
                    name: c.name,
                    status: serde_json::to_value(c.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    detail: c.detail,
                })
                .collect(),
            runner: r.runner,
        })
        .collect();
    Ok(Json(Page::new(items, page, total)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub(crate) queue: String,
    /// Not finished: waiting in the outbox or in Redis, or running.
    pub(crate) pending: i64,
    /// Fetched by a live worker and not yet finished (from Redis; null when
    /// Redis does not answer).
    pub(crate) running: Option<u64>,
    pub(crate) done: i64,
    pub(crate) failed: i64,
    /// Failed jobs an admin discarded (kept, not deleted).
    pub(crate) discarded: i64,
    /// Jobs that needed more than one attempt.
    pub(crate) retried: i64,
    pub(crate) failed_last_hour: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FailureView {
    pub(crate) id: Uuid,
    pub(crate) queue: String,
    pub(crate) kind: String,
    pub(crate) attempts: i32,
    pub(crate) last_error: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobsView {
    pub(crate) queues: Vec<QueueView>,
    pub(crate) latest_failures: Vec<FailureView>,
}

/// Per queue: pending, running, done, failed and retried jobs; the latest failures.
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = JobsView), (status = 403, body = Problem, content_type = "application/problem+json")))]
async fn jobs(State(state): State<AppState>, _admin: AdminUser) -> ApiResult<Json<JobsView>> {
    Ok(Json(jobs_view(&state).await?))
}

/// The jobs overview, for the API and the console.
pub(crate) async fn jobs_view(state: &AppState) -> ApiResult<JobsView> {
    // One snapshot for counts and failures, so they agree with each other.
    let mut tx = state.pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut redis = state.redis.clone();
    let mut queues = Vec::new();
    for c in outbox::queue_counts(&mut *tx).await? {
        let name = queue_keys::queue_name(&state.config.redis_prefix, &c.queue);
        let running = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            queue_keys::inflight(&mut redis, &name),
        )
        .await
        .ok()
        .and_then(Result::ok);
        queues.push(QueueView {
            queue: c.queue,
            pending: c.pending,
            running,
            done: c.done,
            failed: c.failed,
            discarded: c.discarded,
            retried: c.retried,
            failed_last_hour: c.failed_last_hour,
        });
    }
    let latest_failures = outbox::latest_failures(&mut *tx, 20)
        .await?
        .into_iter()
        .map(|f| FailureView {
            id: f.id,
            queue: f.queue,
            kind: f.kind,
            attempts: f.attempts,
            last_error: f.last_error,
            created_at: f.created_at,
            finished_at: f.finished_at,
        })
        .collect();
    Ok(JobsView {
        queues,
        latest_failures,
    })
}

/// Put a failed job back in line (it gets a fresh attempt).
#[utoipa::path(post, path = "/api/v1/admin/jobs/{queue}/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("queue" = String, Path, description = "queue name"), ("id" = Uuid, Path, description = "job id")),
    responses((status = 202), (status = 404, description = "no failed job with that id in that queue", body = Problem, content_type = "application/problem+json")))]
async fn retry_job(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path((queue, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no failed job with that id in that queue",
        )
    };
    let queue = Queue::parse(&queue).ok_or_else(not_found)?;
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    if outbox::retry_failed(&state.pool, queue, id).await? {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(not_found())
    }
}

/// Give up on a failed job. It is kept, marked `discarded` with who did
/// it, until the failed-job retention purges it; it never runs again.
#[utoipa::path(post, path = "/api/v1/admin/jobs/{queue}/{id}/discard", tag = "admin", operation_id = "discard_job",
    security(("bearer" = [])),
    params(("queue" = String, Path, description = "queue name"), ("id" = Uuid, Path, description = "job id")),
    responses((status = 204, description = "discarded"),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no failed job with that id in that queue", body = Problem, content_type = "application/problem+json")))]
async fn discard_job(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path((queue, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no failed job with that id in that queue",
        )
    };
    let queue = Queue::parse(&queue).ok_or_else(not_found)?;
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    if outbox::discard_failed(&state.pool, queue, id, admin.id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}

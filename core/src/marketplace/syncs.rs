//! Where each marketplace sync stands: a cursor the sync owns (saved as it
//! goes, so a run that fails part-way resumes where it stopped), when it
//! last started and succeeded, its last error and what its last run did.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use super::Marketplace;
use crate::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    /// Pull new orders (and re-read open ones).
    Orders,
    /// Push stock figures.
    Stock,
    /// Push prices.
    Prices,
    /// Create or update product cards.
    Products,
}

names!(SyncKind {
    Orders => "orders",
    Stock => "stock",
    Prices => "prices",
    Products => "products",
});

/// The cursor of a sync, `None` before its first run.
pub async fn cursor<T: DeserializeOwned>(
    pool: &PgPool,
    m: Marketplace,
    kind: SyncKind,
) -> Result<Option<T>> {
    let raw: Option<Option<serde_json::Value>> = sqlx::query_scalar(
        "SELECT cursor FROM marketplace_syncs WHERE marketplace = $1 AND kind = $2",
    )
    .bind(m)
    .bind(kind.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(raw.flatten().and_then(|v| serde_json::from_value(v).ok()))
}

/// Saves progress: the next run starts from `cursor`.
pub async fn save_cursor<T: Serialize>(
    conn: &mut PgConnection,
    m: Marketplace,
    kind: SyncKind,
    cursor: &T,
) -> Result<()> {
    let value = serde_json::to_value(cursor).map_err(|e| crate::Error::Internal(e.into()))?;
    sqlx::query(
        "INSERT INTO marketplace_syncs (marketplace, kind, cursor) VALUES ($1, $2, $3)
         ON CONFLICT (marketplace, kind) DO UPDATE SET cursor = EXCLUDED.cursor",
    )
    .bind(m)
    .bind(kind.as_str())
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn started(pool: &PgPool, m: Marketplace, kind: SyncKind) -> Result<()> {
    sqlx::query(
        "INSERT INTO marketplace_syncs (marketplace, kind, last_started_at) VALUES ($1, $2, now())
         ON CONFLICT (marketplace, kind) DO UPDATE SET last_started_at = now()",
    )
    .bind(m)
    .bind(kind.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn succeeded(
    pool: &PgPool,
    m: Marketplace,
    kind: SyncKind,
    counts: serde_json::Value,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO marketplace_syncs (marketplace, kind, last_success_at, counts) VALUES ($1, $2, now(), $3)
         ON CONFLICT (marketplace, kind) DO UPDATE SET last_success_at = now(), counts = EXCLUDED.counts",
    )
    .bind(m)
    .bind(kind.as_str())
    .bind(counts)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn failed(pool: &PgPool, m: Marketplace, kind: SyncKind, error: &str) -> Result<()> {
    let error: String = error.chars().take(500).collect();
    sqlx::query(
        "INSERT INTO marketplace_syncs (marketplace, kind, last_error, last_error_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (marketplace, kind) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = now()",
    )
    .bind(m)
    .bind(kind.as_str())
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct SyncView {
    pub kind: String,
    pub last_started_at: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// What the last successful run did.
    #[schema(value_type = Object)]
    pub counts: serde_json::Value,
}

pub async fn list(pool: &PgPool, m: Marketplace) -> Result<Vec<SyncView>> {
    Ok(sqlx::query_as(
        "SELECT kind, last_started_at, last_success_at, last_error, last_error_at, counts
           FROM marketplace_syncs WHERE marketplace = $1 ORDER BY kind",
    )
    .bind(m)
    .fetch_all(pool)
    .await?)
}

//! Stores: vendors open and manage their own; admins manage any. The public
//! sees active stores; owners and admins also see inactive ones.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{slug, Actor};
use crate::{
    config::PipelineConfig,
    error::is_unique_violation,
    jobs::{Announce, Announced},
    outbox,
    users::Role,
    Error, FieldError, Result,
};

#[derive(Debug, Clone, Serialize)]
pub struct Owner {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Store {
    pub id: Uuid,
    pub owner: Owner,
    pub name: String,
    pub slug: String,
    pub description: String,
    pub active: bool,
    pub tweet_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    owner_id: Uuid,
    owner_name: String,
    name: String,
    slug: String,
    description: String,
    active: bool,
    tweet_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for Store {
    fn from(r: Row) -> Self {
        Store {
            id: r.id,
            owner: Owner {
                id: r.owner_id,
                name: r.owner_name,
            },
            name: r.name,
            slug: r.slug,
            description: r.description,
            active: r.active,
            tweet_id: r.tweet_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT s.id, s.owner_id, u.name AS owner_name, s.name, s.slug, s.description, s.active,
                    s.tweet_id, s.created_at, s.updated_at
             FROM stores s JOIN users u ON u.id = s.owner_id
             WHERE s.deleted_at IS NULL ",
            $tail
        )
    };
}

const MAX_DESCRIPTION: usize = 5_000;

fn slug_conflict(e: sqlx::Error) -> Error {
    if is_unique_violation(&e, "stores_slug_key") {
        Error::Conflict("a store with this slug exists".into())
    } else {
        e.into()
    }
}

fn description(raw: &str, errors: &mut Vec<FieldError>) -> String {
    if raw.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError::new(
            "description",
            "must be at most 5000 characters",
        ));
    }
    raw.trim().to_owned()
}

pub struct NewStore {
    pub name: String,
    pub slug: Option<String>,
    pub description: Option<String>,
}

/// Opens a store; with `announce`, its announcement tweet is enqueued in the
/// same transaction.
pub async fn create(
    pool: &PgPool,
    actor: Actor,
    new: NewStore,
    announce: Option<&PipelineConfig>,
) -> Result<Store> {
    if !matches!(actor.role, Role::Vendor | Role::Admin) {
        return Err(Error::Forbidden("only vendors can open stores"));
    }
    let mut errors = Vec::new();
    let (name, slug) = slug::name_and_slug(&new.name, new.slug.as_deref(), &mut errors);
    let description = description(new.description.as_deref().unwrap_or_default(), &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    let id: Uuid = sqlx::query_scalar(
        "INSERT INTO stores (id, owner_id, name, slug, description) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(actor.id)
    .bind(&name)
    .bind(&slug)
    .bind(&description)
    .fetch_one(&mut *tx)
    .await
    .map_err(slug_conflict)?;
    if let Some(pipeline) = announce {
        let job = Announce {
            subject: Announced::Store,
            id,
        };
        outbox::enqueue(&mut tx, pipeline, &job).await?;
    }
    tx.commit().await?;
    find(pool, id)
        .await?
        .map(Store::from)
        .ok_or(Error::NotFound)
}

async fn find(pool: &PgPool, id: Uuid) -> Result<Option<Row>> {
    Ok(sqlx::query_as(select!("AND s.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

fn may_manage(actor: Option<Actor>, store: &Row) -> bool {
    actor.is_some_and(|a| a.is_admin() || a.id == store.owner_id)
}

/// A store the viewer may see: active ones for everybody, inactive ones for
/// their owner and admins; 404 otherwise.
pub async fn get(pool: &PgPool, viewer: Option<Actor>, id: Uuid) -> Result<Store> {
    match find(pool, id).await? {
        Some(row) if row.active || may_manage(viewer, &row) => Ok(row.into()),
        _ => Err(Error::NotFound),
    }
}

/// Active stores, newest first.
pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> Result<(Vec<Store>, i64)> {
    let rows: Vec<Row> = sqlx::query_as(select!(
        "AND s.active ORDER BY s.created_at DESC LIMIT $1 OFFSET $2"
    ))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total =
        sqlx::query_scalar("SELECT count(*) FROM stores WHERE deleted_at IS NULL AND active")
            .fetch_one(pool)
            .await?;
    Ok((rows.into_iter().map(Store::from).collect(), total))
}

/// The store, if the actor may change it: 404 when they may not even see
/// it, 403 when they see it but it is not theirs.
async fn managed(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Row> {
    let row = find(pool, id).await?.ok_or(Error::NotFound)?;
    if may_manage(Some(actor), &row) {
        Ok(row)
    } else if row.active {
        Err(Error::Forbidden(
            "only the store's owner or an admin may change it",
        ))
    } else {
        Err(Error::NotFound)
    }
}

#[derive(Debug, Default)]
pub struct StorePatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
}

pub async fn update(pool: &PgPool, actor: Actor, id: Uuid, patch: StorePatch) -> Result<Store> {
    managed(pool, actor, id).await?;
    let mut errors = Vec::new();
    let (name, slug) =
        slug::changed_name_and_slug(patch.name.as_deref(), patch.slug.as_deref(), &mut errors);
    let description = patch
        .description
        .as_deref()
        .map(|d| description(d, &mut errors));
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    sqlx::query(
        "UPDATE stores SET name = COALESCE($2, name), slug = COALESCE($3, slug),
                description = COALESCE($4, description), active = COALESCE($5, active), updated_at = now()
         WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(name)
    .bind(slug)
    .bind(description)
    .bind(patch.active)
    .execute(pool)
    .await
    .map_err(slug_conflict)?;
    find(pool, id)
        .await?
        .map(Store::from)
        .ok_or(Error::NotFound)
}

pub async fn delete(pool: &PgPool, actor: Actor, id: Uuid) -> Result<()> {
    managed(pool, actor, id).await?;
    sqlx::query(
        "UPDATE stores SET deleted_at = now(), active = false WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

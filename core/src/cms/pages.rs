//! Pages: a slug, a title and a Markdown body, stored with the safe HTML
//! rendered from it (rendered once on save, not on every read).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::markdown;
use crate::{catalog::slug, error::is_unique_violation, Error, FieldError, Result};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Page {
    pub id: Uuid,
    #[schema(example = "delivery")]
    pub slug: String,
    #[schema(example = "Delivery and returns")]
    pub title: String,
    /// Markdown, as the admin wrote it.
    pub body: String,
    /// The body as HTML, sanitised: safe to insert into a page as is.
    pub body_html: String,
    /// Unpublished pages are visible to admins only.
    pub published: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new page (slug, title and body required) or the fields of one to change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageInput {
    #[schema(schema_with = crate::validate::schema::slug_or_null)]
    pub slug: Option<String>,
    #[schema(example = "Delivery and returns", min_length = 1, max_length = 200)]
    pub title: Option<String>,
    /// Markdown, at most 100,000 bytes. Raw HTML in it is sanitised.
    #[schema(example = "We deliver **everywhere** in Kazakhstan.")]
    pub body: Option<String>,
    pub published: Option<bool>,
}

const COLUMNS: &str = "id, slug, title, body, body_html, published, created_at, updated_at";

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Page> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM pages WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

/// The published page at `slug`, for everyone.
pub async fn published(pool: &PgPool, slug: &str) -> Result<Page> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM pages WHERE slug = $1 AND published"
    )))
    .bind(slug)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> Result<(Vec<Page>, i64)> {
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM pages ORDER BY slug LIMIT $1 OFFSET $2"
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM pages")
        .fetch_one(pool)
        .await?;
    Ok((items, total))
}

/// Creates (`id` None) or updates a page from the fields present. Every
/// problem is reported at once.
pub async fn save(pool: &PgPool, id: Option<Uuid>, input: PageInput) -> Result<Page> {
    let old = match id {
        Some(id) => Some(get(pool, id).await?),
        None => None,
    };
    let mut errors = Vec::new();
    let slug = match (&input.slug, &old) {
        (Some(s), _) => slug::parse(s)
            .map_err(|m| errors.push(FieldError::new("slug", m)))
            .unwrap_or_default(),
        (None, Some(o)) => o.slug.clone(),
        (None, None) => {
            errors.push(FieldError::new("slug", "is required"));
            String::new()
        }
    };
    let title = super::title(
        input.title.as_deref(),
        old.as_ref().map(|o| o.title.as_str()),
        &mut errors,
    );
    let body = match (&input.body, &old) {
        (Some(b), _) => {
            if b.len() > markdown::MAX_BODY {
                errors.push(FieldError::new(
                    "body",
                    format!("must be at most {} bytes", markdown::MAX_BODY),
                ));
            }
            b.clone()
        }
        (None, Some(o)) => o.body.clone(),
        (None, None) => {
            errors.push(FieldError::new("body", "is required"));
            String::new()
        }
    };
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let published = input
        .published
        .or(old.as_ref().map(|o| o.published))
        .unwrap_or(true);
    let body_html = markdown::to_safe_html(&body);
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO pages (id, slug, title, body, body_html, published)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET slug = $2, title = $3, body = $4, body_html = $5,
             published = $6, updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(id.unwrap_or_else(Uuid::now_v7))
    .bind(&slug)
    .bind(&title)
    .bind(&body)
    .bind(&body_html)
    .bind(published)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "pages_slug_key") {
            Error::Conflict(format!("a page with slug {slug} already exists"))
        } else {
            e.into()
        }
    })
}

pub async fn delete(pool: &PgPool, id: Uuid) -> Result<()> {
    let gone = sqlx::query("DELETE FROM pages WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

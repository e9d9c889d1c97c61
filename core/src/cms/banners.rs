//! Banners: an image with a link, a position on the storefront and an
//! optional window of dates in which it shows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{commerce::nullable, Error, FieldError, Result};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Banner {
    pub id: Uuid,
    #[schema(example = "Winter sale")]
    pub title: String,
    #[schema(example = "https://cdn.example.com/winter.jpg")]
    pub image_url: String,
    #[schema(example = "/sale")]
    pub link_url: Option<String>,
    /// Lower comes first.
    pub position: i32,
    pub active: bool,
    /// Shown from (inclusive); null: already.
    pub starts_at: Option<DateTime<Utc>>,
    /// Shown until (exclusive); null: for good.
    pub ends_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new banner (title and image_url required) or the fields to change;
/// null clears `link_url`, `starts_at` and `ends_at`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BannerInput {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    /// An http(s) URL or a path on this site (`/media/...`).
    #[schema(max_length = 2000)]
    pub image_url: Option<String>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    pub link_url: Option<Option<String>>,
    #[schema(minimum = -1000, maximum = 1000)]
    pub position: Option<i32>,
    pub active: Option<bool>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
}

const COLUMNS: &str =
    "id, title, image_url, link_url, position, active, starts_at, ends_at, created_at, updated_at";

/// What may go into an `href` or `src` on the storefront: an absolute
/// http(s) URL or a path on this site. Never `javascript:` or `data:`.
fn url(raw: &str) -> std::result::Result<String, &'static str> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 2000 {
        return Err("must be 1 to 2000 characters");
    }
    if s.starts_with('/') && !s.starts_with("//") && !s.contains(char::is_whitespace) {
        return Ok(s.to_owned());
    }
    match url::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(s.to_owned()),
        _ => Err("must be an http(s) URL or a path starting with /"),
    }
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<Banner> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM banners WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

pub async fn list(pool: &PgPool, limit: i64, offset: i64) -> Result<(Vec<Banner>, i64)> {
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM banners ORDER BY position, created_at LIMIT $1 OFFSET $2"
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM banners")
        .fetch_one(pool)
        .await?;
    Ok((items, total))
}

/// The banners showing at `now`, in storefront order.
pub async fn showing(pool: &PgPool, now: DateTime<Utc>) -> Result<Vec<Banner>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM banners
         WHERE active AND (starts_at IS NULL OR starts_at <= $1) AND (ends_at IS NULL OR ends_at > $1)
         ORDER BY position, created_at LIMIT 100"
    )))
    .bind(now)
    .fetch_all(pool)
    .await?)
}

/// Creates (`id` None) or updates a banner; every problem at once.
pub async fn save(pool: &PgPool, id: Option<Uuid>, input: BannerInput) -> Result<Banner> {
    let old = match id {
        Some(id) => Some(get(pool, id).await?),
        None => None,
    };
    let mut errors = Vec::new();
    let title = super::title(
        input.title.as_deref(),
        old.as_ref().map(|o| o.title.as_str()),
        &mut errors,
    );
    let image_url = match (&input.image_url, &old) {
        (Some(u), _) => url(u)
            .map_err(|m| errors.push(FieldError::new("image_url", m)))
            .unwrap_or_default(),
        (None, Some(o)) => o.image_url.clone(),
        (None, None) => {
            errors.push(FieldError::new("image_url", "is required"));
            String::new()
        }
    };
    let link_url = match (&input.link_url, &old) {
        (Some(Some(u)), _) => url(u)
            .map_err(|m| errors.push(FieldError::new("link_url", m)))
            .ok(),
        (Some(None), _) => None,
        (None, o) => o.as_ref().and_then(|o| o.link_url.clone()),
    };
    let position = input
        .position
        .or(old.as_ref().map(|o| o.position))
        .unwrap_or(0);
    if !(-1000..=1000).contains(&position) {
        errors.push(FieldError::new(
            "position",
            "must be between -1000 and 1000",
        ));
    }
    let starts_at = input
        .starts_at
        .unwrap_or(old.as_ref().and_then(|o| o.starts_at));
    let ends_at = input
        .ends_at
        .unwrap_or(old.as_ref().and_then(|o| o.ends_at));
    if let (Some(s), Some(e)) = (starts_at, ends_at) {
        if e <= s {
            errors.push(FieldError::new("ends_at", "must be after starts_at"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let active = input
        .active
        .or(old.as_ref().map(|o| o.active))
        .unwrap_or(true);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO banners (id, title, image_url, link_url, position, active, starts_at, ends_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET title = $2, image_url = $3, link_url = $4, position = $5,
             active = $6, starts_at = $7, ends_at = $8, updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(id.unwrap_or_else(Uuid::now_v7))
    .bind(&title)
    .bind(&image_url)
    .bind(&link_url)
    .bind(position)
    .bind(active)
    .bind(starts_at)
    .bind(ends_at)
    .fetch_one(pool)
    .await?)
}

pub async fn delete(pool: &PgPool, id: Uuid) -> Result<()> {
    let gone = sqlx::query("DELETE FROM banners WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::url;

    #[test]
    fn only_web_urls_and_site_paths_are_links() {
        assert!(url("https://cdn.example.com/a.jpg").is_ok());
        assert!(url("/media/a.jpg").is_ok());
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "//evil.example",
            "ftp://x/y",
            "",
        ] {
            assert!(url(bad).is_err(), "{bad}");
        }
    }
}

//! Reviews: one per customer per product. Published ones count towards the
//! product's rating; `products.rating_count`/`rating_sum` change in the same
//! transaction as the review, by relative `UPDATE`s whose row lock serializes
//! concurrent reviewers, so the aggregates stay exact without recounting.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::{products, Actor};
use crate::{error::is_unique_violation, users::Role, Error, FieldError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Published,
    Hidden,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Published => "published",
            Status::Hidden => "hidden",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Author {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub id: Uuid,
    pub product_id: Uuid,
    pub author: Author,
    pub rating: i16,
    pub title: String,
    pub body: String,
    /// The author has a delivered order containing the product.
    pub verified: bool,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    product_id: Uuid,
    author_id: Uuid,
    author_name: String,
    rating: i16,
    title: String,
    body: String,
    verified: bool,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl Row {
    fn status(&self) -> Status {
        // The table's CHECK admits these two only.
        if self.status == "published" {
            Status::Published
        } else {
            Status::Hidden
        }
    }

    /// What this review contributes to its product's (count, sum).
    fn weight(&self) -> (i32, i32) {
        weight(self.status(), self.rating)
    }
}

impl From<Row> for Review {
    fn from(r: Row) -> Self {
        let status = r.status();
        Review {
            id: r.id,
            product_id: r.product_id,
            author: Author {
                id: r.author_id,
                name: r.author_name,
            },
            rating: r.rating,
            title: r.title,
            body: r.body,
            verified: r.verified,
            status,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn weight(status: Status, rating: i16) -> (i32, i32) {
    match status {
        Status::Published => (1, i32::from(rating)),
        Status::Hidden => (0, 0),
    }
}

macro_rules! select {
    ($tail:literal) => {
        concat!(
            "SELECT r.id, r.product_id, r.author_id, u.name AS author_name, r.rating, r.title,
                    r.body, r.verified, r.status, r.created_at, r.updated_at
             FROM reviews r JOIN users u ON u.id = r.author_id ",
            $tail
        )
    };
}

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 5_000;

async fn adjust(conn: &mut PgConnection, product_id: Uuid, (count, sum): (i32, i32)) -> Result<()> {
    if (count, sum) == (0, 0) {
        return Ok(());
    }
    sqlx::query(
        "UPDATE products SET rating_count = rating_count + $2, rating_sum = rating_sum + $3 WHERE id = $1",
    )
    .bind(product_id)
    .bind(count)
    .bind(sum)
    .execute(conn)
    .await?;
    Ok(())
}

fn rating(raw: i32, errors: &mut Vec<FieldError>) -> i16 {
    match i16::try_from(raw) {
        Ok(r) if (1..=5).contains(&r) => r,
        _ => {
            errors.push(FieldError::new("rating", "must be between 1 and 5"));
            0
        }
    }
}

fn text(field: &str, raw: &str, max: usize, errors: &mut Vec<FieldError>) -> String {
    let s = raw.trim();
    if s.chars().count() > max {
        errors.push(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    s.to_owned()
}

async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Row>> {
    Ok(sqlx::query_as(select!("WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub struct NewReview {
    pub rating: i32,
    pub title: Option<String>,
    pub body: Option<String>,
}

pub async fn create(
    pool: &PgPool,
    actor: Actor,
    product_id: Uuid,
    new: NewReview,
) -> Result<Review> {
    if actor.role != Role::Customer {
        return Err(Error::Forbidden("only customers review products"));
    }
    let mut tx = pool.begin().await?;
    if !products::is_public(&mut tx, product_id).await? {
        return Err(Error::NotFound);
    }
    let mut errors = Vec::new();
    let rating = rating(new.rating, &mut errors);
    let title = text(
        "title",
        new.title.as_deref().unwrap_or_default(),
        MAX_TITLE,
        &mut errors,
    );
    let body = text(
        "body",
        new.body.as_deref().unwrap_or_default(),
        MAX_BODY,
        &mut errors,
    );
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let verified: bool = sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM orders o JOIN order_items i ON i.order_id = o.id
             WHERE o.user_id = $1 AND o.status = $3 AND i.product_id = $2)",
    )
    .bind(actor.id)
    .bind(product_id)
    .bind(crate::commerce::status::OrderStatus::Delivered)
    .fetch_one(&mut *tx)
    .await?;
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO reviews (id, product_id, author_id, rating, title, body, verified)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(product_id)
    .bind(actor.id)
    .bind(rating)
    .bind(&title)
    .bind(&body)
    .bind(verified)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "reviews_one_per_customer") {
            Error::Conflict("you have already reviewed this product".into())
        } else {
            e.into()
        }
    })?;
    adjust(&mut tx, product_id, weight(Status::Published, rating)).await?;
    let review = find(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(review.into())
}

/// Published reviews of a visible product, newest first, and their total.
pub async fn list(
    pool: &PgPool,
    product_id: Uuid,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Review>, i64)> {
    let mut conn = pool.acquire().await?;
    if !products::is_public(&mut conn, product_id).await? {
        return Err(Error::NotFound);
    }
    let rows: Vec<Row> = sqlx::query_as(select!(
        "WHERE r.product_id = $1 AND r.status = 'published'
         ORDER BY r.created_at DESC, r.id DESC LIMIT $2 OFFSET $3"
    ))
    .bind(product_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM reviews WHERE product_id = $1 AND status = 'published'",
    )
    .bind(product_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok((rows.into_iter().map(Review::from).collect(), total))
}

/// The review, locked for change, if the actor may change it: 404 when they
/// may not even see it (someone else's hidden review), 403 when it is not
/// theirs.
async fn managed(conn: &mut PgConnection, actor: Actor, id: Uuid) -> Result<Row> {
    let row: Row = sqlx::query_as(select!("WHERE r.id = $1 FOR UPDATE OF r"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .ok_or(Error::NotFound)?;
    if actor.is_admin() || actor.id == row.author_id {
        Ok(row)
    } else if row.status() == Status::Published {
        Err(Error::Forbidden(
            "only the review's author or an admin may change it",
        ))
    } else {
        Err(Error::NotFound)
    }
}

#[derive(Debug, Default)]
pub struct ReviewPatch {
    pub rating: Option<i32>,
    pub title: Option<String>,
    pub body: Option<String>,
    /// Moderation: admins only.
    pub status: Option<Status>,
}

pub async fn update(pool: &PgPool, actor: Actor, id: Uuid, patch: ReviewPatch) -> Result<Review> {
    let mut tx = pool.begin().await?;
    let current = managed(&mut tx, actor, id).await?;
    if patch.status.is_some() && !actor.is_admin() {
        return Err(Error::Forbidden("only admins moderate reviews"));
    }
    let mut errors = Vec::new();
    let rating = patch.rating.map(|r| rating(r, &mut errors));
    let title = patch
        .title
        .as_deref()
        .map(|t| text("title", t, MAX_TITLE, &mut errors));
    let body = patch
        .body
        .as_deref()
        .map(|b| text("body", b, MAX_BODY, &mut errors));
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    sqlx::query(
        "UPDATE reviews SET rating = COALESCE($2, rating), title = COALESCE($3, title),
                body = COALESCE($4, body), status = COALESCE($5::text, status),
                moderated_at = CASE WHEN $5::text IS NULL THEN moderated_at ELSE now() END,
                updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(rating)
    .bind(title)
    .bind(body)
    .bind(patch.status.map(Status::as_str))
    .execute(&mut *tx)
    .await?;
    let (old_count, old_sum) = current.weight();
    let (new_count, new_sum) = weight(
        patch.status.unwrap_or(current.status()),
        rating.unwrap_or(current.rating),
    );
    adjust(
        &mut tx,
        current.product_id,
        (new_count - old_count, new_sum - old_sum),
    )
    .await?;
    let review = find(&mut tx, id).await?.ok_or(Error::NotFound)?;
    tx.commit().await?;
    Ok(review.into())
}

/// Deletes the review; answers the product it was about.
pub async fn delete(pool: &PgPool, actor: Actor, id: Uuid) -> Result<Uuid> {
    let mut tx = pool.begin().await?;
    let current = managed(&mut tx, actor, id).await?;
    sqlx::query("DELETE FROM reviews WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let (count, sum) = current.weight();
    adjust(&mut tx, current.product_id, (-count, -sum)).await?;
    tx.commit().await?;
    Ok(current.product_id)
}

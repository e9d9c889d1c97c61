//! Coupons: percent or fixed discounts with a minimum order, a validity
//! window, total and per-customer limits and optional category restriction.
//! The total limit is enforced by a conditional update of `used` at checkout;
//! that update also row-locks the coupon until the order commits, which
//! serializes the per-customer count behind it.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{nullable, pricing::Discount};
use crate::{error::is_unique_violation, money::Money, Error, FieldError, Result};

fn is_check_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23514"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CouponKind {
    Percent,
    Fixed,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Coupon {
    pub id: Uuid,
    pub code: String,
    pub kind: CouponKind,
    /// Percent (1-100) or an amount in minor units.
    pub value: i64,
    pub min_order: Money,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub usage_limit: Option<i32>,
    pub per_customer_limit: Option<i32>,
    /// Orders that used it.
    pub used: i32,
    /// Empty: every category. Subcategories are included.
    pub category_ids: Vec<Uuid>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    code: String,
    kind: String,
    value: i64,
    min_order: i64,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    usage_limit: Option<i32>,
    per_customer_limit: Option<i32>,
    used: i32,
    category_ids: Vec<Uuid>,
    active: bool,
    created_at: DateTime<Utc>,
}

impl Row {
    fn into_coupon(self, currency: &str) -> Coupon {
        Coupon {
            id: self.id,
            code: self.code,
            kind: if self.kind == "percent" {
                CouponKind::Percent
            } else {
                CouponKind::Fixed
            },
            value: self.value,
            min_order: Money::new(self.min_order, currency),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            usage_limit: self.usage_limit,
            per_customer_limit: self.per_customer_limit,
            used: self.used,
            category_ids: self.category_ids,
            active: self.active,
            created_at: self.created_at,
        }
    }
}

const COLUMNS: &str = "id, code, kind, value, min_order, starts_at, ends_at, usage_limit, \
                       per_customer_limit, used, category_ids, active, created_at";

impl Coupon {
    pub fn discount(&self) -> Discount {
        match self.kind {
            CouponKind::Percent => Discount::Percent(self.value),
            CouponKind::Fixed => Discount::Fixed(self.value),
        }
    }

    /// Why the coupon cannot be used now, regardless of the cart.
    pub fn unusable_now(&self, now: DateTime<Utc>) -> Option<&'static str> {
        if !self.active {
            Some("this coupon is not active")
        } else if self.starts_at.is_some_and(|s| now < s) {
            Some("this coupon is not valid yet")
        } else if self.ends_at.is_some_and(|e| now >= e) {
            Some("this coupon has expired")
        } else if self.usage_limit.is_some_and(|l| self.used >= l) {
            Some("this coupon has been used up")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponInput {
    pub code: Option<String>,
    pub kind: Option<CouponKind>,
    pub value: Option<i64>,
    pub min_order: Option<Money>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub starts_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub ends_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub usage_limit: Option<Option<i32>>,
    #[serde(default, with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub per_customer_limit: Option<Option<i32>>,
    pub category_ids: Option<Vec<Uuid>>,
    pub active: Option<bool>,
}

pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

/// The catalogue's code rule (upper-case ASCII letters and digits joined by
/// single dashes), up to 40 characters.
fn valid_code(code: &str) -> bool {
    (1..=40).contains(&code.len()) && crate::catalog::sku::normalize(code) == code
}

pub async fn get(pool: &PgPool, currency: &str, id: Uuid) -> Result<Coupon> {
    find(&mut *pool.acquire().await?, currency, id)
        .await?
        .ok_or(Error::NotFound)
}

pub async fn find_by_code(
    conn: &mut PgConnection,
    currency: &str,
    code: &str,
) -> Result<Option<Coupon>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM coupons WHERE code = $1 AND deleted_at IS NULL"
    )))
    .bind(normalize_code(code))
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.into_coupon(currency)))
}

pub async fn find(conn: &mut PgConnection, currency: &str, id: Uuid) -> Result<Option<Coupon>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM coupons WHERE id = $1 AND deleted_at IS NULL"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.into_coupon(currency)))
}

pub async fn list(
    pool: &PgPool,
    currency: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Coupon>, i64)> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM coupons WHERE deleted_at IS NULL ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM coupons WHERE deleted_at IS NULL")
        .fetch_one(pool)
        .await?;
    Ok((
        rows.into_iter().map(|r| r.into_coupon(currency)).collect(),
        total,
    ))
}

/// Creates (`id` None) or updates a coupon from the fields present.
pub async fn save(
    pool: &PgPool,
    currency: &str,
    id: Option<Uuid>,
    input: CouponInput,
) -> Result<Coupon> {
    let old = match id {
        Some(id) => Some(get(pool, currency, id).await?),
        None => None,
    };
    let mut errors = Vec::new();
    let code = input
        .code
        .as_deref()
        .map(normalize_code)
        .or(old.as_ref().map(|o| o.code.clone()))
        .unwrap_or_default();
    if !valid_code(&code) {
        errors.push(FieldError::new(
            "code",
            "must be 1-40 letters, digits and single hyphens",
        ));
    }
    let kind = input.kind.or(old.as_ref().map(|o| o.kind));
    if kind.is_none() {
        errors.push(FieldError::new("kind", "is required: percent or fixed"));
    }
    let value = input.value.or(old.as_ref().map(|o| o.value)).unwrap_or(0);
    match kind {
        Some(CouponKind::Percent) if !(1..=100).contains(&value) => errors.push(FieldError::new(
            "value",
            "a percentage must be between 1 and 100",
        )),
        Some(CouponKind::Fixed) if value <= 0 => errors.push(FieldError::new(
            "value",
            "must be a positive amount in minor units",
        )),
        _ => {}
    }
    let min_order = match (&input.min_order, &old) {
        (Some(m), _) => {
            if m.currency != currency {
                errors.push(FieldError::new(
                    "min_order.currency",
                    format!("must be {currency}"),
                ));
            }
            if !(0..=crate::commerce::pricing::MAX_PRICE).contains(&m.amount) {
                errors.push(FieldError::new(
                    "min_order.amount",
                    format!(
                        "must be 0 to {} (minor units)",
                        crate::commerce::pricing::MAX_PRICE
                    ),
                ));
            }
            m.amount
        }
        (None, Some(o)) => o.min_order.amount,
        (None, None) => 0,
    };
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
    let usage_limit = input
        .usage_limit
        .unwrap_or(old.as_ref().and_then(|o| o.usage_limit));
    let per_customer_limit = input
        .per_customer_limit
        .unwrap_or(old.as_ref().and_then(|o| o.per_customer_limit));
    for (field, v) in [
        ("usage_limit", usage_limit),
        ("per_customer_limit", per_customer_limit),
    ] {
        if v.is_some_and(|v| v < 1) {
            errors.push(FieldError::new(field, "must be at least 1"));
        }
    }
    if let (Some(limit), Some(o)) = (usage_limit, &old) {
        if limit < o.used {
            errors.push(FieldError::new(
                "usage_limit",
                format!("must be at least the {} uses so far", o.used),
            ));
        }
    }
    let category_ids = input
        .category_ids
        .or(old.as_ref().map(|o| o.category_ids.clone()))
        .unwrap_or_default();
    if !category_ids.is_empty() {
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM categories WHERE id = ANY($1)")
            .bind(&category_ids)
            .fetch_one(pool)
            .await?;
        if known != category_ids.iter().collect::<HashSet<_>>().len() as i64 {
            errors.push(FieldError::new("category_ids", "names an unknown category"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let active = input
        .active
        .or(old.as_ref().map(|o| o.active))
        .unwrap_or(true);
    let kind = match kind {
        Some(CouponKind::Percent) => "percent",
        _ => "fixed",
    };
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO coupons (id, code, kind, value, min_order, starts_at, ends_at, usage_limit,
                              per_customer_limit, category_ids, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET code = $2, kind = $3, value = $4, min_order = $5, starts_at = $6,
             ends_at = $7, usage_limit = $8, per_customer_limit = $9, category_ids = $10, active = $11,
             updated_at = now()
         RETURNING {COLUMNS}"
    )))
    .bind(id.unwrap_or_else(Uuid::now_v7))
    .bind(&code)
    .bind(kind)
    .bind(value)
    .bind(min_order)
    .bind(starts_at)
    .bind(ends_at)
    .bind(usage_limit)
    .bind(per_customer_limit)
    .bind(&category_ids)
    .bind(active)
    .fetch_one(pool)
    .await
    .map_err(|e| {
        if is_unique_violation(&e, "coupons_code_key") {
            Error::Conflict(format!("coupon code {code} exists already"))
        } else if is_check_violation(&e) {
            // Checkouts used it meanwhile, past the new limit.
            Error::invalid("usage_limit", "must be at least the uses so far")
        } else {
            e.into()
        }
    })?;
    Ok(row.into_coupon(currency))
}

/// Soft delete: redemptions keep referring to it, and the code is free again.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<()> {
    let n = sqlx::query(
        "UPDATE coupons SET deleted_at = now(), active = false WHERE id = $1 AND deleted_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

/// The categories a restricted coupon applies to, subcategories included;
/// `None` when it applies to everything.
pub async fn eligible_categories(
    conn: &mut PgConnection,
    coupon: &Coupon,
) -> Result<Option<HashSet<Uuid>>> {
    if coupon.category_ids.is_empty() {
        return Ok(None);
    }
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "WITH RECURSIVE tree AS (
             SELECT id FROM categories WHERE id = ANY($1)
             UNION SELECT c.id FROM categories c JOIN tree t ON c.parent_id = t.id)
         SELECT id FROM tree",
    )
    .bind(&coupon.category_ids)
    .fetch_all(conn)
    .await?;
    Ok(Some(ids.into_iter().collect()))
}

/// How many orders of `user` used the coupon.
pub async fn uses_by(conn: &mut PgConnection, coupon: Uuid, user: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM coupon_redemptions WHERE coupon_id = $1 AND user_id = $2",
    )
    .bind(coupon)
    .bind(user)
    .fetch_one(conn)
    .await?)
}

/// Counts a use for `order` inside the checkout's transaction: the
/// conditional update is what makes the total limit hold under concurrency.
pub async fn redeem(
    conn: &mut PgConnection,
    coupon: &Coupon,
    user: Uuid,
    order: Uuid,
) -> Result<()> {
    let counted = sqlx::query(
        "UPDATE coupons SET used = used + 1
         WHERE id = $1 AND deleted_at IS NULL AND active
           AND (usage_limit IS NULL OR used < usage_limit)
           AND (starts_at IS NULL OR starts_at <= now())
           AND (ends_at IS NULL OR ends_at > now())",
    )
    .bind(coupon.id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if counted == 0 {
        return Err(Error::Conflict(format!(
            "coupon {} can no longer be used; remove it and check out again",
            coupon.code
        )));
    }
    if let Some(limit) = coupon.per_customer_limit {
        // The update above holds the coupon's row lock: a concurrent checkout
        // by the same customer waits there and counts after this one commits.
        if uses_by(conn, coupon.id, user).await? >= i64::from(limit) {
            return Err(Error::Conflict(format!(
                "coupon {} was already used the allowed number of times",
                coupon.code
            )));
        }
    }
    sqlx::query(
        "INSERT INTO coupon_redemptions (order_id, coupon_id, user_id) VALUES ($1, $2, $3)",
    )
    .bind(order)
    .bind(coupon.id)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

/// Undoes the coupon use of an order cancelled before it was paid.
pub async fn give_back(conn: &mut PgConnection, order: Uuid) -> Result<()> {
    let coupon: Option<Uuid> = sqlx::query_scalar(
        "DELETE FROM coupon_redemptions WHERE order_id = $1 RETURNING coupon_id",
    )
    .bind(order)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(coupon) = coupon {
        sqlx::query("UPDATE coupons SET used = used - 1 WHERE id = $1 AND used > 0")
            .bind(coupon)
            .execute(conn)
            .await?;
    }
    Ok(())
}

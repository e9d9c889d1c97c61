//! Shipping methods, configured by admins: a price, free shipping from a
//! threshold, and how long delivery takes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{optional_text, pricing::ShippingRate};
use crate::{money::Money, Error, FieldError, Result};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EstimatedDays {
    pub min: i32,
    pub max: i32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShippingMethod {
    pub id: Uuid,
    pub name: String,
    pub price: Money,
    /// Shipping is free when the goods (after discount) cost at least this.
    pub free_above: Option<Money>,
    pub estimated_days: EstimatedDays,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    price: i64,
    free_above: Option<i64>,
    currency: String,
    estimated_days_min: i32,
    estimated_days_max: i32,
    active: bool,
    created_at: DateTime<Utc>,
}

impl From<Row> for ShippingMethod {
    fn from(r: Row) -> Self {
        ShippingMethod {
            id: r.id,
            name: r.name,
            price: Money::new(r.price, &r.currency),
            free_above: r.free_above.map(|f| Money::new(f, &r.currency)),
            estimated_days: EstimatedDays {
                min: r.estimated_days_min,
                max: r.estimated_days_max,
            },
            active: r.active,
            created_at: r.created_at,
        }
    }
}

impl ShippingMethod {
    pub fn rate(&self) -> ShippingRate {
        ShippingRate {
            price: self.price.amount,
            free_above: self.free_above.as_ref().map(|m| m.amount),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodInput {
    pub name: Option<String>,
    pub price: Option<Money>,
    /// `null` removes the threshold.
    #[serde(default, with = "super::nullable")]
    #[schema(value_type = Option<Money>)]
    pub free_above: Option<Option<Money>>,
    pub estimated_days_min: Option<i32>,
    pub estimated_days_max: Option<i32>,
    pub active: Option<bool>,
}

const COLUMNS: &str =
    "id, name, price, free_above, currency, estimated_days_min, estimated_days_max, active, created_at";

pub async fn list(pool: &PgPool, include_inactive: bool) -> Result<Vec<ShippingMethod>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shipping_methods WHERE active OR $1 ORDER BY price, name, id"
    )))
    .bind(include_inactive)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The columns of `joined_shipping_method!()`: all null when there is no
/// such method.
#[derive(Debug, sqlx::FromRow)]
pub struct Joined {
    m_id: Option<Uuid>,
    m_name: Option<String>,
    m_price: Option<i64>,
    m_free_above: Option<i64>,
    m_currency: Option<String>,
    m_days_min: Option<i32>,
    m_days_max: Option<i32>,
    m_active: Option<bool>,
    m_created_at: Option<DateTime<Utc>>,
}

impl Joined {
    pub fn method(self) -> Option<ShippingMethod> {
        Some(ShippingMethod::from(Row {
            id: self.m_id?,
            name: self.m_name?,
            price: self.m_price?,
            free_above: self.m_free_above,
            currency: self.m_currency?,
            estimated_days_min: self.m_days_min?,
            estimated_days_max: self.m_days_max?,
            active: self.m_active?,
            created_at: self.m_created_at?,
        }))
    }
}

pub async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<ShippingMethod>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shipping_methods WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Into::into))
}

fn money(errors: &mut Vec<FieldError>, field: &str, m: &Money, currency: &str) -> i64 {
    if m.currency != currency {
        errors.push(FieldError::new(
            format!("{field}.currency"),
            format!("must be {currency}"),
        ));
    }
    if m.amount < 0 {
        errors.push(FieldError::new(
            format!("{field}.amount"),
            "must not be negative",
        ));
    }
    // Bounded like a price, so no order total can overflow.
    if m.amount > crate::commerce::pricing::MAX_PRICE {
        errors.push(FieldError::new(
            format!("{field}.amount"),
            format!(
                "must be at most {} (minor units)",
                crate::commerce::pricing::MAX_PRICE
            ),
        ));
    }
    m.amount
}

/// Creates (`id` = None) or updates a method from the fields present.
pub async fn save(
    pool: &PgPool,
    currency: &str,
    id: Option<Uuid>,
    input: ShippingMethodInput,
) -> Result<ShippingMethod> {
    let mut conn = pool.acquire().await?;
    let old = match id {
        Some(id) => Some(find(&mut conn, id).await?.ok_or(Error::NotFound)?),
        None => None,
    };
    let mut errors = Vec::new();
    let name = optional_text(input.name).or(old.as_ref().map(|o| o.name.clone()));
    let name = match name {
        Some(n) if n.chars().count() <= 100 => n,
        Some(_) => {
            errors.push(FieldError::new("name", "must be at most 100 characters"));
            String::new()
        }
        None => {
            errors.push(FieldError::new("name", "is required"));
            String::new()
        }
    };
    let price = match (&input.price, &old) {
        (Some(p), _) => money(&mut errors, "price", p, currency),
        (None, Some(o)) => o.price.amount,
        (None, None) => {
            errors.push(FieldError::new("price", "is required"));
            0
        }
    };
    let free_above = match (&input.free_above, &old) {
        (Some(Some(f)), _) => Some(money(&mut errors, "free_above", f, currency)),
        (Some(None), _) => None,
        (None, Some(o)) => o.free_above.as_ref().map(|m| m.amount),
        (None, None) => None,
    };
    let min = input
        .estimated_days_min
        .or(old.as_ref().map(|o| o.estimated_days.min))
        .unwrap_or(1);
    let max = input
        .estimated_days_max
        .or(old.as_ref().map(|o| o.estimated_days.max))
        .unwrap_or(min);
    if !(0..=365).contains(&min) {
        errors.push(FieldError::new(
            "estimated_days_min",
            "must be between 0 and 365",
        ));
    }
    if !(min..=365).contains(&max) {
        errors.push(FieldError::new(
            "estimated_days_max",
            "must be between estimated_days_min and 365",
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let active = input
        .active
        .or(old.as_ref().map(|o| o.active))
        .unwrap_or(true);
    let row: Row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO shipping_methods (id, name, price, free_above, currency, estimated_days_min, estimated_days_max, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id) DO UPDATE SET name = $2, price = $3, free_above = $4, estimated_days_min = $6,
             estimated_days_max = $7, active = $8
         RETURNING {COLUMNS}"
    )))
    .bind(id.unwrap_or_else(Uuid::now_v7))
    .bind(name)
    .bind(price)
    .bind(free_above)
    .bind(currency)
    .bind(min)
    .bind(max)
    .bind(active)
    .fetch_one(&mut *conn)
    .await?;
    Ok(row.into())
}

/// Deactivates: orders keep referring to the method.
pub async fn deactivate(pool: &PgPool, id: Uuid) -> Result<()> {
    let n = sqlx::query("UPDATE shipping_methods SET active = false WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

//! A user's saved shipping addresses.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::optional_text;
use crate::{Error, FieldError, Result};

pub const MAX_PER_USER: i64 = 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema, sqlx::FromRow)]
pub struct Address {
    pub id: Uuid,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub phone: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An address as sent: for saving, or inline at checkout.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    #[schema(required = true, schema_with = line_200)]
    pub name: Option<String>,
    #[schema(required = true, schema_with = line_300)]
    pub line1: Option<String>,
    #[schema(schema_with = optional_line_300)]
    pub line2: Option<String>,
    #[schema(required = true, schema_with = line_200)]
    pub city: Option<String>,
    #[schema(schema_with = optional_line_300)]
    pub region: Option<String>,
    #[schema(required = true, schema_with = line_20)]
    pub postal_code: Option<String>,
    #[schema(required = true, schema_with = crate::validate::schema::country)]
    pub country: Option<String>,
    #[schema(schema_with = crate::validate::schema::phone_blank_or_null)]
    pub phone: Option<String>,
}

fn line_20() -> utoipa::openapi::Object {
    crate::validate::schema::line(20, false)
}

fn line_200() -> utoipa::openapi::Object {
    crate::validate::schema::line(200, false)
}

fn line_300() -> utoipa::openapi::Object {
    crate::validate::schema::line(300, false)
}

fn optional_line_300() -> utoipa::openapi::Object {
    crate::validate::schema::optional_line(300)
}

/// A complete, validated address (what an order stores).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct ShippingAddress {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
}

fn required(
    errors: &mut Vec<FieldError>,
    prefix: &str,
    field: &str,
    v: Option<String>,
    max: usize,
) -> String {
    match optional_text(v) {
        None => {
            errors.push(FieldError::new(format!("{prefix}{field}"), "is required"));
            String::new()
        }
        Some(s) if s.chars().count() > max => {
            errors.push(FieldError::new(
                format!("{prefix}{field}"),
                format!("must be at most {max} characters"),
            ));
            s
        }
        Some(s) => s,
    }
}

fn country(errors: &mut Vec<FieldError>, prefix: &str, v: &str) -> String {
    let c = v.to_ascii_uppercase();
    if !v.is_empty() && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase())) {
        errors.push(FieldError::new(
            format!("{prefix}country"),
            "must be a two-letter country code like KZ",
        ));
    }
    c
}

impl AddressInput {
    /// Validates a complete address; field names carry `prefix`
    /// (`address.` at checkout).
    pub fn validate(
        self,
        prefix: &str,
    ) -> Result<(ShippingAddress, Option<String>), Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = required(&mut errors, prefix, "name", self.name, 200);
        let line1 = required(&mut errors, prefix, "line1", self.line1, 300);
        let city = required(&mut errors, prefix, "city", self.city, 200);
        let postal_code = required(&mut errors, prefix, "postal_code", self.postal_code, 20);
        let raw_country = required(&mut errors, prefix, "country", self.country, 2);
        let country = country(&mut errors, prefix, &raw_country);
        let line2 = optional_text(self.line2);
        let region = optional_text(self.region);
        for (field, v) in [("line2", &line2), ("region", &region)] {
            if v.as_ref().is_some_and(|s| s.chars().count() > 300) {
                errors.push(FieldError::new(
                    format!("{prefix}{field}"),
                    "must be at most 300 characters",
                ));
            }
        }
        let phone = match optional_text(self.phone) {
            None => None,
            Some(p) => match crate::validate::phone(&p) {
                Ok(p) => Some(p),
                Err(m) => {
                    errors.push(FieldError::new(format!("{prefix}phone"), m));
                    None
                }
            },
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok((
            ShippingAddress {
                name,
                line1,
                line2,
                city,
                region,
                postal_code,
                country,
            },
            phone,
        ))
    }
}

impl From<Address> for ShippingAddress {
    fn from(a: Address) -> Self {
        ShippingAddress {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

const COLUMNS: &str =
    "id, name, line1, line2, city, region, postal_code, country, phone, created_at";

pub async fn list(pool: &PgPool, user: Uuid) -> Result<Vec<Address>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM addresses WHERE user_id = $1 ORDER BY created_at, id"
    )))
    .bind(user)
    .fetch_all(pool)
    .await?)
}

pub async fn get(conn: &mut PgConnection, user: Uuid, id: Uuid) -> Result<Address> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM addresses WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(user)
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
}

async fn save(
    pool: &PgPool,
    user: Uuid,
    id: Uuid,
    a: ShippingAddress,
    phone: Option<String>,
) -> Result<Address> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO addresses (id, user_id, name, line1, line2, city, region, postal_code, country, phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET name = $3, line1 = $4, line2 = $5, city = $6, region = $7,
             postal_code = $8, country = $9, phone = $10
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(user)
    .bind(a.name)
    .bind(a.line1)
    .bind(a.line2)
    .bind(a.city)
    .bind(a.region)
    .bind(a.postal_code)
    .bind(a.country)
    .bind(phone)
    .fetch_one(pool)
    .await?)
}

pub async fn create(pool: &PgPool, user: Uuid, input: AddressInput) -> Result<Address> {
    let (address, phone) = input.validate("").map_err(Error::Validation)?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM addresses WHERE user_id = $1")
        .bind(user)
        .fetch_one(pool)
        .await?;
    if count >= MAX_PER_USER {
        return Err(Error::Conflict(format!(
            "an account keeps at most {MAX_PER_USER} addresses"
        )));
    }
    save(pool, user, Uuid::now_v7(), address, phone).await
}

/// Applies the fields that are present over the stored address.
pub async fn update(pool: &PgPool, user: Uuid, id: Uuid, input: AddressInput) -> Result<Address> {
    let old = get(&mut *pool.acquire().await?, user, id).await?;
    let merged = AddressInput {
        name: input.name.or(Some(old.name)),
        line1: input.line1.or(Some(old.line1)),
        line2: input.line2.or(old.line2),
        city: input.city.or(Some(old.city)),
        region: input.region.or(old.region),
        postal_code: input.postal_code.or(Some(old.postal_code)),
        country: input.country.or(Some(old.country)),
        phone: input.phone.or(old.phone),
    };
    let (address, phone) = merged.validate("").map_err(Error::Validation)?;
    save(pool, user, id, address, phone).await
}

pub async fn delete(pool: &PgPool, user: Uuid, id: Uuid) -> Result<()> {
    let gone = sqlx::query("DELETE FROM addresses WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user)
        .execute(pool)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

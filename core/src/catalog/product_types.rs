//! Product types: which attributes a kind of product has, at which level, and
//! which values each allows. Products and variants are validated against them.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Actor;
use crate::{error::is_unique_violation, Error, FieldError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// One value per product (material).
    Product,
    /// Spans the variants (size, color).
    Variant,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Product => "product",
            Level::Variant => "variant",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Attribute {
    /// Used in filters as `attr.<code>=<value>`; unique within the type.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub code: String,
    #[schema(schema_with = crate::validate::schema::name)]
    pub name: String,
    pub level: Level,
    /// Allowed values, each 1-100 characters and listed once (regardless of
    /// case); empty allows any value (product level only: a variant
    /// attribute needs its values).
    #[serde(default)]
    #[schema(schema_with = values_schema)]
    pub values: Vec<String>,
}

fn values_schema() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::validate::schema::line(100, false))
        .max_items(Some(200))
        .unique_items(true)
        .build()
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductType {
    pub id: Uuid,
    pub name: String,
    pub attributes: Vec<Attribute>,
    pub created_at: DateTime<Utc>,
}

impl ProductType {
    pub fn attribute(&self, code: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.code == code)
    }

    /// Checks product-level values; problems are reported as `attributes.<code>`.
    pub fn check_product_values(
        &self,
        values: &BTreeMap<String, String>,
        errors: &mut Vec<FieldError>,
    ) {
        for (code, value) in values {
            let field = format!("attributes.{code}");
            match self.attribute(code) {
                Some(a) if a.level == Level::Product => {
                    if value.trim().is_empty() || value.chars().count() > 100 {
                        errors.push(FieldError::new(field, "must be 1 to 100 characters"));
                    } else if !a.values.is_empty() && !a.values.contains(value) {
                        errors.push(FieldError::new(
                            field,
                            format!("must be one of: {}", a.values.join(", ")),
                        ));
                    }
                }
                Some(_) => errors.push(FieldError::new(
                    field,
                    "is a variant attribute; set it on variants",
                )),
                None => errors.push(FieldError::new(
                    field,
                    format!("{} has no attribute {code}", self.name),
                )),
            }
        }
    }
}

#[derive(sqlx::FromRow)]
struct AttributeRow {
    type_id: Uuid,
    code: String,
    name: String,
    level: String,
    allowed_values: Vec<String>,
}

impl From<AttributeRow> for Attribute {
    fn from(r: AttributeRow) -> Self {
        Attribute {
            code: r.code,
            name: r.name,
            level: if r.level == "variant" {
                Level::Variant
            } else {
                Level::Product
            },
            values: r.allowed_values,
        }
    }
}

async fn load(conn: &mut PgConnection, only: Option<Uuid>, lock: bool) -> Result<Vec<ProductType>> {
    let sql = if lock {
        // Products being written hold this until they commit, so a type change
        // that removes a value waits for them (and then sees their values).
        "SELECT id, name, created_at FROM product_types WHERE id = $1 FOR SHARE"
    } else {
        "SELECT id, name, created_at FROM product_types WHERE $1::uuid IS NULL OR id = $1 ORDER BY name"
    };
    let types: Vec<(Uuid, String, DateTime<Utc>)> =
        sqlx::query_as(sql).bind(only).fetch_all(&mut *conn).await?;
    let attributes: Vec<AttributeRow> = sqlx::query_as(
        "SELECT type_id, code, name, level, allowed_values FROM product_type_attributes
         WHERE $1::uuid IS NULL OR type_id = $1 ORDER BY position, code",
    )
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_type: std::collections::HashMap<Uuid, Vec<Attribute>> = Default::default();
    for a in attributes {
        by_type.entry(a.type_id).or_default().push(a.into());
    }
    Ok(types
        .into_iter()
        .map(|(id, name, created_at)| ProductType {
            id,
            name,
            created_at,
            attributes: by_type.remove(&id).unwrap_or_default(),
        })
        .collect())
}

pub async fn list(pool: &PgPool) -> Result<Vec<ProductType>> {
    load(&mut *pool.acquire().await?, None, false).await
}

pub async fn get(pool: &PgPool, id: Uuid) -> Result<ProductType> {
    load(&mut *pool.acquire().await?, Some(id), false)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

/// The type, share-locked in the caller's transaction: for validating
/// values that transaction writes.
pub async fn get_locked(conn: &mut PgConnection, id: Uuid) -> Result<ProductType> {
    load(conn, Some(id), true)
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound)
}

fn admin_only(actor: Actor) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("only admins manage product types"))
    }
}

fn check_name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    crate::validate::name(raw)
        .map_err(|m| errors.push(FieldError::new("name", m)))
        .unwrap_or_default()
}

/// Validates a whole attribute list: codes, names, levels, values.
fn check_attributes(attributes: &mut [Attribute], errors: &mut Vec<FieldError>) {
    let mut codes = HashSet::new();
    for (i, a) in attributes.iter_mut().enumerate() {
        let field = |f: &str| format!("attributes[{i}].{f}");
        let code_ok = a.code.len() <= 40
            && a.code.starts_with(|c: char| c.is_ascii_lowercase())
            && a.code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !code_ok {
            errors.push(FieldError::new(
                field("code"),
                "must be lower-case ASCII letters, digits and _, starting with a letter (at most 40)",
            ));
        } else if !codes.insert(a.code.clone()) {
            errors.push(FieldError::new(field("code"), "is used twice"));
        }
        match crate::validate::name(&a.name) {
            Ok(n) => a.name = n,
            Err(m) => errors.push(FieldError::new(field("name"), m)),
        }
        let mut seen = HashSet::new();
        for v in a.values.iter_mut() {
            *v = v.trim().to_owned();
            if v.is_empty() || v.chars().count() > 100 {
                errors.push(FieldError::new(
                    field("values"),
                    "each value must be 1 to 100 characters",
                ));
            } else if !seen.insert(v.to_lowercase()) {
                errors.push(FieldError::new(
                    field("values"),
                    format!("{v:?} is listed twice"),
                ));
            }
        }
        if a.level == Level::Variant && a.values.is_empty() {
            errors.push(FieldError::new(
                field("values"),
                "a variant attribute needs its allowed values",
            ));
        }
        if a.values.len() > 200 {
            errors.push(FieldError::new(field("values"), "at most 200 values"));
        }
    }
    if attributes.len() > 50 {
        errors.push(FieldError::new("attributes", "at most 50 attributes"));
    }
}

fn name_conflict(e: sqlx::Error) -> Error {
    if is_unique_violation(&e, "product_types_name_key") {
        Error::Conflict("a product type with this name exists".into())
    } else {
        e.into()
    }
}

async fn write_attributes(
    conn: &mut PgConnection,
    id: Uuid,
    attributes: &[Attribute],
) -> Result<()> {
    sqlx::query("DELETE FROM product_type_attributes WHERE type_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (position, a) in attributes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO product_type_attributes (type_id, code, name, level, allowed_values, position)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(&a.code)
        .bind(&a.name)
        .bind(a.level.as_str())
        .bind(&a.values)
        .bind(position as i32)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub struct NewProductType {
    pub name: String,
    pub attributes: Vec<Attribute>,
}

pub async fn create(pool: &PgPool, actor: Actor, mut new: NewProductType) -> Result<ProductType> {
    admin_only(actor)?;
    let mut errors = Vec::new();
    let name = check_name(&new.name, &mut errors);
    check_attributes(&mut new.attributes, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO product_types (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(&name)
        .execute(&mut *tx)
        .await
        .map_err(name_conflict)?;
    write_attributes(&mut tx, id, &new.attributes).await?;
    tx.commit().await?;
    get(pool, id).await
}

#[derive(Debug, Default)]
pub struct ProductTypePatch {
    pub name: Option<String>,
    /// Replaces the whole list; values still used by products or variants
    /// cannot be removed (409).
    pub attributes: Option<Vec<Attribute>>,
}

pub async fn update(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    mut patch: ProductTypePatch,
) -> Result<ProductType> {
    admin_only(actor)?;
    get(pool, id).await?;
    let mut errors = Vec::new();
    let name = patch.name.as_deref().map(|n| check_name(n, &mut errors));
    if let Some(attributes) = patch.attributes.as_mut() {
        check_attributes(attributes, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut tx = pool.begin().await?;
    // Serialises with product writes of this type, which read it to validate.
    sqlx::query(
        "UPDATE product_types SET name = COALESCE($2, name), updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .execute(&mut *tx)
    .await
    .map_err(name_conflict)?;
    if let Some(attributes) = &patch.attributes {
        write_attributes(&mut tx, id, attributes).await?;
        if let Some(what) = values_in_use_outside(&mut tx, id).await? {
            return Err(Error::Conflict(format!(
                "the new attributes would leave {what} with a value the type no longer allows"
            )));
        }
    }
    tx.commit().await?;
    get(pool, id).await
}

/// Whether any product or variant of the type holds a value its (new)
/// attributes do not allow; names an example.
async fn values_in_use_outside(conn: &mut PgConnection, id: Uuid) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT what FROM (
             SELECT format('product %s (%s = %s)', p.code, kv.key, kv.value) AS what
               FROM products p, jsonb_each_text(p.attributes) kv
              WHERE p.type_id = $1 AND p.deleted_at IS NULL AND NOT EXISTS (
                    SELECT 1 FROM product_type_attributes a
                     WHERE a.type_id = $1 AND a.code = kv.key AND a.level = 'product'
                       AND (cardinality(a.allowed_values) = 0 OR kv.value = ANY (a.allowed_values)))
             UNION ALL
             SELECT format('variant %s (%s = %s)', v.sku, kv.key, kv.value)
               FROM products p JOIN variants v ON v.product_id = p.id, jsonb_each_text(v.attributes) kv
              WHERE p.type_id = $1 AND p.deleted_at IS NULL AND NOT EXISTS (
                    SELECT 1 FROM product_type_attributes a
                     WHERE a.type_id = $1 AND a.code = kv.key AND a.level = 'variant'
                       AND kv.value = ANY (a.allowed_values))
         ) bad LIMIT 1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(code: &str, level: Level, values: &[&str]) -> Attribute {
        Attribute {
            code: code.into(),
            name: code.to_uppercase(),
            level,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn attribute_lists_are_checked_whole() {
        let mut errors = Vec::new();
        let mut list = vec![
            attr("size", Level::Variant, &["S", "M", "s"]),
            attr("size", Level::Variant, &["L"]),
            attr("Color", Level::Variant, &[]),
        ];
        check_attributes(&mut list, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "attributes[0].values",
                "attributes[1].code",
                "attributes[2].code",
                "attributes[2].values"
            ]
        );
    }

    #[test]
    fn product_values_must_be_allowed_product_attributes() {
        let t = ProductType {
            id: Uuid::nil(),
            name: "Apparel".into(),
            created_at: Utc::now(),
            attributes: vec![
                attr("material", Level::Product, &["Cotton"]),
                attr("size", Level::Variant, &["S"]),
                attr("brand", Level::Product, &[]),
            ],
        };
        let mut errors = Vec::new();
        let values = BTreeMap::from([
            ("material".to_string(), "Wool".to_string()),
            ("size".to_string(), "S".to_string()),
            ("brand".to_string(), "Anything".to_string()),
            ("shape".to_string(), "Round".to_string()),
        ]);
        t.check_product_values(&values, &mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["attributes.material", "attributes.shape", "attributes.size"]
        );
    }
}

//! Variants: what is actually bought (a size and color of a product), with
//! its SKU, price and stock. Generated from the type's variant attributes;
//! price drops alert the customers who asked for it.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use sqlx::{types::Json, PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{product_types::Level, products, sku, wishlist, Actor};
use crate::{commerce::pricing::MAX_PRICE, shop::Shop};
use crate::{
    mail::MailTemplate,
    messaging::notify::{self, Notice},
    money::Money,
    Error, FieldError, Result,
};

const MAX_COMBINATIONS: usize = 500;

pub struct Generate {
    /// Variant attribute code -> the values to combine.
    pub values: BTreeMap<String, Vec<String>>,
    pub price: Option<Money>,
    pub stock: Option<i32>,
    pub weight_grams: Option<i32>,
}

fn check_money(field: &str, money: &Money, shop: &Shop, errors: &mut Vec<FieldError>) {
    if money.amount < 0 {
        errors.push(FieldError::new(
            format!("{field}.amount"),
            "must not be negative",
        ));
    }
    if money.amount > MAX_PRICE {
        errors.push(FieldError::new(
            format!("{field}.amount"),
            format!("must be at most {MAX_PRICE} (minor units)"),
        ));
    }
    if money.currency != shop.currency {
        errors.push(FieldError::new(
            format!("{field}.currency"),
            format!("this shop sells in {}", shop.currency),
        ));
    }
}

fn check_count(field: &str, value: Option<i32>, errors: &mut Vec<FieldError>) {
    if value.is_some_and(|v| v < 0) {
        errors.push(FieldError::new(field, "must not be negative"));
    }
}

/// Creates one variant per combination of the given values that the product
/// does not have yet. Without a price they are created inactive (price 0);
/// `PATCH /variants/{id}` with a price puts them on sale.
pub async fn generate(
    pool: &PgPool,
    shop: &Shop,
    actor: Actor,
    product_id: Uuid,
    req: Generate,
) -> Result<usize> {
    let mut tx = pool.begin().await?;
    let product = products::managed(&mut tx, actor, product_id).await?;
    let product_type = super::product_types::get_locked(&mut tx, product.type_id).await?;
    let mut errors = Vec::new();
    if let Some(price) = &req.price {
        check_money("price", price, shop, &mut errors);
    }
    check_count("stock", req.stock, &mut errors);
    check_count("weight_grams", req.weight_grams, &mut errors);
    for (code, values) in &req.values {
        match product_type.attribute(code) {
            Some(a) if a.level == Level::Variant => {
                if values.is_empty() {
                    errors.push(FieldError::new(code.clone(), "give at least one value"));
                }
                for v in values {
                    if !a.values.contains(v) {
                        errors.push(FieldError::new(
                            code.clone(),
                            format!("{v:?} is not allowed; allowed: {}", a.values.join(", ")),
                        ));
                    }
                }
            }
            Some(_) => errors.push(FieldError::new(
                code.clone(),
                "is a product attribute, not a variant one",
            )),
            None => errors.push(FieldError::new(
                code.clone(),
                format!("{} has no attribute {code}", product_type.name),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    // In the type's attribute order, duplicates dropped, so SKUs read the same
    // way for every product of the type.
    let mut codes = Vec::new();
    let mut lists: Vec<Vec<String>> = Vec::new();
    for a in &product_type.attributes {
        if let Some(values) = req.values.get(&a.code) {
            let mut seen = HashSet::new();
            codes.push(a.code.clone());
            lists.push(values.iter().filter(|v| seen.insert(*v)).cloned().collect());
        }
    }
    // Counted before they are built: 4 x 200 values would be 1.6 billion.
    let count = lists
        .iter()
        .try_fold(1usize, |n, l| n.checked_mul(l.len()))
        .filter(|n| *n <= MAX_COMBINATIONS);
    if count.is_none() {
        return Err(Error::invalid(
            "values",
            &format!("would make more than {MAX_COMBINATIONS} variants"),
        ));
    }
    let list_refs: Vec<&[String]> = lists.iter().map(Vec::as_slice).collect();
    let combos = sku::combinations(&list_refs);
    let existing: Vec<Json<BTreeMap<String, String>>> =
        sqlx::query_scalar("SELECT attributes FROM variants WHERE product_id = $1")
            .bind(product_id)
            .fetch_all(&mut *tx)
            .await?;
    let existing: HashSet<BTreeMap<String, String>> = existing.into_iter().map(|j| j.0).collect();
    let mut new = Vec::new();
    let mut skus = HashSet::new();
    let mut clashes = Vec::new();
    for combo in combos {
        let attributes: BTreeMap<String, String> = codes
            .iter()
            .cloned()
            .zip(combo.iter().map(|v| v.to_string()))
            .collect();
        if existing.contains(&attributes) {
            continue;
        }
        let sku = sku::sku(&product.code, &combo);
        if sku.len() > sku::MAX_SKU {
            return Err(Error::invalid("values", &format!("SKU {sku} is too long")));
        }
        if !skus.insert(sku.clone()) {
            clashes.push(sku.clone());
        }
        new.push((sku, attributes));
    }
    let wanted: Vec<&str> = new.iter().map(|(s, _)| s.as_str()).collect();
    let taken: Vec<String> =
        sqlx::query_scalar("SELECT sku FROM variants WHERE sku = ANY($1) ORDER BY sku")
            .bind(&wanted)
            .fetch_all(&mut *tx)
            .await?;
    clashes.extend(taken);
    if !clashes.is_empty() {
        return Err(sku_conflict(&clashes));
    }
    let priced = req.price.is_some();
    let price = req.price.map_or(0, |p| p.amount);
    for (sku, attributes) in &new {
        sqlx::query(
            "INSERT INTO variants (id, product_id, sku, attributes, price, currency, stock, weight_grams, active)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7())
        .bind(product_id)
        .bind(sku)
        .bind(Json(attributes))
        .bind(price)
        .bind(&shop.currency)
        .bind(req.stock.unwrap_or(0))
        .bind(req.weight_grams.unwrap_or(0))
        .bind(priced)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e, "variants_sku_key") {
                sku_conflict(std::slice::from_ref(sku))
            } else {
                e.into()
            }
        })?;
    }
    tx.commit().await?;
    Ok(new.len())
}

fn sku_conflict(skus: &[String]) -> Error {
    Error::Conflict(format!(
        "SKU already in use: {}; give the product another code or use other values",
        skus.join(", ")
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct VariantPatch {
    pub price: Option<Money>,
    /// Units owned; cannot go below what pending orders hold.
    pub stock: Option<i32>,
    pub weight_grams: Option<i32>,
    pub active: Option<bool>,
}

/// Changes a variant; returns its product's id. A lower price of an active
/// variant notifies the customers watching the product on their channels,
/// through the outbox in the same transaction.
pub async fn update(
    pool: &PgPool,
    shop: &Shop,
    actor: Actor,
    id: Uuid,
    patch: VariantPatch,
) -> Result<Uuid> {
    let mut tx = pool.begin().await?;
    let found: Option<(Uuid, i64, i32, bool)> = sqlx::query_as(
        "SELECT product_id, price, reserved, active FROM variants WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (product_id, old_price, reserved, was_active) = found.ok_or(Error::NotFound)?;
    // Generated without a price, a variant waits inactive at 0; pricing it
    // puts it on sale unless the request says otherwise.
    let first_price =
        old_price == 0 && !was_active && patch.price.as_ref().is_some_and(|p| p.amount > 0);
    let activate = patch.active.or(first_price.then_some(true));
    let product = products::managed(&mut tx, actor, product_id).await?;
    let mut errors = Vec::new();
    if let Some(price) = &patch.price {
        check_money("price", price, shop, &mut errors);
    }
    check_count("stock", patch.stock, &mut errors);
    check_count("weight_grams", patch.weight_grams, &mut errors);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    if patch.stock.is_some_and(|s| s < reserved) {
        return Err(Error::Conflict(format!(
            "pending orders hold {reserved} units; stock cannot go below that"
        )));
    }
    let new_price = patch.price.as_ref().map_or(old_price, |p| p.amount);
    if activate == Some(true) && new_price == 0 && !was_active {
        return Err(Error::invalid(
            "active",
            "give the variant a price before putting it on sale",
        ));
    }
    // A variant on sale has a price: at 0 it could not be bought (checkout
    // sells only priced variants) yet would show as for sale.
    if new_price == 0 && activate.unwrap_or(was_active) && patch.price.is_some() {
        return Err(Error::invalid(
            "price.amount",
            "must be above 0 for a variant on sale (deactivate it first)",
        ));
    }
    let (price, active, sku): (i64, bool, String) = sqlx::query_as(
        "UPDATE variants SET price = COALESCE($2, price), stock = COALESCE($3, stock),
                weight_grams = COALESCE($4, weight_grams), active = COALESCE($5, active), updated_at = now()
          WHERE id = $1 RETURNING price, active, sku",
    )
    .bind(id)
    .bind(patch.price.as_ref().map(|p| p.amount))
    .bind(patch.stock)
    .bind(patch.weight_grams)
    .bind(activate)
    .fetch_one(&mut *tx)
    .await?;
    // Only a price customers could see before, and can buy at now.
    if price < old_price && was_active && active && product.public() {
        alert_price_drop(&mut tx, shop, &product, id, &sku, old_price, price).await?;
    }
    tx.commit().await?;
    Ok(product_id)
}

#[allow(clippy::too_many_arguments)]
async fn alert_price_drop(
    conn: &mut PgConnection,
    shop: &Shop,
    product: &products::Row,
    variant: Uuid,
    sku: &str,
    old: i64,
    new: i64,
) -> Result<()> {
    // One key per drop: a later drop of the same variant alerts again.
    let change = Uuid::now_v7();
    let watchers = wishlist::price_alert_watchers(conn, product.id).await?;
    let old_price = Money::new(old, &shop.currency).display();
    let new_price = Money::new(new, &shop.currency).display();
    let link = format!("{}/products/{}", shop.public_url, product.slug);
    let notices: Vec<Notice> = watchers
        .into_iter()
        .map(|(user, email, name)| Notice {
            event: format!("price-drop:{variant}:{user}:{change}"),
            user: Some(user),
            order: None,
            email: Some(email),
            phone: None,
            template: MailTemplate::PriceDrop {
                name,
                product: product.name.clone(),
                sku: sku.to_owned(),
                old_price: old_price.clone(),
                new_price: new_price.clone(),
                link: link.clone(),
            },
        })
        .collect();
    // One statement however many watch: a popular product must not make the
    // vendor's PATCH wait for thousands of inserts.
    notify::send(conn, shop, &notices).await?;
    Ok(())
}

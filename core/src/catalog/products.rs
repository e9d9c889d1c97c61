//! Products: what a store sells, of a product type, in a category. Vendors
//! manage their own stores' products, admins any. The public sees active
//! products of open stores; managers also see inactive ones and stock.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{types::Json, AssertSqlSafe, PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{product_types, sku, slug, Actor};
use crate::batch::{Batcher, Handout};
use crate::shop::Shop;
use crate::{error::is_unique_violation, money::Money, users::Role, Error, FieldError, Result};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TypeRef {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Image {
    pub id: Uuid,
    pub url: String,
    pub content_type: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PriceRange {
    pub min: Money,
    pub max: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rating {
    /// Mean of published ratings, two decimals; 0 without reviews.
    pub average: f64,
    pub count: i32,
}

impl Rating {
    pub fn new(sum: i32, count: i32) -> Self {
        let average = if count == 0 {
            0.0
        } else {
            (f64::from(sum) / f64::from(count) * 100.0).round() / 100.0
        };
        Self { average, count }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Variant {
    pub id: Uuid,
    pub sku: String,
    pub attributes: BTreeMap<String, String>,
    pub price: Money,
    /// Units that can be bought now: stock not held by pending orders.
    pub available: i32,
    /// Units owned; shown to the store's managers only (the public sees
    /// active variants only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stock: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved: Option<i32>,
    pub weight_grams: i32,
    pub active: bool,
}

/// A product as its page shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub code: String,
    pub store: StoreRef,
    pub category: CategoryRef,
    pub product_type: TypeRef,
    pub attributes: BTreeMap<String, String>,
    pub images: Vec<Image>,
    pub variants: Vec<Variant>,
    /// Cheapest and dearest active variant; `null` while none is for sale.
    pub price_range: Option<PriceRange>,
    pub rating: Rating,
    pub active: bool,
    /// The announcement tweet, once posted.
    pub tweet_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product in a list: no description, no variants.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProductSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub code: String,
    pub store: StoreRef,
    pub category: CategoryRef,
    pub product_type: TypeRef,
    pub attributes: BTreeMap<String, String>,
    pub images: Vec<Image>,
    pub price_range: Option<PriceRange>,
    /// Whether any active variant has units available.
    pub in_stock: bool,
    pub rating: Rating,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, sqlx::FromRow)]
pub(crate) struct Row {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub code: String,
    pub attributes: Json<BTreeMap<String, String>>,
    pub active: bool,
    pub rating_count: i32,
    pub rating_sum: i32,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub tweet_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub store_id: Uuid,
    pub store_name: String,
    pub owner_id: Uuid,
    pub store_open: bool,
    pub category_id: Uuid,
    pub category_slug: String,
    pub category_name: String,
    pub type_id: Uuid,
    pub type_name: String,
}

impl Row {
    pub fn public(&self) -> bool {
        self.active && self.store_open
    }

    pub fn managed_by(&self, actor: Option<Actor>) -> bool {
        actor.is_some_and(|a| a.is_admin() || a.id == self.owner_id)
    }
}

const COLUMNS: &str = "SELECT p.id, p.slug, p.name, p.description, p.code, p.attributes, p.active,
        p.rating_count, p.rating_sum, p.min_price, p.max_price, p.tweet_id, p.created_at, p.updated_at,
        s.id AS store_id, s.name AS store_name, s.owner_id, (s.active AND s.deleted_at IS NULL) AS store_open,
        c.id AS category_id, c.slug AS category_slug, c.name AS category_name,
        t.id AS type_id, t.name AS type_name";

const FROM: &str = "   FROM products p
   JOIN stores s ON s.id = p.store_id
   JOIN categories c ON c.id = p.category_id
   JOIN product_types t ON t.id = p.type_id
  WHERE p.deleted_at IS NULL ";

/// A product's images as a JSON column of its row.
const IMAGES: &str = ",
        (SELECT COALESCE(json_agg(json_build_object('id', i.id,
                    'storage_key', i.storage_key, 'content_type', i.content_type)
                  ORDER BY i.position, i.created_at), '[]')
           FROM product_images i WHERE i.product_id = p.id) AS images";

/// A product page's every variant (active or not: whether the viewer manages
/// the product is known only from the row), as a JSON column of its row: with
/// `IMAGES`, a page is one round trip.
const VARIANTS: &str = ",
        (SELECT COALESCE(json_agg(json_build_object('id', v.id, 'sku', v.sku, 'attributes', v.attributes,
                    'price', v.price, 'currency', v.currency, 'stock', v.stock, 'reserved', v.reserved,
                    'weight_grams', v.weight_grams, 'active', v.active)
                  ORDER BY v.created_at, v.sku), '[]')
           FROM variants v WHERE v.product_id = p.id) AS variants";

/// Whether any active variant has units available, as a column.
const IN_STOCK: &str = ",
        EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.active AND v.stock > v.reserved)
            AS in_stock";

/// A product row with what a list item shows besides.
#[derive(Clone, sqlx::FromRow)]
struct SummaryRow {
    #[sqlx(flatten)]
    row: Row,
    in_stock: bool,
    images: Json<Vec<ImageRow>>,
}

/// A product row with what its page shows besides.
#[derive(Clone, sqlx::FromRow)]
struct PageRow {
    #[sqlx(flatten)]
    row: Row,
    images: Json<Vec<ImageRow>>,
    variants: Json<Vec<VariantRow>>,
}

pub(crate) async fn find(conn: &mut PgConnection, id: Uuid) -> Result<Option<Row>> {
    Ok(
        sqlx::query_as(AssertSqlSafe(format!("{COLUMNS}{FROM} AND p.id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Whether the public may see the product (reviews and wishlists accept
/// only these).
pub(crate) async fn is_public(conn: &mut PgConnection, id: Uuid) -> Result<bool> {
    Ok(find(conn, id).await?.is_some_and(|row| row.public()))
}

/// Product pages, read in batches: the pages asked for while one statement
/// runs are read together by the next (`batch::Batcher`), so a burst of
/// storefront visits costs PostgreSQL one statement, one plan and one round
/// trip per batch instead of one each. A lone visit is read at once. Cheap
/// to clone.
#[derive(Clone)]
pub struct Pages(Batcher<String, Option<PageRow>>);

/// Statements in flight at once for pages, and for list items (of the
/// pool's connections). Fewer means larger batches: on the 2-core
/// benchmark, 64 clients got 1 reader 9,600 pages/s, 2 readers
/// 9,400-10,800, 4 readers 8,800, 8 readers 6,800; two keep one slow
/// statement from holding every page up.
const READERS: usize = 2;
const READ_BATCH: usize = 64;

impl Pages {
    pub fn start(pool: PgPool) -> Self {
        Self(Batcher::new(
            "too many product pages are waiting; try again shortly",
            READERS,
            READ_BATCH,
            move |keys: Vec<String>| {
                let pool = pool.clone();
                async move { pages_by_keys(&pool, &keys).await }
            },
        ))
    }

    /// A product by id or slug, as `viewer` may see it.
    pub async fn get(&self, shop: &Shop, viewer: Option<Actor>, key: &str) -> Result<Product> {
        // PostgreSQL refuses it, and would fail the whole batch: refused
        // here, alone (a 400, as PostgreSQL's refusal is).
        if key.contains('\0') {
            return Err(Error::BadRequest(crate::error::NUL_IN_TEXT));
        }
        match self.0.one(key.to_owned()).await? {
            Some(page) if page.row.managed_by(viewer) => Ok(assemble(shop, page, true)),
            Some(page) if page.row.public() => Ok(assemble(shop, page, false)),
            _ => Err(Error::NotFound),
        }
    }

    /// The full view for the product's managers, after a write (read by a
    /// statement that starts after the call: the write is in it).
    pub async fn managed_view(&self, shop: &Shop, id: Uuid) -> Result<Product> {
        let page = self.0.one(id.to_string()).await?.ok_or(Error::NotFound)?;
        Ok(assemble(shop, page, true))
    }
}

/// The pages for `keys` (ids or slugs), one per key in order: one statement.
async fn pages_by_keys(pool: &PgPool, keys: &[String]) -> Result<Vec<Option<PageRow>>> {
    let wanted: Vec<std::result::Result<Uuid, &str>> = keys
        .iter()
        .map(|key| Uuid::parse_str(key).map_err(|_| key.as_str()))
        .collect();
    let ids: Vec<Uuid> = wanted.iter().filter_map(|w| w.ok()).collect();
    let slugs: Vec<&str> = wanted.iter().filter_map(|w| w.err()).collect();
    let rows: Vec<PageRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{COLUMNS}{IMAGES}{VARIANTS}{FROM} AND (p.id = ANY($1) OR p.slug = ANY($2))"
    )))
    .bind(&ids)
    .bind(&slugs)
    .fetch_all(pool)
    .await?;
    let found: Vec<Option<usize>> = wanted
        .iter()
        .map(|w| {
            rows.iter().position(|page| match w {
                Ok(id) => page.row.id == *id,
                Err(slug) => page.row.slug == *slug,
            })
        })
        .collect();
    let mut handout = Handout::new(rows.into_iter().enumerate(), found.iter().flatten());
    Ok(found.iter().map(|at| handout.take(at.as_ref()?)).collect())
}

/// The id of the product with this slug, whoever may see it (the caller
/// decides; caches key product pages by id).
pub async fn id_by_slug(pool: &PgPool, slug: &str) -> Result<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM products WHERE slug = $1 AND deleted_at IS NULL")
            .bind(slug)
            .fetch_optional(pool)
            .await?,
    )
}

/// The product row if the actor may change it: 404 when they may not even
/// see it, 403 when they see it but it is not theirs.
pub(crate) async fn managed(conn: &mut PgConnection, actor: Actor, id: Uuid) -> Result<Row> {
    let row = find(conn, id).await?.ok_or(Error::NotFound)?;
    if row.managed_by(Some(actor)) {
        Ok(row)
    } else if row.public() {
        Err(Error::Forbidden(
            "only the store's owner or an admin may change its products",
        ))
    } else {
        Err(Error::NotFound)
    }
}

fn price_range(shop: &Shop, min: Option<i64>, max: Option<i64>) -> Option<PriceRange> {
    Some(PriceRange {
        min: Money::new(min?, &shop.currency),
        max: Money::new(max?, &shop.currency),
    })
}

#[derive(Clone, serde::Deserialize)]
struct ImageRow {
    id: Uuid,
    storage_key: String,
    content_type: String,
}

impl ImageRow {
    fn image(self, shop: &Shop) -> Image {
        Image {
            id: self.id,
            url: shop.media_url(&self.storage_key),
            content_type: self.content_type,
        }
    }
}

#[derive(Clone, serde::Deserialize)]
struct VariantRow {
    id: Uuid,
    sku: String,
    attributes: BTreeMap<String, String>,
    price: i64,
    currency: String,
    stock: i32,
    reserved: i32,
    weight_grams: i32,
    active: bool,
}

impl VariantRow {
    /// The variant as `manager` (or the public) may see it.
    fn view(self, manager: bool) -> Variant {
        Variant {
            id: self.id,
            sku: self.sku,
            attributes: self.attributes,
            price: Money {
                amount: self.price,
                currency: self.currency,
            },
            available: if self.active {
                self.stock - self.reserved
            } else {
                0
            },
            stock: manager.then_some(self.stock),
            reserved: manager.then_some(self.reserved),
            weight_grams: self.weight_grams,
            active: self.active,
        }
    }
}

impl Row {
    /// The store, category and type the row names (moved out of the row).
    fn refs(&mut self) -> (StoreRef, CategoryRef, TypeRef) {
        (
            StoreRef {
                id: self.store_id,
                name: std::mem::take(&mut self.store_name),
            },
            CategoryRef {
                id: self.category_id,
                slug: std::mem::take(&mut self.category_slug),
                name: std::mem::take(&mut self.category_name),
            },
            TypeRef {
                id: self.type_id,
                name: std::mem::take(&mut self.type_name),
            },
        )
    }
}

fn assemble(shop: &Shop, page: PageRow, manager: bool) -> Product {
    let PageRow {
        mut row,
        images,
        variants,
    } = page;
    let (store, category, product_type) = row.refs();
    Product {
        id: row.id,
        images: images.0.into_iter().map(|i| i.image(shop)).collect(),
        // The public sees active variants only.
        variants: variants
            .0
            .into_iter()
            .filter(|v| manager || v.active)
            .map(|v| v.view(manager))
            .collect(),
        price_range: price_range(shop, row.min_price, row.max_price),
        rating: Rating::new(row.rating_sum, row.rating_count),
        slug: row.slug,
        name: row.name,
        description: row.description,
        code: row.code,
        store,
        category,
        product_type,
        attributes: row.attributes.0,
        active: row.active,
        tweet_id: row.tweet_id,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// List items, read in batches as `Pages` are: the listings and searches
/// being answered at one time share one statement for their items. Cheap
/// to clone.
#[derive(Clone)]
pub struct Summaries(Batcher<Vec<Uuid>, Vec<SummaryRow>>);

impl Summaries {
    pub fn start(pool: PgPool) -> Self {
        Self(Batcher::new(
            "too many product lists are waiting; try again shortly",
            READERS,
            READ_BATCH,
            move |lists: Vec<Vec<Uuid>>| {
                let pool = pool.clone();
                async move { summary_rows(&pool, &lists).await }
            },
        ))
    }

    /// List items for `ids`, in that order (deleted products left out).
    pub async fn get(&self, shop: &Shop, ids: Vec<Uuid>) -> Result<Vec<ProductSummary>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.0.one(ids).await?;
        Ok(rows.into_iter().map(|row| summary(shop, row)).collect())
    }
}

/// The rows of each list of ids, in its order: one statement.
async fn summary_rows(pool: &PgPool, lists: &[Vec<Uuid>]) -> Result<Vec<Vec<SummaryRow>>> {
    let ids: Vec<Uuid> = lists
        .iter()
        .flatten()
        .copied()
        .collect::<std::collections::HashSet<_>>()
        .into_iter()
        .collect();
    let rows: Vec<SummaryRow> = sqlx::query_as(AssertSqlSafe(format!(
        "{COLUMNS}{IN_STOCK}{IMAGES}{FROM} AND p.id = ANY($1)"
    )))
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    let mut handout = Handout::new(
        rows.into_iter().map(|r| (r.row.id, r)),
        lists.iter().flatten(),
    );
    Ok(lists
        .iter()
        .map(|ids| ids.iter().filter_map(|id| handout.take(id)).collect())
        .collect())
}

fn summary(shop: &Shop, summary: SummaryRow) -> ProductSummary {
    let SummaryRow {
        mut row,
        in_stock,
        images,
    } = summary;
    let (store, category, product_type) = row.refs();
    ProductSummary {
        id: row.id,
        images: images.0.into_iter().map(|i| i.image(shop)).collect(),
        price_range: price_range(shop, row.min_price, row.max_price),
        in_stock,
        rating: Rating::new(row.rating_sum, row.rating_count),
        slug: row.slug,
        name: row.name,
        code: row.code,
        store,
        category,
        product_type,
        attributes: row.attributes.0,
        active: row.active,
        created_at: row.created_at,
    }
}

const MAX_DESCRIPTION: usize = 20_000;

fn description(raw: &str, errors: &mut Vec<FieldError>) -> String {
    if raw.chars().count() > MAX_DESCRIPTION {
        errors.push(FieldError::new(
            "description",
            "must be at most 20000 characters",
        ));
    }
    raw.trim().to_owned()
}

fn conflict(e: sqlx::Error) -> Error {
    if is_unique_violation(&e, "products_slug_key") {
        Error::Conflict("a product with this slug exists".into())
    } else if is_unique_violation(&e, "products_code_key") {
        Error::Conflict("a product with this code exists; SKUs are made from it".into())
    } else {
        e.into()
    }
}

async fn category_exists(conn: &mut PgConnection, id: Uuid) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM categories WHERE id = $1)")
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

pub struct NewProduct {
    pub store_id: Uuid,
    pub category_id: Uuid,
    pub type_id: Uuid,
    pub name: String,
    pub slug: Option<String>,
    pub code: Option<String>,
    pub description: Option<String>,
    pub attributes: BTreeMap<String, String>,
    pub active: Option<bool>,
}

/// Creates the product in the caller's transaction (which also enqueues its
/// announcement). Returns its id.
pub async fn create(conn: &mut PgConnection, actor: Actor, new: NewProduct) -> Result<Uuid> {
    if !matches!(actor.role, Role::Vendor | Role::Admin) {
        return Err(Error::Forbidden("only vendors and admins create products"));
    }
    let store: Option<(Uuid, bool)> =
        sqlx::query_as("SELECT owner_id, active FROM stores WHERE id = $1 AND deleted_at IS NULL")
            .bind(new.store_id)
            .fetch_optional(&mut *conn)
            .await?;
    let mut errors = Vec::new();
    match store {
        None => errors.push(FieldError::new("store_id", "no such store")),
        Some((owner, _)) if owner != actor.id && !actor.is_admin() => {
            return Err(Error::Forbidden(
                "vendors create products in their own stores only",
            ))
        }
        Some(_) => {}
    }
    let (name, slug) = slug::name_and_slug(&new.name, new.slug.as_deref(), &mut errors);
    let code = match new.code.as_deref() {
        Some(c) => sku::parse_code(c)
            .map_err(|m| errors.push(FieldError::new("code", m)))
            .unwrap_or_default(),
        None => sku::code_from_name(&name),
    };
    if code.is_empty() && errors.is_empty() {
        errors.push(FieldError::new(
            "code",
            "cannot be made from this name; give one",
        ));
    }
    let description = description(new.description.as_deref().unwrap_or_default(), &mut errors);
    if !category_exists(conn, new.category_id).await? {
        errors.push(FieldError::new("category_id", "no such category"));
    }
    match product_types::get_locked(conn, new.type_id).await {
        Ok(t) => t.check_product_values(&new.attributes, &mut errors),
        Err(Error::NotFound) => {
            errors.push(FieldError::new("product_type_id", "no such product type"))
        }
        Err(e) => return Err(e),
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO products (id, store_id, category_id, type_id, name, slug, code, description, attributes, active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(id)
    .bind(new.store_id)
    .bind(new.category_id)
    .bind(new.type_id)
    .bind(&name)
    .bind(&slug)
    .bind(&code)
    .bind(&description)
    .bind(Json(&new.attributes))
    .bind(new.active.unwrap_or(true))
    .execute(&mut *conn)
    .await
    .map_err(conflict)?;
    Ok(id)
}

#[derive(Debug, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<Uuid>,
    /// Replaces all product-level values.
    pub attributes: Option<BTreeMap<String, String>>,
    pub active: Option<bool>,
}

pub async fn update(pool: &PgPool, actor: Actor, id: Uuid, patch: ProductPatch) -> Result<()> {
    let mut tx = pool.begin().await?;
    let row = managed(&mut tx, actor, id).await?;
    let mut errors = Vec::new();
    let (name, slug) =
        slug::changed_name_and_slug(patch.name.as_deref(), patch.slug.as_deref(), &mut errors);
    let description = patch
        .description
        .as_deref()
        .map(|d| description(d, &mut errors));
    if let Some(category) = patch.category_id {
        if !category_exists(&mut tx, category).await? {
            errors.push(FieldError::new("category_id", "no such category"));
        }
    }
    if let Some(values) = &patch.attributes {
        product_types::get_locked(&mut tx, row.type_id)
            .await?
            .check_product_values(values, &mut errors);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    sqlx::query(
        "UPDATE products SET name = COALESCE($2, name), slug = COALESCE($3, slug),
                description = COALESCE($4, description), category_id = COALESCE($5, category_id),
                attributes = COALESCE($6, attributes), active = COALESCE($7, active), updated_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(slug)
    .bind(description)
    .bind(patch.category_id)
    .bind(patch.attributes.as_ref().map(Json))
    .bind(patch.active)
    .execute(&mut *tx)
    .await
    .map_err(conflict)?;
    tx.commit().await?;
    Ok(())
}

/// Soft delete: the product leaves every listing; orders and reviews keep it.
pub async fn delete(pool: &PgPool, actor: Actor, id: Uuid) -> Result<()> {
    let mut tx = pool.begin().await?;
    managed(&mut tx, actor, id).await?;
    sqlx::query("UPDATE products SET deleted_at = now(), active = false WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM wishlist_items WHERE product_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_average_to_two_decimals() {
        assert_eq!(Rating::new(0, 0).average, 0.0);
        assert_eq!(Rating::new(14, 3).average, 4.67);
        assert_eq!(Rating::new(10, 2).average, 5.0);
    }
}

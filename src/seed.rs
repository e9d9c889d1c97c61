//! `bazaar seed`: demo data for trying the API and for benchmarks: a vendor
//! with a store, a category tree, product types, and products with variants.
//!
//! Rows go straight into the tables in bulk instead of through the catalogue
//! services: those validate and announce one product per call, which would
//! take minutes for tens of thousands of products and post every one of them
//! to the integrations.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use anyhow::Context;
use bazaar_core::{auth::password, catalog::slug::slugify, config::Config, db};
use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};
use sqlx::PgPool;
use uuid::Uuid;

pub const VENDOR_EMAIL: &str = "demo-vendor@bazaar.local";
pub const VENDOR_PASSWORD: &str = "demo-password-123";
const VENDOR_NAME: &str = "Demo Vendor";
const STORE_NAME: &str = "Demo Store";
const STORE_SLUG: &str = "demo-store";
const STORE_DESCRIPTION: &str =
    "Demo catalogue made by `bazaar seed`: clothing, shoes, home goods, electronics, sports and beauty.";

/// Products per transaction and per statement: large enough that round trips
/// do not dominate, small enough that a failure loses little and the parameter
/// arrays stay a few megabytes.
const CHUNK: usize = 1_000;
/// Products get creation times over this many past seconds (90 days), so that
/// "newest first" listings and date filters have something to sort.
const SPREAD_SECONDS: i64 = 90 * 24 * 3600;
/// No I, O, 0 or 1: run tags end up on labels and are read aloud.
const TAG_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

pub async fn command(config: &Config, products: usize, orders: usize) -> anyhow::Result<()> {
    let pool = db::prepare(&config.database_url, 2).await?;
    let report = run(&pool, &config.currency, products).await?;
    println!("{report}");
    if orders > 0 {
        let report = crate::seed_orders::run(&pool, &config.currency, orders).await?;
        println!("{report}");
    }
    pool.close().await;
    announce_change(config).await;
    Ok(())
}

/// Running API processes cache catalogue reads; the seed wrote behind their
/// back, so tell them, as every API write does. Best effort: without Redis
/// there is no running API to tell.
async fn announce_change(config: &Config) {
    if let Err(e) = bazaar_core::catalog::publish_change(config).await {
        eprintln!("note: could not tell running API processes about the new products: {e:#}");
    }
}

#[derive(Debug)]
pub struct SeedReport {
    pub store_id: Uuid,
    pub vendor_email: String,
    /// `None` when the vendor existed already and its password has been
    /// changed since: the seed never resets it.
    pub vendor_password: Option<String>,
    /// Prefix of this run's product codes and SKUs.
    pub run_tag: String,
    pub categories: usize,
    pub categories_created: usize,
    pub product_types: usize,
    pub product_types_created: usize,
    pub products: usize,
    pub variants: usize,
    pub elapsed: Duration,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeded {} products with {} variants in {:.1} s",
            self.products,
            self.variants,
            self.elapsed.as_secs_f64()
        )?;
        if self.products > 0 {
            write!(
                f,
                " (codes {tag}-000001 to {tag}-{last:06})",
                tag = self.run_tag,
                last = self.products
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "store: {STORE_NAME} (slug {STORE_SLUG}, id {})",
            self.store_id
        )?;
        writeln!(
            f,
            "categories: {} ({} new), product types: {} ({} new)",
            self.categories,
            self.categories_created,
            self.product_types,
            self.product_types_created
        )?;
        match &self.vendor_password {
            Some(password) => write!(f, "vendor login: {} / {password}", self.vendor_email),
            None => write!(
                f,
                "vendor login: {} (its password was changed after an earlier seed and is left as it is)",
                self.vendor_email
            ),
        }
    }
}

/// Creates the vendor, store, categories and product types if missing (so a
/// second run reuses them), then adds `products` new products.
pub async fn run(pool: &PgPool, currency: &str, products: usize) -> anyhow::Result<SeedReport> {
    // Checked here because the database would only say so from the first chunk.
    anyhow::ensure!(
        currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()),
        "currency {currency:?} is not an ISO 4217 code"
    );
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(rand::random());

    let (vendor_id, password_known) = ensure_vendor(pool).await?;
    let store_id = ensure_store(pool, vendor_id).await?;

    let mut type_ids = HashMap::new();
    let mut product_types_created = 0;
    for ty in TYPES {
        let (id, created) = ensure_type(pool, ty).await?;
        type_ids.insert(ty.name, id);
        product_types_created += usize::from(created);
    }

    let mut leaves = Vec::new();
    let mut categories = 0;
    let mut categories_created = 0;
    for (position, root) in CATALOGUE.iter().enumerate() {
        let (root_id, created) =
            ensure_category(pool, None, root.name, root.slug, position).await?;
        categories += 1;
        categories_created += usize::from(created);
        for (position, leaf) in root.leaves.iter().enumerate() {
            let (category_id, created) =
                ensure_category(pool, Some(root_id), leaf.name, leaf.slug, position).await?;
            categories += 1;
            categories_created += usize::from(created);
            let type_id = *type_ids
                .get(leaf.ty.name)
                .with_context(|| format!("product type {} is not in TYPES", leaf.ty.name))?;
            leaves.push(Placed {
                leaf,
                category_id,
                type_id,
            });
        }
    }

    ensure_shipping_methods(pool, currency).await?;
    let run_tag = fresh_run_tag(pool, &mut rng).await?;
    let scale = units_per_tenge(currency);
    let now = Utc::now();
    let mut variants = 0;
    let mut start = 0;
    while start < products {
        let end = (start + CHUNK).min(products);
        let chunk = build_chunk(&mut rng, &leaves, &run_tag, start..end, scale, now);
        insert_chunk(pool, store_id, currency, &chunk)
            .await
            .with_context(|| format!("inserting products {} to {end}", start + 1))?;
        variants += chunk.variant_ids.len();
        tracing::debug!(done = end, total = products, "seed chunk committed");
        start = end;
    }

    // Autovacuum may be slow or off (it is on the benchmark machine);
    // benchmarks run right after a seed need plans made with the real row
    // counts and a visibility map that allows index-only scans.
    for statement in ["VACUUM (ANALYZE) products", "VACUUM (ANALYZE) variants"] {
        sqlx::query(statement)
            .execute(pool)
            .await
            .with_context(|| statement.to_owned())?;
    }

    Ok(SeedReport {
        store_id,
        vendor_email: VENDOR_EMAIL.to_owned(),
        vendor_password: password_known.then(|| VENDOR_PASSWORD.to_owned()),
        run_tag,
        categories,
        categories_created,
        product_types: TYPES.len(),
        product_types_created,
        products,
        variants,
        elapsed: started.elapsed(),
    })
}

/// Two demo shipping methods, when the shop has none, so checkout works on
/// a fresh install.
async fn ensure_shipping_methods(pool: &PgPool, currency: &str) -> anyhow::Result<()> {
    let scale = units_per_tenge(currency);
    sqlx::query(
        "INSERT INTO shipping_methods (id, name, price, free_above, currency, estimated_days_min, estimated_days_max)
         SELECT m.id, m.name, m.price, m.free_above, $5, m.lo, m.hi
         FROM (VALUES ($1::uuid, 'Courier'::text, $3::bigint, $4::bigint, 1, 3),
                      ($2::uuid, 'Pickup point'::text, 0::bigint, NULL::bigint, 2, 5)) AS m(id, name, price, free_above, lo, hi)
         WHERE NOT EXISTS (SELECT 1 FROM shipping_methods)",
    )
    .bind(Uuid::now_v7())
    .bind(Uuid::now_v7())
    .bind((1_500.0 * scale * 100.0).round() as i64)
    .bind((50_000.0 * scale * 100.0).round() as i64)
    .bind(currency)
    .execute(pool)
    .await
    .context("creating demo shipping methods")?;
    Ok(())
}

/// The vendor's id, and whether its password is still the demo one.
async fn ensure_vendor(pool: &PgPool) -> anyhow::Result<(Uuid, bool)> {
    if let Some(found) = find_vendor(pool).await? {
        return Ok(found);
    }
    let hash = password::hash(VENDOR_PASSWORD.to_owned()).await?;
    // A concurrent seed may have created it meanwhile; either row will do.
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, name, role)
         VALUES ($1, $2, $3, $4, 'vendor') ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(VENDOR_EMAIL)
    .bind(&hash)
    .bind(VENDOR_NAME)
    .execute(pool)
    .await
    .context("creating the demo vendor")?;
    find_vendor(pool)
        .await?
        .context("the demo vendor is missing right after its creation")
}

async fn find_vendor(pool: &PgPool) -> anyhow::Result<Option<(Uuid, bool)>> {
    let row: Option<(Uuid, String, String)> =
        sqlx::query_as("SELECT id, role, password_hash FROM users WHERE lower(email) = lower($1)")
            .bind(VENDOR_EMAIL)
            .fetch_optional(pool)
            .await
            .context("looking up the demo vendor")?;
    let Some((id, role, hash)) = row else {
        return Ok(None);
    };
    anyhow::ensure!(
        role == "vendor",
        "{VENDOR_EMAIL} exists as a {role} account; the demo store needs a vendor"
    );
    let known = password::verify(VENDOR_PASSWORD.to_owned(), hash).await?;
    Ok(Some((id, known)))
}

async fn ensure_store(pool: &PgPool, vendor_id: Uuid) -> anyhow::Result<Uuid> {
    sqlx::query(
        "INSERT INTO stores (id, owner_id, name, slug, description)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(vendor_id)
    .bind(STORE_NAME)
    .bind(STORE_SLUG)
    .bind(STORE_DESCRIPTION)
    .execute(pool)
    .await
    .context("creating the demo store")?;
    let (id, owner): (Uuid, Uuid) =
        sqlx::query_as("SELECT id, owner_id FROM stores WHERE slug = $1 AND deleted_at IS NULL")
            .bind(STORE_SLUG)
            .fetch_one(pool)
            .await
            .context("looking up the demo store")?;
    // Products in someone else's store could not be managed with the login
    // the report hands out.
    anyhow::ensure!(
        owner == vendor_id,
        "store {STORE_SLUG} exists but belongs to another account than {VENDOR_EMAIL}"
    );
    Ok(id)
}

/// The category's id, and whether it was created now. An existing one is
/// reused as it is, wherever it sits in the tree.
async fn ensure_category(
    pool: &PgPool,
    parent_id: Option<Uuid>,
    name: &str,
    slug: &str,
    position: usize,
) -> anyhow::Result<(Uuid, bool)> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO categories (id, parent_id, name, slug, position) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (slug) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(parent_id)
    .bind(name)
    .bind(slug)
    .bind(position as i32)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("creating category {slug}"))?;
    if let Some(id) = inserted {
        return Ok((id, true));
    }
    let id: Uuid = sqlx::query_scalar("SELECT id FROM categories WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .with_context(|| format!("looking up category {slug}"))?;
    Ok((id, false))
}

/// The type's id, and whether it was created now. Attributes an existing
/// type lacks are added; those it has are left alone.
async fn ensure_type(pool: &PgPool, ty: &ProductType) -> anyhow::Result<(Uuid, bool)> {
    let inserted: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO product_types (id, name) VALUES ($1, $2)
         ON CONFLICT (name) DO NOTHING RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(ty.name)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("creating product type {}", ty.name))?;
    let (id, created) = match inserted {
        Some(id) => (id, true),
        None => {
            let id: Uuid = sqlx::query_scalar("SELECT id FROM product_types WHERE name = $1")
                .bind(ty.name)
                .fetch_one(pool)
                .await
                .with_context(|| format!("looking up product type {}", ty.name))?;
            (id, false)
        }
    };
    let attributes = std::iter::once((&ty.product_attr, "product"))
        .chain(ty.variant_attrs.iter().map(|a| (a, "variant")));
    for (position, (attr, level)) in attributes.enumerate() {
        let values: Vec<String> = attr.values.iter().map(|v| (*v).to_owned()).collect();
        sqlx::query(
            "INSERT INTO product_type_attributes (type_id, code, name, level, allowed_values, position)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (type_id, code) DO NOTHING",
        )
        .bind(id)
        .bind(attr.code)
        .bind(attr.name)
        .bind(level)
        .bind(&values)
        .bind(position as i32)
        .execute(pool)
        .await
        .with_context(|| format!("adding attribute {} to {}", attr.code, ty.name))?;
    }
    Ok((id, created))
}

/// A run tag no product has used, deleted ones included: their variants keep
/// their SKUs, and SKUs are unique across all variants.
async fn fresh_run_tag(pool: &PgPool, rng: &mut StdRng) -> anyhow::Result<String> {
    for _ in 0..20 {
        let tag: String = (0..4)
            .map(|_| char::from(*pick(rng, TAG_ALPHABET)))
            .collect();
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products WHERE code LIKE $1)")
                .bind(format!("{tag}-%"))
                .fetch_one(pool)
                .await
                .context("checking the run tag")?;
        if !taken {
            return Ok(tag);
        }
    }
    anyhow::bail!("found no unused run tag in 20 tries")
}

/// A leaf category with the ids it got in this database.
struct Placed {
    leaf: &'static Leaf,
    category_id: Uuid,
    type_id: Uuid,
}

/// One chunk's rows, column by column, as `UNNEST` takes them.
#[derive(Default)]
struct Chunk {
    product_ids: Vec<Uuid>,
    category_ids: Vec<Uuid>,
    type_ids: Vec<Uuid>,
    names: Vec<String>,
    slugs: Vec<String>,
    codes: Vec<String>,
    descriptions: Vec<String>,
    product_attributes: Vec<Value>,
    /// The product's `code=value` facet strings, joined by `FACET_SEPARATOR`
    /// (PostgreSQL takes no ragged arrays as parameters).
    facet_values: Vec<String>,
    min_prices: Vec<i64>,
    max_prices: Vec<i64>,
    created_at: Vec<DateTime<Utc>>,
    variant_ids: Vec<Uuid>,
    variant_products: Vec<Uuid>,
    skus: Vec<String>,
    variant_attributes: Vec<Value>,
    prices: Vec<i64>,
    stocks: Vec<i32>,
    weights: Vec<i32>,
    variant_created_at: Vec<DateTime<Utc>>,
}

/// Products number `range` (0-based; codes count from 1), round-robin over
/// the leaves so that every category gets its share.
fn build_chunk(
    rng: &mut StdRng,
    leaves: &[Placed],
    tag: &str,
    range: Range<usize>,
    scale: f64,
    now: DateTime<Utc>,
) -> Chunk {
    let mut c = Chunk::default();
    for i in range {
        let placed = &leaves[i % leaves.len()];
        let leaf = placed.leaf;
        let ty = leaf.ty;
        let adjective = *pick(rng, leaf.adjectives);
        let qualifier = *pick(rng, leaf.qualifiers);
        let noun = *pick(rng, leaf.nouns);
        let name = if ty.brand {
            format!("{qualifier} {adjective} {noun}")
        } else {
            format!("{adjective} {qualifier} {noun}")
        };
        let code = format!("{tag}-{:06}", i + 1);
        // Names repeat across products; the code makes the slug unique.
        let slug = slugify(&format!("{name} {code}"));
        let description = describe(rng, leaf, &name, qualifier);
        let mut attributes = Map::new();
        attributes.insert(ty.product_attr.code.to_owned(), Value::from(qualifier));
        let created_at = now - TimeDelta::seconds(rng.random_range(0..SPREAD_SECONDS));
        let base = f64::from(rng.random_range(leaf.price_tenge.0..=leaf.price_tenge.1)) * scale;
        let weight = rng.random_range(leaf.weight_grams.0..=leaf.weight_grams.1);
        let product_id = Uuid::now_v7();

        let wanted = rng.random_range(2..=4);
        let mut min_price = i64::MAX;
        let mut max_price = i64::MIN;
        let mut facets = vec![format!("{}={qualifier}", ty.product_attr.code)];
        for combination in pick_combinations(rng, ty.variant_attrs, wanted) {
            let mut sku = code.clone();
            let mut values = Map::new();
            let mut factor = 1.0;
            for (attr, &index) in ty.variant_attrs.iter().zip(&combination) {
                let value = attr.values[index];
                sku.push('-');
                sku.push_str(&sku_part(value));
                values.insert(attr.code.to_owned(), Value::from(value));
                facets.push(format!("{}={value}", attr.code));
                factor += attr.price_step * index as f64;
            }
            let price = retail_price(base * factor);
            min_price = min_price.min(price);
            max_price = max_price.max(price);
            let stock: i32 = if rng.random_bool(0.1) {
                0
            } else {
                rng.random_range(1..=200)
            };
            c.variant_ids.push(Uuid::now_v7());
            c.variant_products.push(product_id);
            c.skus.push(sku);
            c.variant_attributes.push(Value::Object(values));
            c.prices.push(price);
            c.stocks.push(stock);
            c.weights.push(weight);
            c.variant_created_at.push(created_at);
        }

        c.product_ids.push(product_id);
        c.category_ids.push(placed.category_id);
        c.type_ids.push(placed.type_id);
        c.names.push(name);
        c.slugs.push(slug);
        c.codes.push(code);
        c.descriptions.push(description);
        c.product_attributes.push(Value::Object(attributes));
        c.facet_values.push(facets.join(FACET_SEPARATOR));
        c.min_prices.push(min_price);
        c.max_prices.push(max_price);
        c.created_at.push(created_at);
    }
    c
}

/// Separates a product's facet strings in one parameter; no value contains it.
const FACET_SEPARATOR: &str = "\u{1f}";

/// The products carry their price range and facet values already. The
/// variants' trigger still fires once per row, after the whole statement (it
/// is an AFTER trigger), finds both right and writes nothing (checked by the
/// `seed_leaves_no_dead_rows` test); left empty, it would rewrite each product
/// (and every index on it) once more, leaving as many dead rows as products.
const INSERT_PRODUCTS: &str = "
    INSERT INTO products (id, store_id, category_id, type_id, name, slug, code, description,
                          attributes, facet_values, active, min_price, max_price, created_at, updated_at)
    SELECT t.id, $1, t.category_id, t.type_id, t.name, t.slug, t.code, t.description,
           t.attributes, string_to_array(t.facets, $13), true, t.min_price, t.max_price,
           t.created_at, t.created_at
    FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::jsonb[], $10::int8[], $11::int8[], $12::timestamptz[], $14::text[])
      AS t(id, category_id, type_id, name, slug, code, description, attributes,
           min_price, max_price, created_at, facets)";

const INSERT_VARIANTS: &str = "
    INSERT INTO variants (id, product_id, sku, attributes, price, currency, stock,
                          weight_grams, active, created_at, updated_at)
    SELECT t.id, t.product_id, t.sku, t.attributes, t.price, $1, t.stock,
           t.weight_grams, true, t.created_at, t.created_at
    FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::jsonb[], $6::int8[], $7::int4[],
                $8::int4[], $9::timestamptz[])
      AS t(id, product_id, sku, attributes, price, stock, weight_grams, created_at)";

async fn insert_chunk(
    pool: &PgPool,
    store_id: Uuid,
    currency: &str,
    c: &Chunk,
) -> anyhow::Result<()> {
    // One transaction per chunk: no product is ever visible without variants.
    let mut tx = pool.begin().await?;
    sqlx::query(INSERT_PRODUCTS)
        .bind(store_id)
        .bind(&c.product_ids)
        .bind(&c.category_ids)
        .bind(&c.type_ids)
        .bind(&c.names)
        .bind(&c.slugs)
        .bind(&c.codes)
        .bind(&c.descriptions)
        .bind(&c.product_attributes)
        .bind(&c.min_prices)
        .bind(&c.max_prices)
        .bind(&c.created_at)
        .bind(FACET_SEPARATOR)
        .bind(&c.facet_values)
        .execute(&mut *tx)
        .await
        .context("inserting products")?;
    sqlx::query(INSERT_VARIANTS)
        .bind(currency)
        .bind(&c.variant_ids)
        .bind(&c.variant_products)
        .bind(&c.skus)
        .bind(&c.variant_attributes)
        .bind(&c.prices)
        .bind(&c.stocks)
        .bind(&c.weights)
        .bind(&c.variant_created_at)
        .execute(&mut *tx)
        .await
        .context("inserting variants")?;
    tx.commit().await?;
    Ok(())
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// `wanted` distinct combinations of the attributes' values (fewer if there
/// are not that many), each as one value index per attribute. Sorted, so a
/// product's variants list in the values' order.
fn pick_combinations(rng: &mut StdRng, attrs: &[Attr], wanted: usize) -> Vec<Vec<usize>> {
    let total: usize = attrs.iter().map(|a| a.values.len()).product();
    let wanted = wanted.min(total);
    let mut picked: Vec<usize> = Vec::with_capacity(wanted);
    while picked.len() < wanted {
        let k = rng.random_range(0..total);
        if !picked.contains(&k) {
            picked.push(k);
        }
    }
    picked.sort_unstable();
    picked
        .into_iter()
        .map(|mut k| {
            attrs
                .iter()
                .map(|a| {
                    let index = k % a.values.len();
                    k /= a.values.len();
                    index
                })
                .collect()
        })
        .collect()
}

/// A value as it appears in a SKU: "30 ml" -> "30ML".
fn sku_part(value: &str) -> String {
    value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// 1-3 sentences, worded from the category's lists so that full-text search
/// finds products by material, brand, use and feature.
fn describe(rng: &mut StdRng, leaf: &Leaf, name: &str, qualifier: &str) -> String {
    let purpose = *pick(rng, leaf.uses);
    let mut text = match (leaf.ty.brand, rng.random_range(0..3)) {
        (_, 0) => format!("The {name} is made for {purpose}."),
        (true, 1) => format!("{qualifier} designed the {name} for {purpose}."),
        (true, _) => format!("Built for {purpose}, the {name} is {qualifier} at its best."),
        (false, 1) => format!(
            "Made from {}, the {name} is a natural choice for {purpose}.",
            qualifier.to_lowercase()
        ),
        (false, _) => format!(
            "Designed for {purpose}, the {name} is made from {}.",
            qualifier.to_lowercase()
        ),
    };
    if rng.random_bool(0.75) {
        text.push(' ');
        text.push_str(pick::<&str>(rng, leaf.features));
    }
    if rng.random_bool(0.5) {
        text.push(' ');
        text.push_str(pick::<&str>(rng, CLOSINGS));
    }
    text
}

/// Minor units of a shelf price near `major` units: just below a round
/// number, as shops price (4 990, 24 990, 29.99), rounding up.
fn retail_price(major: f64) -> i64 {
    let major = major.max(1.0);
    // powi: exact for these few exponents, so 1 000 stays 1 000.
    let magnitude = 10f64.powi(major.log10().floor() as i32);
    if magnitude >= 1_000.0 {
        let step = magnitude / 10.0;
        let rounded = (major / step).ceil() * step;
        (rounded as i64 - 10) * 100
    } else {
        let step = (magnitude / 10.0).max(1.0);
        let rounded = (major / step).ceil() * step;
        rounded as i64 * 100 - 1
    }
}

/// The catalogue's prices are written in tenge; this rough rate keeps them
/// plausible in a few other currencies. Unknown currencies keep the numbers.
fn units_per_tenge(currency: &str) -> f64 {
    match currency {
        "RUB" | "KGS" => 0.17,
        "UZS" => 25.0,
        "USD" | "EUR" | "GBP" | "CHF" => 0.002,
        _ => 1.0,
    }
}

// The demo catalogue.

struct Attr {
    code: &'static str,
    name: &'static str,
    values: &'static [&'static str],
    /// Price added per step along `values`, as a fraction of the base: more
    /// storage or a bigger bottle costs more; sizes and colours cost the same.
    price_step: f64,
}

const fn attr(code: &'static str, name: &'static str, values: &'static [&'static str]) -> Attr {
    Attr {
        code,
        name,
        values,
        price_step: 0.0,
    }
}

struct ProductType {
    name: &'static str,
    /// Every demo type has one product-level attribute; categories choose its
    /// value and product names show it.
    product_attr: Attr,
    variant_attrs: &'static [Attr],
    /// Brands lead a name ("Voltra Pro Smartphone"); materials follow the
    /// adjective ("Classic Cotton T-Shirt").
    brand: bool,
}

struct Leaf {
    name: &'static str,
    slug: &'static str,
    ty: &'static ProductType,
    adjectives: &'static [&'static str],
    /// Values of the type's product-level attribute that suit the category.
    qualifiers: &'static [&'static str],
    nouns: &'static [&'static str],
    /// Completes "made for ...".
    uses: &'static [&'static str],
    features: &'static [&'static str],
    price_tenge: (u32, u32),
    weight_grams: (i32, i32),
}

struct Root {
    name: &'static str,
    slug: &'static str,
    leaves: &'static [Leaf],
}

const COLORS: &[&str] = &["Black", "White", "Red", "Blue", "Green"];

const APPAREL: ProductType = ProductType {
    name: "Apparel",
    product_attr: attr(
        "material",
        "Material",
        &["Cotton", "Linen", "Wool", "Polyester"],
    ),
    variant_attrs: &[
        attr("size", "Size", &["XS", "S", "M", "L", "XL"]),
        attr("color", "Color", COLORS),
    ],
    brand: false,
};

const SHOES: ProductType = ProductType {
    name: "Shoes",
    product_attr: attr(
        "material",
        "Material",
        &["Leather", "Suede", "Canvas", "Mesh", "Knit", "Rubber"],
    ),
    variant_attrs: &[
        attr(
            "size",
            "Size",
            &["38", "39", "40", "41", "42", "43", "44", "45"],
        ),
        attr(
            "color",
            "Color",
            &["Black", "White", "Grey", "Brown", "Blue"],
        ),
    ],
    brand: false,
};

const ELECTRONICS: ProductType = ProductType {
    name: "Electronics",
    product_attr: attr(
        "brand",
        "Brand",
        &["Voltra", "Nordtek", "Lumio", "Arcwave", "Kestrel"],
    ),
    variant_attrs: &[
        Attr {
            code: "storage",
            name: "Storage",
            values: &["64GB", "128GB", "256GB"],
            price_step: 0.2,
        },
        attr("color", "Color", &["Black", "White", "Silver", "Blue"]),
    ],
    brand: true,
};

const HOME: ProductType = ProductType {
    name: "Home",
    product_attr: attr(
        "material",
        "Material",
        &[
            "Ceramic",
            "Glass",
            "Stainless Steel",
            "Cast Iron",
            "Bamboo",
            "Cotton",
            "Linen",
            "Oak",
        ],
    ),
    variant_attrs: &[attr(
        "color",
        "Color",
        &["White", "Black", "Grey", "Beige", "Blue"],
    )],
    brand: false,
};

const BEAUTY: ProductType = ProductType {
    name: "Beauty",
    product_attr: attr(
        "brand",
        "Brand",
        &["Aurelle", "Botanica", "Nordic Dew", "Saule", "Velvetine"],
    ),
    variant_attrs: &[Attr {
        code: "volume",
        name: "Volume",
        values: &["30 ml", "50 ml", "100 ml", "200 ml"],
        price_step: 0.5,
    }],
    brand: true,
};

const SPORTS_GEAR: ProductType = ProductType {
    name: "Sports Gear",
    product_attr: attr(
        "material",
        "Material",
        &[
            "Rubber",
            "Neoprene",
            "Steel",
            "Foam",
            "Nylon",
            "Polyester",
            "Aluminium",
        ],
    ),
    variant_attrs: &[attr(
        "color",
        "Color",
        &["Black", "Grey", "Red", "Blue", "Green"],
    )],
    brand: false,
};

const TYPES: &[&ProductType] = &[&APPAREL, &SHOES, &ELECTRONICS, &HOME, &BEAUTY, &SPORTS_GEAR];

const CLOSINGS: &[&str] = &[
    "Backed by a 30-day return policy.",
    "Orders placed before noon ship the same day.",
    "A favourite with our regular customers.",
    "Ships in recyclable packaging.",
    "Covered by our one-year quality guarantee.",
];

const CATALOGUE: &[Root] = &[
    Root {
        name: "Clothing",
        slug: "clothing",
        leaves: &[
            Leaf {
                name: "T-Shirts",
                slug: "t-shirts",
                ty: &APPAREL,
                adjectives: &[
                    "Classic",
                    "Essential",
                    "Relaxed",
                    "Slim-Fit",
                    "Vintage",
                    "Everyday",
                ],
                qualifiers: &["Cotton", "Linen", "Polyester"],
                nouns: &["T-Shirt", "Crew Neck Tee", "V-Neck Tee", "Pocket Tee"],
                uses: &[
                    "everyday wear",
                    "layering under a jacket",
                    "warm summer days",
                ],
                features: &[
                    "Soft, breathable fabric keeps you cool all day.",
                    "Reinforced seams keep their shape wash after wash.",
                    "A true-to-size fit that works on its own or under a shirt.",
                ],
                price_tenge: (2_500, 12_000),
                weight_grams: (150, 250),
            },
            Leaf {
                name: "Hoodies",
                slug: "hoodies",
                ty: &APPAREL,
                adjectives: &["Cozy", "Oversized", "Classic", "Heavyweight", "Zip-Up"],
                qualifiers: &["Cotton", "Wool", "Polyester"],
                nouns: &["Hoodie", "Pullover Hoodie", "Sweatshirt"],
                uses: &["cool evenings", "lazy weekends", "the walk to the gym"],
                features: &[
                    "A brushed interior traps warmth without bulk.",
                    "The lined hood and kangaroo pocket keep the cold out.",
                    "Ribbed cuffs and hem hold their shape.",
                ],
                price_tenge: (8_000, 35_000),
                weight_grams: (400, 800),
            },
            Leaf {
                name: "Jeans",
                slug: "jeans",
                ty: &APPAREL,
                adjectives: &[
                    "Straight-Leg",
                    "Skinny",
                    "Relaxed",
                    "Bootcut",
                    "Tapered",
                    "Vintage",
                ],
                qualifiers: &["Cotton"],
                nouns: &["Jeans", "Denim Jeans", "Stretch Jeans"],
                uses: &[
                    "everyday wear",
                    "casual Fridays at the office",
                    "long road trips",
                ],
                features: &[
                    "Sturdy denim softens with every wear.",
                    "A touch of stretch means they move with you.",
                    "Five pockets and a button fly, the way jeans should be.",
                ],
                price_tenge: (10_000, 45_000),
                weight_grams: (500, 900),
            },
            Leaf {
                name: "Jackets",
                slug: "jackets",
                ty: &APPAREL,
                adjectives: &["Lightweight", "Quilted", "Waterproof", "Classic", "Padded"],
                qualifiers: &["Wool", "Polyester", "Cotton"],
                nouns: &["Jacket", "Parka", "Bomber Jacket", "Windbreaker"],
                uses: &["rainy autumn days", "city commutes", "mountain weekends"],
                features: &[
                    "A water-repellent finish shrugs off light rain.",
                    "Zipped pockets keep your phone and keys safe.",
                    "Warm enough for autumn, light enough to pack.",
                ],
                price_tenge: (15_000, 90_000),
                weight_grams: (600, 1_500),
            },
        ],
    },
    Root {
        name: "Shoes",
        slug: "shoes",
        leaves: &[
            Leaf {
                name: "Sneakers",
                slug: "sneakers",
                ty: &SHOES,
                adjectives: &["Classic", "Low-Top", "High-Top", "Retro", "Everyday"],
                qualifiers: &["Canvas", "Leather", "Suede"],
                nouns: &["Sneaker", "Trainer", "Court Shoe"],
                uses: &["city walks", "everyday wear", "weekend errands"],
                features: &[
                    "A cushioned insole keeps you comfortable all day.",
                    "A grippy rubber outsole handles wet pavements.",
                    "Goes with jeans, chinos and everything in between.",
                ],
                price_tenge: (12_000, 60_000),
                weight_grams: (600, 1_000),
            },
            Leaf {
                name: "Running Shoes",
                slug: "running-shoes",
                ty: &SHOES,
                adjectives: &["Trail", "Lightweight", "Cushioned", "Racing", "Stability"],
                qualifiers: &["Mesh", "Knit"],
                nouns: &["Running Shoe", "Trainer", "Runner"],
                uses: &["daily training runs", "race day", "rough mountain trails"],
                features: &[
                    "A responsive foam midsole returns energy with every stride.",
                    "A breathable upper keeps your feet cool over long distances.",
                    "A deep-lug outsole grips on mud and gravel.",
                ],
                price_tenge: (18_000, 85_000),
                weight_grams: (450, 750),
            },
            Leaf {
                name: "Boots",
                slug: "boots",
                ty: &SHOES,
                adjectives: &["Chelsea", "Hiking", "Winter", "Classic", "Lace-Up"],
                qualifiers: &["Leather", "Suede"],
                nouns: &["Boot", "Ankle Boot", "Work Boot"],
                uses: &["snowy winters", "long hikes", "the office and beyond"],
                features: &[
                    "A warm lining keeps your feet comfortable below freezing.",
                    "Stitched soles can be repaired for years of wear.",
                    "A padded collar protects the ankle.",
                ],
                price_tenge: (25_000, 120_000),
                weight_grams: (1_000, 1_800),
            },
            Leaf {
                name: "Sandals",
                slug: "sandals",
                ty: &SHOES,
                adjectives: &["Summer", "Sport", "Comfort", "Beach", "Strappy"],
                qualifiers: &["Leather", "Rubber"],
                nouns: &["Sandal", "Flip-Flop", "Slide"],
                uses: &["the beach", "hot city days", "holidays by the sea"],
                features: &[
                    "A contoured footbed supports your arch.",
                    "Quick-drying straps go from pool to promenade.",
                    "Adjustable straps give a secure fit.",
                ],
                price_tenge: (5_000, 30_000),
                weight_grams: (300, 600),
            },
        ],
    },
    Root {
        name: "Home & Kitchen",
        slug: "home-kitchen",
        leaves: &[
            Leaf {
                name: "Cookware",
                slug: "cookware",
                ty: &HOME,
                adjectives: &[
                    "Non-Stick",
                    "Professional",
                    "Classic",
                    "Heavy-Duty",
                    "Compact",
                ],
                qualifiers: &["Stainless Steel", "Cast Iron", "Ceramic"],
                nouns: &[
                    "Frying Pan",
                    "Saucepan",
                    "Casserole Dish",
                    "Wok",
                    "Stockpot",
                ],
                uses: &["everyday cooking", "family dinners", "slow Sunday stews"],
                features: &[
                    "Heats evenly with no hot spots.",
                    "Safe on gas, electric and induction hobs.",
                    "Oven-safe up to 250 degrees.",
                ],
                price_tenge: (6_000, 60_000),
                weight_grams: (800, 4_000),
            },
            Leaf {
                name: "Tableware",
                slug: "tableware",
                ty: &HOME,
                adjectives: &["Handmade", "Minimalist", "Rustic", "Classic", "Stackable"],
                qualifiers: &["Ceramic", "Glass", "Bamboo"],
                nouns: &["Dinner Plate Set", "Mug", "Serving Bowl", "Tea Cup Set"],
                uses: &["everyday meals", "dinner parties", "a slow morning coffee"],
                features: &[
                    "Dishwasher and microwave safe.",
                    "Each piece is finished by hand.",
                    "Stacks neatly to save cupboard space.",
                ],
                price_tenge: (2_000, 25_000),
                weight_grams: (300, 3_000),
            },
            Leaf {
                name: "Bedding",
                slug: "bedding",
                ty: &HOME,
                adjectives: &["Soft", "Breathable", "Luxury", "Washed", "Classic"],
                qualifiers: &["Cotton", "Linen"],
                nouns: &["Duvet Cover", "Sheet Set", "Pillowcase Pair", "Bedspread"],
                uses: &["restful nights", "the guest room", "hot summer nights"],
                features: &[
                    "Gets softer with every wash.",
                    "A breathable weave keeps you cool at night.",
                    "A hidden button closure keeps the duvet in place.",
                ],
                price_tenge: (8_000, 55_000),
                weight_grams: (500, 2_500),
            },
            Leaf {
                name: "Lighting",
                slug: "lighting",
                ty: &HOME,
                adjectives: &[
                    "Modern",
                    "Scandinavian",
                    "Vintage",
                    "Dimmable",
                    "Minimalist",
                ],
                qualifiers: &["Glass", "Oak", "Bamboo", "Ceramic"],
                nouns: &["Table Lamp", "Floor Lamp", "Pendant Light", "Desk Lamp"],
                uses: &[
                    "a cozy reading corner",
                    "the living room",
                    "late-night work",
                ],
                features: &[
                    "Takes a standard E27 bulb.",
                    "Gives a warm, glare-free light for the evening.",
                    "The fabric cable is long enough for any desk.",
                ],
                price_tenge: (7_000, 70_000),
                weight_grams: (700, 5_000),
            },
        ],
    },
    Root {
        name: "Electronics",
        slug: "electronics",
        leaves: &[
            Leaf {
                name: "Smartphones",
                slug: "smartphones",
                ty: &ELECTRONICS,
                adjectives: &["Pro", "Lite", "Max", "Plus", "Ultra"],
                qualifiers: &["Voltra", "Nordtek", "Lumio", "Arcwave", "Kestrel"],
                nouns: &["Smartphone", "5G Smartphone", "Camera Phone"],
                uses: &["photos on the go", "work and play", "staying connected"],
                features: &[
                    "A bright OLED display stays readable in sunlight.",
                    "The battery lasts a full day and charges in under an hour.",
                    "A triple camera takes sharp shots even at night.",
                ],
                price_tenge: (60_000, 450_000),
                weight_grams: (150, 230),
            },
            Leaf {
                name: "Tablets",
                slug: "tablets",
                ty: &ELECTRONICS,
                adjectives: &["Pro", "Air", "Lite", "Mini", "Plus"],
                qualifiers: &["Voltra", "Nordtek", "Lumio", "Arcwave"],
                nouns: &["Tablet", "Drawing Tablet", "Kids Tablet"],
                uses: &["reading and streaming", "sketching and notes", "travel"],
                features: &[
                    "A large, sharp screen for films and comics.",
                    "Works with a stylus for notes and drawing.",
                    "Stereo speakers fill a room.",
                ],
                price_tenge: (60_000, 350_000),
                weight_grams: (300, 700),
            },
            Leaf {
                name: "Smartwatches",
                slug: "smartwatches",
                ty: &ELECTRONICS,
                adjectives: &["Active", "Sport", "Classic", "Lite", "Pro"],
                qualifiers: &["Voltra", "Lumio", "Kestrel"],
                nouns: &["Smartwatch", "Fitness Watch", "GPS Watch"],
                uses: &[
                    "tracking workouts",
                    "everyday notifications",
                    "sleep tracking",
                ],
                features: &[
                    "Tracks heart rate, steps and sleep.",
                    "Built-in GPS maps your runs without a phone.",
                    "Water-resistant to 50 metres.",
                ],
                price_tenge: (25_000, 200_000),
                weight_grams: (40, 80),
            },
        ],
    },
    Root {
        name: "Sports",
        slug: "sports",
        leaves: &[
            Leaf {
                name: "Sportswear",
                slug: "sportswear",
                ty: &APPAREL,
                adjectives: &[
                    "Performance",
                    "Training",
                    "Quick-Dry",
                    "Seamless",
                    "Compression",
                ],
                qualifiers: &["Polyester", "Cotton"],
                nouns: &["Training Tee", "Running Shorts", "Track Jacket", "Leggings"],
                uses: &["the gym", "morning runs", "yoga class"],
                features: &[
                    "Wicks sweat away to keep you dry.",
                    "Flatlock seams prevent chafing.",
                    "Reflective details keep you visible after dark.",
                ],
                price_tenge: (4_000, 30_000),
                weight_grams: (120, 450),
            },
            Leaf {
                name: "Fitness Equipment",
                slug: "fitness-equipment",
                ty: &SPORTS_GEAR,
                adjectives: &["Adjustable", "Non-Slip", "Compact", "Pro", "Home"],
                qualifiers: &["Rubber", "Neoprene", "Steel", "Foam"],
                nouns: &[
                    "Yoga Mat",
                    "Dumbbell Set",
                    "Kettlebell",
                    "Resistance Band Set",
                    "Foam Roller",
                ],
                uses: &["home workouts", "yoga and stretching", "strength training"],
                features: &[
                    "A non-slip surface stays put on any floor.",
                    "Compact enough to store under the bed.",
                    "Comes with a guide to twenty exercises.",
                ],
                price_tenge: (3_000, 80_000),
                weight_grams: (200, 15_000),
            },
            Leaf {
                name: "Camping",
                slug: "camping",
                ty: &SPORTS_GEAR,
                adjectives: &[
                    "Ultralight",
                    "Waterproof",
                    "Compact",
                    "Family",
                    "Four-Season",
                ],
                qualifiers: &["Nylon", "Polyester", "Aluminium"],
                nouns: &["Tent", "Sleeping Bag", "Hiking Backpack", "Camping Chair"],
                uses: &["weekend camping trips", "long hikes", "summer festivals"],
                features: &[
                    "Packs down small enough for a backpack.",
                    "Taped seams keep the rain out.",
                    "Sets up in minutes, even alone.",
                ],
                price_tenge: (10_000, 150_000),
                weight_grams: (500, 4_500),
            },
        ],
    },
    Root {
        name: "Beauty",
        slug: "beauty",
        leaves: &[
            Leaf {
                name: "Skincare",
                slug: "skincare",
                ty: &BEAUTY,
                adjectives: &["Hydrating", "Brightening", "Gentle", "Overnight", "Daily"],
                qualifiers: &["Aurelle", "Botanica", "Nordic Dew", "Saule"],
                nouns: &["Face Cream", "Serum", "Cleanser", "Toner", "Moisturiser"],
                uses: &["dry and sensitive skin", "a morning routine", "city skin"],
                features: &[
                    "With hyaluronic acid and vitamin E.",
                    "Fragrance-free and dermatologist tested.",
                    "Absorbs quickly and leaves no greasy film.",
                ],
                price_tenge: (3_000, 35_000),
                weight_grams: (50, 400),
            },
            Leaf {
                name: "Fragrance",
                slug: "fragrance",
                ty: &BEAUTY,
                adjectives: &["Amber", "Citrus", "Velvet Rose", "Fresh", "Midnight"],
                qualifiers: &["Aurelle", "Saule", "Velvetine"],
                nouns: &["Eau de Parfum", "Eau de Toilette", "Body Mist"],
                uses: &["evenings out", "everyday wear", "warm summer days"],
                features: &[
                    "Opens with bergamot and settles into warm amber.",
                    "A long-lasting scent that stays close to the skin.",
                    "Comes in a refillable glass bottle.",
                ],
                price_tenge: (8_000, 90_000),
                weight_grams: (100, 500),
            },
            Leaf {
                name: "Hair Care",
                slug: "hair-care",
                ty: &BEAUTY,
                adjectives: &[
                    "Repairing",
                    "Volumising",
                    "Smoothing",
                    "Daily",
                    "Nourishing",
                ],
                qualifiers: &["Botanica", "Nordic Dew", "Velvetine"],
                nouns: &["Shampoo", "Conditioner", "Hair Mask", "Hair Oil"],
                uses: &["dry and damaged hair", "fine hair", "everyday washing"],
                features: &[
                    "Sulfate-free and gentle on colour-treated hair.",
                    "With argan oil for shine without weight.",
                    "Works into a rich lather.",
                ],
                price_tenge: (2_500, 20_000),
                weight_grams: (100, 600),
            },
        ],
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The `code` and `sku` column checks: ^[A-Z0-9]+(-[A-Z0-9]+)*$.
    fn is_code(s: &str) -> bool {
        s.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        })
    }

    fn all_leaves() -> Vec<Placed> {
        CATALOGUE
            .iter()
            .flat_map(|r| r.leaves)
            .map(|leaf| Placed {
                leaf,
                category_id: Uuid::nil(),
                type_id: Uuid::nil(),
            })
            .collect()
    }

    #[test]
    fn the_catalogue_fits_its_types_and_the_schema() {
        let mut slugs = HashSet::new();
        for root in CATALOGUE {
            assert_eq!(slugify(root.name), root.slug);
            assert!(slugs.insert(root.slug), "{} twice", root.slug);
            assert!((2..=4).contains(&root.leaves.len()), "{}", root.name);
            for leaf in root.leaves {
                assert_eq!(slugify(leaf.name), leaf.slug);
                assert!(slugs.insert(leaf.slug), "{} twice", leaf.slug);
                assert!(
                    TYPES.iter().any(|t| t.name == leaf.ty.name),
                    "{}",
                    leaf.name
                );
                for q in leaf.qualifiers {
                    assert!(
                        leaf.ty.product_attr.values.contains(q),
                        "{q} in {}",
                        leaf.name
                    );
                }
                for list in [
                    leaf.adjectives,
                    leaf.qualifiers,
                    leaf.nouns,
                    leaf.uses,
                    leaf.features,
                ] {
                    assert!(!list.is_empty(), "{}", leaf.name);
                }
                assert!(leaf.price_tenge.0 <= leaf.price_tenge.1, "{}", leaf.name);
                assert!(leaf.weight_grams.0 <= leaf.weight_grams.1, "{}", leaf.name);
            }
        }
    }

    #[test]
    fn attributes_have_valid_codes_and_distinct_sku_parts() {
        let mut names = HashSet::new();
        for ty in TYPES {
            assert!(names.insert(ty.name));
            for attr in std::iter::once(&ty.product_attr).chain(ty.variant_attrs) {
                let mut chars = attr.code.chars();
                assert!(
                    chars.next().is_some_and(|c| c.is_ascii_lowercase()),
                    "{}",
                    attr.code
                );
                assert!(
                    chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{}",
                    attr.code
                );
                assert!(attr.code.len() <= 40);
                assert!(!attr.values.is_empty(), "{}", attr.code);
            }
            for attr in ty.variant_attrs {
                let parts: HashSet<String> = attr.values.iter().map(|v| sku_part(v)).collect();
                assert_eq!(parts.len(), attr.values.len(), "{}", attr.code);
                assert!(parts.iter().all(|p| !p.is_empty()), "{}", attr.code);
            }
        }
    }

    #[test]
    fn shelf_prices_end_just_below_round_numbers() {
        assert_eq!(retail_price(2_500.0), 249_000);
        assert_eq!(retail_price(12_300.0), 1_299_000);
        assert_eq!(retail_price(143_000.0), 14_999_000);
        assert_eq!(retail_price(29.3), 2_999);
        assert_eq!(retail_price(0.2), 99);
    }

    #[test]
    fn a_chunk_has_valid_unique_codes_and_consistent_prices() {
        let mut rng = StdRng::seed_from_u64(7);
        let leaves = all_leaves();
        let c = build_chunk(&mut rng, &leaves, "T3ST", 0..600, 1.0, Utc::now());
        assert_eq!(c.product_ids.len(), 600);
        assert_eq!(c.codes[0], "T3ST-000001");
        assert!(c.codes.iter().chain(&c.skus).all(|s| is_code(s)));
        assert_eq!(c.codes.iter().collect::<HashSet<_>>().len(), c.codes.len());
        assert_eq!(c.slugs.iter().collect::<HashSet<_>>().len(), c.slugs.len());
        assert_eq!(c.skus.iter().collect::<HashSet<_>>().len(), c.skus.len());
        let per_product = c.variant_ids.len() as f64 / 600.0;
        assert!((2.5..=3.5).contains(&per_product), "{per_product}");
        let out_of_stock =
            c.stocks.iter().filter(|s| **s == 0).count() as f64 / c.stocks.len() as f64;
        assert!((0.04..=0.2).contains(&out_of_stock), "{out_of_stock}");
        assert!(c.stocks.iter().all(|s| (0..=200).contains(s)));
        assert!(c.prices.iter().all(|p| *p > 0));

        let mut ranges: HashMap<Uuid, (i64, i64)> = HashMap::new();
        for (product, price) in c.variant_products.iter().zip(&c.prices) {
            let r = ranges.entry(*product).or_insert((i64::MAX, i64::MIN));
            r.0 = r.0.min(*price);
            r.1 = r.1.max(*price);
        }
        for (i, id) in c.product_ids.iter().enumerate() {
            assert_eq!(ranges.get(id), Some(&(c.min_prices[i], c.max_prices[i])));
            assert!(!c.descriptions[i].is_empty());
        }
    }
}

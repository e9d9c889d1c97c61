//! Carts: one per user, or a guest's identified by the `X-Cart-Token` it was
//! issued (stored as a SHA-256 digest). Totals are always computed here.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    coupons,
    inventory::Want,
    pricing::{self, Totals},
    quote::{coupon_problem, quote, MoneyTotals, QuoteLine},
    shipping::ShippingMethod,
};
use crate::shop::Shop;
use crate::{auth::tokens, money::Money, Error, Result, ShortLine};

pub const MAX_QUANTITY: i32 = 999;
/// Distinct variants in one cart.
pub const MAX_LINES: i64 = 100;

#[derive(Debug, Clone)]
pub enum Owner {
    User(Uuid),
    Guest(String),
}

impl Owner {
    fn user(&self) -> Option<Uuid> {
        match self {
            Owner::User(u) => Some(*u),
            Owner::Guest(_) => None,
        }
    }
}

fn token_hash(token: &str) -> String {
    hex::encode(tokens::digest(token))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CartItem {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub product_id: Uuid,
    /// For a link to the product page.
    pub product_slug: String,
    /// The product's first image, if it has one.
    pub image_url: Option<String>,
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    /// Units that can be bought now (stock not reserved by orders).
    pub available: i32,
    pub unit_price: Money,
    pub line_total: Money,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppliedCoupon {
    pub code: String,
    pub discount: Money,
    /// Why it gives no discount now (below the minimum, expired ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Cart {
    /// `null` while the caller has no cart yet.
    pub id: Option<Uuid>,
    /// The guest's `X-Cart-Token` (guests only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub items: Vec<CartItem>,
    pub coupon: Option<AppliedCoupon>,
    pub totals: MoneyTotals,
}

#[derive(sqlx::FromRow)]
struct ItemRow {
    id: Uuid,
    variant_id: Uuid,
    product_id: Uuid,
    product_slug: String,
    image_key: Option<String>,
    category_id: Uuid,
    sku: String,
    name: String,
    quantity: i32,
    available: i32,
    price: i64,
    currency: String,
}

struct Found {
    id: Uuid,
    coupon_id: Option<Uuid>,
}

async fn find(conn: &mut PgConnection, owner: &Owner) -> Result<Option<Found>> {
    let row: Option<(Uuid, Option<Uuid>)> = match owner {
        Owner::User(u) => {
            sqlx::query_as("SELECT id, coupon_id FROM carts WHERE user_id = $1")
                .bind(u)
                .fetch_optional(conn)
                .await?
        }
        Owner::Guest(t) => {
            sqlx::query_as("SELECT id, coupon_id FROM carts WHERE token_hash = $1")
                .bind(token_hash(t))
                .fetch_optional(conn)
                .await?
        }
    };
    Ok(row.map(|(id, coupon_id)| Found { id, coupon_id }))
}

/// The cart's id, creating it; a guest without a (known) token gets a new
/// one, returned as the second value.
async fn find_or_create(conn: &mut PgConnection, owner: &Owner) -> Result<(Uuid, Option<String>)> {
    if let Some(f) = find(conn, owner).await? {
        return Ok((f.id, None));
    }
    match owner {
        Owner::User(u) => {
            let id: Uuid = sqlx::query_scalar(
                "INSERT INTO carts (id, user_id) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET updated_at = now() RETURNING id",
            )
            .bind(Uuid::now_v7())
            .bind(u)
            .fetch_one(conn)
            .await?;
            Ok((id, None))
        }
        Owner::Guest(_) => {
            let token = tokens::random_token();
            let id = Uuid::now_v7();
            sqlx::query("INSERT INTO carts (id, token_hash) VALUES ($1, $2)")
                .bind(id)
                .bind(token_hash(&token))
                .execute(conn)
                .await?;
            Ok((id, Some(token)))
        }
    }
}

async fn items(conn: &mut PgConnection, cart: Uuid) -> Result<Vec<ItemRow>> {
    Ok(sqlx::query_as(concat!(
        "SELECT i.id, i.variant_id, v.product_id, p.slug AS product_slug,
                (SELECT m.storage_key FROM product_images m WHERE m.product_id = p.id
                 ORDER BY m.position, m.id LIMIT 1) AS image_key,
                p.category_id, v.sku, ",
        line_name!(),
        " AS name, i.quantity, CASE WHEN ",
        sellable!(),
        " THEN v.stock - v.reserved ELSE 0 END AS available, v.price, v.currency
         FROM cart_items i
         JOIN variants v ON v.id = i.variant_id
         JOIN products p ON p.id = v.product_id
         JOIN stores s ON s.id = p.store_id
         WHERE i.cart_id = $1
         ORDER BY i.created_at, i.id"
    ))
    .bind(cart)
    .fetch_all(conn)
    .await?)
}

/// The caller's cart with totals; shipping counts only when a method is given.
/// Without an owner (a guest who has no cart yet) the cart is empty.
pub async fn view(
    pool: &PgPool,
    shop: &Shop,
    owner: Option<&Owner>,
    shipping: Option<Uuid>,
) -> Result<Cart> {
    let mut conn = pool.acquire().await?;
    let shipping = match shipping {
        Some(id) => Some(
            super::shipping::find(&mut conn, id)
                .await?
                .filter(|m| m.active)
                .ok_or_else(|| Error::invalid("shipping_method_id", "no such shipping method"))?,
        ),
        None => None,
    };
    let found = match owner {
        Some(o) => find(&mut conn, o).await?,
        None => None,
    };
    let (Some(owner), Some(found)) = (owner, found) else {
        if matches!(owner, Some(Owner::Guest(_))) {
            return Err(Error::NotFound);
        }
        let zero = MoneyTotals::new(&Totals::default(), &shop.currency);
        return Ok(Cart {
            id: None,
            token: None,
            items: Vec::new(),
            coupon: None,
            totals: zero,
        });
    };
    render(
        &mut conn,
        shop,
        owner,
        found.id,
        found.coupon_id,
        shipping.as_ref(),
    )
    .await
}

async fn render(
    conn: &mut PgConnection,
    shop: &Shop,
    owner: &Owner,
    cart: Uuid,
    coupon_id: Option<Uuid>,
    shipping: Option<&ShippingMethod>,
) -> Result<Cart> {
    let rows = items(conn, cart).await?;
    let coupon = match coupon_id {
        Some(id) => coupons::find(conn, &shop.currency, id).await?,
        None => None,
    };
    let lines: Vec<QuoteLine> = rows
        .iter()
        .map(|r| QuoteLine {
            unit_price: r.price,
            quantity: r.quantity,
            category_id: r.category_id,
        })
        .collect();
    let (totals, problem) =
        quote(conn, shop, &lines, coupon.as_ref(), owner.user(), shipping).await?;
    let currency = &shop.currency;
    Ok(Cart {
        id: Some(cart),
        token: match owner {
            Owner::Guest(t) => Some(t.clone()),
            Owner::User(_) => None,
        },
        items: rows
            .into_iter()
            .map(|r| CartItem {
                id: r.id,
                variant_id: r.variant_id,
                product_id: r.product_id,
                product_slug: r.product_slug,
                image_url: r.image_key.map(|key| shop.media_url(&key)),
                sku: r.sku,
                name: r.name,
                quantity: r.quantity,
                available: r.available.max(0),
                unit_price: Money::new(r.price, &r.currency),
                line_total: Money::new(
                    pricing::line_total(r.price, i64::from(r.quantity)).unwrap_or(i64::MAX),
                    &r.currency,
                ),
            })
            .collect(),
        coupon: coupon.map(|c| AppliedCoupon {
            code: c.code,
            discount: Money::new(totals.discount, currency),
            problem,
        }),
        totals: MoneyTotals::new(&totals, currency),
    })
}

fn check_quantity(quantity: i32) -> Result<()> {
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(Error::invalid(
            "quantity",
            &format!("must be between 1 and {MAX_QUANTITY}"),
        ));
    }
    Ok(())
}

/// Fails with 409 when `quantity` of the variant cannot be bought now.
async fn check_available(conn: &mut PgConnection, variant: Uuid, quantity: i32) -> Result<()> {
    let want = Want {
        variant_id: variant,
        quantity,
    };
    let lines: Vec<ShortLine> = super::inventory::shortages(conn, &[want]).await?;
    match lines.first() {
        Some(l) if l.available >= quantity => Ok(()),
        _ => Err(Error::OutOfStock(lines)),
    }
}

async fn touch(conn: &mut PgConnection, cart: Uuid) -> Result<()> {
    sqlx::query("UPDATE carts SET updated_at = now() WHERE id = $1")
        .bind(cart)
        .execute(conn)
        .await?;
    Ok(())
}

/// Adds `quantity` of a variant (to what the cart holds of it already).
/// Returns the cart, with the new guest token when one was issued.
pub async fn add_item(
    pool: &PgPool,
    shop: &Shop,
    owner: Owner,
    variant: Uuid,
    quantity: i32,
) -> Result<Cart> {
    check_quantity(quantity)?;
    let mut tx = pool.begin().await?;
    let sellable: bool = sqlx::query_scalar(concat!(
        "SELECT EXISTS (SELECT 1 FROM variants v JOIN products p ON p.id = v.product_id
                        JOIN stores s ON s.id = p.store_id WHERE v.id = $1 AND ",
        sellable!(),
        ")"
    ))
    .bind(variant)
    .fetch_one(&mut *tx)
    .await?;
    if !sellable {
        return Err(Error::invalid("variant_id", "no such variant for sale"));
    }
    let owner = match owner {
        // An unknown token (expired cart) gets a fresh cart.
        Owner::Guest(t) if find(&mut tx, &Owner::Guest(t.clone())).await?.is_none() => {
            Owner::Guest(String::new())
        }
        o => o,
    };
    let (cart, new_token) = find_or_create(&mut tx, &owner).await?;
    let owner = match new_token {
        Some(t) => Owner::Guest(t),
        None => owner,
    };
    let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM cart_items WHERE cart_id = $1")
        .bind(cart)
        .fetch_one(&mut *tx)
        .await?;
    let held: Option<i32> = sqlx::query_scalar(
        "SELECT quantity FROM cart_items WHERE cart_id = $1 AND variant_id = $2 FOR UPDATE",
    )
    .bind(cart)
    .bind(variant)
    .fetch_optional(&mut *tx)
    .await?;
    if held.is_none() && lines >= MAX_LINES {
        return Err(Error::Conflict(format!(
            "a cart holds at most {MAX_LINES} different variants"
        )));
    }
    let total = held.unwrap_or(0).saturating_add(quantity);
    if total > MAX_QUANTITY {
        return Err(Error::invalid(
            "quantity",
            &format!("the cart would hold {total}; at most {MAX_QUANTITY} of a variant"),
        ));
    }
    check_available(&mut tx, variant, total).await?;
    sqlx::query(
        "INSERT INTO cart_items (id, cart_id, variant_id, quantity) VALUES ($1, $2, $3, $4)
         ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = $4",
    )
    .bind(Uuid::now_v7())
    .bind(cart)
    .bind(variant)
    .bind(total)
    .execute(&mut *tx)
    .await?;
    touch(&mut tx, cart).await?;
    let priced = priced_before_commit(&mut tx, shop, &owner).await?;
    tx.commit().await?;
    Ok(priced)
}

/// The cart as it will be once committed. Pricing it first means a change
/// the shop cannot price (a total past what money can hold) is refused and
/// rolled back, never stored to break every later view of the cart.
async fn priced_before_commit(conn: &mut PgConnection, shop: &Shop, owner: &Owner) -> Result<Cart> {
    let found = find(conn, owner).await?.ok_or(Error::NotFound)?;
    render(conn, shop, owner, found.id, found.coupon_id, None).await
}

async fn owned_item(conn: &mut PgConnection, owner: &Owner, item: Uuid) -> Result<(Uuid, Uuid)> {
    let cart = find(conn, owner).await?.ok_or(Error::NotFound)?;
    let variant: Option<Uuid> =
        sqlx::query_scalar("SELECT variant_id FROM cart_items WHERE id = $1 AND cart_id = $2")
            .bind(item)
            .bind(cart.id)
            .fetch_optional(conn)
            .await?;
    Ok((cart.id, variant.ok_or(Error::NotFound)?))
}

pub async fn set_quantity(
    pool: &PgPool,
    shop: &Shop,
    owner: &Owner,
    item: Uuid,
    quantity: i32,
) -> Result<Cart> {
    check_quantity(quantity)?;
    let mut tx = pool.begin().await?;
    let (cart, variant) = owned_item(&mut tx, owner, item).await?;
    check_available(&mut tx, variant, quantity).await?;
    sqlx::query("UPDATE cart_items SET quantity = $2 WHERE id = $1")
        .bind(item)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
    touch(&mut tx, cart).await?;
    let priced = priced_before_commit(&mut tx, shop, owner).await?;
    tx.commit().await?;
    Ok(priced)
}

pub async fn remove_item(pool: &PgPool, shop: &Shop, owner: &Owner, item: Uuid) -> Result<Cart> {
    let mut conn = pool.acquire().await?;
    let (cart, _) = owned_item(&mut conn, owner, item).await?;
    sqlx::query("DELETE FROM cart_items WHERE id = $1")
        .bind(item)
        .execute(&mut *conn)
        .await?;
    touch(&mut conn, cart).await?;
    drop(conn);
    view(pool, shop, Some(owner), None).await
}

/// Applies a coupon after checking it against the cart as it is now.
pub async fn apply_coupon(pool: &PgPool, shop: &Shop, owner: &Owner, code: &str) -> Result<Cart> {
    let mut conn = pool.acquire().await?;
    let cart = find(&mut conn, owner).await?.ok_or(Error::NotFound)?;
    let coupon = coupons::find_by_code(&mut conn, &shop.currency, code)
        .await?
        .ok_or_else(|| Error::invalid("code", "no such coupon"))?;
    let subtotal: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(v.price * i.quantity), 0)::bigint FROM cart_items i
         JOIN variants v ON v.id = i.variant_id WHERE i.cart_id = $1",
    )
    .bind(cart.id)
    .fetch_one(&mut *conn)
    .await?;
    if let Some(problem) = coupon_problem(&mut conn, &coupon, owner.user(), subtotal).await? {
        return Err(Error::invalid("code", &problem));
    }
    sqlx::query("UPDATE carts SET coupon_id = $2, updated_at = now() WHERE id = $1")
        .bind(cart.id)
        .bind(coupon.id)
        .execute(&mut *conn)
        .await?;
    drop(conn);
    view(pool, shop, Some(owner), None).await
}

pub async fn remove_coupon(pool: &PgPool, shop: &Shop, owner: &Owner) -> Result<Cart> {
    let mut conn = pool.acquire().await?;
    let cart = find(&mut conn, owner).await?.ok_or(Error::NotFound)?;
    sqlx::query("UPDATE carts SET coupon_id = NULL, updated_at = now() WHERE id = $1")
        .bind(cart.id)
        .execute(&mut *conn)
        .await?;
    drop(conn);
    view(pool, shop, Some(owner), None).await
}

/// What a checkout from the cart buys, and its coupon.
pub async fn contents(
    conn: &mut PgConnection,
    user: Uuid,
) -> Result<(Option<Uuid>, Vec<Want>, Option<Uuid>)> {
    // Locked until the checkout commits: a second checkout of the same cart
    // (another tab, another key) waits, then finds it empty.
    let row: Option<(Uuid, Option<Uuid>)> =
        sqlx::query_as("SELECT id, coupon_id FROM carts WHERE user_id = $1 FOR UPDATE")
            .bind(user)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((id, coupon_id)) = row else {
        return Ok((None, Vec::new(), None));
    };
    let cart = Found { id, coupon_id };
    let wants: Vec<(Uuid, i32)> =
        sqlx::query_as("SELECT variant_id, quantity FROM cart_items WHERE cart_id = $1")
            .bind(cart.id)
            .fetch_all(conn)
            .await?;
    Ok((
        Some(cart.id),
        wants
            .into_iter()
            .map(|(variant_id, quantity)| Want {
                variant_id,
                quantity,
            })
            .collect(),
        cart.coupon_id,
    ))
}

/// Empties a cart after its checkout.
pub async fn clear(conn: &mut PgConnection, cart: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM cart_items WHERE cart_id = $1")
        .bind(cart)
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE carts SET coupon_id = NULL, updated_at = now() WHERE id = $1")
        .bind(cart)
        .execute(conn)
        .await?;
    Ok(())
}

/// Moves a guest cart into the user's at login or registration: quantities
/// add up, capped at what is available; the guest cart is deleted. An
/// unknown token merges nothing.
pub async fn merge(pool: &PgPool, token: &str, user: Uuid) -> Result<Option<Merged>> {
    let mut tx = pool.begin().await?;
    let guest: Option<(Uuid, Option<Uuid>)> =
        sqlx::query_as("SELECT id, coupon_id FROM carts WHERE token_hash = $1 FOR UPDATE")
            .bind(token_hash(token))
            .fetch_optional(&mut *tx)
            .await?;
    let Some((guest, guest_coupon)) = guest else {
        return Ok(None);
    };
    let (cart, _) = find_or_create(&mut tx, &Owner::User(user)).await?;
    // Each line gets what both carts asked for, capped at what can be sold
    // (never below what the user's cart held) and at MAX_QUANTITY; a line
    // that gets less is reported.
    let capped: Vec<CappedLine> = sqlx::query_as(
        "WITH m AS (
             SELECT g.variant_id, v.sku, g.quantity + COALESCE(u.quantity, 0) AS requested,
                    LEAST(g.quantity + COALESCE(u.quantity, 0), $3,
                          GREATEST(v.stock - v.reserved, COALESCE(u.quantity, 0), 0)) AS got
             FROM cart_items g
             JOIN variants v ON v.id = g.variant_id
             LEFT JOIN cart_items u ON u.cart_id = $2 AND u.variant_id = g.variant_id
             WHERE g.cart_id = $1),
         ins AS (
             INSERT INTO cart_items (id, cart_id, variant_id, quantity)
             SELECT gen_random_uuid(), $2, variant_id, got FROM m WHERE got > 0
             ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = EXCLUDED.quantity)
         SELECT variant_id, sku, requested, got FROM m WHERE got < requested ORDER BY sku",
    )
    .bind(guest)
    .bind(cart)
    .bind(MAX_QUANTITY)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE carts SET coupon_id = COALESCE(coupon_id, $2), updated_at = now() WHERE id = $1",
    )
    .bind(cart)
    .bind(guest_coupon)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM carts WHERE id = $1")
        .bind(guest)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(Merged { capped }))
}

/// What merging a guest cart did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Merged {
    /// Lines that got fewer units than the two carts held together (not
    /// enough stock, or past the per-line maximum); `got` 0 means dropped.
    pub capped: Vec<CappedLine>,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct CappedLine {
    pub variant_id: Uuid,
    pub sku: String,
    pub requested: i32,
    pub got: i32,
}

/// Deletes guest carts untouched for `older_than`.
pub async fn purge_guests(pool: &PgPool, older_than: std::time::Duration) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM carts WHERE user_id IS NULL AND updated_at < now() - make_interval(secs => $1)",
    )
    .bind(older_than.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected())
}

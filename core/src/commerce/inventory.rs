//! Stock movements. Every one is a single conditional UPDATE per variant, in
//! variant-id order so that concurrent multi-line orders lock rows in the same
//! order and never deadlock. `stock - reserved` is what can be sold.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{Error, Result, ShortLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub variant_id: Uuid,
    pub quantity: i32,
}

/// What a stock movement changed that the public sees: the products whose
/// availability moved (their pages), and those of them with a variant that
/// sold out or came back. The latter is all a listing shows of stock (an
/// item's `in_stock`, the in-stock filter), so caches evict listings only for
/// those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Availability {
    pub products: Vec<Uuid>,
    pub crossed: Vec<Uuid>,
}

fn note(list: &mut Vec<Uuid>, product: Uuid) {
    if !list.contains(&product) {
        list.push(product);
    }
}

impl Availability {
    /// Everything a change of `product`'s stock may have changed.
    pub fn of(product: Uuid) -> Self {
        Self {
            products: vec![product],
            crossed: vec![product],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.products.is_empty() && self.crossed.is_empty()
    }

    pub fn merge(&mut self, other: Availability) {
        for p in other.products {
            note(&mut self.products, p);
        }
        for p in other.crossed {
            note(&mut self.crossed, p);
        }
    }

    /// A variant's available units went from `before` to `after`.
    fn moved(&mut self, product: Uuid, before: i32, after: i32) {
        if before != after {
            note(&mut self.products, product);
            if (before > 0) != (after > 0) {
                note(&mut self.crossed, product);
            }
        }
    }
}

/// A reserved line, priced and described as the order will snapshot it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reserved {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub store_id: Uuid,
    pub category_id: Uuid,
    pub sku: String,
    pub name: String,
    pub price: i64,
    pub currency: String,
}

/// Merges duplicate variants and sorts by variant id (the lock order).
pub fn normalize(wants: &[Want]) -> Vec<Want> {
    let mut merged: Vec<Want> = Vec::with_capacity(wants.len());
    let mut sorted = wants.to_vec();
    sorted.sort_by_key(|w| w.variant_id);
    for w in sorted {
        match merged.last_mut() {
            Some(last) if last.variant_id == w.variant_id => {
                last.quantity = last.quantity.saturating_add(w.quantity)
            }
            _ => merged.push(w),
        }
    }
    merged
}

/// The sellable variants' prices and descriptions, without locking them; a
/// line whose variant cannot be sold is short (available 0).
pub async fn describe(conn: &mut PgConnection, wants: &[Want]) -> Result<Vec<Reserved>> {
    let ids: Vec<Uuid> = wants.iter().map(|w| w.variant_id).collect();
    let rows: Vec<Reserved> = sqlx::query_as(concat!(
        "SELECT v.id AS variant_id, v.product_id, p.store_id, p.category_id, v.sku, ",
        line_name!(),
        " AS name, v.price, v.currency
         FROM variants v JOIN products p ON p.id = v.product_id JOIN stores s ON s.id = p.store_id
         WHERE v.id = ANY($1) AND ",
        sellable!(),
        " ORDER BY v.id"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    if rows.len() == wants.len() {
        return Ok(rows);
    }
    let missing: Vec<Want> = wants
        .iter()
        .filter(|w| !rows.iter().any(|r| r.variant_id == w.variant_id))
        .copied()
        .collect();
    Err(Error::OutOfStock(shortages(conn, &missing).await?))
}

/// Reserves every line (sorted, see `normalize`) with one conditional update
/// each, or fails listing every short line. Called last in a checkout, so
/// the hot rows stay locked only until the commit right after.
pub async fn hold(conn: &mut PgConnection, wants: &[Want]) -> Result<Availability> {
    let mut short = Vec::new();
    let mut changed = Availability::default();
    for w in normalize(wants) {
        let held: Option<(Uuid, i32)> = sqlx::query_as(
            "UPDATE variants SET reserved = reserved + $2
             WHERE id = $1 AND active AND stock - reserved >= $2
             RETURNING product_id, stock - reserved",
        )
        .bind(w.variant_id)
        .bind(w.quantity)
        .fetch_optional(&mut *conn)
        .await?;
        match held {
            Some((product, after)) => changed.moved(product, after + w.quantity, after),
            None => short.push(w),
        }
    }
    if short.is_empty() {
        Ok(changed)
    } else {
        Err(Error::OutOfStock(shortages(conn, &short).await?))
    }
}

/// What is available for each wanted line (0 for variants that cannot be sold).
pub async fn shortages(conn: &mut PgConnection, short: &[Want]) -> Result<Vec<ShortLine>> {
    let ids: Vec<Uuid> = short.iter().map(|w| w.variant_id).collect();
    let rows: Vec<(Uuid, String, i32)> = sqlx::query_as(
        concat!(
            "SELECT v.id, v.sku, CASE WHEN ",
            sellable!(),
            " THEN v.stock - v.reserved ELSE 0 END
             FROM variants v JOIN products p ON p.id = v.product_id JOIN stores s ON s.id = p.store_id
             WHERE v.id = ANY($1)"
        ),
    )
    .bind(&ids)
    .fetch_all(conn)
    .await?;
    Ok(short
        .iter()
        .map(|w| {
            let found = rows.iter().find(|r| r.0 == w.variant_id);
            ShortLine {
                variant_id: w.variant_id,
                sku: found.map(|r| r.1.clone()).unwrap_or_default(),
                requested: w.quantity,
                available: found.map_or(0, |r| r.2.max(0)),
            }
        })
        .collect())
}

/// How units held by an order move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movement {
    /// Reservation given back (cancel or expiry of a pending order).
    Release,
    /// Reservation taken out of stock (confirmation).
    Deduct,
    /// Deducted units put back on the shelf (cancel after confirmation).
    Restock,
}

pub async fn apply(
    conn: &mut PgConnection,
    movement: Movement,
    lines: &[Want],
) -> Result<Availability> {
    // Each returns the product, the available units after, and whether the
    // public sees the variant at all.
    let sql = match movement {
        Movement::Release => {
            "UPDATE variants SET reserved = reserved - $2 WHERE id = $1 AND reserved >= $2
             RETURNING product_id, stock - reserved, active"
        }
        Movement::Deduct => {
            "UPDATE variants SET reserved = reserved - $2, stock = stock - $2
             WHERE id = $1 AND reserved >= $2 AND stock >= $2
             RETURNING product_id, stock - reserved, active"
        }
        Movement::Restock => {
            "UPDATE variants SET stock = stock + $2 WHERE id = $1
             RETURNING product_id, stock - reserved, active"
        }
    };
    let mut changed = Availability::default();
    for w in normalize(lines) {
        let row: Option<(Uuid, i32, bool)> = sqlx::query_as(sql)
            .bind(w.variant_id)
            .bind(w.quantity)
            .fetch_optional(&mut *conn)
            .await?;
        if let Some((product, after, true)) = row {
            // A deduction takes reserved units out of stock: what can be
            // bought stays the same.
            let before = match movement {
                Movement::Release | Movement::Restock => after - w.quantity,
                Movement::Deduct => after,
            };
            changed.moved(product, before, after);
        }
        if row.is_none() {
            // A held reservation that is not there means the books are wrong;
            // refuse rather than push a counter negative.
            return Err(Error::Internal(anyhow::anyhow!(
                "stock {movement:?} of {} x {} does not match the variant's counters",
                w.quantity,
                w.variant_id
            )));
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selling_out_or_coming_back_touches_listings() {
        let p = Uuid::from_u128(7);
        let q = Uuid::from_u128(8);
        let mut a = Availability::default();
        a.moved(p, 5, 4);
        assert_eq!(a.products, vec![p]);
        assert!(a.crossed.is_empty());
        a.moved(p, 4, 4);
        assert!(a.crossed.is_empty());
        let mut sold_out = Availability::default();
        sold_out.moved(p, 1, 0);
        assert_eq!(sold_out.crossed, vec![p]);
        let mut back = Availability::default();
        back.moved(q, 0, 3);
        assert_eq!(back.crossed, vec![q]);
        a.merge(back);
        a.merge(sold_out);
        assert_eq!(a.products, vec![p, q]);
        assert_eq!(a.crossed, vec![q, p]);
        assert!(Availability::default().is_empty());
    }

    #[test]
    fn duplicate_lines_merge_and_sort_in_lock_order() {
        let a = Uuid::from_u128(2);
        let b = Uuid::from_u128(1);
        let merged = normalize(&[
            Want {
                variant_id: a,
                quantity: 1,
            },
            Want {
                variant_id: b,
                quantity: 2,
            },
            Want {
                variant_id: a,
                quantity: 3,
            },
        ]);
        assert_eq!(
            merged,
            vec![
                Want {
                    variant_id: b,
                    quantity: 2
                },
                Want {
                    variant_id: a,
                    quantity: 4
                },
            ]
        );
    }
}

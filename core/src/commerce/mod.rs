//! Commerce: addresses, shipping methods, coupons, carts, checkout, the order
//! workflow and payments. Stock moves only through conditional updates here
//! (`inventory`), never read-modify-write.

// SQL over `variants v`, `products p` and `stores s`, shared by the stock and
// cart queries (macros, so queries stay `concat!`ed literals).
/// Whether the variant can be sold now.
macro_rules! sellable {
    () => {
        "v.active AND v.price > 0 AND p.active AND p.deleted_at IS NULL \
         AND s.active AND s.deleted_at IS NULL"
    };
}
/// The name a cart or order line shows: the product's and the variant's values.
macro_rules! line_name {
    () => {
        "p.name || CASE WHEN v.attributes = '{}'::jsonb THEN '' \
         ELSE ' ' || (SELECT string_agg(value, ' ') FROM jsonb_each_text(v.attributes)) END"
    };
}

/// A shipping method's columns from a `LEFT JOIN shipping_methods m`, read
/// with other things (checkout's claim) into `shipping::Joined`.
macro_rules! joined_shipping_method {
    () => {
        "m.id AS m_id, m.name AS m_name, m.price AS m_price, \
         m.free_above AS m_free_above, m.currency AS m_currency, \
         m.estimated_days_min AS m_days_min, m.estimated_days_max AS m_days_max, \
         m.active AS m_active, m.created_at AS m_created_at"
    };
}

pub mod addresses;
pub mod cart;
pub mod checkout;
pub mod coupons;
pub mod gateway;
pub mod inventory;
pub mod order_payment;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod quote;
pub mod shipping;
pub mod status;
pub mod transitions;
pub mod workflow;

/// Trimmed text, `None` when blank.
pub(crate) fn optional_text(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// For PATCH bodies: tells an absent field (`None`) from an explicit `null`
/// (`Some(None)`). Use with `#[serde(default, with = "nullable")]`.
pub(crate) mod nullable {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

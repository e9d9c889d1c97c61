//! Kaspi.kz and Ozon settings. A marketplace without its credentials is
//! disabled, and says so (start-up log, `/admin/integrations`, a sync asked
//! for by hand); a bad value is a start-up error naming its variable.

use std::time::Duration;

use secrecy::SecretString;

use super::config::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct MarketplacesConfig {
    pub kaspi: KaspiConfig,
    pub ozon: OzonConfig,
}

/// What happens to a Kaspi order that stock cannot fill
/// (`KASPI_OUT_OF_STOCK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfStock {
    /// Cancelled on Kaspi with `MERCHANT_OUT_OF_STOCK` (the default).
    Cancel,
    /// Left for an admin to decide (the order is flagged).
    Hold,
}

#[derive(Debug, Clone)]
pub struct KaspiConfig {
    /// `KASPI_TOKEN`: the merchant API token. `None` disables the order sync.
    pub token: Option<SecretString>,
    /// `KASPI_MERCHANT_ID`: the shop id of the cabinet, in the feed.
    pub merchant_id: Option<String>,
    /// `KASPI_API_URL`, without `/v2`.
    pub api_url: String,
    /// `KASPI_FEED_TOKEN`: the feed answers only `?token=<it>`; `None` keeps
    /// it off (404).
    pub feed_token: Option<SecretString>,
    /// `KASPI_COMPANY`: the feed's `<company>`.
    pub company: String,
    /// `KASPI_STORE_IDS`: the pickup points / warehouses (`storeId`) of the
    /// cabinet that every offer is available at, comma-separated.
    pub store_ids: Vec<String>,
    /// `KASPI_SAFETY_STOCK`: units held back from the feed's `stockCount`,
    /// because Kaspi reads the feed only every 30-60 minutes.
    pub safety_stock: i32,
    /// `KASPI_OUT_OF_STOCK`.
    pub out_of_stock: OutOfStock,
    /// `KASPI_ORDERS_LOOKBACK_DAYS`: how far back the first pull reads.
    pub lookback: Duration,
    /// `KASPI_ORDERS_WINDOW_HOURS`: the creation-date window of one list
    /// call; Kaspi refuses more than 14 days, integrators use 13.
    pub window: Duration,
    /// `KASPI_ORDERS_OVERLAP_SECS`: each pull re-reads this much before the
    /// last one's end. Kaspi lists an order under its creation date but
    /// shows it only once the bank approved it (a credit purchase can take
    /// hours), so a pull that started where the last one ended would miss
    /// it. A day by default: a few extra pages per pull.
    pub overlap: Duration,
    /// `KASPI_ORDERS_REREAD_SECS`: an open order is read again (for buyer
    /// cancellations and returns) once this long has passed since Kaspi
    /// last showed it; at most `KASPI_ORDERS_REREAD_BATCH` per pull, oldest
    /// first.
    pub reread_after: Duration,
    pub reread_batch: i64,
    /// `KASPI_RATE_PER_SEC`: calls per second, shared by every worker
    /// (Kaspi publishes no limit; be polite).
    pub per_second: u32,
}

impl KaspiConfig {
    /// The order sync can run.
    pub fn enabled(&self) -> bool {
        self.token.is_some() && self.merchant_id.is_some()
    }

    /// Why the order sync cannot run, for people.
    pub fn disabled_reason(&self) -> Option<&'static str> {
        (!self.enabled()).then_some("set KASPI_TOKEN and KASPI_MERCHANT_ID to sync Kaspi orders")
    }
}

#[derive(Debug, Clone)]
pub struct OzonConfig {
    pub client_id: Option<String>,
    pub api_key: Option<SecretString>,
    pub api_url: String,
    /// `OZON_WAREHOUSE_ID`: the default warehouse of listed variants.
    pub warehouse_id: Option<String>,
    /// `OZON_CURRENCY`: the seller account's currency, that of every price
    /// sent to Ozon.
    pub currency: String,
    /// Ozon's limits (ozon.md), shared by every worker through Redis:
    /// calls a second per Client-Id (`OZON_RATE_PER_SEC`), stock calls a
    /// minute (`OZON_STOCK_CALLS_PER_MIN`), one figure per product and
    /// warehouse every `OZON_STOCK_PAIR_INTERVAL_SECS`, changes of one
    /// price an hour (`OZON_PRICE_CHANGES_PER_HOUR`).
    pub per_second: u32,
    pub stock_calls_per_minute: u32,
    pub stock_pair_interval: Duration,
    pub price_changes_per_hour: u32,
    /// How long a method that answered "Circle is open" is left alone
    /// (`OZON_CIRCLE_BACKOFF_SECS`; Ozon says it recovers within minutes).
    pub circle_backoff: Duration,
    /// `OZON_ORDERS_OVERLAP_SECS`: each posting pull re-reads status changes
    /// this far before the last one's start.
    pub orders_overlap: Duration,
    /// `OZON_VAT`: the VAT rate sent with prices and cards ("0", "0.1", "0.2").
    pub vat: String,
}

impl OzonConfig {
    pub fn enabled(&self) -> bool {
        self.client_id.is_some() && self.api_key.is_some()
    }

    pub fn disabled_reason(&self) -> Option<&'static str> {
        (!self.enabled()).then_some("set OZON_CLIENT_ID and OZON_API_KEY to sync with Ozon")
    }
}

pub(crate) fn load(env: &Env<'_>) -> Result<MarketplacesConfig, ConfigError> {
    let out_of_stock = match env.string("KASPI_OUT_OF_STOCK", "cancel").as_str() {
        "cancel" => OutOfStock::Cancel,
        "hold" => OutOfStock::Hold,
        other => {
            return Err(ConfigError {
                name: "KASPI_OUT_OF_STOCK".into(),
                message: format!("{other:?}: expected cancel or hold"),
            })
        }
    };
    let store_ids: Vec<String> = env
        .string("KASPI_STORE_IDS", "PP1")
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    if store_ids.is_empty() {
        return Err(ConfigError {
            name: "KASPI_STORE_IDS".into(),
            message: "expected one or more pickup point codes, e.g. PP1,PP2".into(),
        });
    }
    let window_hours: u64 = env.parse("KASPI_ORDERS_WINDOW_HOURS", 13 * 24)?;
    if !(1..=14 * 24).contains(&window_hours) {
        return Err(ConfigError {
            name: "KASPI_ORDERS_WINDOW_HOURS".into(),
            message: format!("{window_hours}: Kaspi allows 1 to 336 hours (14 days)"),
        });
    }
    let merchant_id = env.get("KASPI_MERCHANT_ID").map(|s| s.trim().to_owned());
    let kaspi = KaspiConfig {
        token: env.secret("KASPI_TOKEN"),
        company: env.string("KASPI_COMPANY", merchant_id.as_deref().unwrap_or("bazaar")),
        merchant_id,
        api_url: trimmed_url(env.string("KASPI_API_URL", "https://kaspi.kz/shop/api")),
        feed_token: env.secret("KASPI_FEED_TOKEN"),
        store_ids,
        safety_stock: env.parse("KASPI_SAFETY_STOCK", 0)?,
        out_of_stock,
        lookback: Duration::from_secs(env.parse::<u64>("KASPI_ORDERS_LOOKBACK_DAYS", 14)? * 86_400),
        window: Duration::from_secs(window_hours * 3600),
        overlap: env.secs("KASPI_ORDERS_OVERLAP_SECS", 86_400)?,
        per_second: env.parse("KASPI_RATE_PER_SEC", 5)?,
        reread_after: env.secs("KASPI_ORDERS_REREAD_SECS", 300)?,
        reread_batch: env.parse("KASPI_ORDERS_REREAD_BATCH", 300)?,
    };
    if kaspi.safety_stock < 0 || kaspi.per_second == 0 {
        return Err(ConfigError {
            name: if kaspi.per_second == 0 {
                "KASPI_RATE_PER_SEC"
            } else {
                "KASPI_SAFETY_STOCK"
            }
            .into(),
            message: "must be positive".into(),
        });
    }
    if kaspi.feed_token.is_some() && kaspi.merchant_id.is_none() {
        return Err(ConfigError {
            name: "KASPI_MERCHANT_ID".into(),
            message: "is required with KASPI_FEED_TOKEN: the price list names the shop by it"
                .into(),
        });
    }
    let ozon = OzonConfig {
        client_id: env.get("OZON_CLIENT_ID").map(|s| s.trim().to_owned()),
        api_key: env.secret("OZON_API_KEY"),
        api_url: trimmed_url(env.string("OZON_API_URL", "https://api-seller.ozon.ru")),
        warehouse_id: env.get("OZON_WAREHOUSE_ID").map(|s| s.trim().to_owned()),
        currency: env
            .string("OZON_CURRENCY", "RUB")
            .trim()
            .to_ascii_uppercase(),
        per_second: positive(env, "OZON_RATE_PER_SEC", 50)?,
        stock_calls_per_minute: positive(env, "OZON_STOCK_CALLS_PER_MIN", 80)?,
        stock_pair_interval: env.secs("OZON_STOCK_PAIR_INTERVAL_SECS", 30)?,
        price_changes_per_hour: positive(env, "OZON_PRICE_CHANGES_PER_HOUR", 10)?,
        circle_backoff: env.secs("OZON_CIRCLE_BACKOFF_SECS", 180)?,
        orders_overlap: env.secs("OZON_ORDERS_OVERLAP_SECS", 300)?,
        vat: env.string("OZON_VAT", "0"),
    };
    Ok(MarketplacesConfig { kaspi, ozon })
}

fn positive(env: &Env<'_>, name: &str, default: u32) -> Result<u32, ConfigError> {
    match env.parse(name, default)? {
        0 => Err(ConfigError {
            name: name.into(),
            message: "must be above 0".into(),
        }),
        n => Ok(n),
    }
}

fn trimmed_url(url: String) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(vars: &[(&str, &str)]) -> Result<MarketplacesConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        load(&Env::new(move |k| vars.get(k).cloned()))
    }

    #[test]
    fn without_credentials_each_marketplace_is_off_and_says_why() {
        let c = load_with(&[]).unwrap();
        assert!(!c.kaspi.enabled());
        assert!(c.kaspi.disabled_reason().unwrap().contains("KASPI_TOKEN"));
        assert!(!c.ozon.enabled());
        assert_eq!(c.kaspi.store_ids, vec!["PP1"]);
        assert_eq!(c.kaspi.out_of_stock, OutOfStock::Cancel);
        assert_eq!(c.kaspi.window, Duration::from_secs(13 * 86_400));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (k, v) in [
            ("KASPI_OUT_OF_STOCK", "ignore"),
            ("KASPI_ORDERS_WINDOW_HOURS", "400"),
            ("KASPI_STORE_IDS", " , "),
            ("KASPI_SAFETY_STOCK", "-1"),
        ] {
            let e = load_with(&[(k, v)]).unwrap_err();
            assert_eq!(e.name, k, "{v}");
        }
        let c = load_with(&[
            ("KASPI_TOKEN", "t"),
            ("KASPI_MERCHANT_ID", " 30123456 "),
            ("KASPI_STORE_IDS", "PP1, 30123456_PP2"),
            ("KASPI_API_URL", "http://k.test/shop/api/"),
        ])
        .unwrap();
        assert!(c.kaspi.enabled());
        assert_eq!(c.kaspi.merchant_id.as_deref(), Some("30123456"));
        assert_eq!(c.kaspi.store_ids, vec!["PP1", "30123456_PP2"]);
        assert_eq!(c.kaspi.api_url, "http://k.test/shop/api");
    }
}

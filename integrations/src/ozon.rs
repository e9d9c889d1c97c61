//! The Ozon Seller API (`OZON_API_URL`): stock and price updates, card
//! imports, FBS postings (the v4 lists; v3 is switched off), shipping and
//! cancelling them. Every method is a POST of JSON with `Client-Id` and
//! `Api-Key`; the endpoint versions live here and nowhere else.
//!
//! What integrators trip over (PAINS.md) is built in: a 200 from the stock,
//! price and import methods is read item by item (each carries its own
//! `errors`); "Circle is open" (a method blocked for minutes) is an error
//! of its own, so the caller leaves that method alone; in `ship` the
//! products' `product_id` is the Ozon **SKU**; money goes out as decimal
//! strings and comes back as `{amount, currency}` (v4).

use std::time::Duration;

use bazaar_core::provider::ProviderError;
use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::http::retry_after;

pub const STOCKS: &str = "/v2/products/stocks";
pub const PRICES: &str = "/v1/product/import/prices";
pub const IMPORT: &str = "/v3/product/import";
pub const IMPORT_INFO: &str = "/v1/product/import/info";
pub const INFO_LIST: &str = "/v3/product/info/list";
pub const POSTINGS: &str = "/v4/posting/fbs/list";
pub const POSTING: &str = "/v3/posting/fbs/get";
pub const SHIP: &str = "/v4/posting/fbs/ship";
pub const CANCEL_REASONS: &str = "/v1/posting/fbs/cancel-reason";
pub const CANCEL: &str = "/v2/posting/fbs/cancel";

/// Ozon's batch limits (ozon.md).
pub const MAX_STOCKS: usize = 100;
pub const MAX_PRICES: usize = 1000;
pub const MAX_IMPORT: usize = 100;
pub const MAX_PAGE: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OzonError {
    /// The method is blocked for a while ("Circle is open"): leave it alone.
    #[error("Ozon: {0} answered \"Circle is open\"")]
    CircleOpen(&'static str),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockItem {
    pub offer_id: String,
    pub product_id: i64,
    pub stock: i64,
    pub warehouse_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceItem {
    pub offer_id: String,
    /// A decimal string in the account's currency ("1448.50").
    pub price: String,
    /// "0" clears a strike-through price.
    pub old_price: String,
    pub currency_code: String,
    pub vat: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductCard {
    pub offer_id: String,
    pub name: String,
    pub price: String,
    pub currency_code: String,
    pub vat: String,
}

/// One item's outcome inside a 200.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemResult {
    #[serde(default)]
    pub offer_id: String,
    #[serde(default)]
    pub product_id: i64,
    #[serde(default)]
    pub warehouse_id: i64,
    #[serde(default)]
    pub updated: bool,
    #[serde(default)]
    pub errors: Vec<ItemError>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ItemError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ItemError {
    /// Ozon's per-pair and per-price limits: retry after the window.
    pub fn is_too_frequent(&self) -> bool {
        self.code == "TOO_MANY_REQUESTS"
            || self.code.contains("limit exceeded")
            || self.message.contains("limit exceeded")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImportItem {
    pub offer_id: String,
    #[serde(default)]
    pub product_id: i64,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub errors: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductIds {
    pub offer_id: String,
    pub product_id: i64,
    pub sku: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingProduct {
    pub sku: i64,
    pub offer_id: String,
    pub name: String,
    pub quantity: i32,
    /// Minor units of `currency`.
    pub price: i64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub posting_number: String,
    pub order_number: String,
    pub status: String,
    pub substatus: String,
    pub in_process_at: Option<DateTime<Utc>>,
    pub products: Vec<PostingProduct>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingsPage {
    pub postings: Vec<Posting>,
    pub cursor: String,
    pub has_next: bool,
}

/// The postings whose status changed in a window, within `[since, to]`
/// of processing (at most a year apart).
#[derive(Debug, Clone)]
pub struct PostingQuery {
    pub since: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub changed_from: DateTime<Utc>,
    pub changed_to: DateTime<Utc>,
}

#[derive(Clone)]
pub struct OzonClient {
    http: reqwest::Client,
    base: String,
    client_id: String,
    api_key: SecretString,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Minor units as Ozon's decimal string ("1448.50").
pub fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (minor / 100).abs(), (minor % 100).abs())
}

/// Ozon's decimal string ("1530.00", "1530.0000") as minor units.
pub fn minor_units(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let negative = whole.starts_with('-');
    let whole: i64 = whole.trim_start_matches('-').parse().ok()?;
    let mut digits: Vec<u32> = fraction
        .chars()
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    digits.resize(3, 0);
    let mut cents = i64::from(digits[0] * 10 + digits[1]);
    if digits[2] >= 5 {
        cents += 1;
    }
    let value = whole.checked_mul(100)? + cents;
    Some(if negative { -value } else { value })
}

impl OzonClient {
    pub fn new(api_url: &str, client_id: &str, api_key: SecretString) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            base: api_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            api_key,
        }
    }

    async fn post(&self, path: &'static str, body: &Value) -> Result<Value, OzonError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Client-Id", &self.client_id)
            .header("Api-Key", self.api_key.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| ProviderError::Transport(format!("cannot reach Ozon: {e}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| ProviderError::Transport(format!("cannot read Ozon's answer: {e}")))?;
        let doc = serde_json::from_str::<Value>(&text);
        if status.is_success() {
            return doc.map_err(|_| {
                OzonError::Provider(ProviderError::Transport(format!(
                    "Ozon answered {status} with a body that is not JSON: {}",
                    ProviderError::excerpt(&text)
                )))
            });
        }
        let message = doc
            .as_ref()
            .ok()
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .unwrap_or(&text)
            .to_owned();
        if message.contains("Circle is open") {
            return Err(OzonError::CircleOpen(path));
        }
        let reason = format!("{path}: {}", ProviderError::excerpt(&message));
        Err(OzonError::Provider(
            if status == StatusCode::TOO_MANY_REQUESTS {
                ProviderError::RateLimited {
                    retry_after: retry_after(&headers),
                }
            } else if status.is_server_error() {
                ProviderError::Transport(format!("Ozon answered {status}: {reason}"))
            } else {
                ProviderError::Rejected {
                    status: status.as_u16(),
                    body: reason,
                }
            },
        ))
    }

    fn results(doc: &Value) -> Result<Vec<ItemResult>, OzonError> {
        serde_json::from_value(doc.get("result").cloned().unwrap_or(json!([]))).map_err(|e| {
            OzonError::Provider(ProviderError::Transport(format!(
                "Ozon's item results are unreadable: {e}"
            )))
        })
    }

    /// At most `MAX_STOCKS` product-warehouse pairs; each has its outcome.
    pub async fn update_stocks(&self, items: &[StockItem]) -> Result<Vec<ItemResult>, OzonError> {
        let doc = self.post(STOCKS, &json!({ "stocks": items })).await?;
        Self::results(&doc)
    }

    /// At most `MAX_PRICES` prices; each has its outcome.
    pub async fn update_prices(&self, items: &[PriceItem]) -> Result<Vec<ItemResult>, OzonError> {
        let doc = self.post(PRICES, &json!({ "prices": items })).await?;
        Self::results(&doc)
    }

    /// Creates or updates at most `MAX_IMPORT` cards; returns the task id
    /// to follow with `import_info`.
    pub async fn import_products(&self, cards: &[ProductCard]) -> Result<i64, OzonError> {
        let doc = self.post(IMPORT, &json!({ "items": cards })).await?;
        doc.pointer("/result/task_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                OzonError::Provider(ProviderError::Transport(
                    "Ozon's import answer has no task_id".into(),
                ))
            })
    }

    pub async fn import_info(&self, task_id: i64) -> Result<Vec<ImportItem>, OzonError> {
        let doc = self
            .post(IMPORT_INFO, &json!({ "task_id": task_id }))
            .await?;
        serde_json::from_value(doc.pointer("/result/items").cloned().unwrap_or(json!([]))).map_err(
            |e| {
                OzonError::Provider(ProviderError::Transport(format!(
                    "Ozon's import status is unreadable: {e}"
                )))
            },
        )
    }

    /// Ozon's ids (product id, SKU) of the cards with these offer ids.
    pub async fn product_ids(&self, offer_ids: &[String]) -> Result<Vec<ProductIds>, OzonError> {
        let doc = self
            .post(INFO_LIST, &json!({ "offer_id": offer_ids }))
            .await?;
        let items = doc
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(items
            .iter()
            .filter_map(|i| {
                Some(ProductIds {
                    offer_id: i.get("offer_id")?.as_str()?.to_owned(),
                    product_id: i.get("id")?.as_i64()?,
                    sku: i.get("sku").and_then(Value::as_i64).unwrap_or(0),
                })
            })
            .collect())
    }

    /// One page of FBS postings whose status changed in the query's window.
    pub async fn list_postings(
        &self,
        q: &PostingQuery,
        cursor: &str,
    ) -> Result<PostingsPage, OzonError> {
        let body = json!({
            "filter": {
                "since": rfc3339(q.since),
                "to": rfc3339(q.to),
                "last_changed_status_date": { "from": rfc3339(q.changed_from), "to": rfc3339(q.changed_to) },
            },
            "limit": MAX_PAGE,
            "cursor": cursor,
            "sort_dir": "ASC",
            "with": { "analytics_data": false, "financial_data": false, "barcodes": false },
        });
        let doc = self.post(POSTINGS, &body).await?;
        let postings = doc
            .get("postings")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().map(read_posting).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        Ok(PostingsPage {
            postings,
            cursor: doc
                .get("cursor")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            has_next: doc
                .get("has_next")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// One posting; `None` when Ozon does not know it.
    pub async fn get_posting(&self, posting_number: &str) -> Result<Option<Posting>, OzonError> {
        match self
            .post(
                POSTING,
                &json!({ "posting_number": posting_number, "with": {} }),
            )
            .await
        {
            Ok(doc) => Ok(Some(read_posting(
                doc.get("result").unwrap_or(&Value::Null),
            )?)),
            Err(OzonError::Provider(ProviderError::Rejected { status: 404, .. })) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Packs the posting in one package of `products` (SKU, quantity). A
    /// 200 is not proof: re-read the posting (`ship_failed`).
    pub async fn ship(
        &self,
        posting_number: &str,
        products: &[(i64, i32)],
    ) -> Result<(), OzonError> {
        let products: Vec<Value> = products
            .iter()
            .map(|(sku, quantity)| json!({ "product_id": sku, "quantity": quantity }))
            .collect();
        self.post(
            SHIP,
            &json!({ "posting_number": posting_number, "packages": [{ "products": products }], "with": { "additional_data": false } }),
        )
        .await
        .map(|_| ())
    }

    /// The cancellation reasons Ozon allows for this posting: (id, title).
    pub async fn cancel_reasons(
        &self,
        posting_number: &str,
    ) -> Result<Vec<(i64, String)>, OzonError> {
        let doc = self
            .post(
                CANCEL_REASONS,
                &json!({ "related_posting_numbers": [posting_number] }),
            )
            .await?;
        Ok(doc
            .get("result")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|r| r.get("posting_number").and_then(Value::as_str) == Some(posting_number))
            .flat_map(|r| {
                r.get("reasons")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|r| {
                Some((
                    r.get("id")?.as_i64()?,
                    r.get("title")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ))
            })
            .collect())
    }

    pub async fn cancel(
        &self,
        posting_number: &str,
        reason_id: i64,
        message: &str,
    ) -> Result<(), OzonError> {
        self.post(
            CANCEL,
            &json!({ "posting_number": posting_number, "cancel_reason_id": reason_id, "cancel_reason_message": message }),
        )
        .await
        .map(|_| ())
    }
}

fn read_posting(p: &Value) -> Result<Posting, OzonError> {
    let text = |k: &str| {
        p.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let posting_number = text("posting_number");
    if posting_number.is_empty() {
        return Err(OzonError::Provider(ProviderError::Transport(
            "a posting without posting_number".into(),
        )));
    }
    let products = p
        .get("products")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|item| {
            // v4: {"amount": "1530.00", "currency": "RUB"}; v3 sent a string.
            let (amount, currency) = match item.get("price") {
                Some(Value::Object(m)) => (
                    m.get("amount")
                        .and_then(Value::as_str)
                        .unwrap_or("0")
                        .to_owned(),
                    m.get("currency")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ),
                Some(Value::String(s)) => (
                    s.clone(),
                    item.get("currency_code")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                ),
                _ => ("0".into(), String::new()),
            };
            PostingProduct {
                sku: item.get("sku").and_then(Value::as_i64).unwrap_or(0),
                offer_id: item
                    .get("offer_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                name: item
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                quantity: item.get("quantity").and_then(Value::as_i64).unwrap_or(0) as i32,
                price: minor_units(&amount).unwrap_or(0),
                currency,
            }
        })
        .collect();
    Ok(Posting {
        order_number: text("order_number"),
        status: text("status"),
        substatus: text("substatus"),
        in_process_at: p
            .get("in_process_at")
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc)),
        posting_number,
        products,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_goes_out_as_decimal_strings_and_comes_back_exact() {
        assert_eq!(decimal(144_850), "1448.50");
        assert_eq!(decimal(5), "0.05");
        assert_eq!(minor_units("1530.00"), Some(153_000));
        assert_eq!(minor_units("1530.0000"), Some(153_000));
        assert_eq!(minor_units("19.999"), Some(2_000));
        assert_eq!(minor_units("abc"), None);
    }

    #[test]
    fn postings_read_v4_prices_objects() {
        let p = json!({"posting_number": "0132-0101-1", "order_number": "0132-0101", "status": "awaiting_packaging",
            "substatus": "posting_created", "in_process_at": "2026-04-01T19:47:39.878Z",
            "products": [{"sku": 1900000001i64, "offer_id": "CTEE-S-RED", "name": "Tee", "quantity": 2,
                          "price": {"amount": "1530.00", "currency": "RUB"}}]});
        let posting = read_posting(&p).unwrap();
        assert_eq!(posting.products[0].price, 153_000);
        assert_eq!(posting.products[0].currency, "RUB");
        assert_eq!(posting.products[0].sku, 1_900_000_001);
        assert!(posting.in_process_at.is_some());
    }

    #[test]
    fn per_item_limits_are_recognised() {
        let e = ItemError {
            code: "TOO_MANY_REQUESTS".into(),
            message: "Stock is updated too frequently".into(),
        };
        assert!(e.is_too_frequent());
        let e = ItemError {
            code: "error limiting: acquire limit per item: items limit: limit exceeded".into(),
            message: String::new(),
        };
        assert!(e.is_too_frequent());
        assert!(!ItemError {
            code: "offer_id_not_found".into(),
            message: String::new()
        }
        .is_too_frequent());
    }
}

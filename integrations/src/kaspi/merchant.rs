//! Kaspi's merchant API (`{KASPI_API_URL}/v2`): list orders by creation
//! date, read one order, change an order's status, and the two-step
//! completion with the buyer's code. JSON:API documents throughout.
//!
//! What real integrations trip over (PAINS.md) is built in: every call
//! sends `Accept: application/vnd.api+json` (without it Kaspi answers 404
//! with an HTML page), a fixed `User-Agent` (its WAF times out anonymous
//! clients), dates as epoch milliseconds, pages from 0 of at most 100 with
//! the entries included, status changes by `POST /v2/orders` with the
//! order's code. A body that is not JSON is a transport error, never parsed.

use std::{collections::HashMap, time::Duration};

use bazaar_core::provider::ProviderError;
use reqwest::{header::HeaderMap, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Number, Value};

use crate::http::retry_after;

/// JSON:API, both ways.
pub const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Kaspi's largest page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// The title of Kaspi's answer to a wrong completion code.
const WRONG_CODE: &str = "Security code is not valid";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaspiEntry {
    /// `offer.code`: our SKU.
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    /// Unit price in minor units (tiyn).
    pub base_price: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaspiOrder {
    pub id: String,
    pub code: String,
    pub status: String,
    pub state: String,
    pub creation_ms: i64,
    /// In minor units.
    pub total: i64,
    /// E.164 without `+`: Kaspi's 10 digits with the country's 7 in front.
    pub phone: Option<String>,
    pub customer: Option<String>,
    pub entries: Vec<KaspiEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrdersPage {
    pub orders: Vec<KaspiOrder>,
    pub page_count: u32,
    pub total: u64,
}

/// One order status change Kaspi allows from the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange<'a> {
    Accept,
    Cancel { reason: &'a str },
}

#[derive(Clone)]
pub struct KaspiClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

impl KaspiClient {
    pub fn new(api_url: &str, token: SecretString) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .user_agent(concat!("bazaar/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            base: format!("{}/v2", api_url.trim_end_matches('/')),
            token,
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", self.token.expose_secret())
            .header(reqwest::header::ACCEPT, MEDIA_TYPE)
    }

    async fn call(&self, builder: reqwest::RequestBuilder) -> Result<Value, ProviderError> {
        let response = builder
            .send()
            .await
            .map_err(|e| ProviderError::Transport(format!("cannot reach Kaspi: {e}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| ProviderError::Transport(format!("cannot read Kaspi's answer: {e}")))?;
        let parsed = serde_json::from_str::<Value>(&text);
        if status.is_success() {
            return parsed.map_err(|_| {
                ProviderError::Transport(format!(
                    "Kaspi answered {status} with a body that is not JSON: {}",
                    ProviderError::excerpt(&text)
                ))
            });
        }
        Err(classify(status, &headers, &text, parsed.ok()))
    }

    /// One page of the orders created in `[ge_ms, le_ms]` (Almaty epoch
    /// milliseconds, at most 14 days apart), with their entries.
    pub async fn list_orders(
        &self,
        ge_ms: i64,
        le_ms: i64,
        page: u32,
        size: u32,
    ) -> Result<OrdersPage, ProviderError> {
        let query = [
            ("page[number]", page.to_string()),
            ("page[size]", size.min(MAX_PAGE_SIZE).to_string()),
            ("filter[orders][creationDate][$ge]", ge_ms.to_string()),
            ("filter[orders][creationDate][$le]", le_ms.to_string()),
            ("include[orders]", "entries".to_owned()),
        ];
        let doc = self
            .call(self.request(reqwest::Method::GET, "/orders").query(&query))
            .await?;
        let orders = read_orders(&doc)?;
        let meta = doc.get("meta");
        let number = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        Ok(OrdersPage {
            orders,
            page_count: number("pageCount") as u32,
            total: number("totalCount"),
        })
    }

    /// One order with its entries; `None` when Kaspi does not know it.
    pub async fn get_order(&self, id: &str) -> Result<Option<KaspiOrder>, ProviderError> {
        let path = format!("/orders/{}", path_segment(id));
        let doc = match self.call(self.request(reqwest::Method::GET, &path)).await {
            Ok(doc) => doc,
            Err(ProviderError::Rejected { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let entries = self
            .call(self.request(reqwest::Method::GET, &format!("{path}/entries")))
            .await?;
        let mut included = entries.get("data").cloned().unwrap_or(Value::Array(vec![]));
        if let Value::Array(items) = &mut included {
            for item in items.iter_mut() {
                if item.get("type").is_none() {
                    item["type"] = json!("orderentries");
                }
            }
        }
        let combined = json!({"data": [doc.get("data").cloned().unwrap_or(Value::Null)], "included": included});
        Ok(read_orders(&combined)?.into_iter().next())
    }

    async fn post_status(
        &self,
        id: &str,
        code: &str,
        attributes: Value,
        security: Option<&str>,
    ) -> Result<String, ProviderError> {
        let mut attrs = json!({"code": code});
        if let (Value::Object(a), Value::Object(extra)) = (&mut attrs, attributes) {
            a.extend(extra);
        }
        let body = json!({"data": {"type": "orders", "id": id, "attributes": attrs}});
        let mut request = self
            .request(reqwest::Method::POST, "/orders")
            .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
            .body(body.to_string());
        if let Some(code) = security {
            request = request
                .header("X-Security-Code", code)
                .header("X-Send-Code", "true");
        }
        let doc = self.call(request).await?;
        Ok(doc
            .pointer("/data/attributes/status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Accepts or cancels an order; returns the status Kaspi answered with.
    pub async fn change_status(
        &self,
        id: &str,
        code: &str,
        change: StatusChange<'_>,
    ) -> Result<String, ProviderError> {
        let attributes = match change {
            StatusChange::Accept => json!({"status": "ACCEPTED_BY_MERCHANT"}),
            StatusChange::Cancel { reason } => {
                json!({"status": "CANCELLED", "cancellationReason": reason})
            }
        };
        self.post_status(id, code, attributes, None).await
    }

    /// Completion, step one: Kaspi sends the buyer a code in its app.
    pub async fn send_completion_code(&self, id: &str, code: &str) -> Result<(), ProviderError> {
        self.post_status(id, code, json!({"status": "COMPLETED"}), Some(""))
            .await
            .map(|_| ())
    }

    /// Completion, step two, with the code the buyer read out; returns the
    /// status Kaspi answered with (`COMPLETED`). A wrong code is a
    /// `Rejected` that `is_wrong_code` recognises.
    pub async fn complete(
        &self,
        id: &str,
        code: &str,
        security_code: &str,
    ) -> Result<String, ProviderError> {
        self.post_status(
            id,
            code,
            json!({"status": "COMPLETED"}),
            Some(security_code),
        )
        .await
    }
}

/// Kaspi's answer to a wrong completion code.
pub fn is_wrong_code(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Rejected { body, .. } if body.starts_with(WRONG_CODE))
}

/// An opaque id as one path segment (ids are base64-like; `/` or `+` must
/// not change the path).
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// 429 and 5xx are worth retrying (after `Retry-After` when given); the
/// rest is Kaspi saying no, with its JSON:API error title as the reason.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    text: &str,
    doc: Option<Value>,
) -> ProviderError {
    let title = doc
        .as_ref()
        .and_then(|d| d.pointer("/errors/0/title"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ProviderError::RateLimited {
            retry_after: retry_after(headers),
        };
    }
    if status.is_server_error() {
        return match retry_after(headers) {
            Some(after) => ProviderError::RateLimited {
                retry_after: Some(after),
            },
            None => ProviderError::Transport(format!(
                "Kaspi answered {status}: {}",
                ProviderError::excerpt(title.as_deref().unwrap_or(text))
            )),
        };
    }
    // Kaspi's errors are JSON:API; an HTML page (its 404 without `Accept`,
    // a proxy's error) says nothing about the request.
    if doc.is_none() {
        return ProviderError::Transport(format!(
            "Kaspi answered {status} with a body that is not JSON: {}",
            ProviderError::excerpt(text)
        ));
    }
    ProviderError::Rejected {
        status: status.as_u16(),
        body: ProviderError::excerpt(title.as_deref().unwrap_or(text)),
    }
}

/// Kaspi's amounts are JSON numbers in tenge (`2000.0`): read as decimal
/// text into minor units, never through a float comparison.
pub fn minor_units(n: &Number) -> Option<i64> {
    let text = n.to_string();
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, f),
        None => (text.as_str(), ""),
    };
    if text.contains(['e', 'E']) {
        return n.as_f64().map(|f| (f * 100.0).round() as i64);
    }
    let negative = whole.starts_with('-');
    let whole: i64 = whole.trim_start_matches('-').parse().ok()?;
    let mut digits: Vec<u32> = fraction.chars().filter_map(|c| c.to_digit(10)).collect();
    digits.resize(3, 0);
    let mut cents = i64::from(digits[0] * 10 + digits[1]);
    if digits[2] >= 5 {
        cents += 1;
    }
    let value = whole * 100 + cents;
    Some(if negative { -value } else { value })
}

#[derive(Deserialize)]
struct Resource {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    #[serde(default)]
    attributes: Value,
    #[serde(default)]
    relationships: Value,
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn money(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer)
        .and_then(Value::as_number)
        .and_then(minor_units)
        .unwrap_or(0)
}

/// The orders of a JSON:API document, with their entries from `included`.
fn read_orders(doc: &Value) -> Result<Vec<KaspiOrder>, ProviderError> {
    let unreadable =
        |what: &str| ProviderError::Transport(format!("Kaspi's order list is unreadable: {what}"));
    let data: Vec<Resource> = serde_json::from_value(doc.get("data").cloned().unwrap_or(json!([])))
        .map_err(|e| unreadable(&e.to_string()))?;
    let included: Vec<Resource> =
        serde_json::from_value(doc.get("included").cloned().unwrap_or(json!([])))
            .map_err(|e| unreadable(&e.to_string()))?;
    let entries: HashMap<&str, &Resource> = included
        .iter()
        .filter(|r| r.kind == "orderentries")
        .map(|r| (r.id.as_str(), r))
        .collect();
    let mut orders = Vec::with_capacity(data.len());
    for r in data.iter().filter(|r| r.kind == "orders") {
        let a = &r.attributes;
        let refs: Vec<String> = r
            .relationships
            .pointer("/entries/data")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut lines = Vec::new();
        for id in &refs {
            let e = entries.get(id.as_str()).ok_or_else(|| {
                unreadable(&format!("entry {id} of order {} is not included", r.id))
            })?;
            let ea = &e.attributes;
            lines.push(KaspiEntry {
                sku: text(ea, "/offer/code")
                    .ok_or_else(|| unreadable("an entry without offer.code"))?,
                name: text(ea, "/offer/name").unwrap_or_default(),
                quantity: ea.get("quantity").and_then(Value::as_i64).unwrap_or(0) as i32,
                base_price: money(ea, "/basePrice"),
            });
        }
        let first = text(a, "/customer/firstName").unwrap_or_default();
        let last = text(a, "/customer/lastName").unwrap_or_default();
        let name = format!("{first} {last}").trim().to_owned();
        orders.push(KaspiOrder {
            id: r.id.clone(),
            code: text(a, "/code").ok_or_else(|| unreadable("an order without code"))?,
            status: text(a, "/status").unwrap_or_default(),
            state: text(a, "/state").unwrap_or_default(),
            creation_ms: a.get("creationDate").and_then(Value::as_i64).unwrap_or(0),
            total: money(a, "/totalPrice"),
            phone: text(a, "/customer/cellPhone")
                .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
                .filter(|p| !p.is_empty())
                .map(|p| if p.len() == 10 { format!("7{p}") } else { p }),
            customer: (!name.is_empty()).then_some(name),
            entries: lines,
        });
    }
    Ok(orders)
}

#[async_trait::async_trait]
impl bazaar_core::marketplace::KaspiCompletion for KaspiClient {
    async fn send_code(&self, id: &str, code: &str) -> Result<(), ProviderError> {
        self.send_completion_code(id, code).await
    }

    async fn complete(
        &self,
        id: &str,
        code: &str,
        security_code: &str,
    ) -> Result<String, ProviderError> {
        KaspiClient::complete(self, id, code, security_code).await
    }

    fn is_wrong_code(&self, e: &ProviderError) -> bool {
        is_wrong_code(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenge_amounts_become_minor_units_exactly() {
        for (raw, minor) in [
            ("2000.0", 200_000),
            ("1500", 150_000),
            ("19.99", 1_999),
            ("0.005", 1),
            ("12.3", 1_230),
        ] {
            let n: Number = serde_json::from_str(raw).unwrap();
            assert_eq!(minor_units(&n), Some(minor), "{raw}");
        }
    }

    #[test]
    fn a_list_document_reads_into_orders_with_their_entries() {
        let doc = json!({
            "data": [{"type": "orders", "id": "NDk3MTQ6MDIx",
                "attributes": {"code": "496149022", "totalPrice": 2000.0, "creationDate": 1739349620761i64,
                    "state": "NEW", "status": "APPROVED_BY_BANK",
                    "customer": {"cellPhone": "7066828008", "firstName": "Даниела", "lastName": "Муталидзе"}},
                "relationships": {"entries": {"data": [{"type": "orderentries", "id": "e1"}]}}}],
            "included": [{"type": "orderentries", "id": "e1",
                "attributes": {"quantity": 2, "basePrice": 1000.0, "offer": {"code": "CTEE-S-RED", "name": "T"}}}],
            "meta": {"pageCount": 1, "totalCount": 1}
        });
        let orders = read_orders(&doc).unwrap();
        assert_eq!(orders.len(), 1);
        let o = &orders[0];
        assert_eq!(o.total, 200_000);
        assert_eq!(o.phone.as_deref(), Some("77066828008"));
        assert_eq!(o.customer.as_deref(), Some("Даниела Муталидзе"));
        assert_eq!(
            o.entries,
            vec![KaspiEntry {
                sku: "CTEE-S-RED".into(),
                name: "T".into(),
                quantity: 2,
                base_price: 100_000
            }]
        );
        // An entry the document does not include is an error, never a dropped line.
        let broken = json!({"data": doc["data"].clone(), "included": []});
        assert!(read_orders(&broken).is_err());
    }

    #[test]
    fn errors_classify_by_status_and_keep_the_title() {
        let h = HeaderMap::new();
        let doc = json!({"errors": [{"title": "Security code is not valid. And the order cannot be completed without it"}]});
        let e = classify(StatusCode::BAD_REQUEST, &h, "", Some(doc));
        assert!(is_wrong_code(&e));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, &h, "", None),
            ProviderError::RateLimited { .. }
        ));
        assert!(classify(StatusCode::BAD_GATEWAY, &h, "<html>", None).is_retryable());
        // HTML where JSON was expected: a transport problem, not Kaspi's word.
        assert!(classify(StatusCode::FORBIDDEN, &h, "<html>", None).is_retryable());
        assert_eq!(path_segment("NDk3MTQ6MDIx+/="), "NDk3MTQ6MDIx%2B%2F%3D");
    }
}

//! A fake Kaspi.kz merchant API (`/shop/api/v2/orders`), shaped after the
//! Kaspi partner guide as summarised in `shared/integrations/kaspi.md`.
//! Kaspi has no sandbox: every accept, cancel and completion is real and
//! cannot be undone, so this fake is the only place where bazaar's client
//! gets tried. It is strict wherever Kaspi is documented (or reported) to be,
//! and records as a *violation* every rule bazaar breaks (`TestApp`'s
//! end-of-test check fails the test on any):
//!
//! - every request: `X-Auth-Token` = [`TOKEN`] (else 401 with a JSON:API
//!   `{"errors":[{"title":..}]}` body); `Accept: application/vnd.api+json`
//!   (else 404 with an HTML page, as the real API answers and as parsers
//!   choke on); a `User-Agent` (Kaspi's WAF is reported to stall requests
//!   without one: recorded, still answered); `POST`s with
//!   `Content-Type: application/vnd.api+json` (else 415);
//! - `GET /v2/orders`: `page[number]` (from 0) and `page[size]` (1..=100)
//!   required (400 `Required pagination value [number] is empty.` as text);
//!   `filter[orders][creationDate][$ge]` (or `$gt`) required; dates integer
//!   epoch *milliseconds* (a value under 10^12 is seconds: refused); `$le`
//!   (or `$lt`) defaults to now; a window over 14 days, or an inverted one,
//!   is refused; `state`/`status` filters take only Kaspi's documented values;
//!   `state`, `status`, `code` and the date bounds are
//!   AND-ed; orders sorted by creation time then id (ids stable across pages);
//!   `meta.pageCount`/`totalCount` consistent with the page size;
//!   `include[orders]=entries` puts the entries in `included`;
//! - `GET /v2/orders/{id}` and `GET /v2/orders/{id}/entries` (404 if unknown);
//! - `POST /v2/orders` (a JSON:API document; `PATCH` is answered the same way
//!   but is a violation: only POST is documented): `code` must be sent and
//!   match; the transition table (`ACCEPTED_BY_MERCHANT` only from
//!   `APPROVED_BY_BANK`; `CANCELLED` only from `APPROVED_BY_BANK` or
//!   `ACCEPTED_BY_MERCHANT`, with one of the three merchant reasons and a
//!   comment of at most 1000 characters; `COMPLETED` only from
//!   `ACCEPTED_BY_MERCHANT`); anything else is a 400
//!   `Order status transition from X to Y is not allowed`;
//! - completion in two steps, both with `X-Send-Code: true`: an empty
//!   `X-Security-Code` sends the buyer a fresh 4-digit code, the code sent
//!   back completes the order (state `ARCHIVE`). A wrong code, or completing a
//!   cancelled or completed order, gets Kaspi's exact error titles and is *not*
//!   a violation (the buyer or Kaspi caused it); leaving out either header is;
//! - unknown paths: 404 and a violation.
//!
//! Tests seed orders with [`FakeKaspi::add_order`], play the buyer with
//! [`FakeKaspi::set_status`] (Kaspi has no "changed since" filter, so status
//! changes must be found by re-polling), and script outages with
//! [`FakeKaspi::fail_next`].
// The fake's API is wider than what any one test reads.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

pub const TOKEN: &str = "kaspi-test-token";
/// The shop id (cabinet Settings → Shop ID), as in the price list's `<merchantid>`.
pub const MERCHANT_ID: &str = "30123456";
/// `KASPI_FEED_TOKEN` of the test app (the feed is ours, not the fake's).
pub const FEED_TOKEN: &str = "feed-token-0123456789";

const PREFIX: &str = "/shop/api";
const JSON_API: &str = "application/vnd.api+json";
const MAX_PAGE_SIZE: usize = 100;
/// Kaspi's maximum `creationDate` search period.
const MAX_WINDOW_MS: i64 = 14 * 24 * 3600 * 1000;
/// Epoch milliseconds since 2001-09-09; anything smaller is seconds (PAINS #2).
const MIN_EPOCH_MS: i64 = 1_000_000_000_000;
const MAX_COMMENT_CHARS: usize = 1000;
const MAX_BODY_BYTES: usize = 1 << 20;
/// The reasons a merchant may give (GUIDE §3.1/§3.5).
const MERCHANT_REASONS: [&str; 3] = [
    "BUYER_CANCELLATION_BY_MERCHANT",
    "BUYER_NOT_REACHABLE",
    "MERCHANT_OUT_OF_STOCK",
];
const STATES: [&str; 6] = [
    "NEW",
    "SIGN_REQUIRED",
    "PICKUP",
    "DELIVERY",
    "KASPI_DELIVERY",
    "ARCHIVE",
];
const STATUSES: [&str; 8] = [
    "APPROVED_BY_BANK",
    "ACCEPTED_BY_MERCHANT",
    "COMPLETED",
    "CANCELLED",
    "CANCELLING",
    "RETURNED",
    "KASPI_DELIVERY_RETURN_REQUESTED",
    "RETURN_ACCEPTED_BY_MERCHANT",
];
const CODE_INVALID: &str =
    "Security code is not valid. And the order cannot be completed without it";
const ORDER_CANCELLED: &str = "Order is cancelled, so it can't be completed.";
const ORDER_COMPLETED: &str = "Order already has been completed, so it can't be completed again.";

/// An order line to seed; `base_price` is the unit price in whole tenge.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub sku: String,
    pub name: String,
    pub quantity: i32,
    pub base_price: i64,
}

/// An order to seed. `id` is Kaspi's opaque id, `code` what the buyer sees.
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub id: String,
    pub code: String,
    pub status: String,
    pub state: String,
    pub creation_ms: i64,
    /// 10 digits, without the country code, as Kaspi gives it.
    pub customer_phone: String,
    pub first_name: String,
    pub last_name: String,
    pub entries: Vec<NewEntry>,
    pub delivery_mode: String,
    pub payment_mode: String,
}

impl NewOrder {
    /// A new order waiting for the merchant (APPROVED_BY_BANK, state NEW),
    /// picked up by the buyer and paid on credit, with the guide's customer.
    pub fn new(id: &str, code: &str, creation_ms: i64, entries: Vec<NewEntry>) -> Self {
        Self {
            id: id.to_owned(),
            code: code.to_owned(),
            status: "APPROVED_BY_BANK".into(),
            state: "NEW".into(),
            creation_ms,
            customer_phone: "7066828008".into(),
            first_name: "Даниела".into(),
            last_name: "Муталидзе".into(),
            entries,
            delivery_mode: "DELIVERY_PICKUP".into(),
            payment_mode: "PAY_WITH_CREDIT".into(),
        }
    }
}

/// An order as the fake holds it now.
#[derive(Debug, Clone)]
pub struct OrderSnapshot {
    pub id: String,
    pub code: String,
    pub status: String,
    pub state: String,
    pub cancellation_reason: Option<String>,
    pub cancellation_comment: Option<String>,
}

/// A status change the fake accepted (answered 200), completion's first step
/// (the code sent to the buyer) included.
#[derive(Debug, Clone)]
pub struct StatusPost {
    pub id: String,
    pub code: Option<String>,
    pub status: String,
    pub cancellation_reason: Option<String>,
    /// The `X-Security-Code` header as sent: `Some("")` when present and empty.
    pub security_code: Option<String>,
    pub send_code: bool,
}

struct Order {
    order: NewOrder,
    cancellation_reason: Option<String>,
    cancellation_comment: Option<String>,
    /// The code last sent to the buyer.
    security_code: Option<String>,
    codes_sent: usize,
}

#[derive(Default)]
struct Log {
    orders: Vec<Order>,
    posts: Vec<StatusPost>,
    violations: Vec<String>,
    list_calls: usize,
    get_calls: usize,
    /// Scripted outage: the next `fail_remaining` calls get `fail_status`.
    fail_remaining: usize,
    /// Scripted list outage: after `lists_before_failure` more good list
    /// calls, the next `lists_failing` list calls answer 500.
    lists_before_failure: usize,
    lists_failing: usize,
    fail_status: u16,
    fail_retry_after: Option<u32>,
}

impl Log {
    fn order(&self, id: &str) -> Option<&Order> {
        self.orders.iter().find(|o| o.order.id == id)
    }

    /// Records a violation and answers 400 with a JSON:API error.
    fn refuse(&mut self, what: &str, why: &str) -> Response {
        self.violations.push(format!("{what}: {why}"));
        json_error(StatusCode::BAD_REQUEST, why)
    }
}

#[derive(Clone)]
struct Shared {
    /// `http://127.0.0.1:PORT/shop/api`, for `links.self`.
    base: String,
    log: Arc<Mutex<Log>>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }
}

pub struct FakeKaspi {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl FakeKaspi {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind kaspi");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Log::default()));
        // One handler routes everything itself: the header rules and the
        // scripted failures apply to every path, unknown ones included.
        let app = Router::new().fallback(handle).with_state(Shared {
            base: format!("http://{addr}{PREFIX}"),
            log: log.clone(),
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, log }
    }

    /// The API base (no trailing slash): bazaar calls `{url}/v2/orders`.
    pub fn url(&self) -> String {
        format!("http://{}{PREFIX}", self.addr)
    }

    /// Seeds an order. Ids are unique, as Kaspi's are.
    pub fn add_order(&self, order: NewOrder) {
        let mut log = self.log();
        assert!(
            log.order(&order.id).is_none(),
            "order {} seeded twice",
            order.id
        );
        log.orders.push(Order {
            order,
            cancellation_reason: None,
            cancellation_comment: None,
            security_code: None,
            codes_sent: 0,
        });
    }

    /// The buyer or Kaspi changes an order (`CANCELLING`/`CANCELLED`,
    /// `RETURNED`, ...). A cancellation gets the reason `BUYER_CANCELLATION`
    /// unless the order already has one.
    pub fn set_status(&self, id: &str, status: &str, state: &str) {
        let mut log = self.log();
        let order = log
            .orders
            .iter_mut()
            .find(|o| o.order.id == id)
            .unwrap_or_else(|| panic!("no order {id} seeded"));
        order.order.status = status.to_owned();
        order.order.state = state.to_owned();
        if matches!(status, "CANCELLING" | "CANCELLED") && order.cancellation_reason.is_none() {
            order.cancellation_reason = Some("BUYER_CANCELLATION".into());
        }
    }

    pub fn order(&self, id: &str) -> Option<OrderSnapshot> {
        self.log().order(id).map(|o| OrderSnapshot {
            id: o.order.id.clone(),
            code: o.order.code.clone(),
            status: o.order.status.clone(),
            state: o.order.state.clone(),
            cancellation_reason: o.cancellation_reason.clone(),
            cancellation_comment: o.cancellation_comment.clone(),
        })
    }

    /// Every accepted status change (POST or PATCH answered 200), in order.
    pub fn status_posts(&self) -> Vec<StatusPost> {
        self.log().posts.clone()
    }

    /// How many times completion's first step sent the buyer a code.
    pub fn codes_sent(&self, id: &str) -> usize {
        self.log().order(id).map_or(0, |o| o.codes_sent)
    }

    /// The code last sent to the buyer (4 digits), what the buyer would
    /// read out to the merchant.
    pub fn security_code(&self, id: &str) -> Option<String> {
        self.log().order(id).and_then(|o| o.security_code.clone())
    }

    /// What bazaar did that Kaspi would refuse or that the guide forbids.
    /// Empty in a correct run.
    pub fn violations(&self) -> Vec<String> {
        self.log().violations.clone()
    }

    /// `GET /v2/orders` list calls answered 200.
    pub fn list_calls(&self) -> usize {
        self.log().list_calls
    }

    /// `GET /v2/orders/{id}` calls answered 200.
    pub fn get_calls(&self) -> usize {
        self.log().get_calls
    }

    /// The next `n` authorized calls (any path) answer `status` with a
    /// JSON:API error body, and `Retry-After` when given. Scripted, so not
    /// violations; they change nothing.
    pub fn fail_next(&self, n: usize, status: u16, retry_after_secs: Option<u32>) {
        let mut log = self.log();
        log.fail_remaining = n;
        log.fail_status = status;
        log.fail_retry_after = retry_after_secs;
    }

    /// A pull that breaks part-way: the next `ok` order lists are answered,
    /// then `failing` answer 500 (other calls are not affected).
    pub fn fail_lists_after(&self, ok: usize, failing: usize) {
        let mut log = self.log();
        log.lists_before_failure = ok;
        log.lists_failing = failing;
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, JSON_API)], body.to_string()).into_response()
}

/// Kaspi's documented error shape.
fn json_error(status: StatusCode, title: &str) -> Response {
    json_response(status, json!({ "errors": [{ "title": title }] }))
}

/// What Kaspi answers a request without the JSON:API `Accept` (PAINS #1).
fn html_not_found() -> Response {
    let body = "<html><head><title>404 Not Found</title></head>\
                <body><h1>Not Found</h1></body></html>";
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        body,
    )
        .into_response()
}

fn scripted_failure(status: u16, retry_after: Option<u32>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = if status == StatusCode::TOO_MANY_REQUESTS {
        "Too many requests"
    } else if status.is_server_error() {
        "Internal server error"
    } else {
        "Request failed"
    };
    let mut response = json_error(status, title);
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Accept` lists `application/vnd.api+json` (parameters and other types
/// allowed); `*/*` alone is not enough, as with the real API.
fn accepts_json_api(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let media = range.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case(JSON_API)
        })
}

async fn handle(State(s): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Read before taking the lock: the guard must not live across an await.
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .unwrap_or_default();
    respond(
        &s,
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query().unwrap_or_default(),
        &parts.headers,
        &body,
    )
}

fn respond(
    s: &Shared,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let what = format!("{method} {path}");
    let mut guard = s.log();
    let log = &mut *guard;
    if header_str(headers, "x-auth-token") != Some(TOKEN) {
        log.violations.push(format!(
            "{what}: X-Auth-Token missing or not the shop's token"
        ));
        return json_error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    // Header rules are recorded even when a scripted failure answers.
    if header_str(headers, "user-agent").is_none_or(|ua| ua.trim().is_empty()) {
        log.violations.push(format!(
            "{what}: no User-Agent (Kaspi's WAF is reported to stall such requests)"
        ));
    }
    let accepts = accepts_json_api(headers);
    if !accepts {
        log.violations.push(format!(
            "{what}: Accept does not list {JSON_API} (Kaspi answers 404 HTML)"
        ));
    }
    let writes = matches!(method, "POST" | "PATCH" | "PUT");
    let content_type_ok = !writes
        || header_str(headers, "content-type").is_some_and(|ct| {
            let media = ct.split(';').next().unwrap_or_default().trim();
            media.eq_ignore_ascii_case(JSON_API)
        });
    if !content_type_ok {
        log.violations
            .push(format!("{what}: Content-Type is not {JSON_API}"));
    }
    if log.fail_remaining > 0 {
        log.fail_remaining -= 1;
        return scripted_failure(log.fail_status, log.fail_retry_after);
    }
    if !accepts {
        return html_not_found();
    }
    if !content_type_ok {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content type is not supported",
        );
    }

    let segments: Vec<&str> = path
        .strip_prefix(PREFIX)
        .map(|rest| rest.split('/').collect())
        .unwrap_or_default();
    match (method, segments.as_slice()) {
        ("GET", ["", "v2", "orders"]) => list_orders(s, log, query, &what),
        ("GET", ["", "v2", "orders", id]) if !id.is_empty() => {
            let id = decode_segment(id);
            let Some(order) = log.order(&id) else {
                return json_error(StatusCode::NOT_FOUND, &format!("Order {id} not found"));
            };
            let mut body = json!({ "data": order_json(&s.base, order) });
            if includes_entries(&parse_query(query)) {
                body["included"] = Value::Array(entries_json(&s.base, order));
            }
            log.get_calls += 1;
            json_response(StatusCode::OK, body)
        }
        ("GET", ["", "v2", "orders", id, "entries"]) if !id.is_empty() => {
            let id = decode_segment(id);
            match log.order(&id) {
                Some(order) => json_response(
                    StatusCode::OK,
                    json!({ "data": entries_json(&s.base, order) }),
                ),
                None => json_error(StatusCode::NOT_FOUND, &format!("Order {id} not found")),
            }
        }
        ("POST" | "PATCH", ["", "v2", "orders"]) => {
            change_status(s, log, method, headers, body, &what)
        }
        _ => {
            log.violations
                .push(format!("{what}: no such endpoint in the merchant API"));
            json_error(StatusCode::NOT_FOUND, "Not Found")
        }
    }
}

/// A path segment: `+` is literal there (base64-like ids may hold one).
fn decode_segment(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// A query name or value: `+` is a space, as in forms.
fn decode(s: &str) -> String {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The query's pairs, names and values decoded: bracket names arrive
/// percent-encoded (`page%5Bnumber%5D`) or literal (`page[number]`).
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

/// The last value of a parameter, as most servers take a repeated one.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn includes_entries(params: &[(String, String)]) -> bool {
    param(params, "include[orders]")
        .is_some_and(|v| v.split(',').any(|part| part.trim() == "entries"))
}

/// A refused list query: `text` answers as Kaspi answers missing paging
/// (a bare text body), otherwise a JSON:API error.
struct Refusal {
    text: bool,
    why: String,
}

fn refusal(why: impl Into<String>) -> Refusal {
    Refusal {
        text: false,
        why: why.into(),
    }
}

struct ListQuery {
    number: usize,
    size: usize,
    /// Inclusive creation bounds, `$gt`/`$lt` already turned inclusive.
    from: i64,
    to: i64,
    state: Option<String>,
    status: Option<String>,
    code: Option<String>,
    entries: bool,
}

fn parse_list(params: &[(String, String)]) -> Result<ListQuery, Refusal> {
    let page = |name: &str| -> Result<i64, Refusal> {
        match param(params, &format!("page[{name}]")).map(str::trim) {
            None | Some("") => Err(Refusal {
                text: true,
                why: format!("Required pagination value [{name}] is empty."),
            }),
            Some(v) => v
                .parse::<i64>()
                .map_err(|_| refusal(format!("page[{name}]={v:?} is not an integer"))),
        }
    };
    let number = page("number")?;
    let size = page("size")?;
    let number =
        usize::try_from(number).map_err(|_| refusal(format!("page[number]={number} < 0")))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|size| (1..=MAX_PAGE_SIZE).contains(size))
        .ok_or_else(|| {
            refusal(format!(
                "page[size]={size} is not within 1..={MAX_PAGE_SIZE}"
            ))
        })?;

    let date = |op: &str| -> Result<Option<i64>, Refusal> {
        let name = format!("filter[orders][creationDate][{op}]");
        let Some(v) = param(params, &name) else {
            return Ok(None);
        };
        match v.trim().parse::<i64>() {
            Ok(ms) if ms >= MIN_EPOCH_MS => Ok(Some(ms)),
            Ok(ms) => Err(refusal(format!(
                "{name}={ms} looks like seconds; Kaspi takes epoch milliseconds"
            ))),
            Err(_) => Err(refusal(format!(
                "{name}={v:?} is not an integer of epoch milliseconds"
            ))),
        }
    };
    let (ge, gt, le, lt) = (date("$ge")?, date("$gt")?, date("$le")?, date("$lt")?);
    let from = match (ge, gt.map(|t| t + 1)) {
        (None, None) => {
            return Err(refusal(
                "filter[orders][creationDate][$ge] is required (epoch milliseconds)",
            ))
        }
        (a, b) => a.max(b).unwrap_or_default(),
    };
    let to = match (le, lt.map(|t| t - 1)) {
        (None, None) => now_ms(),
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or_default(),
    };
    if from > to {
        return Err(refusal(format!(
            "creationDate lower bound {from} is after the upper bound {to}"
        )));
    }
    if to - from > MAX_WINDOW_MS {
        return Err(refusal(format!(
            "creationDate window {from}..={to} is longer than the maximum search period of 14 days"
        )));
    }

    let state = param(params, "filter[orders][state]").map(str::to_owned);
    if let Some(state) = state.as_deref().filter(|s| !STATES.contains(s)) {
        return Err(refusal(format!(
            "filter[orders][state]={state:?} is not a state"
        )));
    }
    let status = param(params, "filter[orders][status]").map(str::to_owned);
    if let Some(status) = status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(refusal(format!(
            "filter[orders][status]={status:?} is not a status"
        )));
    }
    Ok(ListQuery {
        number,
        size,
        from,
        to,
        state,
        status,
        code: param(params, "filter[orders][code]").map(str::to_owned),
        entries: includes_entries(params),
    })
}

fn list_orders(s: &Shared, log: &mut Log, query: &str, what: &str) -> Response {
    if log.lists_before_failure > 0 {
        log.lists_before_failure -= 1;
    } else if log.lists_failing > 0 {
        log.lists_failing -= 1;
        return scripted_failure(500, None);
    }
    let q = match parse_list(&parse_query(query)) {
        Ok(q) => q,
        Err(Refusal { text: true, why }) => {
            log.violations.push(format!("{what}: {why}"));
            return (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
                why,
            )
                .into_response();
        }
        Err(Refusal { why, .. }) => return log.refuse(what, &why),
    };
    let mut matching: Vec<&Order> = log
        .orders
        .iter()
        .filter(|o| (q.from..=q.to).contains(&o.order.creation_ms))
        .filter(|o| q.state.as_ref().is_none_or(|s| *s == o.order.state))
        .filter(|o| q.status.as_ref().is_none_or(|s| *s == o.order.status))
        .filter(|o| q.code.as_ref().is_none_or(|c| *c == o.order.code))
        .collect();
    matching.sort_by(|a, b| {
        (a.order.creation_ms, &a.order.id).cmp(&(b.order.creation_ms, &b.order.id))
    });
    let total = matching.len();
    let page: Vec<&Order> = matching
        .into_iter()
        .skip(q.number.saturating_mul(q.size))
        .take(q.size)
        .collect();
    let data: Vec<Value> = page.iter().map(|o| order_json(&s.base, o)).collect();
    let included: Vec<Value> = if q.entries {
        page.iter().flat_map(|o| entries_json(&s.base, o)).collect()
    } else {
        Vec::new()
    };
    let body = json!({
        "data": data,
        "included": included,
        "meta": { "pageCount": total.div_ceil(q.size), "totalCount": total },
    });
    log.list_calls += 1;
    json_response(StatusCode::OK, body)
}

fn entry_id(order: &NewOrder, index: usize) -> String {
    format!("{}-{index}", order.id)
}

/// Amounts are JSON numbers with `.0`, as Kaspi writes them.
fn tenge(amount: i64) -> f64 {
    amount as f64
}

fn order_json(base: &str, o: &Order) -> Value {
    let order = &o.order;
    let link = format!("{base}/v2/orders/{}", order.id);
    let total: i64 = order
        .entries
        .iter()
        .map(|e| i64::from(e.quantity) * e.base_price)
        .sum();
    let customer_id = format!("C{}", order.customer_phone);
    let mut attributes = json!({
        "code": order.code,
        "totalPrice": tenge(total),
        "paymentMode": order.payment_mode,
        "creationDate": order.creation_ms,
        "approvedByBankDate": order.creation_ms + 5_000,
        "reservationDate": order.creation_ms + 5 * 24 * 3600 * 1000,
        "plannedDeliveryDate": null,
        "deliveryCostForSeller": 0.0,
        "deliveryCost": 0.0,
        "isKaspiDelivery": false,
        "deliveryMode": order.delivery_mode,
        "signatureRequired": false,
        "preOrder": false,
        "pickupPointId": "PP1",
        "state": order.state,
        "status": order.status,
        "customer": {
            "id": customer_id,
            "name": null,
            "cellPhone": order.customer_phone,
            "firstName": order.first_name,
            "lastName": order.last_name,
        },
        "assembled": false,
    });
    if let Some(reason) = &o.cancellation_reason {
        attributes["cancellationReason"] = json!(reason);
    }
    let entries: Vec<Value> = (0..order.entries.len())
        .map(|i| json!({ "type": "orderentries", "id": entry_id(order, i) }))
        .collect();
    json!({
        "type": "orders",
        "id": order.id,
        "attributes": attributes,
        "relationships": {
            "entries": {
                "links": {
                    "self": format!("{link}/relationships/entries"),
                    "related": format!("{link}/entries"),
                },
                "data": entries,
            },
            "user": { "data": { "type": "customers", "id": customer_id } },
        },
        "links": { "self": link },
    })
}

fn entries_json(base: &str, o: &Order) -> Vec<Value> {
    let order = &o.order;
    order
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let id = entry_id(order, i);
            json!({
                "type": "orderentries",
                "id": id,
                "attributes": {
                    "quantity": e.quantity,
                    "basePrice": tenge(e.base_price),
                    "totalPrice": tenge(i64::from(e.quantity) * e.base_price),
                    "entryNumber": i,
                    "unitType": "PIECES",
                    "offer": { "code": e.sku, "name": e.name },
                    "category": { "code": "Master - Test", "title": "Test" },
                    "deliveryCost": 0.0,
                },
                "links": { "self": format!("{base}/v2/orderentries/{id}") },
            })
        })
        .collect()
}

/// `POST /v2/orders`: accept, cancel, or complete (two steps) an order.
fn change_status(
    s: &Shared,
    log: &mut Log,
    method: &str,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> Response {
    if method != "POST" {
        log.violations.push(format!(
            "{what}: status changes must use POST /v2/orders, the only documented method"
        ));
    }
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return log.refuse(what, "the body is not a JSON document");
    };
    let data = &doc["data"];
    if data["type"].as_str() != Some("orders") {
        return log.refuse(what, "data.type must be \"orders\"");
    }
    let Some(id) = data["id"].as_str().filter(|id| !id.is_empty()) else {
        return log.refuse(what, "data.id (the order id) is missing");
    };
    let attributes = &data["attributes"];
    let Some(status) = attributes["status"].as_str() else {
        return log.refuse(what, "data.attributes.status is missing");
    };
    // Optional string attributes: absent (or null) is None, a non-string refused.
    let text = |name: &str| match &attributes[name] {
        Value::Null => Ok(None),
        Value::String(v) => Ok(Some(v.clone())),
        _ => Err(format!("data.attributes.{name} is not a string")),
    };
    let (code, reason, comment) = match (
        text("code"),
        text("cancellationReason"),
        text("cancellationComment"),
    ) {
        (Ok(code), Ok(reason), Ok(comment)) => (code, reason, comment),
        (Err(why), ..) | (_, Err(why), _) | (.., Err(why)) => return log.refuse(what, &why),
    };
    let security_code = header_str(headers, "x-security-code").map(str::to_owned);
    let send_code =
        header_str(headers, "x-send-code").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));

    let Some(ix) = log.orders.iter().position(|o| o.order.id == id) else {
        log.violations
            .push(format!("{what}: order {id} does not exist"));
        return json_error(StatusCode::NOT_FOUND, &format!("Order {id} not found"));
    };
    let order_code = log.orders[ix].order.code.clone();
    match code.as_deref() {
        None => log.violations.push(format!(
            "{what}: order {id}: attributes.code not sent (every documented example sends it)"
        )),
        Some(sent) if sent != order_code => {
            return log.refuse(
                what,
                &format!("order {id}: code {sent:?} is not the order's code {order_code:?}"),
            )
        }
        Some(_) => {}
    }
    let from = log.orders[ix].order.status.clone();
    let not_allowed = |log: &mut Log| {
        log.refuse(
            what,
            &format!("Order status transition from {from} to {status} is not allowed"),
        )
    };

    match status {
        "ACCEPTED_BY_MERCHANT" => {
            if from != "APPROVED_BY_BANK" {
                return not_allowed(log);
            }
            let order = &mut log.orders[ix].order;
            order.status = status.to_owned();
            // Accepted orders move on to their fulfilment state.
            if order.state == "NEW" {
                match order.delivery_mode.as_str() {
                    "DELIVERY_PICKUP" => order.state = "PICKUP".into(),
                    "DELIVERY_LOCAL" | "DELIVERY_REGIONAL_TODOOR" => {
                        order.state = "DELIVERY".into()
                    }
                    _ => {}
                }
            }
        }
        "CANCELLED" => {
            if !matches!(from.as_str(), "APPROVED_BY_BANK" | "ACCEPTED_BY_MERCHANT") {
                return not_allowed(log);
            }
            match reason.as_deref() {
                None => return log.refuse(what, "cancellationReason is required to cancel"),
                Some(r) if !MERCHANT_REASONS.contains(&r) => {
                    return log.refuse(
                        what,
                        &format!("cancellationReason {r:?} is not one of {MERCHANT_REASONS:?}"),
                    )
                }
                Some(_) => {}
            }
            if comment
                .as_ref()
                .is_some_and(|c| c.chars().count() > MAX_COMMENT_CHARS)
            {
                return log.refuse(
                    what,
                    &format!("cancellationComment is longer than {MAX_COMMENT_CHARS} characters"),
                );
            }
            let order = &mut log.orders[ix];
            order.order.status = status.to_owned();
            order.order.state = "ARCHIVE".into();
            order.cancellation_reason = reason.clone();
            order.cancellation_comment = comment;
        }
        "COMPLETED" => {
            let Some(sent_code) = security_code.as_deref().map(str::trim) else {
                return log.refuse(
                    what,
                    "COMPLETED without an X-Security-Code header (empty to send the code, then the buyer's code)",
                );
            };
            if !send_code {
                return log.refuse(what, "COMPLETED without X-Send-Code: true");
            }
            // The buyer or Kaspi may have moved the order meanwhile: these
            // two answers are Kaspi's and not bazaar's fault.
            match from.as_str() {
                "CANCELLED" => return json_error(StatusCode::BAD_REQUEST, ORDER_CANCELLED),
                "COMPLETED" => return json_error(StatusCode::BAD_REQUEST, ORDER_COMPLETED),
                "ACCEPTED_BY_MERCHANT" => {}
                _ => return not_allowed(log),
            }
            let order = &mut log.orders[ix];
            if sent_code.is_empty() {
                // Step 1: a fresh code goes to the buyer's Kaspi app.
                order.security_code = Some(format!("{:04}", rand::random::<u16>() % 10_000));
                order.codes_sent += 1;
            } else if order.security_code.as_deref() == Some(sent_code) {
                order.order.status = status.to_owned();
                order.order.state = "ARCHIVE".into();
            } else {
                // A buyer may misread the code: Kaspi's answer, not a violation.
                return json_error(StatusCode::BAD_REQUEST, CODE_INVALID);
            }
        }
        _ => return not_allowed(log),
    }

    log.posts.push(StatusPost {
        id: id.to_owned(),
        code,
        status: status.to_owned(),
        cancellation_reason: reason,
        security_code,
        send_code,
    });
    let order = &log.orders[ix].order;
    json_response(
        StatusCode::OK,
        json!({
            "data": {
                "type": "orders",
                "id": order.id,
                "attributes": { "code": order.code, "status": order.status },
                "relationships": {},
                "links": { "self": format!("{}/v2/orders/{}", s.base, order.id) },
            },
            "included": [],
        }),
    )
}

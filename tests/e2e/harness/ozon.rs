//! A fake Ozon Seller API (`shared/integrations/ozon.md`): every method is
//! `POST <path>` with a JSON body, errors are gRPC-gateway bodies
//! `{"code": <int>, "message": "..", "details": []}`, and many write methods
//! answer 200 with per-item `errors`. It enforces what Ozon enforces, and
//! records as a *violation* everything bazaar promises never to do (the
//! test's end-of-run check fails on any):
//!
//! - POST only (else 405); `Client-Id` [`CLIENT_ID`] and `Api-Key`
//!   [`API_KEY`] on every call (missing: 401, wrong: 403, code 16,
//!   `Invalid Api-Key, please check the key and try again`);
//!   `Content-Type: application/json` and a JSON object body (`{}` when
//!   empty), else 400; unknown paths 404; the v3 posting lists (switched off
//!   2026-06-01) 404 `method is not allowed`. All of these are violations;
//! - [`Limits::global_per_sec`] (50) calls per sliding second, all methods
//!   together: 429, code 8, `You have reached request rate limit per second`;
//! - `/v2/products/stocks`: 1..=100 items (else 400);
//!   [`Limits::stock_calls_per_min`] (80) calls per sliding 60 s (else 429);
//!   per item: `offer_id_not_found` / `NOT_FOUND_ERROR` (unknown product),
//!   `product_is_not_created` (card still `pending`), `WAREHOUSE_NOT_FOUND`,
//!   `STOCK_TOO_BIG` (>= 1,000,000), `STOCK_IS_NEGATIVE` (< 0, a violation:
//!   available stock is clamped at 0 by bazaar), and `TOO_MANY_REQUESTS`
//!   `Stock is updated too frequently` when the same (product, warehouse)
//!   was accepted less than [`Limits::stock_pair_interval`] (30 s) ago, also
//!   within one request; that one is a violation too. `offer_id` wins over
//!   `product_id`; both sent and naming different products is a violation;
//! - `/v1/product/import/prices`: 1..=1000 items (else 400); `price`,
//!   `old_price`, `min_price` decimal *strings* (a JSON number: 400);
//!   unknown offer `offer_id_not_found`; more than
//!   [`Limits::price_changes_per_hour`] (10) accepted changes of one offer in
//!   a sliding hour: item error `error limiting: acquire limit per item:
//!   items limit: limit exceeded` and a violation. Discount rules between
//!   `price` and `old_price` are *not* checked;
//! - `/v3/product/import`: 1..=100 items (else 400); an item without
//!   `offer_id`, `name` or a string `price` fails in the task result. New
//!   offers become cards in state `pending` (new product_id and sku); an
//!   existing card is updated and keeps its state (Ozon keeps selling a card
//!   while its update is moderated). `/v1/product/import/info`: the first
//!   poll of a task answers `pending`; later polls `imported` (the card moves
//!   to `price_sent`, the state in which stock may be set) or `failed`;
//! - `/v3/product/info/list`: exactly one of `offer_id`/`product_id`/`sku`,
//!   at most 1000 ids (else 400);
//! - `/v4/posting/fbs/list`: `filter.since`/`filter.to` RFC 3339, at most a
//!   year apart; `limit` 1..=100; opaque `cursor`s the fake issued (else
//!   400). `/v4/posting/fbs/unfulfilled/list`: cutoff *or* delivering-date
//!   window (exactly one kind), only `awaiting_packaging`/`awaiting_deliver`
//!   postings, plus `count`. Both filter `statuses`, `last_changed_status_date`
//!   (inclusive) and `warehouse_ids`; the fake has no delivering dates, so a
//!   delivering-date window finds nothing;
//! - `/v4/posting/fbs/ship`: only from `awaiting_packaging`
//!   (`POSTING_ALREADY_SHIPPED`; `POSTING_ALREADY_CANCELLED` and
//!   `HAS_INCORRECT_STATUS` are violations); `products[].product_id` must be
//!   one of the posting's **SKUs** and the quantities per SKU, summed over
//!   packages, must equal the posting's: anything else (a catalog product_id
//!   included) is 400 `HAS_INCORRECT_PRODUCT_QUANTITY` and a violation.
//!   Several packages are recorded but do not split the posting.
//!   [`FakeOzon::ship_fails_once`] scripts Ozon's "200 but `ship_failed`";
//! - `/v1/posting/fbs/cancel-reason` offers 352, 400, 402 (and 401 in
//!   arbitration; `type_id` is `"seller"`, a string as in Ozon's spec) for
//!   postings not yet delivering; `/v2/posting/fbs/cancel`
//!   requires one of the offered reasons (`HAS_INCORRECT_CANCEL_REASON`), a
//!   message with 402, a posting not already cancelled, and the reasons to
//!   have been asked for that posting first: all violations when broken;
//! - `/v3/posting/fbs/get`, `/v2/warehouse/list`.
//!
//! Scripted failures ([`FakeOzon::circle_open`], [`FakeOzon::fail_next`])
//! answer before anything else but authentication, and are not violations
//! (nor counted in the global window); calling a path less than 1 s after
//! its `Circle is open` answer is one ("hammering an open circle"). Every
//! sliding window forgives [`JITTER_GRACE`].
// The fake's API is wider than what any one test reads.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::State,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json, Router,
};
use chrono::{DateTime, Months, SecondsFormat, SubsecRound, TimeDelta, Utc};
use serde_json::{json, Map, Value};

pub const CLIENT_ID: &str = "836501";
pub const API_KEY: &str = "ozon-test-api-key";
/// The seller's FBS warehouse, known from the start (`/v2/warehouse/list`).
pub const WAREHOUSE_ID: i64 = 22142605386000;

pub const STOCKS: &str = "/v2/products/stocks";
const PRICES: &str = "/v1/product/import/prices";
const IMPORT: &str = "/v3/product/import";
const IMPORT_INFO: &str = "/v1/product/import/info";
const INFO_LIST: &str = "/v3/product/info/list";
const LIST: &str = "/v4/posting/fbs/list";
const UNFULFILLED: &str = "/v4/posting/fbs/unfulfilled/list";
const GET: &str = "/v3/posting/fbs/get";
const SHIP: &str = "/v4/posting/fbs/ship";
const CANCEL_REASON: &str = "/v1/posting/fbs/cancel-reason";
const CANCEL: &str = "/v2/posting/fbs/cancel";
const WAREHOUSES: &str = "/v2/warehouse/list";
const ROUTES: &[&str] = &[
    STOCKS,
    PRICES,
    IMPORT,
    IMPORT_INFO,
    INFO_LIST,
    LIST,
    UNFULFILLED,
    GET,
    SHIP,
    CANCEL_REASON,
    CANCEL,
    WAREHOUSES,
];
/// Statuses a posting has once shipped (a second ship: `POSTING_ALREADY_SHIPPED`).
const SHIPPED: &[&str] = &[
    "awaiting_deliver",
    "delivering",
    "driver_pickup",
    "delivered",
    "sent_by_seller",
    "not_accepted",
    "arbitration",
    "client_arbitration",
];
/// What the unfulfilled list returns.
const OPEN: &[&str] = &["awaiting_packaging", "awaiting_deliver"];
/// Switched off on 2026-06-01 (ozon.md, "FBS postings").
const GONE: &[&str] = &["/v3/posting/fbs/list", "/v3/posting/fbs/unfulfilled/list"];

const AUTH_MESSAGE: &str = "Invalid Api-Key, please check the key and try again";
const RATE_MESSAGE: &str = "You have reached request rate limit per second";
const PRICE_LIMIT: &str = "error limiting: acquire limit per item: items limit: limit exceeded";
const MAX_STOCK_ITEMS: usize = 100;
const MAX_PRICE_ITEMS: usize = 1000;
const MAX_IMPORT_ITEMS: usize = 100;
const MAX_INFO_IDS: usize = 1000;
const MAX_ORDER_NUMBERS: usize = 100;
/// `STOCK_TOO_BIG` from this figure up.
const MAX_STOCK: i64 = 1_000_000;
const STOCK_CALL_WINDOW: Duration = Duration::from_secs(60);
const PRICE_WINDOW: Duration = Duration::from_secs(3600);
/// How long a client must leave a path alone after `Circle is open` (Ozon
/// says the method recovers "within a few minutes"; a second is the least
/// back-off that is not hammering, and keeps tests fast).
const CIRCLE_BACKOFF: Duration = Duration::from_secs(1);
/// Taken off each window, as in the fake Telegram: bazaar's limiter reserves
/// a slot at one instant and the request reaches this server a few
/// milliseconds later (or earlier than the previous one, which may have been
/// delayed), so a client that honours a limit could otherwise arrive 998 ms
/// after the call it is counting from. Capped at a twentieth of the window
/// so that the short windows tests configure stay meaningful.
const JITTER_GRACE: Duration = Duration::from_millis(50);

/// Ozon's limits. Tests shrink the windows (and configure bazaar to match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Calls per second per Client-Id, all methods together.
    pub global_per_sec: u32,
    /// `/v2/products/stocks` calls per sliding minute.
    pub stock_calls_per_min: u32,
    /// Least time between two accepted stocks of one (product, warehouse).
    pub stock_pair_interval: Duration,
    /// Accepted price changes of one offer per sliding hour.
    pub price_changes_per_hour: u32,
}

/// Ozon's real values (ozon.md: Transport, Stocks, Prices).
impl Default for Limits {
    fn default() -> Self {
        Self {
            global_per_sec: 50,
            stock_calls_per_min: 80,
            stock_pair_interval: Duration::from_secs(30),
            price_changes_per_hour: 10,
        }
    }
}

/// A stock item Ozon accepted (`updated: true`).
#[derive(Debug, Clone)]
pub struct StockUpdate {
    pub offer_id: String,
    pub product_id: i64,
    pub warehouse_id: i64,
    pub stock: i64,
    pub at: Instant,
}

/// A price item Ozon accepted.
#[derive(Debug, Clone)]
pub struct PriceUpdate {
    pub offer_id: String,
    pub price: String,
    pub old_price: Option<String>,
    pub currency_code: Option<String>,
    pub at: Instant,
}

#[derive(Debug, Clone)]
pub struct ProductSnapshot {
    pub offer_id: String,
    pub product_id: i64,
    pub sku: i64,
    /// `"pending"` (imported, not yet created) or `"price_sent"`.
    pub state: String,
    pub name: String,
}

/// A posting a test feeds in ([`FakeOzon::add_posting`]).
#[derive(Debug, Clone)]
pub struct NewPosting {
    pub posting_number: String,
    pub order_number: String,
    pub status: String,
    pub in_process_at: DateTime<Utc>,
    pub shipment_date: DateTime<Utc>,
    pub warehouse_id: i64,
    pub products: Vec<NewPostingProduct>,
}

#[derive(Debug, Clone)]
pub struct NewPostingProduct {
    /// The Ozon SKU (what ship takes), not the catalog product_id.
    pub sku: i64,
    pub offer_id: String,
    pub name: String,
    pub quantity: i32,
    /// Decimal string, as Ozon's `price.amount` (`"1530.00"`).
    pub price: String,
}

impl NewPosting {
    /// An `awaiting_packaging` posting in [`WAREHOUSE_ID`], taken into work
    /// now, to ship by tomorrow; its order number is the posting number
    /// without the last part (`0132112277-0101-1` → `0132112277-0101`).
    pub fn new(posting_number: &str, products: Vec<NewPostingProduct>) -> Self {
        let now = now_utc();
        let order_number = posting_number
            .rsplit_once('-')
            .map_or(posting_number, |(order, _)| order)
            .to_owned();
        Self {
            posting_number: posting_number.to_owned(),
            order_number,
            status: "awaiting_packaging".into(),
            in_process_at: now,
            shipment_date: now + TimeDelta::days(1),
            warehouse_id: WAREHOUSE_ID,
            products,
        }
    }
}

#[derive(Debug, Clone)]
pub struct PostingSnapshot {
    pub posting_number: String,
    pub status: String,
    pub substatus: String,
    /// What the successful ship sent: per package, (sku, quantity).
    pub shipped_packages: Vec<Vec<(i64, i32)>>,
    /// What bazaar's cancel sent (not set by [`FakeOzon::set_posting_status`]).
    pub cancel_reason_id: Option<i64>,
    pub cancel_reason_message: Option<String>,
    /// Ship calls for this posting, whatever their outcome.
    pub ship_calls: usize,
}

#[derive(Debug, Clone)]
struct Product {
    offer_id: String,
    product_id: i64,
    sku: i64,
    state: String,
    name: String,
    price: Option<String>,
}

struct TaskItem {
    offer_id: String,
    product_id: i64,
    errors: Vec<Value>,
}

struct Task {
    items: Vec<TaskItem>,
    polls: usize,
}

struct Posting {
    posting_number: String,
    order_id: i64,
    order_number: String,
    status: String,
    substatus: String,
    in_process_at: DateTime<Utc>,
    shipment_date: DateTime<Utc>,
    warehouse_id: i64,
    products: Vec<NewPostingProduct>,
    last_changed: DateTime<Utc>,
    shipped_packages: Vec<Vec<(i64, i32)>>,
    cancel_reason_id: Option<i64>,
    cancel_reason_message: Option<String>,
    ship_calls: usize,
    ship_fails_once: bool,
    /// bazaar asked `/v1/posting/fbs/cancel-reason` for it (and got reasons).
    reasons_asked: bool,
}

#[derive(Default)]
struct St {
    limits: Limits,
    products: BTreeMap<String, Product>,
    warehouses: BTreeMap<i64, String>,
    stock_updates: Vec<StockUpdate>,
    stocks: HashMap<(String, i64), i64>,
    /// When each (offer, warehouse) stock was last accepted.
    pair_accepted: HashMap<(String, i64), Instant>,
    stock_calls: VecDeque<Instant>,
    price_updates: Vec<PriceUpdate>,
    price_changes: HashMap<String, VecDeque<Instant>>,
    tasks: HashMap<i64, Task>,
    last_task_id: i64,
    postings: Vec<Posting>,
    /// Issued cursor → (list path, offset of the next page).
    cursors: HashMap<String, (String, usize)>,
    last_cursor: u64,
    global: VecDeque<Instant>,
    calls: HashMap<String, usize>,
    circle: HashMap<String, usize>,
    circle_answered: HashMap<String, Instant>,
    /// Scripted failures per path: (count, HTTP status, Retry-After).
    failures: HashMap<String, (usize, u16, Option<u32>)>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<St>>;

fn lock(shared: &Shared) -> MutexGuard<'_, St> {
    // A panicking test must not hide its own failure behind a poisoned lock.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct FakeOzon {
    pub addr: SocketAddr,
    limits: Limits,
    state: Shared,
}

impl FakeOzon {
    pub async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Self {
        let mut st = St {
            limits,
            last_task_id: 172_549_000,
            ..St::default()
        };
        st.warehouses.insert(WAREHOUSE_ID, "Main".into());
        let state = Arc::new(Mutex::new(st));
        // Every path and method lands in one handler: Ozon's answers to
        // wrong methods and unknown paths are part of what is checked.
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind ozon");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            limits,
            state,
        }
    }

    /// The API base (no trailing slash): bazaar calls `{url}/v2/products/stocks`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// An existing card, created and priced (`price_sent`): stock may be set.
    pub fn add_product(&self, offer_id: &str, product_id: i64, sku: i64) {
        self.st().products.insert(
            offer_id.to_owned(),
            Product {
                offer_id: offer_id.to_owned(),
                product_id,
                sku,
                state: "price_sent".into(),
                name: format!("Product {offer_id}"),
                price: None,
            },
        );
    }

    /// Another warehouse stocks may be sent to.
    pub fn add_warehouse(&self, id: i64) {
        self.st().warehouses.insert(id, format!("Warehouse {id}"));
    }

    pub fn product(&self, offer_id: &str) -> Option<ProductSnapshot> {
        self.st().products.get(offer_id).map(|p| ProductSnapshot {
            offer_id: p.offer_id.clone(),
            product_id: p.product_id,
            sku: p.sku,
            state: p.state.clone(),
            name: p.name.clone(),
        })
    }

    /// Every stock item accepted, in order.
    pub fn stock_updates(&self) -> Vec<StockUpdate> {
        self.st().stock_updates.clone()
    }

    /// The latest accepted stock of an offer in a warehouse.
    pub fn stock(&self, offer_id: &str, warehouse_id: i64) -> Option<i64> {
        self.st()
            .stocks
            .get(&(offer_id.to_owned(), warehouse_id))
            .copied()
    }

    /// Every price item accepted, in order.
    pub fn price_updates(&self) -> Vec<PriceUpdate> {
        self.st().price_updates.clone()
    }

    pub fn add_posting(&self, p: NewPosting) {
        let mut st = self.st();
        assert!(
            !st.postings
                .iter()
                .any(|q| q.posting_number == p.posting_number),
            "posting {} added twice",
            p.posting_number
        );
        let order_id = 30_000_000_000 + st.postings.len() as i64 + 1;
        let substatus = substatus_for(&p.status).to_owned();
        st.postings.push(Posting {
            posting_number: p.posting_number,
            order_id,
            order_number: p.order_number,
            status: p.status,
            substatus,
            in_process_at: p.in_process_at.trunc_subsecs(3),
            shipment_date: p.shipment_date.trunc_subsecs(3),
            warehouse_id: p.warehouse_id,
            products: p.products,
            last_changed: now_utc(),
            shipped_packages: Vec::new(),
            cancel_reason_id: None,
            cancel_reason_message: None,
            ship_calls: 0,
            ship_fails_once: false,
            reasons_asked: false,
        });
    }

    /// Moves a posting as Ozon would (delivery, buyer cancellation, ...),
    /// with the usual substatus and its last-changed time now.
    pub fn set_posting_status(&self, posting_number: &str, status: &str) {
        let mut st = self.st();
        let p = st
            .postings
            .iter_mut()
            .find(|p| p.posting_number == posting_number)
            .unwrap_or_else(|| panic!("no posting {posting_number}"));
        p.status = status.to_owned();
        p.substatus = substatus_for(status).to_owned();
        p.last_changed = now_utc();
    }

    pub fn posting(&self, posting_number: &str) -> Option<PostingSnapshot> {
        self.st()
            .postings
            .iter()
            .find(|p| p.posting_number == posting_number)
            .map(|p| PostingSnapshot {
                posting_number: p.posting_number.clone(),
                status: p.status.clone(),
                substatus: p.substatus.clone(),
                shipped_packages: p.shipped_packages.clone(),
                cancel_reason_id: p.cancel_reason_id,
                cancel_reason_message: p.cancel_reason_message.clone(),
                ship_calls: p.ship_calls,
            })
    }

    /// The next valid ship of this posting answers 200 as usual but leaves
    /// it `awaiting_packaging` with substatus `ship_failed` (ozon.md: "200
    /// does not guarantee success").
    pub fn ship_fails_once(&self, posting_number: &str) {
        let mut st = self.st();
        let p = st
            .postings
            .iter_mut()
            .find(|p| p.posting_number == posting_number)
            .unwrap_or_else(|| panic!("no posting {posting_number}"));
        p.ship_fails_once = true;
    }

    /// The next `n` calls to `path` answer 500, code 13, `Circle is open`.
    pub fn circle_open(&self, path: &str, n: usize) {
        self.st().circle.insert(path.to_owned(), n);
    }

    /// The next `n` calls to `path` answer `status` with Ozon's error body
    /// (and `Retry-After` when given).
    pub fn fail_next(&self, path: &str, n: usize, status: u16, retry_after_secs: Option<u32>) {
        self.st()
            .failures
            .insert(path.to_owned(), (n, status, retry_after_secs));
    }

    /// Authorised calls to `path`, whatever their outcome.
    pub fn calls(&self, path: &str) -> usize {
        self.st().calls.get(path).copied().unwrap_or(0)
    }

    /// What bazaar did that Ozon would punish or that it promises never to
    /// do. Empty in a correct run.
    pub fn violations(&self) -> Vec<String> {
        self.st().violations.clone()
    }

    fn st(&self) -> MutexGuard<'_, St> {
        lock(&self.state)
    }
}

fn now_utc() -> DateTime<Utc> {
    // Ozon's timestamps carry milliseconds; stored times are cut to what a
    // client reads, so that a filter built from them matches exactly.
    Utc::now().trunc_subsecs(3)
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn grace(window: Duration) -> Duration {
    JITTER_GRACE.min(window / 20)
}

/// Drops the instants that left the window.
fn prune(window: &mut VecDeque<Instant>, now: Instant, length: Duration) {
    let keep = length - grace(length);
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= keep)
    {
        window.pop_front();
    }
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({ "code": code, "message": message, "details": [] });
    (status, Json(body)).into_response()
}

/// A scripted failure: the gRPC code that goes with the HTTP status.
fn scripted_error(status: u16, retry_after: Option<u32>) -> Response {
    let (code, message) = match status {
        401 | 403 => (16, AUTH_MESSAGE),
        404 => (5, "not found"),
        429 => (8, RATE_MESSAGE),
        503 => (14, "service unavailable"),
        500..=599 => (13, "internal error"),
        _ => (3, "invalid request"),
    };
    let mut response = error(status, code, message);
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// An int64 as Ozon takes it: a JSON integer or a string of one.
fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text<'a>(b: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    b.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `"1448"`, `"1530.00"`: digits with at most one decimal point.
fn is_decimal(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    match s.split_once('.') {
        Some((whole, frac)) => digits(whole) && digits(frac),
        None => digits(s),
    }
}

/// An optional RFC 3339 time; `Err` for anything else.
fn time(v: Option<&Value>) -> Result<Option<DateTime<Utc>>, ()> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ()),
        Some(_) => Err(()),
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn substatus_for(status: &str) -> &'static str {
    match status {
        "awaiting_registration" => "posting_awaiting_registration",
        "acceptance_in_progress" => "posting_acceptance_in_progress",
        "awaiting_approve" | "awaiting_packaging" => "posting_created",
        "awaiting_deliver" => "posting_transferring_to_delivery",
        "arbitration" => "posting_in_arbitration",
        "client_arbitration" => "posting_in_client_arbitration",
        "delivering" => "posting_on_way_to_city",
        "driver_pickup" => "posting_driver_pick_up",
        "delivered" => "posting_delivered",
        "cancelled" | "cancelled_from_split_pending" => "posting_canceled",
        "not_accepted" => "posting_not_in_sort_center",
        _ => "",
    }
}

fn is_cancelled(status: &str) -> bool {
    matches!(status, "cancelled" | "cancelled_from_split_pending")
}

/// The cancel reasons Ozon offers an FBS posting in this status: none once
/// it is on its way to the buyer, delivered or cancelled.
fn offered_reasons(status: &str) -> &'static [i64] {
    match status {
        "awaiting_registration"
        | "acceptance_in_progress"
        | "awaiting_approve"
        | "awaiting_packaging"
        | "awaiting_deliver" => &[352, 400, 402],
        "arbitration" | "client_arbitration" => &[352, 400, 401, 402],
        _ => &[],
    }
}

/// Titles of the reason ids (the spec's `relatedPostingCancelReasons`).
fn reason_title(id: i64) -> &'static str {
    match id {
        352 => "Товар закончился на складе продавца",
        400 => "Остался только бракованный товар",
        401 => "Продавец отклонил арбитраж",
        402 => "Другое (вина продавца)",
        _ => "",
    }
}

fn item_error(code: &str, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

async fn handle(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // All the work is synchronous, under the lock, outside the future.
    respond(&shared, &method, uri.path(), &headers, &body)
}

fn respond(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let now = Instant::now();
    let mut guard = lock(shared);
    let st = &mut *guard;
    if *method != Method::POST {
        st.violation(path, format!("{method}: every method is POST"));
        return error(405, 12, "Method Not Allowed");
    }
    let authorised = match (
        header_text(headers, "client-id"),
        header_text(headers, "api-key"),
    ) {
        (Some(client), Some(key)) if client == CLIENT_ID && key == API_KEY => None,
        (None, _) | (_, None) => Some(401),
        _ => Some(403),
    };
    if let Some(status) = authorised {
        st.violation(path, "missing or wrong Client-Id / Api-Key");
        return error(status, 16, AUTH_MESSAGE);
    }
    *st.calls.entry(path.to_owned()).or_default() += 1;
    if let Some(response) = st.scripted(path, now) {
        return response;
    }

    prune(&mut st.global, now, Duration::from_secs(1));
    let in_window = st.global.len();
    let limit = st.limits.global_per_sec;
    if in_window >= limit as usize {
        let why = format!("call {} within 1 s, over {limit}/s", in_window + 1);
        st.violation(path, why);
        return error(429, 8, RATE_MESSAGE);
    }
    st.global.push_back(now);

    if GONE.contains(&path) {
        st.violation(path, "the v3 posting lists are switched off: use v4");
        return error(404, 5, "method is not allowed");
    }
    if !ROUTES.contains(&path) {
        st.violation(path, "no such Seller API method in the fake");
        return error(404, 5, "Not Found");
    }
    let json_body = header_text(headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"));
    if !json_body {
        let why = "body not sent as application/json";
        return st.bad(path, "Content-Type must be application/json", why);
    }
    let b = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(b)) => b,
        _ => {
            let why = "the body is not a JSON object (send {} when empty)";
            return st.bad(path, "invalid request payload", why);
        }
    };
    match path {
        STOCKS => st.stocks(&b, now),
        PRICES => st.prices(&b, now),
        IMPORT => st.import(&b),
        IMPORT_INFO => st.import_info(&b),
        INFO_LIST => st.info_list(&b),
        LIST => st.list_postings(LIST, &b),
        UNFULFILLED => st.list_postings(UNFULFILLED, &b),
        GET => st.posting_get(&b),
        SHIP => st.ship(&b),
        CANCEL_REASON => st.cancel_reasons(&b),
        CANCEL => st.cancel(&b),
        _ => {
            let warehouses: Vec<Value> = st
                .warehouses
                .iter()
                .map(|(id, name)| json!({ "warehouse_id": id, "name": name, "status": "created" }))
                .collect();
            ok(json!({ "warehouses": warehouses, "cursor": "", "has_next": false }))
        }
    }
}

impl St {
    fn violation(&mut self, path: &str, what: impl Into<String>) {
        let what = what.into();
        self.violations.push(format!("{path}: {what}"));
    }

    /// Answers 400 (code 3) with `answer`, recording `why` as a violation:
    /// a request bazaar should never send.
    fn bad(&mut self, path: &str, answer: &str, why: impl Into<String>) -> Response {
        self.violation(path, why);
        error(400, 3, answer)
    }

    fn scripted(&mut self, path: &str, now: Instant) -> Option<Response> {
        let since = self
            .circle_answered
            .get(path)
            .map(|&at| now.duration_since(at));
        if let Some(since) = since.filter(|&s| s < CIRCLE_BACKOFF - JITTER_GRACE) {
            let ms = since.as_millis();
            let why = format!("called {ms} ms after \"Circle is open\": hammering an open circle");
            self.violation(path, why);
        }
        if let Some(n) = self.circle.get_mut(path).filter(|n| **n > 0) {
            *n -= 1;
            self.circle_answered.insert(path.to_owned(), now);
            return Some(error(500, 13, "Circle is open"));
        }
        if let Some((n, status, retry_after)) = self.failures.get_mut(path).filter(|f| f.0 > 0) {
            *n -= 1;
            return Some(scripted_error(*status, *retry_after));
        }
        None
    }

    /// The card an item names: `offer_id` wins over `product_id`.
    fn resolve(&self, offer_id: Option<&str>, product_id: Option<i64>) -> Option<Product> {
        let found = match offer_id {
            Some(offer) => self.products.get(offer),
            None => self
                .products
                .values()
                .find(|p| Some(p.product_id) == product_id),
        };
        found.cloned()
    }

    fn stocks(&mut self, b: &Map<String, Value>, now: Instant) -> Response {
        let items = b
            .get("stocks")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if items.is_empty() || items.len() > MAX_STOCK_ITEMS {
            let why = format!("{} stock items in one call (1..=100)", items.len());
            return self.bad(STOCKS, "stocks: 1 to 100 items", why);
        }
        if let Some(item) = items.iter().find(|it| int(it.get("stock")).is_none()) {
            return self.bad(
                STOCKS,
                "stocks: invalid stock",
                format!("no integer stock: {item}"),
            );
        }
        prune(&mut self.stock_calls, now, STOCK_CALL_WINDOW);
        let (calls, limit) = (self.stock_calls.len(), self.limits.stock_calls_per_min);
        if calls >= limit as usize {
            self.violation(
                STOCKS,
                format!("call {} within 60 s, over {limit}/min", calls + 1),
            );
            return error(429, 8, RATE_MESSAGE);
        }
        self.stock_calls.push_back(now);
        let result: Vec<Value> = items
            .iter()
            .map(|item| self.stock_item(item, now))
            .collect();
        ok(json!({ "result": result }))
    }

    fn stock_item(&mut self, item: &Value, now: Instant) -> Value {
        let offer_sent = item
            .get("offer_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let id_sent = int(item.get("product_id")).filter(|&id| id != 0);
        let warehouse_id = int(item.get("warehouse_id")).unwrap_or(0);
        let stock = int(item.get("stock")).unwrap_or(0);
        let answer = |product_id: i64, offer_id: &str, errors: Vec<Value>| {
            let updated = errors.is_empty();
            json!({ "warehouse_id": warehouse_id, "product_id": product_id, "offer_id": offer_id,
                    "updated": updated, "errors": errors })
        };
        let Some(p) = self.resolve(offer_sent, id_sent) else {
            let (code, message) = match offer_sent {
                Some(_) => ("offer_id_not_found", "Offer not found"),
                None => ("NOT_FOUND_ERROR", "Product not found"),
            };
            let errors = vec![item_error(code, message)];
            return answer(id_sent.unwrap_or(0), offer_sent.unwrap_or(""), errors);
        };
        if let Some(id) = id_sent.filter(|&id| id != p.product_id) {
            let why = format!(
                "product_id {id} sent with {}, which is {}",
                p.offer_id, p.product_id
            );
            self.violation(STOCKS, why);
        }
        let key = (p.offer_id.clone(), warehouse_id);
        let interval = self.limits.stock_pair_interval;
        let since = self
            .pair_accepted
            .get(&key)
            .map(|&at| now.duration_since(at));
        let refusal = if p.state != "price_sent" {
            Some(("product_is_not_created", "Product is not created yet"))
        } else if !self.warehouses.contains_key(&warehouse_id) {
            Some(("WAREHOUSE_NOT_FOUND", "Warehouse not found"))
        } else if stock >= MAX_STOCK {
            Some(("STOCK_TOO_BIG", "Stock is too big"))
        } else if stock < 0 {
            self.violation(STOCKS, format!("negative stock {stock} for {}", p.offer_id));
            Some(("STOCK_IS_NEGATIVE", "Stock must not be negative"))
        } else if let Some(since) = since.filter(|&s| s < interval - grace(interval)) {
            let ms = since.as_millis();
            let why = format!("{} in {warehouse_id} again after {ms} ms", p.offer_id);
            self.violation(
                STOCKS,
                format!("{why} (one stock per pair per {interval:?})"),
            );
            Some(("TOO_MANY_REQUESTS", "Stock is updated too frequently"))
        } else {
            None
        };
        if let Some((code, message)) = refusal {
            return answer(p.product_id, &p.offer_id, vec![item_error(code, message)]);
        }
        self.pair_accepted.insert(key.clone(), now);
        self.stocks.insert(key, stock);
        let (offer_id, product_id) = (p.offer_id.clone(), p.product_id);
        self.stock_updates.push(StockUpdate {
            offer_id,
            product_id,
            warehouse_id,
            stock,
            at: now,
        });
        answer(p.product_id, &p.offer_id, Vec::new())
    }

    fn prices(&mut self, b: &Map<String, Value>, now: Instant) -> Response {
        let items = b
            .get("prices")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if items.is_empty() || items.len() > MAX_PRICE_ITEMS {
            let why = format!("{} price items in one call (1..=1000)", items.len());
            return self.bad(PRICES, "prices: 1 to 1000 items", why);
        }
        for item in items {
            for field in ["price", "old_price", "min_price"] {
                let valid = match item.get(field).filter(|v| !v.is_null()) {
                    None => field != "price",
                    Some(v) => v.as_str().is_some_and(is_decimal),
                };
                if !valid {
                    let why = format!("{field} of {item}: money goes as a decimal string");
                    return self.bad(PRICES, &format!("{field}: invalid value"), why);
                }
            }
        }
        let result: Vec<Value> = items
            .iter()
            .map(|item| self.price_item(item, now))
            .collect();
        ok(json!({ "result": result }))
    }

    fn price_item(&mut self, item: &Value, now: Instant) -> Value {
        let offer_sent = item
            .get("offer_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let id_sent = int(item.get("product_id")).filter(|&id| id != 0);
        let answer = |product_id: i64, offer_id: &str, errors: Vec<Value>| {
            let updated = errors.is_empty();
            json!({ "product_id": product_id, "offer_id": offer_id, "updated": updated,
                    "errors": errors })
        };
        let Some(p) = self.resolve(offer_sent, id_sent) else {
            let errors = vec![item_error("offer_id_not_found", "Offer not found")];
            return answer(id_sent.unwrap_or(0), offer_sent.unwrap_or(""), errors);
        };
        let limit = self.limits.price_changes_per_hour as usize;
        let changes = self.price_changes.entry(p.offer_id.clone()).or_default();
        prune(changes, now, PRICE_WINDOW);
        if changes.len() >= limit {
            let why = format!(
                "price of {} changed more than {limit} times in an hour",
                p.offer_id
            );
            self.violation(PRICES, why);
            return answer(
                p.product_id,
                &p.offer_id,
                vec![item_error(PRICE_LIMIT, PRICE_LIMIT)],
            );
        }
        changes.push_back(now);
        let field = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
        let price = field("price").unwrap_or_default();
        if let Some(product) = self.products.get_mut(&p.offer_id) {
            product.price = Some(price.clone());
        }
        self.price_updates.push(PriceUpdate {
            offer_id: p.offer_id.clone(),
            price,
            old_price: field("old_price"),
            currency_code: field("currency_code"),
            at: now,
        });
        answer(p.product_id, &p.offer_id, Vec::new())
    }

    fn import(&mut self, b: &Map<String, Value>) -> Response {
        let items = b
            .get("items")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if items.is_empty() || items.len() > MAX_IMPORT_ITEMS {
            let why = format!("{} import items in one call (1..=100)", items.len());
            return self.bad(IMPORT, "items: 1 to 100 items", why);
        }
        let mut task_items = Vec::new();
        for item in items {
            let field = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or("").trim();
            let (offer_id, name) = (field("offer_id").to_owned(), field("name").to_owned());
            let mut errors = Vec::new();
            if offer_id.is_empty() {
                errors.push(import_error("offer_id", "required_attribute_missed"));
            }
            if name.is_empty() {
                errors.push(import_error("name", "required_attribute_missed"));
            }
            match item.get("price").filter(|v| !v.is_null()) {
                None => errors.push(import_error("price", "required_attribute_missed")),
                Some(v) if v.as_str().is_some_and(is_decimal) => {}
                Some(v) => {
                    let why = format!("price {v} of {offer_id:?}: money goes as a decimal string");
                    self.violation(IMPORT, why);
                    errors.push(import_error("price", "invalid_price"));
                }
            }
            if !errors.is_empty() {
                task_items.push(TaskItem {
                    offer_id,
                    product_id: 0,
                    errors,
                });
                continue;
            }
            let price = Some(field("price").to_owned());
            let product_id = match self.products.get_mut(&offer_id) {
                Some(p) => {
                    p.name = name;
                    p.price = price;
                    p.product_id
                }
                None => {
                    // Fresh ids, above any a test gave its cards.
                    let top = |f: fn(&Product) -> i64| self.products.values().map(f).max();
                    let product_id = top(|p| p.product_id).unwrap_or(0).max(900_000_000) + 1;
                    let sku = top(|p| p.sku).unwrap_or(0).max(1_900_000_000) + 1;
                    let (offer, state) = (offer_id.clone(), "pending".to_owned());
                    let product = Product {
                        offer_id: offer,
                        product_id,
                        sku,
                        state,
                        name,
                        price,
                    };
                    self.products.insert(offer_id.clone(), product);
                    product_id
                }
            };
            task_items.push(TaskItem {
                offer_id,
                product_id,
                errors,
            });
        }
        self.last_task_id += 1;
        let task_id = self.last_task_id;
        self.tasks.insert(
            task_id,
            Task {
                items: task_items,
                polls: 0,
            },
        );
        ok(json!({ "result": { "task_id": task_id } }))
    }

    fn import_info(&mut self, b: &Map<String, Value>) -> Response {
        let task_id = int(b.get("task_id")).unwrap_or(0);
        let Some(task) = self.tasks.get_mut(&task_id) else {
            self.violation(
                IMPORT_INFO,
                format!("task {task_id} was never returned by an import"),
            );
            return error(404, 5, "task not found");
        };
        task.polls += 1;
        let first = task.polls == 1;
        let (mut items, mut imported) = (Vec::new(), Vec::new());
        for it in &task.items {
            let (status, product_id, errors) = match (first, it.errors.is_empty()) {
                (true, _) => ("pending", 0, Vec::new()),
                (false, true) => ("imported", it.product_id, Vec::new()),
                (false, false) => ("failed", 0, it.errors.clone()),
            };
            if status == "imported" {
                imported.push(it.offer_id.clone());
            }
            items.push(json!({ "offer_id": it.offer_id, "product_id": product_id,
                               "status": status, "errors": errors }));
        }
        // Created and priced: from now on stock may be set.
        for offer in imported {
            if let Some(p) = self.products.get_mut(&offer) {
                p.state = "price_sent".into();
            }
        }
        let total = items.len();
        ok(json!({ "result": { "items": items, "total": total } }))
    }

    fn info_list(&mut self, b: &Map<String, Value>) -> Response {
        let kinds: Vec<(&str, &Vec<Value>)> = ["offer_id", "product_id", "sku"]
            .into_iter()
            .filter_map(|k| Some((k, b.get(k)?.as_array().filter(|a| !a.is_empty())?)))
            .collect();
        let &[(kind, ids)] = kinds.as_slice() else {
            let why = format!(
                "{} kinds of id (exactly one of offer_id, product_id, sku)",
                kinds.len()
            );
            return self.bad(INFO_LIST, "exactly one of offer_id, product_id, sku", why);
        };
        if ids.len() > MAX_INFO_IDS {
            let why = format!("{} ids in one call (at most 1000)", ids.len());
            return self.bad(INFO_LIST, "too many ids", why);
        }
        let matches = |p: &Product, id: &Value| match kind {
            "offer_id" => id.as_str() == Some(p.offer_id.as_str()),
            "product_id" => int(Some(id)) == Some(p.product_id),
            _ => int(Some(id)) == Some(p.sku),
        };
        let items: Vec<Value> = ids
            .iter()
            .filter_map(|id| self.products.values().find(|p| matches(p, id)))
            .map(|p| {
                json!({ "id": p.product_id, "offer_id": p.offer_id, "sku": p.sku, "name": p.name,
                        "price": p.price.clone().unwrap_or_default(), "currency_code": "RUB",
                        "statuses": { "status": p.state } })
            })
            .collect();
        ok(json!({ "items": items }))
    }

    /// `/v4/posting/fbs/list` and `/v4/posting/fbs/unfulfilled/list`.
    fn list_postings(&mut self, path: &str, b: &Map<String, Value>) -> Response {
        let unfulfilled = path == UNFULFILLED;
        let no_filter = Map::new();
        let f = b
            .get("filter")
            .and_then(Value::as_object)
            .unwrap_or(&no_filter);
        let Some(limit) = int(b.get("limit")).filter(|l| (1..=100).contains(l)) else {
            let why = format!("limit {:?} (1..=100)", b.get("limit"));
            return self.bad(path, "limit: must be between 1 and 100", why);
        };
        let period = if unfulfilled {
            let cutoff = window(f, "cutoff_from", "cutoff_to");
            let delivering = window(f, "delivering_date_from", "delivering_date_to");
            match (cutoff, delivering) {
                (Ok(Some(w)), Ok(None)) => Ok(Some(w)),
                // The fake has no delivering dates: such a window finds nothing.
                (Ok(None), Ok(Some(_))) => Ok(None),
                (Ok(Some(_)), Ok(Some(_))) => {
                    Err("both a cutoff and a delivering_date window".into())
                }
                (Ok(None), Ok(None)) => Err("neither a cutoff nor a delivering_date window".into()),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        } else {
            window(f, "since", "to").and_then(|w| w.map(Some).ok_or_else(|| "no since/to".into()))
        };
        let period = match period {
            Ok(period) => period,
            Err(why) => return self.bad(path, "invalid filter period", why),
        };
        let changed = f.get("last_changed_status_date");
        let bound = |key: &str| time(changed.and_then(|c| c.get(key)));
        let (Ok(changed_from), Ok(changed_to)) = (bound("from"), bound("to")) else {
            let why = "last_changed_status_date.from/to are not RFC 3339 times";
            return self.bad(path, "invalid last_changed_status_date", why);
        };
        let statuses = strings(f, "statuses");
        let warehouses = strings(f, "warehouse_ids");
        let orders = strings(f, "order_numbers");
        if orders.len() > MAX_ORDER_NUMBERS {
            let why = format!("{} order_numbers (at most 100)", orders.len());
            return self.bad(path, "too many order_numbers", why);
        }
        let descending = b
            .get("sort_dir")
            .and_then(Value::as_str)
            .is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        let cursor = b
            .get("cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        let offset = match cursor.map(|c| self.cursors.get(c).cloned()) {
            None => 0,
            Some(Some((issued_for, offset))) if issued_for == path => offset,
            Some(_) => {
                let why = format!("cursor {cursor:?} was not issued by {path}");
                return self.bad(path, "cursor: invalid value", why);
            }
        };
        let mut found: Vec<&Posting> = self
            .postings
            .iter()
            .filter(|p| {
                let at = if unfulfilled {
                    p.shipment_date
                } else {
                    p.in_process_at
                };
                period.is_some_and(|(from, to)| from <= at && at <= to)
                    && (!unfulfilled || OPEN.contains(&p.status.as_str()))
                    && (statuses.is_empty() || statuses.contains(&p.status))
                    && (warehouses.is_empty() || warehouses.contains(&p.warehouse_id.to_string()))
                    && (orders.is_empty() || orders.contains(&p.order_number))
                    && changed_from.is_none_or(|from| from <= p.last_changed)
                    && changed_to.is_none_or(|to| p.last_changed <= to)
            })
            .collect();
        found.sort_by(|a, z| {
            (a.in_process_at.cmp(&z.in_process_at))
                .then_with(|| a.posting_number.cmp(&z.posting_number))
        });
        if descending {
            found.reverse();
        }
        let total = found.len();
        let page: Vec<Value> = found
            .iter()
            .skip(offset)
            .take(limit as usize)
            .map(|p| posting_json(p, &self.warehouses))
            .collect();
        let has_next = offset + page.len() < total;
        let cursor = if has_next {
            self.issue_cursor(path, offset + page.len())
        } else {
            String::new()
        };
        let mut answer = json!({ "postings": page, "cursor": cursor, "has_next": has_next });
        if unfulfilled {
            answer["count"] = json!(total);
        }
        ok(answer)
    }

    fn issue_cursor(&mut self, path: &str, offset: usize) -> String {
        self.last_cursor += 1;
        // Opaque on purpose: a client must send back what it was given.
        let token = format!(
            "{:016x}",
            self.last_cursor.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        );
        self.cursors
            .insert(token.clone(), (path.to_owned(), offset));
        token
    }

    fn posting_get(&mut self, b: &Map<String, Value>) -> Response {
        let number = text(b, "posting_number").unwrap_or("");
        match self.postings.iter().find(|p| p.posting_number == number) {
            Some(p) => ok(json!({ "result": posting_json(p, &self.warehouses) })),
            None => error(404, 5, "POSTING_NOT_FOUND"),
        }
    }

    fn ship(&mut self, b: &Map<String, Value>) -> Response {
        let number = text(b, "posting_number").unwrap_or("").to_owned();
        let Some(sent) = packages(b) else {
            let why =
                format!("ship of {number:?}: packages need products, product_id and quantity");
            return self.bad(SHIP, "invalid packages", why);
        };
        let Some(idx) = self
            .postings
            .iter()
            .position(|p| p.posting_number == number)
        else {
            self.violation(SHIP, format!("ship of unknown posting {number:?}"));
            return error(404, 5, "POSTING_NOT_FOUND");
        };
        self.postings[idx].ship_calls += 1;
        let status = self.postings[idx].status.clone();
        let refusal = match status.as_str() {
            "awaiting_packaging" => None,
            s if is_cancelled(s) => Some(("POSTING_ALREADY_CANCELLED", true)),
            // A retry whose first answer was lost lands here: not a violation.
            s if SHIPPED.contains(&s) => Some(("POSTING_ALREADY_SHIPPED", false)),
            _ => Some(("HAS_INCORRECT_STATUS", true)),
        };
        if let Some((answer, violation)) = refusal {
            if violation {
                self.violation(SHIP, format!("ship of {number}, which is {status}"));
            }
            return error(400, 3, answer);
        }
        let mut wanted: BTreeMap<i64, i64> = BTreeMap::new();
        for line in &self.postings[idx].products {
            *wanted.entry(line.sku).or_default() += i64::from(line.quantity);
        }
        let mut got: BTreeMap<i64, i64> = BTreeMap::new();
        for &(id, quantity) in sent.iter().flatten() {
            *got.entry(id).or_default() += quantity;
        }
        // The documented trap: packages take the SKU, not the catalog product_id.
        if let Some(&id) = got.keys().find(|&&id| !wanted.contains_key(&id)) {
            let hint = match self.products.values().find(|p| p.product_id == id) {
                Some(p) => format!(
                    ", but {}'s catalog product_id (its SKU is {})",
                    p.offer_id, p.sku
                ),
                None => String::new(),
            };
            let why = format!("ship of {number}: {id} is not a SKU of the posting{hint}");
            return self.bad(SHIP, "HAS_INCORRECT_PRODUCT_QUANTITY", why);
        }
        if got != wanted || sent.iter().flatten().any(|&(_, q)| q <= 0) {
            let why =
                format!("ship of {number}: quantities per SKU {got:?}, posting has {wanted:?}");
            return self.bad(SHIP, "HAS_INCORRECT_PRODUCT_QUANTITY", why);
        }
        let p = &mut self.postings[idx];
        if p.ship_fails_once {
            p.ship_fails_once = false;
            p.substatus = "ship_failed".into();
        } else {
            p.status = "awaiting_deliver".into();
            p.substatus = substatus_for("awaiting_deliver").into();
            p.last_changed = now_utc();
            let packages = sent.into_iter().map(|lines| {
                lines
                    .into_iter()
                    .map(|(sku, q)| (sku, q as i32))
                    .collect::<Vec<_>>()
            });
            p.shipped_packages = packages.collect();
        }
        ok(json!({ "result": [number], "additional_data": [] }))
    }

    fn cancel_reasons(&mut self, b: &Map<String, Value>) -> Response {
        let numbers = b.get("related_posting_numbers").and_then(Value::as_array);
        let numbers: Vec<&str> =
            numbers.map_or(Vec::new(), |a| a.iter().filter_map(Value::as_str).collect());
        if numbers.is_empty() {
            return self.bad(
                CANCEL_REASON,
                "related_posting_numbers: required",
                "no postings",
            );
        }
        let mut result = Vec::new();
        for number in numbers {
            let posting = self
                .postings
                .iter_mut()
                .find(|p| p.posting_number == number);
            let offered = posting.map_or(&[][..], |p| {
                p.reasons_asked = true;
                offered_reasons(&p.status)
            });
            let reasons: Vec<Value> = offered
                .iter()
                .map(|&id| json!({ "id": id, "title": reason_title(id), "type_id": "seller" }))
                .collect();
            result.push(json!({ "posting_number": number, "reasons": reasons }));
        }
        ok(json!({ "result": result }))
    }

    fn cancel(&mut self, b: &Map<String, Value>) -> Response {
        let number = text(b, "posting_number").unwrap_or("").to_owned();
        let reason = int(b.get("cancel_reason_id")).unwrap_or(0);
        let message = b
            .get("cancel_reason_message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let Some(idx) = self
            .postings
            .iter()
            .position(|p| p.posting_number == number)
        else {
            self.violation(CANCEL, format!("cancel of unknown posting {number:?}"));
            return error(404, 5, "POSTING_NOT_FOUND");
        };
        let (status, asked) = (
            self.postings[idx].status.clone(),
            self.postings[idx].reasons_asked,
        );
        let offered = offered_reasons(&status);
        if is_cancelled(&status) {
            let why = format!("cancel of {number}, which is already {status}");
            return self.bad(CANCEL, "POSTING_ALREADY_CANCELLED", why);
        }
        if offered.is_empty() {
            // It may have moved on since bazaar last looked: not a violation.
            return error(400, 3, "HAS_INCORRECT_STATUS");
        }
        if !offered.contains(&reason) {
            let why = format!("cancel of {number} with reason {reason}, not one of {offered:?}");
            return self.bad(CANCEL, "HAS_INCORRECT_CANCEL_REASON", why);
        }
        if reason == 402 && message.as_deref().is_none_or(|m| m.trim().is_empty()) {
            let why = format!("cancel of {number} with reason 402 and no cancel_reason_message");
            return self.bad(CANCEL, "cancel_reason_message is required with 402", why);
        }
        if !asked {
            let why = format!("cancel of {number} without asking for its reasons first");
            self.violation(CANCEL, format!("{why} (/v1/posting/fbs/cancel-reason)"));
        }
        let p = &mut self.postings[idx];
        p.status = "cancelled".into();
        p.substatus = substatus_for("cancelled").into();
        p.cancel_reason_id = Some(reason);
        p.cancel_reason_message = message;
        p.last_changed = now_utc();
        ok(json!({ "result": true }))
    }
}

type Period = Option<(DateTime<Utc>, DateTime<Utc>)>;

/// A `from`/`to` pair of RFC 3339 times at most a year apart (ozon.md: "period
/// ≤ 1 year"); `None` when neither is given.
fn window(f: &Map<String, Value>, from: &str, to: &str) -> Result<Period, String> {
    let year_after = |a: DateTime<Utc>| a.checked_add_months(Months::new(12));
    match (time(f.get(from)), time(f.get(to))) {
        (Ok(None), Ok(None)) => Ok(None),
        (Ok(Some(a)), Ok(Some(z))) if a > z => Err(format!("{from} is after {to}")),
        (Ok(Some(a)), Ok(Some(z))) if year_after(a).is_some_and(|y| z > y) => {
            Err(format!("{from}..{to} spans more than a year"))
        }
        (Ok(Some(a)), Ok(Some(z))) => Ok(Some((a, z))),
        _ => Err(format!("{from} and {to} must both be RFC 3339 times")),
    }
}

/// A filter's array of strings (int64 ids may come as numbers).
fn strings(f: &Map<String, Value>, key: &str) -> Vec<String> {
    let values = f
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    values
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

/// Ship's packages as (product_id, quantity) lines; `None` when malformed.
fn packages(b: &Map<String, Value>) -> Option<Vec<Vec<(i64, i64)>>> {
    let packages = b.get("packages")?.as_array().filter(|a| !a.is_empty())?;
    packages
        .iter()
        .map(|package| {
            let lines = package
                .get("products")?
                .as_array()
                .filter(|a| !a.is_empty())?;
            lines
                .iter()
                .map(|l| Some((int(l.get("product_id"))?, int(l.get("quantity"))?)))
                .collect::<Option<Vec<_>>>()
        })
        .collect()
}

/// A failed item of an import task.
fn import_error(field: &str, code: &str) -> Value {
    let message = format!("{field}: {code}");
    json!({ "code": code, "field": field, "level": "error", "message": message,
            "description": message })
}

/// A posting as the v4 lists and `/v3/posting/fbs/get` show it.
fn posting_json(p: &Posting, warehouses: &BTreeMap<i64, String>) -> Value {
    // Ozon sends an empty cancellation rather than null; a posting a test
    // cancelled was cancelled by the buyer, for which the fake has no id.
    let (id, reason, kind, initiator) = match p.cancel_reason_id {
        Some(id) => (id, reason_title(id), "seller", "Продавец"),
        None if is_cancelled(&p.status) => (0, "Покупатель отменил заказ", "client", "Клиент"),
        None => (0, "", "", ""),
    };
    let cancellation = json!({
        "cancel_reason_id": id,
        "cancel_reason": reason,
        "cancellation_type": kind,
        "cancelled_after_ship": false,
        "affect_cancellation_rating": kind == "seller",
        "cancellation_initiator": initiator,
    });
    let products: Vec<Value> = p
        .products
        .iter()
        .map(|l| {
            json!({
                "sku": l.sku,
                "offer_id": l.offer_id,
                "name": l.name,
                "quantity": l.quantity,
                "price": { "amount": l.price, "currency": "RUB" },
            })
        })
        .collect();
    let warehouse = warehouses.get(&p.warehouse_id).cloned().unwrap_or_default();
    json!({
        "posting_number": p.posting_number,
        "order_id": p.order_id,
        "order_number": p.order_number,
        "status": p.status,
        "substatus": p.substatus,
        "in_process_at": ts(p.in_process_at),
        "shipment_date": ts(p.shipment_date),
        "delivering_date": null,
        "cancellation": cancellation,
        "customer": null,
        "products": products,
        "tracking_number": "",
        "delivery_method": {
            "id": 1,
            "name": "Ozon Логистика",
            "warehouse_id": p.warehouse_id,
            "warehouse": warehouse,
            "tpl_provider_id": 24,
            "tpl_provider": "Ozon Логистика",
        },
        "last_changed_status_date": ts(p.last_changed),
        "is_express": false,
        "parent_posting_number": "",
    })
}

//! A fake WhatsApp Cloud API (Meta Graph API), both directions.
//!
//! As the API bazaar calls, `POST /{Version}/{Phone-Number-ID}/messages`, it
//! enforces what Meta enforces:
//!
//! - `Authorization: Bearer` [`TOKEN`] (else 401, code 190), the path's
//!   version [`VERSION`] and [`PHONE_NUMBER_ID`] (else 400, code 100);
//! - the body against the `Message` schema of Meta's own OpenAPI description
//!   (`shared/specs/whatsapp-business-messaging-v23.0.yaml`, see [`load_spec`]
//!   for the four places it is patched), plus what the schema leaves out:
//!   `messaging_product: "whatsapp"`, `to` a phone number, `type` naming the
//!   one message object present, a non-empty `text.body` of at most 4096
//!   characters, a template's `name` and `language.code`, template text
//!   parameters without newlines, tabs or more than four spaces in a row.
//!   An invalid body is answered 400 (code 100) *and* recorded as a
//!   violation: bazaar must never send one;
//! - templates must be approved ([`FakeWhatsApp::approve_template`]): an
//!   unknown name or language is 404, code 132001, and a violation;
//! - throughput per business number ([`WaLimits::per_second`], Meta's default
//!   80/s: code 130429) and the pair rate per recipient
//!   ([`WaLimits::pair_per_minute`] in a sliding 60 s window: code 131056),
//!   both HTTP 429 and violations, since bazaar throttles itself. Meta's real
//!   pair limit is about one message per 6 s with short bursts allowed; the
//!   fake's window is configurable so tests can make it tight;
//! - the 24-hour customer-service window: a free-form (non-template) message
//!   to someone who has not written in the last 24 h is answered 200, as
//!   Meta does, and then fails asynchronously: a `failed` status webhook
//!   with error 131047. (Meta's behaviour; the fake does not answer it
//!   synchronously.) Templates may be sent any time;
//! - `status: read` bodies (mark as read) for inbound messages it delivered.
//!
//! Accepted messages get the `sent` then `delivered` status webhooks a few
//! milliseconds later, or `failed` (131026 for [`FakeWhatsApp::undeliverable`]
//! numbers, 131047 outside the window).
//!
//! As Meta calling bazaar, it posts signed envelopes (`X-Hub-Signature-256`,
//! HMAC-SHA256 of the raw body with [`APP_SECRET`]) to the target set with
//! [`FakeWhatsApp::set_target`]; [`envelope`], [`sign`], [`inbound_message`]
//! and [`status_value`] are public so tests can forge, replay and reorder.
// The fake's API is wider than what any one test reads.
#![allow(dead_code)]

use std::{
    collections::{BTreeSet, HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard, OnceLock,
    },
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Map, Value};
use sha2::Sha256;

pub const TOKEN: &str = "EAAG-test-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const APP_SECRET: &str = "wa-app-secret-test";
pub const VERIFY_TOKEN: &str = "wa-verify-test";
pub const VERSION: &str = "v23.0";
/// The WhatsApp Business Account id in every webhook's `entry[].id`.
pub const WABA_ID: &str = "102290129340398";
/// The business number in every webhook's `metadata`.
pub const DISPLAY_PHONE_NUMBER: &str = "77000000000";

const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/specs/whatsapp-business-messaging-v23.0.yaml"
);
/// Meta's limit on `text.body`.
const MAX_TEXT_CHARS: usize = 4096;
/// Taken off each rate window: bazaar reserves a slot at one instant and the
/// request arrives a few milliseconds later (or a previous one later still),
/// so a client honouring the limit could otherwise look a hair too fast.
const JITTER_GRACE: Duration = Duration::from_millis(50);
/// The customer-service window opened by a customer's message.
const SERVICE_WINDOW_HOURS: i64 = 24;
/// Before each status webhook of an accepted message: Meta reports
/// statuses after the send's answer, never within it.
const STATUS_DELAY: Duration = Duration::from_millis(20);
const FBTRACE_ID: &str = "Afake";

/// The Cloud API's throughput limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaLimits {
    /// Messages per second per business phone number (Meta's default: 80).
    pub per_second: usize,
    /// Messages to one recipient in a sliding 60 s window. Meta's pair
    /// limit is about one per 6 s with bursts tolerated; 10 a minute is
    /// the same average.
    pub pair_per_minute: usize,
}

impl Default for WaLimits {
    fn default() -> Self {
        Self {
            per_second: 80,
            pair_per_minute: 10,
        }
    }
}

/// A message the fake accepted (answered 200), whatever its later status.
#[derive(Debug, Clone)]
pub struct WaSent {
    /// The `wamid.` id the send was answered with.
    pub id: String,
    /// `to` as sent (a leading `+` kept).
    pub to: String,
    /// The message `type`: `"text"`, `"template"`, ...
    pub kind: String,
    /// `text.body` of a text message.
    pub text: Option<String>,
    /// A template's name and language code.
    pub template: Option<(String, String)>,
    /// A template's body parameters, as text (a currency's or date's
    /// `fallback_value`), in order.
    pub params: Vec<String>,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Log {
    sent: Vec<WaSent>,
    violations: Vec<String>,
    /// Requests refused before their body was read: no or a wrong token, a
    /// wrong path. Not violations: a test may configure bazaar wrongly on
    /// purpose.
    rejected: Vec<String>,
    webhook_failures: Vec<String>,
    /// Approved templates: (name, language code).
    templates: HashSet<(String, String)>,
    /// Accepted sends, for the per-number throughput window.
    throughput: VecDeque<Instant>,
    /// Accepted sends per recipient (wa_id), for the pair window.
    pairs: HashMap<String, VecDeque<Instant>>,
    /// Send requests per recipient (wa_id), whatever their outcome.
    attempts: HashMap<String, usize>,
    fail_remaining: usize,
    fail_code: i64,
    fail_status: u16,
    undeliverable: HashSet<String>,
    /// When each customer (wa_id) last wrote: opens the 24 h window.
    last_inbound: HashMap<String, DateTime<Utc>>,
    /// Ids of the inbound messages delivered to bazaar (mark-as-read targets).
    inbound_ids: HashSet<String>,
    /// Message ids bazaar marked as read.
    read: Vec<String>,
    /// bazaar's `/webhooks/whatsapp` URL.
    target: Option<String>,
}

#[derive(Clone)]
struct Shared {
    limits: WaLimits,
    log: Arc<Mutex<Log>>,
    client: reqwest::Client,
    /// Status webhooks scheduled and not yet posted.
    pending: Arc<AtomicUsize>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }

    /// A body bazaar should never have sent: 400 with Meta's (#100) error,
    /// and a violation.
    fn invalid(&self, details: &str, body: Option<&Value>) -> Response {
        let sent = body.map(Value::to_string).unwrap_or_default();
        self.log()
            .violations
            .push(format!("invalid send ({details}): {sent}"));
        graph_error(
            StatusCode::BAD_REQUEST,
            error_object(100, "(#100) Invalid parameter", details),
        )
    }

    /// Posts `values` (webhook `value` objects) to bazaar one after the
    /// other, each after [`STATUS_DELAY`], from a task of its own.
    fn post_later(&self, values: Vec<Value>) {
        let Some(target) = self.log().target.clone() else {
            return;
        };
        self.pending.fetch_add(1, Ordering::SeqCst);
        let (client, log, pending) = (self.client.clone(), self.log.clone(), self.pending.clone());
        tokio::spawn(async move {
            for value in values {
                tokio::time::sleep(STATUS_DELAY).await;
                let what = value["statuses"][0]["status"]
                    .as_str()
                    .map(|status| format!("{status} for {}", value["statuses"][0]["id"]))
                    .unwrap_or_else(|| value.to_string());
                let failure = match post_signed_to(&client, &target, &envelope(value)).await {
                    Ok(r) if r.status() == 200 => None,
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        Some(format!("status webhook {what}: {status} {text}"))
                    }
                    Err(e) => Some(format!("status webhook {what}: {e}")),
                };
                if let Some(failure) = failure {
                    log.lock().expect("lock").webhook_failures.push(failure);
                }
            }
            pending.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

pub struct FakeWhatsApp {
    pub addr: SocketAddr,
    limits: WaLimits,
    log: Arc<Mutex<Log>>,
    client: reqwest::Client,
    pending: Arc<AtomicUsize>,
}

impl FakeWhatsApp {
    pub async fn start() -> Self {
        Self::start_with(WaLimits::default()).await
    }

    pub async fn start_with(limits: WaLimits) -> Self {
        // Loaded (once per test process) before serving, so that a spec
        // problem fails here rather than as a 500 inside a send.
        spec();
        let log = Arc::new(Mutex::new(Log::default()));
        let pending = Arc::new(AtomicUsize::new(0));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        let app = Router::new()
            .route("/{version}/{phone_number_id}/messages", post(messages))
            .fallback(unsupported)
            .with_state(Shared {
                limits,
                log: log.clone(),
                client: client.clone(),
                pending: pending.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind whatsapp");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            limits,
            log,
            client,
            pending,
        }
    }

    /// The Graph API base URL (bazaar appends `/{version}/{id}/messages`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn limits(&self) -> WaLimits {
        self.limits
    }

    /// bazaar's webhook URL (`http://…/webhooks/whatsapp`), where the fake
    /// posts inbound messages and statuses.
    pub fn set_target(&self, url: String) {
        self.log().target = Some(url);
    }

    /// Makes a template (name, language code) known, as if Meta approved it.
    pub fn approve_template(&self, name: &str, lang: &str) {
        self.log()
            .templates
            .insert((name.to_owned(), lang.to_owned()));
    }

    /// The next `n` valid sends fail with Meta error `code`, answered with
    /// `http_status`; nothing is recorded as sent. Scripted: no violation.
    pub fn fail_next(&self, n: usize, code: i64, http_status: u16) {
        let mut log = self.log();
        log.fail_remaining = n;
        log.fail_code = code;
        log.fail_status = http_status;
    }

    /// Sends to `wa_id` are accepted, then fail asynchronously (131026).
    pub fn undeliverable(&self, wa_id: &str) {
        self.log().undeliverable.insert(number(wa_id).to_owned());
    }

    /// Records that `wa_id` wrote at `at`, opening (or, in the past, not
    /// opening) the 24 h window without delivering anything to bazaar.
    pub fn customer_wrote_at(&self, wa_id: &str, at: DateTime<Utc>) {
        self.log().last_inbound.insert(number(wa_id).to_owned(), at);
    }

    /// Messages accepted, in order.
    pub fn sent(&self) -> Vec<WaSent> {
        self.log().sent.clone()
    }

    /// Send requests for recipient `wa_id` (with or without `+`), whatever
    /// their outcome.
    pub fn attempts(&self, wa_id: &str) -> usize {
        self.log().attempts.get(number(wa_id)).copied().unwrap_or(0)
    }

    /// What bazaar did that Meta would have refused or throttled: invalid
    /// bodies, unknown templates, going over a rate limit. Empty in a
    /// correct run.
    pub fn violations(&self) -> Vec<String> {
        self.log().violations.clone()
    }

    /// Requests refused for a wrong token or path.
    pub fn rejected(&self) -> Vec<String> {
        self.log().rejected.clone()
    }

    /// Status webhooks (the fake's own, and [`Self::send_status`]) that
    /// bazaar did not answer 200.
    pub fn webhook_failures(&self) -> Vec<String> {
        self.log().webhook_failures.clone()
    }

    /// Inbound message ids bazaar marked as read.
    pub fn read_receipts(&self) -> Vec<String> {
        self.log().read.clone()
    }

    /// Waits (up to 10 s) until every scheduled status webhook was posted.
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pending.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Posts `body` to bazaar as Meta does: the serialized JSON, signed.
    /// Inbound messages in it open their senders' 24 h windows (from the
    /// message `timestamp`) and can be marked as read.
    pub async fn post_signed(&self, body: Value) -> reqwest::Response {
        self.note_inbound(&body);
        post_signed_to(&self.client, &self.target(), &body)
            .await
            .expect("POST to bazaar's WhatsApp webhook")
    }

    /// A customer writes `text` now: a text message with a fresh `wamid.`
    /// id, delivered signed to bazaar.
    pub async fn deliver_inbound(&self, from: &str, text: &str) -> reqwest::Response {
        let value = inbound_message(number(from), &new_wamid(), text);
        self.post_signed(envelope(value)).await
    }

    /// Posts a status (`sent`, `delivered`, `read`, `failed`) for a message
    /// bazaar sent; an answer other than 200 is a webhook failure.
    pub async fn send_status(&self, wamid: &str, status: &str) {
        let recipient = self
            .log()
            .sent
            .iter()
            .find(|m| m.id == wamid)
            .map(|m| number(&m.to).to_owned())
            .unwrap_or_else(|| panic!("send_status: no message {wamid} was sent"));
        let response = self
            .post_signed(envelope(status_value(wamid, &recipient, status, None)))
            .await;
        if response.status() != 200 {
            let code = response.status();
            let text = response.text().await.unwrap_or_default();
            self.log()
                .webhook_failures
                .push(format!("status {status} for {wamid}: {code} {text}"));
        }
    }

    /// Meta's verification handshake: `GET <target>?hub.mode=subscribe&…`.
    pub async fn verify_subscription(
        &self,
        verify_token: &str,
        challenge: &str,
    ) -> reqwest::Response {
        let encode = |v: &str| utf8_percent_encode(v, NON_ALPHANUMERIC).to_string();
        let url = format!(
            "{}?hub.mode=subscribe&hub.verify_token={}&hub.challenge={}",
            self.target(),
            encode(verify_token),
            encode(challenge)
        );
        self.client
            .get(url)
            .send()
            .await
            .expect("GET bazaar's WhatsApp webhook")
    }

    fn target(&self) -> String {
        self.log()
            .target
            .clone()
            .expect("set_target before posting webhooks")
    }

    fn note_inbound(&self, body: &Value) {
        let mut log = self.log();
        for entry in body["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for message in change["value"]["messages"].as_array().into_iter().flatten() {
                    let (Some(from), Some(id)) = (message["from"].as_str(), message["id"].as_str())
                    else {
                        continue;
                    };
                    let at = message["timestamp"]
                        .as_str()
                        .and_then(|t| t.parse::<i64>().ok())
                        .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
                        .unwrap_or_else(Utc::now);
                    let last = log
                        .last_inbound
                        .entry(number(from).to_owned())
                        .or_insert(at);
                    if *last < at {
                        *last = at;
                    }
                    log.inbound_ids.insert(id.to_owned());
                }
            }
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }
}

/// The webhook envelope Meta posts around a change `value`; `value` gets
/// `messaging_product` and `metadata` when it has none.
pub fn envelope(value: Value) -> Value {
    let mut value = value;
    if let Some(map) = value.as_object_mut() {
        map.entry("messaging_product")
            .or_insert_with(|| json!("whatsapp"));
        map.entry("metadata").or_insert_with(|| {
            json!({ "display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": PHONE_NUMBER_ID })
        });
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": WABA_ID,
            "changes": [{ "field": "messages", "value": value }],
        }],
    })
}

/// The `X-Hub-Signature-256` header value for `body`:
/// `sha256=<hex HMAC-SHA256(APP_SECRET, body)>`.
pub fn sign(body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A change `value` with one inbound text message from `from` ("Ann").
pub fn inbound_message(from: &str, id: &str, text: &str) -> Value {
    json!({
        "contacts": [{ "profile": { "name": "Ann" }, "wa_id": from }],
        "messages": [{
            "from": from,
            "id": id,
            "timestamp": now_secs(),
            "type": "text",
            "text": { "body": text },
        }],
    })
}

/// A change `value` with one status of message `wamid`; `errors` (an array)
/// goes inside the status, as Meta reports a `failed` one.
pub fn status_value(wamid: &str, recipient: &str, status: &str, errors: Option<Value>) -> Value {
    let mut entry = json!({
        "id": wamid,
        "status": status,
        "timestamp": now_secs(),
        "recipient_id": recipient,
    });
    if let Some(errors) = errors {
        entry["errors"] = errors;
    }
    json!({ "statuses": [entry] })
}

/// Unix seconds as a string, as every webhook timestamp is.
fn now_secs() -> String {
    Utc::now().timestamp().to_string()
}

fn new_wamid() -> String {
    format!("wamid.{}", uuid::Uuid::new_v4().simple())
}

/// A phone number as a wa_id: without the `+`.
fn number(phone: &str) -> &str {
    phone.strip_prefix('+').unwrap_or(phone)
}

/// Digits with the country code (E.164 allows up to 15), `+` optional.
fn is_phone(to: &str) -> bool {
    let digits = number(to);
    (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

async fn post_signed_to(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> reqwest::Result<reqwest::Response> {
    let bytes = serde_json::to_vec(body).expect("serialize webhook");
    client
        .post(url)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(&bytes))
        .header("user-agent", "facebookexternalua")
        .body(bytes)
        .send()
        .await
}

fn graph_error(status: StatusCode, error: Value) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// Meta's error object: build on `code` and `error_data.details`.
fn error_object(code: i64, message: &str, details: &str) -> Value {
    json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": { "messaging_product": "whatsapp", "details": details },
        "fbtrace_id": FBTRACE_ID,
    })
}

/// Meta's title for a code, as in its `message` field.
fn error_title(code: i64) -> String {
    let title = match code {
        1 => "An unknown error occurred",
        2 => "Service temporarily unavailable",
        4 => "Application request limit reached",
        100 => "Invalid parameter",
        190 => "Access token has expired",
        368 => "Temporarily blocked for policies violations",
        130429 => "Rate limit hit",
        131000 => "Something went wrong",
        131005 => "Access denied",
        131008 => "Required parameter is missing",
        131009 => "Parameter value is not valid",
        131026 => "Message undeliverable",
        131047 => "Re-engagement message",
        131048 => "Spam rate limit hit",
        131049 => "This message was not delivered to maintain healthy ecosystem engagement.",
        131056 => "(Business Account, Consumer Account) pair rate limit hit",
        132001 => "Template name does not exist in the translation",
        133010 => "Account not registered",
        _ => "Error",
    };
    format!("(#{code}) {title}")
}

/// The `errors` of a `failed` status.
fn failed_errors(code: i64) -> Value {
    let details = match code {
        131047 => "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
        131026 => "Message Undeliverable.",
        _ => "Message failed to send.",
    };
    let title = error_title(code);
    let title = title.split_once(") ").map_or(title.as_str(), |(_, t)| t);
    json!([{
        "code": code,
        "title": title,
        "message": title,
        "error_data": { "details": details },
    }])
}

/// A `sent`/`delivered` status carries the conversation and pricing, as
/// Meta's do; a parser that cannot skip them fails here.
fn with_conversation(mut value: Value, recipient: &str, category: &str) -> Value {
    let expires = (Utc::now() + chrono::TimeDelta::hours(SERVICE_WINDOW_HOURS))
        .timestamp()
        .to_string();
    if let Some(status) = value["statuses"].get_mut(0) {
        status["conversation"] = json!({
            "id": format!("conversation-{recipient}"),
            "expiration_timestamp": expires,
            "origin": { "type": category },
        });
        status["pricing"] =
            json!({ "billable": true, "pricing_model": "PMP", "category": category });
    }
    value
}

/// Any other path: Graph's answer to an unknown object or edge.
async fn unsupported(State(s): State<Shared>, uri: Uri) -> Response {
    s.log()
        .rejected
        .push(format!("{uri}: not /{VERSION}/{PHONE_NUMBER_ID}/messages"));
    unsupported_request(uri.path())
}

fn unsupported_request(object: &str) -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        json!({
            "message": format!("Unsupported post request. Object with ID '{object}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"),
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
            "fbtrace_id": FBTRACE_ID,
        }),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(TOKEN)
}

/// Drops the instants that left the window.
fn prune(window: &mut VecDeque<Instant>, now: Instant, length: Duration) {
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= length)
    {
        window.pop_front();
    }
}

async fn messages(
    State(s): State<Shared>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers) {
        s.log()
            .rejected
            .push("no Authorization: Bearer with the test token".into());
        return graph_error(
            StatusCode::UNAUTHORIZED,
            json!({
                "message": "Invalid OAuth access token.",
                "type": "OAuthException",
                "code": 190,
                "fbtrace_id": FBTRACE_ID,
            }),
        );
    }
    if version != VERSION || phone_number_id != PHONE_NUMBER_ID {
        s.log().rejected.push(format!(
            "POST /{version}/{phone_number_id}/messages, expected /{VERSION}/{PHONE_NUMBER_ID}/messages"
        ));
        return unsupported_request(&phone_number_id);
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    let body = match serde_json::from_slice::<Value>(&body) {
        Ok(body @ Value::Object(_)) if is_json => body,
        _ => {
            let raw = String::from_utf8_lossy(&body).into_owned();
            return s.invalid(
                "expected a JSON object with Content-Type: application/json",
                Some(&Value::String(raw)),
            );
        }
    };
    // Mark as read (and typing indicator) shares the endpoint.
    if body.get("status").is_some() && body.get("type").is_none() {
        return mark_read(&s, &body);
    }
    if let Some(to) = body.get("to").and_then(Value::as_str) {
        *s.log().attempts.entry(number(to).to_owned()).or_default() += 1;
    }
    let mut problems = schema_errors(&body);
    problems.extend(message_errors(&body));
    if !problems.is_empty() {
        return s.invalid(&problems.join("; "), Some(&body));
    }
    accept(&s, body)
}

/// A valid body: templates, scripted failures and limits decide.
fn accept(s: &Shared, body: Value) -> Response {
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let recipient = number(&to).to_owned();
    let kind = body["type"].as_str().unwrap_or_default().to_owned();
    let template = (kind == "template").then(|| {
        (
            body["template"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            body["template"]["language"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    });
    let mut guard = s.log();
    let log = &mut *guard;
    if let Some((name, lang)) = &template {
        if !log.templates.contains(&(name.clone(), lang.clone())) {
            log.violations.push(format!(
                "template {name:?} in {lang:?} is not approved: {body}"
            ));
            return graph_error(
                StatusCode::NOT_FOUND,
                error_object(
                    132001,
                    &error_title(132001),
                    &format!("template name ({name}) does not exist in {lang}"),
                ),
            );
        }
    }
    if log.fail_remaining > 0 {
        log.fail_remaining -= 1;
        let status = StatusCode::from_u16(log.fail_status).unwrap_or(StatusCode::BAD_REQUEST);
        let code = log.fail_code;
        return graph_error(
            status,
            error_object(code, &error_title(code), "a failure the test scripted"),
        );
    }

    let now = Instant::now();
    prune(
        &mut log.throughput,
        now,
        Duration::from_secs(1) - JITTER_GRACE,
    );
    if log.throughput.len() >= s.limits.per_second {
        log.violations.push(format!(
            "send to {to}: message {} within 1 s, over the throughput of {}/s",
            log.throughput.len() + 1,
            s.limits.per_second
        ));
        return graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            error_object(
                130429,
                &error_title(130429),
                "Cloud API message throughput has been reached.",
            ),
        );
    }
    let pair = log.pairs.entry(recipient.clone()).or_default();
    prune(pair, now, Duration::from_secs(60) - JITTER_GRACE);
    if pair.len() >= s.limits.pair_per_minute {
        log.violations.push(format!(
            "send to {to}: message {} to this recipient within 60 s, over the pair limit of {}",
            pair.len() + 1,
            s.limits.pair_per_minute
        ));
        return graph_error(
            StatusCode::TOO_MANY_REQUESTS,
            error_object(
                131056,
                &error_title(131056),
                "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time.",
            ),
        );
    }
    pair.push_back(now);
    log.throughput.push_back(now);

    let id = new_wamid();
    let in_window = log
        .last_inbound
        .get(&recipient)
        .is_some_and(|at| Utc::now() - *at < chrono::TimeDelta::hours(SERVICE_WINDOW_HOURS));
    let failure = if log.undeliverable.contains(&recipient) {
        Some(131026)
    } else if kind != "template" && !in_window {
        Some(131047)
    } else {
        None
    };
    log.sent.push(WaSent {
        id: id.clone(),
        to: to.clone(),
        kind: kind.clone(),
        text: body["text"]["body"].as_str().map(str::to_owned),
        template,
        params: template_params(&body),
        body: body.clone(),
        at: now,
    });
    drop(guard);

    let statuses = match failure {
        Some(code) => vec![status_value(
            &id,
            &recipient,
            "failed",
            Some(failed_errors(code)),
        )],
        None => {
            let category = if kind == "template" {
                "utility"
            } else {
                "service"
            };
            ["sent", "delivered"]
                .into_iter()
                .map(|status| {
                    with_conversation(
                        status_value(&id, &recipient, status, None),
                        &recipient,
                        category,
                    )
                })
                .collect()
        }
    };
    s.post_later(statuses);
    (
        StatusCode::OK,
        Json(json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": to, "wa_id": recipient }],
            "messages": [{ "id": id, "message_status": "accepted" }],
        })),
    )
        .into_response()
}

/// `{"messaging_product":"whatsapp","status":"read","message_id":…}`, with
/// an optional `typing_indicator: {"type":"text"}`.
fn mark_read(s: &Shared, body: &Value) -> Response {
    let mut problems = Vec::new();
    if body["messaging_product"].as_str() != Some("whatsapp") {
        problems.push("messaging_product must be \"whatsapp\"".to_owned());
    }
    if body["status"].as_str() != Some("read") {
        problems.push(format!("status {} is not \"read\"", body["status"]));
    }
    if let Some(indicator) = body.get("typing_indicator") {
        if indicator != &json!({ "type": "text" }) {
            problems.push(format!(
                "typing_indicator {indicator} is not {{\"type\":\"text\"}}"
            ));
        }
    }
    let message_id = body["message_id"].as_str().unwrap_or_default();
    if !s.log().inbound_ids.contains(message_id) {
        problems.push(format!(
            "message_id {message_id:?} is not an inbound message"
        ));
    }
    if !problems.is_empty() {
        return s.invalid(&problems.join("; "), Some(body));
    }
    s.log().read.push(message_id.to_owned());
    (StatusCode::OK, Json(json!({ "success": true }))).into_response()
}

/// A template's body parameters as text, in order.
fn template_params(body: &Value) -> Vec<String> {
    body["template"]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| {
            c["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })
        .flat_map(|c| c["parameters"].as_array().into_iter().flatten())
        .filter_map(|p| {
            let kind = p["type"].as_str()?;
            let text = match kind {
                "text" => p["text"].as_str(),
                "currency" | "date_time" => p[kind]["fallback_value"].as_str(),
                _ => None,
            };
            text.map(str::to_owned)
        })
        .collect()
}

/// Message objects of a send body; `type` names the one present.
const MESSAGE_OBJECTS: [&str; 11] = [
    "text",
    "audio",
    "document",
    "image",
    "location",
    "video",
    "sticker",
    "reaction",
    "interactive",
    "template",
    "contacts",
];

/// What Meta checks beyond the schema.
fn message_errors(body: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    if body["messaging_product"].as_str() != Some("whatsapp") {
        errors.push("messaging_product must be \"whatsapp\"".to_owned());
    }
    match body["to"].as_str() {
        Some(to) if is_phone(to) => {}
        Some(to) => errors.push(format!(
            "to {to:?} is not a phone number: digits with the country code, an optional leading +"
        )),
        None => errors.push("to is required".to_owned()),
    }
    let kind = body["type"].as_str().unwrap_or_default();
    let present: Vec<&str> = MESSAGE_OBJECTS
        .iter()
        .copied()
        .filter(|object| body.get(*object).is_some())
        .collect();
    if present != [kind] {
        errors.push(format!(
            "type {kind:?} with message objects {present:?}: exactly the object type names must be present"
        ));
    }
    match kind {
        "text" => match body["text"]["body"].as_str() {
            None => errors.push("text.body is required".to_owned()),
            Some(text) if text.trim().is_empty() => errors.push("text.body is empty".to_owned()),
            Some(text) if text.chars().count() > MAX_TEXT_CHARS => errors.push(format!(
                "Param text['body'] must be at most {MAX_TEXT_CHARS} characters long, was {}",
                text.chars().count()
            )),
            Some(_) => {}
        },
        "template" => {
            let template = &body["template"];
            if template["name"].as_str().is_none_or(str::is_empty) {
                errors.push("template.name is required".to_owned());
            }
            if template["language"]["code"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                errors.push("template.language.code is required".to_owned());
            }
            let parameters = template["components"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|c| c["parameters"].as_array().into_iter().flatten());
            for parameter in parameters {
                if parameter["type"].as_str() != Some("text") {
                    continue;
                }
                match parameter["text"].as_str() {
                    None => errors.push(format!("a text parameter without text: {parameter}")),
                    Some(text) if text.trim().is_empty() => {
                        errors.push("a text parameter is empty".to_owned())
                    }
                    // Meta refuses these in template parameters (error data:
                    // "Param text cannot have new-line/tab characters or
                    // more than 4 consecutive spaces").
                    Some(text) if text.contains(['\n', '\t']) || text.contains("     ") => {
                        errors.push(format!(
                            "Param text cannot have new-line/tab characters or more than 4 consecutive spaces: {text:?}"
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        _ => {}
    }
    errors
}

/// The spec's validators: the send body (`Message`, a `oneOf` over the
/// message types) and each type's own schema, which names the offending
/// field where the `oneOf` can only say that no branch matched.
struct Spec {
    message: jsonschema::Validator,
    by_type: HashMap<String, jsonschema::Validator>,
}

fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(load_spec)
}

/// Errors of `body` against the spec, as `<instance path>: <message>`.
fn schema_errors(body: &Value) -> Vec<String> {
    let spec = spec();
    let errors: Vec<String> = spec.message.iter_errors(body).map(describe).collect();
    if errors.is_empty() {
        return errors;
    }
    let detailed: Vec<String> = body["type"]
        .as_str()
        .and_then(|kind| spec.by_type.get(kind))
        .map(|validator| validator.iter_errors(body).map(describe).collect())
        .unwrap_or_default();
    if detailed.is_empty() {
        errors
    } else {
        detailed
    }
}

fn describe(error: jsonschema::ValidationError<'_>) -> String {
    let path = error.instance_path.to_string();
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        path
    };
    format!("{path}: {error}")
}

/// Loads Meta's OpenAPI description and compiles its send-body schemas.
///
/// The schemas go under `components.schemas` of a root that `$ref`s one of
/// them, so the spec's own `#/components/schemas/...` references resolve
/// unchanged (the send-body schemas reference nothing outside `schemas`).
/// OpenAPI 3.0 keywords (`discriminator`, `example`) are unknown to JSON
/// Schema and ignored. Four patches, each because the schema contradicts
/// Meta's own examples in the same file (and Meta's behaviour):
///
/// 1. Every `XMessage` is `allOf: [BaseMessageProperties, {additionalProperties:
///    false, properties: {type, x}}]`. In JSON Schema `additionalProperties`
///    sees only its own object's `properties`, so that branch would refuse
///    `to` and `messaging_product`: no message at all would validate. The
///    closed branch gets its siblings' property names (as `true`), keeping
///    the intent: nothing beyond the base and the type's object.
/// 2. `BaseMessageProperties` requires `recipient_type`; Meta defaults it to
///    `individual` and the spec's "Send Test Message" example omits it.
/// 3. `LanguageObject` requires `policy`; every template example omits it
///    (`deterministic` is the only value and the default).
/// 4. `TemplateComponent.index` is a string matching `^[2-6, 11-14]$` (a
///    character class, not the intended ranges); the examples send `0` and
///    `"0"`. It takes an integer or a string.
fn load_spec() -> Spec {
    let text =
        std::fs::read_to_string(SPEC_PATH).unwrap_or_else(|e| panic!("read {SPEC_PATH}: {e}"));
    let document: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {SPEC_PATH}: {e}"));
    let mut schemas = document["components"]["schemas"]
        .as_object()
        .cloned()
        .expect("components.schemas in the WhatsApp spec");

    let snapshot = schemas.clone();
    for schema in schemas.values_mut() {
        open_closed_all_of(schema, &snapshot);
    }
    drop_required(&mut schemas, "BaseMessageProperties", "recipient_type");
    drop_required(&mut schemas, "LanguageObject", "policy");
    let index = schemas
        .get_mut("TemplateComponent")
        .and_then(|s| s.get_mut("properties"))
        .and_then(|p| p.get_mut("index"))
        .expect("spec changed: TemplateComponent.properties.index is gone, re-check the patch");
    *index = json!({ "type": ["string", "integer"] });

    let types: Vec<(String, String)> = schemas
        .get("Message")
        .and_then(|m| m["discriminator"]["mapping"].as_object())
        .expect("spec changed: Message has no discriminator mapping")
        .iter()
        .filter_map(|(kind, reference)| Some((kind.clone(), reference.as_str()?.to_owned())))
        .collect();
    let components = json!({ "schemas": schemas });
    let compile = |reference: &str| {
        let root = json!({ "$ref": reference, "components": components.clone() });
        jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("compile {reference} of the WhatsApp spec: {e}"))
    };
    Spec {
        message: compile("#/components/schemas/Message"),
        by_type: types
            .iter()
            .map(|(kind, reference)| (kind.clone(), compile(reference)))
            .collect(),
    }
}

/// Patch 1 of [`load_spec`], wherever an `allOf` has a closed branch.
fn open_closed_all_of(value: &mut Value, schemas: &Map<String, Value>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(branches)) = map.get_mut("allOf") {
                let names: Vec<BTreeSet<String>> = branches
                    .iter()
                    .map(|branch| property_names(branch, schemas, 0))
                    .collect();
                for (i, branch) in branches.iter_mut().enumerate() {
                    if branch.get("additionalProperties") != Some(&Value::Bool(false)) {
                        continue;
                    }
                    let Some(branch) = branch.as_object_mut() else {
                        continue;
                    };
                    let properties = branch
                        .entry("properties")
                        .or_insert_with(|| Value::Object(Map::new()));
                    let Some(properties) = properties.as_object_mut() else {
                        continue;
                    };
                    for (j, sibling) in names.iter().enumerate() {
                        if j == i {
                            continue;
                        }
                        for name in sibling {
                            properties.entry(name.clone()).or_insert(Value::Bool(true));
                        }
                    }
                }
            }
            for child in map.values_mut() {
                open_closed_all_of(child, schemas);
            }
        }
        Value::Array(items) => {
            for child in items {
                open_closed_all_of(child, schemas);
            }
        }
        _ => {}
    }
}

/// The property names a schema declares, through `$ref` and `allOf`.
fn property_names(schema: &Value, schemas: &Map<String, Value>, depth: usize) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if depth > 16 {
        return names;
    }
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        if let Some(target) = schemas.get(name) {
            names.extend(property_names(target, schemas, depth + 1));
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        names.extend(properties.keys().cloned());
    }
    for branch in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        names.extend(property_names(branch, schemas, depth + 1));
    }
    names
}

fn drop_required(schemas: &mut Map<String, Value>, schema: &str, property: &str) {
    let required = schemas
        .get_mut(schema)
        .and_then(|s| s.get_mut("required"))
        .and_then(Value::as_array_mut)
        .unwrap_or_else(|| {
            panic!("spec changed: {schema} has no required list, re-check the patch")
        });
    let before = required.len();
    required.retain(|r| r.as_str() != Some(property));
    assert!(
        required.len() < before,
        "spec changed: {schema} no longer requires {property}, re-check the patch"
    );
}

//! A fake Stripe API: `POST /v1/payment_intents` and `POST /v1/refunds`,
//! speaking Stripe's HTTP protocol: the secret key as a bearer token,
//! form-encoded bodies with nested keys kept flat (`metadata[order_number]`),
//! an `Idempotency-Key` on every request (the same key and parameters get the
//! stored answer again, other parameters an `idempotency_error`) and Stripe's
//! `{"error": {...}}` bodies. A client that sends JSON, the wrong key or no
//! idempotency key fails here rather than in production.
//!
//! The test side of webhooks lives here too: event envelopes and objects
//! shaped like Stripe's, and their `Stripe-Signature`.
// Handlers answer early with a whole Response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use hmac::{Hmac, Mac};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use sha2::Sha256;

pub const SECRET_KEY: &str = "sk_test_bazaar";
pub const WEBHOOK_SECRET: &str = "whsec_test_bazaar";

/// The API version events are stamped with.
const API_VERSION: &str = "2024-06-20";
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A PaymentIntent created through the API.
// Tests of other capabilities read the fields this one does not.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    /// Lower-case, as sent ("kzt").
    pub currency: String,
    pub order_number: String,
    pub client_secret: String,
    pub idempotency_key: String,
}

/// A refund created through the API.
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct RefundRecord {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    PaymentIntents,
    Refunds,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::PaymentIntents => "/v1/payment_intents",
            Endpoint::Refunds => "/v1/refunds",
        }
    }
}

/// What an idempotency key was first used for, and the answer it got.
struct Stored {
    endpoint: Endpoint,
    params: BTreeMap<String, String>,
    body: Value,
}

#[derive(Default)]
struct Log {
    intents: Vec<Intent>,
    refunds: Vec<RefundRecord>,
    idempotency: HashMap<String, Stored>,
    refund_calls: usize,
    /// Ids of payment intents cancelled through the API.
    canceled: Vec<String>,
    rejected: usize,
    fail_status: u16,
    fail_remaining: usize,
    issued: u64,
}

impl Log {
    fn next_id(&mut self, prefix: &str) -> String {
        self.issued += 1;
        format!("{prefix}_{}{}", self.issued, token(20))
    }

    fn reject(&mut self, endpoint: Endpoint, why: &str, response: Response) -> Response {
        eprintln!(
            "fake Stripe: {} for POST {}: {why}",
            response.status().as_u16(),
            endpoint.path()
        );
        self.rejected += 1;
        response
    }

    fn create_intent(&mut self, new: NewIntent, idempotency_key: &str) -> Value {
        let id = self.next_id("pi");
        let client_secret = format!("{id}_secret_{}", token(24));
        let intent = Intent {
            id,
            amount: new.amount,
            currency: new.currency,
            order_number: new.order_number,
            client_secret,
            idempotency_key: idempotency_key.to_owned(),
        };
        let mut body = intent_object(&intent, "requires_payment_method");
        body["metadata"] = Value::Object(new.metadata);
        self.intents.push(intent);
        body
    }

    fn create_refund(&mut self, new: NewRefund, idempotency_key: &str) -> Result<Value, Response> {
        let Some(intent) = self
            .intents
            .iter()
            .find(|i| i.id == new.payment_intent)
            .cloned()
        else {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("resource_missing"),
                Some("payment_intent"),
                &format!("No such payment_intent: '{}'", new.payment_intent),
            ));
        };
        let refunded: i64 = self
            .refunds
            .iter()
            .filter(|r| r.payment_intent == intent.id)
            .map(|r| r.amount)
            .sum();
        let unrefunded = intent.amount - refunded;
        if unrefunded <= 0 {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("charge_already_refunded"),
                None,
                &format!("Charge {} has already been refunded.", charge_id(&intent)),
            ));
        }
        let amount = new.amount.unwrap_or(unrefunded);
        if amount > unrefunded {
            return Err(stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("amount_too_large"),
                Some("amount"),
                &format!(
                    "Refund amount ({amount}) is greater than unrefunded amount on charge ({unrefunded})"
                ),
            ));
        }
        let id = self.next_id("re");
        let body = json!({
            "id": id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": null,
            "charge": charge_id(&intent),
            "created": now(),
            "currency": intent.currency,
            "metadata": new.metadata,
            "payment_intent": intent.id,
            "reason": new.reason,
            "receipt_number": null,
            "source_transfer_reversal": null,
            "status": "succeeded",
            "transfer_reversal": null,
        });
        self.refunds.push(RefundRecord {
            id,
            payment_intent: intent.id,
            amount,
            idempotency_key: idempotency_key.to_owned(),
        });
        Ok(body)
    }
}

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Log>>,
}

pub struct FakeStripe {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl FakeStripe {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stripe");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new()
            .route("/v1/payment_intents", post(payment_intents))
            .route("/v1/refunds", post(refunds))
            .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
            .fallback(unrecognized)
            .with_state(Shared { log: log.clone() });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, log }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn payment_intents(&self) -> Vec<Intent> {
        self.log().intents.clone()
    }

    pub fn refunds(&self) -> Vec<RefundRecord> {
        self.log().refunds.clone()
    }

    /// Authorized `POST /v1/refunds` requests, idempotent replays and
    /// programmed failures included.
    pub fn refund_calls(&self) -> usize {
        self.log().refund_calls
    }

    /// Payment intents cancelled through `POST /v1/payment_intents/{id}/cancel`.
    pub fn canceled(&self) -> Vec<String> {
        self.log().canceled.clone()
    }

    /// Requests refused for what a correct client never sends: no or a wrong
    /// bearer key (401), a body that is not form-encoded, no Idempotency-Key,
    /// a missing, invalid or unknown parameter (400). Idempotency conflicts
    /// and unknown payment intents are not counted.
    pub fn rejected(&self) -> usize {
        self.log().rejected
    }

    /// The next `times` well-formed, authorized requests (either endpoint)
    /// answer `status` with an `api_error` body, create nothing and store
    /// nothing under their idempotency key.
    pub fn fail_next(&self, status: u16, times: usize) {
        let mut log = self.log();
        log.fail_status = status;
        log.fail_remaining = times;
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }

    fn take_failure(&self) -> Option<u16> {
        let mut log = self.log();
        if log.fail_remaining == 0 {
            return None;
        }
        log.fail_remaining -= 1;
        Some(log.fail_status)
    }

    /// Checks what every request needs (the secret key, a form body, an
    /// idempotency key) and returns the key and the parsed form.
    async fn receive(
        &self,
        endpoint: Endpoint,
        req: Request,
    ) -> Result<(String, BTreeMap<String, String>), Response> {
        let headers = req.headers();
        if !authorized(headers) {
            let why = "no Authorization: Bearer with the secret key";
            return Err(self.log().reject(endpoint, why, unauthorized()));
        }
        if endpoint == Endpoint::Refunds {
            self.log().refund_calls += 1;
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !content_type.starts_with("application/x-www-form-urlencoded") {
            let why =
                format!("Content-Type {content_type:?} is not application/x-www-form-urlencoded");
            return Err(self.log().reject(endpoint, &why, invalid_request(&why)));
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        if key.is_empty() || key.len() > 255 {
            let why = "this fake requires an Idempotency-Key header of 1 to 255 characters";
            return Err(self.log().reject(endpoint, why, invalid_request(why)));
        }
        let Ok(bytes) = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await else {
            let why = "unreadable or oversized body";
            return Err(self.log().reject(endpoint, why, invalid_request(why)));
        };
        let params = parse_form(&bytes)
            .map_err(|why| self.log().reject(endpoint, &why, invalid_request(&why)))?;
        Ok((key, params))
    }
}

async fn payment_intents(State(s): State<Shared>, req: Request) -> Response {
    match handle(&s, Endpoint::PaymentIntents, req).await {
        Ok(response) | Err(response) => response,
    }
}

async fn refunds(State(s): State<Shared>, req: Request) -> Response {
    match handle(&s, Endpoint::Refunds, req).await {
        Ok(response) | Err(response) => response,
    }
}

/// Whether the request carries `Authorization: Bearer <SECRET_KEY>`.
fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        == Some(SECRET_KEY)
}

fn unauthorized() -> Response {
    stripe_error(
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        None,
        None,
        "Invalid API Key provided",
    )
}

/// `POST /v1/payment_intents/{id}/cancel`: the secret key is required; an
/// unknown intent is `resource_missing`, cancelling twice is Stripe's
/// `payment_intent_unexpected_state`.
async fn cancel_intent(
    State(s): State<Shared>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut log = s.log();
    if !authorized(&headers) {
        log.rejected += 1;
        return unauthorized();
    }
    let Some(intent) = log.intents.iter().find(|i| i.id == id).cloned() else {
        return stripe_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("resource_missing"),
            Some("intent"),
            &format!("No such payment_intent: '{id}'"),
        );
    };
    if log.canceled.contains(&id) {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("payment_intent_unexpected_state"),
            None,
            "This PaymentIntent's status is canceled.",
        );
    }
    log.canceled.push(id);
    (StatusCode::OK, Json(intent_object(&intent, "canceled"))).into_response()
}

async fn unrecognized(method: Method, uri: Uri) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        None,
        None,
        &format!("Unrecognized request URL ({method}: {}).", uri.path()),
    )
}

async fn handle(s: &Shared, endpoint: Endpoint, req: Request) -> Result<Response, Response> {
    let (key, params) = s.receive(endpoint, req).await?;
    if let Some(status) = s.take_failure() {
        return Err(failure(status));
    }
    let mut log = s.log();
    if let Some(stored) = log.idempotency.get(&key) {
        if stored.endpoint != endpoint {
            return Err(idempotency_error(&format!(
                "Keys for idempotent requests can only be used for the same endpoint they were \
                 first used for ('POST {}' vs 'POST {}'). Try using a key other than '{key}' if \
                 you meant to execute a different request.",
                stored.endpoint.path(),
                endpoint.path()
            )));
        }
        if stored.params != params {
            return Err(idempotency_error(&format!(
                "Keys for idempotent requests can only be used with the same parameters they were \
                 first used with. Try using a key other than '{key}' if you meant to execute a \
                 different request."
            )));
        }
        let mut response = Json(stored.body.clone()).into_response();
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let body = match endpoint {
        Endpoint::PaymentIntents => {
            let new = intent_params(&params)
                .map_err(|e| log.reject(endpoint, &e.message, e.response()))?;
            log.create_intent(new, &key)
        }
        Endpoint::Refunds => {
            let new = refund_params(&params)
                .map_err(|e| log.reject(endpoint, &e.message, e.response()))?;
            log.create_refund(new, &key)?
        }
    };
    log.idempotency.insert(
        key,
        Stored {
            endpoint,
            params,
            body: body.clone(),
        },
    );
    Ok(Json(body).into_response())
}

struct NewIntent {
    amount: i64,
    currency: String,
    order_number: String,
    metadata: Map<String, Value>,
}

struct NewRefund {
    payment_intent: String,
    amount: Option<i64>,
    reason: Option<String>,
    metadata: Map<String, Value>,
}

/// A parameter Stripe would refuse, with its error code.
struct Invalid {
    code: &'static str,
    param: String,
    message: String,
}

impl Invalid {
    fn missing(param: &str) -> Self {
        Self {
            code: "parameter_missing",
            param: param.to_owned(),
            message: format!("Missing required param: {param}."),
        }
    }

    fn bad_value(param: &str, message: String) -> Self {
        Self {
            code: "parameter_invalid",
            param: param.to_owned(),
            message,
        }
    }

    fn unknown(param: &str) -> Self {
        Self {
            code: "parameter_unknown",
            param: param.to_owned(),
            message: format!("Received unknown parameter: {param}"),
        }
    }

    fn response(&self) -> Response {
        stripe_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some(self.code),
            Some(&self.param),
            &self.message,
        )
    }
}

fn intent_params(p: &BTreeMap<String, String>) -> Result<NewIntent, Invalid> {
    let metadata = split_metadata(
        p,
        &["amount", "currency", "automatic_payment_methods[enabled]"],
    )?;
    let amount = positive(p, "amount")?.ok_or_else(|| Invalid::missing("amount"))?;
    let currency = required(p, "currency")?;
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(Invalid::bad_value(
            "currency",
            format!("Invalid currency: {currency}. This fake takes three lower-case letters."),
        ));
    }
    let automatic = required(p, "automatic_payment_methods[enabled]")?;
    if automatic != "true" {
        return Err(Invalid::bad_value(
            "automatic_payment_methods[enabled]",
            format!("bazaar must send automatic_payment_methods[enabled]=true, not {automatic:?}"),
        ));
    }
    let order_number = required(p, "metadata[order_number]")?;
    Ok(NewIntent {
        amount,
        currency: currency.to_owned(),
        order_number: order_number.to_owned(),
        metadata,
    })
}

fn refund_params(p: &BTreeMap<String, String>) -> Result<NewRefund, Invalid> {
    let metadata = split_metadata(p, &["payment_intent", "amount", "reason"])?;
    let payment_intent = required(p, "payment_intent")?.to_owned();
    let amount = positive(p, "amount")?;
    let reason = p.get("reason").cloned();
    let unknown_reason = reason
        .as_deref()
        .filter(|r| !matches!(*r, "duplicate" | "fraudulent" | "requested_by_customer"));
    if let Some(other) = unknown_reason {
        return Err(Invalid::bad_value(
            "reason",
            format!("Invalid reason {other:?}: must be one of duplicate, fraudulent, or requested_by_customer"),
        ));
    }
    Ok(NewRefund {
        payment_intent,
        amount,
        reason,
        metadata,
    })
}

/// The `metadata[...]` parameters as an object; any parameter that is
/// neither metadata nor in `known` is refused, as Stripe does.
fn split_metadata(
    p: &BTreeMap<String, String>,
    known: &[&str],
) -> Result<Map<String, Value>, Invalid> {
    let mut metadata = Map::new();
    for (key, value) in p {
        let name = key
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
            .filter(|k| !k.is_empty() && !k.contains(['[', ']']));
        match name {
            Some(name) => {
                metadata.insert(name.to_owned(), Value::String(value.clone()));
            }
            None if known.contains(&key.as_str()) => {}
            None => return Err(Invalid::unknown(key)),
        }
    }
    Ok(metadata)
}

fn required<'a>(p: &'a BTreeMap<String, String>, name: &str) -> Result<&'a str, Invalid> {
    p.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Invalid::missing(name))
}

/// An optional positive integer (digits only, as Stripe's form parser takes).
fn positive(p: &BTreeMap<String, String>, name: &str) -> Result<Option<i64>, Invalid> {
    let Some(value) = p.get(name) else {
        return Ok(None);
    };
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<i64>() {
        Ok(n) if digits && n > 0 => Ok(Some(n)),
        _ => Err(Invalid::bad_value(
            name,
            format!("Invalid positive integer: {value}"),
        )),
    }
}

/// `application/x-www-form-urlencoded`; nested keys stay as they are sent
/// (`metadata[order_number]`), a key given twice is refused.
fn parse_form(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let body = std::str::from_utf8(bytes).map_err(|_| "the body is not UTF-8".to_owned())?;
    let mut params = BTreeMap::new();
    for pair in body.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = form_decode(key)?;
        if params.insert(key.clone(), form_decode(value)?).is_some() {
            return Err(format!("parameter {key} given twice"));
        }
    }
    Ok(params)
}

fn form_decode(s: &str) -> Result<String, String> {
    percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

/// A programmed failure.
fn failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = if status == StatusCode::TOO_MANY_REQUESTS {
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests."
    } else {
        "An unknown error occurred"
    };
    stripe_error(status, "api_error", None, None, message)
}

fn invalid_request(message: &str) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        None,
        message,
    )
}

fn idempotency_error(message: &str) -> Response {
    stripe_error(
        StatusCode::BAD_REQUEST,
        "idempotency_error",
        None,
        None,
        message,
    )
}

/// Stripe's error body: `{"error": {"type", "code"?, "param"?, "message"}}`.
fn stripe_error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

fn charge_id(intent: &Intent) -> String {
    let suffix = intent.id.strip_prefix("pi_").unwrap_or(&intent.id);
    format!("ch_{suffix}")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Random lower-case hex, at most 32 characters.
fn token(len: usize) -> String {
    let mut s = uuid::Uuid::new_v4().simple().to_string();
    s.truncate(len);
    s
}

/// `Stripe-Signature` for `body` sent at `t`, signed with [`WEBHOOK_SECRET`].
pub fn signature_header(body: &str, t: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A Stripe event envelope around `object`, e.g.
/// `event("evt_1", "payment_intent.succeeded", intent_object(&intent, "succeeded"))`.
pub fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": now(),
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": kind,
    })
}

/// The payment intent as Stripe would send it in an event, in `status`
/// ("succeeded", "requires_payment_method" after a failure, "canceled", ...).
/// Tests may edit the returned value (e.g. the amount) to simulate mismatches.
pub fn intent_object(intent: &Intent, status: &str) -> Value {
    let succeeded = status == "succeeded";
    let amount_received = if succeeded { intent.amount } else { 0 };
    let latest_charge = succeeded.then(|| charge_id(intent));
    let canceled_at = (status == "canceled").then(now);
    json!({
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": 0,
        "amount_received": amount_received,
        "automatic_payment_methods": { "enabled": true },
        "canceled_at": canceled_at,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": intent.client_secret,
        "confirmation_method": "automatic",
        "created": now(),
        "currency": intent.currency,
        "customer": null,
        "description": null,
        "last_payment_error": null,
        "latest_charge": latest_charge,
        "livemode": false,
        "metadata": { "order_number": intent.order_number },
        "payment_method": null,
        "payment_method_types": ["card"],
        "status": status,
    })
}

/// The charge of a fully refunded payment intent, as in `charge.refunded`.
/// Its metadata is empty: the order is found through `payment_intent`.
pub fn charge_refunded_object(intent: &Intent) -> Value {
    json!({
        "id": charge_id(intent),
        "object": "charge",
        "amount": intent.amount,
        "amount_captured": intent.amount,
        "amount_refunded": intent.amount,
        "captured": true,
        "created": now(),
        "currency": intent.currency,
        "livemode": false,
        "metadata": {},
        "paid": true,
        "payment_intent": intent.id,
        "refunded": true,
        "status": "succeeded",
    })
}

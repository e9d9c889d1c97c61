//! A fake Telegram Bot API: `POST /bot<token>/<Method>` with a JSON body,
//! answering Telegram's `{"ok": ..}` envelopes with Telegram's exact error
//! descriptions, because teloxide maps those strings (not the status codes)
//! to its `ApiError` variants. It enforces what the real API enforces:
//!
//! - the token in the path (wrong token: 401 `Unauthorized`), method names
//!   matched case-insensitively (teloxide sends `SendMessage`), unknown
//!   methods 404, JSON bodies only (an empty body is taken as no parameters);
//! - `sendMessage`: `chat_id` (an integer, or `@username`), `text` of 1 to
//!   4096 characters once HTML markup is taken out;
//! - Telegram's flood limits (1 message/s per chat, 30/s overall by default,
//!   see [`Limits`]) in a sliding one-second window: a message over a limit
//!   is answered 429 with `retry_after`, as Telegram does, *and* recorded as
//!   a violation, because bazaar is meant to throttle itself and never hit
//!   them (`TestApp`'s end-of-test check fails the test);
//! - `setWebhook` (HTTPS URL, a secret of 1-256 `A-Za-z0-9_-`),
//!   `deleteWebhook`, `getWebhookInfo`, `getMe`;
//! - `getUpdates` long polling: 409 while a webhook is set, 409 (and a
//!   violation) when a second poller asks while one is waiting, `offset`
//!   confirming earlier updates; the wait is capped at 2 s to keep tests fast.
//!
//! Tests script failures (blocked user, chat not found, flood control) and
//! feed updates with [`FakeTelegram::push_update`] and [`text_update`].
// The fake's API is wider than what any one test reads.
#![allow(dead_code)]

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

/// The fake bot's username (`getMe`), for `t.me/<bot>?start=` links.
pub const BOT_USERNAME: &str = "bazaar_test_bot";

const TOKEN: &str = "123456:TEST-token_abc";
/// The bot's own user id, as in `getMe` and the `from` of its messages.
const BOT_ID: i64 = 1;
/// The `date` of every message (Unix seconds); no test reads the clock here.
const DATE: i64 = 1_700_000_000;
/// Telegram's limit on `sendMessage.text`, after entity parsing.
const MAX_TEXT_CHARS: usize = 4096;
/// Telegram holds a long poll up to the `timeout` asked for; the fake caps
/// it so that a test's poller never waits long on an idle queue.
const LONG_POLL_CAP: Duration = Duration::from_secs(2);
/// Taken off each one-second window: bazaar's throttle reserves a slot at
/// one instant and the request reaches this server a few milliseconds later
/// (or earlier than the previous one, which may have been delayed), so a
/// client that honours the limit could otherwise arrive 998 ms after its
/// previous message. Telegram itself tolerates short bursts.
const JITTER_GRACE: Duration = Duration::from_millis(50);

/// Telegram's flood limits: messages per second to one chat, and overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub per_chat_per_sec: usize,
    pub overall_per_sec: usize,
}

/// Telegram's (Bot FAQ) and teloxide's `Throttle` defaults.
impl Default for Limits {
    fn default() -> Self {
        Self {
            per_chat_per_sec: 1,
            overall_per_sec: 30,
        }
    }
}

/// A message the fake accepted.
#[derive(Debug, Clone)]
pub struct SentMessage {
    /// The numeric chat id; 0 for a message to an `@username`.
    pub chat_id: i64,
    /// The chat as sent: the id as text (`"-100777"`) or `"@username"`.
    pub chat: String,
    pub text: String,
    pub parse_mode: Option<String>,
    pub message_id: i64,
    pub at: Instant,
    /// Every parameter of the request (reply_markup, link preview, ...).
    pub body: Value,
}

#[derive(Default)]
struct Log {
    sent: Vec<SentMessage>,
    last_message_id: i64,
    /// sendMessage requests per chat key, whatever their outcome.
    attempts: HashMap<String, usize>,
    /// Authorized calls per lower-case method name.
    calls: HashMap<String, usize>,
    violations: Vec<String>,
    blocked: HashSet<String>,
    not_found: HashSet<String>,
    /// Scripted flood control: the next `throttled` sends get 429.
    throttled: usize,
    throttled_retry_after: u32,
    /// When each accepted message was accepted, per chat key and overall.
    per_chat: HashMap<String, VecDeque<Instant>>,
    overall: VecDeque<Instant>,
    webhook: Option<(String, Option<String>)>,
    /// Updates not yet confirmed by a getUpdates `offset`.
    updates: VecDeque<Value>,
    /// A getUpdates request is waiting.
    polling: bool,
}

#[derive(Clone)]
struct Shared {
    token: String,
    limits: Limits,
    log: Arc<Mutex<Log>>,
    /// Wakes a waiting getUpdates when an update is pushed.
    arrived: Arc<Notify>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }
}

pub struct FakeTelegram {
    pub addr: SocketAddr,
    pub token: String,
    limits: Limits,
    log: Arc<Mutex<Log>>,
    arrived: Arc<Notify>,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        Self::start_with(Limits::default()).await
    }

    pub async fn start_with(limits: Limits) -> Self {
        let token = TOKEN.to_owned();
        let log = Arc::new(Mutex::new(Log::default()));
        let arrived = Arc::new(Notify::new());
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .fallback(not_found)
            .with_state(Shared {
                token: token.clone(),
                limits,
                log: log.clone(),
                arrived: arrived.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind telegram");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            token,
            limits,
            log,
            arrived,
        }
    }

    /// The API base URL (no trailing slash: teloxide appends `/bot<token>/<Method>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Messages accepted, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.log().sent.clone()
    }

    /// What bazaar did that Telegram would have punished: going over a flood
    /// limit, or polling twice at once. Empty in a correct run.
    pub fn violations(&self) -> Vec<String> {
        self.log().violations.clone()
    }

    /// Later sends to `chat_id` get 403 `Forbidden: bot was blocked by the user`.
    pub fn block(&self, chat_id: i64) {
        self.log().blocked.insert(chat_id.to_string());
    }

    /// Later sends to `chat_id` get 400 `Bad Request: chat not found`.
    pub fn chat_not_found(&self, chat_id: i64) {
        self.log().not_found.insert(chat_id.to_string());
    }

    /// The next `n` sendMessage calls (any chat) get Telegram's flood-control
    /// answer, 429 with `parameters.retry_after` = `retry_after_secs`. These
    /// are scripted, not violations.
    pub fn rate_limit_next(&self, n: usize, retry_after_secs: u32) {
        let mut log = self.log();
        log.throttled = n;
        log.throttled_retry_after = retry_after_secs;
    }

    /// sendMessage requests for `chat_id` that reached the fake, whatever
    /// their outcome (accepted, refused, rate limited).
    pub fn attempts(&self, chat_id: i64) -> usize {
        self.log()
            .attempts
            .get(&chat_id.to_string())
            .copied()
            .unwrap_or(0)
    }

    /// Calls of a method with the right token, by lower-case name
    /// (`"sendmessage"`, `"deletewebhook"`), whatever their outcome.
    pub fn calls(&self, method_lowercase: &str) -> usize {
        self.log()
            .calls
            .get(&method_lowercase.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// The webhook set with setWebhook: URL and secret token.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.log().webhook.clone()
    }

    /// Queues an update for getUpdates. The test builds it (see
    /// [`text_update`]); it must carry an integer `update_id`.
    pub fn push_update(&self, update: Value) {
        assert!(
            update["update_id"].is_i64(),
            "an update needs an integer update_id: {update}"
        );
        self.log().updates.push_back(update);
        self.arrived.notify_waiters();
    }

    /// The `update_id`s not yet confirmed by a getUpdates `offset`.
    pub fn unconfirmed(&self) -> Vec<i64> {
        self.log()
            .updates
            .iter()
            .filter_map(|u| u["update_id"].as_i64())
            .collect()
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().expect("lock")
    }
}

/// A private-chat text message from user `chat_id` ("Ann"), as Telegram
/// delivers it; a text starting with `/` carries the `bot_command` entity
/// Telegram adds (its length in UTF-16 units, as Telegram counts).
pub fn text_update(update_id: i64, chat_id: i64, text: &str) -> Value {
    let mut message = json!({
        "message_id": update_id,
        "date": DATE,
        "chat": { "id": chat_id, "type": "private", "first_name": "Ann" },
        "from": { "id": chat_id, "is_bot": false, "first_name": "Ann", "language_code": "en" },
        "text": text,
    });
    if text.starts_with('/') {
        let command = text.split_whitespace().next().unwrap_or(text);
        message["entities"] = json!([{
            "type": "bot_command",
            "offset": 0,
            "length": command.encode_utf16().count(),
        }]);
    }
    json!({ "update_id": update_id, "message": message })
}

fn ok(result: Value) -> Response {
    (
        StatusCode::OK,
        Json(json!({ "ok": true, "result": result })),
    )
        .into_response()
}

/// A success with Telegram's informational description ("Webhook was set").
fn ok_described(result: Value, description: &str) -> Response {
    let body = json!({ "ok": true, "result": result, "description": description });
    (StatusCode::OK, Json(body)).into_response()
}

fn error(code: u16, description: &str) -> Response {
    error_with(code, description, None)
}

fn error_with(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({ "ok": false, "error_code": code, "description": description });
    if let Some(parameters) = parameters {
        body["parameters"] = parameters;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(body)).into_response()
}

fn too_many_requests(retry_after: u32) -> Response {
    error_with(
        429,
        &format!("Too Many Requests: retry after {retry_after}"),
        Some(json!({ "retry_after": retry_after })),
    )
}

/// Paths that are not `/bot<token>/<method>` (a trailing slash in the API
/// URL gives `//bot...`): Telegram answers a bare 404.
async fn not_found() -> Response {
    error(404, "Not Found")
}

async fn handle(
    State(s): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if bot.strip_prefix("bot") != Some(s.token.as_str()) {
        return error(401, "Unauthorized");
    }
    let method = method.to_ascii_lowercase();
    *s.log().calls.entry(method.clone()).or_default() += 1;
    if !matches!(
        method.as_str(),
        "sendmessage" | "setwebhook" | "deletewebhook" | "getwebhookinfo" | "getupdates" | "getme"
    ) {
        return error(404, "Not Found: method not found");
    }
    let params = match parse_params(&headers, &body) {
        Ok(params) => params,
        Err(response) => return response,
    };
    match method.as_str() {
        "sendmessage" => send_message(&s, &params),
        "setwebhook" => set_webhook(&s, &params),
        "deletewebhook" => delete_webhook(&s, &params),
        "getwebhookinfo" => webhook_info(&s),
        "getme" => ok(json!({
            "id": BOT_ID,
            "is_bot": true,
            "first_name": "bazaar",
            "username": BOT_USERNAME,
            "can_join_groups": true,
            "can_read_all_group_messages": false,
            "supports_inline_queries": false,
            // teloxide-core 0.13's `Me` requires this one.
            "has_main_web_app": false,
            "can_connect_to_business": false,
        })),
        _ => get_updates(&s, &params).await,
    }
}

/// The parameters of a JSON or multipart/form-data body (Telegram takes
/// both; teloxide sends `SetWebhook` as multipart whether or not it carries
/// a certificate); an empty body (teloxide's parameterless methods may send
/// none) is no parameters.
// Handlers answer early with a whole Response; boxing it would only add noise.
#[allow(clippy::result_large_err)]
fn parse_params(headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Some(boundary) = content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
        .then(|| content_type.split("boundary=").nth(1))
        .flatten()
    {
        return multipart_params(boundary.trim_matches('"'), body)
            .ok_or_else(|| error(400, "Bad Request: malformed multipart/form-data body"));
    }
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(error(
            400,
            "Bad Request: expected application/json or multipart/form-data",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(params)) => Ok(params),
        Ok(Value::Null) => Ok(Map::new()),
        _ => Err(error(400, "Bad Request: the body is not a JSON object")),
    }
}

/// Text fields of a multipart/form-data body (values that are JSON, like
/// `allowed_updates`, are parsed; others kept as strings).
fn multipart_params(boundary: &str, body: &[u8]) -> Option<Map<String, Value>> {
    let body = std::str::from_utf8(body).ok()?;
    let delimiter = format!("--{boundary}");
    let mut params = Map::new();
    for part in body.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let (head, value) = part.split_once("\r\n\r\n")?;
        let name = head.split("name=\"").nth(1)?.split('"').next()?.to_owned();
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let parsed = match value {
            v if v.starts_with('[') || v.starts_with('{') => {
                serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()))
            }
            v => Value::String(v.to_owned()),
        };
        params.insert(name, parsed);
    }
    Some(params)
}

/// A chat as addressed: `key` is the id as text or `@username`.
struct ChatRef {
    key: String,
    id: i64,
}

#[allow(clippy::result_large_err)]
fn chat_ref(value: Option<&Value>) -> Result<ChatRef, Response> {
    let empty = || error(400, "Bad Request: chat_id is empty");
    let unknown = || error(400, "Bad Request: chat not found");
    match value {
        None | Some(Value::Null) => Err(empty()),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(|id| ChatRef {
                key: id.to_string(),
                id,
            })
            .ok_or_else(unknown),
        Some(Value::String(s)) if s.is_empty() => Err(empty()),
        Some(Value::String(s)) => {
            if let Ok(id) = s.parse::<i64>() {
                Ok(ChatRef {
                    key: id.to_string(),
                    id,
                })
            } else if s.len() > 1 && s.starts_with('@') {
                Ok(ChatRef {
                    key: s.clone(),
                    id: 0,
                })
            } else {
                Err(unknown())
            }
        }
        Some(_) => Err(unknown()),
    }
}

/// The chat object of a sent message, shaped by the kind of chat the id
/// denotes (negative ids are groups, `@name` a channel).
fn chat_json(chat: &ChatRef) -> Value {
    if let Some(name) = chat.key.strip_prefix('@') {
        json!({ "id": -1_001_000_000_001_i64, "type": "channel", "title": name, "username": name })
    } else if chat.id < 0 {
        json!({ "id": chat.id, "type": "group", "title": "bazaar group" })
    } else {
        json!({ "id": chat.id, "type": "private", "first_name": "Customer" })
    }
}

/// The text Telegram measures: with `parse_mode` HTML, tags do not count
/// and an entity (`&lt;`) is one character. Markdown is measured as sent,
/// which is stricter than Telegram by the markup characters.
fn visible_text(text: &str, parse_mode: Option<&str>) -> String {
    if !parse_mode.is_some_and(|m| m.eq_ignore_ascii_case("html")) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '<' {
            if let Some(end) = rest.find('>') {
                rest = &rest[end + 1..];
                continue;
            }
        } else if c == '&' {
            let entity_end = rest.find(';').filter(|&end| {
                end > 1
                    && end <= 10
                    && rest[1..end]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'#')
            });
            if let Some(end) = entity_end {
                out.push('&');
                rest = &rest[end + 1..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
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

fn send_message(s: &Shared, params: &Map<String, Value>) -> Response {
    let chat = match chat_ref(params.get("chat_id")) {
        Ok(chat) => chat,
        Err(response) => return response,
    };
    let mut guard = s.log();
    let log = &mut *guard;
    *log.attempts.entry(chat.key.clone()).or_default() += 1;

    let text = params
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let parse_mode = params
        .get("parse_mode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    // Telegram trims the text: whitespace alone is an empty message.
    let visible = visible_text(text, parse_mode.as_deref());
    if visible.trim().is_empty() {
        return error(400, "Bad Request: message text is empty");
    }
    if visible.chars().count() > MAX_TEXT_CHARS {
        return error(400, "Bad Request: message is too long");
    }
    if log.throttled > 0 {
        log.throttled -= 1;
        return too_many_requests(log.throttled_retry_after);
    }
    if log.blocked.contains(&chat.key) {
        return error(403, "Forbidden: bot was blocked by the user");
    }
    if log.not_found.contains(&chat.key) {
        return error(400, "Bad Request: chat not found");
    }

    let now = Instant::now();
    let window = Duration::from_secs(1) - JITTER_GRACE;
    let in_chat = log.per_chat.entry(chat.key.clone()).or_default();
    prune(in_chat, now, window);
    let chat_count = in_chat.len();
    prune(&mut log.overall, now, window);
    let overall_count = log.overall.len();
    if chat_count >= s.limits.per_chat_per_sec {
        log.violations.push(format!(
            "sendMessage to chat {}: message {} within 1 s, over the per-chat limit of {}/s",
            chat.key,
            chat_count + 1,
            s.limits.per_chat_per_sec
        ));
        return too_many_requests(1);
    }
    if overall_count >= s.limits.overall_per_sec {
        log.violations.push(format!(
            "sendMessage to chat {}: message {} within 1 s overall, over the limit of {}/s",
            chat.key,
            overall_count + 1,
            s.limits.overall_per_sec
        ));
        return too_many_requests(1);
    }
    log.per_chat
        .entry(chat.key.clone())
        .or_default()
        .push_back(now);
    log.overall.push_back(now);

    log.last_message_id += 1;
    let message_id = log.last_message_id;
    log.sent.push(SentMessage {
        chat_id: chat.id,
        chat: chat.key.clone(),
        text: text.to_owned(),
        parse_mode,
        message_id,
        at: now,
        body: Value::Object(params.clone()),
    });
    ok(json!({
        "message_id": message_id,
        "date": DATE,
        "chat": chat_json(&chat),
        "from": { "id": BOT_ID, "is_bot": true, "first_name": "bazaar", "username": BOT_USERNAME },
        "text": text,
    }))
}

fn set_webhook(s: &Shared, params: &Map<String, Value>) -> Response {
    let url = params
        .get("url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // An empty URL removes the webhook, as deleteWebhook does.
    if url.is_empty() {
        return delete_webhook(s, params);
    }
    if !url.starts_with("https://") {
        return error(
            400,
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        );
    }
    let secret = match params.get("secret_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(token))
            if (1..=256).contains(&token.len())
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
        {
            Some(token.clone())
        }
        Some(_) => {
            return error(
                400,
                "Bad Request: secret token contains unallowed characters",
            )
        }
    };
    let mut log = s.log();
    if params.get("drop_pending_updates") == Some(&Value::Bool(true)) {
        log.updates.clear();
    }
    log.webhook = Some((url.to_owned(), secret));
    ok_described(json!(true), "Webhook was set")
}

fn delete_webhook(s: &Shared, params: &Map<String, Value>) -> Response {
    let mut log = s.log();
    if params.get("drop_pending_updates") == Some(&Value::Bool(true)) {
        log.updates.clear();
    }
    let description = if log.webhook.take().is_some() {
        "Webhook was deleted"
    } else {
        "Webhook is already deleted"
    };
    ok_described(json!(true), description)
}

/// teloxide's polling listener asks this first and deletes a webhook it finds.
fn webhook_info(s: &Shared) -> Response {
    let log = s.log();
    let url = log
        .webhook
        .as_ref()
        .map(|(url, _)| url.clone())
        .unwrap_or_default();
    ok(json!({
        "url": url,
        "has_custom_certificate": false,
        "pending_update_count": log.updates.len(),
    }))
}

/// Marks the poll finished however the request ends (answered, or dropped
/// when the client goes away).
struct Polling(Arc<Mutex<Log>>);

impl Drop for Polling {
    fn drop(&mut self) {
        if let Ok(mut log) = self.0.lock() {
            log.polling = false;
        }
    }
}

async fn get_updates(s: &Shared, params: &Map<String, Value>) -> Response {
    let offset = params.get("offset").and_then(Value::as_i64);
    let limit = params
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(100, |l| l.clamp(1, 100)) as usize;
    let timeout = params
        .get("timeout")
        .and_then(Value::as_u64)
        .map_or(Duration::ZERO, Duration::from_secs)
        .min(LONG_POLL_CAP);
    {
        let mut log = s.log();
        if log.webhook.is_some() {
            return error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
            );
        }
        if log.polling {
            log.violations.push(
                "getUpdates while another getUpdates was waiting: two pollers at once".into(),
            );
            return error(
                409,
                "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
            );
        }
        log.polling = true;
        // The offset confirms every earlier update; a negative one keeps only
        // the last |offset| updates.
        match offset {
            Some(offset) if offset < 0 => {
                let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                while log.updates.len() > keep {
                    log.updates.pop_front();
                }
            }
            Some(offset) => log
                .updates
                .retain(|u| u["update_id"].as_i64().is_some_and(|id| id >= offset)),
            None => {}
        }
    }
    let _polling = Polling(s.log.clone());
    let deadline = Instant::now() + timeout;
    loop {
        // Registered before looking at the queue, so that an update pushed
        // in between still wakes this poll.
        let arrived = s.arrived.notified();
        let batch: Vec<Value> = s.log().updates.iter().take(limit).cloned().collect();
        if !batch.is_empty() {
            return ok(Value::Array(batch));
        }
        let now = Instant::now();
        if now >= deadline {
            return ok(json!([]));
        }
        let _ = tokio::time::timeout(deadline - now, arrived).await;
    }
}

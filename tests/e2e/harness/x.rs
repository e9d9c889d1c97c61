//! A fake X API: media upload (v2 and the legacy v1.1 endpoint) and
//! `POST /2/tweets`, answering with X's shapes and problem+json errors. Every
//! request must carry a valid OAuth 1.0a HMAC-SHA1 signature for the
//! credentials below, so a client that signs the wrong URL or key fails here
//! rather than in production.
// Handlers answer early with a whole Response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use axum::{
    extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha1::Sha1;

pub const API_KEY: &str = "x-api-key";
pub const API_SECRET: &str = "x-api-secret";
pub const ACCESS_TOKEN: &str = "x-access-token";
pub const ACCESS_SECRET: &str = "x-access-secret";

/// RFC 5849 percent-encodes everything but RFC 3986's unreserved characters.
const OAUTH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Real ids are 19-digit snowflakes; starting there catches clients that
/// squeeze ids through a float or an i32.
const FIRST_ID: u64 = 1_445_880_548_472_328_192;

#[derive(Debug, Clone)]
pub struct Upload {
    pub bytes: Vec<u8>,
    pub content_type: Option<String>,
    pub media_id: String,
}

#[derive(Debug, Clone)]
pub struct Tweet {
    pub text: String,
    pub media_ids: Vec<String>,
    pub id: String,
}

#[derive(Default)]
struct Log {
    uploads: Vec<Upload>,
    tweets: Vec<Tweet>,
    rejected_auth: usize,
    fail_status: u16,
    fail_remaining: usize,
    issued: u64,
}

impl Log {
    fn next_id(&mut self) -> u64 {
        self.issued += 1;
        FIRST_ID + self.issued - 1
    }
}

#[derive(Clone)]
struct Shared {
    port: u16,
    log: Arc<Mutex<Log>>,
}

pub struct FakeX {
    pub addr: SocketAddr,
    log: Arc<Mutex<Log>>,
}

impl FakeX {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind x");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Log::default()));
        let app = Router::new()
            .route("/2/media/upload", post(upload_v2))
            .route("/1.1/media/upload.json", post(upload_v1))
            .route("/2/tweets", post(tweet))
            // X takes images up to 5 MB, above axum's 2 MB default.
            .layer(DefaultBodyLimit::max(6 * 1024 * 1024))
            .with_state(Shared {
                port: addr.port(),
                log: log.clone(),
            });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, log }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn uploads(&self) -> Vec<Upload> {
        self.log().uploads.clone()
    }

    pub fn tweets(&self) -> Vec<Tweet> {
        self.log().tweets.clone()
    }

    /// Requests answered 401 for a missing or wrong signature.
    pub fn rejected_auth(&self) -> usize {
        self.log().rejected_auth
    }

    /// The next `times` authorized `POST /2/tweets` answer `status` with a
    /// problem body and create nothing.
    pub fn fail_tweets(&self, status: u16, times: usize) {
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

    fn authorize(&self, req: &Request) -> Result<(), Response> {
        verify(req.method(), self.port, req.uri(), req.headers()).map_err(|why| {
            eprintln!("fake X: 401 for {} {}: {why}", req.method(), req.uri());
            self.log().rejected_auth += 1;
            problem(StatusCode::UNAUTHORIZED, "Unauthorized")
        })
    }

    fn take_failure(&self) -> Option<u16> {
        let mut log = self.log();
        if log.fail_remaining == 0 {
            return None;
        }
        log.fail_remaining -= 1;
        Some(log.fail_status)
    }
}

/// Checks an `Authorization: OAuth ...` header as X does (RFC 5849, HMAC-SHA1).
fn verify(method: &Method, port: u16, uri: &Uri, headers: &HeaderMap) -> Result<(), String> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or("no Authorization header")?
        .to_str()
        .map_err(|_| "Authorization header is not ASCII")?;
    let list = authorization
        .strip_prefix("OAuth ")
        .ok_or("Authorization is not OAuth")?;
    let mut oauth = BTreeMap::new();
    for pair in list.split(',') {
        let (key, value) = pair
            .trim()
            .split_once('=')
            .ok_or_else(|| format!("malformed parameter {pair:?}"))?;
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .ok_or_else(|| format!("{key} is not quoted"))?;
        if oauth.insert(key.to_owned(), decode(value)?).is_some() {
            return Err(format!("{key} given twice"));
        }
    }
    let param = |key: &str| oauth.get(key).map(String::as_str).unwrap_or_default();
    if param("oauth_consumer_key") != API_KEY {
        return Err("wrong oauth_consumer_key".into());
    }
    if param("oauth_token") != ACCESS_TOKEN {
        return Err("wrong oauth_token".into());
    }
    if param("oauth_signature_method") != "HMAC-SHA1" {
        return Err("oauth_signature_method is not HMAC-SHA1".into());
    }
    if !matches!(
        oauth.get("oauth_version").map(String::as_str),
        None | Some("1.0")
    ) {
        return Err("oauth_version is not 1.0".into());
    }
    if param("oauth_nonce").is_empty() {
        return Err("no oauth_nonce".into());
    }
    let timestamp: i64 = param("oauth_timestamp")
        .parse()
        .map_err(|_| "oauth_timestamp is not a number")?;
    if chrono::Utc::now().timestamp().abs_diff(timestamp) > 300 {
        return Err("oauth_timestamp is more than 300 s off".into());
    }
    let signature = STANDARD
        .decode(param("oauth_signature"))
        .map_err(|_| "oauth_signature is not base64")?;

    // The signed parameters: oauth_* from the header (realm excluded) and the
    // query; JSON and multipart bodies are never part of them.
    let mut pairs: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k.starts_with("oauth_") && k.as_str() != "oauth_signature")
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    for pair in uri.query().unwrap_or_default().split('&') {
        if !pair.is_empty() {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            pairs.push((encode(&form_decode(k)?), encode(&form_decode(v)?)));
        }
    }
    pairs.sort();
    let normalized: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    // The URL the client must have signed, built from what this server is,
    // not from the Host header the client sent.
    let base_url = format!("http://127.0.0.1:{port}{}", uri.path());
    let base = format!(
        "{method}&{}&{}",
        encode(&base_url),
        encode(&normalized.join("&"))
    );
    let key = format!("{}&{}", encode(API_SECRET), encode(ACCESS_SECRET));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(base.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| format!("oauth_signature does not match base string {base:?}"))
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, OAUTH_ENCODE).to_string()
}

fn decode(s: &str) -> Result<String, String> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| format!("{s:?} is not UTF-8 once decoded"))
}

fn form_decode(s: &str) -> Result<String, String> {
    decode(&s.replace('+', " "))
}

async fn upload_v2(State(s): State<Shared>, req: Request) -> Response {
    match receive_upload(&s, req).await {
        Ok((id, size)) => {
            let (id_string, key) = (id.to_string(), format!("3_{id}"));
            let data = json!({ "id": id_string, "media_key": key, "size": size });
            (StatusCode::OK, Json(json!({ "data": data }))).into_response()
        }
        Err(response) => response,
    }
}

async fn upload_v1(State(s): State<Shared>, req: Request) -> Response {
    match receive_upload(&s, req).await {
        Ok((id, size)) => {
            let body = json!({ "media_id": id, "media_id_string": id.to_string(), "size": size });
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(response) => response,
    }
}

/// Authorizes, validates and records an upload, returning its id and size.
async fn receive_upload(s: &Shared, req: Request) -> Result<(u64, usize), Response> {
    s.authorize(&req)?;
    let bad = |e: &dyn std::fmt::Display| invalid(&e.to_string());
    let mut form = Multipart::from_request(req, &())
        .await
        .map_err(|e| bad(&e))?;
    let (mut media, mut category) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|e| bad(&e))? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "media" => {
                let content_type = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|e| bad(&e))?;
                media = Some((bytes.to_vec(), content_type));
            }
            "media_category" => category = Some(field.text().await.map_err(|e| bad(&e))?),
            _ => {}
        }
    }
    let Some((bytes, content_type)) = media.filter(|(bytes, _)| !bytes.is_empty()) else {
        return Err(invalid("media is required and must not be empty"));
    };
    if category.as_deref() != Some("tweet_image") {
        return Err(invalid("media_category must be tweet_image"));
    }
    let mut log = s.log();
    let id = log.next_id();
    let size = bytes.len();
    log.uploads.push(Upload {
        bytes,
        content_type,
        media_id: id.to_string(),
    });
    Ok((id, size))
}

async fn tweet(State(s): State<Shared>, req: Request) -> Response {
    if let Err(unauthorized) = s.authorize(&req) {
        return unauthorized;
    }
    if let Some(status) = s.take_failure() {
        return failure(status);
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 1024 * 1024).await else {
        return invalid("unreadable body");
    };
    let Some(body) = is_json
        .then(|| serde_json::from_slice::<Value>(&bytes).ok())
        .flatten()
    else {
        return invalid("expected a JSON body");
    };
    let Some(text) = body["text"].as_str() else {
        return invalid("text is required");
    };
    let length = weighted_length(text);
    if !(1..=280).contains(&length) {
        return invalid(&format!("text must be 1 to 280 characters, was {length}"));
    }
    let media_ids = match media_ids(&body) {
        Ok(ids) => ids,
        Err(response) => return response,
    };
    let mut log = s.log();
    let unknown = media_ids
        .iter()
        .find(|id| !log.uploads.iter().any(|u| u.media_id == **id));
    if let Some(unknown) = unknown {
        return invalid(&format!("media id {unknown} was not uploaded"));
    }
    let id = log.next_id().to_string();
    log.tweets.push(Tweet {
        text: text.to_owned(),
        media_ids,
        id: id.clone(),
    });
    (
        StatusCode::CREATED,
        Json(json!({ "data": { "id": id, "text": text } })),
    )
        .into_response()
}

fn media_ids(body: &Value) -> Result<Vec<String>, Response> {
    let Some(media) = body.get("media") else {
        return Ok(Vec::new());
    };
    let ids = media["media_ids"]
        .as_array()
        .ok_or_else(|| invalid("media.media_ids must be an array"))?;
    if !(1..=4).contains(&ids.len()) {
        return Err(invalid("media.media_ids takes 1 to 4 ids"));
    }
    ids.iter()
        .map(|id| {
            id.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid("media ids are strings"))
        })
        .collect()
}

/// X counts every URL as 23 characters (t.co), however long it is.
fn weighted_length(text: &str) -> usize {
    let urls: Vec<&str> = text
        .split_whitespace()
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .collect();
    let url_chars: usize = urls.iter().map(|u| u.chars().count()).sum();
    text.chars().count() - url_chars + 23 * urls.len()
}

/// A programmed failure, shaped like X's for that status.
fn failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let detail = if status == StatusCode::FORBIDDEN {
        "You are not allowed to create a Tweet with duplicate content."
    } else {
        status.canonical_reason().unwrap_or("Error")
    };
    let mut response = problem(status, detail);
    if status == StatusCode::TOO_MANY_REQUESTS {
        // A reset one second ahead keeps retries fast while still exercising
        // the client's reset arithmetic.
        let reset = chrono::Utc::now().timestamp() + 1;
        let headers = response.headers_mut();
        headers.insert("x-rate-limit-reset", HeaderValue::from(reset));
        headers.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
    }
    response
}

/// X's 400s carry a generic detail plus the specific message in `errors`.
fn invalid(message: &str) -> Response {
    let body = json!({
        "title": "Invalid Request",
        "type": "https://api.twitter.com/2/problems/invalid-request",
        "detail": "One or more parameters to your request was invalid.",
        "errors": [{ "message": message }],
    });
    problem_response(StatusCode::BAD_REQUEST, body)
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "type": "about:blank",
        "status": status.as_u16(),
        "detail": detail,
    });
    problem_response(status, body)
}

fn problem_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

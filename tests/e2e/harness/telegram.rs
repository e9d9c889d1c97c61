//! A fake Telegram Bot API: `POST /bot<token>/<method>` with a JSON body. It
//! rejects a wrong token (401) and a sendMessage without chat_id or text (400),
//! as Telegram does, and records every accepted message.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct SentMessage {
    pub chat_id: i64,
    pub text: String,
}

#[derive(Clone)]
struct Shared {
    token: String,
    sent: Arc<Mutex<Vec<SentMessage>>>,
}

pub struct FakeTelegram {
    pub addr: SocketAddr,
    pub token: String,
    sent: Arc<Mutex<Vec<SentMessage>>>,
}

impl FakeTelegram {
    pub async fn start() -> Self {
        let token = "123456:TEST-token_abc".to_owned();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .with_state(Shared {
                token: token.clone(),
                sent: sent.clone(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind telegram");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, token, sent }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn sent(&self) -> Vec<SentMessage> {
        self.sent.lock().expect("lock").clone()
    }
}

fn error(code: u16, description: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
        Json(json!({ "ok": false, "error_code": code, "description": description })),
    )
}

async fn handle(
    State(s): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> (StatusCode, Json<Value>) {
    if bot.strip_prefix("bot") != Some(s.token.as_str()) {
        return error(401, "Unauthorized");
    }
    if !method.eq_ignore_ascii_case("sendmessage") {
        return error(404, "Not Found: method not found");
    }
    let is_json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Some(body) = is_json
        .then(|| serde_json::from_slice::<Value>(&body).ok())
        .flatten()
    else {
        return error(400, "Bad Request: expected a JSON body");
    };
    let (Some(chat_id), Some(text)) = (body["chat_id"].as_i64(), body["text"].as_str()) else {
        return error(400, "Bad Request: chat_id and text are required");
    };
    if text.is_empty() || text.chars().count() > 4096 {
        return error(400, "Bad Request: message text is empty or too long");
    }
    s.sent.lock().expect("lock").push(SentMessage {
        chat_id,
        text: text.to_owned(),
    });
    (
        StatusCode::OK,
        Json(json!({
            "ok": true,
            "result": {
                "message_id": s.sent.lock().expect("lock").len(),
                "date": 1_700_000_000,
                "chat": { "id": chat_id, "type": "private", "first_name": "Admin" },
                "from": { "id": 1, "is_bot": true, "first_name": "bazaar" },
                "text": text,
            }
        })),
    )
}

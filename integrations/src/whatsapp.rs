//! WhatsApp Cloud API (Meta Graph API): sending text and template messages
//! (`POST {api}/{version}/{phone_number_id}/messages`, bearer token), the
//! `X-Hub-Signature-256` check of `/webhooks/whatsapp`, and reading the
//! webhook envelope into one delivery per message and per status.
//! Facts: `shared/integrations/whatsapp.md`. Errors are told apart by
//! Meta's numeric `code`, never by the title (titles change).

use bazaar_core::{
    messaging::{
        inbound::{Delivery, InboundRejection, InboundWebhook},
        Channel,
    },
    provider::ProviderError,
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Meta's codes that mean "later, slower" rather than "never".
const RETRYABLE: [i64; 6] = [
    130429, // Cloud API throughput reached
    131056, // pair rate limit: too many to this customer
    131000, // something went wrong
    131016, // service unavailable
    2,      // service temporarily unavailable
    1,      // unknown error
];

#[derive(Clone)]
pub struct WhatsappClient {
    http: reqwest::Client,
    url: String,
    token: SecretString,
}

/// What to send: free text (inside the 24-hour window) or an approved template.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbound<'a> {
    Text(&'a str),
    Template {
        name: &'a str,
        language: &'a str,
        params: &'a [String],
    },
}

impl WhatsappClient {
    pub fn new(api_url: &str, version: &str, phone_number_id: &str, token: SecretString) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(20))
                .build()
                .unwrap_or_default(),
            url: format!(
                "{}/{version}/{phone_number_id}/messages",
                api_url.trim_end_matches('/')
            ),
            token,
        }
    }

    /// Sends to `to` (E.164); returns the message id (`wamid...`) Meta will
    /// report statuses for. 200 means accepted, not delivered.
    pub async fn send(&self, to: &str, message: &Outbound<'_>) -> Result<String, ProviderError> {
        let body = request_body(to, message);
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(self.token.expose_secret())
            .json(&body)
            .send()
            .await
            .map_err(|e| ProviderError::Transport(format!("cannot reach WhatsApp: {e}")))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| ProviderError::Transport(format!("cannot reach WhatsApp: {e}")))?;
        if status.is_success() {
            let sent: SendResponse = serde_json::from_str(&text).map_err(|_| {
                ProviderError::Transport(format!(
                    "WhatsApp answered {status} with an unreadable body: {}",
                    ProviderError::excerpt(&text)
                ))
            })?;
            return sent
                .messages
                .into_iter()
                .next()
                .map(|m| m.id)
                .ok_or_else(|| ProviderError::Transport("WhatsApp returned no message id".into()));
        }
        Err(classify(status.as_u16(), &text))
    }
}

/// The request body of the spec's `sendMessage`; `to` without the `+`.
pub fn request_body(to: &str, message: &Outbound<'_>) -> Value {
    let to: String = to.chars().filter(char::is_ascii_digit).collect();
    match message {
        Outbound::Text(body) => json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": { "body": body, "preview_url": false },
        }),
        Outbound::Template {
            name,
            language,
            params,
        } => json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "template",
            "template": {
                "name": name,
                "language": { "code": language },
                "components": [{
                    "type": "body",
                    "parameters": params.iter().map(|p| json!({ "type": "text", "text": p })).collect::<Vec<_>>(),
                }],
            },
        }),
    }
}

#[derive(Deserialize)]
struct SendResponse {
    messages: Vec<SentId>,
}

#[derive(Deserialize)]
struct SentId {
    id: String,
}

#[derive(Deserialize)]
struct GraphError {
    error: GraphErrorBody,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_data: Option<ErrorData>,
}

#[derive(Deserialize, Serialize, Debug, Clone)]
struct ErrorData {
    #[serde(default)]
    details: String,
}

/// Meta's error as ours: rate limits and transient codes retry, the rest is
/// final and its body starts with the code (`131026: ...`).
fn classify(status: u16, body: &str) -> ProviderError {
    let Ok(GraphError { error }) = serde_json::from_str::<GraphError>(body) else {
        return if status >= 500 || status == 429 {
            ProviderError::Transport(format!(
                "WhatsApp answered {status}: {}",
                ProviderError::excerpt(body)
            ))
        } else {
            ProviderError::Rejected {
                status,
                body: ProviderError::excerpt(body),
            }
        };
    };
    let details = error.error_data.map(|d| d.details).unwrap_or_default();
    let text = format!("{}: {} {}", error.code, error.message, details)
        .trim()
        .to_owned();
    if matches!(error.code, 130429 | 131056 | 80007) {
        ProviderError::RateLimited { retry_after: None }
    } else if RETRYABLE.contains(&error.code) || status >= 500 {
        ProviderError::Transport(format!("WhatsApp: {text}"))
    } else {
        ProviderError::Rejected { status, body: text }
    }
}

/// Meta's code in a final error from `send` (`131026`, `131047`, ...).
pub fn error_code(e: &ProviderError) -> Option<i64> {
    let ProviderError::Rejected { body, .. } = e else {
        return None;
    };
    body.split(':').next()?.trim().parse().ok()
}

/// `/webhooks/whatsapp`: `X-Hub-Signature-256: sha256=<hex>` = HMAC-SHA256
/// of the raw body with the app secret, compared in constant time.
pub struct WhatsappWebhook {
    app_secret: SecretString,
}

impl WhatsappWebhook {
    pub fn new(app_secret: SecretString) -> Self {
        Self { app_secret }
    }
}

impl InboundWebhook for WhatsappWebhook {
    fn channel(&self) -> Channel {
        Channel::Whatsapp
    }

    fn auth_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    fn verify(&self, auth: Option<&str>, body: &[u8]) -> Result<Vec<Delivery>, InboundRejection> {
        let header = auth.ok_or(InboundRejection::Unauthorized(
            "X-Hub-Signature-256 is missing",
        ))?;
        let tag = header
            .trim()
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h).ok())
            .ok_or(InboundRejection::Unauthorized(
                "X-Hub-Signature-256 is malformed",
            ))?;
        let mut mac = Hmac::<Sha256>::new_from_slice(self.app_secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(body);
        mac.verify_slice(&tag)
            .map_err(|_| InboundRejection::Unauthorized("X-Hub-Signature-256 does not match"))?;
        deliveries(body)
    }
}

/// The envelope's messages and statuses, each a delivery of its own: a
/// message by its id, a status by message id and status (`sent` and
/// `delivered` of one message are two facts; the same one twice is one).
pub fn deliveries(body: &[u8]) -> Result<Vec<Delivery>, InboundRejection> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| InboundRejection::Malformed("the webhook body is not JSON".into()))?;
    if envelope.get("object").and_then(Value::as_str) != Some("whatsapp_business_account") {
        return Err(InboundRejection::Malformed(
            "object must be whatsapp_business_account".into(),
        ));
    }
    let mut out = Vec::new();
    let changes = envelope["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|e| e["changes"].as_array().into_iter().flatten());
    for change in changes {
        let value = &change["value"];
        for m in value["messages"].as_array().into_iter().flatten() {
            let Some(id) = m["id"].as_str() else { continue };
            out.push(Delivery {
                channel: Channel::Whatsapp,
                external_id: format!("message:{id}"),
                payload: json!({ "message": m, "contacts": value["contacts"] }),
            });
        }
        for s in value["statuses"].as_array().into_iter().flatten() {
            let (Some(id), Some(status)) = (s["id"].as_str(), s["status"].as_str()) else {
                continue;
            };
            out.push(Delivery {
                channel: Channel::Whatsapp,
                external_id: format!("status:{id}:{status}"),
                payload: json!({ "status": s }),
            });
        }
    }
    Ok(out)
}

/// One stored delivery, read back by the `inbound.whatsapp` job.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    Message {
        id: String,
        from: String,
        /// Unix seconds.
        timestamp: i64,
        /// The text, or a quick-reply button's; `None` for media and the rest.
        text: Option<String>,
    },
    Status {
        id: String,
        status: String,
        /// The first error of a `failed` status: Meta's code and words.
        error: Option<(i64, String)>,
    },
}

pub fn read_delivery(payload: &Value) -> Option<Inbound> {
    if let Some(m) = payload.get("message") {
        let text = match m["type"].as_str() {
            Some("text") => m["text"]["body"].as_str(),
            Some("button") => m["button"]["text"].as_str(),
            Some("interactive") => m["interactive"]["button_reply"]["title"]
                .as_str()
                .or(m["interactive"]["list_reply"]["title"].as_str()),
            _ => None,
        };
        return Some(Inbound::Message {
            id: m["id"].as_str()?.to_owned(),
            from: m["from"].as_str()?.to_owned(),
            timestamp: m["timestamp"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            text: text.map(str::to_owned),
        });
    }
    let s = payload.get("status")?;
    let error = s["errors"].as_array().and_then(|e| e.first()).map(|e| {
        let details = e["error_data"]["details"].as_str().unwrap_or_default();
        let title = e["title"]
            .as_str()
            .or(e["message"].as_str())
            .unwrap_or_default();
        (
            e["code"].as_i64().unwrap_or(0),
            format!("{title} {details}").trim().to_owned(),
        )
    });
    Some(Inbound::Status {
        id: s["id"].as_str()?.to_owned(),
        status: s["status"].as_str()?.to_owned(),
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signed_envelopes_split_into_messages_and_statuses() {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp",
                "messages": [{"from": "77011234567", "id": "wamid.A", "timestamp": "1700000000", "type": "text", "text": {"body": "status BZ-000001"}}],
                "statuses": [{"id": "wamid.B", "status": "failed", "timestamp": "1700000001", "recipient_id": "77011234567",
                    "errors": [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24h"}}]}]}}]}]})
        .to_string();
        let hook = WhatsappWebhook::new(SecretString::from("app-secret"));
        let d = hook
            .verify(Some(&sign("app-secret", body.as_bytes())), body.as_bytes())
            .expect("verified");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].external_id, "message:wamid.A");
        assert_eq!(d[1].external_id, "status:wamid.B:failed");
        assert_eq!(
            read_delivery(&d[0].payload),
            Some(Inbound::Message {
                id: "wamid.A".into(),
                from: "77011234567".into(),
                timestamp: 1_700_000_000,
                text: Some("status BZ-000001".into())
            })
        );
        assert!(matches!(
            read_delivery(&d[1].payload),
            Some(Inbound::Status {
                error: Some((131047, _)),
                ..
            })
        ));
        for bad in [
            None,
            Some("sha256=00"),
            Some("nonsense"),
            Some(sign("other", body.as_bytes()).as_str()),
        ] {
            assert!(matches!(
                hook.verify(bad, body.as_bytes()),
                Err(InboundRejection::Unauthorized(_))
            ));
        }
    }

    #[test]
    fn graph_errors_classify_by_code() {
        let err = |code: i64| {
            json!({"error": {"message": "x", "type": "OAuthException", "code": code, "fbtrace_id": "f"}}).to_string()
        };
        assert!(matches!(
            classify(429, &err(130429)),
            ProviderError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(400, &err(131056)),
            ProviderError::RateLimited { .. }
        ));
        assert!(classify(500, &err(131000)).is_retryable());
        let gone = classify(400, &err(131026));
        assert_eq!(error_code(&gone), Some(131026));
        assert!(!gone.is_retryable());
        assert!(!classify(401, &err(190)).is_retryable());
    }

    #[test]
    fn bodies_follow_the_spec_shapes() {
        let b = request_body("+77011234567", &Outbound::Text("hi"));
        assert_eq!(b["to"], "77011234567");
        assert_eq!(b["text"]["body"], "hi");
        let params = vec!["BZ-000001".to_owned()];
        let t = request_body(
            "+77011234567",
            &Outbound::Template {
                name: "n",
                language: "ru",
                params: &params,
            },
        );
        assert_eq!(
            t["template"]["components"][0]["parameters"][0]["text"],
            "BZ-000001"
        );
    }
}

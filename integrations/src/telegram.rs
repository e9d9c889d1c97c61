//! Telegram Bot API through teloxide, pointed at `TELEGRAM_API_URL` so tests
//! and staging can use a fake server: admin alerts, customer messages, the
//! bot's webhook registration and long polling, and the
//! `X-Telegram-Bot-Api-Secret-Token` check of `/webhooks/telegram`.

use std::time::Duration;

use bazaar_core::{
    messaging::{
        bot::Incoming,
        inbound::{same_secret, Delivery, InboundRejection, InboundWebhook},
        Channel, Language,
    },
    provider::ProviderError,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use teloxide::{
    payloads::{GetUpdatesSetters, SetWebhookSetters},
    prelude::Requester,
    types::{ChatId, Update, UpdateKind},
    ApiError, Bot, RequestError,
};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// Telegram's flood limits as teloxide's `Throttle` adaptor knows them; the
/// adaptor itself limits one process, so workers take the same limits from
/// a shared Redis limiter instead (`core::throttle`).
pub use teloxide::adaptors::throttle::Limits as FloodLimits;

/// The configured limits (`TELEGRAM_RATE_*`) over teloxide's defaults.
pub fn flood_limits(config: &bazaar_core::config::TelegramConfig) -> FloodLimits {
    FloodLimits {
        messages_per_sec_chat: config.per_chat_per_sec,
        messages_per_sec_overall: config.overall_per_sec,
        ..FloodLimits::default()
    }
}

#[derive(Clone)]
pub struct TelegramClient {
    bot: Bot,
}

impl TelegramClient {
    pub fn new(token: &str, api_url: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(api_url)
            .map_err(|e| format!("TELEGRAM_API_URL {api_url:?} is not a URL: {e}"))?;
        Ok(Self {
            bot: Bot::new(token).set_api_url(url),
        })
    }

    /// Sends plain text (no parse mode: alert details and product names
    /// must not be parsed as markup); returns Telegram's message id.
    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<i64, ProviderError> {
        self.bot
            .send_message(ChatId(chat_id), text)
            .await
            .map(|m| i64::from(m.id.0))
            .map_err(classify)
    }

    /// Registers `url` as the bot's webhook with the secret Telegram sends back.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), ProviderError> {
        let url = reqwest::Url::parse(url)
            .map_err(|e| ProviderError::Transport(format!("webhook URL {url:?}: {e}")))?;
        self.bot
            .set_webhook(url)
            .secret_token(secret)
            .await
            .map(|_| ())
            .map_err(classify)
    }

    pub async fn delete_webhook(&self) -> Result<(), ProviderError> {
        self.bot
            .delete_webhook()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    /// Long polling: the updates from `offset` on, waiting up to `timeout`
    /// for one. Each comes as its id and its JSON, the form webhooks store.
    pub async fn get_updates(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<Vec<(i64, Value)>, ProviderError> {
        let updates = self
            .bot
            .get_updates()
            .offset(offset as i32)
            .timeout(timeout.as_secs() as u32)
            .await
            .map_err(classify)?;
        Ok(updates
            .into_iter()
            .filter_map(|u| {
                let id = i64::from(u.id.0);
                serde_json::to_value(&u).ok().map(|v| (id, v))
            })
            .collect())
    }
}

fn classify(e: RequestError) -> ProviderError {
    match e {
        RequestError::RetryAfter(secs) => ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(secs.seconds() as u64)),
        },
        // Telegram answers "Forbidden: ..." (403) for blocked and kicked
        // bots, "Bad Request: ..." (400) for the rest of its final errors.
        RequestError::Api(api) => {
            let body = match api {
                ApiError::Unknown(description) => description,
                other => other.to_string(),
            };
            let status = if body.starts_with("Forbidden") {
                403
            } else {
                400
            };
            ProviderError::Rejected { status, body }
        }
        RequestError::MigrateToChatId(id) => ProviderError::Rejected {
            status: 400,
            body: format!("chat migrated to {id}"),
        },
        other => ProviderError::Transport(format!("cannot reach Telegram: {other}")),
    }
}

/// Whether Telegram's answer means this chat cannot be messaged any more
/// (blocked, deactivated, kicked, chat not found, never started): the
/// customer's channel is switched off instead of retried. teloxide maps
/// known texts to `ApiError` variants and drops the error code, so unknown
/// `Forbidden: ...` texts count too.
pub fn chat_is_gone(e: &ProviderError) -> bool {
    let ProviderError::Rejected { body, .. } = e else {
        return false;
    };
    let lower = body.to_ascii_lowercase();
    lower.starts_with("forbidden")
        || [
            ApiError::BotBlocked,
            ApiError::UserDeactivated,
            ApiError::ChatNotFound,
            ApiError::CantInitiateConversation,
            ApiError::BotKicked,
            ApiError::BotKickedFromSupergroup,
            ApiError::BotKickedFromChannel,
        ]
        .iter()
        .any(|known| lower == known.to_string().to_ascii_lowercase())
        || lower.contains("chat not found")
        || lower.contains("user is deactivated")
        || lower.contains("bot was blocked")
}

/// The bot's message in an update: private-chat text messages only (the
/// bot talks to customers, not groups).
pub fn incoming(update: &Value) -> Option<Incoming> {
    // From text, not from the `Value`: teloxide's `UpdateKind` reads its
    // payload through a deserializer that a `serde_json::Value` does not
    // satisfy (it silently becomes `UpdateKind::Error`).
    let update: Update = match serde_json::from_str(&update.to_string()) {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "a Telegram update teloxide cannot read");
            return None;
        }
    };
    let UpdateKind::Message(message) = update.kind else {
        return None;
    };
    if !message.chat.is_private() {
        return None;
    }
    Some(Incoming {
        update_id: i64::from(update.id.0),
        chat: message.chat.id.0,
        text: message.text()?.to_owned(),
        language: message
            .from
            .as_ref()
            .and_then(|u| u.language_code.as_deref())
            .and_then(Language::from_tag),
    })
}

/// `/webhooks/telegram`: Telegram sends the secret given to setWebhook in
/// `X-Telegram-Bot-Api-Secret-Token`; the update is stored by `update_id`.
pub struct TelegramWebhook {
    secret: SecretString,
}

impl TelegramWebhook {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }
}

impl InboundWebhook for TelegramWebhook {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn auth_header(&self) -> &'static str {
        SECRET_HEADER
    }

    fn verify(&self, auth: Option<&str>, body: &[u8]) -> Result<Vec<Delivery>, InboundRejection> {
        let presented = auth.ok_or(InboundRejection::Unauthorized(
            "X-Telegram-Bot-Api-Secret-Token is missing",
        ))?;
        if !same_secret(presented.as_bytes(), self.secret.expose_secret().as_bytes()) {
            return Err(InboundRejection::Unauthorized(
                "X-Telegram-Bot-Api-Secret-Token is wrong",
            ));
        }
        let payload: Value = serde_json::from_slice(body)
            .map_err(|_| InboundRejection::Malformed("the update is not JSON".into()))?;
        let id = payload
            .get("update_id")
            .and_then(Value::as_i64)
            .ok_or_else(|| {
                InboundRejection::Malformed("the update has no integer update_id".into())
            })?;
        Ok(vec![Delivery {
            channel: Channel::Telegram,
            external_id: id.to_string(),
            payload,
        }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn configured_limits_default_to_teloxides_throttle() {
        let config = bazaar_core::config::Config::from(&bazaar_core::config::Env::new(|_| None))
            .expect("defaults");
        assert_eq!(flood_limits(&config.telegram), FloodLimits::default());
    }

    #[test]
    fn final_errors_are_told_from_retryable_ones() {
        let rejected = |body: &str| ProviderError::Rejected {
            status: 403,
            body: body.into(),
        };
        assert!(chat_is_gone(&rejected(
            "Forbidden: bot was blocked by the user"
        )));
        assert!(chat_is_gone(&rejected(
            "Forbidden: bot was kicked from the group chat"
        )));
        assert!(chat_is_gone(&rejected(&ApiError::ChatNotFound.to_string())));
        assert!(!chat_is_gone(&ProviderError::RateLimited {
            retry_after: None
        }));
        assert!(!chat_is_gone(&ProviderError::Transport("refused".into())));
        assert!(!chat_is_gone(&rejected("Bad Request: message is too long")));
    }

    #[test]
    fn private_text_messages_become_incoming() {
        let update = json!({"update_id": 7, "message": {"message_id": 1, "date": 1700000000,
            "chat": {"id": 42, "type": "private", "first_name": "Ann"},
            "from": {"id": 42, "is_bot": false, "first_name": "Ann", "language_code": "en"},
            "text": "/orders", "entities": [{"type": "bot_command", "offset": 0, "length": 7}]}});
        let m = incoming(&update).expect("incoming");
        assert_eq!((m.update_id, m.chat, m.text.as_str()), (7, 42, "/orders"));
        assert_eq!(m.language, Some(Language::En));
        let group = json!({"update_id": 8, "message": {"message_id": 2, "date": 1700000000,
            "chat": {"id": -5, "type": "group", "title": "g"}, "text": "/orders"}});
        assert!(incoming(&group).is_none());
    }

    #[test]
    fn webhook_needs_the_secret() {
        let hook = TelegramWebhook::new(SecretString::from("s3cret_-x"));
        let body = br#"{"update_id": 5}"#;
        assert!(matches!(
            hook.verify(None, body),
            Err(InboundRejection::Unauthorized(_))
        ));
        assert!(matches!(
            hook.verify(Some("nope"), body),
            Err(InboundRejection::Unauthorized(_))
        ));
        let ok = hook.verify(Some("s3cret_-x"), body).expect("verified");
        assert_eq!(ok[0].external_id, "5");
        assert!(matches!(
            hook.verify(Some("s3cret_-x"), b"{}"),
            Err(InboundRejection::Malformed(_))
        ));
    }
}

//! Telegram Bot API through teloxide, pointed at `TELEGRAM_API_URL` so tests
//! and staging can use a fake server.

use std::time::Duration;

use bazaar_core::provider::ProviderError;
use teloxide::{prelude::Requester, types::ChatId, ApiError, Bot, RequestError};

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

    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<(), ProviderError> {
        // Plain text: alert details come from error messages and must not be
        // parsed as markup.
        self.bot
            .send_message(ChatId(chat_id), text)
            .await
            .map(|_| ())
            .map_err(classify)
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

//! Telegram Bot API through teloxide, pointed at `TELEGRAM_API_URL` so tests
//! and staging can use a fake server.

use teloxide::{prelude::Requester, types::ChatId, ApiError, Bot, RequestError};

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error("rate limited by Telegram; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Final for this chat (blocked, chat not found, ...): do not retry.
    #[error("rejected by Telegram: {0}")]
    Rejected(String),
    #[error("cannot reach Telegram: {0}")]
    Transport(String),
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

    pub async fn send_message(&self, chat_id: i64, text: &str) -> Result<(), TelegramError> {
        // Plain text: alert details come from error messages and must not be
        // parsed as markup.
        self.bot
            .send_message(ChatId(chat_id), text)
            .await
            .map(|_| ())
            .map_err(classify)
    }
}

fn classify(e: RequestError) -> TelegramError {
    match e {
        RequestError::RetryAfter(secs) => TelegramError::RateLimited {
            retry_after_secs: secs.seconds() as u64,
        },
        RequestError::Api(ApiError::Unknown(description)) => TelegramError::Rejected(description),
        RequestError::Api(api) => TelegramError::Rejected(api.to_string()),
        RequestError::MigrateToChatId(id) => {
            TelegramError::Rejected(format!("chat migrated to {id}"))
        }
        other => TelegramError::Transport(other.to_string()),
    }
}

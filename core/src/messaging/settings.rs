//! Which customer channels this shop has, derived once from the
//! configuration. A channel without credentials is off: its preference
//! cannot be switched on and nothing is queued for it.

use std::time::Duration;

use crate::config::Config;

use super::Language;

#[derive(Debug, Clone)]
pub struct Channels {
    /// `TELEGRAM_BOT_TOKEN` and `TELEGRAM_BOT_USERNAME` are set.
    pub telegram: bool,
    pub telegram_bot: Option<String>,
    pub telegram_link_ttl: Duration,
    /// `WHATSAPP_TOKEN` and `WHATSAPP_PHONE_NUMBER_ID` are set.
    pub whatsapp: bool,
    pub default_language: Language,
}

impl Channels {
    pub fn new(config: &Config) -> Self {
        let t = &config.telegram;
        let telegram_bot = t.bot_username.clone().filter(|_| t.bot_token.is_some());
        Self {
            telegram: telegram_bot.is_some(),
            telegram_bot,
            telegram_link_ttl: t.link_ttl,
            whatsapp: config.whatsapp.is_some(),
            default_language: Language::parse(&config.default_language).unwrap_or(Language::Ru),
        }
    }

    /// What start-up logs about customer channels.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.telegram {
            lines.push(
                "Telegram customer messages are off: set TELEGRAM_BOT_TOKEN and TELEGRAM_BOT_USERNAME"
                    .to_owned(),
            );
        }
        if !self.whatsapp {
            lines.push(
                "WhatsApp customer messages are off: set WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID"
                    .to_owned(),
            );
        }
        lines
    }
}

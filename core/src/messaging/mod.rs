//! Customer messages on e-mail, Telegram and WhatsApp, and the bots that
//! answer "where is my order".
//!
//! Every notice (an order event, a price drop) is fanned out by `notify` in
//! the transaction that causes it: one `messages` row and one job per channel
//! the customer has enabled and linked, keyed by (event, channel), so a
//! redelivered job or a repeated event sends nothing twice. Workers render
//! the text in the customer's language (`text`), send it, and record what
//! the provider said on the row; WhatsApp's later status webhooks move the
//! row forward only (`MessageStatus::can_become`).
//!
//! Inbound: webhook deliveries are stored once by the provider's id
//! (`inbound`) and handled by `inbound.*` jobs: Telegram commands (`bot`) and
//! WhatsApp messages and statuses (`whatsapp`). Replies are messages too.

pub mod bot;
pub mod channel_state;
pub mod inbound;
pub mod messages;
pub mod notify;
pub mod settings;
pub mod telegram_link;
pub mod text;
pub mod whatsapp;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use settings::Channels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Channel {
    Email,
    Telegram,
    Whatsapp,
}

names!(Channel {
    Email => "email",
    Telegram => "telegram",
    Whatsapp => "whatsapp",
});

/// Where a message is. `Queued` until the worker hands it over; then the
/// provider's word: `Sent` (accepted), `Delivered`, `Read`, or `Failed`
/// with a reason. `Skipped` when the channel was switched off or unlinked
/// between the event and the send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MessageStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
    Skipped,
}

names!(MessageStatus {
    Queued => "queued",
    Sent => "sent",
    Delivered => "delivered",
    Read => "read",
    Failed => "failed",
    Skipped => "skipped",
});

impl MessageStatus {
    /// Statuses only move forward: queued < sent < delivered < read, and
    /// failed or skipped end it. WhatsApp delivers status webhooks out of
    /// order (a `sent` after `read`), so a late one must change nothing.
    /// A failure after `read` is ignored: the customer has read it.
    pub fn can_become(self, next: MessageStatus) -> bool {
        use MessageStatus::*;
        match (self, next) {
            (Failed | Skipped | Read, _) => false,
            (_, Failed) => true,
            (_, Skipped) => self == Queued,
            (a, b) => b.rank() > a.rank(),
        }
    }

    fn rank(self) -> u8 {
        match self {
            MessageStatus::Queued => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            MessageStatus::Failed | MessageStatus::Skipped => 4,
        }
    }

    /// The statuses `self` may become, for SQL guards (`status = ANY(...)`
    /// of the statuses that can become `next`).
    pub fn predecessors(next: MessageStatus) -> Vec<&'static str> {
        Self::ALL
            .iter()
            .filter(|s| s.can_become(next))
            .map(|s| s.as_str())
            .collect()
    }
}

/// The language of a customer's messages: theirs when they chose one, the
/// shop's (`BAZAAR_LANGUAGE`) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Language {
    Ru,
    En,
}

names!(Language {
    Ru => "ru",
    En => "en",
});

impl Language {
    /// Telegram's `language_code` (IETF tag, e.g. `ru`, `en-US`, `kk`):
    /// Kazakh and Russian speakers get Russian, English speakers English.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "ru" | "kk" | "uk" | "be" => Some(Language::Ru),
            "en" => Some(Language::En),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Queued.can_become(Sent));
        assert!(Sent.can_become(Delivered));
        assert!(Sent.can_become(Read));
        assert!(Delivered.can_become(Read));
        assert!(Delivered.can_become(Failed));
        assert!(!Read.can_become(Delivered));
        assert!(!Delivered.can_become(Sent));
        assert!(!Read.can_become(Failed));
        assert!(!Failed.can_become(Delivered));
        assert!(!Sent.can_become(Sent));
        assert!(!Sent.can_become(Skipped));
        assert!(Queued.can_become(Skipped));
        assert_eq!(
            MessageStatus::predecessors(Delivered),
            vec!["queued", "sent"]
        );
    }

    #[test]
    fn telegram_language_codes_map_to_message_languages() {
        assert_eq!(Language::from_tag("ru"), Some(Language::Ru));
        assert_eq!(Language::from_tag("kk"), Some(Language::Ru));
        assert_eq!(Language::from_tag("en-US"), Some(Language::En));
        assert_eq!(Language::from_tag("de"), None);
    }
}

//! The one error every provider client returns (Stripe, Kaspi, SMTP,
//! Telegram, X, and the marketplaces and messengers to come), so a caller
//! decides "retry, when" and "give up" the same way for all of them.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The provider asked us to slow down (429, Telegram's `retry_after`):
    /// retry, not before `retry_after` when it said.
    #[error("rate limited{}", .retry_after.map(|d| format!("; retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// The provider answered and said no: retrying the same request cannot
    /// help (a bad key, invalid parameters, a blocked chat, a 5xx the
    /// provider marked final). `body` is the provider's reason, trimmed;
    /// never a secret.
    #[error("rejected ({status}): {body}")]
    Rejected { status: u16, body: String },
    /// No usable answer: connection refused, timeout, TLS, a 5xx, a
    /// request the provider is still working on. Worth retrying.
    #[error("{0}")]
    Transport(String),
}

impl ProviderError {
    /// Whether another attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, ProviderError::Rejected { .. })
    }

    /// At most 300 characters of a provider's reason, for `Rejected::body`.
    pub fn excerpt(s: &str) -> String {
        s.chars().take(300).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rejections_are_final() {
        assert!(ProviderError::RateLimited { retry_after: None }.is_retryable());
        assert!(ProviderError::Transport("refused".into()).is_retryable());
        assert!(!ProviderError::Rejected {
            status: 400,
            body: "bad".into()
        }
        .is_retryable());
    }

    #[test]
    fn messages_name_the_delay_and_the_reason() {
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(7)),
        };
        assert_eq!(e.to_string(), "rate limited; retry after 7 s");
        let e = ProviderError::Rejected {
            status: 403,
            body: "Forbidden: bot was blocked by the user".into(),
        };
        assert_eq!(
            e.to_string(),
            "rejected (403): Forbidden: bot was blocked by the user"
        );
        assert_eq!(ProviderError::excerpt(&"x".repeat(500)).len(), 300);
    }
}

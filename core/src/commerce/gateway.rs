//! The ports through which commerce reaches payment providers, implemented
//! per provider in `bazaar-integrations` and wired where a process starts:
//! the core rules never name a provider's wire format, and the API crate
//! never depends on a provider client.

use std::sync::Arc;

use serde_json::Value;

use super::payments::Provider;
use crate::provider::ProviderError;

/// What checkout asks a card provider for.
#[derive(Debug, Clone, Copy)]
pub struct IntentRequest<'a> {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217, any case.
    pub currency: &'a str,
    pub order_number: &'a str,
    /// The same key gets the provider's first answer back.
    pub idempotency_key: &'a str,
}

/// A payment the customer confirms in the storefront.
#[derive(Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    /// Handed to the customer's browser; never logged.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for Intent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intent")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Card payments: create at checkout, cancel when an unpaid order is
/// cancelled, refund when a paid one is. Every call carries an idempotency
/// key, so a retry never charges or refunds twice.
#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn create_intent(&self, request: IntentRequest<'_>) -> Result<Intent, ProviderError>;

    async fn cancel_intent(&self, intent: &str, idempotency_key: &str)
        -> Result<(), ProviderError>;

    /// Refunds the whole payment; returns the refund's id.
    async fn refund(&self, intent: &str, idempotency_key: &str) -> Result<String, ProviderError>;
}

/// A webhook whose signature checked out: the event's id and type, and the
/// body as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedEvent {
    pub id: String,
    pub kind: String,
    pub payload: Value,
}

/// Why a webhook is refused (400, nothing stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("{0}")]
    Signature(String),
    #[error("the body is not JSON")]
    NotJson,
    #[error("{0}")]
    NotAnEvent(String),
}

/// A provider's inbound webhooks: the header carrying the signature, and
/// the check of the raw body against it.
pub trait WebhookVerifier: Send + Sync {
    fn provider(&self) -> Provider;

    /// The request header that carries the signature.
    fn signature_header(&self) -> &'static str;

    /// Checks `signature` (the header's value, if sent) over the raw `body`
    /// at `now_unix`, and reads the event's id and type.
    fn verify(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<VerifiedEvent, WebhookRejection>;
}

/// The configured payment providers; `None` where one is not configured.
#[derive(Clone, Default)]
pub struct PaymentProviders {
    pub card: Option<Arc<dyn PaymentGateway>>,
    pub stripe_webhook: Option<Arc<dyn WebhookVerifier>>,
    pub kaspi_webhook: Option<Arc<dyn WebhookVerifier>>,
}

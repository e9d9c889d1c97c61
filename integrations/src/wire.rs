//! Builds the providers a process needs from its configuration; called
//! where a process starts (the `bazaar` binary, the test harness).

use std::sync::Arc;

use bazaar_core::{commerce::gateway::PaymentProviders, config::Config};

use crate::{kaspi::KaspiWebhook, stripe::StripeClient, stripe::StripeWebhook};

/// The card gateway and the payment webhooks that are configured.
pub fn payment_providers(config: &Config) -> PaymentProviders {
    let stripe = config.commerce.stripe.as_ref();
    PaymentProviders {
        card: stripe
            .map(|s| Arc::new(StripeClient::new(&s.api_url, s.secret_key.clone())) as Arc<_>),
        stripe_webhook: stripe
            .and_then(|s| s.webhook_secret.clone())
            .map(|secret| Arc::new(StripeWebhook::new(secret)) as Arc<_>),
        kaspi_webhook: config
            .commerce
            .kaspi_webhook_secret
            .clone()
            .map(|secret| Arc::new(KaspiWebhook::new(secret)) as Arc<_>),
    }
}

//! Builds the providers a process needs from its configuration; called
//! where a process starts (the `bazaar` binary, the test harness).

use std::sync::Arc;

use bazaar_core::{
    commerce::gateway::PaymentProviders, config::Config, messaging::inbound::MessengerWebhooks,
};
use secrecy::ExposeSecret;

use crate::{
    kaspi::KaspiWebhook,
    stripe::StripeClient,
    stripe::StripeWebhook,
    telegram::{TelegramClient, TelegramWebhook},
    whatsapp::{WhatsappClient, WhatsappWebhook},
};

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

/// The messenger webhooks that are configured: Telegram's needs
/// `TELEGRAM_WEBHOOK_SECRET`, WhatsApp's `WHATSAPP_APP_SECRET`.
pub fn messenger_webhooks(config: &Config) -> MessengerWebhooks {
    MessengerWebhooks {
        telegram: config
            .telegram
            .webhook_secret
            .clone()
            .filter(|_| config.telegram.bot_token.is_some())
            .map(|s| Arc::new(TelegramWebhook::new(s)) as Arc<_>),
        whatsapp: config
            .whatsapp
            .as_ref()
            .and_then(|w| w.app_secret.clone())
            .map(|s| Arc::new(WhatsappWebhook::new(s)) as Arc<_>),
        whatsapp_verify_token: config
            .whatsapp
            .as_ref()
            .and_then(|w| w.verify_token.clone()),
    }
}

/// The customer bot's Telegram client (`None` without a token).
pub fn telegram(config: &Config) -> Option<TelegramClient> {
    let token = config.telegram.bot_token.as_ref()?;
    match TelegramClient::new(token.expose_secret(), &config.telegram.api_url) {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::error!(error = %e, "Telegram is not configured correctly");
            None
        }
    }
}

pub fn whatsapp(config: &Config) -> Option<WhatsappClient> {
    let w = config.whatsapp.as_ref()?;
    Some(WhatsappClient::new(
        &w.api_url,
        &w.api_version,
        &w.phone_number_id,
        w.token.clone(),
    ))
}

/// The Kaspi merchant API client, `None` without `KASPI_TOKEN` and
/// `KASPI_MERCHANT_ID`.
pub fn kaspi(config: &Config) -> Option<crate::kaspi::merchant::KaspiClient> {
    let k = &config.marketplaces.kaspi;
    if !k.enabled() {
        return None;
    }
    Some(crate::kaspi::merchant::KaspiClient::new(
        &k.api_url,
        k.token.clone()?,
    ))
}

/// Kaspi's two-step completion for the API, `None` while Kaspi is disabled.
pub fn kaspi_completion(
    config: &Config,
) -> Option<std::sync::Arc<dyn bazaar_core::marketplace::KaspiCompletion>> {
    kaspi(config).map(|c| {
        std::sync::Arc::new(c) as std::sync::Arc<dyn bazaar_core::marketplace::KaspiCompletion>
    })
}

/// The Ozon Seller API client, `None` without `OZON_CLIENT_ID` and
/// `OZON_API_KEY`.
pub fn ozon(config: &Config) -> Option<crate::ozon::OzonClient> {
    let o = &config.marketplaces.ozon;
    Some(crate::ozon::OzonClient::new(
        &o.api_url,
        o.client_id.as_deref()?,
        o.api_key.clone()?,
    ))
}

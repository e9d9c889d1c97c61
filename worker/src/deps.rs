use std::sync::Arc;

use bazaar_core::{
    commerce::gateway::PaymentProviders, config::Config, shop::Shop, storage::Storage,
};
use bazaar_integrations::{
    smtp::Mailer,
    twitter::{TwitterClient, TwitterCredentials},
};
use secrecy::ExposeSecret;
use sqlx::PgPool;

/// What job handlers need, shared by every worker of the process.
pub struct Deps {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub config: Arc<Config>,
    pub storage: Storage,
    /// `None` without the four `TWITTER_*` credentials.
    pub twitter: Option<TwitterClient>,
    /// The card gateway (`None` without `STRIPE_SECRET_KEY`).
    pub payments: PaymentProviders,
    pub shop: Shop,
    /// Telegram and WhatsApp clients and their shared rate limits.
    pub messengers: crate::messengers::Messengers,
    /// Kaspi and Ozon clients and their shared rate limits.
    pub marketplaces: crate::marketplaces::Marketplaces,
}

pub fn twitter(config: &Config) -> Option<TwitterClient> {
    let t = config.twitter.as_ref()?;
    Some(TwitterClient::new(
        TwitterCredentials {
            api_key: t.api_key.expose_secret().to_owned(),
            api_secret: t.api_secret.expose_secret().to_owned(),
            access_token: t.access_token.expose_secret().to_owned(),
            access_secret: t.access_secret.expose_secret().to_owned(),
        },
        &t.api_url,
        &t.upload_url,
    ))
}

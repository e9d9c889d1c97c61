use std::sync::Arc;

use bazaar_core::{
    auth::{AuthService, JwtKeys, RateLimiter},
    backoffice::{dashboard::Dashboard, Scope},
    catalog::products::Pages,
    catalog::search::{Embedded, Engine, Search},
    commerce::gateway::PaymentProviders,
    commerce::orders::AdminFilter,
    commerce::payments::{self, PaymentIngest},
    config::{Config, SearchEngine},
    messaging::inbound::{self, Ingest, MessengerWebhooks},
    shop::Shop,
    storage::Storage,
};
use redis::aio::ConnectionManager;
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::{cache::CatalogCache, recent::Recent};

/// What every handler shares. Cloned per request by axum's `State`: one
/// reference count, not a copy of every field (the JWT keys, the pools'
/// handles).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub redis: ConnectionManager,
    pub auth: Arc<AuthService>,
    pub keys: JwtKeys,
    pub cache: CatalogCache,
    /// Searches and listings (`catalog::search`).
    pub search: Search,
    pub storage: Storage,
    pub shop: Arc<Shop>,
    /// Product pages, read in batches (`products::Pages`).
    pub pages: Pages,
    /// The card gateway and payment webhooks, built by the process that
    /// starts the API (`bazaar_integrations::wire`).
    pub payments: PaymentProviders,
    /// The Telegram and WhatsApp webhook checks (`with_messengers`).
    pub messengers: MessengerWebhooks,
    /// Stores messenger webhook deliveries in groups (one commit per burst).
    pub ingest: Ingest,
    pub payment_events: PaymentIngest,
    /// Kaspi's order completion (`with_kaspi`); `None` while Kaspi is off.
    pub kaspi: Option<Arc<dyn bazaar_core::marketplace::KaspiCompletion>>,
    /// Computed dashboards per scope, fresh for `DASHBOARD_CACHE_SECS`.
    pub dashboards: Recent<Scope, Arc<Dashboard>>,
    /// Totals of broad order-list filters (`orders::back_office_list`).
    pub order_counts: Recent<(Scope, AdminFilter), i64>,
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        pool: PgPool,
        redis: ConnectionManager,
        storage: Storage,
        payments: PaymentProviders,
    ) -> Self {
        bazaar_core::telemetry::prometheus();
        let secret: Vec<u8> = match &config.jwt_secret {
            Some(s) => s.expose_secret().as_bytes().to_vec(),
            None => {
                tracing::warn!(
                    "JWT_SECRET unset: using a random secret; tokens die with this process"
                );
                bazaar_core::auth::tokens::random_token().into_bytes()
            }
        };
        let keys = JwtKeys::new(&secret, config.access_token_ttl);
        let auth = AuthService {
            pool: pool.clone(),
            keys: keys.clone(),
            limiter: RateLimiter::new(redis.clone(), &config.redis_prefix),
            limits: config.rate_limits.clone(),
            pipeline: config.pipeline.clone(),
            public_url: config.public_url.clone(),
            refresh_ttl: config.refresh_token_ttl,
        };
        let engine: Option<Arc<dyn Engine>> = match config.search.engine {
            SearchEngine::Embedded => Some(Arc::new(Embedded::start(
                pool.clone(),
                config.search.reconcile,
                config.search.wait,
            ))),
            SearchEngine::Postgres => None,
        };
        let search = Search::new(pool.clone(), engine.clone());
        let cache = CatalogCache::new(
            config.catalog_cache,
            config.catalog_cache_bytes,
            redis.clone(),
            &config.redis_url,
            &config.redis_prefix,
            engine,
        );
        let shop = Shop::new(&config);
        let back_office = &config.back_office;
        Self(Arc::new(Shared {
            dashboards: Recent::new(back_office.dashboard_cache, 10_000),
            order_counts: Recent::new(back_office.order_totals_cache, 10_000),
            ingest: inbound::ingest(pool.clone(), shop.clone()),
            payment_events: payments::payment_ingest(pool.clone(), shop.clone()),
            kaspi: None,
            pages: Pages::start(pool.clone()),
            shop: Arc::new(shop),
            messengers: MessengerWebhooks::default(),
            payments,
            storage,
            cache,
            search,
            config,
            pool,
            redis,
            auth: Arc::new(auth),
            keys,
        }))
    }

    /// The state being configured, before the router shares it.
    fn configuring(&mut self) -> &mut Shared {
        Arc::get_mut(&mut self.0).expect("the state is configured before it is shared")
    }

    /// The messenger webhooks this process verifies, built by the process
    /// that starts the API (`bazaar_integrations::wire::messenger_webhooks`).
    pub fn with_messengers(mut self, messengers: MessengerWebhooks) -> Self {
        self.configuring().messengers = messengers;
        self
    }

    pub fn with_kaspi(
        mut self,
        kaspi: Option<Arc<dyn bazaar_core::marketplace::KaspiCompletion>>,
    ) -> Self {
        self.configuring().kaspi = kaspi;
        self
    }
}

use std::sync::Arc;

use bazaar_core::config::Config;
use bazaar_integrations::smtp::Mailer;
use sqlx::PgPool;

/// What job handlers need, shared by every worker of the process.
pub struct Deps {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub config: Arc<Config>,
}

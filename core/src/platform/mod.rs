//! The platform every domain stands on: configuration, the database pool,
//! the Redis connection and its key names, the outbox and the job kinds it
//! carries, the provider error, media storage, health checks and telemetry.
//! None of it holds a business rule. The crate root re-exports each module
//! (`bazaar_core::outbox`), so a caller's path says what it uses, not where
//! it is filed.

pub mod batch;
pub mod config;
pub mod db;
pub mod group_commit;
pub mod health;
pub mod jobs;
pub mod marketplace_config;
pub mod outbox;
pub mod provider;
pub mod queue_keys;
pub mod redis_conn;
pub mod storage;
pub mod telemetry;
pub mod throttle;

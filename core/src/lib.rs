//! The domain core of bazaar: configuration, errors, persistence and the services
//! that hold every business rule. Nothing here knows about HTTP; `api`, `worker`
//! and `scheduler` call into it and decide transaction boundaries.

pub mod auth;
pub mod catalog;
pub mod commerce;
pub mod config;
pub mod db;
pub mod error;
pub mod health;
pub mod jobs;
pub mod mail;
pub mod money;
pub mod outbox;
pub mod provider;
pub mod queue_keys;
pub mod redis_conn;
pub mod storage;
pub mod telemetry;
pub mod users;
pub mod validate;

pub use error::{Error, FieldError, Result, ShortLine};

//! The core of bazaar: the domain folders (`auth`, `catalog`, `commerce`,
//! `users`, with `shop`, `mail`, `money`, `validate` and `error`), which hold
//! every business rule, and the `platform` they stand on. Nothing here knows
//! about HTTP or a provider's wire format; `api`, `worker` and `scheduler`
//! call into it and decide transaction boundaries.

pub mod auth;
pub mod catalog;
pub mod commerce;
pub mod error;
pub mod mail;
pub mod messaging;
pub mod money;
pub mod platform;
pub mod shop;
pub mod users;
pub mod validate;

pub use platform::{
    config, db, health, jobs, outbox, provider, queue_keys, redis_conn, storage, telemetry,
    throttle,
};

pub use error::{Error, FieldError, Result, ShortLine};

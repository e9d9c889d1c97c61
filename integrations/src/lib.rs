//! The outside world, one module per provider: its client, its webhook
//! signature check, its event parsing and its wire types live in that one
//! file. No database access: callers pass plain values in and get
//! `bazaar_core::provider::ProviderError` out, so a worker tells a retryable
//! failure from a final one the same way for every provider. Where core
//! needs a provider behind a port (`bazaar_core::commerce::gateway`), the
//! implementation is here and `wire` builds it from the configuration.

mod http;
pub mod kaspi;
pub mod ozon;
pub mod smtp;
pub mod stripe;
pub mod telegram;
pub mod twitter;
mod webhook;
pub mod whatsapp;
pub mod wire;

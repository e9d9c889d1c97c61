//! Clients for the outside world, one module per provider. No database access:
//! callers pass plain values in and get typed errors out, so a worker can tell a
//! retryable failure from a final one.

pub mod smtp;
pub mod stripe;
pub mod telegram;
pub mod twitter;

//! The core of bazaar: the domain folders (`auth`, `catalog`, `commerce`,
//! `messaging`, `users`, with `shop`, `mail`, `money`, `validate` and `error`), which hold
//! every business rule, and the `platform` they stand on. Nothing here knows
//! about HTTP or a provider's wire format; `api`, `worker` and `scheduler`
//! call into it and decide transaction boundaries.

/// Implements `as_str` and `parse` from the enum's variant list; the names
/// are those serde and sqlx use (snake_case).
// Before the modules: a `macro_rules!` is visible to what follows it.
macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            pub fn parse(s: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod auth;
pub mod backoffice;
pub mod catalog;
pub mod cms;
// `sellable!` and `line_name!` (SQL shared with `marketplace`).
#[macro_use]
pub mod commerce;
pub mod contact;
pub mod error;
pub mod mail;
pub mod marketplace;
pub mod messaging;
pub mod money;
pub mod platform;
pub mod shop;
pub mod users;
pub mod validate;

pub use platform::{
    batch, config, db, group_commit, health, jobs, marketplace_config, outbox, provider,
    queue_keys, redis_conn, storage, telemetry, throttle,
};

pub use error::{Error, FieldError, Result, ShortLine};

//! Request extractors whose rejections are problem+json.

mod auth;
mod client_ip;
mod id;
mod json;
mod pagination;

pub use auth::{AdminUser, AuthUser, MaybeUser};
pub use client_ip::ClientIp;
pub use id::Id;
pub use json::Json;
pub use pagination::Pagination;

//! Request extractors whose rejections are problem+json.

mod auth;
mod client_ip;
mod json;
mod pagination;

pub use auth::{AdminUser, AuthUser};
pub use client_ip::ClientIp;
pub use json::Json;
pub use pagination::Pagination;

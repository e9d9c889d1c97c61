//! Request extractors whose rejections are problem+json.

mod auth;
mod cart;
mod client_ip;
mod id;
mod json;
mod pagination;

pub use auth::{AdminUser, AuthUser, MaybeUser};
pub use cart::{CartCaller, CartToken, CartTokenHeader, CART_TOKEN};
pub use client_ip::ClientIp;
pub use id::Id;
pub use json::{parse as parse_json, Json};
pub use pagination::Pagination;

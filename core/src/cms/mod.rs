//! The shop's own content: pages (about, delivery, returns) written in
//! Markdown, and the banners the storefront rotates. Admins write them;
//! anyone reads the published ones.

pub mod banners;
pub mod markdown;
pub mod pages;

//! One module per resource, each exporting its routes.

mod addresses;
pub(crate) mod admin;
mod auth;
mod cart;
mod categories;
mod checkout;
mod cms;
mod contact;
mod coupons;
pub(crate) mod dashboard;
mod feeds;
mod images;
pub(crate) mod integrations;
mod listings;
mod me;
mod messages;
pub mod ops;
pub(crate) mod orders;
mod product_types;
mod products;
mod reviews;
mod shipping;
mod stores;
mod variants;
mod webhooks;
mod wishlist;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(dashboard::router())
        .merge(cms::router())
        .merge(contact::router())
        .merge(messages::router())
        .merge(stores::router())
        .merge(categories::router())
        .merge(product_types::router())
        .merge(products::router())
        .merge(variants::router())
        .merge(images::router())
        .merge(reviews::router())
        .merge(wishlist::router())
        .merge(addresses::router())
        .merge(shipping::router())
        .merge(cart::router())
        .merge(checkout::router())
        .merge(orders::router())
        .merge(coupons::router())
        .merge(listings::router())
        .merge(integrations::router())
        .merge(feeds::router())
        .merge(webhooks::router())
        .merge(ops::router())
}

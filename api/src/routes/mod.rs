//! One module per resource, each exporting its routes.

mod admin;
mod auth;
mod categories;
mod images;
mod me;
pub mod ops;
mod product_types;
mod products;
mod reviews;
mod stores;
mod variants;
mod wishlist;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(stores::router())
        .merge(categories::router())
        .merge(product_types::router())
        .merge(products::router())
        .merge(variants::router())
        .merge(images::router())
        .merge(reviews::router())
        .merge(wishlist::router())
        .merge(ops::router())
}

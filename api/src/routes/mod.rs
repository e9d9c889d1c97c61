//! One module per resource, each exporting its routes.

mod admin;
mod auth;
mod categories;
mod me;
pub mod ops;
mod stores;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(stores::router())
        .merge(categories::router())
        .merge(ops::router())
}

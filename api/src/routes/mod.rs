//! One module per resource, each exporting its routes.

mod admin;
mod auth;
mod me;
pub mod ops;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(admin::router())
        .merge(ops::router())
}

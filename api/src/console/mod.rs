//! The back-office console at `/admin`: server-rendered pages for the
//! shop's admins and vendors, on the same core services as the API. Plain
//! HTML forms (no script needed), a session cookie, an anti-forgery token
//! in every form, and strict security headers on every page. Vendors see
//! their own stores' data only; admin-only pages answer them 403.

mod catalogue;
mod chart;
mod cms;
mod dashboard;
mod jobs;
mod orders;
mod render;
mod session;

use axum::{
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(dashboard::page))
        .route(
            "/admin/login",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/admin/logout", post(session::sign_out))
        .route("/admin/orders", get(orders::list))
        .route("/admin/orders/export", get(orders::export))
        .route("/admin/orders/{number}", get(orders::detail))
        .route("/admin/orders/{number}/status", post(orders::change_status))
        .route("/admin/products", get(catalogue::products))
        .route("/admin/reviews", get(catalogue::reviews))
        .route("/admin/reviews/{id}/moderate", post(catalogue::moderate))
        .route("/admin/jobs", get(jobs::page))
        .route("/admin/jobs/{queue}/{id}/{action}", post(jobs::act))
        .route("/admin/messages", get(jobs::messages))
        .route("/admin/integrations", get(jobs::integrations))
        .route("/admin/pages", get(cms::pages).post(cms::create_page))
        .route("/admin/pages/new", get(cms::new_page))
        .route(
            "/admin/pages/{id}",
            get(cms::edit_page).post(cms::update_page),
        )
        .route("/admin/pages/{id}/delete", post(cms::delete_page))
        .route("/admin/banners", get(cms::banners).post(cms::create_banner))
        .route("/admin/banners/new", get(cms::new_banner))
        .route(
            "/admin/banners/{id}",
            get(cms::edit_banner).post(cms::update_banner),
        )
        .route("/admin/banners/{id}/delete", post(cms::delete_banner))
        .route("/admin/static/console.css", get(stylesheet))
        .layer(axum::middleware::from_fn(security_headers))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/console.css"),
    )
        .into_response()
}

/// Console pages may not be framed, run inline or foreign scripts, leak
/// their address to other sites, or be kept by caches (they are private).
async fn security_headers(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/admin/static/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_static {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

//! Products by store with their stock, low stock, and review moderation.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use bazaar_core::{
    backoffice::{
        catalogue::{self, LowStock, PendingReview, ProductRow, StoreRef},
        Scope,
    },
    catalog::reviews::{self, ReviewPatch, Status},
    money::Money,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    render::{self, Chrome},
    session::{ConsoleUser, CsrfForm},
};
use crate::AppState;

const PER_PAGE: i64 = 50;

#[derive(Deserialize)]
pub struct ProductsQuery {
    #[serde(default)]
    store: String,
    #[serde(default)]
    page: Option<i64>,
}

struct StoreChoice {
    id: Uuid,
    name: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/products.html")]
struct ProductsPage {
    chrome: Chrome,
    stores: Vec<StoreChoice>,
    store: String,
    products: Vec<ProductRow>,
    total: i64,
    page: i64,
    pages: i64,
    currency: String,
    low_stock: Vec<LowStock>,
    threshold: i32,
}

impl ProductsPage {
    fn price(&self, p: &ProductRow) -> String {
        match (p.min_price, p.max_price) {
            (Some(a), Some(b)) if a != b => format!(
                "{} – {}",
                Money::new(a, &self.currency).display(),
                Money::new(b, &self.currency).display()
            ),
            (Some(a), _) => Money::new(a, &self.currency).display(),
            _ => "—".into(),
        }
    }
}

pub async fn products(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<ProductsQuery>,
) -> Response {
    let scope = match Scope::of(&state.pool, user.actor()).await {
        Ok(s) => s,
        Err(e) => return render::core_error(e),
    };
    let store = q.store.trim().parse::<Uuid>().ok();
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let threshold = state.config.back_office.low_stock_threshold;
    let loaded = async {
        let stores = catalogue::stores(&state.pool, &scope).await?;
        let (products, total) =
            catalogue::products(&state.pool, &scope, store, PER_PAGE, (page - 1) * PER_PAGE)
                .await?;
        let low = catalogue::low_stock(&state.pool, &scope, threshold, 100).await?;
        Ok::<_, bazaar_core::Error>((stores, products, total, low))
    }
    .await;
    let (stores, products, total, low_stock) = match loaded {
        Ok(l) => l,
        Err(e) => return render::core_error(e),
    };
    let page_view = ProductsPage {
        chrome: Chrome::of(&user, "products"),
        stores: stores
            .into_iter()
            .map(|StoreRef { id, name }| StoreChoice {
                selected: Some(id) == store,
                id,
                name,
            })
            .collect(),
        store: store.map(|s| s.to_string()).unwrap_or_default(),
        products,
        total,
        page,
        pages: (total + PER_PAGE - 1) / PER_PAGE,
        currency: state.shop.currency.clone(),
        low_stock,
        threshold,
    };
    render::html(StatusCode::OK, &page_view)
}

#[derive(Template)]
#[template(path = "console/reviews.html")]
struct ReviewsPage {
    chrome: Chrome,
    reviews: Vec<PendingReview>,
    total: i64,
}

pub async fn reviews(State(state): State<AppState>, user: ConsoleUser) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match catalogue::unmoderated_reviews(&state.pool, 100, 0).await {
        Ok((reviews, total)) => render::html(
            StatusCode::OK,
            &ReviewsPage {
                chrome: Chrome::of(&user, "reviews"),
                reviews,
                total,
            },
        ),
        Err(e) => render::core_error(e),
    }
}

#[derive(Deserialize)]
pub struct Moderation {
    /// `publish` or `hide`.
    decision: String,
}

pub async fn moderate(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<Moderation>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let status = match form.decision.as_str() {
        "publish" => Status::Published,
        "hide" => Status::Hidden,
        _ => return render::page_error(StatusCode::UNPROCESSABLE_ENTITY, "Publish or hide?"),
    };
    let patch = ReviewPatch {
        status: Some(status),
        ..Default::default()
    };
    match reviews::update(&state.pool, user.actor(), id, patch).await {
        Ok(review) => {
            // Ratings and the review list are public catalogue reads.
            state.cache.products_changed(&[review.product_id]).await;
            Redirect::to("/admin/reviews").into_response()
        }
        Err(e) => render::core_error(e),
    }
}

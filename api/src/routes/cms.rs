//! The CMS: pages and banners. Admins write them under `/api/v1/admin`;
//! the storefront reads the published ones, cached like the catalogue (a
//! write empties the cache in every API process before it answers).

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use bazaar_core::cms::{
    banners::{self, Banner, BannerInput},
    pages::{self, Page as CmsPage, PageInput},
};
use chrono::{DurationRound, TimeDelta, Utc};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    cache::{json_body, Scope},
    error::{ApiResult, Problem},
    extract::{AdminUser, Id, Json, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pages, create_page))
        .routes(routes!(get_page, update_page, delete_page))
        .routes(routes!(list_banners, create_banner))
        .routes(routes!(get_banner, update_banner, delete_banner))
        .routes(routes!(public_page))
        .routes(routes!(public_banners))
}

/// A published page, for the storefront.
#[utoipa::path(get, path = "/api/v1/pages/{slug}", tag = "cms", operation_id = "get_published_page",
    params(("slug" = String, Path, example = "delivery")),
    responses((status = 200, description = "the page; `body_html` is sanitised", body = CmsPage,
            headers(("ETag" = String, description = "entity tag for If-None-Match"))),
        (status = 304, description = "not modified since the ETag sent"),
        (status = 404, description = "no published page with that slug", body = Problem, content_type = "application/problem+json")))]
async fn public_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let cached = state
        .cache
        .get_or_load(Scope::Catalogue, format!("cms:page:{slug}"), || async {
            json_body(&pages::published(&state.pool, &slug).await?)
        })
        .await?;
    Ok(cached.respond(&headers))
}

/// The banners showing now, in storefront order (lower `position` first).
#[utoipa::path(get, path = "/api/v1/banners", tag = "cms", operation_id = "list_showing_banners",
    responses((status = 200, description = "active banners inside their window", body = Vec<Banner>,
            headers(("ETag" = String, description = "entity tag for If-None-Match"))),
        (status = 304, description = "not modified since the ETag sent")))]
async fn public_banners(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    // Windows open and close with the clock, not with a write: the entry is
    // per minute, so a banner appears or goes within a minute of its time.
    let minute = Utc::now()
        .duration_trunc(TimeDelta::minutes(1))
        .unwrap_or_else(|_| Utc::now());
    let cached = state
        .cache
        .get_or_load(
            Scope::Catalogue,
            format!("cms:banners:{}", minute.timestamp()),
            || async { json_body(&banners::showing(&state.pool, minute).await?) },
        )
        .await?;
    Ok(cached.respond(&headers))
}

/// Every page, published or not, by slug.
#[utoipa::path(get, path = "/api/v1/admin/pages", tag = "cms", operation_id = "admin_list_pages",
    security(("bearer" = [])), params(Pagination),
    responses((status = 200, description = "pages", body = Page<CmsPage>),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json")))]
async fn list_pages(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
) -> ApiResult<Json<Page<CmsPage>>> {
    let (items, total) = pages::list(&state.pool, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Create a page: `slug`, `title` and a Markdown `body` (raw HTML in it is
/// sanitised), `published` (default true).
#[utoipa::path(post, path = "/api/v1/admin/pages", tag = "cms", operation_id = "admin_create_page",
    security(("bearer" = [])), request_body = PageInput,
    responses((status = 201, description = "created", body = CmsPage),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the slug is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid field", body = Problem, content_type = "application/problem+json")))]
async fn create_page(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(input): Json<PageInput>,
) -> ApiResult<(StatusCode, Json<CmsPage>)> {
    let page = pages::save(&state.pool, None, input).await?;
    state.cache.pages_changed().await;
    Ok((StatusCode::CREATED, Json(page)))
}

#[utoipa::path(get, path = "/api/v1/admin/pages/{id}", tag = "cms", operation_id = "admin_get_page",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "the page", body = CmsPage),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such page", body = Problem, content_type = "application/problem+json")))]
async fn get_page(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<Json<CmsPage>> {
    Ok(Json(pages::get(&state.pool, id).await?))
}

/// Change the fields given.
#[utoipa::path(patch, path = "/api/v1/admin/pages/{id}", tag = "cms", operation_id = "admin_update_page",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = PageInput,
    responses((status = 200, description = "the page as saved", body = CmsPage),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such page", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "the slug is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid field", body = Problem, content_type = "application/problem+json")))]
async fn update_page(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
    Json(input): Json<PageInput>,
) -> ApiResult<Json<CmsPage>> {
    let page = pages::save(&state.pool, Some(id), input).await?;
    state.cache.pages_changed().await;
    Ok(Json(page))
}

#[utoipa::path(delete, path = "/api/v1/admin/pages/{id}", tag = "cms", operation_id = "admin_delete_page",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "deleted"),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such page", body = Problem, content_type = "application/problem+json")))]
async fn delete_page(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    pages::delete(&state.pool, id).await?;
    state.cache.pages_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every banner, active or not, in storefront order.
#[utoipa::path(get, path = "/api/v1/admin/banners", tag = "cms", operation_id = "admin_list_banners",
    security(("bearer" = [])), params(Pagination),
    responses((status = 200, description = "banners", body = Page<Banner>),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json")))]
async fn list_banners(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
) -> ApiResult<Json<Page<Banner>>> {
    let (items, total) = banners::list(&state.pool, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}

/// Create a banner: `title`, `image_url`, and optional `link_url`,
/// `position`, `active`, `starts_at`, `ends_at`.
#[utoipa::path(post, path = "/api/v1/admin/banners", tag = "cms", operation_id = "admin_create_banner",
    security(("bearer" = [])), request_body = BannerInput,
    responses((status = 201, description = "created", body = Banner),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid field", body = Problem, content_type = "application/problem+json")))]
async fn create_banner(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(input): Json<BannerInput>,
) -> ApiResult<(StatusCode, Json<Banner>)> {
    let banner = banners::save(&state.pool, None, input).await?;
    state.cache.pages_changed().await;
    Ok((StatusCode::CREATED, Json(banner)))
}

#[utoipa::path(get, path = "/api/v1/admin/banners/{id}", tag = "cms", operation_id = "admin_get_banner",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "the banner", body = Banner),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such banner", body = Problem, content_type = "application/problem+json")))]
async fn get_banner(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<Json<Banner>> {
    Ok(Json(banners::get(&state.pool, id).await?))
}

/// Change the fields given (`null` clears `link_url`, `starts_at`, `ends_at`).
#[utoipa::path(patch, path = "/api/v1/admin/banners/{id}", tag = "cms", operation_id = "admin_update_banner",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)), request_body = BannerInput,
    responses((status = 200, description = "the banner as saved", body = Banner),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such banner", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid field", body = Problem, content_type = "application/problem+json")))]
async fn update_banner(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
    Json(input): Json<BannerInput>,
) -> ApiResult<Json<Banner>> {
    let banner = banners::save(&state.pool, Some(id), input).await?;
    state.cache.pages_changed().await;
    Ok(Json(banner))
}

#[utoipa::path(delete, path = "/api/v1/admin/banners/{id}", tag = "cms", operation_id = "admin_delete_banner",
    security(("bearer" = [])), params(("id" = uuid::Uuid, Path)),
    responses((status = 204, description = "deleted"),
        (status = 401, description = "no valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such banner", body = Problem, content_type = "application/problem+json")))]
async fn delete_banner(
    State(state): State<AppState>,
    _admin: AdminUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    banners::delete(&state.pool, id).await?;
    state.cache.pages_changed().await;
    Ok(StatusCode::NO_CONTENT)
}

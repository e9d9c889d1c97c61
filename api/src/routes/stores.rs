//! `/api/v1/stores`: vendors' stores.

use axum::{extract::State, http::StatusCode};
use bazaar_core::catalog::stores::{self, NewStore, Store, StorePatch};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Id, Json, MaybeUser, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OwnerView {
    id: Uuid,
    name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoreView {
    id: Uuid,
    name: String,
    slug: String,
    description: String,
    owner: OwnerView,
    active: bool,
    /// The id of the announcement tweet, once posted.
    tweet_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Store> for StoreView {
    fn from(s: Store) -> Self {
        Self {
            id: s.id,
            name: s.name,
            slug: s.slug,
            description: s.description,
            owner: OwnerView {
                id: s.owner.id,
                name: s.owner.name,
            },
            active: s.active,
            tweet_id: s.tweet_id,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Active stores, newest first.
#[utoipa::path(get, path = "/api/v1/stores", tag = "stores", params(Pagination),
    responses((status = 200, body = Page<StoreView>)))]
async fn list(State(state): State<AppState>, page: Pagination) -> ApiResult<Json<Page<StoreView>>> {
    let (items, total) = stores::list(&state.pool, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(
        items.into_iter().map(StoreView::from).collect(),
        page,
        total,
    )))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateStore {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::name)]
    name: String,
    /// Made from the name when absent.
    #[schema(schema_with = bazaar_core::validate::schema::slug_or_null)]
    slug: Option<String>,
    description: Option<String>,
}

/// Open a store (vendors; admins too). The caller owns it. When X (Twitter)
/// is configured, an announcement tweet is enqueued; it never delays or fails
/// the creation.
#[utoipa::path(post, path = "/api/v1/stores", tag = "stores", security(("bearer" = [])),
    request_body = CreateStore,
    responses((status = 201, body = StoreView),
        (status = 403, description = "not a vendor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateStore>,
) -> ApiResult<(StatusCode, Json<StoreView>)> {
    let store = stores::create(
        &state.pool,
        user.actor(),
        NewStore {
            name: req.name,
            slug: req.slug,
            description: req.description,
        },
        state
            .config
            .twitter
            .is_some()
            .then_some(&state.config.pipeline),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(store.into())))
}

/// One store: active ones for everybody, inactive ones for their owner and admins.
#[utoipa::path(get, path = "/api/v1/stores/{id}", tag = "stores",
    params(("id" = Uuid, Path, description = "store id")),
    responses((status = 200, body = StoreView), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Id(id): Id,
) -> ApiResult<Json<StoreView>> {
    let store = stores::get(&state.pool, viewer.map(AuthUser::actor), id).await?;
    Ok(Json(store.into()))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateStore {
    #[schema(schema_with = bazaar_core::validate::schema::name_or_null)]
    name: Option<String>,
    #[schema(schema_with = bazaar_core::validate::schema::slug_or_null)]
    slug: Option<String>,
    description: Option<String>,
    active: Option<bool>,
}

/// Change a store (its owner or an admin).
#[utoipa::path(patch, path = "/api/v1/stores/{id}", tag = "stores", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "store id")), request_body = UpdateStore,
    responses((status = 200, body = StoreView),
        (status = 403, description = "not the owner", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<UpdateStore>,
) -> ApiResult<Json<StoreView>> {
    let patch = StorePatch {
        name: req.name,
        slug: req.slug,
        description: req.description,
        active: req.active,
    };
    let store = stores::update(&state.pool, user.actor(), id, patch).await?;
    // Product pages show the store, and only while it is active.
    state.cache.changed().await;
    Ok(Json(store.into()))
}

/// Delete a store (its owner or an admin). It disappears from every listing;
/// its products and orders keep their history.
#[utoipa::path(delete, path = "/api/v1/stores/{id}", tag = "stores", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "store id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    stores::delete(&state.pool, user.actor(), id).await?;
    state.cache.changed().await;
    Ok(StatusCode::NO_CONTENT)
}

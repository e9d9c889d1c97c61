//! `/api/v1/categories`: the category tree.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use bazaar_core::catalog::categories::{self, Category, CategoryPatch, NewCategory, Node};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    cache::Scope,
    error::{ApiResult, Problem},
    extract::{AuthUser, Id, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tree, create))
        .routes(routes!(update, delete))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryView {
    id: Uuid,
    parent_id: Option<Uuid>,
    name: String,
    slug: String,
    position: i32,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> Self {
        Self {
            id: c.id,
            parent_id: c.parent_id,
            name: c.name,
            slug: c.slug,
            position: c.position,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryNode {
    #[serde(flatten)]
    category: CategoryView,
    /// Products for sale in this category and every category below it.
    product_count: i64,
    #[schema(no_recursion)]
    children: Vec<CategoryNode>,
}

impl From<Node> for CategoryNode {
    fn from(n: Node) -> Self {
        Self {
            category: n.category.into(),
            product_count: n.product_count,
            children: n.children.into_iter().map(CategoryNode::from).collect(),
        }
    }
}

/// Every category as a tree: top-level categories, each with its `children`,
/// siblings ordered by `position` then name.
#[utoipa::path(get, path = "/api/v1/categories", tag = "catalog",
    responses((status = 200, body = Vec<CategoryNode>)))]
async fn tree(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let cached = state
        .cache
        .get_or_load(Scope::Catalogue, "categories".into(), || async {
            let forest = categories::tree(&state.pool).await?;
            let nodes: Vec<CategoryNode> = forest.into_iter().map(CategoryNode::from).collect();
            crate::cache::json_body(&nodes)
        })
        .await?;
    Ok(cached.respond(&headers))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateCategory {
    #[schema(required = true, schema_with = bazaar_core::validate::schema::name)]
    name: String,
    /// Made from the name when absent.
    #[schema(schema_with = bazaar_core::validate::schema::slug_or_null)]
    slug: Option<String>,
    parent_id: Option<Uuid>,
    position: Option<i32>,
}

/// Create a category (admins).
#[utoipa::path(post, path = "/api/v1/categories", tag = "catalog", security(("bearer" = [])),
    request_body = CreateCategory,
    responses((status = 201, body = CategoryView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "slug taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateCategory>,
) -> ApiResult<(StatusCode, Json<CategoryView>)> {
    let new = NewCategory {
        name: req.name,
        slug: req.slug,
        parent_id: req.parent_id,
        position: req.position,
    };
    let category = categories::create(&state.pool, user.actor(), new).await?;
    state.cache.changed().await;
    Ok((StatusCode::CREATED, Json(category.into())))
}

/// A present-but-null `parent_id` moves the category to the top level.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateCategory {
    #[schema(schema_with = bazaar_core::validate::schema::name_or_null)]
    name: Option<String>,
    #[schema(schema_with = bazaar_core::validate::schema::slug_or_null)]
    slug: Option<String>,
    #[serde(deserialize_with = "nullable")]
    #[schema(value_type = Option<Uuid>)]
    parent_id: Option<Option<Uuid>>,
    position: Option<i32>,
}

/// Rename, move or reorder a category (admins). A category cannot move inside itself.
#[utoipa::path(patch, path = "/api/v1/categories/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "category id")), request_body = UpdateCategory,
    responses((status = 200, body = CategoryView), (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<UpdateCategory>,
) -> ApiResult<Json<CategoryView>> {
    let patch = CategoryPatch {
        name: req.name,
        slug: req.slug,
        parent_id: req.parent_id,
        position: req.position,
    };
    let category = categories::update(&state.pool, user.actor(), id, patch).await?;
    state.cache.changed().await;
    Ok(Json(category.into()))
}

/// Delete a category (admins); 409 while subcategories or products still use it.
#[utoipa::path(delete, path = "/api/v1/categories/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "category id")),
    responses((status = 204), (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    categories::delete(&state.pool, user.actor(), id).await?;
    state.cache.changed().await;
    Ok(StatusCode::NO_CONTENT)
}

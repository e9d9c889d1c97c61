//! `/api/v1/products`: search and browse, product pages, and vendors'
//! product management.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use bazaar_core::{
    catalog::{
        products::{self, NewProduct, Product, ProductPatch},
        search::{self, Facets, Sort},
    },
    jobs::{Announce, Announced},
    outbox,
    users::Role,
    FieldError,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    cache::Scope,
    error::{ApiError, ApiResult, Problem},
    extract::{AuthUser, Id, Json, MaybeUser, Pagination},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
}

/// A page of search results with facets over the whole result.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    items: Vec<products::ProductSummary>,
    page: i64,
    per_page: i64,
    total: i64,
    facets: Facets,
}

/// Search and browse parameters (besides `attr.<code>=<value>`, repeatable).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SearchParams {
    /// Full text: words, "quoted phrases", -excluded; typos are tolerated.
    #[param(max_length = 200)]
    q: Option<String>,
    /// Category id or slug; subcategories are included.
    category: Option<String>,
    /// Store id or slug.
    store: Option<String>,
    /// Minor units; some active variant must cost at least this.
    #[param(minimum = 0)]
    min_price: Option<i64>,
    /// Minor units; some active variant must cost at most this (not less
    /// than `min_price`).
    #[param(minimum = 0)]
    max_price: Option<i64>,
    /// `true`: only products with an available variant.
    in_stock: Option<bool>,
    /// `relevance` (default; newest without `q`), `price`, `-price`, `newest`, `rating`.
    #[param(value_type = Option<SortOrder>)]
    sort: Option<String>,
}

/// A listing's order (parsed by `search::Sort`; this is its schema).
#[derive(ToSchema)]
#[allow(dead_code)]
pub enum SortOrder {
    #[schema(rename = "relevance")]
    Relevance,
    #[schema(rename = "price")]
    Price,
    #[schema(rename = "-price")]
    PriceDesc,
    #[schema(rename = "newest")]
    Newest,
    #[schema(rename = "rating")]
    Rating,
}

const MAX_QUERY: usize = 200;
const MAX_ATTRIBUTE_FILTERS: usize = 20;

/// Parses the raw query string: every key known, every value valid, every
/// problem listed.
fn parse_query(raw: &str, page: Pagination) -> Result<search::Query, ApiError> {
    let mut query = search::Query {
        limit: page.per_page(),
        offset: page.offset(),
        ..Default::default()
    };
    let mut errors = Vec::new();
    let mut attribute_values = 0;
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        let value = value.trim().to_owned();
        let int = |errors: &mut Vec<FieldError>| match value.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => {
                errors.push(FieldError::new(
                    key.to_string(),
                    "must be a non-negative integer (minor units)",
                ));
                None
            }
        };
        match key.as_ref() {
            "page" | "per_page" => {}
            "q" if value.is_empty() => {}
            "q" if value.contains('\0') => {
                errors.push(FieldError::new("q", bazaar_core::error::NUL_IN_TEXT))
            }
            "q" if value.chars().count() > MAX_QUERY => {
                errors.push(FieldError::new("q", "must be at most 200 characters"))
            }
            "q" => query.q = Some(value),
            "category" if !value.is_empty() => query.category = Some(value),
            "store" if !value.is_empty() => query.store = Some(value),
            "category" | "store" => {}
            "min_price" => query.min_price = int(&mut errors),
            "max_price" => query.max_price = int(&mut errors),
            "in_stock" => match value.as_str() {
                "true" | "1" => query.in_stock = true,
                "false" | "0" | "" => query.in_stock = false,
                _ => errors.push(FieldError::new("in_stock", "must be true or false")),
            },
            "sort" => match Sort::parse(&value) {
                Some(s) => query.sort = s,
                None => errors.push(FieldError::new(
                    "sort",
                    "must be one of relevance, price, -price, newest, rating",
                )),
            },
            k => match k.strip_prefix("attr.") {
                Some(code)
                    if !code.is_empty()
                        && code.len() <= 40
                        && code
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
                {
                    attribute_values += 1;
                    if value.is_empty() || value.chars().count() > 100 {
                        errors.push(FieldError::new(k.to_owned(), "must be 1 to 100 characters"));
                    } else {
                        query
                            .attributes
                            .entry(code.to_owned())
                            .or_default()
                            .push(value);
                    }
                }
                Some(_) => errors.push(FieldError::new(
                    k.to_owned(),
                    "attribute codes are lower-case ASCII letters, digits and _",
                )),
                None => errors.push(FieldError::new(
                    k.to_owned(),
                    "unknown parameter; see the OpenAPI document",
                )),
            },
        }
    }
    if attribute_values > MAX_ATTRIBUTE_FILTERS {
        errors.push(FieldError::new("attr", "at most 20 attribute filters"));
    }
    if let (Some(min), Some(max)) = (query.min_price, query.max_price) {
        if min > max {
            errors.push(FieldError::new("min_price", "must not exceed max_price"));
        }
    }
    if errors.is_empty() {
        Ok(query)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// The query string in a canonical order, as a cache key.
fn canonical(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort();
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Search and browse: full text, filters, sorts and facets (counts per
/// category and attribute value, and the price range, over the whole filtered
/// result). Public; answers carry an `ETag`.
///
/// Attribute filters are further query parameters named `attr.<code>` (a
/// code is lower-case ASCII letters, digits and `_`, at most 40), each with
/// a value of 1-100 characters, repeatable: `attr.size=M&attr.size=L&attr.color=Red`
/// (values of one code are alternatives); at most 20 in all. Any other
/// parameter is a 422.
#[utoipa::path(get, path = "/api/v1/products", tag = "catalog",
    params(SearchParams, Pagination),
    responses((status = 200, body = ProductList),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(state): State<AppState>,
    page: Pagination,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let raw = raw.unwrap_or_default();
    let query = parse_query(&raw, page)?;
    let text = format!("products?{}", canonical(&raw));
    let load = || async {
        let results = state.search.search(&state.shop, &query).await?;
        let shown: Vec<Uuid> = results.items.iter().map(|p| p.id).collect();
        let body = crate::cache::json_body(&ProductList {
            items: results.items,
            page: page.page(),
            per_page: page.per_page(),
            total: results.total,
            facets: results.facets,
        })?;
        Ok((body, shown))
    };
    let cached = if query.in_stock {
        // Totals and facets follow every sell-out.
        let load = || async { load().await.map(|(body, _)| body) };
        state
            .cache
            .get_or_load(Scope::InStockListing, text, load)
            .await?
    } else {
        state.cache.get_or_load_listing(text, load).await?
    };
    Ok(cached.respond(&headers))
}

/// A product page by id or slug, with variants, attributes, images and
/// rating. The store's managers also see inactive products and stock.
#[utoipa::path(get, path = "/api/v1/products/{id}", tag = "catalog",
    params(("id" = String, Path, description = "product id or slug")),
    responses((status = 200, body = Product), (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn get(
    State(state): State<AppState>,
    MaybeUser(viewer): MaybeUser,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let actor = viewer.map(AuthUser::actor);
    let load = || async {
        let product = state.pages.get(&state.shop, actor, &key).await?;
        crate::cache::json_body(&product)
    };
    // Vendors and admins may manage the product and see more than the public.
    let cached = match viewer.map(|v| v.role) {
        Some(Role::Vendor | Role::Admin) => crate::cache::Cached::new(load().await?),
        _ => match state.cache.product_id(&state.pool, &key).await? {
            // Ids and slugs share one entry per product.
            Some(id) => {
                state
                    .cache
                    .get_or_load(Scope::Product(id), format!("product:{id}"), load)
                    .await?
            }
            None => crate::cache::Cached::new(load().await?),
        },
    };
    Ok(cached.respond(&headers))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CreateProduct {
    #[schema(required = true)]
    store_id: Uuid,
    #[schema(required = true)]
    category_id: Uuid,
    #[schema(required = true)]
    product_type_id: Uuid,
    #[schema(required = true, schema_with = bazaar_core::validate::schema::name)]
    name: String,
    /// Made from the name when absent.
    #[schema(schema_with = bazaar_core::validate::schema::slug_or_null)]
    slug: Option<String>,
    /// Upper-case ASCII (`CTEE`); SKUs start with it. Made from the name when absent.
    code: Option<String>,
    description: Option<String>,
    /// Values of the type's product-level attributes.
    attributes: BTreeMap<String, String>,
    active: Option<bool>,
}

/// Create a product in one of the caller's stores (admins: any store). When
/// X (Twitter) is configured, an announcement tweet is enqueued (with the
/// first image, if one is uploaded within `TWITTER_ANNOUNCE_DELAY_SECS`); it
/// never delays or fails the creation.
#[utoipa::path(post, path = "/api/v1/products", tag = "catalog", security(("bearer" = [])),
    request_body = CreateProduct,
    responses((status = 201, body = Product),
        (status = 403, description = "not a vendor, or not the store's owner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "slug or code taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    Json(req): Json<CreateProduct>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let mut tx = state.pool.begin().await?;
    let new = NewProduct {
        store_id: req.store_id,
        category_id: req.category_id,
        type_id: req.product_type_id,
        name: req.name,
        slug: req.slug,
        code: req.code,
        description: req.description,
        attributes: req.attributes,
        active: req.active,
    };
    let id = products::create(&mut tx, user.actor(), new).await?;
    if let Some(twitter) = &state.config.twitter {
        let job = Announce {
            subject: Announced::Product,
            id,
        };
        outbox::enqueue_after(
            &mut tx,
            &state.config.pipeline,
            &job,
            twitter.announce_delay,
        )
        .await?;
    }
    tx.commit().await?;
    state.cache.products_changed(&[id]).await;
    let product = state.pages.managed_view(&state.shop, id).await?;
    Ok((StatusCode::CREATED, Json(product)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateProduct {
    #[schema(schema_with = bazaar_core::validate::schema::name_or_null)]
    name: Option<String>,
    #[schema(schema_with = bazaar_core::validate::schema::slug_or_null)]
    slug: Option<String>,
    description: Option<String>,
    category_id: Option<Uuid>,
    /// Replaces all product-level values.
    attributes: Option<BTreeMap<String, String>>,
    active: Option<bool>,
}

/// Change a product (its store's owner or an admin). The code cannot change:
/// SKUs are made from it.
#[utoipa::path(patch, path = "/api/v1/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "product id")), request_body = UpdateProduct,
    responses((status = 200, body = Product),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<UpdateProduct>,
) -> ApiResult<Json<Product>> {
    let patch = ProductPatch {
        name: req.name,
        slug: req.slug,
        description: req.description,
        category_id: req.category_id,
        attributes: req.attributes,
        active: req.active,
    };
    products::update(&state.pool, user.actor(), id, patch).await?;
    state.cache.products_changed(&[id]).await;
    Ok(Json(state.pages.managed_view(&state.shop, id).await?))
}

/// Delete a product (its store's owner or an admin). It leaves every listing
/// and wishlist; orders and reviews keep their history.
#[utoipa::path(delete, path = "/api/v1/products/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "product id")),
    responses((status = 204), (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    products::delete(&state.pool, user.actor(), id).await?;
    state.cache.products_changed(&[id]).await;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Pagination {
        Pagination {
            page: Some(2),
            per_page: Some(10),
        }
    }

    #[test]
    fn search_parameters_parse_with_repeated_attributes() {
        let q = parse_query(
            "q=cotton+tee&category=tees&min_price=100&max_price=900&in_stock=true&sort=-price&attr.size=M&attr.size=L&attr.color=Red&page=2",
            page(),
        )
        .unwrap();
        assert_eq!(q.q.as_deref(), Some("cotton tee"));
        assert_eq!(q.sort, Sort::PriceDesc);
        assert!(q.in_stock);
        assert_eq!(q.attributes["size"], ["M", "L"]);
        assert_eq!((q.limit, q.offset), (10, 10));
    }

    #[test]
    fn every_bad_search_parameter_is_reported() {
        let Err(e) = parse_query(
            "min_price=-1&max_price=x&sort=cheap&in_stock=maybe&colour=red&attr.Size=M",
            page(),
        ) else {
            panic!("accepted bad parameters")
        };
        let body = format!("{e:?}");
        for field in [
            "min_price",
            "max_price",
            "sort",
            "in_stock",
            "colour",
            "attr.Size",
        ] {
            assert!(body.contains(field), "{field} missing in {body}");
        }
    }

    #[test]
    fn cache_keys_ignore_parameter_order() {
        assert_eq!(canonical("b=2&a=1&a=0"), canonical("a=0&a=1&b=2"));
    }
}

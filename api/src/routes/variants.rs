//! Variants: generated per combination of attribute values, then priced and
//! stocked one by one.

use std::collections::BTreeMap;

use axum::{extract::State, http::StatusCode};
use bazaar_core::{
    catalog::{
        products::{Product, Variant},
        variants::{self, Generate, VariantPatch},
    },
    money::Money,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiResult, Problem},
    extract::{AuthUser, Id, Json},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(generate))
        .routes(routes!(update))
}

/// Variant attribute codes with the values to combine, plus optional
/// defaults for the new variants: `{ "size": ["S","M","L"], "color": ["Red","Blue"],
/// "price": { "amount": 499000, "currency": "KZT" }, "stock": 10 }`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct GenerateVariants {
    price: Option<Money>,
    stock: Option<i32>,
    weight_grams: Option<i32>,
    #[serde(flatten)]
    values: BTreeMap<String, Vec<String>>,
}

/// Written out: its attribute codes are keys beside the named fields,
/// which derive cannot state.
impl utoipa::PartialSchema for GenerateVariants {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let count =
            serde_json::json!({ "type": ["integer", "null"], "format": "int32", "minimum": 0 });
        serde_json::from_value(serde_json::json!({
            "type": "object",
            "properties": {
                "price": {
                    "oneOf": [{ "$ref": "#/components/schemas/Money" }, { "type": "null" }],
                    "description": "Without a price the new variants are inactive (price 0) until \
                        a `PATCH /variants/{id}` gives them one."
                },
                "stock": count,
                "weight_grams": count,
            },
            "additionalProperties": {
                "type": "array",
                "description": "A variant attribute's code -> the values to combine (allowed by the product type)",
                "items": { "type": "string" }
            }
        }))
        .expect("the schema is valid")
    }
}

impl ToSchema for GenerateVariants {}

/// One variant per combination of the values, with SKUs made from the product
/// code and the values (`CTEE-S-RED`); combinations the product already has
/// are skipped. Values the type does not allow: 422; a SKU in use: 409.
#[utoipa::path(post, path = "/api/v1/products/{id}/variants/generate", tag = "catalog",
    security(("bearer" = [])), params(("id" = Uuid, Path, description = "product id")),
    request_body = GenerateVariants,
    responses((status = 201, description = "the product with all its variants", body = Product),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "a SKU is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn generate(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(req): Json<GenerateVariants>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    let request = Generate {
        values: req.values,
        price: req.price,
        stock: req.stock,
        weight_grams: req.weight_grams,
    };
    variants::generate(&state.pool, &state.shop, user.actor(), id, request).await?;
    state.cache.products_changed(&[id]).await;
    Ok((
        StatusCode::CREATED,
        Json(state.pages.managed_view(&state.shop, id).await?),
    ))
}

/// Change a variant's price, stock, weight or activity (the store's owner or
/// an admin). Pricing a variant generated without a price also activates it,
/// unless `active: false` is sent. A lower price e-mails the customers who asked for price-drop
/// alerts on the product.
#[utoipa::path(patch, path = "/api/v1/variants/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "variant id")), request_body = VariantPatch,
    responses((status = 200, body = Variant),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "stock below what pending orders hold", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    Id(id): Id,
    Json(patch): Json<VariantPatch>,
) -> ApiResult<Json<Variant>> {
    let stock_only =
        patch.price.is_none() && patch.active.is_none() && patch.weight_grams.is_none();
    let product = variants::update(&state.pool, &state.shop, user.actor(), id, patch).await?;
    if stock_only {
        // Only this product's availability moved; listings may show it sold
        // out or back.
        let availability = bazaar_core::catalog::Availability::of(product);
        state.cache.availability_changed(&availability).await;
    } else {
        state.cache.products_changed(&[product]).await;
    }
    state
        .pages
        .managed_view(&state.shop, product)
        .await?
        .variants
        .into_iter()
        .find(|v| v.id == id)
        .map(Json)
        .ok_or_else(|| bazaar_core::Error::NotFound.into())
}

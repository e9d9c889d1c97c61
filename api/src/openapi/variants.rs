//! Request schemas one Rust type cannot state for every operation that
//! takes it: an input shared by create and update is required-in-part on
//! create only, and a price sent to the shop must be in the shop's currency
//! and bounded. Each variant is a copy of the derived schema, edited, under
//! its own name, used by the operations named here; the fuzzer
//! (tests/e2e/fuzz.rs) holds the server to each.

use serde_json::{json, Value};
use utoipa::openapi::{OpenApi, RefOr, Schema};

use super::operations;

/// Fields a create requires that its shared input leaves optional (the
/// update keeps what is not sent).
const CREATE_REQUIRES: &[(&str, &str, &str, &[&str])] = &[
    (
        "/api/v1/admin/banners",
        "BannerInput",
        "NewBanner",
        &["title", "image_url"],
    ),
    (
        "/api/v1/admin/pages",
        "PageInput",
        "NewPage",
        &["slug", "title", "body"],
    ),
    (
        "/api/v1/admin/coupons",
        "CouponInput",
        "NewCoupon",
        &["code", "kind", "value"],
    ),
    (
        "/api/v1/admin/shipping-methods",
        "ShippingMethodInput",
        "NewShippingMethod",
        &["name", "price"],
    ),
];

pub(super) fn split_shared_inputs(openapi: &mut OpenApi) {
    // An upload takes its one `file` part and refuses others (a derived
    // schema of a type without serde cannot say so).
    if let Some(components) = openapi.components.as_mut() {
        if let Some(upload) = components.schemas.get_mut("ImageUpload") {
            if let Ok(mut v) = serde_json::to_value(&*upload) {
                v["additionalProperties"] = json!(false);
                *upload = from_value(v);
            }
        }
    }
    for (path, from, to, fields) in CREATE_REQUIRES {
        variant(openapi, from, to, &[("post", path)], |schema| {
            for field in *fields {
                require(schema, field);
            }
        });
    }
    // An address update keeps what is not sent (or sent as null); a new one
    // needs its every required line.
    variant(
        openapi,
        "AddressInput",
        "AddressPatch",
        &[("patch", "/api/v1/me/addresses/{id}")],
        |schema| {
            schema.as_object_mut().map(|o| o.remove("required"));
            for property in properties(schema) {
                if property["type"] == "string" {
                    property["type"] = json!(["string", "null"]);
                }
            }
        },
    );
}

/// Request bodies' `Money` becomes `Price`: the shop's currency (anything
/// else is a 422) and 0 to `MAX_PRICE` minor units. Marketplace listing
/// prices are in the marketplace's currency and keep `Money`.
pub(super) fn prices_in_shop_currency(openapi: &mut OpenApi, currency: &str) {
    let price = json!({
        "type": "object",
        "description": "An amount in the shop's currency.",
        "required": ["amount", "currency"],
        "properties": {
            "amount": {
                "type": "integer",
                "format": "int64",
                "minimum": 0,
                "maximum": bazaar_core::commerce::pricing::MAX_PRICE,
                "description": "Minor units (tiyn, cents)."
            },
            "currency": { "type": "string", "enum": [currency] }
        },
        "additionalProperties": false
    });
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    components.schemas.insert("Price".into(), from_value(price));
    let bodies: Vec<String> = request_bodies(openapi)
        .into_iter()
        .filter(|name| name != "ListingInput")
        .collect();
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for name in bodies {
        let Some(schema) = components.schemas.get_mut(&name) else {
            continue;
        };
        let text = serde_json::to_string(schema).unwrap_or_default();
        if text.contains("#/components/schemas/Money") {
            let text = text.replace("#/components/schemas/Money", "#/components/schemas/Price");
            if let Ok(edited) = serde_json::from_str(&text) {
                *schema = edited;
            }
        }
    }
}

/// The component schemas request bodies refer to.
pub(super) fn request_bodies(openapi: &mut OpenApi) -> Vec<String> {
    let mut names = Vec::new();
    for (_, _, op) in operations(openapi) {
        let Some(RefOr::T(body)) = &op.request_body else {
            continue;
        };
        for content in body.content.values() {
            let Ok(v) = serde_json::to_value(content) else {
                continue;
            };
            if let Some(name) = v["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// Adds component `to`, a copy of `from` changed by `edit`, and points the
/// request bodies of the operations `(method, path)` at it.
fn variant(
    openapi: &mut OpenApi,
    from: &str,
    to: &str,
    ops: &[(&str, &str)],
    edit: impl Fn(&mut Value),
) {
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    let Some(mut schema) = components
        .schemas
        .get(from)
        .and_then(|s| serde_json::to_value(s).ok())
    else {
        return;
    };
    edit(&mut schema);
    components.schemas.insert(to.into(), from_value(schema));
    let (old, new) = (
        format!("#/components/schemas/{from}"),
        format!("#/components/schemas/{to}"),
    );
    for (method, path, op) in operations(openapi) {
        if !ops.contains(&(method, path.as_str())) {
            continue;
        }
        let Some(RefOr::T(body)) = &mut op.request_body else {
            continue;
        };
        let Ok(text) = serde_json::to_string(body) else {
            continue;
        };
        if let Ok(edited) = serde_json::from_str(&text.replace(&old, &new)) {
            *body = edited;
        }
    }
}

/// Makes `field` required and not null: `["string", "null"]` becomes
/// `"string"`, `oneOf: [X, null]` becomes `X`.
fn require(schema: &mut Value, field: &str) {
    let required = schema
        .as_object_mut()
        .map(|o| o.entry("required").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = required {
        if !list.iter().any(|f| f == field) {
            list.push(json!(field));
        }
    }
    let Some(property) = schema["properties"].get_mut(field) else {
        return;
    };
    if let Some(Value::Array(types)) = property.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            property["type"] = types[0].clone();
        }
    }
    if let Some(Value::Array(one_of)) = property.get("oneOf").cloned() {
        let not_null: Vec<Value> = one_of.into_iter().filter(|s| s["type"] != "null").collect();
        if let [only] = not_null.as_slice() {
            let description = property.get("description").cloned();
            *property = only.clone();
            if let Some(d) = description {
                property["description"] = d;
            }
        }
    }
}

fn properties(schema: &mut Value) -> Vec<&mut Value> {
    match schema.get_mut("properties") {
        Some(Value::Object(map)) => map.values_mut().collect(),
        _ => Vec::new(),
    }
}

fn from_value(v: Value) -> RefOr<Schema> {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("a schema built here deserializes: {e}"))
}

//! The OpenAPI 3.1 document: paths come from the handlers' `#[utoipa::path]`
//! annotations, collected by `utoipa_axum`; this adds the metadata.

use std::collections::HashMap;

use utoipa::{
    openapi::{
        content::ContentBuilder,
        header::HeaderBuilder,
        path::{Operation, ParameterIn},
        response::ResponseBuilder,
        schema::{Object, Schema, Type},
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        InfoBuilder, OpenApi, Ref, RefOr,
    },
    Modify,
};

mod variants;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from register, login or refresh. It lives \
                         ACCESS_TOKEN_TTL_SECS (900 s by default; `expires_in` says how long) and \
                         ends sooner with its session: logout, a password reset or a reused \
                         refresh token end it at once (401), as does deleting the account. \
                         Refresh it with POST /api/v1/auth/refresh.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The finished document as the JSON served at `/openapi.json`, made once:
/// the document's tree held about 3.5 MiB of the API's memory for the
/// process's life (0.3 MB as JSON) and was serialised again per request.
pub fn document(openapi: OpenApi, currency: &str) -> bytes::Bytes {
    let json = serde_json::to_vec(&finish(openapi, currency)).expect("the document serialises");
    bytes::Bytes::from(json.into_boxed_slice())
}

/// `currency`: the shop's; prices sent to it must be in it.
fn finish(mut openapi: OpenApi, currency: &str) -> OpenApi {
    openapi.info = InfoBuilder::new()
        .title("bazaar")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "E-commerce backend. Errors are RFC 9457 problem details (application/problem+json); \
             a 422 lists every invalid field. Money is { amount (integer minor units), currency }. \
             Lists take ?page=&per_page= (per_page <= 100). Request bodies are JSON objects; \
             unknown fields are refused, text may not contain NUL (U+0000), and a whole number \
             may be written as 5.0.",
        ))
        .build();
    BearerAuth.modify(&mut openapi);
    unique_operation_ids(&mut openapi);
    declare_standard_answers(&mut openapi);
    describe_responses(&mut openapi);
    declare_headers(&mut openapi);
    drop_defaults_of_required(&mut openapi);
    variants::split_shared_inputs(&mut openapi);
    variants::prices_in_shop_currency(&mut openapi, currency);
    openapi
}

/// Every operation of the document with its method and path.
fn operations(openapi: &mut OpenApi) -> Vec<(&'static str, String, &mut Operation)> {
    let mut all = Vec::new();
    for (path, item) in openapi.paths.paths.iter_mut() {
        for (method, op) in [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ] {
            if let Some(op) = op {
                all.push((method, path.clone(), op));
            }
        }
    }
    all
}

/// Handlers are named for what they do within their module (`list`,
/// `create`, `get`), so several operations share an id, and client
/// generators then make one method of them. A shared id is replaced by one
/// made of the method and the path (`get_admin_coupons_by_id`), which is
/// unique because a method and a path are.
fn unique_operation_ids(openapi: &mut OpenApi) {
    let mut uses: HashMap<String, usize> = HashMap::new();
    for (_, _, op) in operations(openapi) {
        if let Some(id) = &op.operation_id {
            *uses.entry(id.clone()).or_default() += 1;
        }
    }
    for (method, path, op) in operations(openapi) {
        let shared = op
            .operation_id
            .as_ref()
            .is_none_or(|id| uses.get(id).copied().unwrap_or(0) > 1);
        if shared {
            op.operation_id = Some(id_from(method, &path));
        }
    }
}

fn id_from(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .trim_start_matches("/api/v1")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => format!("by_{param}"),
                None => s.replace(['-', '.'], "_"),
            },
        )
        .collect();
    format!("{method}_{}", words.join("_"))
}

/// What a status means across the API (`API.md`, Conventions), for the
/// responses whose handler did not say more.
fn standard_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted: the work continues in the background",
        "204" => "Done; no body",
        "304" => "Not modified since the ETag sent in If-None-Match",
        "400" => "Malformed request",
        "401" => "No valid access token (or the session has ended)",
        "403" => "The caller may not do this",
        "404" => "Not found, or not visible to the caller",
        "409" => "Conflicts with the current state (stock, status, a taken name)",
        "413" => "The body is too large",
        "415" => "Wrong content type",
        "422" => "Validation failed: `errors` lists every invalid field",
        "429" => "Rate-limited: try again after Retry-After seconds",
        "503" => "Overloaded or a dependency is down: try again after Retry-After seconds",
        _ => "See the operation's description",
    }
}

/// Whether `op` takes the bearer token (required or optional).
fn takes_bearer(op: &Operation) -> bool {
    op.security.iter().flatten().any(|req| {
        serde_json::to_value(req)
            .ok()
            .and_then(|v| v.as_object().map(|o| o.contains_key("bearer")))
            .unwrap_or(false)
    })
}

/// Whether `op` takes query parameters (each is validated: 422).
fn has_query(op: &Operation) -> bool {
    takes(op, ParameterIn::Query)
}

fn has_header(op: &Operation) -> bool {
    takes(op, ParameterIn::Header)
}

fn takes(op: &Operation, place: ParameterIn) -> bool {
    op.parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
}

/// The answers every operation of a kind can give, whether or not its
/// handler listed them: a secured one 401 (no valid token) and 403 (not its
/// role or not its object), one with query parameters 422 (invalid values),
/// one with a body 400 (malformed), 409 (conflicts with what exists), 413
/// (too large), 415 (not JSON) and 422 (invalid fields), each a problem+json.
fn declare_standard_answers(openapi: &mut OpenApi) {
    for (_, _, op) in operations(openapi) {
        let mut add = Vec::new();
        if takes_bearer(op) {
            // Every operation behind a token checks a role or an owner.
            add.extend(["401", "403"]);
        }
        if has_query(op) {
            add.push("422");
        }
        if has_header(op) {
            // A malformed header (`X-Cart-Token`, `Idempotency-Key`).
            add.push("400");
        }
        if op.request_body.is_some() {
            // 409: a taken name, code or slug, or a state that forbids it.
            add.extend(["400", "409", "413", "415", "422"]);
        }
        for status in add {
            if op.responses.responses.contains_key(status) {
                continue;
            }
            let problem = ResponseBuilder::new()
                .description(standard_description(status))
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build();
            op.responses
                .responses
                .insert(status.to_owned(), RefOr::T(problem));
        }
    }
}

/// Catalogue reads served through the cache: they carry an `ETag` and
/// answer `If-None-Match` with 304.
const ETAGGED: &[&str] = &[
    "/api/v1/products",
    "/api/v1/products/{id}",
    "/api/v1/categories",
];

fn header(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    RefOr::T(
        HeaderBuilder::new()
            .description(Some(description.to_owned()))
            .build(),
    )
}

/// `x-request-id` on every response (API.md: every response carries it),
/// `Retry-After` on every 429 and 503, `ETag` (and the 304) on cached
/// catalogue reads, `X-Cart-Token` on a guest's cart.
fn declare_headers(openapi: &mut OpenApi) {
    for (method, path, op) in operations(openapi) {
        let etagged = method == "get" && ETAGGED.contains(&path.as_str());
        if etagged {
            op.responses
                .responses
                .entry("304".into())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description(standard_description("304"))
                            .build(),
                    )
                });
        }
        let cart = path.starts_with("/api/v1/cart");
        for (status, response) in op.responses.responses.iter_mut() {
            let RefOr::T(r) = response else { continue };
            if status.starts_with('2') && cart {
                r.headers.entry("X-Cart-Token".into()).or_insert_with(|| {
                    header("The guest's cart token, when the cart is a guest's: send it back on every cart request")
                });
            }
            if etagged && (status.starts_with('2') || status == "304") {
                r.headers
                    .entry("ETag".into())
                    .or_insert_with(|| header("The body's entity tag, for If-None-Match"));
            }
            r.headers.entry("x-request-id".into()).or_insert_with(|| {
                RefOr::T(
                    HeaderBuilder::new()
                        .description(Some(
                            "The request's id: the client's own when it sent a valid one \
                             (up to 128 visible ASCII characters), otherwise a new one",
                        ))
                        .build(),
                )
            });
            if status == "429" || status == "503" {
                r.headers.entry("Retry-After".into()).or_insert_with(|| {
                    RefOr::T(
                        HeaderBuilder::new()
                            .schema(Some(Object::with_type(Type::Integer)))
                            .description(Some("Seconds to wait before trying again"))
                            .build(),
                    )
                });
            }
        }
    }
}

/// Request bodies derive `Default` (a missing field is a 422 naming it
/// among every other problem, not serde's first error), so utoipa gives each
/// field the Rust default as its `default`: `""` for a name, the nil UUID for
/// an id. For a required field that is wrong (and a client generator would
/// send it): dropped.
fn drop_defaults_of_required(openapi: &mut OpenApi) {
    let bodies = variants::request_bodies(openapi);
    let Some(components) = openapi.components.as_mut() else {
        return;
    };
    for name in bodies {
        let Some(RefOr::T(Schema::Object(body))) = components.schemas.get_mut(&name) else {
            continue;
        };
        for field in &body.required {
            let Some(property) = body.properties.get_mut(field) else {
                continue;
            };
            // A plain schema, or a reference wrapped to carry the default.
            if let Ok(mut v) = serde_json::to_value(&*property) {
                if v.as_object_mut()
                    .and_then(|o| o.remove("default"))
                    .is_some()
                {
                    if let Ok(without) = serde_json::from_value(v) {
                        *property = without;
                    }
                }
            }
        }
    }
}

fn describe_responses(openapi: &mut OpenApi) {
    for (_, _, op) in operations(openapi) {
        for (status, response) in op.responses.responses.iter_mut() {
            if let RefOr::T(r) = response {
                if r.description.trim().is_empty() {
                    r.description = standard_description(status).to_owned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::id_from;

    #[test]
    fn ids_from_method_and_path_are_readable() {
        assert_eq!(
            id_from("get", "/api/v1/admin/coupons/{id}"),
            "get_admin_coupons_by_id"
        );
        assert_eq!(
            id_from("post", "/api/v1/product-types"),
            "post_product_types"
        );
        assert_eq!(id_from("get", "/feeds/kaspi.xml"), "get_feeds_kaspi_xml");
    }
}

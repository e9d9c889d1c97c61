//! The OpenAPI 3.1 document: paths come from the handlers' `#[utoipa::path]`
//! annotations, collected by `utoipa_axum`; this adds the metadata.

use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        InfoBuilder, OpenApi,
    },
    Modify,
};

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

pub fn finish(mut openapi: OpenApi) -> OpenApi {
    openapi.info = InfoBuilder::new()
        .title("bazaar")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "E-commerce backend. Errors are RFC 9457 problem details (application/problem+json). \
             Money is { amount (integer minor units), currency }. Lists take ?page=&per_page= (per_page <= 100).",
        ))
        .build();
    BearerAuth.modify(&mut openapi);
    openapi
}

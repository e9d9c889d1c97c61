//! `POST /api/v1/contact`: the storefront's contact form.

use std::time::Duration;

use axum::{extract::State, http::StatusCode};
use bazaar_core::contact::{self, ContactMessage};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{ClientIp, Json, MaybeUser},
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(send))
}

/// Mails a message to the shop (through the outbox: it is sent even if the
/// mail server is down right now). A signed-in sender also gets a copy, at
/// their account's address. Limited per client address.
#[utoipa::path(post, path = "/api/v1/contact", tag = "cms", operation_id = "send_contact_message",
    request_body = ContactMessage,
    security((), ("bearer" = [])),
    responses((status = 202, description = "accepted: the mail is on its way"),
        (status = 401, description = "a bearer token was sent and is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "every invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "too many messages from this address",
            headers(("Retry-After" = u64, description = "seconds")), body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "no shop address is configured (SHOP_EMAIL)", body = Problem, content_type = "application/problem+json")))]
async fn send(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    MaybeUser(user): MaybeUser,
    Json(message): Json<ContactMessage>,
) -> ApiResult<StatusCode> {
    let Some(shop_email) = state.config.back_office.shop_email.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-configured",
            "the contact form has no address to mail (set SHOP_EMAIL)",
        ));
    };
    let checked = contact::check(message)?;
    if !checked.robot {
        // Only messages that would be mailed count against the limit.
        state
            .auth
            .limiter
            .hit(
                &format!("contact:ip:{ip}"),
                state.config.back_office.contact_per_ip_per_hour,
                Duration::from_secs(3600),
            )
            .await
            .map_err(bazaar_core::Error::from)?;
    }
    contact::send(
        &state.pool,
        &state.shop,
        &shop_email,
        user.map(|u| u.id),
        checked,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

//! Inbound payment webhooks: verify the signature over the raw body, store
//! the event once by id (with its processing job, through the outbox), 200.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use bazaar_core::commerce::{
    gateway::{WebhookRejection, WebhookVerifier},
    payments,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::Json,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(stripe))
        .routes(routes!(kaspi))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    received: bool,
    /// False when this event id was received before.
    new: bool,
}

fn disabled(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "disabled",
        format!("{what} webhooks are not configured"),
    )
}

/// Verifies the request with the provider's verifier and stores the event.
async fn receive(
    state: &AppState,
    verifier: Option<&dyn WebhookVerifier>,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Json<Received>> {
    let verifier = verifier.ok_or_else(|| disabled(name))?;
    let signature = headers
        .get(verifier.signature_header())
        .and_then(|v| v.to_str().ok());
    let event = verifier
        .verify(signature, body, chrono::Utc::now().timestamp())
        .map_err(|e| {
            let kind = match e {
                WebhookRejection::Signature(_) => "bad-signature",
                WebhookRejection::NotJson => "malformed-json",
                WebhookRejection::NotAnEvent(_) => "bad-request",
            };
            ApiError::new(StatusCode::BAD_REQUEST, kind, e.to_string())
        })?;
    let new = payments::record_event(&state.pool, &state.shop, verifier.provider(), &event).await?;
    Ok(Json(Received {
        received: true,
        new,
    }))
}

/// Stripe events (`Stripe-Signature`, 300 s tolerance, any `v1` may match).
/// Handled: payment_intent.succeeded, payment_intent.payment_failed,
/// payment_intent.canceled, charge.refunded; others are stored and ignored.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header)),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = Received),
        (status = 400, description = "bad signature, stale timestamp or not an event", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "STRIPE_WEBHOOK_SECRET unset", body = Problem, content_type = "application/problem+json")))]
async fn stripe(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let verifier = state.payments.stripe_webhook.clone();
    receive(&state, verifier.as_deref(), "stripe", &headers, &body).await
}

/// Kaspi payment notifications: `X-Kaspi-Signature` = hex HMAC-SHA256 of the
/// raw body with `KASPI_WEBHOOK_SECRET`. Body: `{ id, type
/// (payment.succeeded, payment.failed, payment.refunded), order_number,
/// amount (minor units), currency }`.
#[utoipa::path(post, path = "/webhooks/kaspi", tag = "webhooks",
    params(("X-Kaspi-Signature" = String, Header)),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = Received),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "KASPI_WEBHOOK_SECRET unset", body = Problem, content_type = "application/problem+json")))]
async fn kaspi(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Received>> {
    let verifier = state.payments.kaspi_webhook.clone();
    receive(&state, verifier.as_deref(), "kaspi", &headers, &body).await
}

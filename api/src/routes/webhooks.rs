//! Inbound payment webhooks: verify the signature over the raw body, store
//! the event once by id (with its processing job, through the outbox), 200.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use bazaar_core::commerce::{
    payments::{self, Provider},
    webhook_signature::{verify_hex_hmac, verify_stripe},
};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::Json,
    AppState,
};

/// Stripe's documented tolerance for the signed timestamp.
const STRIPE_TOLERANCE_SECS: i64 = 300;

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

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-signature", detail)
}

fn disabled(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "disabled",
        format!("{what} webhooks are not configured"),
    )
}

/// The event's id and type, which every provider event carries.
fn envelope(body: &[u8], id: &str, kind: &str) -> ApiResult<(Value, String, String)> {
    let v: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "the body is not JSON",
        )
    })?;
    let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match (field(id), field(kind)) {
        (Some(i), Some(k)) if !i.is_empty() && i.len() <= 255 => Ok((v.clone(), i, k)),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("the event needs string fields {id} and {kind}"),
        )),
    }
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
    let secret = state
        .config
        .commerce
        .stripe
        .as_ref()
        .and_then(|s| s.webhook_secret.as_ref())
        .ok_or_else(|| disabled("stripe"))?;
    let header = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("Stripe-Signature is missing"))?;
    verify_stripe(
        header,
        &body,
        secret.expose_secret().as_bytes(),
        chrono::Utc::now().timestamp(),
        STRIPE_TOLERANCE_SECS,
    )
    .map_err(|e| bad(e.to_string()))?;
    let (event, id, kind) = envelope(&body, "id", "type")?;
    let new = payments::record_event(
        &state.pool,
        &state.rules,
        Provider::Stripe,
        &id,
        &kind,
        &event,
    )
    .await?;
    Ok(Json(Received {
        received: true,
        new,
    }))
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
    let secret = state
        .config
        .commerce
        .kaspi_webhook_secret
        .as_ref()
        .ok_or_else(|| disabled("kaspi"))?;
    let header = headers
        .get("x-kaspi-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| bad("X-Kaspi-Signature is missing"))?;
    verify_hex_hmac(header, &body, secret.expose_secret().as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    let (event, id, kind) = envelope(&body, "id", "type")?;
    let new = payments::record_event(
        &state.pool,
        &state.rules,
        Provider::Kaspi,
        &id,
        &kind,
        &event,
    )
    .await?;
    Ok(Json(Received {
        received: true,
        new,
    }))
}

//! Inbound payment webhooks: verify the signature over the raw body, store
//! the event once by id (with its processing job, through the outbox), 200.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
};
use axum::{extract::Query, response::IntoResponse};
use bazaar_core::{
    commerce::gateway::{WebhookRejection, WebhookVerifier},
    messaging::inbound::{same_secret, InboundRejection, InboundWebhook},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
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
        .routes(routes!(telegram))
        .routes(routes!(whatsapp_handshake, whatsapp))
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
    // Stored (group commit with concurrent deliveries) before the 200.
    let new = state
        .payment_events
        .record(vec![(verifier.provider(), event)])
        .await?;
    Ok(Json(Received {
        received: true,
        new: new > 0,
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

/// Answer to a messenger webhook: how many of its deliveries were new.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ingested {
    received: bool,
    /// Deliveries stored now (0 for a redelivery).
    new: usize,
}

/// Checks the request with the messenger's webhook and stores each
/// delivery once, with its `inbound.*` job. 401 without the right secret or
/// signature, and nothing is stored.
async fn ingest(
    state: &AppState,
    hook: Option<&dyn InboundWebhook>,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiResult<Json<Ingested>> {
    let hook = hook.ok_or_else(|| disabled(name))?;
    let auth = headers
        .get(hook.auth_header())
        .and_then(|v| v.to_str().ok());
    let deliveries = hook.verify(auth, body).map_err(|e| match e {
        InboundRejection::Unauthorized(why) => ApiError::unauthorized(why),
        InboundRejection::Malformed(why) => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad-request", why)
        }
    })?;
    let new = state.ingest.record(deliveries).await?;
    Ok(Json(Ingested {
        received: true,
        new,
    }))
}

/// Telegram bot updates (`setWebhook` with `secret_token`): the
/// `X-Telegram-Bot-Api-Secret-Token` header must carry
/// `TELEGRAM_WEBHOOK_SECRET`. Stored once by `update_id` and answered by the
/// bot from the `inbound` queue.
#[utoipa::path(post, path = "/webhooks/telegram", tag = "webhooks",
    params(("X-Telegram-Bot-Api-Secret-Token" = String, Header)),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = Ingested),
        (status = 400, description = "not a Telegram update", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or wrong secret", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "TELEGRAM_WEBHOOK_SECRET unset, or overloaded", body = Problem, content_type = "application/problem+json")))]
async fn telegram(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Ingested>> {
    let hook = state.messengers.telegram.clone();
    ingest(&state, hook.as_deref(), "telegram", &headers, &body).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Meta's verification handshake: with `hub.mode=subscribe` and the
/// configured `WHATSAPP_VERIFY_TOKEN`, the answer is `hub.challenge` itself.
#[utoipa::path(get, path = "/webhooks/whatsapp", tag = "webhooks",
    params(Handshake),
    responses((status = 200, description = "the challenge, as text/plain", body = String, content_type = "text/plain"),
        (status = 403, description = "wrong mode or token", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "WHATSAPP_VERIFY_TOKEN unset", body = Problem, content_type = "application/problem+json")))]
async fn whatsapp_handshake(
    State(state): State<AppState>,
    query: Result<Query<Handshake>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<axum::response::Response> {
    let expected = state
        .messengers
        .whatsapp_verify_token
        .as_ref()
        .ok_or_else(|| disabled("whatsapp"))?;
    let q = query.map(|Query(q)| q).ok();
    let ok = q.as_ref().is_some_and(|q| {
        q.mode.as_deref() == Some("subscribe")
            && q.verify_token
                .as_deref()
                .is_some_and(|t| same_secret(t.as_bytes(), expected.expose_secret().as_bytes()))
    });
    match (ok, q.and_then(|q| q.challenge)) {
        (true, Some(challenge)) if challenge.len() <= 256 => Ok((
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            challenge,
        )
            .into_response()),
        _ => Err(ApiError::forbidden("verification failed")),
    }
}

/// WhatsApp Cloud API webhooks: `X-Hub-Signature-256` over the raw body with
/// `WHATSAPP_APP_SECRET`. Each message is stored once by its id and each
/// status once by (message id, status); the `inbound` queue handles them.
#[utoipa::path(post, path = "/webhooks/whatsapp", tag = "webhooks",
    params(("X-Hub-Signature-256" = String, Header)),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = Ingested),
        (status = 400, description = "not a WhatsApp webhook", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "missing or wrong signature", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "WHATSAPP_APP_SECRET unset, or overloaded", body = Problem, content_type = "application/problem+json")))]
async fn whatsapp(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Ingested>> {
    let hook = state.messengers.whatsapp.clone();
    ingest(&state, hook.as_deref(), "whatsapp", &headers, &body).await
}

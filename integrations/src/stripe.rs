//! Stripe, all of it: the client (a PaymentIntent at checkout, a refund or a
//! cancel later; form-encoded, the secret key as a bearer token, every POST
//! with an idempotency key so a retried job gets Stripe's first answer back
//! instead of a second charge or refund), the webhook signature
//! (`Stripe-Signature`), and the events read into `PaymentReport`s. The base
//! URL is configurable so tests and staging can use a fake server.

use std::time::Duration;

use bazaar_core::{
    commerce::{
        gateway::{
            Intent, IntentRequest, PaymentGateway, VerifiedEvent, WebhookRejection, WebhookVerifier,
        },
        payments::{PaymentReport, Provider},
    },
    provider::ProviderError,
};
use hmac::{Hmac, Mac};
use reqwest::{header::HeaderMap, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::Value;
use sha2::Sha256;

use crate::http::retry_after;
use crate::webhook::{parse_event, text};

#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_url: String,
    secret_key: SecretString,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    /// Handed to the customer's browser to confirm the payment; not for logs.
    pub client_secret: Option<String>,
    pub amount: i64,
    /// Lower-case, as Stripe answers ("kzt").
    pub currency: String,
    pub status: String,
}

impl std::fmt::Debug for PaymentIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentIntent")
            .field("id", &self.id)
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    pub id: String,
    pub status: Option<String>,
    pub amount: i64,
}

impl StripeClient {
    /// api_url e.g. "https://api.stripe.com".
    pub fn new(api_url: &str, secret_key: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            // Fails only if the TLS backend cannot start, where Client::new() panics too.
            .expect("HTTP client for Stripe");
        Self {
            http,
            api_url: api_url.trim_end_matches('/').to_owned(),
            secret_key,
        }
    }

    /// `amount` in minor units; `currency` an ISO 4217 code in any case
    /// (Stripe takes it lower-case).
    pub async fn create_payment_intent(
        &self,
        amount: i64,
        currency: &str,
        order_number: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, ProviderError> {
        let amount = amount.to_string();
        let currency = currency.to_ascii_lowercase();
        let form = [
            ("amount", amount.as_str()),
            ("currency", currency.as_str()),
            ("automatic_payment_methods[enabled]", "true"),
            ("metadata[order_number]", order_number),
        ];
        self.post("/v1/payment_intents", &form, idempotency_key)
            .await
    }

    /// Cancels a payment intent nobody paid, so it cannot be paid later.
    pub async fn cancel_payment_intent(
        &self,
        payment_intent: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, ProviderError> {
        let path = format!("/v1/payment_intents/{payment_intent}/cancel");
        self.post(&path, &[], idempotency_key).await
    }

    /// Refunds the whole of the payment intent's charge.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        idempotency_key: &str,
    ) -> Result<Refund, ProviderError> {
        let form = [("payment_intent", payment_intent)];
        self.post("/v1/refunds", &form, idempotency_key).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<T, ProviderError> {
        let response = self
            .http
            .post(format!("{}{path}", self.api_url))
            // reqwest marks the header sensitive, so it is never printed.
            .bearer_auth(self.secret_key.expose_secret())
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        success_body(response).await
    }
}

async fn success_body<T: DeserializeOwned>(response: Response) -> Result<T, ProviderError> {
    let status = response.status();
    if status.is_success() {
        let bytes = response.bytes().await.map_err(transport)?;
        // With the same idempotency key Stripe replays this answer, so a
        // retry is safe and may read it whole.
        return serde_json::from_slice(&bytes).map_err(|e| {
            // Not the body: a payment intent carries its client secret.
            unreachable(format!("unreadable answer from Stripe ({e})"))
        });
    }
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Err(classify(status, &headers, &body))
}

/// 429, 409 and 5xx are worth retrying (as Stripe's own libraries do), any
/// other status is final; an explicit `Stripe-Should-Retry` header wins.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ProviderError {
    let mut message = error_reason(body);
    if let Some(request_id) = headers.get("request-id").and_then(|v| v.to_str().ok()) {
        message.push_str(&format!(" [{request_id}]"));
    }
    let should_retry = headers
        .get("stripe-should-retry")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let retryable = match should_retry {
        Some("true") => true,
        Some("false") => false,
        _ => {
            status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::CONFLICT
                || status.is_server_error()
        }
    };
    match (retryable, retry_after(headers)) {
        (false, _) => ProviderError::Rejected {
            status: status.as_u16(),
            body: message,
        },
        (true, Some(after)) => ProviderError::RateLimited {
            retry_after: Some(after),
        },
        (true, None) if status == StatusCode::TOO_MANY_REQUESTS => {
            ProviderError::RateLimited { retry_after: None }
        }
        (true, None) => unreachable(format!("{status}: {message}")),
    }
}

/// Stripe answers `{"error": {"type", "code", "message", "param", ...}}`.
fn error_reason(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return excerpt(body);
    };
    let error = &v["error"];
    let details: Vec<String> = [
        error["type"].as_str().map(str::to_owned),
        error["code"].as_str().map(str::to_owned),
        error["decline_code"].as_str().map(str::to_owned),
        error["param"].as_str().map(|p| format!("param {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    match (error["message"].as_str(), details.is_empty()) {
        (Some(message), true) => message.to_owned(),
        (Some(message), false) => format!("{message} ({})", details.join(", ")),
        (None, false) => details.join(", "),
        (None, true) => excerpt(body),
    }
}

fn excerpt(s: &str) -> String {
    ProviderError::excerpt(s)
}

/// reqwest's own message hides the cause (refused, timed out, TLS), which is
/// what an operator needs. A request that could not even be built (e.g. an
/// idempotency key that is not a valid header value) will never succeed.
fn transport(e: reqwest::Error) -> ProviderError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if e.is_builder() {
        // Never sent: there is no status.
        ProviderError::Rejected {
            status: 0,
            body: message,
        }
    } else {
        unreachable(message)
    }
}

/// Checkout's card payments (`bazaar_core::commerce::gateway`).
#[async_trait::async_trait]
impl PaymentGateway for StripeClient {
    async fn create_intent(&self, r: IntentRequest<'_>) -> Result<Intent, ProviderError> {
        let intent = self
            .create_payment_intent(r.amount, r.currency, r.order_number, r.idempotency_key)
            .await?;
        Ok(Intent {
            id: intent.id,
            client_secret: intent.client_secret,
        })
    }

    async fn cancel_intent(
        &self,
        intent: &str,
        idempotency_key: &str,
    ) -> Result<(), ProviderError> {
        self.cancel_payment_intent(intent, idempotency_key)
            .await
            .map(|_| ())
    }

    async fn refund(&self, intent: &str, idempotency_key: &str) -> Result<String, ProviderError> {
        Ok(self.create_refund(intent, idempotency_key).await?.id)
    }
}

// ---- Webhooks ------------------------------------------------------------

/// The header Stripe signs its webhooks in.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// Stripe's documented tolerance for the signed timestamp.
pub const TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed signature header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

/// Stripe's webhooks, checked with `STRIPE_WEBHOOK_SECRET`.
pub struct StripeWebhook {
    secret: SecretString,
}

impl StripeWebhook {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }
}

impl WebhookVerifier for StripeWebhook {
    fn provider(&self) -> Provider {
        Provider::Stripe
    }

    fn signature_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    fn verify(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now_unix: i64,
    ) -> Result<VerifiedEvent, WebhookRejection> {
        let header = signature
            .ok_or_else(|| WebhookRejection::Signature("Stripe-Signature is missing".into()))?;
        verify_signature(
            header,
            body,
            self.secret.expose_secret().as_bytes(),
            now_unix,
            TOLERANCE_SECS,
        )
        .map_err(|e| WebhookRejection::Signature(e.to_string()))?;
        parse_event(body, "id", "type")
    }
}

/// Stripe-Signature: `t=<unix>,v1=<hex>[,v1=<hex>...]` (other schemes like v0
/// ignored); valid if any v1 equals hex(HMAC-SHA256(secret, "{t}.{body}")) in
/// constant time and |now - t| <= tolerance_secs. Returns t.
///
/// The signature is checked before the timestamp, as Stripe's libraries do:
/// `Stale` then always means a genuine but old (or early) delivery.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((scheme, value)) = part.trim().split_once('=') else {
            continue;
        };
        match scheme {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(parse_timestamp(value)?);
            }
            "v1" => signatures.push(value),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    let matches = signatures.iter().any(|candidate| {
        hex::decode(candidate)
            .is_ok_and(|tag| stripe_mac(secret, t, body).verify_slice(&tag).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    let tolerance = u64::try_from(tolerance_secs).unwrap_or(0);
    if now_unix.abs_diff(t) > tolerance {
        return Err(SignatureError::Stale);
    }
    Ok(t)
}

/// The `v1` signature of `body` sent at `t`, as hex: for tests and the fake.
pub fn stripe_v1(secret: &[u8], t: i64, body: &[u8]) -> String {
    hex::encode(stripe_mac(secret, t, body).finalize().into_bytes())
}

/// HMAC-SHA256(secret, "{t}.{body}"), ready to finalize or verify.
fn stripe_mac(secret: &[u8], t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = keyed(secret);
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac
}

fn keyed(secret: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// Unix seconds: digits only (no sign, no spaces), fitting an i64.
fn parse_timestamp(value: &str) -> Result<i64, SignatureError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed);
    }
    value.parse().map_err(|_| SignatureError::Malformed)
}

/// What a Stripe event says happened to a payment. Handled:
/// payment_intent.succeeded, payment_intent.payment_failed,
/// payment_intent.canceled and (full) charge.refunded; the rest is ignored.
pub fn report(kind: &str, payload: &Value) -> PaymentReport {
    let obj = &payload["data"]["object"];
    let number = text(obj, &["metadata", "order_number"]);
    let id = text(obj, &["id"]);
    match kind {
        "payment_intent.succeeded" => PaymentReport::Succeeded {
            number,
            reference: id,
            amount: obj["amount_received"]
                .as_i64()
                .filter(|a| *a > 0)
                .or(obj["amount"].as_i64())
                .unwrap_or(-1),
            currency: text(obj, &["currency"]).unwrap_or_default(),
        },
        "payment_intent.payment_failed" | "payment_intent.canceled" => PaymentReport::Failed {
            number,
            reference: id,
        },
        "charge.refunded" => {
            let amount = obj["amount"].as_i64().unwrap_or(i64::MAX);
            let full = obj["refunded"].as_bool() == Some(true)
                || obj["amount_refunded"].as_i64().unwrap_or(0) >= amount;
            if full {
                PaymentReport::Refunded {
                    number,
                    reference: text(obj, &["payment_intent"]),
                }
            } else {
                PaymentReport::Ignored
            }
        }
        _ => PaymentReport::Ignored,
    }
}

/// A failure to get a usable answer from Stripe: worth retrying.
fn unreachable(message: String) -> ProviderError {
    ProviderError::Transport(format!("cannot reach Stripe: {message}"))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(k, v) in pairs {
            map.insert(k, HeaderValue::from_static(v));
        }
        map
    }

    fn permanent(e: ProviderError) -> (u16, String) {
        match e {
            ProviderError::Rejected { status, body } => (status, body),
            other => panic!("not permanent: {other:?}"),
        }
    }

    const INVALID_KEY: &str =
        r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#;

    #[test]
    fn rate_limit_and_server_errors_are_retryable() {
        let e = classify(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), "");
        assert_eq!(e, ProviderError::RateLimited { retry_after: None });
        for status in [500, 502, 503, 409] {
            let status = StatusCode::from_u16(status).expect("status");
            let e = classify(status, &HeaderMap::new(), "");
            assert!(
                matches!(e, ProviderError::Transport(ref m) if m.starts_with(&format!("cannot reach Stripe: {}", status.as_str()))),
                "{status}: {e:?}"
            );
        }
    }

    #[test]
    fn retry_after_seconds_are_honoured() {
        let e = classify(
            StatusCode::TOO_MANY_REQUESTS,
            &headers(&[("retry-after", "7")]),
            r#"{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests"}}"#,
        );
        assert_eq!(
            e,
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn unparseable_retry_after_is_ignored() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&h), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn other_client_errors_are_permanent_with_stripes_message() {
        let (status, message) = permanent(classify(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            INVALID_KEY,
        ));
        assert_eq!(status, 401);
        assert_eq!(message, "Invalid API Key provided (invalid_request_error)");

        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","param":"payment_method"}}"#;
        let (_, message) = permanent(classify(
            StatusCode::PAYMENT_REQUIRED,
            &HeaderMap::new(),
            body,
        ));
        assert!(
            message.contains("Your card has insufficient funds."),
            "{message}"
        );
        assert!(message.contains("card_declined"), "{message}");
        assert!(message.contains("param payment_method"), "{message}");
    }

    #[test]
    fn idempotency_error_is_permanent() {
        let body = r#"{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}"#;
        let e = classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
        assert!(
            matches!(e, ProviderError::Rejected { status: 400, ref body } if body.contains("idempotency_error"))
        );
    }

    #[test]
    fn stripe_should_retry_header_wins() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            &headers(&[("stripe-should-retry", "true")]),
            "",
        );
        assert!(matches!(e, ProviderError::Transport(_)), "{e:?}");
        let e = classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            &headers(&[("stripe-should-retry", "false")]),
            "",
        );
        assert!(
            matches!(e, ProviderError::Rejected { status: 500, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn request_id_is_kept_and_non_json_bodies_are_excerpted() {
        let e = classify(
            StatusCode::BAD_GATEWAY,
            &headers(&[("request-id", "req_123")]),
            &"<html>bad gateway</html>".repeat(50),
        );
        let ProviderError::Transport(message) = e else {
            panic!("not retryable: {e:?}");
        };
        assert!(
            message.starts_with("cannot reach Stripe: 502 Bad Gateway: <html>"),
            "{message}"
        );
        assert!(message.ends_with(" [req_123]"), "{message}");
        assert!(message.chars().count() < 370, "{message}");
    }

    #[test]
    fn objects_deserialize_from_stripes_shapes() {
        let intent: PaymentIntent = serde_json::from_str(
            r#"{"id":"pi_1","object":"payment_intent","amount":150000,"currency":"kzt",
                "status":"requires_payment_method","client_secret":"pi_1_secret_x",
                "metadata":{"order_number":"BZ-000123"},"livemode":false}"#,
        )
        .expect("payment intent");
        assert_eq!(intent.client_secret.as_deref(), Some("pi_1_secret_x"));
        assert_eq!((intent.amount, intent.currency.as_str()), (150000, "kzt"));
        assert!(!format!("{intent:?}").contains("secret_x"));

        let refund: Refund = serde_json::from_str(
            r#"{"id":"re_1","object":"refund","amount":150000,"status":null,"payment_intent":"pi_1"}"#,
        )
        .expect("refund");
        assert_eq!(refund.status, None);
        assert_eq!(refund.amount, 150000);
    }

    mod signatures {
        use super::super::*;

        const SECRET: &[u8] = b"whsec_test_secret";
        const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;
        const T: i64 = 1_700_000_000;

        fn signed(t: i64, body: &[u8]) -> String {
            format!("t={t},v1={}", stripe_v1(SECRET, t, body))
        }

        #[test]
        fn valid_signature_returns_the_timestamp() {
            assert_eq!(
                verify_signature(&signed(T, BODY), BODY, SECRET, T, 300),
                Ok(T)
            );
        }

        #[test]
        fn within_tolerance_either_side_is_valid() {
            let h = signed(T, BODY);
            assert_eq!(verify_signature(&h, BODY, SECRET, T + 300, 300), Ok(T));
            assert_eq!(verify_signature(&h, BODY, SECRET, T - 300, 300), Ok(T));
        }

        #[test]
        fn known_vector() {
            // Python: hmac.new(key, b'1700000000.{"id":"evt_1"}', hashlib.sha256).hexdigest()
            assert_eq!(
                stripe_v1(SECRET, T, br#"{"id":"evt_1"}"#),
                "248a374f50f943a28b0f6ab50faf9a7e7e29b710fa26df9fb1618b9bf8ea9c9a"
            );
        }

        #[test]
        fn any_v1_may_match_during_rotation() {
            let other = stripe_v1(b"whsec_old_secret", T, BODY);
            let good = stripe_v1(SECRET, T, BODY);
            let first_wrong = format!("t={T},v1={other},v1={good}");
            let second_wrong = format!("t={T}, v1={good}, v1={other}");
            assert_eq!(verify_signature(&first_wrong, BODY, SECRET, T, 300), Ok(T));
            assert_eq!(verify_signature(&second_wrong, BODY, SECRET, T, 300), Ok(T));
        }

        #[test]
        fn other_schemes_are_ignored() {
            let good = stripe_v1(SECRET, T, BODY);
            let v0_only = format!("t={T},v0={good}");
            assert_eq!(
                verify_signature(&v0_only, BODY, SECRET, T, 300),
                Err(SignatureError::Mismatch)
            );
            let with_v0 = format!("t={T},v0=deadbeef,v1={good}");
            assert_eq!(verify_signature(&with_v0, BODY, SECRET, T, 300), Ok(T));
        }

        #[test]
        fn stale_timestamp_is_rejected() {
            assert_eq!(
                verify_signature(&signed(T, BODY), BODY, SECRET, T + 301, 300),
                Err(SignatureError::Stale)
            );
        }

        #[test]
        fn timestamp_in_the_future_beyond_tolerance_is_rejected() {
            assert_eq!(
                verify_signature(&signed(T, BODY), BODY, SECRET, T - 301, 300),
                Err(SignatureError::Stale)
            );
        }

        #[test]
        fn tampered_body_or_wrong_secret_or_timestamp_does_not_match() {
            let h = signed(T, BODY);
            let tampered = br#"{"id":"evt_1","object":"event","type":"payment_intent.canceled"}"#;
            assert_eq!(
                verify_signature(&h, tampered, SECRET, T, 300),
                Err(SignatureError::Mismatch)
            );
            assert_eq!(
                verify_signature(&h, BODY, b"whsec_other", T, 300),
                Err(SignatureError::Mismatch)
            );
            let moved = format!("t={},v1={}", T + 1, stripe_v1(SECRET, T, BODY));
            assert_eq!(
                verify_signature(&moved, BODY, SECRET, T, 300),
                Err(SignatureError::Mismatch)
            );
        }

        #[test]
        fn signature_that_is_not_hex_or_too_short_does_not_match() {
            let good = stripe_v1(SECRET, T, BODY);
            for v1 in ["zz", "", "abcd", &good[..62]] {
                let h = format!("t={T},v1={v1}");
                assert_eq!(
                    verify_signature(&h, BODY, SECRET, T, 300),
                    Err(SignatureError::Mismatch),
                    "{h}"
                );
            }
        }

        #[test]
        fn malformed_headers() {
            let good = stripe_v1(SECRET, T, BODY);
            for h in [
                String::new(),
                "   ".to_owned(),
                format!("v1={good}"),
                format!("t=,v1={good}"),
                format!("t=abc,v1={good}"),
                format!("t=-{T},v1={good}"),
                format!("t=1.5,v1={good}"),
                format!("t=99999999999999999999,v1={good}"),
                format!("t={T},t={T},v1={good}"),
                "garbage".to_owned(),
            ] {
                assert_eq!(
                    verify_signature(&h, BODY, SECRET, T, 300),
                    Err(SignatureError::Malformed),
                    "{h:?}"
                );
            }
        }

        #[test]
        fn header_without_v1_does_not_match() {
            assert_eq!(
                verify_signature(&format!("t={T}"), BODY, SECRET, T, 300),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn events_become_reports() {
        use serde_json::json;
        let e = json!({"data": {"object": {"id": "pi_1", "amount": 500, "amount_received": 500,
            "currency": "kzt", "metadata": {"order_number": "BZ-000001"}}}});
        assert_eq!(
            report("payment_intent.succeeded", &e),
            PaymentReport::Succeeded {
                number: Some("BZ-000001".into()),
                reference: Some("pi_1".into()),
                amount: 500,
                currency: "kzt".into()
            }
        );
        let partial = json!({"data": {"object": {"payment_intent": "pi_1", "amount": 500,
            "amount_refunded": 100, "refunded": false}}});
        assert_eq!(report("charge.refunded", &partial), PaymentReport::Ignored);
        assert_eq!(report("customer.created", &e), PaymentReport::Ignored);
    }

    #[test]
    fn a_webhook_without_a_signature_or_event_fields_is_refused() {
        let hook = StripeWebhook::new(SecretString::from("whsec_test_secret"));
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        assert!(matches!(
            hook.verify(None, body, 1_700_000_000),
            Err(WebhookRejection::Signature(_))
        ));
        let t = 1_700_000_000;
        let header = format!("t={t},v1={}", stripe_v1(b"whsec_test_secret", t, body));
        let event = hook.verify(Some(&header), body, t).expect("verified");
        assert_eq!(
            (event.id.as_str(), event.kind.as_str()),
            ("evt_1", "payment_intent.succeeded")
        );
        let no_type = br#"{"id":"evt_1"}"#;
        let header = format!("t={t},v1={}", stripe_v1(b"whsec_test_secret", t, no_type));
        assert!(matches!(
            hook.verify(Some(&header), no_type, t),
            Err(WebhookRejection::NotAnEvent(_))
        ));
    }
}

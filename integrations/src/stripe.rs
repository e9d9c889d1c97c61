//! Stripe over plain reqwest: a PaymentIntent at checkout, a refund when a paid
//! order is cancelled. Requests are form-encoded with the secret key as a
//! bearer token, and every POST carries an idempotency key so that a retried
//! job gets Stripe's first answer back instead of a second charge or refund.
//! The base URL is configurable so tests and staging can use a fake server.

use std::time::Duration;

use reqwest::{header::HeaderMap, Response, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::Value;

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

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// 429, 409 (a concurrent request with the same idempotency key), 5xx,
    /// timeouts, connection refused: retry with the same idempotency key,
    /// not before `retry_after` when Stripe said so.
    #[error("cannot reach Stripe: {message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx (bad key, invalid parameters, idempotency key reused with
    /// other parameters): retrying cannot help. Carries Stripe's message.
    #[error("rejected by Stripe: {0}")]
    Permanent(String),
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
    ) -> Result<PaymentIntent, StripeError> {
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
    ) -> Result<PaymentIntent, StripeError> {
        let path = format!("/v1/payment_intents/{payment_intent}/cancel");
        self.post(&path, &[], idempotency_key).await
    }

    /// Refunds the whole of the payment intent's charge.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let form = [("payment_intent", payment_intent)];
        self.post("/v1/refunds", &form, idempotency_key).await
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
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

async fn success_body<T: DeserializeOwned>(response: Response) -> Result<T, StripeError> {
    let status = response.status();
    if status.is_success() {
        let bytes = response.bytes().await.map_err(transport)?;
        // With the same idempotency key Stripe replays this answer, so a
        // retry is safe and may read it whole.
        return serde_json::from_slice(&bytes).map_err(|e| StripeError::Retryable {
            // Not the body: a payment intent carries its client secret.
            message: format!("unreadable answer from Stripe ({e})"),
            retry_after: None,
        });
    }
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Err(classify(status, &headers, &body))
}

/// 429, 409 and 5xx are worth retrying (as Stripe's own libraries do), any
/// other status is final; an explicit `Stripe-Should-Retry` header wins.
fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> StripeError {
    let mut message = format!("{status}: {}", error_reason(body));
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
    if retryable {
        StripeError::Retryable {
            message,
            retry_after: retry_after(headers),
        }
    } else {
        StripeError::Permanent(message)
    }
}

/// `Retry-After` in seconds; the HTTP-date form is not used by Stripe.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
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
    s.chars().take(300).collect()
}

/// reqwest's own message hides the cause (refused, timed out, TLS), which is
/// what an operator needs. A request that could not even be built (e.g. an
/// idempotency key that is not a valid header value) will never succeed.
fn transport(e: reqwest::Error) -> StripeError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if e.is_builder() {
        StripeError::Permanent(message)
    } else {
        StripeError::Retryable {
            message,
            retry_after: None,
        }
    }
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

    fn retryable(e: StripeError) -> (String, Option<Duration>) {
        match e {
            StripeError::Retryable {
                message,
                retry_after,
            } => (message, retry_after),
            StripeError::Permanent(message) => panic!("not retryable: {message}"),
        }
    }

    fn permanent(e: StripeError) -> String {
        match e {
            StripeError::Permanent(message) => message,
            other => panic!("not permanent: {other:?}"),
        }
    }

    const INVALID_KEY: &str =
        r#"{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}"#;

    #[test]
    fn rate_limit_and_server_errors_are_retryable() {
        for status in [429, 500, 502, 503, 409] {
            let status = StatusCode::from_u16(status).expect("status");
            let e = classify(status, &HeaderMap::new(), "");
            assert!(
                matches!(
                    e,
                    StripeError::Retryable {
                        retry_after: None,
                        ..
                    }
                ),
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
        let (message, after) = retryable(e);
        assert_eq!(after, Some(Duration::from_secs(7)));
        assert!(message.contains("Too many requests"), "{message}");
    }

    #[test]
    fn unparseable_retry_after_is_ignored() {
        let h = headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]);
        assert_eq!(retry_after(&h), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn other_client_errors_are_permanent_with_stripes_message() {
        let message = permanent(classify(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            INVALID_KEY,
        ));
        assert_eq!(
            message,
            "401 Unauthorized: Invalid API Key provided (invalid_request_error)"
        );

        let body = r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","param":"payment_method"}}"#;
        let message = permanent(classify(
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
        assert!(matches!(e, StripeError::Permanent(ref m) if m.contains("idempotency_error")));
    }

    #[test]
    fn stripe_should_retry_header_wins() {
        let e = classify(
            StatusCode::BAD_REQUEST,
            &headers(&[("stripe-should-retry", "true")]),
            "",
        );
        assert!(matches!(e, StripeError::Retryable { .. }), "{e:?}");
        let e = classify(
            StatusCode::INTERNAL_SERVER_ERROR,
            &headers(&[("stripe-should-retry", "false")]),
            "",
        );
        assert!(matches!(e, StripeError::Permanent(_)), "{e:?}");
    }

    #[test]
    fn request_id_is_kept_and_non_json_bodies_are_excerpted() {
        let e = classify(
            StatusCode::BAD_GATEWAY,
            &headers(&[("request-id", "req_123")]),
            &"<html>bad gateway</html>".repeat(50),
        );
        let (message, _) = retryable(e);
        assert!(message.starts_with("502 Bad Gateway: <html>"), "{message}");
        assert!(message.ends_with(" [req_123]"), "{message}");
        assert!(message.chars().count() < 340, "{message}");
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
}

//! Kaspi.kz: payment notifications (`X-Kaspi-Signature`, a hex HMAC-SHA256
//! of the raw body) read into `PaymentReport`s, and the merchant API's
//! order client (`merchant`).

pub mod merchant;

use bazaar_core::commerce::{
    gateway::{VerifiedEvent, WebhookRejection, WebhookVerifier},
    payments::{PaymentReport, Provider},
};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;

use crate::webhook::{parse_event, text};

type HmacSha256 = Hmac<Sha256>;

/// The header Kaspi signs its notifications in.
pub const SIGNATURE_HEADER: &str = "x-kaspi-signature";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed signature header")]
    Malformed,
    #[error("no signature matches")]
    Mismatch,
}

/// Kaspi's payment notifications, checked with `KASPI_WEBHOOK_SECRET`. Body:
/// `{ id, type (payment.succeeded, payment.failed, payment.refunded),
/// order_number, amount (minor units), currency }`.
pub struct KaspiWebhook {
    secret: SecretString,
}

impl KaspiWebhook {
    pub fn new(secret: SecretString) -> Self {
        Self { secret }
    }
}

impl WebhookVerifier for KaspiWebhook {
    fn provider(&self) -> Provider {
        Provider::Kaspi
    }

    fn signature_header(&self) -> &'static str {
        SIGNATURE_HEADER
    }

    fn verify(
        &self,
        signature: Option<&str>,
        body: &[u8],
        _now_unix: i64,
    ) -> Result<VerifiedEvent, WebhookRejection> {
        let header = signature
            .ok_or_else(|| WebhookRejection::Signature("X-Kaspi-Signature is missing".into()))?;
        verify_hex_hmac(header, body, self.secret.expose_secret().as_bytes())
            .map_err(|e| WebhookRejection::Signature(e.to_string()))?;
        parse_event(body, "id", "type")
    }
}

/// `X-Kaspi-Signature`: hex(HMAC-SHA256(secret, body)), case-insensitive hex,
/// constant-time.
pub fn verify_hex_hmac(header: &str, body: &[u8], secret: &[u8]) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(header).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
}

/// What a Kaspi notification says happened to a payment.
pub fn report(kind: &str, payload: &Value) -> PaymentReport {
    let number = text(payload, &["order_number"]);
    match kind {
        "payment.succeeded" => PaymentReport::Succeeded {
            number,
            reference: text(payload, &["payment_id"]),
            amount: payload["amount"].as_i64().unwrap_or(-1),
            currency: text(payload, &["currency"]).unwrap_or_default(),
        },
        "payment.failed" => PaymentReport::Failed {
            number,
            reference: None,
        },
        "payment.refunded" => PaymentReport::Refunded {
            number,
            reference: None,
        },
        _ => PaymentReport::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;

    fn kaspi(body: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(SECRET).expect("key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn hex_hmac_valid_in_either_case() {
        let sig = kaspi(BODY);
        assert_eq!(verify_hex_hmac(&sig, BODY, SECRET), Ok(()));
        assert_eq!(verify_hex_hmac(&sig.to_uppercase(), BODY, SECRET), Ok(()));
        assert_eq!(verify_hex_hmac(&format!(" {sig} "), BODY, SECRET), Ok(()));
    }

    #[test]
    fn hex_hmac_mismatch() {
        let sig = kaspi(BODY);
        assert_eq!(
            verify_hex_hmac(&sig, b"{}", SECRET),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hex_hmac(&sig, BODY, b"other"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_hex_hmac(&sig[..32], BODY, SECRET),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn hex_hmac_malformed() {
        for h in ["", "  ", "not-hex", "abc"] {
            assert_eq!(
                verify_hex_hmac(h, BODY, SECRET),
                Err(SignatureError::Malformed),
                "{h:?}"
            );
        }
    }
}

//! Webhook signatures: Stripe's timestamped `Stripe-Signature` and Kaspi's
//! plain HMAC of the body. Pure functions (the caller passes the clock);
//! every comparison of a signature is constant-time (`Mac::verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

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

/// Stripe-Signature: `t=<unix>,v1=<hex>[,v1=<hex>...]` (other schemes like v0
/// ignored); valid if any v1 equals hex(HMAC-SHA256(secret, "{t}.{body}")) in
/// constant time and |now - t| <= tolerance_secs. Returns t.
///
/// The signature is checked before the timestamp, as Stripe's libraries do:
/// `Stale` then always means a genuine but old (or early) delivery.
pub fn verify_stripe(
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

/// `X-Kaspi-Signature`: hex(HMAC-SHA256(secret, body)), case-insensitive hex,
/// constant-time.
pub fn verify_hex_hmac(header: &str, body: &[u8], secret: &[u8]) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let tag = hex::decode(header).map_err(|_| SignatureError::Malformed)?;
    let mut mac = keyed(secret);
    mac.update(body);
    mac.verify_slice(&tag).map_err(|_| SignatureError::Mismatch)
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret";
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event","type":"payment_intent.succeeded"}"#;
    const T: i64 = 1_700_000_000;

    fn header(t: i64, body: &[u8]) -> String {
        format!("t={t},v1={}", stripe_v1(SECRET, t, body))
    }

    #[test]
    fn valid_signature_returns_the_timestamp() {
        assert_eq!(verify_stripe(&header(T, BODY), BODY, SECRET, T, 300), Ok(T));
    }

    #[test]
    fn within_tolerance_either_side_is_valid() {
        let h = header(T, BODY);
        assert_eq!(verify_stripe(&h, BODY, SECRET, T + 300, 300), Ok(T));
        assert_eq!(verify_stripe(&h, BODY, SECRET, T - 300, 300), Ok(T));
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
        assert_eq!(verify_stripe(&first_wrong, BODY, SECRET, T, 300), Ok(T));
        assert_eq!(verify_stripe(&second_wrong, BODY, SECRET, T, 300), Ok(T));
    }

    #[test]
    fn other_schemes_are_ignored() {
        let good = stripe_v1(SECRET, T, BODY);
        let v0_only = format!("t={T},v0={good}");
        assert_eq!(
            verify_stripe(&v0_only, BODY, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
        let with_v0 = format!("t={T},v0=deadbeef,v1={good}");
        assert_eq!(verify_stripe(&with_v0, BODY, SECRET, T, 300), Ok(T));
    }

    #[test]
    fn stale_timestamp_is_rejected() {
        assert_eq!(
            verify_stripe(&header(T, BODY), BODY, SECRET, T + 301, 300),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn timestamp_in_the_future_beyond_tolerance_is_rejected() {
        assert_eq!(
            verify_stripe(&header(T, BODY), BODY, SECRET, T - 301, 300),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn tampered_body_or_wrong_secret_or_timestamp_does_not_match() {
        let h = header(T, BODY);
        let tampered = br#"{"id":"evt_1","object":"event","type":"payment_intent.canceled"}"#;
        assert_eq!(
            verify_stripe(&h, tampered, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe(&h, BODY, b"whsec_other", T, 300),
            Err(SignatureError::Mismatch)
        );
        let moved = format!("t={},v1={}", T + 1, stripe_v1(SECRET, T, BODY));
        assert_eq!(
            verify_stripe(&moved, BODY, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn signature_that_is_not_hex_or_too_short_does_not_match() {
        let good = stripe_v1(SECRET, T, BODY);
        for v1 in ["zz", "", "abcd", &good[..62]] {
            let h = format!("t={T},v1={v1}");
            assert_eq!(
                verify_stripe(&h, BODY, SECRET, T, 300),
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
                verify_stripe(&h, BODY, SECRET, T, 300),
                Err(SignatureError::Malformed),
                "{h:?}"
            );
        }
    }

    #[test]
    fn header_without_v1_does_not_match() {
        assert_eq!(
            verify_stripe(&format!("t={T}"), BODY, SECRET, T, 300),
            Err(SignatureError::Mismatch)
        );
    }

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

//! What every provider's webhook shares once its signature checked out.

use bazaar_core::commerce::gateway::{VerifiedEvent, WebhookRejection};
use serde_json::Value;

/// The event's id and type (fields `id` and `kind` of the JSON body), which
/// every provider event carries.
pub(crate) fn parse_event(
    body: &[u8],
    id: &str,
    kind: &str,
) -> Result<VerifiedEvent, WebhookRejection> {
    let payload: Value = serde_json::from_slice(body).map_err(|_| WebhookRejection::NotJson)?;
    let field = |k: &str| payload.get(k).and_then(Value::as_str).map(str::to_owned);
    match (field(id), field(kind)) {
        (Some(id), Some(kind)) if !id.is_empty() && id.len() <= 255 => {
            Ok(VerifiedEvent { id, kind, payload })
        }
        _ => Err(WebhookRejection::NotAnEvent(format!(
            "the event needs string fields {id} and {kind}"
        ))),
    }
}

/// The string at `path` in `v`.
pub(crate) fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str().map(str::to_owned)
}

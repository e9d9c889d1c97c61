//! A JSON body extractor that answers in problem+json: 415 without a JSON
//! content type, 413 over the body limit, 400 for malformed JSON, 422 (naming
//! the field) for JSON of the wrong shape.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use bazaar_core::FieldError;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::ApiError;

pub struct Json<T>(pub T);

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload-too-large", "the request body is too large")
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    "could not read the request body",
                )
            }
        })?;
        parse(&bytes).map(Json)
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body, so trailing garbage is "malformed"
    // even when the prefix would already fail on its shape.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(malformed(e));
    }
    // PostgreSQL text cannot hold NUL; refuse it here, for every field, rather
    // than fail deep in a query.
    if bytes.windows(6).any(|w| w == b"\\u0000") {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            bazaar_core::error::NUL_IN_TEXT,
        )]));
    }
    // Every request body is an object; serde would also accept an array for a
    // struct (fields by position), which no client means.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )]));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(&mut de) {
        Ok(value) => Ok(value),
        Err(e) => {
            if let Some(normalised) = integral_floats_as_integers(bytes) {
                return parse(&normalised);
            }
            let path = e.path().to_string();
            match shape_problem(path, e.into_inner()) {
                Ok(first) => Err(ApiError::validation(every_problem::<T>(bytes, first))),
                Err(e) => Err(e),
            }
        }
    }
}

/// The body with every number that is a whole float (`5.0`, `1e3`) written
/// as an integer, when it has any: JavaScript and some client generators
/// send integers so, and serde refuses them for integer fields. Only tried
/// after the body failed as sent, so the common case pays nothing.
fn integral_floats_as_integers(bytes: &[u8]) -> Option<Vec<u8>> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
                // Exactly representable: |f| <= 2^53.
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 => {
                        *v = serde_json::Value::from(f as i64);
                        true
                    }
                    _ => false,
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().fold(false, |c, i| walk(i) | c),
            serde_json::Value::Object(map) => map.values_mut().fold(false, |c, i| walk(i) | c),
            _ => false,
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut value).then(|| serde_json::to_vec(&value).ok())?
}

/// Most deserializations one body is given to find its problems.
const MAX_ATTEMPTS: usize = 64;
/// Bodies larger than this get their first problem only: searching for the
/// rest costs a deserialization each.
const SEARCH_LIMIT: usize = 64 * 1024;

/// Stand-ins for a missing field, tried in turn until one has its type.
fn placeholders() -> [serde_json::Value; 6] {
    use serde_json::json;
    [
        json!(null),
        json!(""),
        json!(0),
        json!(false),
        json!({}),
        json!([]),
    ]
}

/// Serde stops at the first wrong field. To name every one (the contract:
/// every 422 lists every problem), the body is deserialized again with each
/// offending field taken out (a wrong type, an unknown field) or, when it is
/// missing, stood in for by a value of whichever JSON type gets past it,
/// until deserialization gets through or stops moving.
fn every_problem<T: DeserializeOwned>(bytes: &[u8], first: FieldError) -> Vec<FieldError> {
    let mut found = vec![first.clone()];
    if bytes.len() > SEARCH_LIMIT {
        return found;
    }
    let Ok(mut body) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return found;
    };
    let mut current = first;
    // Which stand-in to try next for `current`; `None` while it is present.
    let mut stand_in: Option<usize> = None;
    // Fields stood in for: what a stand-in object lacks is not the client's.
    let mut stood_in: Vec<String> = Vec::new();
    for _ in 0..MAX_ATTEMPTS {
        let changed = match stand_in {
            None if current.message.starts_with("missing field") => {
                stand_in = Some(0);
                continue;
            }
            None => remove(&mut body, &current.field),
            Some(i) => match placeholders().into_iter().nth(i) {
                Some(value) => {
                    stand_in = Some(i + 1);
                    if !stood_in.contains(&current.field) {
                        stood_in.push(current.field.clone());
                    }
                    set(&mut body, &current.field, value)
                }
                None => false,
            },
        };
        if !changed {
            break;
        }
        let next = match serde_path_to_error::deserialize::<_, T>(body.clone()) {
            Ok(_) => break,
            Err(e) => {
                let path = e.path().to_string();
                match shape_problem(path, e.into_inner()) {
                    Ok(next) => next,
                    Err(_) => break,
                }
            }
        };
        if next.field == current.field {
            // Still stuck on it: taken out it is missing; a stand-in of the
            // wrong type is tried with the next one.
            if stand_in.is_none() {
                stand_in = Some(0);
            }
            continue;
        }
        let inside_stand_in = stood_in
            .iter()
            .any(|f| next.field.starts_with(&format!("{f}.")));
        if !inside_stand_in && !found.iter().any(|f| f.field == next.field) {
            found.push(next.clone());
        }
        current = next;
        stand_in = None;
    }
    found
}

/// The object holding `path`'s last part (`address.city`, `items[2].quantity`),
/// and that part.
fn parent<'a>(
    body: &'a mut serde_json::Value,
    path: &'a str,
) -> Option<(&'a mut serde_json::Map<String, serde_json::Value>, &'a str)> {
    let mut steps: Vec<Step<'a>> = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, indices) = match part.split_once('[') {
            Some((name, rest)) => (name, Some(rest)),
            None => (part, None),
        };
        if !name.is_empty() {
            steps.push(Step::Key(name));
        }
        for index in indices.into_iter().flat_map(|rest| rest.split('[')) {
            steps.push(Step::Index(index.trim_end_matches(']').parse().ok()?));
        }
    }
    let Some(Step::Key(last)) = steps.pop() else {
        return None;
    };
    let mut node = body;
    for step in steps {
        node = match (step, node) {
            (Step::Key(k), serde_json::Value::Object(map)) => map.get_mut(k)?,
            (Step::Index(i), serde_json::Value::Array(items)) => items.get_mut(i)?,
            _ => return None,
        };
    }
    match node {
        serde_json::Value::Object(map) => Some((map, last)),
        _ => None,
    }
}

enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn remove(body: &mut serde_json::Value, path: &str) -> bool {
    parent(body, path).is_some_and(|(map, key)| map.remove(key).is_some())
}

fn set(body: &mut serde_json::Value, path: &str, value: serde_json::Value) -> bool {
    parent(body, path).is_some_and(|(map, key)| {
        map.insert(key.to_owned(), value);
        true
    })
}

fn malformed(inner: serde_json::Error) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "malformed-json",
        format!("the body is not valid JSON: {inner}"),
    )
}

/// A body of the wrong shape: the field it names and what is wrong with it.
fn shape_problem(path: String, inner: serde_json::Error) -> Result<FieldError, ApiError> {
    match inner.classify() {
        serde_json::error::Category::Data => {
            let message = inner.to_string();
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            let field = if path == "." || path.is_empty() {
                // "missing field `email`" / "unknown field `x`" name the field themselves.
                message
                    .split('`')
                    .nth(1)
                    .filter(|_| message.contains("field"))
                    .unwrap_or("body")
                    .to_owned()
            } else if message.starts_with("missing field") {
                // Nested: the path names the object, the message the field.
                match message.split('`').nth(1) {
                    Some(name) => format!("{path}.{name}"),
                    None => path,
                }
            } else {
                path
            };
            Ok(FieldError::new(field, message))
        }
        _ => Err(malformed(inner)),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Login {
        email: String,
        age: Option<u8>,
    }

    fn status(r: Result<Login, ApiError>) -> u16 {
        r.unwrap_err().into_response().status().as_u16()
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        password: String,
        age: u8,
        address: Address,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Address {
        city: String,
        zip: String,
    }

    fn fields(r: Result<Signup, ApiError>) -> Vec<String> {
        let body = r.unwrap_err().into_response();
        let bytes =
            futures::executor::block_on(axum::body::to_bytes(body.into_body(), 1 << 20)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let mut f: Vec<String> = v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect();
        f.sort();
        f
    }

    #[test]
    fn whole_floats_are_taken_as_integers_and_fractions_are_not() {
        let login: Login = parse(br#"{"email": "a", "age": 5.0}"#).unwrap();
        assert_eq!(login.age, Some(5));
        let login: Login = parse(br#"{"email": "a", "age": 1e2}"#).unwrap();
        assert_eq!(login.age, Some(100));
        assert_eq!(status(parse(br#"{"email": "a", "age": 5.5}"#)), 422);
        assert_eq!(status(parse(br#"{"email": "a", "age": 300.0}"#)), 422);
    }

    #[test]
    fn paths_reach_into_objects_and_arrays() {
        let mut body = serde_json::json!({"items": [{"q": 1}, {"q": "x", "id": 2}], "a": {"b": 1}});
        assert!(remove(&mut body, "items[1].q"));
        assert_eq!(body["items"][1], serde_json::json!({"id": 2}));
        assert!(set(&mut body, "a.c", serde_json::json!(0)));
        assert_eq!(body["a"], serde_json::json!({"b": 1, "c": 0}));
        assert!(!remove(&mut body, "items[7].q"));
        assert!(!remove(&mut body, "a.zzz"));
        assert!(!remove(&mut body, "nothing.here"));
    }

    #[test]
    fn every_wrong_missing_or_unknown_field_is_named() {
        assert_eq!(
            fields(parse(
                br#"{"email": 12345, "password": 1, "address": {"city": 5}}"#
            )),
            vec!["address.city", "address.zip", "age", "email", "password"]
        );
        assert_eq!(
            fields(parse(br#"{"email": "a", "password": "b", "age": 300, "admin": true, "address": {"city": "A", "zip": "1"}}"#)),
            vec!["admin", "age"]
        );
        assert_eq!(
            fields(parse(b"{}")),
            vec!["address", "age", "email", "password"]
        );
    }

    #[test]
    fn malformed_is_400_and_wrong_shape_is_422() {
        assert_eq!(status(parse(b"{\"email\": ")), 400);
        assert_eq!(status(parse(b"{} trailing")), 400);
        assert_eq!(status(parse(b"{\"email\": 5}")), 422);
        assert_eq!(status(parse(b"{}")), 422);
        assert_eq!(status(parse(b"{\"email\": \"a\", \"admin\": true}")), 422);
        assert_eq!(status(parse(b"{\"email\": \"a\", \"age\": 300}")), 422);
        assert_eq!(status(parse(b"[\"a\", 1]")), 422);
        assert_eq!(status(parse(b"\"text\"")), 422);
        assert_eq!(status(parse(b"{\"email\": \"a\\u0000b\"}")), 422);
        assert!(parse::<Login>(b"{\"email\": \"a\"}").is_ok());
    }
}

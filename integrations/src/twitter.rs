//! X (Twitter) API v2 over plain reqwest, signed with OAuth 1.0a user context:
//! an app-only bearer token cannot post. Base URLs are configurable so tests
//! and staging can use a fake server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bazaar_core::provider::ProviderError;
use reqwest::{
    header::{HeaderMap, AUTHORIZATION},
    multipart::{Form, Part},
    Response, StatusCode,
};
use serde_json::{json, Value};

const MAX_TWEET_CHARS: usize = 280;
/// X wraps every URL in t.co and counts it as 23 characters, whatever its length.
const URL_WEIGHT: usize = 23;

#[derive(Clone)]
pub struct TwitterCredentials {
    pub api_key: String,
    pub api_secret: String,
    pub access_token: String,
    pub access_secret: String,
}

impl std::fmt::Debug for TwitterCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwitterCredentials").finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct TwitterClient {
    http: reqwest::Client,
    credentials: TwitterCredentials,
    api_url: String,
    upload_url: String,
}

impl TwitterClient {
    /// api_url e.g. "https://api.twitter.com", upload_url e.g. "https://upload.twitter.com".
    pub fn new(credentials: TwitterCredentials, api_url: &str, upload_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            // Fails only if the TLS backend cannot start, where Client::new() panics too.
            .expect("HTTP client for X");
        Self {
            http,
            credentials,
            api_url: api_url.trim_end_matches('/').to_owned(),
            upload_url: upload_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Uploads an image, returns the media id string.
    pub async fn upload_media(
        &self,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<String, ProviderError> {
        let v2 = format!("{}/2/media/upload", self.api_url);
        let response = self.send_upload(&v2, bytes.clone(), content_type).await?;
        if response.status() != StatusCode::NOT_FOUND {
            return field(&success_body(response).await?, "/data/id");
        }
        // Not every app or access tier has the v2 endpoint; v1.1 still serves them.
        let legacy = format!("{}/1.1/media/upload.json", self.upload_url);
        let response = self.send_upload(&legacy, bytes, content_type).await?;
        field(&success_body(response).await?, "/media_id_string")
    }

    /// Posts a tweet, returns the tweet id.
    pub async fn post_tweet(
        &self,
        text: &str,
        media_ids: &[String],
    ) -> Result<String, ProviderError> {
        let url = format!("{}/2/tweets", self.api_url);
        let mut body = json!({ "text": text });
        if !media_ids.is_empty() {
            body["media"] = json!({ "media_ids": media_ids });
        }
        let response = self
            .http
            .post(&url)
            .header(AUTHORIZATION, self.authorization(&url))
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        field(&success_body(response).await?, "/data/id")
    }

    async fn send_upload(
        &self,
        url: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<Response, ProviderError> {
        let extension = content_type.rsplit('/').next().unwrap_or("bin");
        let media = Part::bytes(bytes)
            .file_name(format!("media.{extension}"))
            .mime_str(content_type)
            .map_err(|e| ProviderError::Rejected {
                status: 0,
                body: format!("content type {content_type:?}: {e}"),
            })?;
        let form = Form::new()
            .part("media", media)
            .text("media_category", "tweet_image");
        self.http
            .post(url)
            .header(AUTHORIZATION, self.authorization(url))
            .multipart(form)
            .send()
            .await
            .map_err(transport)
    }

    /// JSON and multipart bodies take no part in an OAuth 1.0a signature, so
    /// only the oauth_* parameters and the (query-less) URL are signed.
    fn authorization(&self, url: &str) -> String {
        let c = &self.credentials;
        let token = oauth1_request::Token::from_parts(
            c.api_key.as_str(),
            c.api_secret.as_str(),
            c.access_token.as_str(),
            c.access_secret.as_str(),
        );
        oauth1_request::post(url, &(), &token, oauth1_request::HMAC_SHA1)
    }
}

/// Fits an announcement into 280 characters as X counts them (a URL counts 23;
/// characters counted as Unicode scalar values): `headline` is cut with "…" if
/// needed, then a space and the url appended.
pub fn compose(headline: &str, url: &str) -> String {
    let (headline, url) = (headline.trim(), url.trim());
    let budget = if url.is_empty() {
        MAX_TWEET_CHARS
    } else {
        MAX_TWEET_CHARS - URL_WEIGHT - 1
    };
    let headline = if headline.chars().count() <= budget {
        headline.to_owned()
    } else {
        let cut: String = headline.chars().take(budget - 1).collect();
        format!("{}…", cut.trim_end())
    };
    match (headline.is_empty(), url.is_empty()) {
        (_, true) => headline,
        (true, false) => url.to_owned(),
        (false, false) => format!("{headline} {url}"),
    }
}

async fn success_body(response: Response) -> Result<Value, ProviderError> {
    let status = response.status();
    if status.is_success() {
        return response
            .json()
            .await
            .map_err(|e| unreachable(format!("unreadable answer from X: {e}")));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(retry_after(response.headers()))),
        });
    }
    let body = response.text().await.unwrap_or_default();
    Err(if status.is_client_error() {
        ProviderError::Rejected {
            status: status.as_u16(),
            body: problem_reason(&body),
        }
    } else {
        unreachable(format!("{status}: {}", problem_reason(&body)))
    })
}

fn retry_after(headers: &HeaderMap) -> u64 {
    let reset = headers
        .get("x-rate-limit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let Some(reset) = reset else {
        return 60;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    reset.saturating_sub(now).max(1)
}

/// X answers with problem+json (`detail`, `title`) and, for invalid requests
/// and v1.1, an `errors` list whose message is the specific one.
fn problem_reason(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return excerpt(body);
    };
    let summary = v["detail"].as_str().or_else(|| v["title"].as_str());
    match (summary, v["errors"][0]["message"].as_str()) {
        (Some(summary), Some(message)) => format!("{summary} ({message})"),
        (Some(reason), None) | (None, Some(reason)) => reason.to_owned(),
        (None, None) => excerpt(body),
    }
}

fn field(body: &Value, pointer: &str) -> Result<String, ProviderError> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            unreachable(format!(
                "X answered without {pointer}: {}",
                excerpt(&body.to_string())
            ))
        })
}

fn excerpt(s: &str) -> String {
    ProviderError::excerpt(s)
}

/// reqwest's own message hides the cause (refused, timed out, TLS), which is
/// what an operator needs.
fn transport(e: reqwest::Error) -> ProviderError {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    unreachable(message)
}

/// A failure to get a usable answer from X: worth retrying.
fn unreachable(message: String) -> ProviderError {
    ProviderError::Transport(format!("cannot reach X: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weighted(tweet: &str, url: &str) -> usize {
        tweet.chars().count() - url.chars().count() + URL_WEIGHT
    }

    #[test]
    fn short_headline_is_kept_whole() {
        assert_eq!(
            compose("New in store: Teapots", "https://shop.example/s/teapots"),
            "New in store: Teapots https://shop.example/s/teapots"
        );
    }

    #[test]
    fn long_headline_is_cut_to_fit_with_the_url_counted_as_23() {
        let url = "https://shop.example/products/0190b6f4-8d4e-7a3c-9f00-1234567890ab";
        let tweet = compose(&"é".repeat(400), url);
        assert_eq!(weighted(&tweet, url), MAX_TWEET_CHARS);
        assert!(tweet.ends_with(&format!("… {url}")), "{tweet}");
    }

    #[test]
    fn headline_of_exactly_the_budget_is_not_cut() {
        let url = "https://shop.example/p/1";
        let headline = "a".repeat(MAX_TWEET_CHARS - URL_WEIGHT - 1);
        let tweet = compose(&headline, url);
        assert_eq!(tweet, format!("{headline} {url}"));
        assert_eq!(weighted(&tweet, url), MAX_TWEET_CHARS);
    }
}

//! The one HTTP client the adapters share, and how they read a failed answer.

use std::time::Duration;

use crate::error::{Service, UpstreamError};

/// Kept for the life of the container so TLS connections are reused across jobs.
pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

/// `timeout` bounds one whole request; a slower answer is a retryable timeout.
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    crate::aws::install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("bridge-relay/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(3).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("the HTTP client builds with static settings")
}

/// Turns a non-2xx answer into an error with the sender's message and any retry hint.
pub(crate) async fn status_error(service: Service, response: reqwest::Response) -> UpstreamError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = response.text().await.unwrap_or_default();
    UpstreamError::Status {
        service,
        status,
        message: error_message(&body),
        retry_after,
    }
}

/// Zoom answers `{"code","message"}`, PagerDuty `{"error":{"message","code","errors"}}`.
fn error_message(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        let pd = v.get("error");
        let text = pd
            .and_then(|e| e.get("message"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("reason"))
            .or_else(|| v.get("error_description"))
            .and_then(|m| m.as_str())?;
        let code = pd
            .and_then(|e| e.get("code"))
            .or_else(|| v.get("code"))
            .map(|c| c.to_string());
        let details = pd
            .and_then(|e| e.get("errors"))
            .and_then(|e| e.as_array())
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .filter(|d| !d.is_empty());
        let mut out = text.to_owned();
        if let Some(code) = code {
            out = format!("{out} (code {code})");
        }
        if let Some(details) = details {
            out = format!("{out}: {details}");
        }
        Some(out)
    });
    let message = message.unwrap_or_else(|| body.trim().to_owned());
    if message.is_empty() {
        return "no error message".into();
    }
    message.chars().take(300).collect()
}

/// `Retry-After` (seconds or an HTTP date is not needed here: both APIs send seconds),
/// PagerDuty's `ratelimit-reset` (seconds) or Zoom's `X-RateLimit-Reset`.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "ratelimit-reset", "x-ratelimit-reset"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find_map(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_error_shapes() {
        assert_eq!(
            error_message(r#"{"code":124,"message":"Invalid access token."}"#),
            "Invalid access token. (code 124)"
        );
        assert_eq!(
            error_message(
                r#"{"error":{"message":"Invalid Input Provided","code":2001,"errors":["From header is invalid"]}}"#
            ),
            "Invalid Input Provided (code 2001): From header is invalid"
        );
        assert_eq!(error_message(""), "no error message");
        assert_eq!(error_message(&"x".repeat(1000)).len(), 300);
    }

    #[test]
    fn reads_retry_hints() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("ratelimit-reset", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }
}

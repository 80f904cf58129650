//! The HTTP plumbing the adapters share: one client (and one rustls crypto provider for it and
//! the AWS SDK), and how a failed answer is read into an [`UpstreamError`] that says whether a
//! retry can help. Vendor-neutral; each vendor's wire types stay in its own adapter crate.

// Input never panics the relay: no unwrap, expect, unchecked indexing or unchecked arithmetic
// on what came from outside; the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::time::Duration;

use bridge_relay_domain::error::{Service, UpstreamError};
pub use bridge_relay_ports::retry::MAX_RETRY_HINT;

/// reqwest and the AWS SDK are built without a crypto provider of their own; install ring once
/// per process.
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Kept for the life of the container so TLS connections are reused across jobs.
pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

/// `timeout` bounds one whole request; a slower answer is a retryable timeout.
#[allow(
    clippy::expect_used,
    reason = "the settings are constants; a client that cannot be built is a broken build, found by every test"
)]
pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("bridge-relay/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(3).min(timeout))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("the HTTP client builds with static settings")
}

/// A request that got no answer: timed out, not connected, or failed on the way.
pub fn transport_error(service: Service, error: reqwest::Error) -> UpstreamError {
    // The URL is left out: it may carry an account id in its query.
    let error = error.without_url();
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    UpstreamError::Transport {
        service,
        reason: format!("{kind}: {error}"),
    }
}

/// Turns a non-2xx answer into an error with the sender's message and any retry hint.
pub async fn status_error(service: Service, response: reqwest::Response) -> UpstreamError {
    status_error_and_code(service, response).await.0
}

/// [`status_error`], with the numeric `code` the answer's body gives at its top level (Zoom's
/// `{"code": 124, "message": …}`), read from the one read of the body.
pub async fn status_error_and_code(
    service: Service,
    response: reqwest::Response,
) -> (UpstreamError, Option<i64>) {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let daily_header = response
        .headers()
        .get("x-ratelimit-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("daily-limit"));
    let body = response.text().await.unwrap_or_default();
    let message = error_message(&body);
    let code = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("code")?.as_i64());
    // Retrying a daily limit within the day only spends the budget; say so instead.
    if status == 429 && (daily_header || message.to_ascii_lowercase().contains("daily rate limit"))
    {
        return (UpstreamError::DailyLimit { service, message }, code);
    }
    let error = UpstreamError::Status {
        service,
        status,
        message,
        retry_after,
    };
    (error, code)
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
/// PagerDuty's `ratelimit-reset` (seconds) or Zoom's `X-RateLimit-Reset`, capped at
/// [`MAX_RETRY_HINT`]: the hint comes from the answer, and an uncapped one overflows the clock.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    ["retry-after", "ratelimit-reset", "x-ratelimit-reset"]
        .iter()
        .filter_map(|name| headers.get(*name)?.to_str().ok())
        .find_map(|value| {
            let value = value.trim();
            match value.parse::<u64>() {
                Ok(seconds) => Some(seconds),
                // More digits than u64 holds: as long a wait as there is.
                Err(_) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    Some(u64::MAX)
                }
                Err(_) => None,
            }
        })
        .map(|seconds| Duration::from_secs(seconds).min(MAX_RETRY_HINT))
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

    fn response(status: u16, headers: &[(&'static str, &str)], body: &str) -> reqwest::Response {
        let mut builder = ::http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        reqwest::Response::from(builder.body(body.to_owned()).unwrap())
    }

    #[tokio::test]
    async fn a_daily_limit_is_told_apart_from_a_short_rate_limit() {
        // The body Zoom sends (devforum.zoom.us/t/18928), with and without the documented header.
        let daily = r#"{"code":429,"message":"You have exceeded the daily rate limit (100) of Meeting Create/Update API requests permitted for this particular user. You may resume these requests at GMT 00:00:00."}"#;
        let e = status_error(Service::Zoom, response(429, &[], daily)).await;
        assert!(matches!(e, UpstreamError::DailyLimit { .. }), "{e:?}");
        assert!(!e.is_retryable());
        let e = status_error(
            Service::Zoom,
            response(
                429,
                &[("x-ratelimit-type", "Daily-limit")],
                r#"{"code":429,"message":"Too many requests"}"#,
            ),
        )
        .await;
        assert!(matches!(e, UpstreamError::DailyLimit { .. }), "{e:?}");

        let e = status_error(
            Service::Zoom,
            response(
                429,
                &[("x-ratelimit-type", "QPS"), ("retry-after", "2")],
                r#"{"code":429,"message":"Too many requests"}"#,
            ),
        )
        .await;
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    }

    #[test]
    fn reads_retry_hints() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("ratelimit-reset", "7".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }

    #[test]
    fn huge_retry_hints_are_capped() {
        for value in ["18446744073709551615", "99999999999999999999999999"] {
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("retry-after", value.parse().unwrap());
            assert_eq!(retry_after(&headers), Some(MAX_RETRY_HINT), "{value}");
            let mut headers = reqwest::header::HeaderMap::new();
            headers.insert("ratelimit-reset", value.parse().unwrap());
            assert_eq!(retry_after(&headers), Some(MAX_RETRY_HINT), "{value}");
        }
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}

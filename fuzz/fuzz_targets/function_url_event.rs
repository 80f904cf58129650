//! The ingress Lambda end to end from its raw event: a Function URL (API Gateway v2) event is
//! decoded by lambda_http as in production, then handled by the real handler with a secret
//! source and an in-process queue. The first input byte, when odd, has the decoded body signed
//! with the configured secret, so the fuzzer also gets past the signature into the parser.
//! Never panics; never a 5xx (the secret and the queue are up, so any 5xx would be blamed on
//! the sender); 202 only for a signed body, and then exactly one job is queued.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bridge_relay::SecretsError;
use bridge_relay::lambda::handle_http;
use bridge_relay::model::Job;
use bridge_relay::pagerduty::signature;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::InProcessQueue;
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::{SecretCache, SecretSource};
use lambda_http::Body;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tokio::sync::mpsc::UnboundedReceiver;

const WEBHOOK_SECRET: &str = "fuzz-webhook-secret";

struct FixedSecret;

#[async_trait]
impl SecretSource for FixedSecret {
    fn name(&self) -> &str {
        "fuzz"
    }
    async fn fetch(&self) -> Result<SecretString, SecretsError> {
        Ok(SecretString::from(format!(
            r#"{{"zoom":{{"account_id":"a","client_id":"c","client_secret":"zs"}},
               "pagerduty":{{"api_token":"pt","from_email":"bot@example.com","webhook_secrets":["{WEBHOOK_SECRET}"]}}}}"#
        )))
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    ingress: Ingress,
    jobs: Mutex<UnboundedReceiver<Job>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let (queue, jobs) = InProcessQueue::new();
        let secrets = Arc::new(SecretCache::new(
            Arc::new(FixedSecret),
            Duration::from_secs(3600),
        ));
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
            ingress: Ingress::new(secrets, Arc::new(queue), BridgePolicy::default()),
            jobs: Mutex::new(jobs),
        }
    })
}

/// Skips events AWS itself never makes, on which the event libraries panic before the relay's
/// code runs (found by this target; see SECURITY.md):
/// - a base64 body that is not base64 (aws_lambda_events 1.2.1, `encodings/http.rs`): AWS
///   encodes binary bodies itself;
/// - a host, `X-Forwarded-Proto` or path that do not make a URL (lambda_http 1.3.2,
///   `request.rs`, `build_request_uri` unwraps `Url::parse`): a Function URL is reached only
///   under its own host name, over HTTPS, at a path starting with `/`;
/// - a raw query string with a space, `"`, `<`, `>` or a non-ASCII byte (lambda_http 1.3.2,
///   `request.rs`, "failed to build request: InvalidUriChar"). Whether AWS passes such a query
///   through unencoded is not known here: if it does, any caller can crash the ingress before
///   the relay's code runs (SECURITY.md, "Not covered").
fn aws_could_send(event: &str) -> bool {
    use base64::Engine;
    use serde_json::Value;
    let Ok(value) = serde_json::from_str::<Value>(event) else {
        return true;
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    if value.get("isBase64Encoded") == Some(&Value::Bool(true))
        && let Some(body) = text(value.get("body"))
        && base64::engine::general_purpose::STANDARD
            .decode(body)
            .is_err()
    {
        return false;
    }
    let headers = value.get("headers");
    let host = text(headers.and_then(|h| h.get("host")))
        .or_else(|| text(value.pointer("/requestContext/domainName")));
    let host_ok = host.is_none_or(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    });
    let proto_ok = text(headers.and_then(|h| h.get("x-forwarded-proto")))
        .is_none_or(|p| p == "https" || p == "http");
    let path_ok = text(value.get("rawPath")).is_none_or(|p| p.starts_with('/'));
    let query_ok = text(value.get("rawQueryString")).is_none_or(|q| {
        q.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'<' | b'>'))
    });
    host_ok && proto_ok && path_ok && query_ok
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, event)) = data.split_first() else {
        return;
    };
    let Ok(event) = std::str::from_utf8(event) else {
        return;
    };
    if !aws_could_send(event) {
        return;
    }
    let Ok(mut request) = lambda_http::request::from_str(event) else {
        return;
    };
    let signed = mode % 2 == 1;
    if signed {
        let body: Vec<u8> = match request.body() {
            Body::Text(text) => text.as_bytes().to_vec(),
            Body::Binary(bytes) => bytes.clone(),
            _ => Vec::new(),
        };
        let value = signature::sign(&body, &SecretString::from(WEBHOOK_SECRET));
        request.headers_mut().insert(
            signature::HEADER,
            value.parse().expect("hex is a header value"),
        );
    }
    let harness = harness();
    let response = harness
        .runtime
        .block_on(handle_http(&harness.ingress, request))
        .expect("the handler answers every request");
    let status = response.status().as_u16();
    assert!(
        status < 500,
        "{status} for a request the relay could handle"
    );
    assert!(signed || status != 202, "an unsigned webhook was queued");
    let mut jobs = harness.jobs.lock().expect("not poisoned");
    let mut queued = 0;
    while jobs.try_recv().is_ok() {
        queued += 1;
    }
    assert_eq!(
        queued,
        usize::from(status == 202),
        "status {status}, {queued} jobs queued"
    );
});

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
use bridge_relay::lambda::handle_http;
use bridge_relay::model::Job;
use bridge_relay::pagerduty::signature;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::InProcessQueue;
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::{SecretCache, SecretSource};
use bridge_relay::SecretsError;
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
        let secrets = Arc::new(SecretCache::new(Arc::new(FixedSecret), Duration::from_secs(3600)));
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

fuzz_target!(|data: &[u8]| {
    let Some((&mode, event)) = data.split_first() else {
        return;
    };
    let Ok(event) = std::str::from_utf8(event) else {
        return;
    };
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
        request
            .headers_mut()
            .insert(signature::HEADER, value.parse().expect("hex is a header value"));
    }
    let harness = harness();
    let response = harness
        .runtime
        .block_on(handle_http(&harness.ingress, request))
        .expect("the handler answers every request");
    let status = response.status().as_u16();
    assert!(status < 500, "{status} for a request the relay could handle");
    assert!(signed || status != 202, "an unsigned webhook was queued");
    let mut jobs = harness.jobs.lock().expect("not poisoned");
    let mut queued = 0;
    while jobs.try_recv().is_ok() {
        queued += 1;
    }
    assert_eq!(queued, usize::from(status == 202), "status {status}, {queued} jobs queued");
});

//! The ingress Lambda end to end from its raw event: a Function URL (payload 2.0) event is
//! deserialized as the runtime does in production, then handled by the real handler with a secret
//! source and a queue that keeps every job it is handed (no FIFO deduplication, so a repeated
//! webhook id still shows whether the ingress queued it). The first input byte, when odd, has the decoded body signed
//! with the configured secret, so the fuzzer also gets past the signature into the parser.
//! Never panics; never a 5xx (the secret and the queue are up, so any 5xx would be blamed on
//! the sender); 202 only for a signed body, and then exactly one job is queued.
#![no_main]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use bridge_relay::SecretsError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bridge_relay::lambda::{FunctionUrlRequest, handle_function_url};
use bridge_relay::model::Job;
use bridge_relay::pagerduty::signature;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::JobQueue;
use bridge_relay::QueueError;
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::{SecretCache, SecretSource};
use lambda_runtime::{Context, LambdaEvent};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

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

/// The job queue as the ingress sees it: every job it is handed, kept.
#[derive(Default)]
struct KeptJobs(Mutex<Vec<Job>>);

#[async_trait]
impl JobQueue for KeptJobs {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        self.0.lock().expect("not poisoned").push(job.clone());
        Ok(())
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    ingress: Ingress,
    jobs: Arc<KeptJobs>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let jobs = Arc::new(KeptJobs::default());
        let secrets = Arc::new(SecretCache::new(
            Arc::new(FixedSecret),
            Duration::from_secs(3600),
        ));
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime"),
            ingress: bridge_relay::compose::ingress(secrets, jobs.clone(), BridgePolicy::default()),
            jobs,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, event)) = data.split_first() else {
        return;
    };
    let Ok(mut request) = serde_json::from_slice::<FunctionUrlRequest>(event) else {
        return;
    };
    let signed = mode % 2 == 1;
    if signed {
        let text = request.body.clone().unwrap_or_default();
        let body = if request.is_base64_encoded {
            STANDARD.decode(&text).unwrap_or_default()
        } else {
            text.into_bytes()
        };
        let value = signature::sign(&body, &SecretString::from(WEBHOOK_SECRET));
        request.headers.insert(signature::HEADER.to_owned(), value);
    }
    let harness = harness();
    let event = LambdaEvent::new(request, Context::default());
    let Ok(response) = harness
        .runtime
        .block_on(handle_function_url(&harness.ingress, event));
    let status = response.status_code;
    assert!(
        status < 500,
        "{status} for a request the relay could handle"
    );
    assert!(signed || status != 202, "an unsigned webhook was queued");
    let queued = std::mem::take(&mut *harness.jobs.0.lock().expect("not poisoned")).len();
    assert_eq!(
        queued,
        usize::from(status == 202),
        "status {status}, {queued} jobs queued"
    );
});

//! AWS endpoints that accept a connection and never answer, as the ingress function meets a hung
//! SQS or Secrets Manager: every route still answers 503 inside its time budget (so the sender
//! delivers again and the answer is logged and counted), never a function timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::{Region, SdkConfig};
use bridge_relay::error::QueueError;
use bridge_relay::model::Job;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::{InProcessQueue, JobQueue, SqsJobQueue};
use bridge_relay::relay::Ingress;
use bridge_relay::relay::REQUEST_BUDGET;
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use bridge_relay_tests::*;
use serde_json::Value;

const SECRET: &str = "whsec-hung-aws";
/// The ingress function's timeout: an answer after it is one AWS never sends.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP listener that accepts every connection and never writes a byte.
async fn silent_endpoint() -> (String, tokio::task::JoinHandle<()>) {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    (url, held)
}

/// The relay's SDK configuration (its time limits included) pointed at `endpoint`.
async fn sdk_config(endpoint: &str) -> SdkConfig {
    bridge_relay::aws::config_loader()
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "test", "test", None, None, "static",
        ))
        .load()
        .await
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file_secrets(name: &str) -> (Arc<SecretCache>, TempDir) {
    let dir = std::env::temp_dir().join(format!("bridge-relay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.json");
    std::fs::write(&file, secret_document(&[SECRET])).unwrap();
    let cache = SecretCache::new(
        Arc::new(FileSecretSource::new(&file)),
        Duration::from_secs(300),
    );
    (Arc::new(cache), TempDir(dir))
}

/// A signed V3 trigger to `/webhook`: its answer, and how long it took. A test that would wait
/// past the function's timeout fails instead of hanging.
async fn webhook(ingress: &Ingress) -> (u16, Value, Duration) {
    let body = pagerduty_webhook_bytes(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
    );
    let signature = sign(&body, SECRET);
    let started = Instant::now();
    let headers = [
        ("x-pagerduty-signature", signature.as_str()),
        ("x-webhook-id", "hung-aws-webhook"),
    ];
    let answered = tokio::time::timeout(
        FUNCTION_TIMEOUT * 2,
        post_json(ingress, "/webhook", &headers, &body),
    )
    .await;
    let (status, reply) = answered.expect("the ingress answers before the function timeout");
    (status, reply, started.elapsed())
}

fn assert_answered_in_budget(status: u16, reply: &Value, took: Duration) {
    assert_eq!(status, 503, "{reply}");
    assert_eq!(reply["status"], "error", "{reply}");
    assert!(
        took <= REQUEST_BUDGET + Duration::from_millis(500),
        "answered after {took:?}, past the {REQUEST_BUDGET:?} budget"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_sqs_endpoint_is_a_503_within_the_budget() {
    let (url, held) = silent_endpoint().await;
    let (secrets, _dir) = file_secrets("hung-sqs");
    let queue = SqsJobQueue::from_sdk_config(
        &sdk_config(&url).await,
        format!("{url}/000000000000/jobs.fifo"),
    );
    let ingress = bridge_relay::compose::ingress(secrets, Arc::new(queue), BridgePolicy::default());
    let (status, reply, took) = webhook(&ingress).await;
    assert_answered_in_budget(status, &reply, took);
    assert_eq!(
        reply["error"], "the relay could not queue the job; retry later",
        "the SDK's own time limit ended the call"
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_secrets_manager_endpoint_is_a_503_within_the_budget() {
    let (url, held) = silent_endpoint().await;
    let secrets = bridge_relay::secrets::secrets_manager(
        &sdk_config(&url).await,
        "bridge-relay/hung",
        Duration::from_secs(300),
    );
    let (queue, _jobs) = InProcessQueue::new();
    let ingress = bridge_relay::compose::ingress(secrets, Arc::new(queue), BridgePolicy::default());
    let (status, reply, took) = webhook(&ingress).await;
    assert_answered_in_budget(status, &reply, took);
    assert_eq!(
        reply["error"], "the relay cannot read its secret; retry later",
        "the SDK's own time limit ended the call"
    );
    held.abort();
}

/// A queue that never returns, whatever its client's limits: the route's budget answers.
struct NeverAnswers;

#[async_trait]
impl JobQueue for NeverAnswers {
    async fn enqueue(&self, _job: &Job) -> Result<(), QueueError> {
        std::future::pending().await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_has_the_request_budget() {
    let (secrets, _dir) = file_secrets("hung-queue");
    let ingress =
        bridge_relay::compose::ingress(secrets, Arc::new(NeverAnswers), BridgePolicy::default());
    let (status, reply, took) = webhook(&ingress).await;
    assert_answered_in_budget(status, &reply, took);
    assert!(took >= REQUEST_BUDGET, "{took:?}");
    assert_eq!(
        reply["error"],
        "the relay could not accept the request in time; try again"
    );
}

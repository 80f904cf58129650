//! A deployment with Zoom events: the AWS stand-ins (moto: secret, queues, table) and the API
//! stand-ins (Prism proxies of Zoom's and PagerDuty's specs), the ingress and the worker as the
//! Lambda builds them, signed Zoom event notifications, and the notes the incident got. Shared
//! by the tests of the meeting after the bridge and of the bridge's health.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bridge_relay::lambda::handle_sqs;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::{Ingress, WebhookRequest, Worker};
use bridge_relay::store::DynamoDbStore;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::*;

pub const MEETING_ID: u64 = 85012345678;
pub const ZOOM_SECRET_TOKEN: &str = "zoom-webhook-secret-token-e2e";
pub const INCIDENT: &str = "PFQZPSY";
pub const REVIEW_ID: u64 = 86000000001;

pub fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn zoom_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        workspace_root()
            .join("tests/fixtures/zoom-webhooks")
            .join(name),
    )
    .unwrap()
}

/// A Function URL request to `/zoom` as Zoom sends it.
pub async fn post_zoom(
    ingress: &Ingress,
    body: &[u8],
    timestamp: u64,
    signature: Option<String>,
) -> (u16, Value) {
    let timestamp = timestamp.to_string();
    let signature = signature.unwrap_or_else(|| {
        bridge_relay::zoom::webhook::sign(
            &timestamp,
            body,
            &secrecy::SecretString::from(ZOOM_SECRET_TOKEN.to_owned()),
        )
    });
    let headers = [
        ("x-zm-request-timestamp", timestamp.as_str()),
        ("x-zm-signature", signature.as_str()),
    ];
    post_json(ingress, "/zoom", &headers, body).await
}

/// The secret with the Zoom app's event-subscription secret token.
pub fn secret_with_zoom_token() -> String {
    let mut document: Value = serde_json::from_str(&secret_document(&[EXAMPLE_WEBHOOK_SECRET]))
        .expect("the test secret is JSON");
    document["zoom"]["webhook_secret_token"] = json!(ZOOM_SECRET_TOKEN);
    document.to_string()
}

pub struct Stand {
    pub aws: AwsStandIns,
    pub apis: ApiStandIns,
    pub timer_queue_url: String,
}

impl Stand {
    pub async fn start() -> Stand {
        let (aws, apis) = tokio::join!(
            AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]),
            ApiStandIns::start(MEETING_ID)
        );
        aws.put_secret(secret_with_zoom_token()).await;
        let timer_queue_url = aws.timer_queue_url.clone();
        Mock::given(method("PUT"))
            .and(path_regex(r"^/meetings/\d+/status$"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&apis.zoom_upstream)
            .await;
        Stand {
            aws,
            apis,
            timer_queue_url,
        }
    }

    pub fn store(&self) -> Arc<DynamoDbStore> {
        Arc::new(DynamoDbStore::from_sdk_config(
            &self.aws.config,
            &self.aws.table_name,
        ))
    }

    pub fn ingress(&self, policy: BridgePolicy) -> Ingress {
        self.aws.ingress(policy).with_meeting_index(self.store())
    }

    /// The worker as the Lambda builds it.
    pub fn worker(&self) -> Arc<Worker> {
        self.aws.worker(&self.apis.env(), Deployment::new()).0
    }

    /// A signed PagerDuty V3 webhook about the incident, of the given type, through the ingress.
    pub async fn pagerduty(&self, ingress: &Ingress, event_type: &str, id: &str) -> u16 {
        self.pagerduty_with(ingress, event_type, id, |_| {}).await
    }

    /// [`pagerduty`](Self::pagerduty) with the incident's data changed by `change` first.
    pub async fn pagerduty_with(
        &self,
        ingress: &Ingress,
        event_type: &str,
        id: &str,
        change: impl FnOnce(&mut Value),
    ) -> u16 {
        let mut body =
            pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
        body["event"]["event_type"] = json!(event_type);
        body["event"]["id"] = json!(id);
        change(&mut body["event"]["data"]);
        let body = serde_json::to_vec(&body).unwrap();
        let signature = sign(&body, EXAMPLE_WEBHOOK_SECRET);
        ingress
            .handle(WebhookRequest {
                signature: Some(&signature),
                webhook_id: Some(id),
                body: &body,
            })
            .await
            .status
    }

    /// Runs the worker on the job queue until it is empty.
    pub async fn work(&self, worker: &Arc<Worker>) {
        self.aws
            .run_event_source(worker.clone(), Duration::from_secs(30))
            .await;
        assert_eq!(
            self.aws.depth(&self.aws.dead_letter_queue_url).await,
            0,
            "a job was dead-lettered\nzoom prism:\n{}\npagerduty prism:\n{}",
            self.apis.zoom_prism.output(),
            self.apis.pagerduty_prism.output()
        );
    }

    /// Delivers the next job to a worker whose timer queue does not exist, so any timer it
    /// sends fails; checks that the job failed, and makes it visible again as SQS does once
    /// its visibility ends.
    pub async fn deliver_without_timer_queue(&self) {
        let missing_queue = format!("{}/123456789012/no-such-timer-queue", self.aws.moto.url);
        let (broken, _) = self.aws.worker(
            &self.apis.env(),
            Deployment::new().set("TIMER_QUEUE_URL", missing_queue),
        );
        let event = self.aws.receive_as_event().await;
        assert_eq!(event.records.len(), 1);
        let receipt = event.records[0].receipt_handle.clone().unwrap();
        let response = handle_sqs(
            broken,
            LambdaEvent::new(event, invocation_context(Duration::from_secs(60))),
        )
        .await
        .unwrap();
        assert_eq!(response.batch_item_failures.len(), 1, "the send failed");
        aws_sdk_sqs::Client::new(&self.aws.config)
            .change_message_visibility()
            .queue_url(&self.aws.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }

    /// Waits for the timer queue to hand out its (delayed) messages and runs the worker on them.
    pub async fn fire_timers(&self, worker: &Arc<Worker>, within: Duration) -> usize {
        let messages = self.due_timer_messages(within).await;
        let count = messages.len();
        let receipts: Vec<String> = messages
            .iter()
            .map(|m| m.receipt_handle.clone().unwrap())
            .collect();
        let response = handle_sqs(
            worker.clone(),
            LambdaEvent::new(
                sqs_event(messages),
                invocation_context(Duration::from_secs(60)),
            ),
        )
        .await
        .unwrap();
        assert!(
            response.batch_item_failures.is_empty(),
            "a timer job failed"
        );
        self.delete_timer_messages(receipts).await;
        count
    }

    /// Takes the timer jobs off the timer queue once they are due, without running them.
    pub async fn take_timers(&self, within: Duration) -> Vec<Value> {
        let messages = self.due_timer_messages(within).await;
        let receipts = messages
            .iter()
            .map(|m| m.receipt_handle.clone().unwrap())
            .collect();
        self.delete_timer_messages(receipts).await;
        messages
            .iter()
            .map(|m| serde_json::from_str(m.body.as_deref().unwrap()).unwrap())
            .collect()
    }

    /// The timer queue's messages once some are due (waiting up to `within`), still on it.
    async fn due_timer_messages(&self, within: Duration) -> Vec<aws_sdk_sqs::types::Message> {
        let client = aws_sdk_sqs::Client::new(&self.aws.config);
        eventually(within, || async {
            let messages = client
                .receive_message()
                .queue_url(&self.timer_queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            (!messages.is_empty()).then_some(messages)
        })
        .await
        .unwrap_or_default()
    }

    async fn delete_timer_messages(&self, receipts: Vec<String>) {
        let client = aws_sdk_sqs::Client::new(&self.aws.config);
        for receipt in receipts {
            client
                .delete_message()
                .queue_url(&self.timer_queue_url)
                .receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
    }

    /// Messages in the timer queue, delayed ones included.
    pub async fn timers_waiting(&self) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as Q;
        let attributes = aws_sdk_sqs::Client::new(&self.aws.config)
            .get_queue_attributes()
            .queue_url(&self.timer_queue_url)
            .attribute_names(Q::All)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        [
            Q::ApproximateNumberOfMessages,
            Q::ApproximateNumberOfMessagesNotVisible,
            Q::ApproximateNumberOfMessagesDelayed,
        ]
        .iter()
        .filter_map(|name| attributes.get(name)?.parse::<usize>().ok())
        .sum()
    }

    pub async fn notes(&self) -> Vec<String> {
        ApiStandIns::requests(&self.apis.pagerduty_upstream)
            .await
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/notes"))
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["note"]["content"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    pub async fn end_calls(&self) -> Vec<(String, Value)> {
        ApiStandIns::requests(&self.apis.zoom_upstream)
            .await
            .iter()
            .filter(|r| r.url.path().ends_with("/status"))
            .map(|r| {
                (
                    format!("{} {}", r.method, r.url.path()),
                    serde_json::from_slice(&r.body).unwrap(),
                )
            })
            .collect()
    }
}

/// Opens the bridge of the incident the usual way; returns the notes count after it.
pub async fn bridge(stand: &Stand, ingress: &Ingress, worker: &Arc<Worker>) {
    assert_eq!(
        stand
            .pagerduty(ingress, "incident.triggered", "trigger-1")
            .await,
        202
    );
    stand.work(worker).await;
    let notes = stand.notes().await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("Zoom bridge opened"), "{notes:?}");
}

pub fn timer_delivery(job: &Value) -> aws_lambda_events::sqs::SqsEvent {
    serde_json::from_value(json!({"Records": [{
        "messageId": "timer-1", "receiptHandle": "r", "body": job.to_string(),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bridge-relay-timers",
        "awsRegion": "us-east-1"
    }]}))
    .unwrap()
}

/// A Zoom fixture as JSON, for edits.
pub fn zoom_json(name: &str) -> Value {
    serde_json::from_slice(&zoom_fixture(name)).unwrap()
}

/// Posts a Zoom event through the ingress; the answer's status.
pub async fn zoom_event(ingress: &Ingress, body: &Value) -> u16 {
    let (status, answer) = post_zoom(
        ingress,
        &serde_json::to_vec(body).unwrap(),
        now_seconds(),
        None,
    )
    .await;
    assert!(status == 202 || status == 200, "{status} {answer}");
    status
}

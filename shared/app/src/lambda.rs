//! Entry adapters: Lambda events in, the use case called, Lambda responses out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::relay::{Delivery, Ingress, Settled, WebhookResponse, Worker};
use crate::report::{Invocation, JobOutcome, WebhookReport};
use bridge_relay_domain::error::JobError;
use bridge_relay_domain::model::Job;
use bridge_relay_domain::telemetry::observe;
use bridge_relay_ports::inbound::Headers;

/// The Function URL's event (payload format 2.0), only the fields the ingress reads. It is read
/// raw rather than through lambda_http, whose conversion to an `http::Request` panics on values
/// the relay never reads (a query string with a space, a `Host` that is not a host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FunctionUrlRequest {
    pub raw_path: String,
    /// Lowercase names (AWS lowercases them); repeated headers joined with commas.
    pub headers: HashMap<String, String>,
    pub body: Option<String>,
    pub is_base64_encoded: bool,
    pub request_context: RequestContext,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestContext {
    pub http: HttpContext,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpContext {
    pub method: String,
}

impl FunctionUrlRequest {
    /// A POST as AWS hands it over (for tests and tools).
    pub fn post(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        let (body, is_base64_encoded) = match std::str::from_utf8(body) {
            Ok(text) => (text.to_owned(), false),
            Err(_) => (STANDARD.encode(body), true),
        };
        FunctionUrlRequest {
            raw_path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), (*value).to_owned()))
                .collect(),
            body: Some(body),
            is_base64_encoded,
            request_context: RequestContext {
                http: HttpContext {
                    method: "POST".into(),
                },
            },
        }
    }
}

impl Headers for FunctionUrlRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.header(name)
    }
}

/// What the Function URL sends back to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlResponse {
    pub status_code: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

impl FunctionUrlResponse {
    fn json(status_code: u16, body: String) -> Self {
        FunctionUrlResponse {
            status_code,
            headers: HashMap::from([("content-type".to_owned(), "application/json".to_owned())]),
            body,
            is_base64_encoded: false,
        }
    }
}

/// A Function URL request to the ingress. The signature is checked over the bytes the sender
/// sent: a body AWS delivered base64-encoded is decoded first (and one that does not decode is
/// the sender's 400).
pub async fn handle_function_url(
    ingress: &Ingress,
    event: LambdaEvent<FunctionUrlRequest>,
) -> Result<FunctionUrlResponse, std::convert::Infallible> {
    let request = &event.payload;
    let route = match ingress.route(&request.raw_path) {
        Some(route)
            if request
                .request_context
                .http
                .method
                .eq_ignore_ascii_case("POST") =>
        {
            route
        }
        _ => {
            return Ok(FunctionUrlResponse::json(404, ingress.unknown_path_body()));
        }
    };
    let text = request.body.as_deref().unwrap_or_default();
    let decoded;
    let body: &[u8] = if request.is_base64_encoded {
        match STANDARD.decode(text) {
            Ok(bytes) => {
                decoded = bytes;
                &decoded
            }
            Err(_) => {
                let response =
                    WebhookResponse::rejected(400, "the body is marked base64 but is not base64");
                return Ok(FunctionUrlResponse::json(400, response.body.to_string()));
            }
        }
    } else {
        text.as_bytes()
    };
    let (response, calls) = observe(ingress.handle_route(route, request, body)).await;
    WebhookReport {
        response: &response,
        webhook_id: ingress.delivery_id(request),
        calls,
    }
    .report(Some(&Invocation::from_context(&event.context)));
    Ok(FunctionUrlResponse::json(
        response.status,
        response.body.to_string(),
    ))
}

/// A batch from the FIFO queue. Groups (incidents) run concurrently, a group's messages in
/// order; once a message fails, the rest of its group is handed back too, so SQS keeps the order.
/// Only the failed messages are reported, so the others are not run again.
pub async fn handle_sqs(
    worker: Arc<Worker>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let deadline = invocation_deadline(event.context.deadline);
    let invocation = Arc::new(Invocation::from_context(&event.context));
    let mut groups: Vec<Vec<SqsMessage>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (n, message) in event.payload.records.into_iter().enumerate() {
        let group = message
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_else(|| format!("no-group-{n}"));
        match index.get(&group).and_then(|slot| groups.get_mut(*slot)) {
            Some(messages) => messages.push(message),
            None => {
                index.insert(group, groups.len());
                groups.push(vec![message]);
            }
        }
    }
    let mut tasks = tokio::task::JoinSet::new();
    for group in groups {
        let (worker, invocation) = (worker.clone(), invocation.clone());
        // A spawned task leaves the runtime's span behind; take it along so every line of the
        // job carries the invocation's request and trace ids.
        tasks.spawn(
            async move { run_group(&worker, group, deadline, &invocation).await }
                .instrument(tracing::Span::current()),
        );
    }
    let mut response = SqsBatchResponse::default();
    while let Some(failed) = tasks.join_next().await {
        for id in failed? {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}

/// Time kept back from the Lambda deadline to release claims and answer.
const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// A job is not started with less time than this before the deadline: one call may take
/// the HTTP client's 10-second timeout, and a job cut off mid-way is delivered again anyway.
const TIME_TO_START: Duration = Duration::from_secs(10);

/// The invocation's time when the runtime API gives no usable deadline: the template's worker
/// timeout.
const UNKNOWN_DEADLINE_BUDGET: Duration = Duration::from_secs(60);

fn invocation_deadline(deadline_epoch_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    // Lambda's deadline is always ahead when an invocation starts. One already past is none
    // at all: cargo-lambda's emulator sends 600000 (ten minutes after 1970).
    let left = match deadline_epoch_ms.checked_sub(now_ms) {
        Some(left) if left > 0 => Duration::from_millis(left),
        _ => {
            tracing::warn!(
                deadline_ms = deadline_epoch_ms,
                "the runtime gave no deadline ahead; the invocation takes the template's 60 s"
            );
            UNKNOWN_DEADLINE_BUDGET
        }
    };
    bridge_relay_ports::retry::instant_after(left.saturating_sub(DEADLINE_MARGIN))
}

async fn run_group(
    worker: &Worker,
    messages: Vec<SqsMessage>,
    deadline: Instant,
    invocation: &Invocation,
) -> Vec<String> {
    let mut failed = Vec::new();
    // The receive whose job failed and was handed back early: the rest of its group follows
    // it then (a FIFO group waits while any of its messages is in flight).
    let mut handed_back: Option<u32> = None;
    let jobs: Vec<_> = messages
        .iter()
        .map(|m| Job::from_json(m.body.as_deref().unwrap_or_default()))
        .collect();
    // A follow job left out for the next one of its group (a burst sends one update), with
    // the messages it stands for, handed back too if the job that takes it over fails.
    let mut carried: Option<(Job, Vec<SqsMessage>)> = None;
    for (n, (message, parsed)) in messages.into_iter().zip(jobs.iter()).enumerate() {
        let id = message.message_id.clone().unwrap_or_default();
        if !failed.is_empty() {
            if let Some(receive_count) = handed_back {
                redeliver_soon(worker, &message, receive_count).await;
            }
            failed.push(id);
            continue;
        }
        let job = match parsed {
            Ok(job) => job.clone(),
            Err(e) => {
                // Not a job: let SQS move it to the dead-letter queue after its receives.
                tracing::error!(message_id = %id, error = %e, "unreadable message");
                failed.push(id);
                continue;
            }
        };
        let (job, mut taken_over) = match carried.take() {
            Some((earlier, messages)) => (earlier.coalesce_into(job), messages),
            None => (job, Vec::new()),
        };
        if let Some(Ok(next)) = jobs.get(n.saturating_add(1))
            && job.is_superseded_by(next)
        {
            tracing::info!(message_id = %id, incident = %job.incident_key(), "follow job left to the next one of the incident, which carries it newer");
            taken_over.push(message);
            carried = Some((job, taken_over));
            continue;
        }
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let delivery = Delivery {
            receive_count,
            deadline,
        };
        if deadline.saturating_duration_since(Instant::now()) < TIME_TO_START {
            // Too late to start: handed back untouched, so the invocation answers before
            // Lambda stops it (a stopped invocation loses the whole batch's answer).
            tracing::warn!(message_id = %id, incident = %job.incident_key(), "too little of the invocation left to start the job; it is delivered again");
            redeliver_soon(worker, &message, receive_count).await;
            handed_back = Some(receive_count);
            failed.push(id);
            continue;
        }
        // Bounded by the deadline whatever a call or a wait takes: a job cut off here is like
        // one whose worker died (its claim lapses, its next delivery resumes from the record).
        let (settled, calls) = observe(async {
            tokio::time::timeout_at(deadline.into(), worker.handle_delivery(&job, delivery))
                .await
                .unwrap_or(Settled::Retry(JobError::OutOfTime))
        })
        .await;
        JobOutcome::new(&job, delivery, &settled, calls).report(Some(invocation));
        if let Settled::Retry(_) | Settled::LastDelivery(..) = settled {
            redeliver_soon(worker, &message, receive_count).await;
            handed_back = Some(receive_count);
            // The follow jobs it took over come back with it, in their place before it.
            for earlier in &taken_over {
                redeliver_soon(worker, earlier, receive_count).await;
                failed.push(earlier.message_id.clone().unwrap_or_default());
            }
            failed.push(id);
        }
    }
    failed
}

/// Hands `message` back to its queue after the backoff of `receive_count`.
async fn redeliver_soon(worker: &Worker, message: &SqsMessage, receive_count: u32) {
    let queue = message
        .event_source_arn
        .as_deref()
        .and_then(|arn| arn.rsplit(':').next());
    if let (Some(queue), Some(receipt)) = (queue, message.receipt_handle.as_deref()) {
        worker.redeliver_soon(queue, receipt, receive_count).await;
    }
}

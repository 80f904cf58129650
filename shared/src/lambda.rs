//! Entry adapters: Lambda events in, the use case called, Lambda responses out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_http::{Body, Request, RequestExt, Response};
use lambda_runtime::LambdaEvent;
use tracing::Instrument;

use crate::incident_io::ingress::IncidentIoRequest;
use crate::incident_io::signature::{self as svix, SignedHeaders};
use crate::model::Job;
use crate::pagerduty::{manual, signature};
use crate::relay::{Delivery, Ingress, Settled, WebhookRequest, Worker};
use crate::requests::{self, ManualRequest, Route};
use crate::telemetry::{Invocation, JobOutcome, WebhookReport, observe};

pub const WEBHOOK_ID_HEADER: &str = "x-webhook-id";

/// A Function URL / HTTP API request to the ingress. lambda_http has already decoded a
/// base64-encoded body, so the signature is checked over the bytes PagerDuty sent.
pub async fn handle_http(
    ingress: &Ingress,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok());
    let body: &[u8] = match request.body() {
        Body::Empty => &[],
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let route = match requests::route(request.uri().path()) {
        Some(route) => route,
        None => {
            return Ok(Response::builder()
                .status(404)
                .header("content-type", "application/json")
                .body(Body::Text(requests::UNKNOWN_PATH.into()))?);
        }
    };
    let (response, calls) = observe(async {
        match route {
            Route::Webhook => {
                ingress
                    .handle(WebhookRequest {
                        signature: header(signature::HEADER),
                        webhook_id: header(WEBHOOK_ID_HEADER),
                        body,
                    })
                    .await
            }
            Route::Request(kind) => {
                ingress
                    .handle_request(ManualRequest {
                        kind,
                        token: header(manual::TOKEN_HEADER),
                        webhook_id: header(WEBHOOK_ID_HEADER),
                        body,
                    })
                    .await
            }
            Route::IncidentIo => {
                ingress
                    .handle_incident_io(IncidentIoRequest {
                        headers: SignedHeaders {
                            id: header(svix::ID_HEADER),
                            timestamp: header(svix::TIMESTAMP_HEADER),
                            signature: header(svix::SIGNATURE_HEADER),
                        },
                        body,
                    })
                    .await
            }
            Route::Zoom => {
                ingress
                    .handle_zoom(crate::lifecycle::ZoomRequest {
                        signature: header(crate::zoom::webhook::SIGNATURE_HEADER),
                        timestamp: header(crate::zoom::webhook::TIMESTAMP_HEADER),
                        body,
                    })
                    .await
            }
        }
    })
    .await;
    let invocation = request.lambda_context_ref().map(Invocation::from_context);
    WebhookReport {
        response: &response,
        webhook_id: header(WEBHOOK_ID_HEADER).or_else(|| header(svix::ID_HEADER)),
        calls,
    }
    .report(invocation.as_ref());
    Ok(Response::builder()
        .status(response.status)
        .header("content-type", "application/json")
        .body(Body::Text(response.body.to_string()))?)
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
        let slot = *index.entry(group).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[slot].push(message);
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

fn invocation_deadline(deadline_epoch_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let left = Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms));
    Instant::now() + left.saturating_sub(DEADLINE_MARGIN)
}

async fn run_group(
    worker: &Worker,
    messages: Vec<SqsMessage>,
    deadline: Instant,
    invocation: &Invocation,
) -> Vec<String> {
    let mut failed = Vec::new();
    for message in messages {
        let id = message.message_id.clone().unwrap_or_default();
        if !failed.is_empty() {
            failed.push(id);
            continue;
        }
        let job = match Job::from_json(message.body.as_deref().unwrap_or_default()) {
            Ok(job) => job,
            Err(e) => {
                // Not a job: let SQS move it to the dead-letter queue after its receives.
                tracing::error!(message_id = %id, error = %e, "unreadable message");
                failed.push(id);
                continue;
            }
        };
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let delivery = Delivery {
            receive_count,
            deadline,
        };
        let (settled, calls) = observe(worker.handle_delivery(&job, delivery)).await;
        JobOutcome::new(&job, delivery, &settled, worker.max_receives(), calls)
            .report(Some(invocation));
        if let Settled::Retry(_) = settled {
            failed.push(id);
        }
    }
    failed
}

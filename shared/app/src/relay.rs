//! The use case's two halves under one name: the ingress pipeline and the worker, both in
//! `bridge-relay-core`, re-exported here; and shorthands that post one kind of request to the
//! ingress by its route, for callers that hold a request rather than an HTTP request (the
//! tests and the benchmarks).

use std::collections::HashMap;

pub use crate::ingress::{
    Ingress, MAX_BODY_BYTES, Outcome, REQUEST_BUDGET, Route, WebhookResponse,
};
pub use crate::pagerduty::inbound::MAX_WEBHOOK_ID_BYTES;
pub use bridge_relay_core::bridge::failure_note;
pub use bridge_relay_core::worker::{
    Delivery, FailureNote, JobReport, Settled, Worker, WorkerSettings,
};

use crate::incident_io::signature as svix;
use crate::pagerduty::inbound::WEBHOOK_ID_HEADER;
use crate::pagerduty::signature;

/// A PagerDuty V3 webhook as an entry point hands it over.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub signature: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub body: &'a [u8],
}

/// An incident.io webhook as an entry point hands it over.
#[derive(Debug, Clone, Copy)]
pub struct IncidentIoRequest<'a> {
    pub headers: svix::SignedHeaders<'a>,
    pub body: &'a [u8],
}

/// Posts one kind of request to the route that takes it (404 when the ingress has none).
#[allow(async_fn_in_trait, reason = "called on the concrete Ingress only")]
pub trait PostTo {
    /// A signed PagerDuty V3 webhook, as posted to `/webhook`.
    async fn handle(&self, request: WebhookRequest<'_>) -> WebhookResponse;
    /// An incident.io webhook, as posted to `/incident-io`.
    async fn handle_incident_io(&self, request: IncidentIoRequest<'_>) -> WebhookResponse;
}

impl PostTo for Ingress {
    async fn handle(&self, request: WebhookRequest<'_>) -> WebhookResponse {
        let headers = header_map([
            (signature::HEADER, request.signature),
            (WEBHOOK_ID_HEADER, request.webhook_id),
        ]);
        post(self, "/webhook", &headers, request.body).await
    }

    async fn handle_incident_io(&self, request: IncidentIoRequest<'_>) -> WebhookResponse {
        let headers = header_map([
            (svix::ID_HEADER, request.headers.id),
            (svix::TIMESTAMP_HEADER, request.headers.timestamp),
            (svix::SIGNATURE_HEADER, request.headers.signature),
        ]);
        post(self, "/incident-io", &headers, request.body).await
    }
}

fn header_map<const N: usize>(headers: [(&str, Option<&str>); N]) -> HashMap<String, String> {
    headers
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?.to_owned())))
        .collect()
}

async fn post(
    ingress: &Ingress,
    path: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> WebhookResponse {
    match ingress.route(path) {
        Some(route) => ingress.handle_route(route, headers, body).await,
        None => WebhookResponse::rejected(404, format!("this ingress takes nothing on {path}")),
    }
}

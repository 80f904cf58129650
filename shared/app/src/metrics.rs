//! Metrics in CloudWatch Embedded Metric Format: one JSON document per webhook or job, printed
//! to stdout, which CloudWatch Logs turns into metrics with no API call and no agent.
//!
//! The names below are the only ones the relay emits; `scripts/check-template.py` reads them
//! from this file and checks that the dashboard in `template.yaml` shows each of them.

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "BridgeRelay";
/// The one dimension: the Lambda function's name (`local` outside Lambda).
pub const DIMENSION: &str = "FunctionName";

/// Metric names, one constant each.
pub mod names {
    /// Webhooks that opened a bridge job (202).
    pub const WEBHOOKS_ACCEPTED: &str = "WebhooksAccepted";
    /// Signed webhooks of events that do not open a bridge (200 ignored).
    pub const WEBHOOKS_SKIPPED: &str = "WebhooksSkipped";
    /// The sender's mistakes: bad signature, bad body (4xx).
    pub const WEBHOOKS_REJECTED: &str = "WebhooksRejected";
    /// The relay's own trouble: secret or queue unavailable (503; PagerDuty retries).
    pub const WEBHOOKS_FAILED: &str = "WebhooksFailed";
    /// Jobs that ended with the bridge and note on the incident.
    pub const BRIDGES_CREATED: &str = "BridgesCreated";
    /// Milliseconds from the ingress receiving the webhook to the bridge being on the incident.
    pub const WEBHOOK_TO_BRIDGE: &str = "WebhookToBridge";
    /// Deliveries of a job that failed and go back to the queue.
    pub const JOBS_RETRIED: &str = "JobsRetried";
    /// Jobs given up on: the incident has a note saying why, the job is in the dead-letter queue.
    pub const JOBS_DEAD_LETTERED: &str = "JobsDeadLettered";
    /// Upstream calls tried again within a delivery.
    pub const UPSTREAM_RETRIES: &str = "UpstreamRetries";
    /// Failed Zoom API and Zoom OAuth calls (not 429).
    pub const ZOOM_ERRORS: &str = "ZoomErrors";
    /// Failed PagerDuty API calls (not 429).
    pub const PAGERDUTY_ERRORS: &str = "PagerDutyErrors";
    /// Failed incident.io API calls (not 429).
    pub const INCIDENT_IO_ERRORS: &str = "IncidentIoErrors";
    /// Failed Secrets Manager reads.
    pub const SECRETS_MANAGER_ERRORS: &str = "SecretsManagerErrors";
    /// Zoom, PagerDuty or incident.io answers of 429 (rate limited).
    pub const RATE_LIMITED: &str = "RateLimited";
    /// Milliseconds per Zoom API and OAuth call.
    pub const ZOOM_LATENCY: &str = "ZoomLatency";
    /// Milliseconds per PagerDuty API call.
    pub const PAGERDUTY_LATENCY: &str = "PagerDutyLatency";
    /// Milliseconds per incident.io API call.
    pub const INCIDENT_IO_LATENCY: &str = "IncidentIoLatency";
    /// Zoom hosts found at their daily create limit (Zoom's 429 or the relay's own count),
    /// each sending the job on to the next host of the pool.
    pub const HOSTS_SPENT: &str = "HostsSpent";
    /// Deliveries that found every Zoom host of the pool busy or spent; the job waits.
    pub const HOST_POOL_FULL: &str = "HostPoolFull";
    /// Zoom OAuth token requests: the whole deployment shares one token, so about one an hour.
    pub const ZOOM_TOKEN_FETCHES: &str = "ZoomTokenFetches";
    /// Zoom API calls refused with 401 (a voided or expired token); more than a few an hour
    /// means something else uses the app's credentials and voids the deployment's token.
    pub const ZOOM_TOKENS_REFUSED: &str = "ZoomTokensRefused";
    /// Zoom meeting summaries posted on incidents.
    pub const SUMMARIES_POSTED: &str = "SummariesPosted";
    /// Meetings whose topic and agenda followed their incident.
    pub const MEETINGS_UPDATED: &str = "MeetingsUpdated";
    /// Meeting updates given up (refused after the retries, or kept back for creates).
    pub const MEETING_UPDATES_GIVEN_UP: &str = "MeetingUpdatesGivenUp";
    /// Zoom cloud recording links posted on incidents.
    pub const RECORDINGS_POSTED: &str = "RecordingsPosted";
    /// Zoom transcript links posted on incidents.
    pub const TRANSCRIPTS_POSTED: &str = "TranscriptsPosted";
    /// Seconds from the bridge to each paged responder's first join of the call.
    pub const RESPONDERS_JOINED_AFTER_SECONDS: &str = "RespondersJoinedAfterSeconds";
    /// Notes that someone waits to be let in with nobody on the call who can.
    pub const STUCK_WAITING_NOTES: &str = "StuckWaitingNotes";
    /// Notes that one person sits alone on the call, or that an open incident's call is empty.
    pub const EMPTY_CALL_NOTES: &str = "EmptyCallNotes";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// The metrics of one webhook or job, plus properties that make the document searchable
/// in Logs Insights (incident id, request id, ...).
#[derive(Debug, Clone, Default)]
pub struct MetricSet {
    metrics: Vec<(&'static str, Unit, Vec<f64>)>,
    properties: Map<String, Value>,
}

/// EMF takes at most 100 values per metric in one document.
const MAX_VALUES: usize = 100;

impl MetricSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn count(&mut self, name: &'static str, value: u64) -> &mut Self {
        self.metrics.push((name, Unit::Count, vec![value as f64]));
        self
    }

    /// One value per call, or nothing when there was none.
    pub fn millis(&mut self, name: &'static str, values: &[u64]) -> &mut Self {
        if !values.is_empty() {
            let values = values.iter().take(MAX_VALUES).map(|v| *v as f64).collect();
            self.metrics.push((name, Unit::Milliseconds, values));
        }
        self
    }

    /// One value per event, or nothing when there was none.
    pub fn seconds(&mut self, name: &'static str, values: &[u64]) -> &mut Self {
        if !values.is_empty() {
            let values = values.iter().take(MAX_VALUES).map(|v| *v as f64).collect();
            self.metrics.push((name, Unit::Seconds, values));
        }
        self
    }

    pub fn property(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        self.properties.insert(key.to_owned(), value.into());
        self
    }

    pub fn value(&self, name: &str) -> Option<&[f64]> {
        self.metrics
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, v)| v.as_slice())
    }

    /// The EMF document: `_aws` metadata, the dimension, each metric, then the properties.
    pub fn to_emf(&self, function_name: &str, timestamp_ms: u64) -> Value {
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        let mut document = self.properties.clone();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert(DIMENSION.into(), function_name.into());
        for (name, _, values) in &self.metrics {
            let value = match values.as_slice() {
                [one] => json!(one),
                many => json!(many),
            };
            document.insert((*name).into(), value);
        }
        Value::Object(document)
    }

    /// Prints the document as one line on stdout, where the Lambda log agent picks it up.
    pub fn emit(&self) {
        let function =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned());
        let now = bridge_relay_domain::telemetry::epoch_millis(std::time::SystemTime::now());
        println!("{}", self.to_emf(&function, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let mut set = MetricSet::new();
        set.count(names::BRIDGES_CREATED, 1)
            .millis(names::ZOOM_LATENCY, &[120, 80])
            .millis(names::PAGERDUTY_LATENCY, &[])
            .property("incident_id", "PX");
        let doc = set.to_emf("bridge-relay-worker", 1_700_000_000_000);
        let meta = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert_eq!(meta["Namespace"], NAMESPACE);
        assert_eq!(meta["Dimensions"], json!([[DIMENSION]]));
        assert_eq!(
            meta["Metrics"],
            json!([
                {"Name": "BridgesCreated", "Unit": "Count"},
                {"Name": "ZoomLatency", "Unit": "Milliseconds"}
            ])
        );
        assert_eq!(doc[DIMENSION], "bridge-relay-worker");
        assert_eq!(doc["BridgesCreated"], 1.0);
        assert_eq!(doc["ZoomLatency"], json!([120.0, 80.0]));
        assert!(doc.get("PagerDutyLatency").is_none(), "no empty metric");
        assert_eq!(doc["incident_id"], "PX");
    }
}

//! incident.io end to end: signed webhooks into the ingress (`/incident-io`), jobs through SQS
//! and DynamoDB in moto, meetings from the Zoom stand-in, and the call link and timeline item
//! at a wiremock incident.io API that records every request, so the tests assert on exactly
//! what incident.io would receive.
//!
//! Sources for the incident.io facts relied on here: the signature scheme is Svix's
//! (docs.svix.com "Verifying webhooks manually"; api-facts.md section 3); the endpoints and
//! bodies are those of incident.io's official SDK `incident-io/sdk-rust`
//! (`src/apis/incidents_v2_api.rs` `POST /v2/incidents/{id}/actions/edit`,
//! `src/models/incidents_edit_payload_v2.rs` `{incident{call_url}, notify_incident_channel}`,
//! `src/apis/incident_timeline_items_v2_api.rs` `POST/GET /v2/incident_timeline_items`). No
//! official OpenAPI file of incident.io is vendored, so there is no Prism in front of this mock.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bridge_relay::incident_io::signature::{self as svix, SignedHeaders};
use bridge_relay::model::{IncidentKey, IncidentToolKind};
use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::IncidentIoRequest;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::{WebhookRequest, Worker};
use bridge_relay::store::{Claim, HostSlots, IdempotencyStore};
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PD_SECRET: &str = "pd-webhook-secret-e2e";
const IIO_SECRET: &str = "whsec_aW5jaWRlbnQtaW8tc2lnbmluZy1rZXktZm9yLXRlc3Rz";
const IIO_API_KEY: &str = "iio-api-key-e2e";
const INCIDENT: &str = "01FDAG4SAP5TYPT98WGR2N7W91";

fn secret_with_incident_io() -> String {
    let mut document: Value = serde_json::from_str(&secret_document(&[PD_SECRET])).unwrap();
    document["incident_io"] = json!({"webhook_secrets": [IIO_SECRET], "api_key": IIO_API_KEY});
    document.to_string()
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        workspace_root()
            .join("tests/fixtures/incident-io")
            .join(name),
    )
    .unwrap()
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Headers as incident.io sends them for `body` under message id `id`.
fn signed(id: &str, body: &[u8], secret: &str, timestamp: u64) -> (String, String, String) {
    let signature = svix::sign(
        &secrecy::SecretString::from(secret.to_owned()),
        id,
        timestamp,
        body,
    )
    .unwrap();
    (id.to_owned(), timestamp.to_string(), signature)
}

async fn deliver(
    ingress: &bridge_relay::relay::Ingress,
    headers: &(String, String, String),
    body: &[u8],
) -> bridge_relay::relay::WebhookResponse {
    ingress
        .handle_incident_io(IncidentIoRequest {
            headers: SignedHeaders {
                id: Some(&headers.0),
                timestamp: Some(&headers.1),
                signature: Some(&headers.2),
            },
            body,
        })
        .await
}

/// The incident.io API stand-in: answers as the SDK's models describe and records everything.
async fn incident_io_api() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v2/incidents/[^/]+/actions/edit$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"incident": {"id": INCIDENT, "name": "edited"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/incident_timeline_items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"incident_timeline_item": {"id": "01TIMELINEITEM", "title": "t"}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/incident_timeline_items"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"incident_timeline_items": []})),
        )
        .mount(&server)
        .await;
    server
}

fn fast_settings() -> Deployment {
    Deployment::new().retries(50, 1500, 6).roomy_pool()
}

/// The worker as the Lambda builds it, with incident.io's API at `incident_io_url`.
fn worker(
    aws: &AwsStandIns,
    apis: &FaultyApis,
    incident_io_url: &str,
    deployment: Deployment,
    http: reqwest::Client,
) -> Arc<Worker> {
    let deployment = deployment.set("INCIDENT_IO_API_BASE", incident_io_url);
    aws.worker_with_client(&apis.env(), deployment, http).0
}

fn store(aws: &AwsStandIns) -> bridge_relay::store::DynamoDbStore {
    bridge_relay::store::DynamoDbStore::from_sdk_config(&aws.config, &aws.table_name)
}

async fn requests_to(server: &MockServer, method_name: &str, path_prefix: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.method.as_str() == method_name && r.url.path().starts_with(path_prefix))
        .map(|r| {
            json!({
                "path": r.url.path(),
                "query": r.url.query(),
                "authorization": r.headers.get("authorization").and_then(|v| v.to_str().ok()),
                "body": serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null),
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_io_incident_gets_one_meeting_its_call_link_and_a_timeline_item() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    aws.put_secret(secret_with_incident_io()).await;
    let apis = FaultyApis::start(1, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = incident_io_api().await;
    let ingress = aws.ingress(BridgePolicy::default());
    let now = now_seconds();

    // The answers incident.io gets, one for each kind of delivery.
    let created = fixture("incident_created_v2.json");
    let first = signed("msg_created_1", &created, IIO_SECRET, now);
    let response = deliver(&ingress, &first, &created).await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    assert_eq!(response.body["incident"], INCIDENT);
    // incident.io retries with the same message id: accepted again, deduplicated by SQS.
    assert_eq!(deliver(&ingress, &first, &created).await.status, 202);

    let status_update = fixture("incident_status_updated_v2.json");
    let ignored = deliver(
        &ingress,
        &signed("msg_status_1", &status_update, IIO_SECRET, now),
        &status_update,
    )
    .await;
    assert_eq!(ignored.status, 200);
    assert_eq!(ignored.body["status"], "ignored");

    let private = fixture("private_incident_created_v2.json");
    let skipped = deliver(
        &ingress,
        &signed("msg_private_1", &private, IIO_SECRET, now),
        &private,
    )
    .await;
    assert_eq!(skipped.status, 200);
    assert!(
        skipped.body["reason"].as_str().unwrap().contains("private"),
        "{:?}",
        skipped.body
    );

    let forged = deliver(
        &ingress,
        &signed("msg_forged", &created, "whsec_Zm9yZ2VkLWtleQ==", now),
        &created,
    )
    .await;
    assert_eq!(forged.status, 401);
    let stale = deliver(
        &ingress,
        &signed("msg_stale", &created, IIO_SECRET, now - 3600),
        &created,
    )
    .await;
    assert_eq!(stale.status, 401);
    assert!(
        stale.body["error"]
            .as_str()
            .unwrap()
            .contains("minutes away"),
        "{:?}",
        stale.body
    );
    let unsigned = ingress
        .handle_incident_io(IncidentIoRequest {
            headers: SignedHeaders::default(),
            body: &created,
        })
        .await;
    assert_eq!(unsigned.status, 401);
    let not_a_webhook = br#"{"hello":"world"}"#;
    let malformed = deliver(
        &ingress,
        &signed("msg_malformed", not_a_webhook, IIO_SECRET, now),
        not_a_webhook,
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.body["error"]
            .as_str()
            .unwrap()
            .contains("event_type"),
        "{:?}",
        malformed.body
    );
    assert_eq!(aws.queue_depth().await, 1, "one job for all of that");

    let worker = worker(
        &aws,
        &apis,
        &iio.uri(),
        fast_settings(),
        bridge_relay::http::client(),
    );
    aws.run_event_source(worker, Duration::from_secs(20)).await;

    let key = IncidentKey::from_stored(format!("incident_io:{INCIDENT}"));
    let join_url = {
        let state = apis.state();
        let meetings = state
            .meetings_by_incident
            .get(key.as_str())
            .cloned()
            .unwrap();
        assert_eq!(meetings.len(), 1, "one meeting for the incident");
        assert!(
            !state.meetings_by_incident.contains_key(INCIDENT),
            "the meeting is marked with the tool's key, not the bare id"
        );
        let meeting = &state.meetings[&meetings[0]];
        let join_url = meeting["join_url"].as_str().unwrap().to_owned();
        assert!(
            meeting["agenda"].as_str().unwrap().starts_with(&format!(
                "Incident bridge for incident.io incident #123 ({key})"
            )),
            "{meeting}"
        );
        assert!(state.bridges.is_empty(), "nothing went to PagerDuty");
        join_url
    };

    let edits = requests_to(&iio, "POST", "/v2/incidents/").await;
    assert_eq!(
        edits,
        vec![json!({
            "path": format!("/v2/incidents/{INCIDENT}/actions/edit"),
            "query": null,
            "authorization": format!("Bearer {IIO_API_KEY}"),
            "body": {"incident": {"call_url": join_url}, "notify_incident_channel": true},
        })]
    );
    let items = requests_to(&iio, "POST", "/v2/incident_timeline_items").await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0]["body"];
    assert_eq!(items[0]["authorization"], format!("Bearer {IIO_API_KEY}"));
    assert_eq!(item["incident_id"], INCIDENT);
    assert_eq!(
        item["title"],
        "Zoom bridge opened for this incident (bridge-relay)."
    );
    assert!(
        item["description"]
            .as_str()
            .unwrap()
            .contains(&format!("Join: {join_url}")),
        "{item}"
    );
    assert!(
        item["idempotency_key"]
            .as_str()
            .unwrap()
            .starts_with("bridge-relay-")
    );
    let timestamp = item["timestamp"].as_str().unwrap();
    assert!(
        timestamp.len() == 20 && timestamp.ends_with('Z') && &timestamp[10..11] == "T",
        "RFC 3339 in UTC: {timestamp}"
    );
    assert_eq!(
        iio.received_requests().await.unwrap().len(),
        2,
        "no other calls (no note look-up when nothing was ambiguous)"
    );
    // The store holds the incident under its tool's key; the bare id is free for PagerDuty.
    let store = store(&aws);
    assert!(matches!(
        store
            .claim(&key, "test", Duration::from_secs(5))
            .await
            .unwrap(),
        Claim::Done(_)
    ));
    assert!(matches!(
        store
            .claim(
                &IncidentKey::from_stored(INCIDENT),
                "test",
                Duration::from_secs(5)
            )
            .await
            .unwrap(),
        Claim::Acquired(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_call_link_is_kept_unless_the_relay_is_told_to_overwrite_it() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    aws.put_secret(secret_with_incident_io()).await;
    let apis = FaultyApis::start(2, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = incident_io_api().await;
    let policy = BridgePolicy::from_json(
        r#"{"incident_io": {"event_types": ["public_incident.incident_updated_v2"]}}"#,
        None,
    )
    .unwrap();
    let ingress = aws.ingress(policy);
    let updated = fixture("incident_updated_v2.json");
    let response = deliver(
        &ingress,
        &signed("msg_updated_1", &updated, IIO_SECRET, now_seconds()),
        &updated,
    )
    .await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    let keep = worker(
        &aws,
        &apis,
        &iio.uri(),
        fast_settings(),
        bridge_relay::http::client(),
    );
    aws.run_event_source(keep, Duration::from_secs(20)).await;
    assert!(apis.state().meetings.is_empty(), "no meeting was made");
    assert_eq!(iio.received_requests().await.unwrap().len(), 0);

    // Told to overwrite: a later incident gets the relay's link in place of the old one.
    let mut body: Value = serde_json::from_slice(&updated).unwrap();
    body["public_incident.incident_updated_v2"]["id"] = json!("01OVERWRITE");
    let body = body.to_string().into_bytes();
    let response = deliver(
        &ingress,
        &signed("msg_updated_2", &body, IIO_SECRET, now_seconds()),
        &body,
    )
    .await;
    assert_eq!(response.status, 202);
    let overwrite = worker(
        &aws,
        &apis,
        &iio.uri(),
        fast_settings().set("OVERWRITE_EXISTING_BRIDGE", true),
        bridge_relay::http::client(),
    );
    aws.run_event_source(overwrite, Duration::from_secs(20))
        .await;
    let edits = requests_to(&iio, "POST", "/v2/incidents/").await;
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["path"], "/v2/incidents/01OVERWRITE/actions/edit");
    let call_url = edits[0]["body"]["incident"]["call_url"].as_str().unwrap();
    assert!(
        call_url.starts_with("https://zoom.example/j/"),
        "{call_url}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_and_server_errors_are_retried_and_a_refusal_is_dead_lettered_with_a_note() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    aws.put_secret(secret_with_incident_io()).await;
    let apis = FaultyApis::start(3, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = MockServer::start().await;
    // incident.io's documented 429: a Retry-After in seconds (the SDK's API description).
    Mock::given(method("POST"))
        .and(path(format!("/v2/incidents/{INCIDENT}/actions/edit")))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"type": "too_many_requests", "status": 429,
                    "errors": [{"code": "too_many_requests", "message": "Too many requests"}]})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&iio)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v2/incidents/{INCIDENT}/actions/edit")))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&iio)
        .await;
    // Another incident whose edit is refused for good (the key lacks the scope).
    Mock::given(method("POST"))
        .and(path("/v2/incidents/01REFUSED/actions/edit"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "type": "authorization_error", "status": 403,
            "errors": [{"code": "forbidden", "message": "missing scope"}]})))
        .with_priority(1)
        .mount(&iio)
        .await;
    for mock in [
        Mock::given(method("POST"))
            .and(path_regex(r"^/v2/incidents/[^/]+/actions/edit$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"incident": {}}))),
        Mock::given(method("POST"))
            .and(path("/v2/incident_timeline_items"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"incident_timeline_item": {}})),
            ),
    ] {
        mock.with_priority(5).mount(&iio).await;
    }
    let ingress = aws.ingress(BridgePolicy::default());
    let created = fixture("incident_created_v2.json");
    let mut refused: Value = serde_json::from_slice(&created).unwrap();
    refused["public_incident.incident_created_v2"]["id"] = json!("01REFUSED");
    let refused = refused.to_string().into_bytes();
    for (id, body) in [("msg_a", &created), ("msg_b", &refused)] {
        let response = deliver(&ingress, &signed(id, body, IIO_SECRET, now_seconds()), body).await;
        assert_eq!(response.status, 202);
    }
    let worker = worker(
        &aws,
        &apis,
        &iio.uri(),
        fast_settings(),
        bridge_relay::http::client(),
    );
    let started = Instant::now();
    aws.run_event_source(worker, Duration::from_secs(20)).await;

    let edits = requests_to(&iio, "POST", &format!("/v2/incidents/{INCIDENT}/")).await;
    assert_eq!(edits.len(), 3, "429, 500, then the edit that worked");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the Retry-After was waited out"
    );
    let call_urls: HashSet<&Value> = edits.iter().map(|e| &e["body"]["incident"]).collect();
    assert_eq!(call_urls.len(), 1, "every attempt posts the same link");

    let refused_edits = requests_to(&iio, "POST", "/v2/incidents/01REFUSED/").await;
    assert_eq!(refused_edits.len(), 1, "a 403 is not retried");
    let dead = aws.drain(&aws.dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let job: Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(job["tool"], "incident_io");
    assert_eq!(job["incident"]["id"], "01REFUSED");
    assert!(
        job["failure"]
            .as_str()
            .unwrap()
            .contains("incident.io API answered HTTP 403"),
        "{job}"
    );
    let notes = requests_to(&iio, "POST", "/v2/incident_timeline_items").await;
    let failure_notes: Vec<&Value> = notes
        .iter()
        .filter(|n| n["body"]["incident_id"] == "01REFUSED")
        .collect();
    assert_eq!(failure_notes.len(), 1, "{notes:?}");
    assert!(
        failure_notes[0]["body"]["description"]
            .as_str()
            .unwrap()
            .contains("could not open a Zoom bridge"),
        "{failure_notes:?}"
    );
}

const STORM_INCIDENTS: usize = 40;
const STORM_WORKERS: usize = 3;

fn storm_id(i: usize) -> String {
    format!("Q{i:05}MIXED")
}

fn pagerduty_webhook(i: usize) -> Vec<u8> {
    let mut envelope = bridge_relay_tests::pagerduty_webhook(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
    );
    envelope["event"]["id"] = json!(format!("01MIXEDEVENT{i:05}"));
    envelope["event"]["data"]["id"] = json!(storm_id(i));
    envelope["event"]["data"]["number"] = json!(2000 + i);
    envelope.to_string().into_bytes()
}

fn incident_io_webhook(i: usize) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(&fixture("incident_created_v2.json")).unwrap();
    body["public_incident.incident_created_v2"]["id"] = json!(storm_id(i));
    body["public_incident.incident_created_v2"]["reference"] = json!(format!("INC-{}", 3000 + i));
    body.to_string().into_bytes()
}

/// The duplicate storm with both tools: every incident id exists in PagerDuty and in
/// incident.io, each webhook arrives 1-3 times (some under a second message id, as after SQS's
/// dedup window), Zoom and PagerDuty fail 15% of calls, incident.io answers 500 now and then.
/// Afterwards: exactly one meeting per incident per tool, each tool's incident carrying its
/// own meeting, and nothing lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_storm_one_meeting_per_incident_per_tool() {
    let started = Instant::now();
    let aws = AwsStandIns::start_with_visibility(&[PD_SECRET], 2).await;
    aws.put_secret(secret_with_incident_io()).await;
    let apis = FaultyApis::start(0x1d_2026, 0.15, Duration::from_millis(1200), PD_API_TOKEN).await;
    let iio = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(STORM_INCIDENTS as u64 / 4)
        .with_priority(1)
        .mount(&iio)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v2/incidents/[^/]+/actions/edit$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"incident": {}})))
        .with_priority(5)
        .mount(&iio)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/incident_timeline_items"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"incident_timeline_item": {}})),
        )
        .with_priority(5)
        .mount(&iio)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/incident_timeline_items"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"incident_timeline_items": []})),
        )
        .with_priority(5)
        .mount(&iio)
        .await;
    let ingress = Arc::new(aws.ingress(BridgePolicy::default()));

    let mut deliveries = Vec::new();
    for i in 0..STORM_INCIDENTS {
        for copy in 0..(1 + i % 3) {
            deliveries.push((i, IncidentToolKind::PAGERDUTY, format!("pd-{i}")));
            deliveries.push((i, IncidentToolKind::INCIDENT_IO, format!("msg_{i}")));
            if copy == 0 && i % 5 == 0 {
                deliveries.push((i, IncidentToolKind::PAGERDUTY, format!("pd-{i}-late")));
                deliveries.push((i, IncidentToolKind::INCIDENT_IO, format!("msg_{i}_late")));
            }
        }
    }
    let total = deliveries.len();
    let mut sending = tokio::task::JoinSet::new();
    for chunk in deliveries.chunks(16) {
        for (i, tool, id) in chunk.iter().cloned() {
            let ingress = ingress.clone();
            sending.spawn(async move {
                if tool == IncidentToolKind::PAGERDUTY {
                    let body = pagerduty_webhook(i);
                    let signature = sign(&body, PD_SECRET);
                    ingress
                        .handle(WebhookRequest {
                            signature: Some(&signature),
                            webhook_id: Some(&id),
                            body: &body,
                        })
                        .await
                        .status
                } else {
                    let body = incident_io_webhook(i);
                    let headers = signed(&id, &body, IIO_SECRET, now_seconds());
                    deliver(&ingress, &headers, &body).await.status
                }
            });
        }
        while let Some(status) = sending.join_next().await {
            assert_eq!(status.unwrap(), 202, "every delivery is accepted");
        }
    }

    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(800));
    let workers: Vec<_> = (0..STORM_WORKERS)
        .map(|_| worker(&aws, &apis, &iio.uri(), fast_settings(), http.clone()))
        .collect();
    futures::future::join_all(
        workers
            .iter()
            .map(|w| aws.run_event_source(w.clone(), Duration::from_secs(20))),
    )
    .await;

    let dead: HashSet<(String, String)> = aws
        .drain(&aws.dead_letter_queue_url)
        .await
        .iter()
        .map(|body| {
            let job: Value = serde_json::from_str(body).unwrap();
            (
                job["tool"].as_str().unwrap_or("pagerduty").to_owned(),
                job["incident"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let edits = requests_to(&iio, "POST", "/v2/incidents/").await;
    let timeline = requests_to(&iio, "POST", "/v2/incident_timeline_items").await;
    let incident_io_calls = iio.received_requests().await.unwrap().len();
    let state = apis.state();
    let mut bridged = 0;
    for i in 0..STORM_INCIDENTS {
        let id = storm_id(i);
        let key = format!("incident_io:{id}");
        let pd_meetings = state
            .meetings_by_incident
            .get(&id)
            .cloned()
            .unwrap_or_default();
        let iio_meetings = state
            .meetings_by_incident
            .get(&key)
            .cloned()
            .unwrap_or_default();
        assert!(
            pd_meetings.len() <= 1,
            "{id}: PagerDuty meetings {pd_meetings:?}"
        );
        assert!(
            iio_meetings.len() <= 1,
            "{key}: incident.io meetings {iio_meetings:?}"
        );

        if !dead.contains(&("pagerduty".into(), id.clone())) {
            let bridges: HashSet<&str> = state
                .bridges
                .get(&id)
                .into_iter()
                .flatten()
                .map(|b| b["conference_url"].as_str().unwrap())
                .collect();
            assert_eq!(pd_meetings.len(), 1, "{id}");
            let meeting = &state.meetings[&pd_meetings[0]];
            assert_eq!(
                bridges,
                HashSet::from([meeting["join_url"].as_str().unwrap()]),
                "{id}: the PagerDuty incident has its own meeting"
            );
            bridged += 1;
        }
        if !dead.contains(&("incident_io".into(), id.clone())) {
            let call_urls: HashSet<&str> = edits
                .iter()
                .filter(|e| e["path"] == format!("/v2/incidents/{id}/actions/edit"))
                .map(|e| e["body"]["incident"]["call_url"].as_str().unwrap())
                .collect();
            assert_eq!(iio_meetings.len(), 1, "{key}");
            let meeting = &state.meetings[&iio_meetings[0]];
            assert_eq!(
                call_urls,
                HashSet::from([meeting["join_url"].as_str().unwrap()]),
                "{key}: the incident.io incident has its own meeting"
            );
            assert_ne!(pd_meetings.first(), Some(&iio_meetings[0]));
            let keys: HashSet<&str> = timeline
                .iter()
                .filter(|t| t["body"]["incident_id"] == id.as_str())
                .filter(|t| {
                    t["body"]["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("Zoom bridge opened"))
                })
                .map(|t| t["body"]["idempotency_key"].as_str().unwrap())
                .collect();
            assert_eq!(keys.len(), 1, "{key}: one note (retries reuse its key)");
            bridged += 1;
        }
    }
    let lost = 2 * STORM_INCIDENTS - bridged - dead.len();
    println!(
        "mixed storm: {STORM_INCIDENTS} ids x 2 tools, {total} deliveries, {} Zoom/PagerDuty calls, \
         faults {:?}, {} incident.io calls, meetings {}, bridged {bridged}, dead-lettered {}, lost {lost}; {:.1} s",
        state.calls,
        state.faults,
        incident_io_calls,
        state.meetings.len(),
        dead.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0);
}

/// The Lambda entry point routes `/incident-io` by path and reads the three Svix headers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_url_routes_incident_io_webhooks() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    aws.put_secret(secret_with_incident_io()).await;
    let ingress = aws.ingress(BridgePolicy::default());
    let body = fixture("incident_created_v2.json");
    let (id, timestamp, signature) = signed("msg_lambda_1", &body, IIO_SECRET, now_seconds());
    let post = |path: &'static str, signature: String| {
        let (ingress, id, timestamp, body) =
            (&ingress, id.clone(), timestamp.clone(), body.clone());
        async move {
            let headers = [
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", timestamp.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            post_json(ingress, path, &headers, &body).await.0
        }
    };
    assert_eq!(post("/incident-io", "v1,AAAA".into()).await, 401);
    // The PagerDuty route does not take incident.io's signature.
    assert_eq!(post("/webhook", signature.clone()).await, 401);
    let stuffed = format!("{signature} {}", "v1,AAAA ".repeat(200));
    assert_eq!(post("/incident-io", stuffed).await, 431);
    let huge = post_json(&ingress, "/incident-io", &[], &[b' '; 256 * 1024 + 1]).await;
    assert_eq!(huge.0, 413);
    assert_eq!(post("/incident-io", signature.clone()).await, 202);
    assert_eq!(aws.queue_depth().await, 1);
    let job: Value = serde_json::from_str(&aws.drain(&aws.queue_url).await[0]).unwrap();
    assert_eq!(job["tool"], "incident_io");
    assert_eq!(job["webhook_id"], "msg_lambda_1");
    assert_eq!(job["incident"]["severity"], "Minor");
}

/// `bridge-relay serve` answers on `/incident-io` and its worker posts to incident.io.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_runner_serves_incident_io() {
    let apis = FaultyApis::start(4, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = incident_io_api().await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-iio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_with_incident_io()).unwrap();
    let (process, port) = Process::spawn_listening(
        "bridge-relay-incident-io",
        Duration::from_secs(10),
        |port| {
            let mut command = serve_command(&secrets, port);
            command
                .envs(apis.env())
                .env("INCIDENT_IO_API_BASE", iio.uri())
                .env("INCIDENT_IO_NOTIFY_CHANNEL", "false");
            command
        },
    );

    let body = fixture("incident_created_v2.json");
    let post = |headers: (String, String, String)| {
        bridge_relay::http::client()
            .post(format!("http://127.0.0.1:{port}/incident-io"))
            .header("content-type", "application/json")
            .header("webhook-id", headers.0)
            .header("webhook-timestamp", headers.1)
            .header("webhook-signature", headers.2)
            .body(body.clone())
            .send()
    };
    let stale = post(signed("msg_local", &body, IIO_SECRET, now_seconds() - 600))
        .await
        .unwrap();
    assert_eq!(stale.status(), 401);
    let accepted = post(signed("msg_local", &body, IIO_SECRET, now_seconds()))
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    // `bridge-relay sign-incident-io` prints the headers for a hand-made delivery.
    let printed = std::process::Command::new(workspace_binary("bridge-relay"))
        .args([
            "sign-incident-io",
            "--secrets-file",
            secrets.to_str().unwrap(),
        ])
        .arg(workspace_root().join("tests/fixtures/incident-io/incident_created_v2.json"))
        .output()
        .unwrap();
    assert!(printed.status.success(), "{printed:?}");
    let printed = String::from_utf8(printed.stdout).unwrap();
    let values: Vec<&str> = printed
        .trim()
        .split("-H '")
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.trim()
                .trim_end_matches('\'')
                .split_once(": ")
                .unwrap()
                .1
        })
        .collect();
    assert_eq!(values.len(), 3, "{printed}");
    let by_hand = post((values[0].into(), values[1].into(), values[2].into()))
        .await
        .unwrap();
    assert_eq!(by_hand.status(), 202, "{printed}");
    let edits = eventually(Duration::from_secs(15), || async {
        let edits = requests_to(&iio, "POST", "/v2/incidents/").await;
        (!edits.is_empty()).then_some(edits)
    })
    .await
    .unwrap_or_else(|| panic!("no call link set; runner output:\n{}", process.output()));
    assert_eq!(edits[0]["body"]["notify_incident_channel"], false);
    // The second delivery (another message id) finds the incident done.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(requests_to(&iio, "POST", "/v2/incidents/").await.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A relay not set up for incident.io yet answers 503 (incident.io retries for a day) and
/// queues nothing; it never takes an unsigned body for want of a secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_incident_io_secret_the_route_answers_503_and_queues_nothing() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    let ingress = aws.ingress(BridgePolicy::default());
    let body = fixture("incident_created_v2.json");
    let response = deliver(
        &ingress,
        &signed("msg_early", &body, IIO_SECRET, now_seconds()),
        &body,
    )
    .await;
    assert_eq!(response.status, 503, "{:?}", response.body);
    assert!(
        response.body["error"]
            .as_str()
            .unwrap()
            .contains("no incident.io signing secret"),
        "{:?}",
        response.body
    );
    assert_eq!(aws.queue_depth().await, 0);
}

/// An incident.io incident id longer than the relay keeps is the sender's 400 with the reason,
/// and nothing is queued (incident.io does not retry a 4xx).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_id_longer_than_the_relay_keeps_is_refused() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    aws.put_secret(secret_with_incident_io()).await;
    let ingress = aws.ingress(BridgePolicy::default());
    let mut body: Value = serde_json::from_slice(&fixture("incident_created_v2.json")).unwrap();
    let long = "0".repeat(bridge_relay::model::MAX_INCIDENT_ID_BYTES + 1);
    body["public_incident.incident_created_v2"]["id"] = json!(long);
    let body = body.to_string().into_bytes();
    let response = deliver(
        &ingress,
        &signed("msg_long_id", &body, IIO_SECRET, now_seconds()),
        &body,
    )
    .await;
    assert_eq!(response.status, 400, "{:?}", response.body);
    assert_eq!(
        response.body["error"],
        format!(
            "the incident id is {} bytes long; the relay takes at most {}",
            long.len(),
            bridge_relay::model::MAX_INCIDENT_ID_BYTES
        )
    );
    assert_eq!(aws.queue_depth().await, 0);
}

/// `bridge-relay doctor` asks incident.io who the key is (`GET /v1/identity`, read only).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_the_incident_io_key() {
    let apis = FaultyApis::start(5, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/identity"))
        .and(wiremock::matchers::header(
            "authorization",
            format!("Bearer {IIO_API_KEY}").as_str(),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"identity": {
            "name": "bridge-relay", "roles": ["viewer", "incident_editor"],
            "dashboard_url": "https://app.incident.io/acme", "team_roles": [], "teams": []}})),
        )
        .mount(&iio)
        .await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-iio-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |document: String| {
        let secrets = dir.join("secrets.json");
        std::fs::write(&secrets, document).unwrap();
        let output = std::process::Command::new(workspace_binary("bridge-relay"))
            .args(["doctor", "--secrets-file", secrets.to_str().unwrap()])
            .envs(apis.env())
            .env("INCIDENT_IO_API_BASE", iio.uri())
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let report = run(secret_with_incident_io());
    let line = report
        .lines()
        .find(|l| l.contains("incident.io"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        line.starts_with("ok ")
            && line.contains(r#"accepted API key "bridge-relay" (roles: viewer, incident_editor)"#)
            && line.contains("1 webhook signing secret(s)"),
        "{line}"
    );
    let mut wrong_key: Value = serde_json::from_str(&secret_with_incident_io()).unwrap();
    wrong_key["incident_io"]["api_key"] = json!("revoked-key");
    let report = run(wrong_key.to_string());
    let line = report.lines().find(|l| l.contains("incident.io")).unwrap();
    assert!(line.starts_with("FAIL"), "{line}");
    assert!(!report.contains("revoked-key"), "{report}");
    // Without the section, no incident.io line at all.
    let report = run(secret_document(&[PD_SECRET]));
    assert!(!report.contains("incident.io"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// incident.io's status update into a closed category resolves the incident: the closing note
/// is a timeline item on incident.io (not PagerDuty) and the host's one slot is free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_status_resolves_the_meeting_and_frees_the_host_slot() {
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    aws.put_secret(secret_with_incident_io()).await;
    let apis = FaultyApis::start(1, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = incident_io_api().await;
    let ingress = aws.ingress(BridgePolicy::default());
    // The template's pool: one host, one slot.
    let settings = Deployment::new().retries(50, 1500, 6);
    let worker = worker(
        &aws,
        &apis,
        &iio.uri(),
        settings,
        bridge_relay::http::client(),
    );
    let now = now_seconds();
    let created = fixture("incident_created_v2.json");
    let queued = deliver(
        &ingress,
        &signed("msg_open", &created, IIO_SECRET, now),
        &created,
    )
    .await;
    assert_eq!(queued.status, 202, "{:?}", queued.body);
    aws.run_event_source(worker.clone(), Duration::from_secs(20))
        .await;
    let key = IncidentKey::from_stored(format!("incident_io:{INCIDENT}"));
    let store = store(&aws);
    assert!(
        !store
            .take_host_slot(
                HOST_USER,
                0,
                &IncidentKey::from_stored("another"),
                Duration::from_secs(3600),
            )
            .await
            .unwrap(),
        "the bridged incident holds the host's only slot"
    );

    let mut closed: Value =
        serde_json::from_slice(&fixture("incident_status_updated_v2.json")).unwrap();
    let update = &mut closed["public_incident.incident_status_updated_v2"];
    update["new_status"]["category"] = json!("closed");
    update["new_status"]["name"] = json!("Closed");
    update["incident"]["incident_status"] = update["new_status"].clone();
    let closed = closed.to_string().into_bytes();
    let resolved = deliver(
        &ingress,
        &signed("msg_closed", &closed, IIO_SECRET, now),
        &closed,
    )
    .await;
    assert_eq!(resolved.status, 202, "{:?}", resolved.body);
    aws.run_event_source(worker, Duration::from_secs(20)).await;

    let items = requests_to(&iio, "POST", "/v2/incident_timeline_items").await;
    let closing: Vec<_> = items
        .iter()
        .filter(|item| {
            item["body"]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Incident resolved: the Zoom meeting"))
        })
        .collect();
    assert_eq!(closing.len(), 1, "one closing note: {items:?}");
    assert_eq!(closing[0]["body"]["incident_id"], INCIDENT);
    assert!(apis.state().notes.is_empty(), "nothing went to PagerDuty");
    assert!(
        store
            .take_host_slot(
                HOST_USER,
                0,
                &IncidentKey::from_stored("another"),
                Duration::from_secs(3600),
            )
            .await
            .unwrap(),
        "the slot of {key} is free after the resolve"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_call_notes_reach_incident_io_cut_to_its_limit_and_private_incidents_get_none() {
    const PRIVATE_INCIDENT: &str = "01FCNDV6P870EA6S7TK1DSYDG0";
    const ZOOM_TOKEN: &str = "zoom-webhook-secret-token-iio";
    let aws = AwsStandIns::start(&[PD_SECRET]).await;
    let mut secret: Value = serde_json::from_str(&secret_with_incident_io()).unwrap();
    secret["zoom"]["webhook_secret_token"] = json!(ZOOM_TOKEN);
    aws.put_secret(secret.to_string()).await;
    let apis = FaultyApis::start(1, 0.0, Duration::from_millis(100), PD_API_TOKEN).await;
    let iio = incident_io_api().await;
    let policy = BridgePolicy::from_json(
        r#"{"incident_io": {"event_types": ["public_incident.incident_created_v2", "private_incident.incident_created_v2"], "include_private": true}}"#,
        None,
    )
    .unwrap();
    let ingress = aws
        .ingress(policy)
        .with_meeting_index(Arc::new(store(&aws)));
    let worker = worker(
        &aws,
        &apis,
        &iio.uri(),
        fast_settings(),
        bridge_relay::http::client(),
    );
    let now = now_seconds();
    for (id, name) in [
        ("msg_public", "incident_created_v2.json"),
        ("msg_private", "private_incident_created_v2.json"),
    ] {
        let body = fixture(name);
        let queued = deliver(&ingress, &signed(id, &body, IIO_SECRET, now), &body).await;
        assert_eq!(queued.status, 202, "{:?}", queued.body);
    }
    aws.run_event_source(worker.clone(), Duration::from_secs(20))
        .await;
    let meeting_of = |incident: &str| {
        let store = store(&aws);
        let key = IncidentKey::from_stored(format!("incident_io:{incident}"));
        async move {
            store
                .get_with_lifecycle(&key)
                .await
                .unwrap()
                .record
                .and_then(|r| r.meeting)
                .unwrap()
                .id
        }
    };
    let public_meeting = meeting_of(INCIDENT).await;
    let private_meeting = meeting_of(PRIVATE_INCIDENT).await;

    // A summary far longer than a timeline item takes, for the public incident's meeting; a
    // recording for each meeting.
    let mut summary = read_json("tests/fixtures/zoom-webhooks/meeting_summary_completed.json");
    summary["payload"]["object"]["meeting_id"] = json!(public_meeting);
    summary["payload"]["object"]["summary_content"] = json!("Long discussion. ".repeat(1_000));
    let recording = |meeting: u64| {
        let mut event = read_json("tests/fixtures/zoom-webhooks/recording_completed.json");
        event["payload"]["object"]["id"] = json!(meeting);
        event
    };
    for event in [
        summary,
        recording(public_meeting),
        recording(private_meeting),
    ] {
        let body = serde_json::to_vec(&event).unwrap();
        let timestamp = now_seconds().to_string();
        let signature = bridge_relay::zoom::webhook::sign(
            &timestamp,
            &body,
            &secrecy::SecretString::from(ZOOM_TOKEN.to_owned()),
        );
        let headers = [
            ("x-zm-request-timestamp", timestamp.as_str()),
            ("x-zm-signature", signature.as_str()),
        ];
        let (status, answer) = post_json(&ingress, "/zoom", &headers, &body).await;
        assert_eq!(status, 202, "{answer}");
    }
    aws.run_event_source(worker, Duration::from_secs(20)).await;
    assert_eq!(aws.depth(&aws.dead_letter_queue_url).await, 0);

    let items = requests_to(&iio, "POST", "/v2/incident_timeline_items").await;
    let on = |incident: &str| -> Vec<String> {
        items
            .iter()
            .filter(|item| item["body"]["incident_id"] == incident)
            .map(|item| item["body"]["description"].as_str().unwrap().to_owned())
            .collect()
    };
    let public = on(INCIDENT);
    assert_eq!(public.len(), 3, "bridge, summary, recording: {public:#?}");
    let summary_note = &public[1];
    assert_eq!(summary_note.chars().count(), 4_096, "{summary_note}");
    assert!(
        summary_note.starts_with("Zoom meeting summary of meeting ")
            && summary_note.contains("Next steps:\n- step1")
            && summary_note.ends_with(
                "… (cut to fit the incident's timeline)\n\nFull summary in Zoom Docs: https://docs.example.com/doc/1aBcDeFgHiJkLmNoPqRsTu"
            ),
        "{summary_note}"
    );
    assert!(public[2].starts_with("Zoom cloud recording of meeting "));
    let private = on(PRIVATE_INCIDENT);
    assert_eq!(private.len(), 1, "only the bridge: {private:#?}");
    assert!(apis.state().notes.is_empty(), "nothing went to PagerDuty");
}

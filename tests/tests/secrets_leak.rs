//! Secrets never leave their place. The whole flow runs with distinctive secret values (the
//! webhook signing secret, the Zoom client secret and its Basic credentials, the Zoom access
//! token, the PagerDuty API token) and a Zoom `start_url` carrying a distinctive host key,
//! through the ingress handler, SQS and DynamoDB (moto), and the worker against Prism proxies of
//! the official specs: a bridged incident and its meeting's cloud recording (Zoom's example, with
//! its `download_token` and `download_url`s), forged and malformed webhooks, a Zoom API 401 and a
//! Zoom OAuth 401 that both end as dead letters with a failure note. Then every place a value
//! could surface is searched: all log output at TRACE level (the relay's and its dependencies'),
//! the ingress's answers, the requests Zoom and PagerDuty received (apart from the one header
//! each token is for), the queue and dead-letter messages, the idempotency records, error
//! strings and the Debug output of the secret and config types.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine;
use bridge_relay::lambda::{FunctionUrlRequest, handle_sqs};
use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::Ingress;
use bridge_relay::zoom::MeetingProvider;
use bridge_relay_tests::*;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

const WEBHOOK_SECRET: &str = "whsec-CANARY-webhook-4f1d9e";
const START_URL_HOST_KEY: &str = "HOST-ONLY-START-URL-SECRET";
const MEETING_ID: u64 = 85012345678;
const ZOOM_SECRET_TOKEN: &str = "zoom-webhook-secret-token-leak";

/// Zoom's own `recording.completed` example, for the stand-in's meeting: its `download_token`
/// and `download_url`s must never leave the worker.
fn recording_completed() -> Value {
    read_json("tests/fixtures/zoom-webhooks/recording_completed.json")
}

/// Every value that must never be seen outside the header it is meant for.
fn canaries() -> Vec<(&'static str, String)> {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{ZOOM_CLIENT_ID}:{ZOOM_CLIENT_SECRET}"));
    vec![
        ("webhook secret", WEBHOOK_SECRET.to_owned()),
        ("Zoom client secret", ZOOM_CLIENT_SECRET.to_owned()),
        ("Zoom Basic credentials", basic),
        ("Zoom access token", ZOOM_ACCESS_TOKEN.to_owned()),
        ("PagerDuty API token", PD_API_TOKEN.to_owned()),
        ("Zoom start_url host key", START_URL_HOST_KEY.to_owned()),
        (
            "Zoom start_url",
            format!("https://us06web.zoom.us/s/{MEETING_ID}"),
        ),
        (
            "Zoom recording download_token",
            recording_completed()["download_token"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
        // Every `download_url` of the example is under this path.
        (
            "Zoom recording download_url",
            "/recording/download/".to_owned(),
        ),
    ]
}

#[track_caller]
fn assert_clean(place: &str, text: &str) {
    for (name, value) in canaries() {
        let lines: Vec<String> = text
            .lines()
            .filter(|line| line.contains(&value))
            .take(3)
            .map(|line| line.chars().take(2000).collect())
            .collect();
        assert!(
            lines.is_empty(),
            "the {name} appears in {place}:\n{}",
            lines.join("\n")
        );
    }
}

/// All tracing output of this test process (and `log` records of dependencies), JSON lines.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn install() -> CapturedLogs {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .try_init()
            .expect("the only subscriber of this test process");
        logs
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn webhook(body: &[u8], signature: Option<&str>, webhook_id: &str) -> FunctionUrlRequest {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("x-webhook-id", webhook_id),
    ];
    if let Some(signature) = signature {
        headers.push(("x-pagerduty-signature", signature));
    }
    FunctionUrlRequest::post("/", &headers, body)
}

async fn answer(ingress: &Ingress, request: FunctionUrlRequest) -> (u16, String) {
    let response = invoke_ingress(ingress, request).await;
    (
        response.status_code,
        format!("{:?}\n{}", response.headers, response.body),
    )
}

/// The captured triggered webhook for another incident.
fn triggered_body(incident_id: &str, number: u64) -> Vec<u8> {
    let mut body =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    body["event"]["id"] = json!(format!("evt-{incident_id}"));
    body["event"]["data"]["id"] = json!(incident_id);
    body["event"]["data"]["number"] = json!(number);
    serde_json::to_vec(&body).unwrap()
}

async fn run_worker(aws: &AwsStandIns, apis: &ApiStandIns) -> Vec<String> {
    let (worker, _) = aws.worker(&apis.env(), Deployment::new().roomy_pool());
    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    for record in &event.records {
        assert_clean("a job message", record.body.as_deref().unwrap_or_default());
    }
    let mut context = Context::default();
    context.deadline = (SystemTime::now() + Duration::from_secs(30))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let handled: Vec<(Option<String>, Option<String>)> = event
        .records
        .iter()
        .map(|r| (r.message_id.clone(), r.receipt_handle.clone()))
        .collect();
    let response = handle_sqs(worker, LambdaEvent::new(event, context))
        .await
        .unwrap();
    let failed: Vec<String> = response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect();
    // As the event source mapping does: what succeeded leaves the queue (and frees its
    // incident's message group for the next job).
    let sqs = aws_sdk_sqs::Client::new(&aws.config);
    for (id, receipt) in handled {
        if !failed.contains(&id.unwrap_or_default()) {
            sqs.delete_message()
                .queue_url(&aws.queue_url)
                .set_receipt_handle(receipt)
                .send()
                .await
                .unwrap();
        }
    }
    failed
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_and_the_host_link_never_leave_their_place() {
    let logs = CapturedLogs::install();
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    let mut secret: Value = serde_json::from_str(&secret_document(&[WEBHOOK_SECRET])).unwrap();
    secret["zoom"]["webhook_secret_token"] = json!(ZOOM_SECRET_TOKEN);
    aws.put_secret(secret.to_string()).await;
    let store = Arc::new(bridge_relay::store::DynamoDbStore::from_sdk_config(
        &aws.config,
        &aws.table_name,
    ));
    let ingress = aws
        .ingress(BridgePolicy::default())
        .with_meeting_index(store);
    let mut answers = Vec::new();

    // Forged, unsigned and malformed webhooks, one whose "signature" is the secret itself.
    let body = triggered_body("PCANARY1", 101);
    let forged = [
        Some(sign(&body, "attacker-secret")),
        Some(format!("v1={}", hex::encode(WEBHOOK_SECRET))),
        Some(format!("v1={WEBHOOK_SECRET}")),
        None,
    ];
    for signature in forged {
        let (status, text) =
            answer(&ingress, webhook(&body, signature.as_deref(), "w-forged")).await;
        assert_eq!(status, 401, "{text}");
        answers.push(text);
    }
    let malformed = br#"{"event":{"id":"1","event_type":"incident.triggered","data":{"type":"incident","id":7}}}"#;
    let (status, text) = answer(
        &ingress,
        webhook(malformed, Some(&sign(malformed, WEBHOOK_SECRET)), "w-bad"),
    )
    .await;
    assert_eq!(status, 400, "{text}");
    answers.push(text);

    // 1. A bridged incident.
    let (status, text) = answer(
        &ingress,
        webhook(&body, Some(&sign(&body, WEBHOOK_SECRET)), "w-1"),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    answers.push(text);
    assert!(run_worker(&aws, &apis).await.is_empty());

    // Its meeting's cloud recording, with Zoom's download token and links: a note with the
    // share link only (the job message is searched by run_worker).
    let recording = serde_json::to_vec(&recording_completed()).unwrap();
    let timestamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let zoom_signature = bridge_relay::zoom::webhook::sign(
        &timestamp,
        &recording,
        &secrecy::SecretString::from(ZOOM_SECRET_TOKEN.to_owned()),
    );
    let zoom_headers = [
        ("content-type", "application/json"),
        ("x-zm-request-timestamp", timestamp.as_str()),
        ("x-zm-signature", zoom_signature.as_str()),
    ];
    let (status, text) = answer(
        &ingress,
        FunctionUrlRequest::post("/zoom", &zoom_headers, &recording),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    answers.push(text);
    assert!(run_worker(&aws, &apis).await.is_empty());

    // 2. Zoom refuses the access token on create, also after a fresh one: the job goes back to
    //    the queue for a later try (no note yet).
    Mock::given(method("POST"))
        .and(path_regex(r"^/users/[^/]+/meetings$"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"code": 124, "message": "Invalid access token."})),
        )
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
    let body2 = triggered_body("PCANARY2", 102);
    let (status, text) = answer(
        &ingress,
        webhook(&body2, Some(&sign(&body2, WEBHOOK_SECRET)), "w-2"),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    answers.push(text);
    assert_eq!(run_worker(&aws, &apis).await.len(), 1, "retried later");

    // 3. Zoom's OAuth endpoint refuses the client secret, also after the secret is re-read.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
        ))
        .with_priority(1)
        .mount(&apis.zoom_oauth)
        .await;
    let body3 = triggered_body("PCANARY3", 103);
    let (status, text) = answer(
        &ingress,
        webhook(&body3, Some(&sign(&body3, WEBHOOK_SECRET)), "w-3"),
    )
    .await;
    assert_eq!(status, 202, "{text}");
    answers.push(text);
    assert!(
        run_worker(&aws, &apis).await.is_empty(),
        "dead-lettered at once"
    );

    // The errors themselves, as returned to a caller, shown and debugged.
    let (_, zoom) = aws.worker(&apis.env(), Deployment::new());
    let incident = bridge_relay::model::Incident::new("PCANARY4");
    let request = bridge_relay::meeting::bridge_meeting(&incident, "12345678", SystemTime::now());
    let error = zoom.create_meeting(&request).await.unwrap_err();
    assert!(error.to_string().contains("401"), "{error}");
    let mut errors = format!("{error}\n{error:?}\n");
    let failed = bridge_relay::relay::failure_note(&bridge_relay::JobError::Meeting(match error {
        bridge_relay::zoom::MeetingError::Upstream(e) => e,
        other => panic!("{other:?}"),
    }));
    errors.push_str(&failed);

    // Where the values could surface.
    for text in &answers {
        assert_clean("an ingress answer", text);
    }
    assert_clean("error strings", &errors);

    let pd_requests = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    let notes: Vec<String> = pd_requests
        .iter()
        .filter(|r| r.url.path().ends_with("/notes") && r.method.as_str() == "POST")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert_eq!(
        notes.len(),
        3,
        "one bridge note, one recording note and one failure note: {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Zoom cloud recording of meeting")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .filter(|n| n.contains("could not open a Zoom bridge"))
            .count()
            == 1,
        "{notes:?}"
    );
    assert_eq!(
        pd_requests
            .iter()
            .filter(|r| r.method.as_str() == "PUT")
            .count(),
        1,
        "one bridge"
    );
    for request in &pd_requests {
        let mut headers = request.headers.clone();
        assert_eq!(
            headers.remove("authorization").unwrap(),
            format!("Token token={PD_API_TOKEN}").as_str()
        );
        assert_clean(
            "a PagerDuty request",
            &format!(
                "{} {}\n{headers:?}\n{}",
                request.method,
                request.url,
                String::from_utf8_lossy(&request.body)
            ),
        );
    }
    for request in ApiStandIns::requests(&apis.zoom_upstream).await {
        let mut headers = request.headers.clone();
        assert_eq!(
            headers.remove("authorization").unwrap(),
            format!("Bearer {ZOOM_ACCESS_TOKEN}").as_str()
        );
        assert_clean(
            "a Zoom API request",
            &format!(
                "{} {}\n{headers:?}\n{}",
                request.method,
                request.url,
                String::from_utf8_lossy(&request.body)
            ),
        );
    }
    for request in ApiStandIns::requests(&apis.zoom_oauth).await {
        let mut headers = request.headers.clone();
        headers.remove("authorization").unwrap();
        assert_clean(
            "a Zoom OAuth request",
            &format!(
                "{} {}\n{headers:?}\n{}",
                request.method,
                request.url,
                String::from_utf8_lossy(&request.body)
            ),
        );
    }

    let dead_letters = aws.drain(&aws.dead_letter_queue_url).await;
    // Case 2 waits in the queue for its next try; case 3 is dead-lettered.
    assert_eq!(dead_letters.len(), 1, "{dead_letters:?}");
    for message in &dead_letters {
        let job: Value = serde_json::from_str(message).unwrap();
        assert!(job["failure"].as_str().unwrap().contains("401"), "{job}");
        assert_clean("a dead-letter message", message);
    }

    let records = aws_sdk_dynamodb::Client::new(&aws.config)
        .scan()
        .table_name(&aws.table_name)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert!(!records.is_empty());
    // The deployment's one Zoom token has an item of its own, sealed under the client secret.
    let token_items: Vec<_> = records
        .iter()
        .filter(|item| {
            item.get("pk")
                .and_then(|pk| pk.as_s().ok())
                .is_some_and(|pk| pk.starts_with("zoom-token#"))
        })
        .collect();
    assert_eq!(token_items.len(), 1, "one shared token item");
    assert!(
        token_items[0]["token"].as_s().unwrap().starts_with("v1:"),
        "sealed"
    );
    assert_clean("an idempotency record", &format!("{records:?}"));

    let secrets = aws.secret_cache().get().await.unwrap();
    assert_clean("the Debug output of the secret", &format!("{secrets:?}"));
    let env: Vec<(&str, String)> = aws.worker_env().into_iter().chain(apis.env()).collect();
    let config = bridge_relay::config::Env(|name: &str| {
        env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    })
    .worker()
    .unwrap();
    assert_clean("the Debug output of the config", &format!("{config:?}"));

    // The capture worked: it holds the relay's own lines and its dependencies' TRACE lines.
    let logs = logs.text();
    for expected in [
        "webhook rejected",
        "webhook queued",
        "bridge posted",
        "job failed for good",
        "secret read",
    ] {
        assert!(logs.contains(expected), "no {expected:?} line in the logs");
    }
    assert!(
        logs.contains("\"level\":\"TRACE\""),
        "no TRACE lines captured"
    );
    assert_clean("the logs", &logs);
}

/// A secret the worker cannot read fails the job with the secret's ARN and the AWS SDK's
/// context in its error: the logs get them, the incident's failure note only a short reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_note_keeps_the_secrets_arn_and_the_sdk_context_in_the_logs() {
    let moto = Moto::start();
    let config = moto.sdk_config().await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:bridge-relay/missing-AbCdEf";
    let cache = bridge_relay::secrets::secrets_manager(&config, arn, Duration::from_secs(60));
    let error = bridge_relay::JobError::Secrets(cache.get().await.unwrap_err());
    let logged = error.to_string();
    assert!(
        logged.contains(arn),
        "the log line names the secret: {logged}"
    );
    let job = bridge_relay::model::Job::from_json(
        &json!({
            "webhook_id": "w", "event_id": "e", "event_type": "incident.resolved",
            "action": "resolved", "incident": {"id": "PLEAK1"}
        })
        .to_string(),
    )
    .unwrap();
    for note in [
        bridge_relay::relay::failure_note(&error),
        bridge_relay::lifecycle::failure_note(&job, &error),
    ] {
        assert!(
            note.contains("the relay could not read its secret; see the worker's logs"),
            "{note}"
        );
        for detail in [arn, "123456789012", "ResourceNotFound", "service error"] {
            assert!(!note.contains(detail), "{detail} in the note: {note}");
        }
    }
}

//! The Lambda path end to end: an event from events/ enters the ingress handler, the job goes
//! through SQS (moto), the worker handler takes the batch, and Zoom and PagerDuty (Prism proxies
//! of the official specs in front of recording wiremock servers) receive exactly the right calls.

use std::sync::Arc;
use std::time::Duration;

use bridge_relay::lambda::handle_sqs;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::SqsJobQueue;
use bridge_relay::relay::Ingress;
use bridge_relay_tests::*;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};

/// The e-mail of the PagerDuty REST spec's example user, which the stand-ins answer for every
/// assignee.
const RESPONDER_EMAIL: &str = "125.greenholt.earline@graham.name";
const MEETING_ID: u64 = 85012345678;

async fn invoke(ingress: &Ingress, event_file: &str) -> (u16, Value) {
    let response = invoke_ingress(ingress, http_event(event_file)).await;
    let answer = serde_json::from_str(&response.body).unwrap();
    (response.status_code, answer)
}

fn body_json(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn header<'a>(request: &'a wiremock::Request, name: &str) -> &'a str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} header missing on {}", request.url))
        .to_str()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn triggered_webhook_becomes_one_meeting_bridge_and_note() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    let ingress = aws.ingress(BridgePolicy::default());

    let (status, body) = invoke(&ingress, "ingress-triggered.json").await;
    assert_eq!(
        (status, body),
        (202, json!({"status": "accepted", "incident": "PFQZPSY"}))
    );

    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    let record = &event.records[0];
    assert_eq!(
        record.attributes.get("MessageGroupId").map(String::as_str),
        Some("PFQZPSY")
    );
    // Deduplicated on the signed event id, not the unsigned X-Webhook-Id.
    assert_eq!(
        record
            .attributes
            .get("MessageDeduplicationId")
            .map(String::as_str),
        Some("01BZYIL05THJDFF2Y08X9SVMTU")
    );

    let (worker, zoom) = aws.worker(&apis.env(), Deployment::new());
    let response = handle_sqs(
        worker,
        LambdaEvent::new(event, invocation_context(Duration::from_secs(60))),
    )
    .await
    .unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "failures: {:?}\nzoom prism:\n{}\npagerduty prism:\n{}",
        response
            .batch_item_failures
            .iter()
            .map(|f| &f.item_identifier)
            .collect::<Vec<_>>(),
        apis.zoom_prism.output(),
        apis.pagerduty_prism.output()
    );

    // Zoom: one token, one meeting, with the settings that keep nobody waiting.
    assert_eq!(zoom.token_fetches(), 1);
    let token_requests = ApiStandIns::requests(&apis.zoom_oauth).await;
    assert_eq!(token_requests.len(), 1);
    assert_eq!(
        header(&token_requests[0], "authorization"),
        "Basic dGVzdC1jbGllbnQ6em9vbS1jbGllbnQtc2VjcmV0LWUyZQ==" // base64("test-client:zoom-client-secret-e2e")
    );
    let zoom_requests = ApiStandIns::requests(&apis.zoom_upstream).await;
    let calls: Vec<String> = zoom_requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    // After the bridge, the assignee (a licensed user of the account) gets host controls.
    assert_eq!(
        calls,
        [
            "POST /users/bot@example.com/meetings".to_owned(),
            format!("GET /users/{RESPONDER_EMAIL}"),
            format!("PATCH /meetings/{MEETING_ID}"),
        ]
    );
    let create = &zoom_requests[0];
    assert_eq!(create.method.as_str(), "POST");
    assert_eq!(create.url.path(), "/users/bot@example.com/meetings");
    assert_eq!(
        header(create, "authorization"),
        "Bearer zoom-access-token-e2e"
    );
    let mut sent = body_json(create);
    let passcode = sent["password"].as_str().unwrap().to_owned();
    assert!(
        passcode.len() == 8 && passcode.bytes().all(|b| b.is_ascii_digit()),
        "{passcode}"
    );
    let start_time = sent["start_time"].as_str().unwrap().to_owned();
    assert!(humantime_like(&start_time), "{start_time}");
    sent["password"] = json!("<passcode>");
    sent["start_time"] = json!("<now>");
    assert_eq!(
        sent,
        json!({
            "topic": "[#9] Test Incident 3",
            "type": 2,
            "start_time": "<now>",
            "duration": 60,
            "timezone": "UTC",
            "agenda": "Incident bridge for PagerDuty incident #9 (PFQZPSY)\nTest Incident 3\nService: pig208 | Urgency: high\nhttps://pig208.pagerduty.com/incidents/PFQZPSY",
            "password": "<passcode>",
            "settings": {"join_before_host": true, "jbh_time": 0, "waiting_room": false, "use_pmi": false,
                "approval_type": 2, "audio": "both", "host_video": false, "participant_video": false}
        })
    );

    // PagerDuty: the bridge, then the note, with the headers the API requires.
    let pd_requests = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(pd_requests.len(), 3, "{pd_requests:?}");
    let (put, note) = (&pd_requests[0], &pd_requests[1]);
    // Only then is the assignee looked up: the bridge waits for no host control.
    assert_eq!(pd_requests[2].url.path(), "/users/PJ0LVEB");
    for request in [put, note] {
        assert_eq!(
            header(request, "authorization"),
            "Token token=pd-api-token-e2e"
        );
        assert_eq!(
            header(request, "accept"),
            "application/vnd.pagerduty+json;version=2"
        );
        assert_eq!(header(request, "from"), FROM_EMAIL);
        let content_types: Vec<_> = request.headers.get_all("content-type").iter().collect();
        assert_eq!(content_types, ["application/json"]);
        let text = String::from_utf8_lossy(&request.body);
        assert!(
            !text.contains("HOST-ONLY-START-URL-SECRET"),
            "start_url leaked: {text}"
        );
    }
    assert_eq!(
        (put.method.as_str(), put.url.path()),
        ("PUT", "/incidents/PFQZPSY")
    );
    assert_eq!(
        body_json(put),
        json!({"incident": {"type": "incident_reference", "conference_bridge": {
            "conference_number": "+1 669-900-6833,,85012345678#,,,,*48151623#",
            "conference_url": "https://us06web.zoom.us/j/85012345678?pwd=bGt5dFpvZ3FoTzRrcUFqZz09"
        }}})
    );
    assert_eq!(
        (note.method.as_str(), note.url.path()),
        ("POST", "/incidents/PFQZPSY/notes")
    );
    assert_eq!(
        body_json(note),
        json!({"note": {"content": "Zoom bridge opened for this incident (bridge-relay).\n\
            Join: https://us06web.zoom.us/j/85012345678?pwd=bGt5dFpvZ3FoTzRrcUFqZz09\n\
            Meeting ID: 850 1234 5678\n\
            Passcode: 48151623\n\
            One tap: +1 669-900-6833,,85012345678#,,,,*48151623#\n\
            Dial in:\n  +1 669-900-6833 San Jose, US\n  +1 646-558-8656 New York, US"}})
    );
}

fn humantime_like(value: &str) -> bool {
    // yyyy-MM-ddTHH:mm:ssZ, as Zoom's spec asks for GMT times.
    value.len() == 20
        && value.ends_with('Z')
        && value.as_bytes()[10] == b'T'
        && value.chars().filter(|c| c.is_ascii_digit()).count() == 14
}

#[tokio::test(flavor = "multi_thread")]
async fn ingress_answers_each_kind_of_webhook_and_queues_only_bridges() {
    let aws = AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]).await;
    let ingress = aws.ingress(BridgePolicy::default());

    let (status, body) = invoke(&ingress, "ingress-bad-signature.json").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["error"],
        "no signature in X-PagerDuty-Signature matches the body"
    );

    let (status, body) = invoke(&ingress, "ingress-malformed.json").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("missing field `id`"),
        "{body}"
    );

    let (status, body) = invoke(&ingress, "ingress-acknowledged.json").await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ignored", "reason": "incident.acknowledged does not open a bridge"})
        )
    );
    assert_eq!(
        aws.queue_depth().await,
        0,
        "nothing queued for rejected or ignored webhooks"
    );

    // The same webhook twice (PagerDuty's retry), once base64-encoded: one job.
    let (status, _) = invoke(&ingress, "ingress-triggered-base64.json").await;
    assert_eq!(status, 202);
    let (status, _) = invoke(&ingress, "ingress-triggered.json").await;
    assert_eq!(status, 202);
    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1, "SQS FIFO dropped the redelivery");
}

#[tokio::test(flavor = "multi_thread")]
async fn ingress_answers_503_when_the_queue_is_unavailable_so_pagerduty_retries() {
    let aws = AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]).await;
    let missing_queue = aws
        .queue_url
        .replace("bridge-relay-jobs.fifo", "no-such-queue.fifo");
    let ingress = aws.ingress_to(&missing_queue, BridgePolicy::default());
    let (status, body) = invoke(&ingress, "ingress-triggered.json").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "error");
    // The sender's mistakes are still 4xx when the queue is down.
    assert_eq!(invoke(&ingress, "ingress-bad-signature.json").await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn ingress_answers_503_when_the_secret_cannot_be_read() {
    let aws = AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]).await;
    let ingress = bridge_relay::compose::ingress(
        bridge_relay::secrets::secrets_manager(
            &aws.config,
            "no-such-secret",
            Duration::from_secs(300),
        ),
        Arc::new(SqsJobQueue::from_sdk_config(&aws.config, &aws.queue_url)),
        BridgePolicy::default(),
    );
    let (status, _) = invoke(&ingress, "ingress-triggered.json").await;
    assert_eq!(status, 503);
    assert_eq!(aws.queue_depth().await, 0);
}

/// After a create or a note whose answer was lost (a 5xx here), the worker looks the meeting and
/// the note up before trying again; the look-ups pass the official specs too.
#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_are_looked_up_with_requests_the_specs_allow() {
    use wiremock::matchers::{method, path, path_regex, query_param};
    use wiremock::{Mock, ResponseTemplate};

    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    let meeting = zoom_meeting_created(MEETING_ID);
    let join_url = meeting["join_url"].as_str().unwrap().to_owned();
    // Zoom makes the meeting but answers 500; its list and get show the meeting.
    Mock::given(method("POST"))
        .and(path_regex(r"^/users/[^/]+/meetings$"))
        .respond_with(
            ResponseTemplate::new(500)
                .set_body_json(json!({"code": 500, "message": "Internal error"})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/bot@example.com/meetings"))
        .and(query_param("type", "scheduled"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "page_size": 300, "total_records": 1, "next_page_token": "",
            "meetings": [{
                "id": MEETING_ID, "uuid": meeting["uuid"], "host_id": meeting["host_id"],
                "topic": "[#9] Test Incident 3", "type": 2, "start_time": "2026-11-23T10:00:00Z",
                // Created just now: the look-up keeps only meetings created around the lost create.
                "duration": 60, "timezone": "UTC", "created_at": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                "agenda": "Incident bridge for PagerDuty incident #9 (PFQZPSY)\nTest Incident 3",
                "join_url": join_url
            }]
        })))
        .mount(&apis.zoom_upstream)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/meetings/{MEETING_ID}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(meeting.clone()))
        .mount(&apis.zoom_upstream)
        .await;
    // PagerDuty records the note but answers 502; its note list shows it.
    Mock::given(method("POST"))
        .and(path_regex(r"^/incidents/[^/]+/notes$"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&apis.pagerduty_upstream)
        .await;
    let mut notes = spec_example("pagerduty-rest.json", "/incidents/{id}/notes", "get", "200");
    notes["notes"][0]["content"] = json!(format!(
        "Zoom bridge opened for this incident (bridge-relay).\nJoin: {join_url}"
    ));
    Mock::given(method("GET"))
        .and(path("/incidents/PFQZPSY/notes"))
        .respond_with(ResponseTemplate::new(200).set_body_json(notes))
        .mount(&apis.pagerduty_upstream)
        .await;

    let ingress = aws.ingress(BridgePolicy::default());
    assert_eq!(invoke(&ingress, "ingress-triggered.json").await.0, 202);
    let (worker, _) = aws.worker(&apis.env(), Deployment::new());
    aws.run_event_source(worker, Duration::from_secs(20)).await;

    let zoom: Vec<String> = ApiStandIns::requests(&apis.zoom_upstream)
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        zoom,
        [
            "POST /users/bot@example.com/meetings".to_owned(),
            "GET /users/bot@example.com/meetings".to_owned(),
            format!("GET /meetings/{MEETING_ID}"),
            format!("GET /users/{RESPONDER_EMAIL}"),
            format!("PATCH /meetings/{MEETING_ID}"),
        ],
        "one create, then the look-up instead of a second create\n{}",
        apis.zoom_prism.output()
    );
    let pagerduty: Vec<String> = ApiStandIns::requests(&apis.pagerduty_upstream)
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(
        pagerduty,
        [
            "PUT /incidents/PFQZPSY",
            "POST /incidents/PFQZPSY/notes",
            "GET /incidents/PFQZPSY/notes",
            "GET /users/PJ0LVEB"
        ],
        "the note is found, not posted twice\n{}",
        apis.pagerduty_prism.output()
    );
}

/// A split deployment: the ingress runs on a secret with the webhook signing secret only, the
/// worker on one with the API credentials only, and the one secret they shared is gone. The
/// bridge is made all the same, and neither function can run on the other's secret.
#[tokio::test(flavor = "multi_thread")]
async fn each_function_runs_on_its_own_secret() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start_split(&[EXAMPLE_WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    assert!(aws.is_split());
    let ingress = aws.ingress(BridgePolicy::default());
    let (status, body) = invoke(&ingress, "ingress-triggered.json").await;
    assert_eq!(
        (status, body),
        (202, json!({"status": "accepted", "incident": "PFQZPSY"}))
    );
    assert_eq!(invoke(&ingress, "ingress-bad-signature.json").await.0, 401);
    // What the public function holds: the signing secret, and nothing that calls an API.
    let held = aws.ingress_secret_cache().get().await.unwrap();
    assert!(!held.has_api_credential(), "{held:?}");
    assert!(held.zoom_app().is_err() && held.pagerduty_api().is_err());

    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    let (worker, zoom) = aws.worker(&apis.env(), Deployment::new());
    let response = handle_sqs(
        worker,
        LambdaEvent::new(event, invocation_context(Duration::from_secs(60))),
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(zoom.token_fetches(), 1);
    let token_requests = ApiStandIns::requests(&apis.zoom_oauth).await;
    assert_eq!(
        header(&token_requests[0], "authorization"),
        "Basic dGVzdC1jbGllbnQ6em9vbS1jbGllbnQtc2VjcmV0LWUyZQ==" // base64("test-client:zoom-client-secret-e2e")
    );
    let pd = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(
        pd.len(),
        3,
        "bridge and note posted, then the assignee looked up"
    );
    for request in &pd {
        assert_eq!(
            header(request, "authorization"),
            format!("Token token={PD_API_TOKEN}")
        );
        assert_eq!(header(request, "from"), FROM_EMAIL);
    }

    // Swapped, each refuses the other's secret by the keys it lacks (503: PagerDuty retries).
    let swapped = bridge_relay::compose::ingress(
        bridge_relay::secrets::secrets_manager_for(
            bridge_relay::secrets::SecretRole::Ingress,
            &aws.config,
            &aws.worker_secret_arn,
            Duration::from_secs(300),
        ),
        Arc::new(SqsJobQueue::from_sdk_config(&aws.config, &aws.queue_url)),
        BridgePolicy::default(),
    );
    assert_eq!(invoke(&swapped, "ingress-triggered.json").await.0, 503);
    let err = bridge_relay::secrets::secrets_manager_for(
        bridge_relay::secrets::SecretRole::Worker,
        &aws.config,
        &aws.ingress_secret_arn,
        Duration::from_secs(300),
    )
    .get()
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(
            "has no zoom.account_id, zoom.client_id and zoom.client_secret, which the worker needs"
        ),
        "{err}"
    );
    // The one secret is gone: nothing above read it.
    assert!(aws.secret_cache().get().await.is_err());
}

/// An invocation with too little time left starts no job: the batch is handed back at once
/// (its messages due again after the redelivery backoff), so the answer is never lost to
/// Lambda's timeout, and the next invocation bridges.
#[tokio::test(flavor = "multi_thread")]
async fn an_invocation_too_short_to_start_a_job_hands_the_batch_back() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    let ingress = aws.ingress(BridgePolicy::default());
    let (status, _) = invoke(&ingress, "ingress-triggered.json").await;
    assert_eq!(status, 202);
    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    let (worker, _) = aws.worker(&apis.env(), Deployment::new());
    // 12 s left: 7 s before the worker's own deadline, less than a job may need.
    let response = handle_sqs(
        worker.clone(),
        LambdaEvent::new(event, invocation_context(Duration::from_secs(12))),
    )
    .await
    .unwrap();
    assert_eq!(response.batch_item_failures.len(), 1);
    assert!(
        ApiStandIns::requests(&apis.zoom_upstream).await.is_empty(),
        "nothing was started"
    );
    // Handed back for 10 s, not the queue's 360 s visibility.
    let again = eventually(Duration::from_secs(20), || async {
        let batch = aws.receive_batch().await;
        (!batch.is_empty()).then_some(batch)
    })
    .await
    .expect("the job is delivered again after the backoff");
    let response = handle_sqs(
        worker,
        LambdaEvent::new(
            sqs_event(again),
            invocation_context(Duration::from_secs(60)),
        ),
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
}

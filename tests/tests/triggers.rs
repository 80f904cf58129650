//! Every way PagerDuty asks for a bridge, end to end through the ingress handler (Function URL
//! requests on /webhook, /action and /workflow), SQS in moto, the worker, and Zoom and PagerDuty
//! behind Prism proxies of the official specs: V3 priority updates and escalations under a
//! policy, the Custom Incident Action button (V2 payload, shared-secret header), and the
//! Incident Workflow "Send a Webhook POST" step. Per-service meeting settings reach the exact
//! Zoom request.

use bridge_relay::pagerduty::manual::WORKFLOW_BODY_TEMPLATE;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::Ingress;
use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const MEETING_ID: u64 = 86012345678;
const WEBHOOK_SECRET: &str = "triggers-webhook-secret";
const ACTION_SECRET: &str = "triggers-action-secret-0123456789";

/// The policy of these tests: priorities decide, the priority update and escalation open
/// bridges, and the Default Service (PLVTM9H) meets in its own way.
const POLICY: &str = r#"{
  "event_types": ["incident.triggered", "incident.priority_updated", "incident.escalated"],
  "urgencies": [],
  "priorities": ["P1", "P2"],
  "services": {"deny": ["PDENIED"]},
  "meeting": {"topic": "[{priority}] #{number} {title}", "mute_upon_entry": true},
  "overrides": [
    {"services": ["PLVTM9H"], "meeting": {
      "host_user": "sre-zoom@example.com",
      "auto_recording": "cloud",
      "waiting_room": true,
      "join_before_host": false,
      "meeting_authentication": true,
      "dial_in_countries": ["GB", "US"],
      "agenda": "{service} incident, priority {priority}: {url}"
    }}
  ]
}"#;

fn secret_with_action() -> String {
    json!({
        "zoom": {"account_id": ZOOM_ACCOUNT_ID, "client_id": ZOOM_CLIENT_ID, "client_secret": ZOOM_CLIENT_SECRET},
        "pagerduty": {"api_token": PD_API_TOKEN, "from_email": FROM_EMAIL,
                      "webhook_secrets": [WEBHOOK_SECRET], "action_secret": ACTION_SECRET}
    })
    .to_string()
}

async fn post(
    ingress: &Ingress,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    post_json(ingress, path, headers, body).await
}

async fn post_v3(ingress: &Ingress, fixture: &str, webhook_id: &str) -> (u16, Value) {
    let body = pagerduty_webhook_bytes(&format!("tests/fixtures/pagerduty-webhooks/{fixture}"));
    let signature = sign(&body, WEBHOOK_SECRET);
    post(
        ingress,
        "/webhook",
        &[
            ("x-pagerduty-signature", &signature),
            ("x-webhook-id", webhook_id),
        ],
        &body,
    )
    .await
}

fn body_json(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

/// Zoom's answer for the SRE host: a GB number after the US ones, so the policy's order shows.
fn meeting_with_gb_dial_in() -> Value {
    let mut created = zoom_meeting_created(MEETING_ID);
    created["settings"]["global_dial_in_numbers"] = json!([
        {"city": "San Jose", "country": "US", "country_name": "US", "number": "+1 6699006833", "type": "toll"},
        {"city": "London", "country": "GB", "country_name": "United Kingdom", "number": "+44 203 481 5237", "type": "toll"}
    ]);
    created
}

/// Plays the event source mapping until the queue is empty (jobs deleted as Lambda would).
async fn run_worker(aws: &AwsStandIns, apis: &ApiStandIns) {
    assert!(aws.in_queue(&aws.queue_url).await > 0, "a job was queued");
    let (worker, _) = aws.worker(&apis.env(), Deployment::new());
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        aws.run_event_source(worker, std::time::Duration::from_secs(20)),
    )
    .await
    .expect("the queue drains");
    assert_eq!(
        aws.in_queue(&aws.dead_letter_queue_url).await,
        0,
        "nothing dead-lettered\nzoom prism:\n{}\npagerduty prism:\n{}",
        apis.zoom_prism.output(),
        apis.pagerduty_prism.output()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_priority_raised_into_the_policy_opens_a_bridge_with_the_services_meeting_settings() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    Mock::given(method("POST"))
        .and(path("/users/sre-zoom@example.com/meetings"))
        .respond_with(ResponseTemplate::new(201).set_body_json(meeting_with_gb_dial_in()))
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
    let ingress = aws.ingress(BridgePolicy::from_json(POLICY, None).unwrap());

    // A triggered incident without a priority is not among P1/P2.
    let (status, body) = post_v3(&ingress, "captured-zulip/triggered_v3.json", "w-trig").await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"status": "ignored", "reason":
            "incident PFQZPSY has urgency high and priority none; the policy bridges priority P1/P2"})
        )
    );
    assert_eq!(aws.queue_depth().await, 0);

    // The captured priority update raises Q3B15VLMF3ASBD to P2: it newly matches.
    let (status, body) = post_v3(
        &ingress,
        "captured-zulip/priority_updated_v3.json",
        "w-prio",
    )
    .await;
    assert_eq!(
        (status, body),
        (
            202,
            json!({"status": "accepted", "incident": "Q3B15VLMF3ASBD"})
        )
    );
    run_worker(&aws, &apis).await;

    let zoom = ApiStandIns::requests(&apis.zoom_upstream).await;
    // One create; after the bridge, the assignee's host check and the update giving them
    // host controls.
    let calls: Vec<&str> = zoom.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(calls, ["POST", "GET", "PATCH"]);
    assert_eq!(zoom[0].url.path(), "/users/sre-zoom@example.com/meetings");
    let mut sent = body_json(&zoom[0]);
    sent["password"] = json!("<passcode>");
    sent["start_time"] = json!("<now>");
    assert_eq!(
        sent,
        json!({
            "topic": "[P2] #5 Critical: Checkout API High Latency",
            "type": 2,
            "start_time": "<now>",
            "duration": 60,
            "timezone": "UTC",
            "agenda": "Incident bridge for PagerDuty incident #5 (Q3B15VLMF3ASBD)\nDefault Service incident, priority P2: https://harsh0303.pagerduty.com/incidents/Q3B15VLMF3ASBD",
            "password": "<passcode>",
            "settings": {"join_before_host": false, "jbh_time": 0, "waiting_room": true, "use_pmi": false,
                "approval_type": 2, "audio": "both", "host_video": false, "participant_video": false,
                "auto_recording": "cloud", "mute_upon_entry": true, "meeting_authentication": true,
                "global_dial_in_countries": ["GB", "US"]}
        })
    );
    let pagerduty = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    // The bridge, its note, then the assignee's e-mail for host controls.
    assert_eq!(pagerduty.len(), 3, "{pagerduty:?}");
    assert_eq!(pagerduty[0].url.path(), "/incidents/Q3B15VLMF3ASBD");
    assert!(
        pagerduty[2].url.path().starts_with("/users/"),
        "{pagerduty:?}"
    );
    assert_eq!(
        body_json(&pagerduty[0])["incident"]["conference_bridge"]["conference_number"],
        "+44 203 481 5237,,86012345678#,,,,*48151623#",
        "the one-touch number follows the policy's country order"
    );
    let note = body_json(&pagerduty[1])["note"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.contains("One tap: +44 203 481 5237,,86012345678#,,,,*48151623#"),
        "{note}"
    );

    // The escalation of the same incident finds it bridged: no second meeting.
    let mut escalated = pagerduty_webhook(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/priority_updated_v3.json",
    );
    escalated["event"]["event_type"] = json!("incident.escalated");
    escalated["event"]["id"] = json!("01GI0KJAEAC3CFEOFSC8ESCALAT");
    let body = escalated.to_string();
    let signature = sign(body.as_bytes(), WEBHOOK_SECRET);
    let (status, _) = post(
        &ingress,
        "/webhook",
        &[
            ("x-pagerduty-signature", &signature),
            ("x-webhook-id", "w-esc"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    run_worker(&aws, &apis).await;
    // Nothing new: no second meeting, no second look-up (the host check is kept in the
    // table) and no update (the meeting is as the incident is).
    assert_eq!(ApiStandIns::requests(&apis.zoom_upstream).await.len(), 3);
    assert_eq!(
        ApiStandIns::requests(&apis.pagerduty_upstream).await.len(),
        3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_button_opens_a_bridge_for_any_incident_and_names_who_clicked() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    aws.put_secret(secret_with_action()).await;
    let ingress = aws.ingress(BridgePolicy::from_json(POLICY, None).unwrap());
    let body = std::fs::read(
        workspace_root()
            .join("tests/fixtures/pagerduty-webhooks/v2-custom-action/incident_custom_v2.json"),
    )
    .unwrap();

    // No header, a wrong one, a V3 signature instead: refused, nothing queued.
    let (status, reply) = post(&ingress, "/action", &[], &body).await;
    assert_eq!(status, 401);
    assert_eq!(reply["error"], "the x-bridge-relay-token header is missing");
    let (status, reply) = post(
        &ingress,
        "/action",
        &[("x-bridge-relay-token", "triggers-action-secret-0123456780")],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        reply["error"],
        "the x-bridge-relay-token header does not match pagerduty.action_secret"
    );
    let signature = sign(&body, WEBHOOK_SECRET);
    let (status, _) = post(
        &ingress,
        "/action",
        &[("x-pagerduty-signature", &signature)],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    // A V2 body sent to the V3 path is not signed, so it is refused there too.
    let (status, _) = post(
        &ingress,
        "/webhook",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, reply) = post(
        &ingress,
        "/action",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        b"{\"messages\": 3}",
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("no `messages` array"),
        "{reply}"
    );
    let (status, _) = post(&ingress, "/elsewhere", &[], &body).await;
    assert_eq!(status, 404);
    assert_eq!(aws.queue_depth().await, 0);

    // The low-urgency P2 incident of "My Mail Service": a click gets it a bridge anyway.
    let started = std::time::Instant::now();
    let (status, reply) = post(
        &ingress,
        "/action",
        &[
            ("x-bridge-relay-token", ACTION_SECRET),
            ("x-webhook-id", "click-1"),
        ],
        &body,
    )
    .await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(16),
        "inside PagerDuty's 16 s"
    );
    assert_eq!(
        (status, reply),
        (202, json!({"status": "accepted", "incident": "PT4KHLK"}))
    );
    run_worker(&aws, &apis).await;

    let zoom = ApiStandIns::requests(&apis.zoom_upstream).await;
    assert_eq!(zoom.len(), 1);
    assert_eq!(zoom[0].url.path(), "/users/bot@example.com/meetings");
    let sent = body_json(&zoom[0]);
    assert_eq!(sent["topic"], "[P2] #1234 The server is on fire.");
    assert_eq!(sent["settings"]["mute_upon_entry"], true);
    assert_eq!(sent["settings"].get("auto_recording"), None);
    let pagerduty = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(pagerduty.len(), 2);
    assert_eq!(pagerduty[1].url.path(), "/incidents/PT4KHLK/notes");
    let note = body_json(&pagerduty[1])["note"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        note.starts_with(
            "Zoom bridge opened for this incident (bridge-relay), requested by Earline Greenholt.\n"
        ),
        "{note}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn buttons_follow_the_rules_when_the_policy_says_so() {
    let aws = AwsStandIns::start(&[WEBHOOK_SECRET]).await;
    aws.put_secret(secret_with_action()).await;
    let ingress = aws.ingress(
        BridgePolicy::from_json(
            r#"{"requests": "policy", "teams": {"deny": ["Engineering"]}}"#,
            None,
        )
        .unwrap(),
    );
    let body = std::fs::read(
        workspace_root()
            .join("tests/fixtures/pagerduty-webhooks/v2-custom-action/incident_custom_v2.json"),
    )
    .unwrap();
    let (status, reply) = post(
        &ingress,
        "/action",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        &body,
    )
    .await;
    assert_eq!(
        (status, reply),
        (
            200,
            json!({"status": "ignored", "reason": "incident PT4KHLK: a team is denied by the policy"})
        )
    );
    assert_eq!(aws.queue_depth().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_workflow_step_body_from_the_readme_opens_a_bridge() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    let ingress = aws.ingress(BridgePolicy::from_json(POLICY, None).unwrap());
    // Before an action secret is configured, workflow requests are refused with the reason.
    let (status, reply) = post(
        &ingress,
        "/workflow",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        b"{}",
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("no pagerduty.action_secret"),
        "{reply}"
    );
    aws.put_secret(secret_with_action()).await;
    let ingress = aws.ingress(BridgePolicy::from_json(POLICY, None).unwrap());

    // PagerDuty fills the field references; one it cannot resolve is left empty.
    let body = WORKFLOW_BODY_TEMPLATE
        .replace("{{incident.id}}", "Q1WORKFLOW0001")
        .replace("{{incident.number}}", "77")
        .replace("{{incident.title}}", "Payments failing in eu-west-1")
        .replace(
            "{{incident.html_url}}",
            "https://acme.pagerduty.com/incidents/Q1WORKFLOW0001",
        )
        .replace("{{incident.urgency}}", "high")
        .replace("{{incident.priority.name}}", "P1")
        .replace("{{incident.service.name}}", "payments")
        .replace("{{incident.service.id}}", "");
    let (status, reply) = post(
        &ingress,
        "/workflow",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        (status, reply),
        (
            202,
            json!({"status": "accepted", "incident": "Q1WORKFLOW0001"})
        )
    );
    let (status, reply) = post(
        &ingress,
        "/workflow",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        br#"{"incident": {"title": "no id"}}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("missing field `id`"),
        "{reply}"
    );

    run_worker(&aws, &apis).await;
    let zoom = ApiStandIns::requests(&apis.zoom_upstream).await;
    assert_eq!(zoom.len(), 1);
    assert_eq!(
        body_json(&zoom[0])["topic"],
        "[P1] #77 Payments failing in eu-west-1"
    );
    let pagerduty = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(pagerduty[0].url.path(), "/incidents/Q1WORKFLOW0001");
    let note = body_json(&pagerduty[1])["note"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(note.contains("requested by Incident Workflow."), "{note}");
}

/// The local runner serves the same paths, with the policy from `--policy-file`.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_runner_serves_the_button_with_the_example_policy() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-triggers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_with_action()).unwrap();
    let bad_policy = dir.join("bad-policy.json");
    std::fs::write(
        &bad_policy,
        r#"{"meeting": {"dial_in_countries": ["UK "]}}"#,
    )
    .unwrap();
    let serve = |policy: &std::path::Path, port: u16| {
        let mut command = std::process::Command::new(workspace_binary("bridge-relay"));
        command
            .args(["serve", "--secrets-file", secrets.to_str().unwrap()])
            .args(["--policy-file", policy.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("POLICY")
            .env_remove("BRIDGE_EVENT_TYPES")
            .envs(apis.env());
        command
    };

    // A bad policy stops the start, naming the field.
    // It stops before listening; port 0 could not collide if it got that far.
    let output = serve(&bad_policy, 0).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("POLICY_FILE is invalid")
            && stderr.contains("meeting.dial_in_countries[0]"),
        "{stderr}"
    );

    let example_policy = workspace_root().join("examples/policy.json");
    let (process, port) = Process::spawn_listening(
        "bridge-relay-triggers",
        std::time::Duration::from_secs(10),
        |port| serve(&example_policy, port),
    );
    let body = std::fs::read(
        workspace_root()
            .join("tests/fixtures/pagerduty-webhooks/v2-custom-action/incident_custom_v2.json"),
    )
    .unwrap();
    let response = bridge_relay::http::client()
        .post(format!("http://127.0.0.1:{port}/action"))
        .header("x-bridge-relay-token", ACTION_SECRET)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);

    let requests = eventually(std::time::Duration::from_secs(20), || async {
        let requests = ApiStandIns::requests(&apis.pagerduty_upstream).await;
        (requests.len() >= 2).then_some(requests)
    })
    .await
    .unwrap_or_else(|| panic!("no bridge posted; runner said:\n{}", process.output()));
    let zoom = ApiStandIns::requests(&apis.zoom_upstream).await;
    let sent = body_json(&zoom[0]);
    assert_eq!(sent["topic"], "[P2] #1234 The server is on fire.");
    assert_eq!(
        sent["settings"]["global_dial_in_countries"],
        json!(["US", "GB"])
    );
    let note = body_json(&requests[1])["note"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(note.contains("requested by Earline Greenholt."), "{note}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A queue that never answers: the button still gets its answer inside PagerDuty's 16 s
/// (a 503 within the 4-second budget), not a function timeout.
#[tokio::test(flavor = "multi_thread")]
async fn a_button_is_answered_within_its_budget_when_the_queue_hangs() {
    let aws = AwsStandIns::start(&[WEBHOOK_SECRET]).await;
    aws.put_secret(secret_with_action()).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let hanging = aws.config.to_builder().endpoint_url(&silent_url).build();
    let ingress = bridge_relay::compose::ingress(
        aws.secret_cache(),
        std::sync::Arc::new(bridge_relay::queue::SqsJobQueue::from_sdk_config(
            &hanging,
            &aws.queue_url,
        )),
        BridgePolicy::default(),
    );
    let body = std::fs::read(
        workspace_root()
            .join("tests/fixtures/pagerduty-webhooks/v2-custom-action/incident_custom_v2.json"),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let (status, reply) = post(
        &ingress,
        "/action",
        &[("x-bridge-relay-token", ACTION_SECRET)],
        &body,
    )
    .await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{reply}");
    assert_eq!(
        reply["error"],
        "the relay could not accept the request in time; try again"
    );
    assert!(
        took >= bridge_relay::relay::REQUEST_BUDGET && took < std::time::Duration::from_secs(6),
        "{took:?}"
    );
    held.abort();
}

/// Three changes of an incident queued together reach the worker in one batch (one FIFO
/// group, in order): the Lambda sends one update, with the last title.
#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_changes_to_one_incident_sends_one_update() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[WEBHOOK_SECRET]),
        ApiStandIns::start(MEETING_ID)
    );
    let ingress = aws.ingress(BridgePolicy::default());
    let send = |event_type: &'static str, id: String, title: Option<String>| {
        let ingress = &ingress;
        async move {
            let mut body = pagerduty_webhook(
                "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
            );
            body["event"]["event_type"] = json!(event_type);
            body["event"]["id"] = json!(id);
            if let Some(title) = title {
                body["event"]["data"]["title"] = json!(title);
            }
            let body = body.to_string();
            let signature = sign(body.as_bytes(), WEBHOOK_SECRET);
            let headers = [
                ("x-pagerduty-signature", signature.as_str()),
                ("x-webhook-id", id.as_str()),
            ];
            assert_eq!(
                post(ingress, "/webhook", &headers, body.as_bytes()).await.0,
                202
            );
        }
    };
    send("incident.triggered", "batch-0".into(), None).await;
    run_worker(&aws, &apis).await;
    for n in 1..=3 {
        send(
            "incident.reassigned",
            format!("batch-{n}"),
            Some(format!("Retitled {n}")),
        )
        .await;
    }
    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 3);
    let (worker, _) = aws.worker(&apis.env(), Deployment::new());
    let response = bridge_relay::lambda::handle_sqs(
        worker,
        lambda_runtime::LambdaEvent::new(
            event,
            invocation_context(std::time::Duration::from_secs(60)),
        ),
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let topics: Vec<Value> = ApiStandIns::requests(&apis.zoom_upstream)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| body_json(r)["topic"].clone())
        .filter(|topic| !topic.is_null())
        .collect();
    assert_eq!(topics, [json!("[#9] Retitled 3")]);
}

//! The meeting lifecycle in the local runner (`bridge-relay serve`): Zoom events over HTTP on
//! `/zoom`, the in-memory meeting index and lifecycle, and the grace timer as a sleeping task,
//! against the same Prism proxies of the official Zoom and PagerDuty specs.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const MEETING_ID: u64 = 85012345678;
const WEBHOOK_SECRET: &str = "local-secret-one";
const ZOOM_SECRET_TOKEN: &str = "local-zoom-secret-token";

async fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut request = bridge_relay::http::client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn pagerduty(base: &str, event_type: &str) -> u16 {
    let mut body =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    body["event"]["event_type"] = json!(event_type);
    body["event"]["id"] = json!(format!("local-{event_type}"));
    let body = serde_json::to_vec(&body).unwrap();
    let headers = [
        ("x-pagerduty-signature", sign(&body, WEBHOOK_SECRET)),
        ("x-webhook-id", format!("local-{event_type}")),
    ];
    post(&format!("{base}/webhook"), &headers, &body).await.0
}

async fn zoom(base: &str, fixture: &str) -> (u16, Value) {
    let body = std::fs::read(
        workspace_root()
            .join("tests/fixtures/zoom-webhooks")
            .join(fixture),
    )
    .unwrap();
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = bridge_relay::zoom::webhook::sign(
        &timestamp,
        &body,
        &secrecy::SecretString::from(ZOOM_SECRET_TOKEN.to_owned()),
    );
    let headers = [
        ("x-zm-request-timestamp", timestamp),
        ("x-zm-signature", signature),
    ];
    post(&format!("{base}/zoom"), &headers, &body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_runner_records_the_call_and_ends_the_meeting_after_the_grace_period() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    Mock::given(method("PUT"))
        .and(path_regex(r"^/meetings/\d+/status$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&apis.zoom_upstream)
        .await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut secret: Value = serde_json::from_str(&secret_document(&[WEBHOOK_SECRET])).unwrap();
    secret["zoom"]["webhook_secret_token"] = json!(ZOOM_SECRET_TOKEN);
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret.to_string()).unwrap();
    let policy = dir.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"meeting": {"on_resolve": "end", "end_grace_seconds": 1}}"#,
    )
    .unwrap();
    let (runner, port) =
        Process::spawn_listening("bridge-relay-lifecycle", Duration::from_secs(10), |port| {
            let mut command = Command::new(workspace_binary("bridge-relay"));
            command
                .args(["serve", "--secrets-file", secrets.to_str().unwrap()])
                .args(["--policy-file", policy.to_str().unwrap()])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .envs(apis.env());
            command
        });
    let base = format!("http://127.0.0.1:{port}");

    let (status, answer) = zoom(&base, "endpoint_url_validation.json").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(answer["encryptedToken"].as_str().map(str::len), Some(64));

    assert_eq!(pagerduty(&base, "incident.triggered").await, 202);
    let bridged = eventually(Duration::from_secs(20), || async {
        (apis.notes().await.len() == 1).then_some(())
    })
    .await;
    assert!(bridged.is_some(), "no bridge:\n{}", runner.output());

    assert_eq!(zoom(&base, "meeting_started.json").await.0, 202);
    assert_eq!(zoom(&base, "meeting_participant_joined.json").await.0, 202);
    let live = eventually(Duration::from_secs(20), || async {
        (apis.notes().await.len() == 3).then_some(())
    })
    .await;
    assert!(
        live.is_some(),
        "{:#?}\n{}",
        apis.notes().await,
        runner.output()
    );

    assert_eq!(pagerduty(&base, "incident.resolved").await, 202);
    let ended = eventually(Duration::from_secs(20), || async {
        let notes = apis.notes().await;
        (notes.len() == 5).then_some(notes)
    })
    .await
    .unwrap_or_else(|| panic!("no closing note:\n{}", runner.output()));
    assert_eq!(
        ended[3],
        "Incident resolved. bridge-relay ends the Zoom meeting 850 1234 5678 in 1 s if the incident stays resolved (a reopen keeps it open)."
    );
    assert!(
        ended[4].starts_with("Incident resolved: bridge-relay ended the Zoom meeting 850 1234 5678.\nThe meeting ran for "),
        "{ended:#?}"
    );
    assert!(
        ended[4].ends_with("\nOn the call (1): Earline Greenholt."),
        "{ended:#?}"
    );
    let ends: Vec<_> = ApiStandIns::requests(&apis.zoom_upstream)
        .await
        .into_iter()
        .filter(|r| r.url.path() == "/meetings/85012345678/status")
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .collect();
    assert_eq!(ends, [json!({"action": "end"})]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sign_zoom_prints_the_headers_zoom_would_send() {
    let file = workspace_root().join("tests/fixtures/zoom-webhooks/meeting_started.json");
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["sign", "--zoom", "--secrets-file"])
        .arg(workspace_root().join("examples/secrets.local.json"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let header = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .to_owned()
    };
    let timestamp = header("x-zm-request-timestamp");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        bridge_relay::zoom::webhook::verify(
            Some(&header("x-zm-signature")),
            Some(&timestamp),
            &std::fs::read(&file).unwrap(),
            &secrecy::SecretString::from("local-zoom-secret-token-change-me".to_owned()),
            now,
        ),
        Ok(())
    );
}

/// `serve` with the lifecycle test's secret (Zoom events signed) and `on_resolve: end` after 1 s.
fn start_ending(apis: &ApiStandIns, name: &str) -> (Process, String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("bridge-relay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut secret: Value = serde_json::from_str(&secret_document(&[WEBHOOK_SECRET])).unwrap();
    secret["zoom"]["webhook_secret_token"] = json!(ZOOM_SECRET_TOKEN);
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret.to_string()).unwrap();
    let (runner, port) = Process::spawn_listening(name, Duration::from_secs(10), |port| {
        let mut command = Command::new(workspace_binary("bridge-relay"));
        command
            .args(["serve", "--secrets-file", secrets.to_str().unwrap()])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env(
                "POLICY",
                r#"{"meeting": {"on_resolve": "end", "end_grace_seconds": 1}}"#,
            )
            .envs(apis.env());
        command
    });
    (runner, format!("http://127.0.0.1:{port}"), dir)
}

/// Triggers and resolves the incident, with no call in between; the notes once the closing
/// one is posted.
async fn bridge_and_resolve(apis: &ApiStandIns, runner: &Process, base: &str) -> Vec<String> {
    assert_eq!(pagerduty(base, "incident.triggered").await, 202);
    eventually(Duration::from_secs(20), || async {
        (apis.notes().await.len() == 1).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("no bridge:\n{}", runner.output()));
    assert_eq!(pagerduty(base, "incident.resolved").await, 202);
    eventually(Duration::from_secs(20), || async {
        let notes = apis.notes().await;
        (notes.len() == 3).then_some(notes)
    })
    .await
    .unwrap_or_else(|| panic!("no closing note:\n{}", runner.output()))
}

/// The Zoom calls on the incident's meeting after its create, as `METHOD path`.
async fn meeting_calls(apis: &ApiStandIns) -> Vec<String> {
    ApiStandIns::requests(&apis.zoom_upstream)
        .await
        .iter()
        .filter(|r| r.url.path().contains(&MEETING_ID.to_string()))
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_nobody_used_is_removed_at_the_resolve() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    // Zoom has no ended instance of the meeting, and deletes it.
    Mock::given(method("GET"))
        .and(path_regex(r"^/past_meetings/\d+/instances$"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"code": 3001, "message": "Meeting not found."})),
        )
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
    Mock::given(method("DELETE"))
        .and(path_regex(r"^/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&apis.zoom_upstream)
        .await;
    let (runner, base, dir) = start_ending(&apis, "bridge-relay-unused");
    let notes = bridge_and_resolve(&apis, &runner, &base).await;
    assert_eq!(
        notes[2],
        "Incident resolved: nobody used the Zoom meeting 850 1234 5678, so bridge-relay removed it; its link no longer works."
    );
    assert_eq!(
        meeting_calls(&apis).await,
        [
            format!("PATCH /meetings/{MEETING_ID}"),
            format!("GET /past_meetings/{MEETING_ID}/instances"),
            format!("DELETE /meetings/{MEETING_ID}"),
        ],
        "host controls after the bridge, then the removal and no end"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_zoom_says_ran_is_ended_not_removed() {
    // No Zoom event reached the relay, but Zoom lists an ended instance of the meeting.
    let apis = ApiStandIns::start(MEETING_ID).await;
    Mock::given(method("PUT"))
        .and(path_regex(r"^/meetings/\d+/status$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&apis.zoom_upstream)
        .await;
    let (runner, base, dir) = start_ending(&apis, "bridge-relay-ran");
    let notes = bridge_and_resolve(&apis, &runner, &base).await;
    assert!(
        notes[2]
            .starts_with("Incident resolved: bridge-relay ended the Zoom meeting 850 1234 5678."),
        "{notes:#?}"
    );
    assert_eq!(
        meeting_calls(&apis).await,
        [
            format!("PATCH /meetings/{MEETING_ID}"),
            format!("GET /past_meetings/{MEETING_ID}/instances"),
            format!("PUT /meetings/{MEETING_ID}/status"),
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

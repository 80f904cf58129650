//! The local runner (`bridge-relay serve`) over real HTTP on 127.0.0.1: a signed webhook in,
//! the same Zoom and PagerDuty calls out, with the secret read from a file and no AWS at all.

use std::process::Command;
use std::time::Duration;

use bridge_relay_tests::*;
use serde_json::{Value, json};

const MEETING_ID: u64 = 81234567890;

struct Runner {
    url: String,
    process: Process,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_runner(apis: &ApiStandIns, name: &str) -> Runner {
    let dir =
        std::env::temp_dir().join(format!("bridge-relay-local-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_document(&["local-secret-one"])).unwrap();
    let (process, port) = Process::spawn_listening(
        &format!("bridge-relay-{name}"),
        Duration::from_secs(10),
        |port| {
            let mut command = serve_command(&secrets, port);
            command.envs(apis.env());
            command
        },
    );
    Runner {
        url: format!("http://127.0.0.1:{port}"),
        process,
        _dir: TempDir(dir),
    }
}

async fn post(url: &str, body: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut request = bridge_relay::http::client()
        .post(format!("{url}/webhook"))
        .header("content-type", "application/json")
        .header("x-webhook-id", "b0c5e2d4-1111-4a2b-9c3d-5e6f7a8b9c0d")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-pagerduty-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_webhook_over_http_becomes_a_bridge() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    let runner = start_runner(&apis, "flow");
    // The official example is a priority update of an incident that has a bridge; send it as a
    // trigger of an incident without one, which the default policy bridges.
    let mut envelope = pagerduty_webhook(
        "tests/fixtures/pagerduty-webhooks/official-developer-docs/envelope_incident_priority_updated.json",
    );
    envelope["event"]["event_type"] = json!("incident.triggered");
    envelope["event"]["data"]["conference_bridge"] = Value::Null;
    let body = envelope.to_string();

    let (status, reply) = post(
        &runner.url,
        body.as_bytes(),
        Some(sign(body.as_bytes(), "wrong")),
    )
    .await;
    assert_eq!(status, 401, "{reply}");
    let (status, reply) = post(&runner.url, body.as_bytes(), None).await;
    assert_eq!(
        (status, reply["error"].as_str()),
        (401, Some("the X-PagerDuty-Signature header is missing"))
    );
    let (status, reply) = post(
        &runner.url,
        b"{not json",
        Some(sign(b"{not json", "local-secret-one")),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .starts_with("the body is not JSON"),
        "{reply}"
    );

    let (status, reply) = post(
        &runner.url,
        body.as_bytes(),
        Some(sign(body.as_bytes(), "local-secret-one")),
    )
    .await;
    assert_eq!(
        (status, reply),
        (202, json!({"status": "accepted", "incident": "PGR0VU2"}))
    );

    let requests = eventually(Duration::from_secs(20), || async {
        let requests = ApiStandIns::requests(&apis.pagerduty_upstream).await;
        (requests.len() >= 3).then_some(requests)
    })
    .await
    .unwrap_or_else(|| {
        panic!(
            "no bridge posted; runner said:\n{}",
            runner.process.output()
        )
    });
    // The bridge, its note, and only then the assignee's e-mail (for host controls).
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].url.path(), "/incidents/PGR0VU2");
    assert_eq!(requests[2].url.path(), "/users/PTUXL6G");
    let put: Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(
        put,
        json!({"incident": {"type": "incident_reference", "conference_bridge": {
            "conference_number": "+1 669-900-6833,,81234567890#,,,,*48151623#",
            "conference_url": "https://us06web.zoom.us/j/81234567890?pwd=bGt5dFpvZ3FoTzRrcUFqZz09"
        }}})
    );
    assert_eq!(requests[1].url.path(), "/incidents/PGR0VU2/notes");

    // One create; the assignee's host check and update follow it.
    let zoom: Vec<_> = ApiStandIns::requests(&apis.zoom_upstream)
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    assert_eq!(zoom.len(), 1, "exactly one meeting");
    let create: Value = serde_json::from_slice(&zoom[0].body).unwrap();
    assert_eq!(create["topic"], "[#2] A little bump in the road");

    // One readable line per webhook, and no secret in the output.
    let output = eventually(Duration::from_secs(5), || async {
        let output = runner.process.output();
        output.contains("bridge and note posted").then_some(output)
    })
    .await
    .unwrap_or_else(|| runner.process.output());
    for decision in [
        "decision=\"rejected\"",
        "decision=\"bridge\"",
        "incident PGR0VU2: bridge and note posted, Zoom meeting 81234567890, ",
        // The token, the create, the bridge and the note; then the assignee's e-mail, their
        // host check and the update giving them host controls.
        " s after the webhook (7 upstream calls, 0 retries, delivery 1)",
    ] {
        assert!(
            output.contains(decision),
            "{decision} missing from:\n{output}"
        );
    }
    for secret in [
        ZOOM_CLIENT_SECRET,
        PD_API_TOKEN,
        ZOOM_ACCESS_TOKEN,
        "local-secret-one",
        "HOST-ONLY-START-URL",
    ] {
        assert!(
            !output.contains(secret),
            "{secret} leaked into the runner's output:\n{output}"
        );
    }
}

/// A signed trigger the default policy bridges.
fn trigger_body() -> String {
    let mut envelope = pagerduty_webhook(
        "tests/fixtures/pagerduty-webhooks/official-developer-docs/envelope_incident_priority_updated.json",
    );
    envelope["event"]["event_type"] = json!("incident.triggered");
    envelope["event"]["data"]["conference_bridge"] = Value::Null;
    envelope.to_string()
}

/// SIGTERM while a bridge is being made: the runner stops taking webhooks, finishes the job
/// (the meeting gets its bridge and note), and exits.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopping_runner_finishes_the_job_in_flight() {
    use wiremock::matchers::{method, path_regex};
    let apis = ApiStandIns::start(MEETING_ID).await;
    // Zoom takes its time: the stop comes while the create is under way.
    wiremock::Mock::given(method("POST"))
        .and(path_regex(r"^/users/[^/]+/meetings$"))
        .respond_with(
            wiremock::ResponseTemplate::new(201)
                .set_body_json(zoom_meeting_created(MEETING_ID))
                .set_delay(Duration::from_secs(3)),
        )
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
    let mut runner = start_runner(&apis, "stop");
    let body = trigger_body();
    let (status, reply) = post(
        &runner.url,
        body.as_bytes(),
        Some(sign(body.as_bytes(), "local-secret-one")),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    eventually(Duration::from_secs(20), || async {
        (!ApiStandIns::requests(&apis.zoom_upstream).await.is_empty()).then_some(())
    })
    .await
    .expect("the create reached Zoom");

    let status = runner.process.terminate(Duration::from_secs(40));
    let output = runner.process.output();
    assert!(status.is_some_and(|s| s.success()), "{status:?}:\n{output}");
    let pagerduty = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(
        pagerduty
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect::<Vec<_>>(),
        [
            "/incidents/PGR0VU2",
            "/incidents/PGR0VU2/notes",
            "/users/PTUXL6G"
        ],
        "the bridge and its note, posted before the exit, then the assignee looked up:\n{output}"
    );
    assert!(output.contains("every job in flight finished"), "{output}");
    // Its roll call's timer, asked for on the way out, is dropped with the runner's memory
    // (saying so) instead of failing the finished bridge.
    assert!(
        output.contains("the local runner is stopping: this timer will not fire"),
        "{output}"
    );
    assert!(!output.contains("job failed"), "{output}");
}

/// A body the runner cannot read (a broken chunk) is a bad request, not a body too large.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_body_is_answered_400() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let apis = ApiStandIns::start(MEETING_ID).await;
    let runner = start_runner(&apis, "badbody");
    let address = runner.url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /webhook HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
              transfer-encoding: chunked\r\n\r\nzz-not-a-chunk-size\r\n{}\r\n",
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("the request body could not be read"),
        "{answer}"
    );
}

#[test]
fn bad_settings_fail_the_start_naming_the_variable() {
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["serve", "--secrets-file", "/nonexistent/secrets.json"])
        .env_remove("ZOOM_HOST_USER")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("ZOOM_HOST_USER is required"));

    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["serve", "--secrets-file", "/nonexistent/secrets.json"])
        .env("ZOOM_HOST_USER", "bot@example.com")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/secrets.json could not be read"),
        "{stderr}"
    );
}

#[test]
fn sign_prints_the_header_pagerduty_would_send() {
    let file =
        workspace_root().join("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["sign", "--secrets-file"])
        .arg(workspace_root().join("examples/secrets.local.json"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = sign(&std::fs::read(&file).unwrap(), EXAMPLE_WEBHOOK_SECRET);
    assert_eq!(String::from_utf8(output.stdout).unwrap().trim(), expected);
}

/// The runner takes the two secrets of a split deployment as two files: the ingress's side
/// verifies with the one, the worker's side calls the APIs with the other.
#[tokio::test(flavor = "multi_thread")]
async fn two_secret_files_serve_as_a_split_deployment() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    let dir = TempDir(
        std::env::temp_dir().join(format!("bridge-relay-local-split-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let ingress = dir.0.join("ingress.json");
    std::fs::write(&ingress, ingress_secret_document(&["local-secret-one"])).unwrap();
    let worker = dir.0.join("worker.json");
    std::fs::write(&worker, worker_secret_document()).unwrap();
    let (ingress, worker) = (ingress.to_str().unwrap(), worker.to_str().unwrap());

    // Swapped, the start fails naming what is missing where.
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["serve", "--ingress-secrets-file", worker])
        .args(["--worker-secrets-file", ingress])
        // It stops before listening; port 0 could not collide if it got that far.
        .args(["--listen", "127.0.0.1:0"])
        .envs(apis.env())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "has no zoom.account_id, zoom.client_id and zoom.client_secret, which the worker needs"
        ),
        "{stderr}"
    );

    let (process, port) =
        Process::spawn_listening("bridge-relay-split", Duration::from_secs(10), |port| {
            let mut command = Command::new(workspace_binary("bridge-relay"));
            command
                .args(["serve", "--ingress-secrets-file", ingress])
                .args(["--worker-secrets-file", worker])
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .envs(apis.env());
            command
        });
    let url = format!("http://127.0.0.1:{port}");
    let mut envelope = pagerduty_webhook(
        "tests/fixtures/pagerduty-webhooks/official-developer-docs/envelope_incident_priority_updated.json",
    );
    envelope["event"]["event_type"] = json!("incident.triggered");
    envelope["event"]["data"]["conference_bridge"] = Value::Null;
    let body = envelope.to_string();
    let (status, reply) = post(
        &url,
        body.as_bytes(),
        Some(sign(body.as_bytes(), "local-secret-one")),
    )
    .await;
    assert_eq!(status, 202, "{reply}");
    let requests = eventually(Duration::from_secs(20), || async {
        let requests = ApiStandIns::requests(&apis.pagerduty_upstream).await;
        (requests.len() >= 2).then_some(requests)
    })
    .await
    .unwrap_or_else(|| panic!("no bridge posted; runner said:\n{}", process.output()));
    assert_eq!(requests[0].url.path(), "/incidents/PGR0VU2");
    let output = process.output();
    for line in [
        format!("source=\"{ingress}\" role=\"ingress\" keys=pagerduty.webhook_secrets (1)"),
        format!(
            "source=\"{worker}\" role=\"worker\" keys=zoom app credentials, pagerduty.api_token and from_email"
        ),
    ] {
        assert!(output.contains(&line), "{line} missing from:\n{output}");
    }
    assert!(!output.contains("also holds API credentials"), "{output}");
}

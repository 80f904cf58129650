//! `bridge-relay demo` is the README's first command and a test of the whole relay: it must
//! play both tools' incidents to a passing verdict, print the timeline a responder sees, pick
//! another port when its own is taken, and stop everything on Ctrl-C. And `serve` with the
//! example secrets says they are placeholders, and explains a refusal once, not per job.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bridge_relay_sandbox::Sandbox;
use bridge_relay_tests::*;
use serde_json::json;

/// Runs the demo with `args` on a free port; its exit, stdout and stderr.
fn demo(args: &[&str]) -> (bool, String, String, u32) {
    let child = Command::new(workspace_binary("bridge-relay"))
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        pid,
    )
}

/// Fails unless each of `markers` appears in `text`, in this order.
fn assert_in_order(text: &str, markers: &[&str]) {
    let mut rest = text;
    for marker in markers {
        match rest.find(marker) {
            Some(at) => rest = &rest[at + marker.len()..],
            None => panic!("{marker:?} missing (or out of order) in:\n{text}"),
        }
    }
}

fn demo_dir(pid: u32) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("bridge-relay-demo-{pid}"))
}

#[test]
fn the_demo_plays_a_pagerduty_incident_through_its_life() {
    let (passed, stdout, stderr, pid) = demo(&["--listen", "127.0.0.1:0"]);
    assert!(passed, "{stdout}\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            "1. PagerDuty opens incident #1 \"Checkout API returns 5xx after the 4.2 deploy\"",
            "incident.triggered -> relay: 202",
            "bridge  https://sandbox.zoom.example/j/85000000001?pwd=",
            "one-touch dial-in +1 669-900-6833,,85000000001#,,,,*",
            "note    Zoom bridge opened for this incident (bridge-relay).",
            "Zoom    host controls (alternative hosts): earline@sandbox.example",
            "2. Earline Greenholt joins the Zoom meeting",
            "meeting.participant_joined -> relay: 202",
            "Earline Greenholt joined the Zoom meeting 850 0000 0001",
            "3 s after the bridge, the relay checks who of the paged responders is on the call",
            "note    Roll call of the Zoom meeting 850 0000 0001, 3 s after the bridge:",
            "On the call: Earline Greenholt.",
            "3. PagerDuty retitles the incident \"Checkout API 5xx: 4.2 deploy rolled back, errors dropping\" and reassigns it to Grace Hopper",
            "incident.reassigned -> relay: 202",
            "the meeting's topic is now \"[#1] Checkout API 5xx: 4.2 deploy rolled back, errors dropping\"",
            "Zoom    host controls (alternative hosts): earline@sandbox.example, grace@sandbox.example",
            "4. PagerDuty resolves the incident",
            "incident.resolved -> relay: 202",
            "bridge-relay ends the Zoom meeting 850 0000 0001 in 2 s",
            "Incident resolved: bridge-relay ended the Zoom meeting 850 0000 0001.",
            "On the call (1): Earline Greenholt.",
            // Zoom dates a join to the second: one in the bridge's own second is 0 s after it.
            "The first person joined 0 s after the bridge; the first paged responder 0 s after it.",
            "5. Zoom's AI Companion finishes the meeting summary",
            "Zoom meeting summary of meeting 850 0000 0001",
            "demo passed: PagerDuty incident #1 got one Zoom meeting and one bridge",
        ],
    );
    // The README shows step 3 as the demo prints it.
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let excerpt = readme
        .split("<!-- demo-excerpt -->")
        .nth(1)
        .and_then(|rest| rest.split("<!-- /demo-excerpt -->").next())
        .expect("README has the demo excerpt");
    let shown: Vec<&str> = excerpt
        .lines()
        .filter(|line| !line.starts_with("```") && !line.trim().is_empty())
        .collect();
    assert_eq!(shown.len(), 4, "{excerpt}");
    assert_in_order(&stdout, &shown);
    assert!(!stdout.contains("zak="), "the host's link shown:\n{stdout}");
    assert!(
        !demo_dir(pid).exists(),
        "a passing demo leaves its files behind"
    );
}

#[test]
fn the_demo_plays_an_incident_io_incident_through_its_life() {
    let (passed, stdout, stderr, _) = demo(&["--tool", "incident-io", "--listen", "127.0.0.1:0"]);
    assert!(passed, "{stdout}\n{stderr}");
    assert_in_order(
        &stdout,
        &[
            "1. incident.io opens incident INC-1",
            "public_incident.incident_created_v2 -> relay: 202",
            "bridge  https://sandbox.zoom.example/j/",
            "note    Zoom bridge opened for this incident (bridge-relay).",
            "joined the Zoom meeting",
            "Roll call of the Zoom meeting",
            "On the call: Earline Greenholt.",
            "3. incident.io retitles the incident",
            "public_incident.incident_updated_v2 -> relay: 202",
            "the meeting's topic is now \"[#1] Checkout API 5xx: 4.2 deploy rolled back, errors dropping\"",
            "Zoom    host controls (alternative hosts): earline@sandbox.example, grace@sandbox.example",
            "public_incident.incident_status_updated_v2 -> relay: 202",
            "Incident resolved: bridge-relay ended the Zoom meeting",
            "Zoom meeting summary of meeting",
            "demo passed: incident.io incident INC-1 got one Zoom meeting and one bridge",
        ],
    );
}

#[test]
fn the_demo_picks_another_port_when_its_own_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (passed, stdout, stderr, _) = demo(&["--listen", &address]);
    assert!(passed, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("({address} is in use, so another port)")),
        "{stdout}"
    );
}

/// The URL after `label` on the demo's header lines.
fn url_after(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|url| url.trim_end_matches(',').to_owned())
        .unwrap_or_else(|| panic!("no {label} in:\n{stdout}"))
}

fn answers(url: &str) -> bool {
    let address = url.trim_start_matches("http://");
    std::net::TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_millis(200))
        .is_ok()
}

#[test]
fn interrupted_the_kept_demo_stops_everything_it_started() {
    let mut child = Command::new(workspace_binary("bridge-relay"))
        .args(["demo", "--keep", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stdout.contains("keep running until Ctrl-C") {
        assert!(Instant::now() < deadline, "no --keep message:\n{stdout}");
        match lines.next() {
            Some(Ok(line)) => stdout += &(line + "\n"),
            _ => panic!("the demo ended early:\n{stdout}"),
        }
    }
    let relay = url_after(&stdout, "relay ");
    let sandbox = url_after(&stdout, "sandboxes ");
    assert!(answers(&relay) && answers(&sandbox), "{stdout}");
    let sent = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(!answers(&relay), "the relay still answers on {relay}");
    assert!(!answers(&sandbox), "the sandbox still answers on {sandbox}");
    assert!(!demo_dir(pid).exists(), "files left in {:?}", demo_dir(pid));
}

/// The example file's PagerDuty signing secret.
const EXAMPLE_WEBHOOK_SECRET: &str = "local-webhook-secret-change-me";

async fn send_webhook(base: &str, incident: &str) -> u16 {
    let mut body =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    body["event"]["id"] = json!(format!("placeholder-{incident}"));
    body["event"]["data"]["id"] = json!(incident);
    let body = serde_json::to_vec(&body).unwrap();
    bridge_relay::http::client()
        .post(format!("{base}/webhook"))
        .header("x-pagerduty-signature", sign(&body, EXAMPLE_WEBHOOK_SECRET))
        .header("x-webhook-id", format!("placeholder-{incident}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_with_the_example_secrets_says_so_and_explains_the_refusal_once() {
    // Zoom and PagerDuty stand-ins that refuse the example's placeholder credentials, as the
    // real services would.
    let sandbox = Sandbox::start(bridge_relay::http::client()).await.unwrap();
    let secrets = workspace_root().join("examples/secrets.local.json");
    let (runner, port) = Process::spawn_listening(
        "bridge-relay-placeholders",
        Duration::from_secs(10),
        |port| {
            let mut command = serve_command(&secrets, port);
            command
                .env("ZOOM_HOST_USER", sandbox.credentials().host_user)
                .env("ZOOM_API_BASE", sandbox.zoom_api_base())
                .env("ZOOM_OAUTH_BASE", sandbox.zoom_oauth_base())
                .env("PAGERDUTY_API_BASE", sandbox.pagerduty_api_base());
            command
        },
    );
    let start = runner.output();
    assert!(
        start.contains("the worker's credentials are the example placeholders (zoom.account_id, zoom.client_id, zoom.client_secret, pagerduty.api_token)"),
        "{start}"
    );
    assert!(start.contains("`bridge-relay demo`"), "{start}");

    let base = format!("http://127.0.0.1:{port}");
    for incident in ["PPLACE1", "PPLACE2"] {
        assert_eq!(send_webhook(&base, incident).await, 202);
    }
    let both_failed = eventually(Duration::from_secs(30), || async {
        let output = runner.output();
        ["PPLACE1", "PPLACE2"]
            .iter()
            .all(|i| output.contains(&format!("incident {i}: no bridge, dead-lettered")))
            .then_some(output)
    })
    .await;
    let output = both_failed.unwrap_or_else(|| panic!("jobs not given up:\n{}", runner.output()));
    let explained = output
        .matches("Zoom refused the worker's Server-to-Server OAuth credentials")
        .count();
    assert_eq!(explained, 1, "{output}");
}

//! The fast tier: the use case end to end on the in-memory adapters and wiremock, put together by
//! the same composition the local runner uses (`compose::local_relay`), with no moto, Prism or
//! Python. `cargo test -p bridge-relay` checks a change to the core in seconds; `scripts/test`
//! runs everything against the real stand-ins.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bridge_relay::config::Env;
use bridge_relay::pagerduty::signature;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::WebhookRequest;
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const HOST: &str = "zoom-host@example.com";
const MEETING_ID: u64 = 85_012_345_678;

fn workspace_file(relative: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// One server plays Zoom's OAuth, Zoom's API and PagerDuty's API under three prefixes.
async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "fast-tier-token", "expires_in": 3599})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/zoom/users/{HOST}/meetings")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": MEETING_ID,
            "join_url": format!("https://us06web.zoom.us/j/{MEETING_ID}?pwd=abc"),
            "start_url": "https://us06web.zoom.us/s/never-leaves-the-worker",
            "password": "48151623",
            "h323_password": "48151623",
            "settings": {"global_dial_in_numbers": [
                {"country": "US", "city": "San Jose", "number": "+1 6699006833", "type": "toll"}
            ]}
        })))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path_regex(r"^/pd/incidents/[^/]+$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"incident": {}})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/pd/incidents/[^/]+/notes$"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"note": {"id": "N1"}})))
        .mount(&server)
        .await;
    server
}

fn count(requests: &[wiremock::Request], verb: &str, suffix: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method.as_str() == verb && r.url.path().ends_with(suffix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivered_three_times_makes_one_meeting_one_bridge_and_one_note() {
    let server = upstream().await;
    let base = server.uri();
    let variables = [
        ("ZOOM_HOST_USER", HOST.to_owned()),
        ("ZOOM_API_BASE", format!("{base}/zoom")),
        ("ZOOM_OAUTH_BASE", base.clone()),
        ("PAGERDUTY_API_BASE", format!("{base}/pd")),
    ];
    let config = Env(|name: &str| {
        variables
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .local()
    .unwrap();
    let secret_file = workspace_file("examples/secrets.local.json");
    let secrets = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(secret_file.to_str().unwrap())),
        Duration::from_secs(300),
    ));
    let relay = bridge_relay::compose::local_relay(
        config,
        secrets.clone(),
        secrets,
        bridge_relay::http::client(),
    );
    let running = tokio::spawn(bridge_relay::local::run_local_worker(
        relay.worker,
        relay.dead_letters.clone(),
        relay.jobs,
        Duration::from_millis(50),
    ));

    let mut incident: Value = serde_json::from_slice(
        &std::fs::read(workspace_file(
            "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
        ))
        .unwrap(),
    )
    .unwrap();
    // Dated now, as PagerDuty would send it: the relay ignores events past its retry window.
    incident["event"]["occurred_at"] =
        json!(humantime::format_rfc3339(SystemTime::now()).to_string());
    let body = serde_json::to_vec(&incident).unwrap();
    let incident_id = incident["event"]["data"]["id"].as_str().unwrap().to_owned();
    let secret = SecretString::from("local-webhook-secret-change-me");
    let signed = signature::sign(&body, &secret);
    // A redelivery (same id, dropped as SQS FIFO drops it) and a later copy under a new id
    // (which meets the incident's record).
    for webhook_id in ["fast-1", "fast-1", "fast-2"] {
        let response = relay
            .ingress
            .handle(WebhookRequest {
                signature: Some(&signed),
                webhook_id: Some(webhook_id),
                body: &body,
            })
            .await;
        assert_eq!(response.status, 202, "{}", response.body);
    }

    let started = Instant::now();
    loop {
        let requests = server.received_requests().await.unwrap_or_default();
        if count(&requests, "POST", "/notes") >= 1 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the later copy run too, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(count(&requests, "POST", "/meetings"), 1, "one meeting");
    assert_eq!(
        count(&requests, "PUT", &format!("/incidents/{incident_id}")),
        1,
        "one bridge"
    );
    assert_eq!(count(&requests, "POST", "/notes"), 1, "one note");
    assert_eq!(count(&requests, "POST", "/oauth/token"), 1, "one token");
    let bridge = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .unwrap();
    assert!(
        bridge.contains(&format!("{MEETING_ID}?pwd=abc")),
        "{bridge}"
    );
    assert!(
        !bridge.contains("never-leaves-the-worker"),
        "the host link stays in the worker"
    );
    assert!(relay.dead_letters.jobs().is_empty());
    running.abort();
}

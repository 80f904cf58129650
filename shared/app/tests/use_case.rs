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
    // The assignee is a licensed Zoom user: after the bridge, the meeting gets them as host.
    Mock::given(method("GET"))
        .and(path_regex(r"^/pd/users/[^/]+$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"user": {"id": "PJ0LVEB", "email": "pig@example.com"}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/zoom/users/pig@example.com"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "z1", "email": "pig@example.com", "type": 2, "status": "active"}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/zoom/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(204))
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

/// The local runner's relay against `server`, with `extra` settings; its worker running.
fn relay_on(
    server: &MockServer,
    extra: &[(&str, &str)],
) -> (
    bridge_relay::compose::LocalRelay,
    tokio::task::JoinHandle<()>,
) {
    let base = server.uri();
    let mut variables = vec![
        ("ZOOM_HOST_USER".to_owned(), HOST.to_owned()),
        ("ZOOM_API_BASE".to_owned(), format!("{base}/zoom")),
        ("ZOOM_OAUTH_BASE".to_owned(), base.clone()),
        ("PAGERDUTY_API_BASE".to_owned(), format!("{base}/pd")),
    ];
    variables.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Env(|name: &str| {
        variables
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .local()
    .unwrap();
    let secret_file = workspace_file("examples/secrets.local.json");
    let secrets = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(secret_file.to_str().unwrap())),
        Duration::from_secs(300),
    ));
    let mut relay = bridge_relay::compose::local_relay(
        config,
        secrets.clone(),
        secrets,
        bridge_relay::http::client(),
    );
    let (_, jobs) = tokio::sync::mpsc::unbounded_channel();
    let jobs = std::mem::replace(&mut relay.jobs, jobs);
    let running = tokio::spawn(bridge_relay::local::run_local_worker(
        relay.worker.clone(),
        relay.dead_letters.clone(),
        jobs,
        Duration::from_millis(50),
    ));
    (relay, running)
}

/// The captured triggered webhook as `event_type`, dated now (the relay ignores events past
/// PagerDuty's retry window), with `change` applied to its incident.
fn webhook(event_type: &str, event_id: &str, change: impl FnOnce(&mut Value)) -> Value {
    let mut incident: Value = serde_json::from_slice(
        &std::fs::read(workspace_file(
            "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
        ))
        .unwrap(),
    )
    .unwrap();
    incident["event"]["occurred_at"] =
        json!(humantime::format_rfc3339(SystemTime::now()).to_string());
    incident["event"]["event_type"] = json!(event_type);
    incident["event"]["id"] = json!(event_id);
    change(&mut incident["event"]["data"]);
    incident
}

async fn deliver(relay: &bridge_relay::compose::LocalRelay, incident: &Value, webhook_id: &str) {
    let body = serde_json::to_vec(incident).unwrap();
    let signed = signature::sign(&body, &SecretString::from("local-webhook-secret-change-me"));
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

/// Waits until `server` got `n` requests of `verb` to a path ending in `suffix`.
async fn until_requests(server: &MockServer, verb: &str, suffix: &str, n: usize) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let requests = server.received_requests().await.unwrap_or_default();
        if count(&requests, verb, suffix) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} {verb} …{suffix}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivered_three_times_makes_one_meeting_one_bridge_and_one_note() {
    let server = upstream().await;
    let (relay, running) = relay_on(&server, &[]);
    let incident = webhook("incident.triggered", "fast-1", |_| {});
    let incident_id = incident["event"]["data"]["id"].as_str().unwrap().to_owned();
    // A redelivery (same id, dropped as SQS FIFO drops it) and a later copy under a new id
    // (which meets the incident's record).
    for webhook_id in ["fast-1", "fast-1", "fast-2"] {
        deliver(&relay, &incident, webhook_id).await;
    }
    until_requests(&server, "POST", "/notes", 1).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_give_way_to_creates_when_the_hosts_day_runs_low() {
    let server = upstream().await;
    Mock::given(method("PATCH"))
        .and(path(format!("/zoom/meetings/{MEETING_ID}")))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    // 13 a day, 10 of them kept from updates: the bridge's create, the assignee's host
    // controls and one update fit.
    let (relay, running) = relay_on(&server, &[("ZOOM_HOST_DAILY_CREATES", "13")]);
    deliver(
        &relay,
        &webhook("incident.triggered", "day-1", |_| {}),
        "day-1",
    )
    .await;
    until_requests(&server, "POST", "/notes", 1).await;
    // One retitle after the other (two queued together would be sent as one update).
    for n in 2..=3 {
        let retitled = webhook("incident.reassigned", &format!("day-{n}"), |data| {
            data["title"] = json!(format!("Retitled {n}"));
        });
        deliver(&relay, &retitled, &format!("day-{n}")).await;
        until_requests(&server, "PATCH", &format!("/meetings/{MEETING_ID}"), 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let requests = server.received_requests().await.unwrap_or_default();
    let patches: Vec<Value> = requests
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    assert_eq!(
        patches[0]["settings"]["alternative_hosts"],
        "pig@example.com"
    );
    assert_eq!(patches[1]["topic"], "[#9] Retitled 2");
    assert!(relay.dead_letters.jobs().is_empty());
    running.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_changes_sends_fewer_updates_and_the_last_title() {
    let server = upstream().await;
    // Zoom takes its time with each update, so the burst queues behind the one at work.
    Mock::given(method("PATCH"))
        .and(path(format!("/zoom/meetings/{MEETING_ID}")))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(400)))
        .with_priority(1)
        .mount(&server)
        .await;
    let (relay, running) = relay_on(&server, &[]);
    deliver(
        &relay,
        &webhook("incident.triggered", "burst-0", |_| {}),
        "burst-0",
    )
    .await;
    until_requests(&server, "POST", "/notes", 1).await;
    for n in 1..=5 {
        let retitled = webhook("incident.reassigned", &format!("burst-{n}"), |data| {
            data["title"] = json!(format!("Retitled {n}"));
        });
        deliver(&relay, &retitled, &format!("burst-{n}")).await;
    }
    let topics = || async {
        server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "PATCH")
            .filter_map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["topic"].as_str().map(str::to_owned)
            })
            .collect::<Vec<_>>()
    };
    let started = Instant::now();
    while !topics().await.contains(&"[#9] Retitled 5".to_owned()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            topics().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    let sent = topics().await;
    // Five changes: the first may be at work when the rest arrive; those go as one.
    assert!(sent.len() <= 2, "{sent:?}");
    assert_eq!(sent.last().map(String::as_str), Some("[#9] Retitled 5"));
    assert!(relay.dead_letters.jobs().is_empty());
    running.abort();
}

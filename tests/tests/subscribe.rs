//! `bridge-relay subscribe` against a Prism proxy of the official PagerDuty spec in front of a
//! recording wiremock server: a service without a subscription to the relay gets one (and its
//! signing secret is printed once), a team that has one gets it updated, and every request the
//! command sends is one the spec allows.

use std::process::Command;

use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const RELAY_URL: &str = "https://abc123.lambda-url.us-east-1.on.aws/webhook";
const NEW_SECRET: &str = "wGZRLcr4MnqS2jOZCKvZHmzuCBUzCcPXl7VNHTSCyhaO0IH1pGKV5c1LgV6kS8eH";

fn listed(subscriptions: Vec<Value>) -> Value {
    json!({"webhook_subscriptions": subscriptions, "limit": 100, "offset": 0, "more": false, "total": null})
}

fn subscription(id: &str, url: &str, filter: Value, secret: Option<&str>) -> Value {
    // The spec's example subscription (the create answer refers to it).
    let spec = read_json("tests/fixtures/openapi/pagerduty-rest.json");
    let mut example =
        spec["components"]["examples"]["GetSubscriptionExample"]["value"]["webhook_subscription"]
            .clone();
    assert!(example.is_object(), "the spec has the example");
    example["id"] = json!(id);
    example["delivery_method"]["url"] = json!(url);
    example["delivery_method"]["secret"] = json!(secret);
    example["filter"] = filter;
    example
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribe_creates_or_updates_one_subscription_per_scope_and_prints_new_secrets_once() {
    let upstream = MockServer::start().await;
    // Service PSVC001 has a subscription, but to another URL: a new one is created.
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(query_param("filter_type", "service"))
        .and(query_param("filter_id", "PSVC001"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(listed(vec![subscription(
                "PSOMEONE",
                "https://example.com/receive_a_pagerduty_webhook",
                json!({"type": "service_reference", "id": "PSVC001"}),
                None,
            )])),
        )
        .mount(&upstream)
        .await;
    // Team PTEAM01 already sends to the relay: it is updated in place.
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(query_param("filter_type", "team"))
        .and(query_param("filter_id", "PTEAM01"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(listed(vec![subscription(
                "PEXISTS",
                RELAY_URL,
                json!({"type": "team_reference", "id": "PTEAM01"}),
                None,
            )])),
        )
        .mount(&upstream)
        .await;
    Mock::given(method("POST"))
        .and(path("/webhook_subscriptions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "webhook_subscription": subscription(
                "PNEWSUB",
                RELAY_URL,
                json!({"type": "service_reference", "id": "PSVC001"}),
                Some(NEW_SECRET),
            )
        })))
        .mount(&upstream)
        .await;
    Mock::given(method("PUT"))
        .and(path("/webhook_subscriptions/PEXISTS"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "webhook_subscription": subscription(
                "PEXISTS",
                RELAY_URL,
                json!({"type": "team_reference", "id": "PTEAM01"}),
                None,
            )
        })))
        .mount(&upstream)
        .await;
    let prism = PrismProxy::start("pagerduty-rest.json", &upstream.uri());

    let output = Command::new(workspace_binary("bridge-relay"))
        .args([
            "subscribe",
            "--url",
            RELAY_URL,
            "--service",
            "PSVC001",
            "--team",
            "PTEAM01",
        ])
        .args(["--events", "incident.triggered,incident.priority_updated"])
        .env("PAGERDUTY_API_BASE", &prism.url)
        .env("PAGERDUTY_API_TOKEN", PD_API_TOKEN)
        .env_remove("POLICY")
        .env_remove("POLICY_FILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}\nprism:\n{}",
        prism.output()
    );
    assert_eq!(
        stdout.matches(NEW_SECRET).count(),
        1,
        "the new secret is printed once:\n{stdout}"
    );
    assert!(stdout.contains(
        "created subscription PNEWSUB for service PSVC001: events incident.triggered, incident.priority_updated\n  signing secret (shown once): "
    ), "{stdout}");
    assert!(
        stdout.contains("updated subscription PEXISTS for team PTEAM01"),
        "{stdout}"
    );
    assert!(stdout.contains("pagerduty.webhook_secrets"), "{stdout}");
    assert!(!stderr.contains(PD_API_TOKEN) && !stdout.contains(PD_API_TOKEN));

    let requests = upstream.received_requests().await.unwrap();
    let calls: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r.method.to_string(), r.url.path().to_owned()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".into(), "/webhook_subscriptions".into()),
            ("POST".into(), "/webhook_subscriptions".into()),
            ("GET".into(), "/webhook_subscriptions".into()),
            ("PUT".into(), "/webhook_subscriptions/PEXISTS".into()),
        ]
    );
    for request in &requests {
        assert_eq!(
            request.headers.get("authorization").unwrap(),
            "Token token=pd-api-token-e2e"
        );
    }
    let created: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(
        created,
        json!({"webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {"type": "http_delivery_method", "url": RELAY_URL},
            "description": "bridge-relay: a Zoom bridge for each incident",
            "events": ["incident.triggered", "incident.priority_updated"],
            "filter": {"type": "service_reference", "id": "PSVC001"}
        }})
    );
    let updated: Value = serde_json::from_slice(&requests[3].body).unwrap();
    assert_eq!(
        updated,
        json!({"webhook_subscription": {
            "description": "bridge-relay: a Zoom bridge for each incident",
            "events": ["incident.triggered", "incident.priority_updated"],
            "filter": {"type": "team_reference", "id": "PTEAM01"},
            "active": true
        }})
    );
}

#[test]
fn subscribe_says_what_is_missing() {
    let run = |args: &[&str]| {
        let output = Command::new(workspace_binary("bridge-relay"))
            .arg("subscribe")
            .args(args)
            .env_remove("PAGERDUTY_API_TOKEN")
            .env_remove("POLICY")
            .env_remove("POLICY_FILE")
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    assert!(run(&[]).contains("subscribe needs --url"));
    assert!(run(&["--url", RELAY_URL]).contains("PAGERDUTY_API_TOKEN"));
    assert!(run(&["--url", RELAY_URL, "--events", "service.updated"]).contains("--events"));
}

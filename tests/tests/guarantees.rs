//! The relay's promises one at a time: its own bridge update creates nothing, a bridge a person
//! set is kept, a job that cannot succeed is dead-lettered at once with a note, a job that keeps
//! failing gets its note on the last delivery and lands in the dead-letter queue, and a redrive
//! after the fix turns it into a bridge.

use std::process::Command;
use std::time::Duration;

use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::{Ingress, WebhookRequest};
use bridge_relay_tests::faulty::{FaultyApis, UNKNOWN_USER};
use bridge_relay_tests::*;
use serde_json::{Value, json};

const SECRET: &str = "guarantees-webhook-secret";
const INCIDENT: &str = "PFQZPSY";

struct Relay {
    aws: AwsStandIns,
    apis: FaultyApis,
    ingress: Ingress,
}

impl Relay {
    async fn start(policy: &str) -> Relay {
        let aws = AwsStandIns::start_with_visibility(&[SECRET], 1).await;
        let apis = FaultyApis::start(11, 0.0, Duration::ZERO, PD_API_TOKEN).await;
        let ingress = aws.ingress(BridgePolicy::from_event_list(policy).unwrap());
        Relay { aws, apis, ingress }
    }

    async fn send(&self, envelope: &Value, webhook_id: &str) -> (u16, Value) {
        let body = envelope.to_string();
        let signature = sign(body.as_bytes(), SECRET);
        let response = self
            .ingress
            .handle(WebhookRequest {
                signature: Some(&signature),
                webhook_id: Some(webhook_id),
                body: body.as_bytes(),
            })
            .await;
        (response.status, response.body)
    }

    async fn drain(&self, deployment: Deployment, env: Vec<(&'static str, String)>) {
        let (worker, _) = self.aws.worker(&env, deployment);
        tokio::time::timeout(
            Duration::from_secs(60),
            self.aws.run_event_source(worker, Duration::from_secs(20)),
        )
        .await
        .expect("the queue drains");
    }
}

fn fixture(name: &str) -> Value {
    pagerduty_webhook(&format!(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/{name}"
    ))
}

fn quick(deployment: Deployment) -> Deployment {
    deployment.retries(20, 100, 3)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_relays_own_bridge_update_and_later_events_create_nothing() {
    let relay = Relay::start("incident.triggered,incident.priority_updated").await;
    assert_eq!(
        relay.send(&fixture("triggered_v3.json"), "w-1").await.0,
        202
    );
    relay
        .drain(quick(Deployment::new()), relay.apis.env())
        .await;
    assert_eq!(relay.apis.state().meetings_by_incident[INCIDENT].len(), 1);

    // PagerDuty then reports the relay's own PUT back.
    let mut echo = fixture("conference_bridge_updated_v3.json");
    echo["event"]["data"]["incident"]["id"] = json!(INCIDENT);
    let (status, body) = relay.send(&echo, "w-2").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(relay.aws.in_queue(&relay.aws.queue_url).await, 0);

    // A later event the policy bridges finds the work done.
    let mut priority = fixture("triggered_v3.json");
    priority["event"]["event_type"] = json!("incident.priority_updated");
    assert_eq!(relay.send(&priority, "w-3").await.0, 202);
    relay
        .drain(quick(Deployment::new()), relay.apis.env())
        .await;
    let state = relay.apis.state();
    assert_eq!(
        state.meetings_by_incident[INCIDENT].len(),
        1,
        "no second meeting"
    );
    assert_eq!(state.bridges[INCIDENT].len(), 1, "no second bridge update");
    assert_eq!(state.notes[INCIDENT].len(), 1, "no second note");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_a_person_set_is_kept_unless_overwriting_is_configured() {
    let relay = Relay::start("incident.triggered").await;
    let mut with_bridge = fixture("triggered_v3.json");
    with_bridge["event"]["data"]["conference_bridge"] =
        json!({"conference_url": "https://meet.example.com/war-room", "conference_number": null});
    assert_eq!(relay.send(&with_bridge, "w-1").await.0, 202);
    relay
        .drain(quick(Deployment::new()), relay.apis.env())
        .await;
    assert!(relay.apis.state().meetings_by_incident.is_empty());
    assert!(relay.apis.state().bridges.is_empty());

    with_bridge["event"]["data"]["id"] = json!("POVERWRITE");
    assert_eq!(relay.send(&with_bridge, "w-2").await.0, 202);
    let overwrite = Deployment::new().set("OVERWRITE_EXISTING_BRIDGE", true);
    relay.drain(quick(overwrite), relay.apis.env()).await;
    assert_eq!(relay.apis.state().bridges["POVERWRITE"].len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_cannot_succeed_is_dead_lettered_at_once_with_a_note() {
    let relay = Relay::start("incident.triggered").await;
    assert_eq!(
        relay.send(&fixture("triggered_v3.json"), "w-1").await.0,
        202
    );
    let env = relay.apis.env();
    let unknown_host = Deployment::new().set("ZOOM_HOST_USER", UNKNOWN_USER);
    let (worker, _) = relay.aws.worker(&env, quick(unknown_host));
    relay
        .aws
        .run_event_source(worker, Duration::from_secs(20))
        .await;
    assert_eq!(
        relay.apis.state().calls,
        3,
        "token, one create, one note: no retries of a 404"
    );
    let notes = relay.apis.state().notes[INCIDENT].clone();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("Zoom does not know the host user: check ZOOM_HOST_USER"),
        "{}",
        notes[0]
    );
    let dead = relay.aws.drain(&relay.aws.dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1);
    let job: Value = serde_json::from_str(&dead[0]).unwrap();
    assert_eq!(job["incident"]["id"], INCIDENT);
    assert!(
        job["failure"].as_str().unwrap().contains("HTTP 404"),
        "{job}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_failing_every_delivery_gets_a_note_lands_in_the_dlq_and_redrives() {
    let relay = Relay::start("incident.triggered").await;
    assert_eq!(
        relay.send(&fixture("triggered_v3.json"), "w-1").await.0,
        202
    );
    {
        let mut state = relay.apis.state();
        state.fault_rate = 1.0;
        state.faults_on_zoom_only = true;
    }
    let (worker, _) = relay.aws.worker_with_client(
        &relay.apis.env(),
        quick(Deployment::new()),
        bridge_relay::http::client_with_timeout(Duration::from_millis(300)),
    );
    tokio::time::timeout(
        Duration::from_secs(60),
        relay.aws.run_event_source(worker, Duration::from_secs(20)),
    )
    .await
    .expect("the job leaves the queue");
    {
        let state = relay.apis.state();
        assert!(state.meetings_by_incident.len() <= 1);
        let notes = &state.notes[INCIDENT];
        assert_eq!(notes.len(), 1, "one note, on the last delivery: {notes:?}");
        assert!(notes[0].starts_with("bridge-relay could not open a Zoom bridge"));
    }
    assert_eq!(
        relay.aws.in_queue(&relay.aws.dead_letter_queue_url).await,
        1
    );

    // The cause is fixed; the operator replays the dead-letter queue.
    relay.apis.state().fault_rate = 0.0;
    let output = Command::new(workspace_binary("bridge-relay"))
        .args([
            "redrive",
            "--from",
            &relay.aws.dead_letter_queue_url,
            "--to",
            &relay.aws.queue_url,
        ])
        .env("AWS_ENDPOINT_URL", &relay.aws.moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("requeued incident PFQZPSY (incident.triggered)"),
        "{stdout}"
    );
    assert_eq!(
        relay.aws.in_queue(&relay.aws.dead_letter_queue_url).await,
        0
    );

    relay
        .drain(quick(Deployment::new()), relay.apis.env())
        .await;
    let state = relay.apis.state();
    assert_eq!(
        state.meetings_by_incident[INCIDENT].len(),
        1,
        "one meeting in the end"
    );
    assert_eq!(state.bridges[INCIDENT].len(), 1);
}

/// A redrive goes past a message that is not a job (left in the dead-letter queue and
/// reported) and moves the jobs after it; a redrive of a queue into itself is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_redrive_skips_a_message_that_is_not_a_job_and_refuses_one_queue_for_both() {
    let aws = AwsStandIns::start(&[SECRET]).await;
    let sqs = aws_sdk_sqs::Client::new(&aws.config);
    let dlq = &aws.dead_letter_queue_url;
    let job = json!({
        "webhook_id": "w-dead", "event_id": "e-dead", "event_type": "incident.triggered",
        "incident": {"id": "PDEAD1"}, "failure": "Zoom kept failing"
    });
    for (group, body) in [
        ("g-bad", "{not a job".to_owned()),
        ("PDEAD1", job.to_string()),
    ] {
        sqs.send_message()
            .queue_url(dlq)
            .message_group_id(group)
            .message_deduplication_id(format!("dedup-{group}"))
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let done = bridge_relay::queue::redrive(&sqs, dlq, &aws.queue_url)
        .await
        .unwrap();
    assert_eq!(
        done.moved
            .iter()
            .map(|j| j.incident.id.as_str())
            .collect::<Vec<_>>(),
        ["PDEAD1"]
    );
    assert_eq!(done.moved[0].failure, None);
    assert_eq!(done.skipped.len(), 1, "{:?}", done.skipped);
    assert!(
        done.skipped[0].1.contains("not a bridge job"),
        "{:?}",
        done.skipped
    );
    assert_eq!(aws.drain(&aws.queue_url).await.len(), 1);

    let same = bridge_relay::queue::redrive(&sqs, dlq, dlq)
        .await
        .unwrap_err();
    assert!(
        matches!(same, bridge_relay::queue::RedriveError::SameQueue(_)),
        "{same}"
    );
    // The CLI says so before touching AWS.
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["redrive", "--from", dlq, "--to", &format!("{dlq}/")])
        .env("AWS_REGION", "us-east-1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("are the same queue"), "{stderr}");
}

/// A job that spends its in-job retries on a short Zoom outage comes back after the redelivery
/// backoff (10 s on its first receive), not the queue's visibility timeout (six minutes in the
/// template), which would also hold up the incident's other jobs. Measured: the time from the
/// end of the outage to the bridge.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_short_outage_the_bridge_follows_in_seconds_not_the_visibility_timeout() {
    let aws = AwsStandIns::start(&[SECRET]).await;
    assert_eq!(aws.visibility_seconds, 360, "the template's visibility");
    let apis = FaultyApis::start(11, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    let ingress = aws.ingress(BridgePolicy::from_event_list("incident.triggered").unwrap());
    let relay = Relay { aws, apis, ingress };
    {
        let mut state = relay.apis.state();
        state.fault_rate = 1.0;
        state.faults_on_zoom_only = true;
    }
    assert_eq!(
        relay.send(&fixture("triggered_v3.json"), "w-1").await.0,
        202
    );
    let (worker, _) = relay.aws.worker_with_client(
        &relay.apis.env(),
        quick(Deployment::new()),
        bridge_relay::http::client_with_timeout(Duration::from_millis(300)),
    );
    let outage = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        relay.apis.state().fault_rate = 0.0;
        std::time::Instant::now()
    };
    let drained = tokio::time::timeout(
        Duration::from_secs(60),
        relay.aws.run_event_source(worker, Duration::from_secs(20)),
    );
    let (outage_over, drained) = tokio::join!(outage, drained);
    drained.expect("the job is delivered again well before its visibility timeout");
    let bridged = relay.apis.state().bridged_at[INCIDENT];
    let after = bridged.saturating_duration_since(outage_over);
    println!("outage end to bridge: {:.1} s", after.as_secs_f64());
    assert!(after < Duration::from_secs(15), "{after:?}");
    assert!(
        relay
            .aws
            .drain(&relay.aws.dead_letter_queue_url)
            .await
            .is_empty()
    );
}

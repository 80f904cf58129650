//! A worker that dies mid-job (its Lambda container killed) leaves the job in flight and its
//! claim in DynamoDB. The next delivery, in a new container, waits out the claim's lease and
//! resumes from the record: the same meeting, never a second one.

use std::time::Duration;

use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::WebhookRequest;
use bridge_relay::store::{DynamoDbStore, IdempotencyStore, Stage};
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;

const SECRET: &str = "crash-webhook-secret";
const INCIDENT: &str = "PFQZPSY";

/// A claim lasts until its invocation can no longer be running: the dying invocation is given
/// a short timeout (as a function with a short `Timeout` has), so its claim lapses about 21 s
/// after it was taken, and the test need not wait the template's 70 s.
const DYING_INVOCATION: Duration = Duration::from_secs(16);

/// The queue's visibility: redeliveries that meet the dead worker's claim (busy, not failed)
/// must not use up their receives before the claim lapses.
const VISIBILITY_SECONDS: u32 = 9;

async fn stand_ins() -> (AwsStandIns, FaultyApis) {
    let aws = AwsStandIns::start_with_visibility(&[SECRET], VISIBILITY_SECONDS).await;
    let apis = FaultyApis::start(7, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    let ingress = aws.ingress(BridgePolicy::default());
    let body = pagerduty_webhook_bytes(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
    );
    let signature = sign(&body, SECRET);
    let response = ingress
        .handle(WebhookRequest {
            signature: Some(&signature),
            webhook_id: Some("crash-1"),
            body: &body,
        })
        .await;
    assert_eq!(response.status, 202);
    (aws, apis)
}

/// Runs the worker until `stage` is recorded, then kills it, as a container dies.
async fn crash_at(aws: &AwsStandIns, apis: &FaultyApis, stage: Stage) {
    let (worker, _) = aws.worker(&apis.env(), Deployment::new());
    let store = DynamoDbStore::from_sdk_config(&aws.config, &aws.table_name);
    let running = {
        let event = aws.receive_as_event().await;
        assert_eq!(event.records.len(), 1);
        let mut context = lambda_runtime::Context::default();
        context.deadline = deadline_in(DYING_INVOCATION);
        tokio::spawn(bridge_relay::lambda::handle_sqs(
            worker,
            lambda_runtime::LambdaEvent::new(event, context),
        ))
    };
    // The kill comes once the record says `stage` and Zoom has made the meeting.
    let reached = eventually(Duration::from_secs(10), || async {
        // moto can answer a read that overlaps an update with the item half-written (DynamoDB
        // applies an update atomically): such a read counts as "not there yet".
        let record = store.get(&key(INCIDENT)).await.ok()??;
        let made = apis.state().meetings_by_incident.contains_key(INCIDENT);
        (record.stage == stage && made).then_some(record)
    })
    .await;
    running.abort();
    assert!(reached.is_some(), "the worker never reached {stage:?}");
    assert_eq!(apis.state().meetings_by_incident[INCIDENT].len(), 1);
}

fn deadline_in(after: Duration) -> u64 {
    (std::time::SystemTime::now() + after)
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn assert_resumed_with_the_same_meeting(aws: &AwsStandIns, apis: &FaultyApis) {
    let (worker, _) = aws.worker(&apis.env(), Deployment::new());
    tokio::time::timeout(
        Duration::from_secs(45),
        aws.run_event_source(worker, Duration::from_secs(20)),
    )
    .await
    .expect("the redelivered job finishes");
    let meeting_id = {
        let state = apis.state();
        let meetings = &state.meetings_by_incident[INCIDENT];
        assert_eq!(meetings.len(), 1, "still exactly one meeting");
        let join_url = state.meetings[&meetings[0]]["join_url"]
            .as_str()
            .unwrap()
            .to_owned();
        let bridges = &state.bridges[INCIDENT];
        assert!(!bridges.is_empty());
        assert!(
            bridges
                .iter()
                .all(|b| b["conference_url"] == join_url.as_str())
        );
        let notes = &state.notes[INCIDENT];
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains(&join_url));
        meetings[0]
    };
    let record = DynamoDbStore::from_sdk_config(&aws.config, &aws.table_name)
        .get(&key(INCIDENT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.stage, Stage::Done);
    assert_eq!(record.meeting.unwrap().id, meeting_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_after_the_meeting_was_created_resumes_with_the_same_meeting() {
    let (aws, apis) = stand_ins().await;
    apis.state().hang_bridge_for.insert(INCIDENT.to_owned());
    crash_at(&aws, &apis, Stage::MeetingCreated).await;
    assert!(
        !apis.state().bridges.contains_key(INCIDENT),
        "no bridge yet"
    );
    assert_resumed_with_the_same_meeting(&aws, &apis).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_zoom_was_creating_finds_that_meeting_instead_of_a_second() {
    let (aws, apis) = stand_ins().await;
    // Zoom makes the meeting but the worker dies before the answer arrives.
    apis.state().hang_create_for.insert(INCIDENT.to_owned());
    crash_at(&aws, &apis, Stage::Creating).await;
    assert_resumed_with_the_same_meeting(&aws, &apis).await;
}

/// An incident key as the relay writes it.
fn key(id: &str) -> bridge_relay::model::IncidentKey {
    bridge_relay::model::IncidentKey::from_stored(id)
}

//! The relay's promise under a storm: 300 incidents, each webhook delivered 1-3 times (some
//! copies at once, some with a new webhook id as after SQS's dedup window), 20% of Zoom and
//! PagerDuty calls failing (500, 429 with a retry hint, too-late answers and dropped
//! connections after the work was done), and mid-storm the workers' shared Zoom token voided
//! (another client of the app fetched one) and the PagerDuty token rotated. After the queue
//! drains: one meeting and one bridge per incident, and every incident either bridged or
//! dead-lettered with a note.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::WebhookRequest;
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use serde_json::json;

const INCIDENTS: usize = 300;
const WORKERS: usize = 4;
const SECRET: &str = "storm-webhook-secret";
const ROTATED_PD_TOKEN: &str = "pd-api-token-rotated";

fn webhook(i: usize) -> Vec<u8> {
    let mut envelope =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    envelope["event"]["id"] = json!(format!("01STORMEVENT{i:05}"));
    envelope["event"]["data"]["id"] = json!(incident_id(i));
    envelope["event"]["data"]["number"] = json!(1000 + i);
    envelope["event"]["data"]["title"] = json!(format!("Storm incident {i}"));
    envelope.to_string().into_bytes()
}

fn incident_id(i: usize) -> String {
    format!("Q{i:05}STORM")
}

fn fast_settings() -> Deployment {
    Deployment::new().retries(50, 1500, 6).roomy_pool()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storm_one_meeting_one_bridge_nothing_lost() {
    let started = Instant::now();
    let aws = AwsStandIns::start_with_visibility(&[SECRET], 2).await;
    let apis = FaultyApis::start(0x5eed_2026, 0.2, Duration::from_millis(1200), PD_API_TOKEN).await;
    let ingress = Arc::new(aws.ingress(BridgePolicy::default()));

    // Deliveries: 1-3 copies of each webhook with its X-Webhook-Id, copies of every third
    // incident sent at once; every tenth incident also arrives under a second webhook id.
    let mut deliveries = Vec::new();
    for i in 0..INCIDENTS {
        let copies = 1 + i % 3;
        for _ in 0..copies {
            deliveries.push((i, format!("storm-webhook-{i}")));
        }
        if i % 10 == 0 {
            deliveries.push((i, format!("storm-webhook-{i}-late")));
        }
    }
    let total_deliveries = deliveries.len();
    let mut sending = tokio::task::JoinSet::new();
    for chunk in deliveries.chunks(24) {
        for (i, webhook_id) in chunk.iter().cloned() {
            let ingress = ingress.clone();
            sending.spawn(async move {
                let body = webhook(i);
                let signature = sign(&body, SECRET);
                ingress
                    .handle(WebhookRequest {
                        signature: Some(&signature),
                        webhook_id: Some(&webhook_id),
                        body: &body,
                    })
                    .await
                    .status
            });
        }
        while let Some(status) = sending.join_next().await {
            assert_eq!(status.unwrap(), 202, "every delivery is accepted");
        }
    }

    // The workers: separate "containers", each with its own token cache.
    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(800));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            aws.worker_with_client(&apis.env(), fast_settings(), http.clone())
                .0
        })
        .collect();

    // Once a third of the incidents are bridged: another client of the Zoom app fetches a token,
    // which voids the one the workers share, and the PagerDuty token is rotated.
    let rotation = async {
        loop {
            let bridged = apis.state().bridges.len();
            if bridged >= INCIDENTS / 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut document: serde_json::Value =
            serde_json::from_str(&secret_document(&[SECRET])).unwrap();
        document["pagerduty"]["api_token"] = json!(ROTATED_PD_TOKEN);
        aws.put_secret(document.to_string()).await;
        let mut state = apis.state();
        state.token_fetched_elsewhere();
        state.pagerduty_token = ROTATED_PD_TOKEN.to_owned();
    };
    let draining = futures::future::join_all(
        workers
            .iter()
            .map(|worker| aws.run_event_source(worker.clone(), Duration::from_secs(20)))
            .collect::<Vec<_>>(),
    );
    // If the workers stop before a third is bridged, the counts below fail the test; the
    // rotation must not keep it waiting forever.
    tokio::pin!(draining);
    let invocations = tokio::select! {
        invocations = &mut draining => invocations,
        () = rotation => draining.await,
    };

    // Count what reached Zoom and PagerDuty.
    let dead_letters: HashSet<String> = aws
        .drain(&aws.dead_letter_queue_url)
        .await
        .iter()
        .map(|body| {
            serde_json::from_str::<serde_json::Value>(body).unwrap()["incident"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let state = apis.state();
    let mut bridged = 0;
    let mut meetings = 0;
    let mut duplicate_notes = 0;
    for i in 0..INCIDENTS {
        let id = incident_id(i);
        let made = state
            .meetings_by_incident
            .get(&id)
            .cloned()
            .unwrap_or_default();
        assert!(
            made.len() <= 1,
            "{id}: {} meetings created: {made:?}",
            made.len()
        );
        meetings += made.len();
        let bridges: HashSet<String> = state
            .bridges
            .get(&id)
            .into_iter()
            .flatten()
            .map(|b| b["conference_url"].as_str().unwrap().to_owned())
            .collect();
        let notes = state.notes.get(&id).cloned().unwrap_or_default();
        if dead_letters.contains(&id) {
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains("could not open a Zoom bridge")),
                "{id} was dead-lettered without a note"
            );
            continue;
        }
        assert_eq!(bridges.len(), 1, "{id}: bridges {bridges:?}");
        let meeting = &state.meetings[&made[0]];
        assert_eq!(
            bridges.iter().next().unwrap(),
            meeting["join_url"].as_str().unwrap(),
            "{id}: the bridge is the incident's own meeting"
        );
        let bridge_notes = notes
            .iter()
            .filter(|n| n.starts_with("Zoom bridge opened"))
            .count();
        assert!(bridge_notes >= 1, "{id}: no note");
        duplicate_notes += bridge_notes - 1;
        bridged += 1;
    }
    let lost = INCIDENTS - bridged - dead_letters.len();
    println!(
        "storm: {INCIDENTS} incidents, {total_deliveries} webhook deliveries, {} API calls, faults {:?}, \
         {} token fetches, {} Zoom 401s ({} for the voided token) and {} PagerDuty 401s; worker invocations {invocations:?}; \
         meetings created {meetings}, bridged {bridged}, dead-lettered {}, lost {lost}, duplicate notes {duplicate_notes}; {:.1} s",
        state.calls,
        state.faults,
        state.token_fetches,
        state.unauthorized,
        state.voided_token_refusals,
        state.pagerduty_unauthorized,
        dead_letters.len(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(lost, 0);
    assert_eq!(
        duplicate_notes, 0,
        "a note whose answer was lost is not posted again"
    );
    assert!(
        state.faults.values().sum::<usize>() > state.calls / 10,
        "the storm had its faults"
    );
    assert!(
        state.voided_token_refusals > 0,
        "Zoom refused the token voided mid-storm, and the workers went on with the next one"
    );
}

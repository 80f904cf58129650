//! The local runner (`bridge-relay serve`) under a storm, over real HTTP: 80 incidents, each
//! webhook delivered 3 times with the same X-Webhook-Id (the copies in flight together, 16
//! requests at once), every fifth incident also under a second webhook id, and 20% of Zoom and
//! PagerDuty calls failing (500, 429, timeouts and connections dropped after the work was
//! done). The in-process queue must behave as the SQS FIFO queue does (repeats dropped, one job
//! of an incident at a time): one meeting, one bridge and one note per incident, and no failure
//! note on an incident that got its bridge.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use serde_json::json;

const INCIDENTS: usize = 80;
const COPIES: usize = 3;
const IN_FLIGHT: usize = 16;
const SECRET: &str = "local-storm-webhook-secret";
const FAILURE_NOTE: &str = "could not open a Zoom bridge";
const BRIDGE_NOTE: &str = "Zoom bridge opened";
/// Longer than the runner's HTTP timeout (10 s): a slow answer is a timeout whose work was
/// done, and the delivery that met it holds its incident's claim for seconds.
const SLOW_FOR: Duration = Duration::from_secs(11);

fn incident_id(i: usize) -> String {
    format!("Q{i:05}LSTORM")
}

fn webhook(i: usize) -> Vec<u8> {
    let mut envelope =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    envelope["event"]["id"] = json!(format!("01LSTORMEVENT{i:05}"));
    envelope["event"]["data"]["id"] = json!(incident_id(i));
    envelope["event"]["data"]["number"] = json!(2000 + i);
    envelope["event"]["data"]["title"] = json!(format!("Local storm incident {i}"));
    envelope["event"]["data"]["conference_bridge"] = serde_json::Value::Null;
    envelope.to_string().into_bytes()
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_runner_storm_gives_clean_timelines() {
    let started = Instant::now();
    let apis = FaultyApis::start(0x10ca_1507, 0.2, SLOW_FOR, PD_API_TOKEN).await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-local-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _dir = TempDir(dir.clone());
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_document(&[SECRET])).unwrap();
    let (runner, port) = Process::spawn_listening(
        "bridge-relay-local-storm",
        Duration::from_secs(10),
        |port| {
            let mut command = serve_command(&secrets, port);
            command
                .envs(apis.env())
                // One host with room for every incident: the storm is about duplicates, not the
                // pool.
                .env("ZOOM_HOST_MAX_MEETINGS", "1000")
                .env("ZOOM_HOST_DAILY_CREATES", "1000")
                .env("RUST_LOG", "info");
            command
        },
    );
    let url = format!("http://127.0.0.1:{port}/webhook");

    // The copies of a webhook are next to each other, so they are in flight together.
    let mut deliveries = Vec::new();
    for i in 0..INCIDENTS {
        for _ in 0..COPIES {
            deliveries.push((i, format!("local-storm-webhook-{i}")));
        }
        if i % 5 == 0 {
            deliveries.push((i, format!("local-storm-webhook-{i}-again")));
        }
    }
    let total_deliveries = deliveries.len();
    let limit = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let http = bridge_relay::http::client();
    let mut sending = tokio::task::JoinSet::new();
    for (i, webhook_id) in deliveries {
        let (limit, http, url) = (limit.clone(), http.clone(), url.clone());
        sending.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let body = webhook(i);
            let response = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-webhook-id", &webhook_id)
                .header("x-pagerduty-signature", sign(&body, SECRET))
                .body(body)
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        });
    }
    while let Some(status) = sending.join_next().await {
        assert_eq!(status.unwrap(), 202, "every delivery is accepted");
    }

    // Done once every incident has its bridge note and the stand-in has been called no more
    // for a while (a false failure note came seconds after the bridge).
    let mut quiet_since = (Instant::now(), usize::MAX);
    let settled = eventually(Duration::from_secs(45), || {
        let state = apis.state();
        let noted = (0..INCIDENTS).all(|i| {
            state
                .notes
                .get(&incident_id(i))
                .is_some_and(|notes| notes.iter().any(|n| n.starts_with(BRIDGE_NOTE)))
        });
        if quiet_since.1 != state.calls {
            quiet_since = (Instant::now(), state.calls);
        }
        let quiet = quiet_since.0.elapsed() > Duration::from_secs(4);
        std::future::ready((noted && quiet).then_some(()))
    })
    .await;
    let output = runner.output();
    if settled.is_none() {
        let lines: Vec<&str> = output.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        println!("the storm did not settle within 45 s; the runner's last lines:\n{tail}");
    }

    let dead_letters = output.matches("job dead-lettered").count();
    let state = apis.state();
    let (mut meetings, mut bridges, mut failure_notes, mut bridged) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for i in 0..INCIDENTS {
        let id = incident_id(i);
        let made = state
            .meetings_by_incident
            .get(&id)
            .cloned()
            .unwrap_or_default();
        meetings += made.len();
        let set: HashSet<String> = state
            .bridges
            .get(&id)
            .into_iter()
            .flatten()
            .map(|b| b["conference_url"].as_str().unwrap_or_default().to_owned())
            .collect();
        bridges += set.len();
        let notes = state.notes.get(&id).cloned().unwrap_or_default();
        let failures = notes.iter().filter(|n| n.contains(FAILURE_NOTE)).count();
        failure_notes += failures;
        let bridge_notes = notes.iter().filter(|n| n.starts_with(BRIDGE_NOTE)).count();
        if made.len() != 1 {
            problems.push(format!("{id}: {} meetings", made.len()));
            continue;
        }
        let join_url = state.meetings[&made[0]]["join_url"]
            .as_str()
            .unwrap_or_default();
        if set.len() != 1 || !set.contains(join_url) {
            problems.push(format!("{id}: bridges {set:?}, meeting {join_url}"));
            continue;
        }
        bridged += 1;
        if failures > 0 {
            problems.push(format!(
                "{id} has its bridge and {failures} failure note(s): {notes:?}"
            ));
        }
        if bridge_notes != 1 {
            problems.push(format!("{id}: {bridge_notes} bridge notes"));
        }
        let mut distinct = HashSet::new();
        if let Some(twice) = notes.iter().find(|n| !distinct.insert(*n)) {
            problems.push(format!("{id}: a note posted twice: {twice}"));
        }
    }
    println!(
        "local storm: {INCIDENTS} incidents, {total_deliveries} webhook deliveries ({IN_FLIGHT} in flight), \
         {} API calls, faults {:?}; meetings {meetings}, bridges {bridges}, bridged incidents {bridged}, \
         failure notes {failure_notes}, dead letters {dead_letters}; {:.1} s",
        state.calls,
        state.faults,
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(bridged, INCIDENTS);
    assert_eq!((failure_notes, dead_letters), (0, 0));
    assert!(
        state.faults.values().sum::<usize>() > state.calls / 10,
        "the storm had its faults"
    );
    assert!(
        state
            .faults
            .get("dropped connection")
            .is_some_and(|n| *n > 0),
        "some answers were lost after the work was done"
    );
}

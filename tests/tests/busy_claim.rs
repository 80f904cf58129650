//! A delivery that finds another delivery's claim on its incident, as the Lambda worker meets
//! it: a redelivery arriving while a slow or crashed delivery's lease still runs. The holder
//! may yet finish, so this is never a failure note and never a dead letter while it can: the
//! job goes back to the queue on its last receive, and has nothing to do once the bridge is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::JobError;
use bridge_relay::hostpool::HostPool;
use bridge_relay::model::{Incident, Job};
use bridge_relay::queue::{DeadLetterLog, InProcessQueue, LocalMessage};
use bridge_relay::relay::{Delivery, JobReport, Settled, Worker, WorkerSettings};
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use bridge_relay::store::{IdempotencyStore, InMemoryStore, Stage};
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use tokio::sync::mpsc::UnboundedReceiver;

const MAX_RECEIVES: u32 = 3;
const LEASE: Duration = Duration::from_secs(90);

struct Relay {
    worker: Worker,
    store: Arc<InMemoryStore>,
    requeued: UnboundedReceiver<LocalMessage>,
    dead_letters: Arc<DeadLetterLog>,
    apis: FaultyApis,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn relay(name: &str) -> Relay {
    let apis = FaultyApis::start(7, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.json");
    std::fs::write(&file, secret_document(&["unused"])).unwrap();
    let secrets = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(&file)),
        Duration::from_secs(300),
    ));
    let env = apis.env();
    let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    let http = bridge_relay::http::client();
    let store = Arc::new(InMemoryStore::new());
    let dead_letters = Arc::new(DeadLetterLog::default());
    let (jobs, requeued) = InProcessQueue::new();
    let worker = Worker::new(
        Arc::new(bridge_relay::zoom::ZoomApi::new(
            http.clone(),
            &get("ZOOM_API_BASE"),
            &get("ZOOM_OAUTH_BASE"),
            HOST_USER,
            secrets.clone(),
        )),
        Arc::new(bridge_relay::pagerduty::PagerDutyApi::new(
            http,
            &get("PAGERDUTY_API_BASE"),
            secrets,
        )),
        store.clone(),
        dead_letters.clone(),
        WorkerSettings {
            max_receives: MAX_RECEIVES,
            ..WorkerSettings::new(HostPool::new(vec![HOST_USER.into()]))
        },
    )
    .with_requeue(Arc::new(jobs));
    Relay {
        worker,
        store,
        requeued,
        dead_letters,
        apis,
        _dir: TempDir(dir),
    }
}

fn job(incident: &str) -> Job {
    Job {
        webhook_id: format!("busy-webhook-{incident}"),
        event_id: format!("busy-event-{incident}"),
        event_type: "incident.triggered".into(),
        incident: Incident::new(incident),
        requested_by: None,
        meeting: Default::default(),
        received_at_ms: None,
        failure: None,
        tool: Default::default(),
        action: Default::default(),
        requeued_after_waiting: false,
    }
}

fn delivery(receive_count: u32) -> Delivery {
    Delivery {
        receive_count,
        deadline: Instant::now() + Duration::from_secs(30),
    }
}

fn notes(relay: &Relay, incident: &str) -> Vec<String> {
    relay
        .apis
        .state()
        .notes
        .get(incident)
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_held_through_the_last_receive_sends_the_job_back_without_a_failure_note() {
    let mut relay = relay("busy-requeue").await;
    // A delivery that crashed after claiming: its lease runs on.
    relay
        .store
        .claim(&key("PBUSY"), "crashed", LEASE)
        .await
        .unwrap();

    let settled = relay
        .worker
        .handle_delivery(&job("PBUSY"), delivery(1))
        .await;
    assert!(
        matches!(settled, Settled::Retry(JobError::Busy(_))),
        "{settled:?}"
    );
    let settled = relay
        .worker
        .handle_delivery(&job("PBUSY"), delivery(MAX_RECEIVES))
        .await;
    assert!(
        matches!(settled, Settled::Requeued(JobError::Busy(_))),
        "the last receive goes back to the queue: {settled:?}"
    );
    assert!(notes(&relay, "PBUSY").is_empty(), "no failure note");
    assert!(relay.dead_letters.jobs().is_empty());
    let fresh = relay
        .requeued
        .try_recv()
        .expect("a fresh copy is queued")
        .job;
    assert!(fresh.webhook_id.starts_with("busy-webhook-PBUSY#busy-"));

    // Still held through the copy's receives: dead-lettered for replay, still without a note,
    // and not queued a second time.
    let settled = relay
        .worker
        .handle_delivery(&fresh, delivery(MAX_RECEIVES))
        .await;
    assert!(
        matches!(settled, Settled::LastDelivery(JobError::Busy(_), _)),
        "{settled:?}"
    );
    assert!(relay.requeued.try_recv().is_err());
    assert!(notes(&relay, "PBUSY").is_empty(), "no failure note");

    // Once the lease is given up, the copy opens the bridge.
    relay.store.release(&key("PBUSY"), "crashed").await.unwrap();
    let settled = relay.worker.handle_delivery(&fresh, delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    let notes = notes(&relay, "PBUSY");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("Zoom bridge opened"), "{notes:?}");
    assert_eq!(relay.apis.state().meetings_by_incident["PBUSY"].len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_whose_holder_set_the_bridge_leaves_nothing_to_do() {
    let mut relay = relay("busy-bridged").await;
    // The holder set the bridge and is posting its note (or crashed before it).
    relay
        .store
        .claim(&key("PSET"), "holder", LEASE)
        .await
        .unwrap();
    relay
        .store
        .advance(&key("PSET"), "holder", Stage::BridgeSet, None)
        .await
        .unwrap();
    for receive in [1, MAX_RECEIVES] {
        let settled = relay
            .worker
            .handle_delivery(&job("PSET"), delivery(receive))
            .await;
        assert!(
            matches!(settled, Settled::Done(JobReport::AlreadyDone { .. })),
            "receive {receive}: {settled:?}"
        );
    }
    assert!(notes(&relay, "PSET").is_empty(), "no failure note");
    assert!(relay.requeued.try_recv().is_err());
    assert!(relay.dead_letters.jobs().is_empty());
    assert!(!relay.apis.state().meetings_by_incident.contains_key("PSET"));
}

/// An incident key as the relay writes it.
fn key(id: &str) -> bridge_relay::model::IncidentKey {
    bridge_relay::model::IncidentKey::from_stored(id)
}

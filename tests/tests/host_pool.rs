//! The host pool end to end: the worker against DynamoDB, SQS and Secrets Manager in moto and
//! the fault-injecting Zoom and PagerDuty stand-in, which counts what each host was asked for.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::hostpool::utc_day;
use bridge_relay::model::Job;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::{Delivery, FailureNote, JobReport, Settled, Worker};
use bridge_relay::store::{DynamoDbStore, HostSlot, HostSlots, IdempotencyStore};
use bridge_relay::telemetry::observe;
use bridge_relay::{JobError, UpstreamError};
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use serde_json::json;

const SECRET: &str = "pool-webhook-secret";

fn settings(hosts: &[&str], meetings_per_host: u32) -> Deployment {
    Deployment::new()
        .retries(50, 500, 4)
        .hosts(hosts, meetings_per_host)
}

/// A job as the ingress queues it (built from JSON, so fields added later keep their defaults).
fn job(incident: &str) -> Job {
    Job::from_json(
        &json!({
            "webhook_id": format!("pool-webhook-{incident}"),
            "event_id": format!("pool-event-{incident}"),
            "event_type": "incident.triggered",
            "incident": {"id": incident, "number": 7, "title": format!("Pool incident {incident}")}
        })
        .to_string(),
    )
    .unwrap()
}

fn delivery(receive_count: u32) -> Delivery {
    Delivery {
        receive_count,
        deadline: Instant::now() + Duration::from_secs(20),
    }
}

async fn stand_ins() -> (AwsStandIns, FaultyApis) {
    let aws = AwsStandIns::start_for_host_pool(&[SECRET], 1).await;
    let apis = FaultyApis::start(11, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    (aws, apis)
}

fn store(aws: &AwsStandIns) -> DynamoDbStore {
    DynamoDbStore::from_sdk_config(&aws.config, &aws.table_name)
}

fn pool_full_notes(apis: &FaultyApis, incident: &str) -> usize {
    apis.state()
        .notes
        .get(incident)
        .into_iter()
        .flatten()
        .filter(|n| n.contains("no free Zoom host"))
        .count()
}

fn is_pool_full(settled: &Settled) -> bool {
    matches!(settled, Settled::Retry(JobError::PoolFull(_)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_limit_sends_the_job_to_the_next_host_in_the_same_delivery() {
    let (aws, apis) = stand_ins().await;
    apis.state().daily_limit_for.insert("a@x".into(), 0);
    let (worker, _) = aws.worker(&apis.env(), settings(&["a@x", "b@x"], 2));

    let (settled, calls) = observe(worker.handle_delivery(&job("PD1"), delivery(1))).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    assert_eq!(calls.hosts_spent, 1, "the spent host is counted");
    {
        let state = apis.state();
        assert_eq!(state.daily_limit_answers["a@x"], 1);
        assert_eq!(state.meetings_by_host["b@x"].len(), 1);
        assert!(!state.meetings_by_host.contains_key("a@x"));
    }
    let store = store(&aws);
    assert_eq!(
        store.meeting_host(&key("PD1")).await.unwrap(),
        Some(HostSlot {
            host: "b@x".into(),
            slot: 0
        }),
        "the incident's record names its meeting's host"
    );
    assert!(
        !store
            .take_daily_create("a@x", &utc_day(std::time::SystemTime::now()), 100)
            .await
            .unwrap(),
        "the host is spent for the rest of the UTC day"
    );

    // The next incident skips the spent host without asking Zoom.
    let settled = worker.handle_delivery(&job("PD2"), delivery(1)).await;
    assert!(matches!(settled, Settled::Done(JobReport::Bridged { .. })));
    assert_eq!(apis.state().daily_limit_answers["a@x"], 1);
    assert_eq!(apis.state().meetings_by_host["b@x"].len(), 2);

    // b@x is full now, a@x spent: the third incident waits, with a note that says why.
    let (settled, calls) = observe(worker.handle_delivery(&job("PD3"), delivery(1))).await;
    assert!(is_pool_full(&settled), "{settled:?}");
    assert!(calls.pool_full);
    let notes = apis.state().notes["PD3"].clone();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("busy: b@x; daily limit reached: a@x"),
        "{notes:?}"
    );
    assert!(!apis.state().bridges.contains_key("PD3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_create_answer_is_found_on_the_host_that_was_used() {
    let (aws, apis) = stand_ins().await;
    {
        let mut state = apis.state();
        state.daily_limit_for.insert("a@x".into(), 0);
        state.hang_create_for.insert("PL1".into());
    }
    let one_try = settings(&["a@x", "b@x"], 1).set("RETRY_MAX_ATTEMPTS", 1);
    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(800));
    let (worker, _) = aws.worker_with_client(&apis.env(), one_try, http);

    // a@x is spent, b@x makes the meeting and the answer never comes.
    let settled = worker.handle_delivery(&job("PL1"), delivery(1)).await;
    assert!(
        matches!(
            settled,
            Settled::Retry(JobError::Meeting(UpstreamError::Transport { .. }))
        ),
        "{settled:?}"
    );
    assert_eq!(apis.state().meetings_by_incident["PL1"].len(), 1);
    let held = store(&aws).meeting_host(&key("PL1")).await.unwrap();
    assert_eq!(
        held.map(|s| s.host),
        Some("b@x".to_owned()),
        "a create whose outcome is unknown keeps its host and slot"
    );

    // The next delivery looks on b@x (a@x lists none of b@x's meetings) and finds it.
    let settled = worker.handle_delivery(&job("PL1"), delivery(2)).await;
    let made = apis.state().meetings_by_incident["PL1"].clone();
    assert_eq!(made.len(), 1, "never a second meeting: {made:?}");
    match settled {
        Settled::Done(JobReport::Bridged { meeting_id, .. }) => assert_eq!(meeting_id, made[0]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_never_give_the_last_slot_to_two_incidents() {
    let (aws, apis) = stand_ins().await;
    // Separate workers, as separate Lambda containers, racing for one host with one slot.
    let workers: Vec<Arc<Worker>> = (0..6)
        .map(|_| aws.worker(&apis.env(), settings(&["solo@x"], 1)).0)
        .collect();
    let incidents: Vec<String> = (0..6).map(|i| format!("PR{i}")).collect();
    let race = |receive_count: u32| {
        futures::future::join_all(workers.iter().zip(&incidents).map(|(worker, incident)| {
            let worker = worker.clone();
            let job = job(incident);
            async move { worker.handle_delivery(&job, delivery(receive_count)).await }
        }))
    };
    let first = race(1).await;
    let bridged: Vec<&String> = incidents
        .iter()
        .zip(&first)
        .filter(|(_, s)| matches!(s, Settled::Done(JobReport::Bridged { .. })))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(bridged.len(), 1, "{first:?}");
    assert_eq!(first.iter().filter(|s| is_pool_full(s)).count(), 5);
    assert_eq!(apis.state().meetings_by_host["solo@x"].len(), 1);
    let winner = bridged[0].clone();

    // Delivered again while the slot is still held: still waiting, no second note.
    let second = race(2).await;
    assert_eq!(second.iter().filter(|s| is_pool_full(s)).count(), 5);
    for incident in incidents.iter().filter(|i| **i != winner) {
        assert_eq!(pool_full_notes(&apis, incident), 1, "{incident}: one note");
    }

    // The winner's incident ends: its meeting ends and its slot is freed, once.
    let meeting = apis.state().meetings_by_incident[&winner][0];
    apis.state().end_meeting(meeting);
    let freed = workers[0].free_host_slot(&key(&winner)).await.unwrap();
    assert_eq!(
        freed,
        Some(HostSlot {
            host: "solo@x".into(),
            slot: 0
        })
    );
    assert_eq!(
        workers[1].free_host_slot(&key(&winner)).await.unwrap(),
        None
    );
    let third = race(3).await;
    let done = third
        .iter()
        .filter(|s| matches!(s, Settled::Done(_)))
        .count();
    assert_eq!(
        done, 2,
        "the winner's job is done already and one more got the freed slot: {third:?}"
    );
    let state = apis.state();
    assert_eq!(state.meetings_by_host["solo@x"].len(), 2);
    assert_eq!(state.most_open_by_host["solo@x"], 1, "never over its limit");
}

/// Deliveries spent waiting for a host are not failures: a job that finds its host on its last
/// receive and then fails is queued again with fresh retries, once; a job that never waited,
/// or already had its fresh retries, goes the usual way to the dead-letter queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_for_a_host_does_not_use_up_a_jobs_retries() {
    let (aws, apis) = stand_ins().await;
    let (worker, _) = aws.worker(&apis.env(), settings(&["solo@x"], 1));
    // The same deployment while Zoom cannot be reached (nothing listens on port 9).
    let mut unreachable = apis.env();
    unreachable.retain(|(name, _)| *name != "ZOOM_API_BASE");
    unreachable.push(("ZOOM_API_BASE", "http://127.0.0.1:9/v2".into()));
    let (zoom_down, _) = aws.worker(&unreachable, settings(&["solo@x"], 1));
    let fails_for_good_now =
        |settled: &Settled| matches!(settled, Settled::LastDelivery(JobError::Meeting(_), _));

    let never_waited = zoom_down
        .handle_delivery(&job("PW0"), delivery(MAX_RECEIVES))
        .await;
    assert!(fails_for_good_now(&never_waited), "{never_waited:?}");
    // Its create's fate is unknown, so it kept its slot; its incident's resolve frees it.
    zoom_down.free_host_slot(&key("PW0")).await.unwrap();
    let settled = worker.handle_delivery(&job("PW1"), delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    assert!(is_pool_full(
        &worker.handle_delivery(&job("PW2"), delivery(1)).await
    ));
    worker.free_host_slot(&key("PW1")).await.unwrap();

    // PW2's host is free on its last receive, and Zoom cannot be reached throughout it.
    let settled = zoom_down
        .handle_delivery(&job("PW2"), delivery(MAX_RECEIVES))
        .await;
    assert!(
        matches!(settled, Settled::Requeued(JobError::Meeting(_))),
        "{settled:?}"
    );
    let queued = aws.drain(&aws.queue_url).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let fresh = Job::from_json(&queued[0]).unwrap();
    assert!(fresh.requeued_after_waiting);
    assert!(fresh.webhook_id.starts_with("pool-webhook-PW2#wait-"));
    let failure_notes = |incident: &str| {
        apis.state()
            .notes
            .get(incident)
            .into_iter()
            .flatten()
            .filter(|n| !n.contains("no free Zoom host"))
            .count()
    };
    assert_eq!(
        failure_notes("PW2"),
        0,
        "no failure note for a job queued again"
    );

    // The fresh copy fails through its own receives: now it is a failure.
    let settled = zoom_down
        .handle_delivery(&fresh, delivery(MAX_RECEIVES))
        .await;
    assert!(fails_for_good_now(&settled), "{settled:?}");
    assert_eq!(failure_notes("PW2"), 1);
    assert!(aws.drain(&aws.queue_url).await.is_empty());

    // Zoom is back: the job still in the queue makes its meeting.
    let settled = worker.handle_delivery(&fresh, delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
}

/// A post-incident review takes no slot, but it is one of its host's creates for the day: it
/// goes to a pool host with creates left, and is skipped with a note when none has any.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_meeting_counts_against_a_pool_hosts_daily_creates() {
    let (aws, apis) = stand_ins().await;
    let two_creates_a_day = settings(&["a@x", "b@x"], 2).set("ZOOM_HOST_DAILY_CREATES", 2);
    let (worker, _) = aws.worker(&apis.env(), two_creates_a_day);
    let resolved = |incident: &str| {
        Job::from_json(
            &json!({
                "webhook_id": format!("pool-resolved-{incident}"),
                "event_id": format!("pool-resolved-event-{incident}"),
                "event_type": "incident.resolved",
                "action": "resolved",
                "incident": {"id": incident, "number": 7, "title": format!("Pool incident {incident}")},
                "meeting": {"review_after_minutes": 60}
            })
            .to_string(),
        )
        .unwrap()
    };
    for incident in ["PR1", "PR2"] {
        let settled = worker.handle_delivery(&job(incident), delivery(1)).await;
        assert!(
            matches!(settled, Settled::Done(JobReport::Bridged { .. })),
            "{settled:?}"
        );
    }
    // a@x has used its two creates today; b@x has both left.
    assert_eq!(apis.state().meetings_by_host["a@x"].len(), 2);
    let store = store(&aws);
    let today = utc_day(std::time::SystemTime::now());

    let settled = worker.handle_delivery(&resolved("PR1"), delivery(1)).await;
    assert!(matches!(settled, Settled::Done(_)), "{settled:?}");
    {
        let state = apis.state();
        assert_eq!(state.meetings_by_host["b@x"].len(), 1, "the review, on b@x");
        assert_eq!(state.meetings_by_host["a@x"].len(), 2);
        assert!(
            state.notes["PR1"]
                .iter()
                .any(|n| n.starts_with("Post-incident review scheduled for ")),
            "{:?}",
            state.notes["PR1"]
        );
    }
    // The review was counted: b@x has one create left, taken here; the next review finds none.
    assert!(store.take_daily_create("b@x", &today, 2).await.unwrap());
    let settled = worker.handle_delivery(&resolved("PR2"), delivery(1)).await;
    assert!(matches!(settled, Settled::Done(_)), "{settled:?}");
    let state = apis.state();
    assert_eq!(state.meetings_by_host["b@x"].len(), 1, "no second review");
    assert!(
        state.notes["PR2"]
            .iter()
            .any(|n| n.starts_with("Post-incident review not scheduled: every Zoom host")),
        "{:?}",
        state.notes["PR2"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_nobody_frees_counts_as_free_after_its_maximum_age() {
    // Long enough that the steps before the wait cannot outlast it on a busy machine.
    const MAX_AGE: Duration = Duration::from_secs(5);
    let (aws, apis) = stand_ins().await;
    let short = settings(&["solo@x"], 1).set("ZOOM_HOST_SLOT_MAX_AGE_SECONDS", MAX_AGE.as_secs());
    let (worker, _) = aws.worker(&apis.env(), short);

    let settled = worker.handle_delivery(&job("PS1"), delivery(1)).await;
    let taken = Instant::now();
    assert!(matches!(settled, Settled::Done(JobReport::Bridged { .. })));
    let settled = worker.handle_delivery(&job("PS2"), delivery(1)).await;
    assert!(is_pool_full(&settled), "{settled:?}");
    // Still waiting on its last receive: a fresh copy goes back to the job queue rather than
    // the dead-letter queue, so the wait does not use up the job's receives.
    let settled = worker
        .handle_delivery(&job("PS2"), delivery(MAX_RECEIVES))
        .await;
    assert!(
        matches!(settled, Settled::Requeued(JobError::PoolFull(_))),
        "{settled:?}"
    );
    let queued = aws.drain(&aws.queue_url).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let fresh = Job::from_json(&queued[0]).unwrap();
    assert!(
        fresh.webhook_id.starts_with("pool-webhook-PS2#wait-"),
        "a new dedup id: {}",
        fresh.webhook_id
    );
    assert_eq!(fresh.incident, job("PS2").incident);
    assert_eq!(aws.depth(&aws.dead_letter_queue_url).await, 0);
    assert_eq!(pool_full_notes(&apis, "PS2"), 1);
    // PS1 is never resolved; its slot ages out.
    let aged =
        (taken + MAX_AGE + Duration::from_millis(500)).saturating_duration_since(Instant::now());
    tokio::time::sleep(aged).await;
    let settled = worker.handle_delivery(&fresh, delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    assert_eq!(
        worker.free_host_slot(&key("PS1")).await.unwrap(),
        None,
        "the expired holder no longer frees the slot PS2 holds now"
    );
    assert_eq!(
        worker
            .free_host_slot(&key("PS2"))
            .await
            .unwrap()
            .map(|s| s.host),
        Some("solo@x".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_create_that_surely_failed_gives_its_slot_back_and_a_pinned_host_is_used() {
    let (aws, apis) = stand_ins().await;
    let (worker, _) = aws.worker(&apis.env(), settings(&["solo@x"], 1));
    // The policy pins a host Zoom does not know: the create fails for good.
    let mut pinned = job("PP1");
    pinned.meeting.host_user = Some(bridge_relay_tests::faulty::UNKNOWN_USER.into());
    let settled = worker.handle_delivery(&pinned, delivery(1)).await;
    assert!(matches!(settled, Settled::DeadLettered(..)), "{settled:?}");
    let store = store(&aws);
    assert_eq!(store.meeting_host(&key("PP1")).await.unwrap(), None);
    assert!(
        store
            .take_host_slot(
                bridge_relay_tests::faulty::UNKNOWN_USER,
                0,
                &key("PP2"),
                Duration::from_secs(60)
            )
            .await
            .unwrap(),
        "the failed create's slot was given back"
    );
    // A pinned host outside the pool hosts the meeting; the pool's own host stays free.
    let mut pinned = job("PP3");
    pinned.meeting.host_user = Some("pinned@x".into());
    let settled = worker.handle_delivery(&pinned, delivery(1)).await;
    assert!(matches!(settled, Settled::Done(JobReport::Bridged { .. })));
    assert_eq!(apis.state().meetings_by_host["pinned@x"].len(), 1);
    let settled = worker.handle_delivery(&job("PP4"), delivery(1)).await;
    assert!(matches!(settled, Settled::Done(JobReport::Bridged { .. })));
    assert_eq!(apis.state().meetings_by_host["solo@x"].len(), 1);
}

// The storm: more incidents than slots, through SQS as Lambda's event source delivers them.

const STORM_INCIDENTS: usize = 24;
const STORM_HOSTS: [&str; 3] = ["h1@x", "h2@x", "h3@x"];
const STORM_SLOTS: u32 = 2;

fn storm_webhook(i: usize) -> Vec<u8> {
    let mut envelope =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    envelope["event"]["id"] = json!(format!("01POOLEVENT{i:05}"));
    envelope["event"]["data"]["id"] = json!(storm_incident(i));
    envelope["event"]["data"]["number"] = json!(2000 + i);
    envelope["event"]["data"]["title"] = json!(format!("Pool storm incident {i}"));
    envelope.to_string().into_bytes()
}

fn storm_incident(i: usize) -> String {
    format!("Q{i:05}POOL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_more_incidents_than_slots_keeps_every_host_in_its_limit_and_loses_none() {
    let started = Instant::now();
    // An invocation (at most 8 s) ends before its messages become visible again (10 s), as
    // the template's 60-second worker and 360-second visibility do; a slower machine must not
    // let a second worker receive a message the first still works on.
    let aws = AwsStandIns::start_for_host_pool(&[SECRET], 10).await;
    // Some Zoom and PagerDuty calls fail (500, 429, late answers, dropped connections).
    let apis = FaultyApis::start(0x9001, 0.05, Duration::from_millis(900), PD_API_TOKEN).await;
    let ingress = aws.ingress(bridge_relay::policy::BridgePolicy::default());
    for i in 0..STORM_INCIDENTS {
        let body = storm_webhook(i);
        let signature = sign(&body, SECRET);
        let response = ingress
            .handle(bridge_relay::relay::WebhookRequest {
                signature: Some(&signature),
                webhook_id: Some(&format!("pool-storm-{i}")),
                body: &body,
            })
            .await;
        assert_eq!(response.status, 202);
    }
    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(700));
    let workers: Vec<Arc<Worker>> = (0..4)
        .map(|_| {
            aws.worker_with_client(
                &apis.env(),
                settings(&STORM_HOSTS, STORM_SLOTS),
                http.clone(),
            )
            .0
        })
        .collect();

    // Incidents resolve a while after their bridge is set: the meeting ends, the slot is freed.
    let drained = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let resolver = {
        let worker = workers[0].clone();
        let state = apis.state.clone();
        let drained = drained.clone();
        async move {
            let mut resolved: HashSet<String> = HashSet::new();
            while !drained.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let due: Vec<(String, u64)> = {
                    let state = state.lock().unwrap();
                    state
                        .bridged_at
                        .iter()
                        .filter(|(id, at)| {
                            !resolved.contains(*id) && at.elapsed() > Duration::from_millis(400)
                        })
                        .filter_map(|(id, _)| {
                            Some((id.clone(), *state.meetings_by_incident.get(id)?.first()?))
                        })
                        .collect()
                };
                for (incident, meeting) in due {
                    state.lock().unwrap().end_meeting(meeting);
                    worker.free_host_slot(&key(&incident)).await.unwrap();
                    resolved.insert(incident);
                }
            }
        }
    };
    let draining = async {
        let invocations = futures::future::join_all(
            workers
                .iter()
                .map(|worker| aws.run_event_source(worker.clone(), Duration::from_secs(20))),
        )
        .await;
        drained.store(true, std::sync::atomic::Ordering::Relaxed);
        invocations
    };
    let (invocations, ()) = tokio::time::timeout(Duration::from_secs(150), async {
        tokio::join!(draining, resolver)
    })
    .await
    .expect("the storm drains");

    let dead_letters = aws.drain(&aws.dead_letter_queue_url).await;
    assert!(
        dead_letters.is_empty(),
        "nothing dead-lettered: {dead_letters:?}"
    );
    let state = apis.state();
    let mut waited = 0;
    for i in 0..STORM_INCIDENTS {
        let id = storm_incident(i);
        let made = state
            .meetings_by_incident
            .get(&id)
            .cloned()
            .unwrap_or_default();
        assert_eq!(made.len(), 1, "{id}: one meeting each: {made:?}");
        let bridges: HashSet<&str> = state.bridges[&id]
            .iter()
            .map(|b| b["conference_url"].as_str().unwrap())
            .collect();
        assert_eq!(
            bridges,
            HashSet::from([state.meetings[&made[0]]["join_url"].as_str().unwrap()]),
            "{id}"
        );
        let notes = state.notes.get(&id).cloned().unwrap_or_default();
        let full_notes = notes
            .iter()
            .filter(|n| n.contains("no free Zoom host"))
            .count();
        assert!(full_notes <= 1, "{id}: the pool-full note is posted once");
        waited += full_notes;
    }
    for host in STORM_HOSTS {
        let most = state.most_open_by_host.get(host).copied().unwrap_or(0);
        assert!(
            most <= STORM_SLOTS as usize,
            "{host} held {most} meetings at once"
        );
    }
    println!(
        "pool storm: {STORM_INCIDENTS} incidents, {} hosts x {STORM_SLOTS} slots, {} API calls, faults {:?}, \
         meetings per host {:?}, most open per host {:?}, incidents that waited for a host {waited}, \
         worker invocations {invocations:?}, dead-lettered {}; {:.1} s",
        STORM_HOSTS.len(),
        state.calls,
        state.faults,
        state
            .meetings_by_host
            .iter()
            .map(|(h, m)| (h.clone(), m.len()))
            .collect::<Vec<_>>(),
        state.most_open_by_host,
        dead_letters.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        waited > 0,
        "the pool was full at times and those incidents were bridged later"
    );
}

/// The pool-full note is posted before it is marked: one PagerDuty refused is posted by the
/// next delivery, and then never again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_full_note_that_could_not_be_posted_is_posted_by_the_next_delivery() {
    let (aws, apis) = stand_ins().await;
    let one_try = settings(&["solo@x"], 1).set("RETRY_MAX_ATTEMPTS", 1);
    let (worker, _) = aws.worker(&apis.env(), one_try);
    let settled = worker.handle_delivery(&job("PN1"), delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    apis.state().refuse_notes_for.insert("PN2".into(), 1);
    let settled = worker.handle_delivery(&job("PN2"), delivery(1)).await;
    assert!(is_pool_full(&settled), "{settled:?}");
    assert_eq!(pool_full_notes(&apis, "PN2"), 0, "PagerDuty refused it");
    for receive in [2, 2] {
        let settled = worker.handle_delivery(&job("PN2"), delivery(receive)).await;
        assert!(is_pool_full(&settled), "{settled:?}");
        assert_eq!(pool_full_notes(&apis, "PN2"), 1);
    }
}

/// A job that has waited for a host longer than the policy's wait (two hours by default)
/// gives up: one note that says so, the job dead-lettered for replay, and no bridge opened
/// days into the incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_waiting_for_a_host_past_the_policys_wait_gives_up_with_one_note() {
    let (aws, apis) = stand_ins().await;
    let (worker, _) = aws.worker(&apis.env(), settings(&["solo@x"], 1));
    let settled = worker.handle_delivery(&job("PH1"), delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    let now = bridge_relay::telemetry::epoch_millis(std::time::SystemTime::now());
    let received_ago = |minutes: u64| {
        let mut waiting = job("PH2");
        waiting.received_at_ms = Some(now - minutes * 60_000);
        waiting
    };
    let settled = worker
        .handle_delivery(&received_ago(119), delivery(1))
        .await;
    assert!(is_pool_full(&settled), "within its wait: {settled:?}");
    let settled = worker
        .handle_delivery(&received_ago(121), delivery(2))
        .await;
    assert!(
        matches!(
            settled,
            Settled::DeadLettered(
                JobError::NoHostInTime {
                    waited_minutes: 121,
                    ..
                },
                FailureNote::Posted
            )
        ),
        "{settled:?}"
    );
    let notes = apis.state().notes["PH2"].clone();
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(notes[0].contains("no free Zoom host"), "{notes:#?}");
    assert!(
        notes[1].starts_with(
            "bridge-relay could not open a Zoom bridge for this incident: no Zoom host became free within 121 min"
        ) && notes[1].contains("has stopped waiting"),
        "{notes:#?}"
    );
    let dead = aws.drain(&aws.dead_letter_queue_url).await;
    assert_eq!(dead.len(), 1, "kept for replay: {dead:?}");
    assert_eq!(apis.state().meetings_by_incident.get("PH2"), None);
}

/// A create whose answer was lost keeps its slot while its job may retry; when the job fails
/// for good on its last receive, the meeting it made is ended and the slot given back, so the
/// default pool of one slot bridges the next incident at once instead of a day later.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_fails_on_its_last_receive_gives_its_host_slot_back() {
    let (aws, apis) = stand_ins().await;
    apis.state().hang_create_for.insert("PF1".into());
    let one_try = settings(&["solo@x"], 1).set("RETRY_MAX_ATTEMPTS", 1);
    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(800));
    let (worker, _) = aws.worker_with_client(&apis.env(), one_try, http);

    let settled = worker
        .handle_delivery(&job("PF1"), delivery(MAX_RECEIVES))
        .await;
    assert!(
        matches!(
            settled,
            Settled::LastDelivery(JobError::Meeting(_), FailureNote::Posted)
        ),
        "{settled:?}"
    );
    let made = apis.state().meetings_by_incident["PF1"].clone();
    assert_eq!(made.len(), 1, "Zoom made the meeting; its answer was lost");
    assert_eq!(
        apis.state().ended_by_api,
        made,
        "the unbridged meeting is ended"
    );
    let notes = apis.state().notes["PF1"].clone();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(notes[0].starts_with("bridge-relay could not open a Zoom bridge"));

    let settled = worker.handle_delivery(&job("PF2"), delivery(1)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "the slot is free for the next incident: {settled:?}"
    );
}

/// The resolve of an incident whose create was never recorded (its job dead-lettered by SQS,
/// or a worker died before recording the meeting) ends what that create made and frees the
/// slot; the job's replay, or a late copy, makes no meeting for the resolved incident.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_resolve_of_an_incident_without_a_recorded_meeting_frees_its_host_slot() {
    let (aws, apis) = stand_ins().await;
    apis.state().hang_create_for.insert("PU1".into());
    let one_try = settings(&["solo@x"], 1).set("RETRY_MAX_ATTEMPTS", 1);
    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(800));
    let (worker, _) = aws.worker_with_client(&apis.env(), one_try, http);
    // A delivery before the last: the job would be retried, and keeps its slot meanwhile.
    let settled = worker.handle_delivery(&job("PU1"), delivery(1)).await;
    assert!(
        matches!(settled, Settled::Retry(JobError::Meeting(_))),
        "{settled:?}"
    );
    assert!(is_pool_full(
        &worker.handle_delivery(&job("PU2"), delivery(1)).await
    ));

    let resolved = Job::from_json(
        &json!({
            "webhook_id": "pool-resolved-PU1", "event_id": "e-PU1",
            "event_type": "incident.resolved", "action": "resolved",
            "incident": {"id": "PU1"}
        })
        .to_string(),
    )
    .unwrap();
    let settled = worker.handle_delivery(&resolved, delivery(1)).await;
    assert!(matches!(settled, Settled::Done(_)), "{settled:?}");
    let made = apis.state().meetings_by_incident["PU1"].clone();
    assert_eq!(
        apis.state().ended_by_api,
        made,
        "the unbridged meeting is ended"
    );

    // The bridge job, delivered again after the resolve, makes no meeting.
    let mut late = job("PU1");
    late.received_at_ms =
        Some(bridge_relay::telemetry::epoch_millis(std::time::SystemTime::now()) - 5 * 60_000);
    let settled = worker.handle_delivery(&late, delivery(2)).await;
    assert!(matches!(settled, Settled::Done(_)), "{settled:?}");
    assert_eq!(apis.state().meetings_by_incident["PU1"].len(), 1);
    assert!(!apis.state().bridges.contains_key("PU1"));

    let settled = worker.handle_delivery(&job("PU2"), delivery(2)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "the slot is free for the next incident: {settled:?}"
    );
}

/// `on_resolve: keep` (the default) while the call is running: the host slot stays taken until
/// Zoom says the meeting ended, so the next incident's meeting cannot cut the people still on
/// this one off (a host holds one meeting at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kept_meetings_host_slot_is_freed_when_its_call_ends() {
    let (aws, apis) = stand_ins().await;
    let (worker, _) = aws.worker(&apis.env(), settings(&["solo@x"], 1));
    let settled = worker.handle_delivery(&job("PK1"), delivery(1)).await;
    let Settled::Done(JobReport::Bridged { meeting_id, .. }) = settled else {
        panic!("{settled:?}");
    };
    let now = bridge_relay::telemetry::epoch_millis(std::time::SystemTime::now());
    let lifecycle_job = |action: &str, extra: serde_json::Value| {
        let mut job = json!({
            "webhook_id": format!("pool-{action}-PK1"), "event_id": format!("e-{action}"),
            "event_type": format!("test.{action}"), "action": action,
            "incident": {"id": "PK1"}
        });
        if let (Some(job), Some(extra)) = (job.as_object_mut(), extra.as_object()) {
            job.extend(extra.clone());
        }
        Job::from_json(&job.to_string()).unwrap()
    };
    let zoom_event = |kind: &str, at_ms: u64| {
        lifecycle_job(
            "zoom_event",
            json!({"zoom_event": {"kind": kind, "meeting_id": meeting_id, "at_ms": at_ms}}),
        )
    };
    let settled = worker
        .handle_delivery(&zoom_event("started", now), delivery(1))
        .await;
    assert!(matches!(settled, Settled::Done(_)), "{settled:?}");
    let settled = worker
        .handle_delivery(&lifecycle_job("resolved", json!({})), delivery(1))
        .await;
    let Settled::Done(JobReport::Lifecycle { summary, .. }) = &settled else {
        panic!("{settled:?}");
    };
    assert!(summary.contains("freed when the call ends"), "{summary}");
    let settled = worker.handle_delivery(&job("PK2"), delivery(1)).await;
    assert!(is_pool_full(&settled), "the call still runs: {settled:?}");

    let settled = worker
        .handle_delivery(&zoom_event("ended", now + 60_000), delivery(1))
        .await;
    assert!(matches!(settled, Settled::Done(_)), "{settled:?}");
    let settled = worker.handle_delivery(&job("PK2"), delivery(2)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "the call ended: its slot is free: {settled:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_local_runners_in_memory_store_keeps_the_same_pool() {
    let (aws, apis) = stand_ins().await;
    // The worker as `bridge-relay serve` builds it: its composition over the in-memory
    // store, from the same variables.
    let variables: Vec<(&str, String)> = apis
        .env()
        .into_iter()
        .chain(settings(&["solo@x"], 1).vars().iter().cloned())
        .collect();
    let config = env_of(&variables).local().unwrap();
    let secrets = aws.secret_cache();
    let local = bridge_relay::compose::local_relay(
        config,
        secrets.clone(),
        secrets,
        bridge_relay::http::client(),
    );
    let worker = local.worker;
    let settled = worker.handle_delivery(&job("PM1"), delivery(1)).await;
    assert!(matches!(settled, Settled::Done(JobReport::Bridged { .. })));
    let settled = worker.handle_delivery(&job("PM2"), delivery(1)).await;
    assert!(is_pool_full(&settled), "{settled:?}");
    let meeting = apis.state().meetings_by_incident["PM1"][0];
    apis.state().end_meeting(meeting);
    assert!(worker.free_host_slot(&key("PM1")).await.unwrap().is_some());
    let settled = worker.handle_delivery(&job("PM2"), delivery(2)).await;
    assert!(
        matches!(settled, Settled::Done(JobReport::Bridged { .. })),
        "{settled:?}"
    );
    assert_eq!(pool_full_notes(&apis, "PM2"), 1);
    let state = apis.state();
    assert_eq!(state.meetings_by_host["solo@x"].len(), 2);
    assert_eq!(state.most_open_by_host["solo@x"], 1);
}

/// A lifecycle job as the ingress queues it for a V3 `incident.resolved`.
fn resolved_job(incident: &str) -> Job {
    let mut job = job(incident);
    job.webhook_id = format!("pool-resolved-{incident}");
    job.event_type = "incident.resolved".into();
    job.action = bridge_relay::model::JobAction::Resolved;
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_incident_that_resolves_while_waiting_for_a_host_gets_no_meeting_later() {
    let (aws, apis) = stand_ins().await;
    let (worker, _) = aws.worker(&apis.env(), settings(&["a@x"], 1));

    let settled = worker.handle_delivery(&job("PHOLDS"), delivery(1)).await;
    assert!(matches!(settled, Settled::Done(JobReport::Bridged { .. })));
    let settled = worker.handle_delivery(&job("PWAITS"), delivery(1)).await;
    assert!(is_pool_full(&settled), "{settled:?}");
    assert_eq!(pool_full_notes(&apis, "PWAITS"), 1);

    // The waiting incident resolves, then the one holding the slot.
    for incident in ["PWAITS", "PHOLDS"] {
        let settled = worker
            .handle_delivery(&resolved_job(incident), delivery(1))
            .await;
        assert!(
            matches!(settled, Settled::Done(JobReport::Lifecycle { .. })),
            "{incident}: {settled:?}"
        );
    }
    // The host is free now, but the waiting job's incident is over: no meeting for it.
    let settled = worker.handle_delivery(&job("PWAITS"), delivery(2)).await;
    match settled {
        Settled::Done(JobReport::Lifecycle { summary, .. }) => {
            assert!(summary.contains("resolved before"), "{summary}")
        }
        other => panic!("expected no meeting, got {other:?}"),
    }
    {
        let state = apis.state();
        assert!(!state.meetings_by_incident.contains_key("PWAITS"));
        assert_eq!(state.meetings_by_host["a@x"].len(), 1);
    }
    assert!(
        store(&aws)
            .take_host_slot("a@x", 0, &key("PNEXT"), Duration::from_secs(3600))
            .await
            .unwrap(),
        "the slot stays free for the next incident"
    );
}

/// An incident key as the relay writes it.
fn key(id: &str) -> bridge_relay::model::IncidentKey {
    bridge_relay::model::IncidentKey::from_stored(id)
}

//! The host pool's store operations, the same checks against both adapters: DynamoDB (in moto)
//! and the local runner's in-memory store.

use std::sync::Arc;
use std::time::Duration;

use bridge_relay::hosts::{HostCheck, HostVerdict};
use bridge_relay::store::{
    Claim, DynamoDbStore, HostSlot, HostTake, IdempotencyStore, InMemoryStore, IncidentView,
    MeetingLifecycle, Stage, StoreError, StoredMeeting,
};
use bridge_relay_tests::AwsStandIns;

const DAY: &str = "2026-11-24";
const NEXT_DAY: &str = "2026-11-25";
const LONG: Duration = Duration::from_secs(3600);

async fn slots_are_held_by_one_incident_at_a_time(store: &dyn IdempotencyStore) {
    assert!(
        store
            .take_host_slot("a@x", 0, &key("P1"), LONG)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_host_slot("a@x", 0, &key("P2"), LONG)
            .await
            .unwrap(),
        "a held slot is not given to another incident"
    );
    assert!(
        store
            .take_host_slot("a@x", 0, &key("P1"), LONG)
            .await
            .unwrap(),
        "its holder may take it again (a later delivery)"
    );
    assert!(
        store
            .take_host_slot("a@x", 1, &key("P2"), LONG)
            .await
            .unwrap()
    );
    assert!(
        store
            .take_host_slot("b@x", 0, &key("P2"), LONG)
            .await
            .unwrap(),
        "hosts have their own slots"
    );
    assert!(
        !store.release_host_slot("a@x", 0, &key("P2")).await.unwrap(),
        "only the holder frees a slot"
    );
    assert!(store.release_host_slot("a@x", 0, &key("P1")).await.unwrap());
    assert!(
        !store.release_host_slot("a@x", 0, &key("P1")).await.unwrap(),
        "freeing twice frees once"
    );
    assert!(
        store
            .take_host_slot("a@x", 0, &key("P3"), LONG)
            .await
            .unwrap()
    );
}

async fn a_slot_held_past_its_maximum_age_counts_as_free(store: &dyn IdempotencyStore) {
    // Long enough that a slow call under load does not age the slot between two steps.
    let max_age = Duration::from_secs(2);
    assert!(
        store
            .take_host_slot("s@x", 0, &key("OLD"), max_age)
            .await
            .unwrap()
    );
    assert!(
        !store
            .take_host_slot("s@x", 0, &key("NEW"), max_age)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert!(
        store
            .take_host_slot("s@x", 0, &key("NEW"), max_age)
            .await
            .unwrap(),
        "an expired slot is taken over"
    );
    assert!(
        !store
            .release_host_slot("s@x", 0, &key("OLD"))
            .await
            .unwrap(),
        "the old holder cannot free the new holder's slot"
    );
}

async fn daily_creates_are_counted_per_host_and_utc_day(store: &dyn IdempotencyStore) {
    for _ in 0..3 {
        assert!(store.take_daily_create("d@x", DAY, 3).await.unwrap());
    }
    assert!(!store.take_daily_create("d@x", DAY, 3).await.unwrap());
    assert!(
        store.take_daily_create("d@x", NEXT_DAY, 3).await.unwrap(),
        "a new UTC day starts again"
    );
    assert!(store.take_daily_create("e@x", DAY, 3).await.unwrap());
    store.mark_host_spent("e@x", DAY).await.unwrap();
    assert!(
        !store.take_daily_create("e@x", DAY, 3).await.unwrap(),
        "a host Zoom called spent has no creates left that day"
    );
    assert!(store.take_daily_create("e@x", NEXT_DAY, 3).await.unwrap());
}

async fn the_incident_record_names_its_slot_and_frees_it(store: &dyn IdempotencyStore) {
    let slot = HostSlot {
        host: "f@x".into(),
        slot: 1,
    };
    assert!(matches!(
        store.claim(&key("PF1"), "owner-a", LONG).await.unwrap(),
        Claim::Acquired(_)
    ));
    assert!(matches!(
        store
            .record_meeting_host(&key("PF1"), "owner-b", Some(&slot))
            .await,
        Err(StoreError::ClaimLost(_))
    ));
    assert_eq!(store.meeting_host(&key("PF1")).await.unwrap(), None);
    assert!(
        store
            .take_host_slot("f@x", 1, &key("PF1"), LONG)
            .await
            .unwrap()
    );
    store
        .record_meeting_host(&key("PF1"), "owner-a", Some(&slot))
        .await
        .unwrap();
    assert_eq!(
        store.meeting_host(&key("PF1")).await.unwrap(),
        Some(slot.clone())
    );
    assert_eq!(
        store.free_host_slot(&key("PF1")).await.unwrap(),
        Some(slot.clone())
    );
    assert_eq!(
        store.free_host_slot(&key("PF1")).await.unwrap(),
        None,
        "a second free does nothing"
    );
    assert!(
        store
            .take_host_slot("f@x", 1, &key("PF2"), LONG)
            .await
            .unwrap()
    );
    assert_eq!(
        store.free_host_slot(&key("PF1")).await.unwrap(),
        None,
        "never frees a slot another incident holds now"
    );
    store
        .record_meeting_host(&key("PF1"), "owner-a", None)
        .await
        .unwrap();
    assert_eq!(store.meeting_host(&key("PF1")).await.unwrap(), None);
    assert_eq!(
        store.free_host_slot(&key("NEVER-SEEN")).await.unwrap(),
        None
    );
}

async fn the_pool_full_notice_is_given_once(store: &dyn IdempotencyStore) {
    store.claim(&key("PN1"), "owner", LONG).await.unwrap();
    assert!(store.first_pool_full_notice(&key("PN1")).await.unwrap());
    assert!(!store.first_pool_full_notice(&key("PN1")).await.unwrap());
}

/// Many workers reach for the last slot at once: exactly one gets it.
async fn the_last_slot_goes_to_one_incident(store: Arc<dyn IdempotencyStore>) {
    let takers = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .take_host_slot("race@x", 0, &key(&format!("PR{i}")), LONG)
                .await
                .unwrap()
        })
    });
    let won = futures::future::join_all(takers)
        .await
        .into_iter()
        .filter(|taken| *taken.as_ref().unwrap())
        .count();
    assert_eq!(won, 1, "one slot, one holder");
    let counters = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.take_daily_create("race@x", DAY, 5).await.unwrap() })
    });
    let counted = futures::future::join_all(counters)
        .await
        .into_iter()
        .filter(|taken| *taken.as_ref().unwrap())
        .count();
    assert_eq!(counted, 5, "no more creates than the daily limit");
}

fn take<'a>(slot: &'a HostSlot, day: &'a str, creates_per_day: u32) -> HostTake<'a> {
    HostTake {
        slot,
        max_age: LONG,
        day,
        creates_per_day,
    }
}

/// A first claim takes its host in the same write, all of it or nothing.
async fn a_first_claim_takes_its_host_in_one_write(store: &dyn IdempotencyStore) {
    let slot = HostSlot {
        host: "tx@x".into(),
        slot: 0,
    };
    assert!(
        store
            .claim_new_with_host(&key("PT1"), "o1", LONG, &take(&slot, DAY, 2))
            .await
            .unwrap()
    );
    let record = store.get(&key("PT1")).await.unwrap().unwrap();
    assert_eq!(record.stage, Stage::Creating);
    assert_eq!(record.meeting, None);
    assert_eq!(
        store.meeting_host(&key("PT1")).await.unwrap(),
        Some(slot.clone())
    );
    assert_eq!(
        store.get_with_host(&key("PT1")).await.unwrap(),
        (Some(record.clone()), Some(slot.clone())),
        "the record and its host in one read"
    );
    assert!(
        !store
            .take_host_slot("tx@x", 0, &key("PT2"), LONG)
            .await
            .unwrap(),
        "the slot is held"
    );
    assert_eq!(
        store.claim(&key("PT1"), "o2", LONG).await.unwrap(),
        Claim::Busy,
        "the claim holds"
    );
    assert!(
        !store
            .claim_new_with_host(&key("PT1"), "o2", LONG, &take(&slot, DAY, 2))
            .await
            .unwrap(),
        "an existing record is not claimed this way"
    );
    assert!(
        store.take_daily_create("tx@x", DAY, 2).await.unwrap(),
        "the failed claim counted no create"
    );
    assert!(!store.take_daily_create("tx@x", DAY, 2).await.unwrap());
    // A held slot or a spent day: nothing written at all.
    assert!(
        !store
            .claim_new_with_host(&key("PT2"), "o1", LONG, &take(&slot, NEXT_DAY, 5))
            .await
            .unwrap()
    );
    assert_eq!(store.get(&key("PT2")).await.unwrap(), None);
    assert_eq!(
        store.get_with_host(&key("PT2")).await.unwrap(),
        (None, None)
    );
    assert!(
        store.take_daily_create("tx@x", NEXT_DAY, 1).await.unwrap(),
        "the held slot's claim counted no create"
    );
    let other = HostSlot {
        host: "tx@x".into(),
        slot: 1,
    };
    assert!(
        !store
            .claim_new_with_host(&key("PT3"), "o1", LONG, &take(&other, NEXT_DAY, 1))
            .await
            .unwrap(),
        "no creates left that day"
    );
    assert_eq!(store.get(&key("PT3")).await.unwrap(), None);
    assert_eq!(store.meeting_host(&key("PT3")).await.unwrap(), None);
    assert!(
        store
            .take_host_slot("tx@x", 1, &key("PT4"), LONG)
            .await
            .unwrap(),
        "the spent day's claim took no slot"
    );
}

/// Many first claims reach for the same last slot at once: exactly one gets it.
async fn the_last_slot_goes_to_one_first_claim(store: Arc<dyn IdempotencyStore>) {
    let takers = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            let slot = HostSlot {
                host: "txrace@x".into(),
                slot: 0,
            };
            store
                .claim_new_with_host(&key(&format!("PTR{i}")), "o", LONG, &take(&slot, DAY, 100))
                .await
                .unwrap()
        })
    });
    let won = futures::future::join_all(takers)
        .await
        .into_iter()
        .filter(|taken| *taken.as_ref().unwrap())
        .count();
    assert_eq!(won, 1, "one slot, one holder");
}

/// A first delivery's claim, with `Creating` recorded as the create is about to be sent.
async fn claim_creating(store: &dyn IdempotencyStore, incident: &str) {
    store.claim(&key(incident), "o1", LONG).await.unwrap();
    store
        .advance(&key(incident), "o1", Stage::Creating, None)
        .await
        .unwrap();
}

/// The meeting, its index item and the first lifecycle item go together, or none of them.
async fn a_new_meeting_is_recorded_in_one_write(store: &dyn IdempotencyStore) {
    let meeting = StoredMeeting {
        id: 9_100_000_001,
        join_url: "https://zoom.us/j/9100000001".into(),
        passcode: None,
        phone_passcode: None,
        dial_in: Vec::new(),
    };
    claim_creating(store, "PM1").await;
    assert!(
        !store
            .record_new_meeting(&key("PM1"), "o2", &meeting, &bridged_at(1_000))
            .await
            .unwrap(),
        "not the claim's owner"
    );
    assert_eq!(
        store.get(&key("PM1")).await.unwrap().unwrap().stage,
        Stage::Creating
    );
    assert_eq!(store.meeting_owner(meeting.id).await.unwrap(), None);
    assert_eq!(store.lifecycle(&key("PM1")).await.unwrap().1, 0);
    assert!(
        store
            .record_new_meeting(&key("PM1"), "o1", &meeting, &bridged_at(1_000))
            .await
            .unwrap()
    );
    let record = store.get(&key("PM1")).await.unwrap().unwrap();
    assert_eq!(record.stage, Stage::MeetingCreated);
    assert_eq!(record.meeting.as_ref(), Some(&meeting));
    assert_eq!(
        store.meeting_owner(meeting.id).await.unwrap(),
        Some(key("PM1"))
    );
    let (lifecycle, version) = store.lifecycle(&key("PM1")).await.unwrap();
    assert_eq!((lifecycle.bridged_at_ms, version), (Some(1_000), 1));
    let view = store.get_with_lifecycle(&key("PM1")).await.unwrap();
    assert_eq!(
        view,
        IncidentView {
            record: Some(record),
            host: None,
            lifecycle,
            lifecycle_version: 1,
        },
        "the record and its lifecycle in one read"
    );
    let none = store.get_with_lifecycle(&key("PM-none")).await.unwrap();
    assert_eq!((none.record, none.lifecycle_version), (None, 0));
    // An incident with a lifecycle already (resolved while it waited): nothing written.
    claim_creating(store, "PM2").await;
    let resolved = MeetingLifecycle {
        resolved_at_ms: Some(500),
        generation: 1,
        ..MeetingLifecycle::default()
    };
    assert!(
        store
            .save_lifecycle(&key("PM2"), &resolved, 0)
            .await
            .unwrap()
    );
    let second = StoredMeeting {
        id: 9_100_000_002,
        ..meeting
    };
    assert!(
        !store
            .record_new_meeting(&key("PM2"), "o1", &second, &bridged_at(2_000))
            .await
            .unwrap()
    );
    assert_eq!(store.get(&key("PM2")).await.unwrap().unwrap().meeting, None);
    assert_eq!(store.meeting_owner(second.id).await.unwrap(), None);
    assert_eq!(store.lifecycle(&key("PM2")).await.unwrap(), (resolved, 1));
}

/// A responder's host check is kept for its TTL, then looked up again; another responder's is
/// their own.
async fn host_checks_are_kept_until_they_expire(store: &dyn IdempotencyStore) {
    let licensed = HostCheck {
        email: Some("ada@example.com".into()),
        verdict: HostVerdict::Eligible,
    };
    assert_eq!(
        store
            .cached_host_check("pagerduty:user:PADA")
            .await
            .unwrap(),
        None
    );
    store
        .cache_host_check("pagerduty:user:PADA", &licensed, LONG)
        .await
        .unwrap();
    store
        .cache_host_check(
            "email:x@example.com",
            &HostCheck::no_email(),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .cached_host_check("pagerduty:user:PADA")
            .await
            .unwrap(),
        Some(licensed)
    );
    assert_eq!(
        store
            .cached_host_check("email:x@example.com")
            .await
            .unwrap(),
        None,
        "expired"
    );
}

async fn contract(store: Arc<dyn IdempotencyStore>) {
    host_checks_are_kept_until_they_expire(store.as_ref()).await;
    slots_are_held_by_one_incident_at_a_time(store.as_ref()).await;
    a_slot_held_past_its_maximum_age_counts_as_free(store.as_ref()).await;
    daily_creates_are_counted_per_host_and_utc_day(store.as_ref()).await;
    the_incident_record_names_its_slot_and_frees_it(store.as_ref()).await;
    the_pool_full_notice_is_given_once(store.as_ref()).await;
    the_last_slot_goes_to_one_incident(store.clone()).await;
    a_first_claim_takes_its_host_in_one_write(store.as_ref()).await;
    the_last_slot_goes_to_one_first_claim(store.clone()).await;
    a_new_meeting_is_recorded_in_one_write(store.as_ref()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_keeps_the_host_pool_rules() {
    let aws = AwsStandIns::start_for_host_pool(&["unused"], 360).await;
    contract(Arc::new(DynamoDbStore::from_sdk_config(
        &aws.config,
        &aws.table_name,
    )))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_memory_store_keeps_the_host_pool_rules() {
    contract(Arc::new(InMemoryStore::new())).await;
}

/// The first lifecycle of a bridge posted at `at_ms`, as the worker writes it.
fn bridged_at(at_ms: u64) -> MeetingLifecycle {
    MeetingLifecycle {
        bridged_at_ms: Some(at_ms),
        after_call: Some(bridge_relay::after_call::ArtifactChoice::default_choice()),
        ..MeetingLifecycle::default()
    }
}

/// An incident key as the relay writes it.
fn key(id: &str) -> bridge_relay::model::IncidentKey {
    bridge_relay::model::IncidentKey::from_stored(id)
}

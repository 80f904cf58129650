//! The bridge's health, end to end: signed Zoom events through the ingress (`/zoom`), the job
//! queue and the worker (moto, Prism proxies of Zoom's and PagerDuty's specs), and the health
//! timer on the timer queue: the roll call of the paged responders, someone waiting to be let
//! in with nobody to admit them, one person alone, an empty call, a meeting that ended while its
//! incident is open, a big call's bounded record, two workers judging one call at once, and a
//! health note PagerDuty refuses until its timer comes again.

use std::time::Duration;

use bridge_relay::lambda::handle_sqs;
use bridge_relay::model::IncidentKey;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::{Ingress, Worker};
use bridge_relay::store::{MeetingLifecycle, MeetingLifecycles};
use bridge_relay_tests::zoom_call::*;
use bridge_relay_tests::*;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

/// The health checks with the given settings (seconds; 0 is off).
fn health(settings: Value) -> BridgePolicy {
    BridgePolicy::from_json(&json!({"meeting": {"health": settings}}).to_string(), None).unwrap()
}

/// A stand whose Zoom takes meeting updates (the responders' host controls).
async fn stand() -> Stand {
    let stand = Stand::start().await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&stand.apis.zoom_upstream)
        .await;
    stand
}

/// Opens the bridge, with `assignees` (PagerDuty user id, name) as the incident's.
async fn bridge_assigned(
    stand: &Stand,
    ingress: &Ingress,
    worker: &Arc<Worker>,
    assignees: &[(&str, &str)],
) {
    let assignees: Vec<Value> = assignees
        .iter()
        .map(|(id, name)| json!({"id": id, "summary": name, "type": "user_reference"}))
        .collect();
    let status = stand
        .pagerduty_with(ingress, "incident.triggered", "trigger-1", |data| {
            data["assignees"] = json!(assignees)
        })
        .await;
    assert_eq!(status, 202);
    stand.work(worker).await;
    assert!(stand.notes().await[0].starts_with("Zoom bridge opened"));
}

/// A Zoom participant event of the fixture `name`, for `who` (name, participant id, e-mail).
fn participant(name: &str, who: (&str, &str, Option<&str>)) -> Value {
    let mut event = zoom_json(name);
    let person = &mut event["payload"]["object"]["participant"];
    person["user_name"] = json!(who.0);
    person["participant_uuid"] = json!(who.1);
    person["email"] = json!(who.2.unwrap_or(""));
    event
}

/// Earline joins the call (Zoom gives no e-mail for her).
async fn earline_joins(ingress: &Ingress) {
    let earline = ("Earline Greenholt", "p-earline", None);
    zoom_event(
        ingress,
        &participant("meeting_participant_joined.json", earline),
    )
    .await;
}

async fn lifecycle(stand: &Stand) -> MeetingLifecycle {
    stand
        .store()
        .lifecycle(&IncidentKey::from_stored(INCIDENT.to_owned()))
        .await
        .unwrap()
        .0
}

/// The notes after the bridge's own.
async fn health_notes(stand: &Stand) -> Vec<String> {
    stand.notes().await.split_off(1)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_roll_call_names_who_of_the_paged_is_on_the_call_and_who_is_not() {
    let stand = stand().await;
    stand
        .apis
        .responder(
            "PEARL01",
            "Earline Greenholt",
            "earline@example.com",
            Some(2),
        )
        .await;
    stand
        .apis
        .responder("PGRACE1", "Grace Hopper", "grace@example.com", Some(2))
        .await;
    let ingress = stand.ingress(health(json!({"roll_call_after_seconds": 2})));
    let worker = stand.worker();
    bridge_assigned(
        &stand,
        &ingress,
        &worker,
        &[
            ("PEARL01", "Earline Greenholt"),
            ("PGRACE1", "Grace Hopper"),
        ],
    )
    .await;
    // Earline joins signed in (Zoom gives her e-mail), and someone from outside the account.
    for event in [
        participant(
            "meeting_participant_joined.json",
            ("Earline G.", "p-earline", Some("Earline@Example.com")),
        ),
        participant(
            "meeting_participant_joined.json",
            ("Sam Visitor", "p-sam", None),
        ),
    ] {
        zoom_event(&ingress, &event).await;
    }
    stand.work(&worker).await;
    assert_eq!(
        health_notes(&stand).await.len(),
        1,
        "only the first join so far"
    );

    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert_eq!(
        notes[1],
        "Roll call of the Zoom meeting 850 1234 5678, 2 s after the bridge:\nOn the call: Earline Greenholt.\nPaged, not on the call: Grace Hopper.\n1 other person is on the call.",
        "{notes:#?}"
    );
    // Once per incident: nothing more is queued, and a redelivered timer says nothing.
    assert_eq!(stand.timers_waiting().await, 0);
    let checks = lifecycle(&stand).await;
    assert!(checks.health.roll_call_noted);
    assert_eq!(checks.health.paged.len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn someone_in_the_waiting_room_with_nobody_to_let_them_in_is_one_note() {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 0, "waiting_after_seconds": 1
    })));
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    // Zoom's own examples: Jill joins the waiting room, is put back in it (the same stretch),
    // and each is delivered twice.
    for name in [
        "meeting_participant_joined_waiting_room.json",
        "meeting_participant_put_in_waiting_room.json",
        "meeting_participant_joined_waiting_room.json",
    ] {
        zoom_event(&ingress, &zoom_json(name)).await;
    }
    stand.work(&worker).await;
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].starts_with("Waiting to be let into the Zoom meeting 850 1234 5678 at "),
        "{notes:#?}"
    );
    assert!(
        notes[0].ends_with(": Jill Chill (in the waiting room). Nobody on the call can let them in. No responder has the meeting's host controls (policy `meeting.hosts`); turn the waiting room off, or let responders be hosts."),
        "{notes:#?}"
    );
    assert_eq!(stand.timers_waiting().await, 0, "once per stretch");
    assert_eq!(lifecycle(&stand).await.health.stuck_notes, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_person_alone_and_then_an_empty_call_are_one_note_each() {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 0, "alone_after_seconds": 1, "empty_after_seconds": 1
    })));
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    let earline = (
        "Earline Greenholt",
        "p-earline",
        Some("earline@example.com"),
    );
    zoom_event(
        &ingress,
        &participant("meeting_participant_joined.json", earline),
    )
    .await;
    stand.work(&worker).await;
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 2, "{notes:#?}");
    assert!(
        notes[1].starts_with(
            "Earline Greenholt has been alone on the Zoom meeting 850 1234 5678 since "
        ),
        "{notes:#?}"
    );
    assert!(
        notes[1].ends_with(
            ". The bridge: https://us06web.zoom.us/j/85012345678?pwd=bGt5dFpvZ3FoTzRrcUFqZz09"
        ),
        "{notes:#?}"
    );
    assert_eq!(stand.timers_waiting().await, 0, "one note per stretch");

    // She leaves, now (after the bridge): the empty call is said once, with the link.
    let mut left = participant("meeting_participant_left.json", earline);
    left["payload"]["object"]["participant"]["leave_time"] =
        json!(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
    zoom_event(&ingress, &left).await;
    zoom_event(&ingress, &left).await;
    stand.work(&worker).await;
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert!(
        notes[2].starts_with("Nobody has been on the Zoom meeting 850 1234 5678 since "),
        "{notes:#?}"
    );
    assert!(notes[2].contains(
        "and the incident is still open. The bridge: https://us06web.zoom.us/j/85012345678?pwd="
    ));
    assert_eq!(stand.timers_waiting().await, 0);
    assert_eq!(lifecycle(&stand).await.health.empty_notes, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_acknowledged_incident_keeps_quiet_when_the_policy_says_so() {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 0, "alone_after_seconds": 1, "quiet_when_acknowledged": true
    })));
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.acknowledged", "ack-1")
            .await,
        202
    );
    stand.work(&worker).await;
    earline_joins(&ingress).await;
    stand.work(&worker).await;
    assert!(lifecycle(&stand).await.health.acknowledged);
    assert_eq!(stand.timers_waiting().await, 0, "nothing to check");
    assert_eq!(health_notes(&stand).await.len(), 1, "only the first join");

    // Unacknowledged: she has been alone, and the incident hears it.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.unacknowledged", "unack-1")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert!(
        notes[1].contains("has been alone on the Zoom meeting"),
        "{notes:#?}"
    );
}

/// A bridge opened on a later event of an already acknowledged incident (its priority raised,
/// say) keeps quiet from the start: the event's status says it is acknowledged.
#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_opened_on_an_acknowledged_incident_keeps_quiet_from_the_start() {
    let stand = stand().await;
    let policy = json!({
        "event_types": ["incident.triggered", "incident.priority_updated"],
        "meeting": {"health": {
            "roll_call_after_seconds": 0, "alone_after_seconds": 1, "quiet_when_acknowledged": true
        }}
    });
    let ingress = stand.ingress(BridgePolicy::from_json(&policy.to_string(), None).unwrap());
    let worker = stand.worker();
    let status = stand
        .pagerduty_with(
            &ingress,
            "incident.priority_updated",
            "priority-1",
            |data| data["status"] = json!("acknowledged"),
        )
        .await;
    assert_eq!(status, 202);
    stand.work(&worker).await;
    assert!(stand.notes().await[0].starts_with("Zoom bridge opened"));
    earline_joins(&ingress).await;
    stand.work(&worker).await;
    assert!(lifecycle(&stand).await.health.acknowledged);
    assert_eq!(stand.timers_waiting().await, 0, "nothing to check");
    assert_eq!(health_notes(&stand).await.len(), 1, "only the first join");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_that_ends_while_the_incident_is_open_is_one_note_however_often_it_is_delivered()
{
    let stand = stand().await;
    let ingress = stand.ingress(BridgePolicy::default());
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    let ended = zoom_json("meeting_ended.json");
    zoom_event(&ingress, &ended).await;
    zoom_event(&ingress, &ended).await;
    stand.work(&worker).await;
    // Delivered again hours later, past the queue's deduplication: the same event adds nothing.
    let again = zoom_job(&ended, "zoom-ended-again");
    aws_sdk_sqs::Client::new(&stand.aws.config)
        .send_message()
        .queue_url(&stand.aws.queue_url)
        .message_body(again.to_string())
        .message_group_id(INCIDENT)
        .message_deduplication_id("zoom-ended-again")
        .send()
        .await
        .unwrap();
    stand.work(&worker).await;
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains("The incident is still open, and its bridge still works"),
        "{notes:#?}"
    );
}

/// The job the ingress queues for a Zoom meeting event, under another delivery id.
/// A meeting only a host can start says so when it ends while the incident is open, also when
/// its record was not made in the bridge's one write (an incident whose lifecycle item was there
/// before its meeting, as after a resolve and reopen before the bridge).
#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_only_a_host_can_start_says_so_when_it_ends_whichever_way_it_was_recorded() {
    let stand = stand().await;
    let policy = r#"{"meeting": {"join_before_host": false}}"#;
    let ingress = stand.ingress(BridgePolicy::from_json(policy, None).unwrap());
    let worker = stand.worker();
    let key = IncidentKey::from_stored(INCIDENT.to_owned());
    let saved = stand
        .store()
        .save_lifecycle(&key, &MeetingLifecycle::default(), 0)
        .await
        .unwrap();
    assert!(saved);
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    zoom_event(&ingress, &zoom_json("meeting_ended.json")).await;
    stand.work(&worker).await;
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].contains(
            "the meeting starts again when the host or an alternative host joins with the link"
        ),
        "{notes:#?}"
    );
}

fn zoom_job(event: &Value, delivery: &str) -> Value {
    let bridge_relay::zoom::webhook::Notification::Meeting(event) =
        bridge_relay::zoom::webhook::parse(&serde_json::to_vec(event).unwrap()).unwrap()
    else {
        panic!("not a meeting event: {event}");
    };
    json!({
        "webhook_id": delivery, "event_id": delivery, "event_type": event.kind.event_type(),
        "incident": {"id": INCIDENT}, "action": "zoom_event", "zoom_event": event,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn three_hundred_people_joining_and_leaving_out_of_order_keep_a_bounded_record_and_true_counts()
 {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({"roll_call_after_seconds": 0})));
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    let at = |minute: u64| format!("2026-11-23T10:{minute:02}:00Z");
    let mut events = Vec::new();
    for n in 0..300u64 {
        let who = (format!("Person {n}"), format!("p-{n}"));
        let mut joined = participant("meeting_participant_joined.json", (&who.0, &who.1, None));
        joined["payload"]["object"]["participant"]["join_time"] = json!(at(10 + n % 20));
        events.push(joined);
        // Every other person leaves again; the leave is often delivered before the join.
        if n % 2 == 0 {
            let mut left = participant("meeting_participant_left.json", (&who.0, &who.1, None));
            left["payload"]["object"]["participant"]["leave_time"] = json!(at(40 + n % 10));
            if n % 4 == 0 {
                events.insert(events.len() - 1, left);
            } else {
                events.push(left);
            }
        }
    }
    for event in &events {
        zoom_event(&ingress, event).await;
    }
    // And a late second delivery of the first hundred.
    for event in events.iter().take(100) {
        zoom_event(&ingress, event).await;
    }
    stand.work(&worker).await;
    let record = lifecycle(&stand).await;
    assert_eq!(record.participants.len(), 300);
    assert_eq!(
        record.participants.iter().filter(|p| p.present).count(),
        150
    );
    let size = serde_json::to_string(&record).unwrap().len();
    assert!(size < 100_000, "the lifecycle item is {size} bytes");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_judging_one_call_at_once_post_the_notes_of_one() {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 1, "alone_after_seconds": 1
    })));
    // Two worker instances that share no memory, as two Lambda containers.
    let (first, second) = (stand.worker(), stand.worker());
    bridge_assigned(&stand, &ingress, &first, &[]).await;
    earline_joins(&ingress).await;
    stand.work(&second).await;
    let timers = stand.take_timers(Duration::from_secs(10)).await;
    assert_eq!(timers.len(), 1, "{timers:#?}");
    let run = |worker: Arc<Worker>, job: Value| async move {
        handle_sqs(
            worker,
            LambdaEvent::new(
                timer_delivery(&job),
                invocation_context(Duration::from_secs(60)),
            ),
        )
        .await
        .unwrap()
    };
    // The same timer, delivered to both at once (a standard queue may deliver it twice).
    let (a, b) = tokio::join!(
        run(first.clone(), timers[0].clone()),
        run(second.clone(), timers[0].clone())
    );
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 3, "first join, roll call, alone: {notes:#?}");
    assert!(
        notes[1].starts_with("Roll call of the Zoom meeting"),
        "{notes:#?}"
    );
    assert!(notes[2].contains("has been alone"), "{notes:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_health_note_pagerduty_refuses_is_given_back_and_posted_once_when_its_timer_comes_again()
{
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 0, "alone_after_seconds": 1, "empty_after_seconds": 0
    })));
    // Two attempts per note within a job, quickly, so the outage below outlasts one job.
    let (worker, _) = stand
        .aws
        .worker(&stand.apis.env(), Deployment::new().retries(10, 20, 2));
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    earline_joins(&ingress).await;
    stand.work(&worker).await;
    let timers = stand.take_timers(Duration::from_secs(10)).await;
    assert_eq!(timers.len(), 1, "{timers:#?}");
    // PagerDuty is down for both of the first job's attempts at the alone note.
    Mock::given(method("POST"))
        .and(path_regex(r"^/incidents/[^/]+/notes$"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&stand.apis.pagerduty_upstream)
        .await;
    let deliver = |job: Value| {
        handle_sqs(
            worker.clone(),
            LambdaEvent::new(
                timer_delivery(&job),
                invocation_context(Duration::from_secs(60)),
            ),
        )
    };
    let alone_posts = || async {
        health_notes(&stand)
            .await
            .iter()
            .filter(|n| n.contains("has been alone"))
            .count()
    };

    // The timer job fails, so SQS delivers it again; the note's claim is given back.
    let failed = deliver(timers[0].clone()).await.unwrap();
    assert_eq!(failed.batch_item_failures.len(), 1, "{failed:?}");
    assert_eq!(alone_posts().await, 2, "two refused attempts");
    let given_back = lifecycle(&stand).await.health;
    assert_eq!(given_back.alone_noted_since, None, "{given_back:#?}");
    assert_eq!(given_back.empty_notes, 0, "{given_back:#?}");

    // Delivered again with PagerDuty back: the note is posted, once, and a late duplicate of
    // the delivery posts nothing more.
    for _ in 0..2 {
        let delivered = deliver(timers[0].clone()).await.unwrap();
        assert!(delivered.batch_item_failures.is_empty(), "{delivered:?}");
    }
    assert_eq!(alone_posts().await, 3, "two refused, then one posted");
    let notes = health_notes(&stand).await;
    assert!(
        notes
            .last()
            .is_some_and(|n| n.starts_with("Earline Greenholt has been alone")),
        "{notes:#?}"
    );
    assert_eq!(lifecycle(&stand).await.health.empty_notes, 1);
    assert_eq!(stand.timers_waiting().await, 0, "one note per stretch");
}

/// The bridge job queues the roll call's timer before it calls the incident done: a delivery
/// whose send failed leaves the incident to its redelivery, which queues it, and a later
/// trigger of the bridged incident queues no second one.
#[tokio::test(flavor = "multi_thread")]
async fn a_roll_call_timer_that_could_not_be_queued_is_queued_by_the_redelivery_and_never_twice() {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({"roll_call_after_seconds": 1})));
    let worker = stand.worker();
    // PagerDuty lists the bridge's note once it is posted, for the redelivery's look.
    let mut listed = spec_example("pagerduty-rest.json", "/incidents/{id}/notes", "get", "200");
    listed["notes"][0]["content"] = json!(format!(
        "Zoom bridge opened for this incident (bridge-relay).\nJoin: https://us06web.zoom.us/j/{MEETING_ID}?pwd=bGt5dFpvZ3FoTzRrcUFqZz09"
    ));
    Mock::given(method("GET"))
        .and(path_regex(r"^/incidents/[^/]+/notes$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(listed))
        .mount(&stand.apis.pagerduty_upstream)
        .await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.triggered", "trigger-1")
            .await,
        202
    );
    // The first delivery's timer send fails, after the bridge and its note are posted.
    stand.deliver_without_timer_queue().await;
    assert_eq!(stand.notes().await.len(), 1, "the bridge is posted");
    assert_eq!(stand.timers_waiting().await, 0);
    stand.work(&worker).await;
    assert_eq!(stand.timers_waiting().await, 1, "the redelivery queues it");
    assert_eq!(
        stand.notes().await.len(),
        1,
        "and posts no second bridge note"
    );

    // The incident's trigger again (another event of the policy's, or a redelivered one).
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.triggered", "trigger-2")
            .await,
        202
    );
    // And Earline joins (so the roll call knows Zoom's events reach the relay).
    earline_joins(&ingress).await;
    stand.work(&worker).await;
    assert_eq!(stand.timers_waiting().await, 1, "no second timer");
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), 2, "first join, roll call: {notes:#?}");
    assert!(
        notes[1].starts_with("Roll call of the Zoom meeting 850 1234 5678, 1 s after the bridge:"),
        "{notes:#?}"
    );
}

/// The notes as the README shows them: clock times as `hh:mm UTC`, and the seconds a run
/// takes (they differ from run to run) as `N s`, `N min`.
fn as_in_readme(note: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = note.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..].iter().collect();
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let starts_word = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if digits == 2 && rest[2..].starts_with(':') && rest[5..].starts_with(" UTC") {
            out.push_str("hh:mm UTC");
            i += 9;
        } else if digits > 0
            && starts_word
            && (rest[digits..].starts_with(" s ")
                || rest[digits..].starts_with(" s.")
                || rest[digits..].starts_with(" s:")
                || rest[digits..].starts_with(" s;"))
        {
            out.push_str("N s");
            i += digits + 2;
        } else if digits > 0
            && starts_word
            && rest[digits..].starts_with(" min")
            && out.ends_with("ran for ")
        {
            out.push_str("N min");
            i += digits + 4;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Runs the timers as they come due until the incident has `notes` notes after the bridge's.
async fn fire_until(stand: &Stand, worker: &Arc<Worker>, notes: usize) {
    for _ in 0..10 {
        if health_notes(stand).await.len() >= notes {
            return;
        }
        stand.fire_timers(worker, Duration::from_secs(10)).await;
    }
    panic!("no {notes} notes: {:#?}", health_notes(stand).await);
}

/// `event` with its participant's time (`field`) now.
fn now_at(mut event: Value, field: &str) -> Value {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    if field == "start_time" {
        event["payload"]["object"]["start_time"] = json!(now);
    } else {
        event["payload"]["object"]["participant"][field] = json!(now);
    }
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_shows_the_timeline_of_a_late_responder_a_wait_in_the_waiting_room_and_an_empty_call()
 {
    let stand = stand().await;
    stand
        .apis
        .responder("PGRACE1", "Grace Hopper", "grace@example.com", Some(2))
        .await;
    // Seconds where a deployment has minutes, so the test takes seconds.
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 4, "waiting_after_seconds": 1, "empty_after_seconds": 2
    })));
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[("PGRACE1", "Grace Hopper")]).await;

    // Jill waits in the waiting room; nobody who can admit her is on the call.
    let jill = now_at(
        zoom_json("meeting_participant_joined_waiting_room.json"),
        "date_time",
    );
    zoom_event(&ingress, &jill).await;
    stand.work(&worker).await;
    // The roll call: Grace, who was paged, is not on the call.
    fire_until(&stand, &worker, 2).await;

    // Grace joins late and lets Jill in; both leave, and the call sits empty.
    let grace = ("Grace Hopper", "p-grace", Some("grace@example.com"));
    let jill_joins = participant(
        "meeting_participant_joined.json",
        (
            "Jill Chill",
            "55555AAAiAAAAAiAiAiiAii",
            Some("jchill@example.com"),
        ),
    );
    for event in [
        now_at(zoom_json("meeting_started.json"), "start_time"),
        now_at(
            participant("meeting_participant_joined.json", grace),
            "join_time",
        ),
        now_at(zoom_json("meeting_participant_admitted.json"), "date_time"),
        now_at(jill_joins.clone(), "join_time"),
    ] {
        zoom_event(&ingress, &event).await;
        stand.work(&worker).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for event in [
        now_at(
            participant("meeting_participant_left.json", grace),
            "leave_time",
        ),
        now_at(
            participant(
                "meeting_participant_left.json",
                (
                    "Jill Chill",
                    "55555AAAiAAAAAiAiAiiAii",
                    Some("jchill@example.com"),
                ),
            ),
            "leave_time",
        ),
    ] {
        zoom_event(&ingress, &event).await;
    }
    stand.work(&worker).await;
    fire_until(&stand, &worker, 5).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;

    let timeline: Vec<String> = stand
        .notes()
        .await
        .iter()
        .map(|n| as_in_readme(n))
        .collect();
    let shown = timeline
        .iter()
        .map(|note| format!("- {}", note.replace('\n', "\n  ")))
        .collect::<Vec<_>>()
        .join("\n");
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let excerpt = readme
        .split("<!-- health-timeline -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```\n<!-- /health-timeline -->").next())
        .expect("README has the health timeline");
    assert_eq!(
        excerpt, shown,
        "the README's timeline is not the one the relay posts; it posts:\n{shown}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resolved_incident_hears_nothing_and_a_reopened_one_is_watched_again() {
    let stand = stand().await;
    let ingress = stand.ingress(health(json!({
        "roll_call_after_seconds": 0, "alone_after_seconds": 2
    })));
    let worker = stand.worker();
    bridge_assigned(&stand, &ingress, &worker, &[]).await;
    earline_joins(&ingress).await;
    stand.work(&worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;
    let resolved = health_notes(&stand).await.len();
    // The alone check's timer fires after the resolve: nothing, and nothing queued after it.
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    assert_eq!(health_notes(&stand).await.len(), resolved);
    assert_eq!(stand.timers_waiting().await, 0);

    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.reopened", "reopen-1")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    let notes = health_notes(&stand).await;
    assert_eq!(notes.len(), resolved + 1, "{notes:#?}");
    assert!(notes[resolved].contains("has been alone"), "{notes:#?}");
}

//! The meeting after the bridge, end to end: signed Zoom event notifications through the
//! ingress handler (`/zoom`) and the job queue (SQS in moto) to notes on the owning incident
//! (PagerDuty behind a Prism proxy of its official spec), and the incident's resolution: the
//! meeting kept, or ended through Zoom's `PUT /meetings/{id}/status` (Prism proxy of Zoom's
//! spec) once the grace timer (a standard SQS queue with a delay, in moto) fires, unless a
//! reopen came first.

use std::time::{Duration, SystemTime};

use bridge_relay::lambda::handle_sqs;
use bridge_relay::policy::BridgePolicy;
use bridge_relay::store::IdempotencyStore;
use bridge_relay_tests::zoom_call::*;
use bridge_relay_tests::*;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path_regex};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test(flavor = "multi_thread")]
async fn signed_zoom_events_become_notes_on_the_owning_incident() {
    let stand = Stand::start().await;
    let ingress = stand.ingress(BridgePolicy::default());
    let worker = stand.worker();
    let now = now_seconds();

    // Zoom's URL validation, answered with the HMAC of the plain token (computed independently:
    // python3 -c "import hmac,hashlib; print(hmac.new(b'zoom-webhook-secret-token-e2e',
    // b'qgg8vlvZRS6UYooatFL8Aw', hashlib.sha256).hexdigest())").
    let validation = zoom_fixture("endpoint_url_validation.json");
    assert_eq!(
        post_zoom(&ingress, &validation, now, None).await,
        (
            200,
            json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw",
                   "encryptedToken": "bd99c7e138f00d47ff47ceefb6de5bf09562df55bb6496f2d8e30e10e5329e98"})
        )
    );

    // Before the relay made the meeting, its events are not the relay's: 200, ignored.
    let started = zoom_fixture("meeting_started.json");
    let (status, body) = post_zoom(&ingress, &started, now, None).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ignored")));
    assert_eq!(
        body["reason"],
        "meeting 85012345678 is not one of the relay's"
    );

    bridge(&stand, &ingress, &worker).await;

    // Refused: tampered body, stale timestamp, a signature from another secret, none at all,
    // and a signed body that is no Zoom event. None of them queues anything.
    let mut tampered = started.clone();
    tampered.extend_from_slice(b" ");
    let good_signature = bridge_relay::zoom::webhook::sign(
        &now.to_string(),
        &started,
        &secrecy::SecretString::from(ZOOM_SECRET_TOKEN.to_owned()),
    );
    let (status, body) = post_zoom(&ingress, &tampered, now, Some(good_signature.clone())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("x-zm-signature does not match the body"))
    );
    let (status, body) = post_zoom(&ingress, &started, now - 600, None).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("more than 300 s away"),
        "{body}"
    );
    let other_secret = bridge_relay::zoom::webhook::sign(
        &now.to_string(),
        &started,
        &secrecy::SecretString::from("not-the-token".to_owned()),
    );
    assert_eq!(
        post_zoom(&ingress, &started, now, Some(other_secret))
            .await
            .0,
        401
    );
    let stamp = now.to_string();
    let unsigned = [("x-zm-request-timestamp", stamp.as_str())];
    assert_eq!(
        post_json(&ingress, "/zoom", &unsigned, &started).await.0,
        401
    );
    let (status, body) = post_zoom(&ingress, b"{\"event\": 1}", now, None).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no `event` string"),
        "{body}"
    );
    let (status, _) = post_zoom(&ingress, b"<xml/>", now, None).await;
    assert_eq!(status, 400);
    assert_eq!(stand.aws.queue_depth().await, 0);

    // The meeting's events: started, two joins, a leave, ended.
    let joined = zoom_fixture("meeting_participant_joined.json");
    let mut second: Value = serde_json::from_slice(&joined).unwrap();
    let person = &mut second["payload"]["object"]["participant"];
    person["user_name"] = json!("Grace Hopper");
    person["participant_uuid"] = json!("8B4D6F10-2C3E-4F5A-9B8C-7D6E5F4A3B21");
    person["participant_user_id"] = json!("");
    person["id"] = json!("");
    person["join_time"] = json!("2026-11-23T10:05:00Z");
    let second = serde_json::to_vec(&second).unwrap();
    for body in [
        started.clone(),
        joined,
        second,
        zoom_fixture("meeting_participant_left.json"),
        zoom_fixture("meeting_ended.json"),
    ] {
        let (status, response) = post_zoom(&ingress, &body, now, None).await;
        assert_eq!(
            (status, response),
            (202, json!({"status": "accepted", "incident": INCIDENT}))
        );
    }
    // Zoom delivering an event again is one job (same content, same FIFO dedup id).
    assert_eq!(post_zoom(&ingress, &started, now + 1, None).await.0, 202);
    assert_eq!(
        post_zoom(&ingress, &zoom_fixture("meeting_ended.json"), now + 2, None)
            .await
            .0,
        202
    );
    stand.work(&worker).await;

    let notes = stand.notes().await;
    assert_eq!(
        notes[1..],
        [
            "Zoom meeting 850 1234 5678 started at 10:00 UTC.".to_owned(),
            "Earline Greenholt joined the Zoom meeting 850 1234 5678 at 10:02 UTC, the first on the call. Later joins are listed when the meeting ends.".to_owned(),
            // The incident is still open: the timeline hears that the bridge still works.
            "Zoom meeting 850 1234 5678 ended at 10:42 UTC after 42 min.\nOn the call (2): Earline Greenholt, Grace Hopper.\nThe incident is still open, and its bridge still works: joining with the link starts the meeting again (Zoom keeps it 30 days after its last use).".to_owned(),
        ],
        "all notes: {notes:#?}"
    );
    let pd = ApiStandIns::requests(&stand.apis.pagerduty_upstream).await;
    assert!(
        pd.iter()
            .filter(|r| r.url.path().ends_with("/notes"))
            .all(|r| r.url.path() == "/incidents/PFQZPSY/notes")
    );
}

/// Ends the meeting `grace_seconds` after the resolve; the health checks, whose timers would
/// share the timer queue these tests count, are off.
fn end_policy(grace_seconds: u32) -> BridgePolicy {
    BridgePolicy::from_json(
        &json!({"meeting": {"on_resolve": "end", "end_grace_seconds": grace_seconds, "health": false}}).to_string(),
        None,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reopen_within_the_grace_cancels_the_end_and_a_later_resolve_ends_the_meeting() {
    let stand = Stand::start().await;
    let ingress = stand.ingress(end_policy(2));
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;

    // A reopen the relay never saw resolved (its resolve was lost, or came first elsewhere)
    // changes nothing and says nothing.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.reopened", "reopen-0")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.notes().await.len(), 1, "only the bridge's note");

    // Resolved: a timer is set and the timeline says so; nothing ends yet.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.timers_waiting().await, 1);
    // Reopened within the grace period: the end is cancelled.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.reopened", "reopen-1")
            .await,
        202
    );
    stand.work(&worker).await;
    let notes = stand.notes().await;
    assert_eq!(
        notes[1..],
        [
            "Incident resolved. bridge-relay ends the Zoom meeting 850 1234 5678 in 2 s if the incident stays resolved (a reopen keeps it open).".to_owned(),
            "Incident reopened: the Zoom meeting stays open (its scheduled end is cancelled).".to_owned(),
        ],
        "{notes:#?}"
    );
    // The timer fires after the grace period and finds the incident reopened.
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    assert_eq!(stand.end_calls().await, []);
    assert_eq!(stand.notes().await.len(), 3);

    // Resolved again, and it stays resolved: the meeting is ended once the timer fires.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-2")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    assert_eq!(
        stand.end_calls().await,
        [(
            "PUT /meetings/85012345678/status".to_owned(),
            json!({"action": "end"})
        )],
        "zoom prism:\n{}",
        stand.apis.zoom_prism.output()
    );
    let notes = stand.notes().await;
    assert_eq!(notes.len(), 5, "{notes:#?}");
    assert!(
        notes[4].starts_with(
            "Incident resolved: bridge-relay ended the Zoom meeting 850 1234 5678.\nThe bridge was open for 0 min (since "
        ),
        "{notes:#?}"
    );
    // A repeated resolved webhook after the end changes nothing.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-2b")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.end_calls().await.len(), 1);
    assert_eq!(stand.notes().await.len(), 5);
}

/// The resolve is saved before its end timer is sent: when the send fails, the job's next
/// delivery must queue the timer (and announce it) instead of finding the incident resolved
/// already and leaving the meeting, and its host slot, to run for a day.
#[tokio::test(flavor = "multi_thread")]
async fn a_resolve_whose_end_timer_could_not_be_queued_queues_it_on_its_next_delivery() {
    let stand = Stand::start().await;
    let ingress = stand.ingress(end_policy(2));
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    // The first delivery's timer send fails: its worker's timer queue does not exist.
    stand.deliver_without_timer_queue().await;
    assert_eq!(stand.timers_waiting().await, 0);
    stand.work(&worker).await;
    assert_eq!(stand.timers_waiting().await, 1, "the timer is queued");
    let notes = stand.notes().await;
    assert_eq!(
        notes[1..],
        ["Incident resolved. bridge-relay ends the Zoom meeting 850 1234 5678 in 2 s if the incident stays resolved (a reopen keeps it open).".to_owned()],
        "{notes:#?}"
    );
    assert_eq!(stand.fire_timers(&worker, Duration::from_secs(10)).await, 1);
    assert_eq!(stand.end_calls().await.len(), 1, "the meeting is ended");
    // A repeated resolved webhook queues no second timer.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1b")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.timers_waiting().await, 0);
}

/// The end timer checks the generation, ends the meeting, and saves: a reopen that lands
/// while Zoom is ending the meeting must not leave the open incident marked ended, nor get a
/// closing note.
#[tokio::test(flavor = "multi_thread")]
async fn a_reopen_while_the_timer_ends_the_meeting_keeps_the_incident_open() {
    let stand = Stand::start().await;
    let ingress = stand.ingress(end_policy(1));
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.timers_waiting().await, 1);
    // Zoom takes its time to end the meeting.
    Mock::given(method("PUT"))
        .and(path_regex(r"^/meetings/\d+/status$"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(3)))
        .with_priority(1)
        .mount(&stand.apis.zoom_upstream)
        .await;
    let timer = {
        let worker = worker.clone();
        let stand = &stand;
        async move { stand.fire_timers(&worker, Duration::from_secs(10)).await }
    };
    let reopen = async {
        let sent = eventually(Duration::from_secs(15), || async {
            (!stand.end_calls().await.is_empty()).then_some(())
        })
        .await;
        assert!(sent.is_some(), "the timer sent the end");
        assert_eq!(
            stand
                .pagerduty(&ingress, "incident.reopened", "reopen-1")
                .await,
            202
        );
        stand.work(&worker).await;
    };
    let (fired, ()) = tokio::join!(timer, reopen);
    assert_eq!(fired, 1);
    let view = stand
        .store()
        .get_with_lifecycle(&bridge_relay::model::IncidentKey::from_stored(INCIDENT))
        .await
        .unwrap();
    assert_eq!(view.lifecycle.resolved_at_ms, None, "reopened");
    assert!(
        !view.lifecycle.ended_by_relay,
        "the open incident is not marked ended"
    );
    let notes = stand.notes().await;
    assert!(
        !notes
            .iter()
            .any(|n| n.starts_with("Incident resolved: bridge-relay ended")),
        "no closing note for the reopened incident: {notes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_leaves_the_meeting_open_and_posts_the_closing_note_with_who_joined() {
    let stand = Stand::start().await;
    // Keep (the default), and a review meeting a day after the resolve; no health timers in
    // the timer queue this test counts.
    let policy = BridgePolicy::from_json(
        r#"{"meeting": {"review_after_minutes": 1440, "health": false}}"#,
        None,
    )
    .unwrap();
    let ingress = stand.ingress(policy);
    Mock::given(method("POST"))
        .and(path_regex(r"^/users/[^/]+/meetings$"))
        .and(body_string_contains("Post-incident review"))
        .respond_with(ResponseTemplate::new(201).set_body_json(zoom_meeting_created(REVIEW_ID)))
        .with_priority(1)
        .mount(&stand.apis.zoom_upstream)
        .await;
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;
    let now = now_seconds();
    for fixture in ["meeting_started.json", "meeting_participant_joined.json"] {
        let body = zoom_fixture(fixture);
        assert_eq!(post_zoom(&ingress, &body, now, None).await.0, 202);
    }
    stand.work(&worker).await;

    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;
    let notes = stand.notes().await;
    let closing = notes.last().unwrap();
    assert!(
        closing.starts_with(
            "Incident resolved: the Zoom meeting 850 1234 5678 stays open.\nThe meeting ran for "
        ),
        "{notes:#?}"
    );
    assert!(closing.contains("min (started 10:00 UTC)."), "{closing}");
    assert!(
        closing.ends_with("\nOn the call (1): Earline Greenholt."),
        "{closing}"
    );
    assert_eq!(stand.end_calls().await, []);
    assert_eq!(stand.timers_waiting().await, 0);

    // The review: created once, a day after the resolve, with the person who joined invited.
    let creates: Vec<Value> = ApiStandIns::requests(&stand.apis.zoom_upstream)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(creates.len(), 2, "the bridge and the review: {creates:#?}");
    let review = &creates[1];
    assert_eq!(
        review["topic"],
        "Post-incident review: [#9] Test Incident 3"
    );
    assert_eq!(review["duration"], 30);
    assert_eq!(
        review["settings"]["meeting_invitees"],
        json!([{"email": "earline@example.com"}])
    );
    assert!(
        review["agenda"]
            .as_str()
            .unwrap()
            .starts_with("Post-incident review of PagerDuty incident #9 (review PFQZPSY)"),
        "{review}"
    );
    let start = humantime::parse_rfc3339(review["start_time"].as_str().unwrap()).unwrap();
    let in_a_day = start.duration_since(SystemTime::now()).unwrap().as_secs();
    assert!((86_300..=86_400).contains(&in_a_day), "{in_a_day}");
    let review_note = &notes[notes.len() - 2];
    assert!(
        review_note.starts_with("Post-incident review scheduled for "),
        "{notes:#?}"
    );
    assert!(
        review_note.ends_with(
            " (30 min): https://us06web.zoom.us/j/86000000001?pwd=bGt5dFpvZ3FoTzRrcUFqZz09\nMeeting ID: 860 0000 0001\nPasscode: 48151623\nInvited: earline@example.com"
        ),
        "{review_note}"
    );
    // A repeated resolved webhook schedules no second review.
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1b")
            .await,
        202
    );
    stand.work(&worker).await;
    let posts = ApiStandIns::requests(&stand.apis.zoom_upstream)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(posts, 2);
    assert_eq!(stand.notes().await.len(), notes.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn zoom_events_are_refused_without_the_secret_token_and_lifecycle_events_of_unknown_incidents_do_nothing()
 {
    let stand = Stand::start().await;
    stand
        .aws
        .put_secret(secret_document(&[EXAMPLE_WEBHOOK_SECRET]))
        .await;
    let ingress = stand.ingress(BridgePolicy::default());
    let body = zoom_fixture("meeting_started.json");
    let (status, response) = post_zoom(&ingress, &body, now_seconds(), None).await;
    assert_eq!(status, 401);
    assert!(
        response["error"]
            .as_str()
            .unwrap()
            .contains("zoom.webhook_secret_token"),
        "{response}"
    );
    // A resolve of an incident the relay never bridged is queued and does nothing.
    let worker = stand.worker();
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-x")
            .await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(stand.notes().await, Vec::<String>::new());
    assert_eq!(stand.end_calls().await, []);
}

/// An SQS event of one message from the timer queue (a standard queue: no message group).

#[tokio::test(flavor = "multi_thread")]
async fn a_grace_longer_than_one_sqs_delay_waits_in_hops() {
    let stand = Stand::start().await;
    let ingress = stand.ingress(end_policy(3600));
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;
    // The timer waits in the queue, delayed (SQS's 15-minute maximum), not receivable yet.
    assert_eq!(stand.timers_waiting().await, 1);
    assert_eq!(
        stand.fire_timers(&worker, Duration::from_millis(500)).await,
        0
    );

    // A hop arrives before the grace period is over: it goes back for another hop.
    let now_ms = now_seconds() * 1000;
    let hop = |due_at_ms: u64| {
        json!({"webhook_id": "resolve-1#end-1", "event_id": "resolve-1",
               "event_type": "incident.resolved", "incident": {"id": INCIDENT},
               "meeting": {"on_resolve": "end", "end_grace_seconds": 3600},
               "action": "end_meeting", "timer": {"due_at_ms": due_at_ms, "generation": 1}})
    };
    let response = handle_sqs(
        worker.clone(),
        LambdaEvent::new(
            timer_delivery(&hop(now_ms + 2_700_000)),
            invocation_context(Duration::from_secs(60)),
        ),
    )
    .await
    .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(stand.timers_waiting().await, 2);
    assert_eq!(stand.end_calls().await, []);

    // A timer of an older resolution never ends the meeting.
    let mut stale = hop(now_ms - 1000);
    stale["timer"]["generation"] = json!(0);
    handle_sqs(
        worker.clone(),
        LambdaEvent::new(
            timer_delivery(&stale),
            invocation_context(Duration::from_secs(60)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(stand.end_calls().await, []);

    // The last hop, once due, ends it.
    handle_sqs(
        worker.clone(),
        LambdaEvent::new(
            timer_delivery(&hop(now_ms - 1000)),
            invocation_context(Duration::from_secs(60)),
        ),
    )
    .await
    .unwrap();
    assert_eq!(stand.end_calls().await.len(), 1);
    let notes = stand.notes().await;
    assert!(
        notes[1].contains("in 60 min if the incident stays resolved"),
        "{notes:#?}"
    );
    assert!(
        notes[2].starts_with("Incident resolved: bridge-relay ended the Zoom meeting"),
        "{notes:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_review_zoom_refuses_is_noted_and_the_meeting_is_still_closed() {
    let stand = Stand::start().await;
    let policy = BridgePolicy::from_json(
        r#"{"meeting": {"review_after_minutes": 60, "on_resolve": "end", "end_grace_seconds": 0}}"#,
        None,
    )
    .unwrap();
    let ingress = stand.ingress(policy);
    Mock::given(method("POST"))
        .and(path_regex(r"^/users/[^/]+/meetings$"))
        .and(body_string_contains("Post-incident review"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"code": 3161, "message": "Meeting hosting and scheduling capabilities are not allowed for your user account."}),
        ))
        .with_priority(1)
        .mount(&stand.apis.zoom_upstream)
        .await;
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;
    let notes = stand.notes().await;
    assert_eq!(notes.len(), 3, "{notes:#?}");
    assert!(
        notes[1].starts_with("bridge-relay could not schedule the post-incident review: creating the post-incident review meeting failed:"),
        "{notes:#?}"
    );
    assert!(
        notes[2]
            .starts_with("Incident resolved: bridge-relay ended the Zoom meeting 850 1234 5678."),
        "{notes:#?}"
    );
    assert_eq!(stand.end_calls().await.len(), 1);
}

/// Queues `event` for the incident again under another delivery id, as a delivery of Zoom's
/// hours later would reach the queue (past its deduplication window).
async fn redeliver(stand: &Stand, event: &Value, delivery: &str) {
    let bridge_relay::zoom::webhook::Notification::Artifact(artifact) =
        bridge_relay::zoom::webhook::parse(&serde_json::to_vec(event).unwrap()).unwrap()
    else {
        panic!("not an after-call event: {event}");
    };
    let job = json!({
        "webhook_id": delivery, "event_id": delivery,
        "event_type": artifact.artifact.event_type(), "incident": {"id": INCIDENT},
        "action": "zoom_artifact", "artifact": artifact,
    });
    aws_sdk_sqs::Client::new(&stand.aws.config)
        .send_message()
        .queue_url(&stand.aws.queue_url)
        .message_body(job.to_string())
        .message_group_id(INCIDENT)
        .message_deduplication_id(delivery)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_call_the_summary_recording_and_transcript_follow_the_closing_note_once_each() {
    let stand = Stand::start().await;
    let policy =
        BridgePolicy::from_json(r#"{"meeting": {"after_call": {"transcript": true}}}"#, None)
            .unwrap();
    let ingress = stand.ingress(policy);
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;

    // The call: started, the first join, ended; then the incident resolves.
    for name in [
        "meeting_started.json",
        "meeting_participant_joined.json",
        "meeting_ended.json",
    ] {
        assert_eq!(zoom_event(&ingress, &zoom_json(name)).await, 202);
    }
    stand.work(&worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;

    // Zoom's artifacts, each delivered twice, one of them again hours later; an edit of the
    // summary, twice; and the artifacts of a meeting the relay did not make.
    let summary = zoom_json("meeting_summary_completed.json");
    let recording = zoom_json("recording_completed.json");
    let transcript = zoom_json("recording_transcript_completed.json");
    let edited = zoom_json("meeting_summary_updated.json");
    for event in [&summary, &summary, &recording, &recording, &transcript] {
        assert_eq!(zoom_event(&ingress, event).await, 202);
    }
    stand.work(&worker).await;
    redeliver(&stand, &recording, "zoom-recording-again").await;
    for event in [&edited, &edited] {
        assert_eq!(zoom_event(&ingress, event).await, 202);
    }
    stand.work(&worker).await;
    let mut stranger = recording.clone();
    stranger["payload"]["object"]["id"] = json!(99999999999u64);
    let (status, answer) = post_zoom(
        &ingress,
        &serde_json::to_vec(&stranger).unwrap(),
        now_seconds(),
        None,
    )
    .await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (200, Some("meeting 99999999999 is not one of the relay's"))
    );
    assert_eq!(stand.aws.queue_depth().await, 0);

    let notes = stand.notes().await;
    assert_eq!(notes.len(), 9, "{notes:#?}");
    assert!(notes[0].starts_with("Zoom bridge opened"), "{notes:#?}");
    assert!(notes[1].starts_with("Zoom meeting 850 1234 5678 started"));
    assert!(notes[2].contains("joined the Zoom meeting 850 1234 5678"));
    assert!(notes[3].starts_with("Zoom meeting 850 1234 5678 ended"));
    assert!(
        notes[4].starts_with("Incident resolved: the Zoom meeting 850 1234 5678 stays open.")
            && !notes[4].contains("summary"),
        "{notes:#?}"
    );
    assert!(
        notes[5].starts_with(
            "Zoom meeting summary of meeting 850 1234 5678: Meeting Summary for my meeting\n\nNext steps:\n- step1\n\n## Key takeaways\n"
        ),
        "{}",
        notes[5]
    );
    assert!(notes[5].contains("## Action items"), "{}", notes[5]);
    assert!(
        notes[5].ends_with(
            "\n\nFull summary in Zoom Docs: https://docs.example.com/doc/1aBcDeFgHiJkLmNoPqRsTu"
        ),
        "{}",
        notes[5]
    );
    assert_eq!(
        notes[6],
        "Zoom cloud recording of meeting 850 1234 5678 is ready (60 min): https://example.com\nPasscode: 132456\nFiles: audio, video."
    );
    assert_eq!(
        notes[7],
        "Zoom transcript of meeting 850 1234 5678 is ready: https://example.com\nPasscode: 123456"
    );
    assert!(
        notes[8]
            .starts_with("The Zoom meeting summary of meeting 850 1234 5678 was edited in Zoom"),
        "{}",
        notes[8]
    );
    for note in &notes {
        assert!(!note.contains("download"), "{note}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_summary_without_its_text_is_fetched_and_zoom_refusals_are_said_once() {
    let stand = Stand::start().await;
    // The policy leaves recordings off for the incident's service.
    let policy = BridgePolicy::from_json(
        r#"{"overrides": [{"services": ["pig208"], "meeting": {"after_call": {"recording": false}}}]}"#,
        None,
    )
    .unwrap();
    let ingress = stand.ingress(policy);
    let worker = stand.worker();
    bridge(&stand, &ingress, &worker).await;

    // Zoom's example answer for one meeting instance, its documented refusals for two others.
    let mut answer: Value = serde_json::from_slice(&zoom_fixture("meeting_summary_completed.json"))
        .map(|event: Value| event["payload"]["object"].clone())
        .unwrap();
    answer["summary_content"] = json!("## Key takeaways\n- The cache was cold after the deploy.");
    answer["next_steps"] = json!(["Warm the cache before a deploy"]);
    Mock::given(method("GET"))
        .and(path_regex(r"^/meetings/fetched-instance/meeting_summary$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&stand.apis.zoom_upstream)
        .await;
    for (instance, status, code) in [
        ("unpaid-instance", 400, 200),
        ("unpaid-again", 400, 200),
        ("restricted-instance", 403, 2305),
        ("missing-instance", 404, 3001),
    ] {
        Mock::given(method("GET"))
            .and(path_regex(format!(
                "^/meetings/{instance}/meeting_summary$"
            )))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_json(json!({"code": code, "message": "refused"})),
            )
            .mount(&stand.apis.zoom_upstream)
            .await;
    }
    let bare_summary = |instance: &str| {
        json!({"event": "meeting.summary_completed", "event_ts": 1_795_430_700_000u64,
               "payload": {"account_id": "dzVA4QmMQfyISoRcpFO8CA",
                           "object": {"meeting_id": MEETING_ID, "meeting_uuid": instance,
                                      "summary_title": "Checkout incident"}}})
    };
    for instance in [
        "fetched-instance",
        "unpaid-instance",
        "unpaid-again",
        "restricted-instance",
        "missing-instance",
    ] {
        assert_eq!(zoom_event(&ingress, &bare_summary(instance)).await, 202);
        stand.work(&worker).await;
    }
    // The recording is left off by the policy; the summary came before the resolve, so the
    // closing note points to it.
    assert_eq!(
        zoom_event(&ingress, &zoom_json("recording_completed.json")).await,
        202
    );
    stand.work(&worker).await;
    assert_eq!(
        stand
            .pagerduty(&ingress, "incident.resolved", "resolve-1")
            .await,
        202
    );
    stand.work(&worker).await;

    let notes = stand.notes().await;
    assert_eq!(
        notes[1..5],
        [
            "Zoom meeting summary of meeting 850 1234 5678: Meeting Summary for my meeting\n\nNext steps:\n- Warm the cache before a deploy\n\n## Key takeaways\n- The cache was cold after the deploy.\n\nFull summary in Zoom Docs: https://docs.example.com/doc/1aBcDeFgHiJkLmNoPqRsTu".to_owned(),
            "No Zoom meeting summary of meeting 850 1234 5678 on this incident: Zoom makes AI Companion meeting summaries for paid accounts only (Zoom answered 400, code 200).".to_owned(),
            "No Zoom meeting summary of meeting 850 1234 5678 on this incident: an account setting in Zoom restricts access to meeting summaries (Zoom answered 403, code 2305); an admin can allow it under AI Companion settings.".to_owned(),
            "No Zoom meeting summary of meeting 850 1234 5678 on this incident: Zoom has no summary of this meeting (Zoom answered 404, code 3001).".to_owned(),
        ],
        "{notes:#?}"
    );
    assert_eq!(notes.len(), 6, "{notes:#?}");
    assert!(
        notes[5].ends_with("\nZoom's meeting summary is on the timeline above."),
        "{}",
        notes[5]
    );
    let fetches: Vec<String> = ApiStandIns::requests(&stand.apis.zoom_upstream)
        .await
        .iter()
        .filter(|r| r.url.path().ends_with("/meeting_summary"))
        .map(|r| r.url.path().to_owned())
        .collect();
    assert_eq!(fetches.len(), 5, "{fetches:?}");
}

//! The PagerDuty V3 webhook parser and the bridge decision on whatever it returns.
//! Never panics; what it accepts has an event id, a type and, if any, a non-empty incident id,
//! and the job made from it survives the queue's JSON unchanged.
#![no_main]

use bridge_relay::model::Job;
use bridge_relay::pagerduty::webhook;
use bridge_relay::policy::{BridgePolicy, Decision};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = webhook::parse(data) else {
        return;
    };
    assert!(!event.id.is_empty() && !event.event_type.is_empty());
    if let Some(incident) = &event.incident {
        assert!(
            !incident.id.is_empty(),
            "an incident without an id: {event:?}"
        );
    }
    let policy = BridgePolicy::from_event_list("incident.triggered,incident.escalated")
        .expect("a valid policy");
    if let Decision::Bridge(incident) = policy.decide(&event.clone().into_incident_event()) {
        let job = Job {
            webhook_id: event.id.clone(),
            event_id: event.id,
            event_type: event.event_type,
            meeting: policy.meeting_for(&incident),
            incident: *incident,
            requested_by: None,
            received_at_ms: Some(1_795_428_000_000),
            failure: None,
            tool: Default::default(),
            action: Default::default(),
            requeued_after_waiting: false,
        };
        assert_eq!(
            Job::from_json(&job.to_json()).expect("a job reads back"),
            job
        );
    }
});

//! The meeting follows its incident: a reassignment carrying a new title, and a priority
//! change, bring the Zoom meeting's topic and agenda in step with one `PATCH /meetings/{id}`
//! each, checked by Prism against Zoom's spec; the same state delivered again sends none.
//! Run through the local runner (`serve`) against Prism proxies of the official specs.

use std::process::Command;
use std::time::Duration;

use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, ResponseTemplate};

const MEETING_ID: u64 = 85012345678;
const WEBHOOK_SECRET: &str = "follow-secret-one";

/// Sends the captured triggered webhook as `event_type`, with `change` applied to its incident.
async fn send(base: &str, event_type: &str, event_id: &str, change: impl FnOnce(&mut Value)) {
    let mut body =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    body["event"]["event_type"] = json!(event_type);
    body["event"]["id"] = json!(event_id);
    change(&mut body["event"]["data"]);
    let body = serde_json::to_vec(&body).unwrap();
    let response = bridge_relay::http::client()
        .post(format!("{base}/webhook"))
        .header("x-pagerduty-signature", sign(&body, WEBHOOK_SECRET))
        .header("x-webhook-id", event_id)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202, "{event_type} {event_id}");
}

/// The bodies of the meeting updates Zoom got, oldest first.
async fn updates(apis: &ApiStandIns) -> Vec<Value> {
    ApiStandIns::requests(&apis.zoom_upstream)
        .await
        .iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retitle_and_a_priority_change_each_update_the_meeting_once() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&apis.zoom_upstream)
        .await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-follow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_document(&[WEBHOOK_SECRET])).unwrap();
    let (runner, port) =
        Process::spawn_listening("bridge-relay-follow", Duration::from_secs(10), |port| {
            let mut command: Command = serve_command(&secrets, port);
            command.envs(apis.env());
            command
        });
    let base = format!("http://127.0.0.1:{port}");
    let handled = |what: &'static str, times: usize| {
        let runner = &runner;
        async move {
            eventually(Duration::from_secs(20), || async {
                (runner.output().matches(what).count() >= times).then_some(())
            })
            .await
            .unwrap_or_else(|| panic!("no {times}× {what:?}:\n{}", runner.output()))
        }
    };

    send(&base, "incident.triggered", "follow-1", |_| {}).await;
    handled("bridge and note posted", 1).await;
    assert!(
        updates(&apis).await.is_empty(),
        "the new meeting is current"
    );

    let retitled = |data: &mut Value| {
        data["title"] = json!("Checkout API 5xx after the 4.2 deploy");
        data["assignees"][0]["summary"] = json!("Grace Hopper");
    };
    send(&base, "incident.reassigned", "follow-2", retitled).await;
    handled("follow job: Zoom meeting 85012345678 now reads", 1).await;
    let sent = updates(&apis).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0]["topic"],
        "[#9] Checkout API 5xx after the 4.2 deploy"
    );
    assert!(
        sent[0]["agenda"]
            .as_str()
            .unwrap()
            .contains("\nCheckout API 5xx after the 4.2 deploy\n"),
        "{sent:?}"
    );

    // Another event of the same incident as it is now: nothing to change, no update sent.
    send(&base, "incident.escalated", "follow-3", retitled).await;
    handled(
        "job: the meeting's topic and agenda are the incident's already",
        1,
    )
    .await;
    assert_eq!(updates(&apis).await.len(), 1);

    send(&base, "incident.priority_updated", "follow-4", |data| {
        retitled(data);
        data["priority"] = json!({"id": "PSEV1", "summary": "P1", "type": "priority"});
    })
    .await;
    handled("follow job: Zoom meeting 85012345678 now reads", 2).await;
    let sent = updates(&apis).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1]["agenda"].as_str().unwrap().contains("Priority: P1"),
        "{sent:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_deleted_in_zoom_is_said_once_and_not_updated_again() {
    let apis = ApiStandIns::start(MEETING_ID).await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"code": 3001, "message": "Meeting does not exist: 85012345678."}),
        ))
        .mount(&apis.zoom_upstream)
        .await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-gone-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_document(&[WEBHOOK_SECRET])).unwrap();
    let (runner, port) =
        Process::spawn_listening("bridge-relay-gone", Duration::from_secs(10), |port| {
            let mut command: Command = serve_command(&secrets, port);
            command.envs(apis.env());
            command
        });
    let base = format!("http://127.0.0.1:{port}");
    send(&base, "incident.triggered", "gone-1", |_| {}).await;
    for (n, event_id) in ["gone-2", "gone-3"].into_iter().enumerate() {
        send(&base, "incident.reassigned", event_id, |data| {
            data["title"] = json!(format!("Retitled {n}"));
        })
        .await;
    }
    let settled = eventually(Duration::from_secs(20), || async {
        runner
            .output()
            .contains("is gone; it is no longer updated")
            .then_some(())
    })
    .await;
    assert!(settled.is_some(), "{}", runner.output());
    assert_eq!(
        updates(&apis).await.len(),
        1,
        "updated after Zoom said it is gone"
    );
    let notes = apis.notes().await;
    let gone: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("no longer exists in Zoom"))
        .collect();
    assert_eq!(gone.len(), 1, "{notes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

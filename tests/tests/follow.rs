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

/// The meeting updates that set its topic, oldest first.
async fn label_updates(apis: &ApiStandIns) -> Vec<Value> {
    updates(apis)
        .await
        .into_iter()
        .filter(|u| u.get("topic").is_some())
        .collect()
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
    let (apis, runner, base, dir) = serve_following("bridge-relay-follow", None).await;
    let handled = |what: &'static str, times: usize| wait_for_output(&runner, what, times);

    send(&base, "incident.triggered", "follow-1", |_| {}).await;
    handled("bridge and note posted", 1).await;
    assert!(
        label_updates(&apis).await.is_empty(),
        "the new meeting is current"
    );

    let retitled = |data: &mut Value| {
        data["title"] = json!("Checkout API 5xx after the 4.2 deploy");
        data["assignees"][0]["summary"] = json!("Grace Hopper");
    };
    send(&base, "incident.reassigned", "follow-2", retitled).await;
    handled("follow job: Zoom meeting 85012345678 now reads", 1).await;
    let sent = label_updates(&apis).await;
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
        "job: the meeting's topic, agenda and hosts are the incident's already",
        1,
    )
    .await;
    assert_eq!(label_updates(&apis).await.len(), 1);

    send(&base, "incident.priority_updated", "follow-4", |data| {
        retitled(data);
        data["priority"] = json!({"id": "PSEV1", "summary": "P1", "type": "priority"});
    })
    .await;
    handled("follow job: Zoom meeting 85012345678 now reads", 2).await;
    let sent = label_updates(&apis).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1]["agenda"].as_str().unwrap().contains("Priority: P1"),
        "{sent:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_meeting_deleted_in_zoom_is_said_once_and_not_updated_again() {
    let (apis, runner, base, dir) = serve_following("bridge-relay-gone", None).await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"code": 3001, "message": "Meeting does not exist: 85012345678."}),
        ))
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
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

/// Starts `serve` on the stand-ins with `policy` (none: the default), PATCH answered 204.
async fn serve_following(
    name: &str,
    policy: Option<&str>,
) -> (ApiStandIns, Process, String, std::path::PathBuf) {
    let apis = ApiStandIns::start(MEETING_ID).await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/meetings/\d+$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&apis.zoom_upstream)
        .await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_document(&[WEBHOOK_SECRET])).unwrap();
    let (runner, port) = Process::spawn_listening(name, Duration::from_secs(10), |port| {
        let mut command: Command = serve_command(&secrets, port);
        command.envs(apis.env());
        if let Some(policy) = policy {
            command.env("POLICY", policy);
        }
        command
    });
    (apis, runner, format!("http://127.0.0.1:{port}"), dir)
}

/// `users` (PagerDuty ids and names) as the incident's assignees.
fn assigned(users: &'static [(&'static str, &'static str)]) -> impl Fn(&mut Value) {
    move |data: &mut Value| {
        data["assignees"] = json!(
            users
                .iter()
                .map(|(id, name)| json!({"id": id, "summary": name, "type": "user_reference",
                                         "self": format!("https://api.pagerduty.com/users/{id}"),
                                         "html_url": format!("https://acme.pagerduty.com/users/{id}")}))
                .collect::<Vec<_>>()
        );
    }
}

/// What the meeting's updates set as its alternative hosts, oldest first.
async fn host_lists(apis: &ApiStandIns) -> Vec<String> {
    updates(apis)
        .await
        .iter()
        .filter_map(|u| {
            assert_eq!(
                u["settings"]["alternative_hosts_email_notification"],
                json!(false),
                "Zoom would e-mail each host: {u}"
            );
            u["settings"]["alternative_hosts"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

async fn wait_for_output(runner: &Process, what: &str, times: usize) {
    eventually(Duration::from_secs(20), || async {
        (runner.output().matches(what).count() >= times).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("no {times}× {what:?}:\n{}", runner.output()));
}

#[tokio::test(flavor = "multi_thread")]
async fn responders_get_host_controls_and_those_who_cannot_are_named_once() {
    let (apis, runner, base, dir) = serve_following("bridge-relay-hosts", None).await;
    apis.responder(
        "PADA001",
        "Ada Lovelace",
        "Ada.Lovelace@Example.COM",
        Some(2),
    )
    .await;
    apis.responder("PGRACE1", "Grace Hopper", "grace@example.com", Some(2))
        .await;
    apis.responder("PLINUS1", "Linus Basic", "linus@example.com", Some(1))
        .await;
    apis.responder("PNOBODY", "Nobody Known", "nobody@example.com", None)
        .await;

    send(
        &base,
        "incident.triggered",
        "hosts-1",
        assigned(&[("PADA001", "Ada Lovelace")]),
    )
    .await;
    wait_for_output(&runner, "has 1 alternative host(s)", 1).await;
    assert_eq!(host_lists(&apis).await, ["ada.lovelace@example.com"]);
    let first = &updates(&apis).await[0];
    assert!(
        first.get("topic").is_none(),
        "the topic did not change: {first}"
    );

    let reassigned = assigned(&[
        ("PGRACE1", "Grace Hopper"),
        ("PLINUS1", "Linus Basic"),
        ("PNOBODY", "Nobody Known"),
    ]);
    send(&base, "incident.reassigned", "hosts-2", &reassigned).await;
    wait_for_output(&runner, "has 2 alternative host(s)", 1).await;
    // The same responders again (another event, or PagerDuty's retry): nothing new.
    send(&base, "incident.escalated", "hosts-3", &reassigned).await;
    wait_for_output(&runner, "are the incident's already", 1).await;

    // Host controls are never taken away during the incident (the default, accumulate).
    assert_eq!(
        host_lists(&apis).await,
        [
            "ada.lovelace@example.com",
            "ada.lovelace@example.com;grace@example.com"
        ]
    );
    let notes = apis.notes().await;
    let named: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("Not given host controls"))
        .collect();
    assert_eq!(named.len(), 1, "{notes:#?}");
    assert!(
        named[0].contains("- Linus Basic is a Basic user"),
        "{}",
        named[0]
    );
    assert!(
        named[0].contains("- Nobody Known is not a user of the Zoom account"),
        "{}",
        named[0]
    );
    assert!(!named[0].contains("Grace"), "{}", named[0]);
    // Each responder is looked up once: the check is kept in the store.
    for (pd, zoom) in [
        ("/users/PGRACE1", "/users/grace@example.com"),
        ("/users/PLINUS1", "/users/linus@example.com"),
    ] {
        assert_eq!(
            ApiStandIns::calls(&apis.pagerduty_upstream, "GET", pd).await,
            1,
            "{pd}"
        );
        assert_eq!(
            ApiStandIns::calls(&apis.zoom_upstream, "GET", zoom).await,
            1,
            "{zoom}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_hosts_current_a_reassignment_moves_host_controls() {
    let policy = r#"{"meeting": {"hosts": "current"}}"#;
    let (apis, runner, base, dir) = serve_following("bridge-relay-current", Some(policy)).await;
    apis.responder("PADA001", "Ada Lovelace", "ada@example.com", Some(2))
        .await;
    apis.responder("PGRACE1", "Grace Hopper", "grace@example.com", Some(2))
        .await;
    send(
        &base,
        "incident.triggered",
        "current-1",
        assigned(&[("PADA001", "Ada Lovelace")]),
    )
    .await;
    wait_for_output(&runner, "has 1 alternative host(s)", 1).await;
    send(
        &base,
        "incident.reassigned",
        "current-2",
        assigned(&[("PGRACE1", "Grace Hopper")]),
    )
    .await;
    wait_for_output(&runner, "has 1 alternative host(s)", 2).await;
    assert_eq!(
        host_lists(&apis).await,
        ["ada@example.com", "grace@example.com"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_hosts_none_no_responder_is_looked_up() {
    let policy = r#"{"meeting": {"hosts": "none"}}"#;
    let (apis, runner, base, dir) = serve_following("bridge-relay-nohosts", Some(policy)).await;
    apis.responder("PADA001", "Ada Lovelace", "ada@example.com", Some(2))
        .await;
    send(
        &base,
        "incident.triggered",
        "none-1",
        assigned(&[("PADA001", "Ada Lovelace")]),
    )
    .await;
    wait_for_output(&runner, "bridge and note posted", 1).await;
    send(
        &base,
        "incident.reassigned",
        "none-2",
        assigned(&[("PADA001", "Ada Lovelace")]),
    )
    .await;
    wait_for_output(&runner, "are the incident's already", 1).await;
    assert!(updates(&apis).await.is_empty());
    assert_eq!(
        ApiStandIns::calls(&apis.pagerduty_upstream, "GET", "/users/PADA001").await,
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_zoom_refuses_is_dropped_and_named_and_an_added_responder_keeps_the_topic() {
    let (apis, runner, base, dir) = serve_following("bridge-relay-refused", None).await;
    apis.responder("PADA001", "Ada Lovelace", "ada@example.com", Some(2))
        .await;
    // Zoom lists Linus as licensed, yet will not take them as an alternative host.
    apis.responder("PLINUS1", "Linus Torvalds", "linus@example.com", Some(2))
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex(r"^/meetings/\d+$"))
        .and(wiremock::matchers::body_string_contains(
            "linus@example.com",
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 1114,
            "message": "Unable to assign 'linus@example.com' as an alternative host."
        })))
        .with_priority(1)
        .mount(&apis.zoom_upstream)
        .await;
    send(
        &base,
        "incident.triggered",
        "refused-1",
        assigned(&[("PADA001", "Ada Lovelace")]),
    )
    .await;
    wait_for_output(&runner, "has 1 alternative host(s)", 1).await;

    // incident.responder.added carries the responder and a reference to the incident only.
    let responder: Value = read_json(
        "tests/fixtures/pagerduty-webhooks/official-developer-docs/data_incident_responder.json",
    );
    send(&base, "incident.responder.added", "refused-2", |data| {
        *data = responder;
        data["incident"]["id"] = json!("PFQZPSY");
        data["user"]["id"] = json!("PLINUS1");
        data["user"]["summary"] = json!("Linus Torvalds");
    })
    .await;
    wait_for_output(&runner, "has 1 alternative host(s)", 2).await;
    let sent = updates(&apis).await;
    assert!(
        sent.iter().all(|u| u.get("topic").is_none()),
        "an incident reference has no title or priority to render: {sent:?}"
    );
    let lists: Vec<&str> = sent
        .iter()
        .map(|u| u["settings"]["alternative_hosts"].as_str().unwrap())
        .collect();
    assert_eq!(
        lists,
        [
            "ada@example.com",
            "ada@example.com;linus@example.com",
            "ada@example.com"
        ]
    );
    let notes = apis.notes().await;
    let named: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("Not given host controls"))
        .collect();
    assert_eq!(named.len(), 1, "{notes:#?}");
    assert!(
        named[0].contains("- Linus Torvalds was refused by Zoom"),
        "{}",
        named[0]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn responders_are_asked_for_again_later_when_pagerduty_cannot_answer_now() {
    let (apis, runner, base, dir) = serve_following("bridge-relay-pd-down", None).await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/users/P[A-Z0-9]+$"))
        .respond_with(ResponseTemplate::new(503))
        .with_priority(1)
        .mount(&apis.pagerduty_upstream)
        .await;
    send(
        &base,
        "incident.triggered",
        "down-1",
        assigned(&[("PADA001", "Ada Lovelace"), ("PGRACE1", "Grace Hopper")]),
    )
    .await;
    wait_for_output(
        &runner,
        "bridged; the meeting's topic, agenda and hosts are the incident's already",
        1,
    )
    .await;
    // One responder's look-up used the retries; the other waits for the next event.
    assert!(ApiStandIns::calls(&apis.pagerduty_upstream, "GET", "/users/PADA001").await > 1);
    assert_eq!(
        ApiStandIns::calls(&apis.pagerduty_upstream, "GET", "/users/PGRACE1").await,
        0
    );
    assert!(updates(&apis).await.is_empty());
    let notes = apis.notes().await;
    assert_eq!(notes.len(), 1, "the bridge note only: {notes:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! The sandboxes are honest stand-ins: they refuse what Zoom, PagerDuty and incident.io
//! refuse, so `bridge-relay demo` fails when the relay gets a call wrong. Each check here is
//! one refusal of the real service, asked for over HTTP; the last test has the relay itself
//! send a wrong `From` and get no bridge.

use std::time::Duration;

use base64::Engine;
use bridge_relay_sandbox::{Credentials, NewIncident, Person, Sandbox, Tool};
use bridge_relay_tests::*;
use serde_json::{Value, json};

async fn sandbox() -> (Sandbox, Credentials, reqwest::Client) {
    let http = bridge_relay::http::client();
    let sandbox = Sandbox::start(http.clone()).await.unwrap();
    let credentials = sandbox.credentials();
    (sandbox, credentials, http)
}

fn incident() -> NewIncident {
    NewIncident {
        title: "Disk full on db-1".into(),
        service: "database".into(),
        urgency: "high".into(),
        assignee: Person::new("Earline Greenholt", "earline@sandbox.example"),
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn token(sandbox: &Sandbox, http: &reqwest::Client, c: &Credentials) -> (u16, Value) {
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", c.zoom_client_id, c.zoom_client_secret));
    answer(
        http.post(format!(
            "{}/oauth/token?grant_type=account_credentials&account_id={}",
            sandbox.zoom_oauth_base(),
            c.zoom_account_id
        ))
        .header("authorization", format!("Basic {basic}")),
    )
    .await
}

#[tokio::test]
async fn zoom_takes_only_the_apps_credentials_and_only_its_newest_token() {
    let (sandbox, c, http) = sandbox().await;
    let wrong = Credentials {
        zoom_client_secret: "not-the-secret".into(),
        ..c.clone()
    };
    assert_eq!(token(&sandbox, &http, &wrong).await.0, 401);
    let other_account = Credentials {
        zoom_account_id: "another-account".into(),
        ..c.clone()
    };
    assert_eq!(token(&sandbox, &http, &other_account).await.0, 400);

    let first = token(&sandbox, &http, &c).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = token(&sandbox, &http, &c).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let user = format!("{}/users/{}", sandbox.zoom_api_base(), c.host_user);
    let (status, body) = answer(http.get(&user).bearer_auth(&first)).await;
    assert_eq!((status, body["code"].clone()), (401, json!(124)), "{body}");
    assert_eq!(answer(http.get(&user).bearer_auth(&second)).await.0, 200);
    assert_eq!(answer(http.get(&user)).await.0, 401);
}

#[tokio::test]
async fn zoom_refuses_bad_create_bodies_unknown_hosts_and_the_101st_create_of_a_day() {
    let (sandbox, c, http) = sandbox().await;
    let access = token(&sandbox, &http, &c).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let create = |host: &str, body: Value| {
        http.post(format!("{}/users/{host}/meetings", sandbox.zoom_api_base()))
            .bearer_auth(&access)
            .json(&body)
    };
    let good = json!({"topic": "Incident", "type": 2, "password": "12345678", "duration": 60,
                      "start_time": "2026-12-07T10:00:00Z", "settings": {}});
    let (status, body) = answer(create(&c.host_user, json!({"password": "has space"}))).await;
    assert_eq!((status, body["code"].clone()), (400, json!(300)), "{body}");
    let (status, body) = answer(create("nobody@sandbox.example", good.clone())).await;
    assert_eq!((status, body["code"].clone()), (404, json!(1001)), "{body}");
    for n in 0..100 {
        assert_eq!(
            answer(create(&c.host_user, good.clone())).await.0,
            201,
            "create {n}"
        );
    }
    let (status, body) = answer(create(&c.host_user, good)).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("daily rate limit (100)"),
        "{body}"
    );
}

#[tokio::test]
async fn zoom_takes_only_licensed_alternative_hosts_and_deletes_a_meeting_that_never_ran() {
    let (sandbox, c, http) = sandbox().await;
    let access = token(&sandbox, &http, &c).await.1["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = sandbox.zoom_api_base();
    let good = json!({"topic": "Incident", "type": 2, "password": "12345678", "duration": 60,
                      "start_time": "2026-12-07T10:00:00Z", "settings": {}});
    let (status, created) = answer(
        http.post(format!("{api}/users/{}/meetings", c.host_user))
            .bearer_auth(&access)
            .json(&good),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    let patch = |hosts: &str| {
        http.patch(format!("{api}/meetings/{id}"))
            .bearer_auth(&access)
            .json(&json!({"settings": {"alternative_hosts": hosts}}))
    };
    let (status, body) = answer(patch("grace@sandbox.example;linus@sandbox.example")).await;
    assert_eq!((status, body["code"].clone()), (400, json!(1114)), "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("'linus@sandbox.example'")
    );
    assert_eq!(answer(patch("Grace@Sandbox.example")).await.0, 204);
    let (status, user) = answer(
        http.get(format!("{api}/users/linus@sandbox.example"))
            .bearer_auth(&access),
    )
    .await;
    assert_eq!(
        (status, user["type"].clone()),
        (200, json!(1)),
        "a Basic user"
    );

    let instances = || {
        http.get(format!("{api}/past_meetings/{id}/instances"))
            .bearer_auth(&access)
    };
    assert_eq!(answer(instances()).await.0, 404, "it never ran");
    let delete = || {
        http.delete(format!("{api}/meetings/{id}"))
            .bearer_auth(&access)
    };
    assert_eq!(answer(delete()).await.0, 204);
    assert_eq!(answer(delete()).await.0, 404);
    assert!(
        sandbox
            .meetings_for("")
            .iter()
            .any(|m| m.id == id && m.deleted)
    );
}

#[tokio::test]
async fn pagerduty_wants_its_token_version_2_and_a_from_of_the_account() {
    let (sandbox, c, http) = sandbox().await;
    let (id, _) = sandbox
        .prepare_trigger(Tool::PagerDuty, incident())
        .unwrap();
    let notes = format!("{}/incidents/{id}/notes", sandbox.pagerduty_api_base());
    let note = json!({"note": {"content": "hello"}});
    let request = |from: &str| {
        http.post(&notes)
            .header(
                "authorization",
                format!("Token token={}", c.pagerduty_api_token),
            )
            .header("accept", "application/vnd.pagerduty+json;version=2")
            .header("from", from)
            .json(&note)
    };
    let (status, body) = answer(request("stranger@example.com")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["errors"][0], "Requester User Not Found");
    assert_eq!(
        answer(request(&c.relay_user.email).header("authorization", "Token token=old"))
            .await
            .0,
        401
    );
    let without_accept = http
        .post(&notes)
        .header(
            "authorization",
            format!("Token token={}", c.pagerduty_api_token),
        )
        .header("from", &c.relay_user.email)
        .json(&note);
    assert_eq!(answer(without_accept).await.0, 406);
    let blank = request(&c.relay_user.email).json(&json!({"note": {"content": " "}}));
    assert_eq!(answer(blank).await.0, 400);
    assert!(sandbox.incident(&id).unwrap().notes.is_empty());
    assert_eq!(answer(request(&c.relay_user.email)).await.0, 201);
    assert_eq!(sandbox.incident(&id).unwrap().notes.len(), 1);
}

#[tokio::test]
async fn incident_io_wants_its_key_the_notify_flag_and_keeps_one_item_per_idempotency_key() {
    let (sandbox, c, http) = sandbox().await;
    let (id, _) = sandbox
        .prepare_trigger(Tool::IncidentIo, incident())
        .unwrap();
    let base = sandbox.incident_io_api_base();
    let edit = format!("{base}/v2/incidents/{id}/actions/edit");
    let call = json!({"incident": {"call_url": "https://sandbox.zoom.example/j/1"}});
    assert_eq!(
        answer(http.post(&edit).bearer_auth("wrong").json(&call))
            .await
            .0,
        401
    );
    assert_eq!(
        answer(
            http.post(&edit)
                .bearer_auth(&c.incident_io_api_key)
                .json(&call)
        )
        .await
        .0,
        422
    );
    let mut with_flag = call.clone();
    with_flag["notify_incident_channel"] = json!(false);
    assert_eq!(
        answer(
            http.post(&edit)
                .bearer_auth(&c.incident_io_api_key)
                .json(&with_flag)
        )
        .await
        .0,
        200
    );
    let item = json!({"incident_id": id, "idempotency_key": "k-1", "timestamp": "2026-12-07T10:00:00Z",
                      "title": "Zoom bridge opened", "description": "Zoom bridge opened"});
    for _ in 0..2 {
        let (status, _) = answer(
            http.post(format!("{base}/v2/incident_timeline_items"))
                .bearer_auth(&c.incident_io_api_key)
                .json(&item),
        )
        .await;
        assert!(status == 200 || status == 201);
    }
    let incident = sandbox.incident(&id).unwrap();
    assert_eq!(incident.notes.len(), 1);
    assert_eq!(incident.bridge_updates, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_that_sends_a_wrong_from_gets_no_bridge_from_the_sandbox() {
    let (sandbox, c, _) = sandbox().await;
    let mut secret = c.secret_document();
    secret["pagerduty"]["from_email"] = json!("not-a-user@sandbox.example");
    let dir =
        std::env::temp_dir().join(format!("bridge-relay-sandbox-from-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret.to_string()).unwrap();
    let (runner, port) =
        Process::spawn_listening("bridge-relay-wrong-from", Duration::from_secs(10), |port| {
            let mut command = serve_command(&secrets, port);
            command
                .env("ZOOM_HOST_USER", &c.host_user)
                .env("ZOOM_API_BASE", sandbox.zoom_api_base())
                .env("ZOOM_OAUTH_BASE", sandbox.zoom_oauth_base())
                .env("PAGERDUTY_API_BASE", sandbox.pagerduty_api_base());
            command
        });
    sandbox
        .subscribe(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let (id, delivery) = sandbox.trigger(Tool::PagerDuty, incident()).await.unwrap();
    assert_eq!(delivery.status, 202, "{delivery:?}");
    let refused = eventually(Duration::from_secs(30), || async {
        runner
            .output()
            .contains("Requester User Not Found")
            .then_some(())
    })
    .await;
    assert!(refused.is_some(), "{}", runner.output());
    let incident = sandbox.incident(&id).unwrap();
    assert_eq!(incident.bridge, None);
    assert!(incident.notes.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

//! Hostile requests to the ingress, as the Lambda handler receives them: oversized bodies and
//! headers, stuffed signature headers, forged signatures, bodies built to be echoed back. Each
//! gets a clear 4xx that says what is wrong without handing the request's content back, queues
//! nothing, and never a 5xx.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bridge_relay::lambda::FunctionUrlRequest;
use bridge_relay::pagerduty::signature::{MAX_HEADER_BYTES, MAX_SIGNATURES};
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::{InProcessQueue, LocalMessage};
use bridge_relay::relay::{Ingress, MAX_BODY_BYTES, MAX_WEBHOOK_ID_BYTES};
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use bridge_relay_tests::*;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

const SECRET: &str = "whsec-hostile-input";
const CANARY: &str = "ECHO-CANARY-9b2f";

struct Relay {
    ingress: Ingress,
    jobs: UnboundedReceiver<LocalMessage>,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn relay(name: &str) -> Relay {
    relay_with_secret(name, &secret_document(&[SECRET]))
}

fn relay_with_secret(name: &str, document: &str) -> Relay {
    let dir = std::env::temp_dir().join(format!("bridge-relay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("secrets.json");
    std::fs::write(&file, document).unwrap();
    let secrets = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(&file)),
        Duration::from_secs(300),
    ));
    let (queue, jobs) = InProcessQueue::new();
    Relay {
        ingress: bridge_relay::compose::ingress(secrets, Arc::new(queue), BridgePolicy::default()),
        jobs,
        _dir: TempDir(dir),
    }
}

fn request(body: &[u8], headers: &[(&str, String)]) -> FunctionUrlRequest {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    FunctionUrlRequest::post("/", &headers, body)
}

async fn send(relay: &mut Relay, request: FunctionUrlRequest) -> (u16, Value) {
    let response = invoke_ingress(&relay.ingress, request).await;
    let text = response.body;
    let status = response.status_code;
    assert!(status < 500, "{status} {text}");
    if status != 202 {
        assert!(relay.jobs.try_recv().is_err(), "{status} queued a job");
    }
    (status, serde_json::from_str(&text).unwrap())
}

fn triggered() -> Vec<u8> {
    pagerduty_webhook_bytes("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json")
}

fn signed(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![("x-pagerduty-signature", sign(body, SECRET))]
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_anything_else() {
    let mut relay = relay("413");
    let mut body = triggered();
    body.resize(MAX_BODY_BYTES + 1, b' ');
    let (status, answer) = send(&mut relay, request(&body, &signed(&body))).await;
    assert_eq!(status, 413);
    assert_eq!(
        answer["error"],
        format!("the body is larger than {MAX_BODY_BYTES} bytes")
    );
    // At the limit it is still a webhook (JSON allows the trailing spaces).
    body.truncate(MAX_BODY_BYTES);
    assert_eq!(
        send(&mut relay, request(&body, &signed(&body))).await.0,
        202
    );
}

/// Function URL events the event libraries used to panic on (found by fuzzing, SECURITY.md):
/// the ingress reads the raw event, so each is an ordinary answer.
#[tokio::test]
async fn odd_function_url_events_get_ordinary_answers() {
    let mut relay = relay("odd-events");
    let body = triggered();

    // A body marked base64 that is not base64: the sender's 400, with the reason.
    let mut not_base64 = request(&body, &signed(&body));
    not_base64.body = Some("not base64 at all!".into());
    not_base64.is_base64_encoded = true;
    let (status, answer) = send(&mut relay, not_base64).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("the body is marked base64 but is not base64"))
    );

    // A binary body AWS encoded is checked over its decoded bytes.
    let mut encoded = request(&body, &signed(&body));
    encoded.body = Some(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        &body,
    ));
    encoded.is_base64_encoded = true;
    assert_eq!(send(&mut relay, encoded).await.0, 202);
    assert!(relay.jobs.try_recv().is_ok(), "one job queued");

    // A query string with spaces and quotes, a Host that is no host name, header names in
    // capitals: none of it is read, and the webhook is taken. It is an event of its own, or the
    // queue drops it as a repeat of the one before (SQS FIFO's deduplication on the event id).
    let mut another: Value = serde_json::from_slice(&body).unwrap();
    another["event"]["id"] = json!("01ODDFUNCTIONURLEVENT");
    let another = serde_json::to_vec(&another).unwrap();
    let event = serde_json::to_value(request(&another, &signed(&another))).unwrap();
    let odd: FunctionUrlRequest = serde_json::from_value(json!({
        "rawPath": "/webhook",
        "rawQueryString": "a b=\"<c>\"",
        "headers": {
            "Host": "not a host",
            "X-Forwarded-Proto": "gopher",
            "X-PagerDuty-Signature": event["headers"]["x-pagerduty-signature"],
            "X-Webhook-Id": "odd-event-delivery",
        },
        "body": event["body"],
        "isBase64Encoded": false,
        "requestContext": {"http": {"method": "POST"}, "domainName": "::"}
    }))
    .unwrap();
    assert_eq!(send(&mut relay, odd).await.0, 202);
    assert!(relay.jobs.try_recv().is_ok(), "one job queued");

    // Only POST reaches a handler.
    let mut get = request(&body, &signed(&body));
    get.request_context.http.method = "GET".into();
    assert_eq!(send(&mut relay, get).await.0, 404);
}

#[tokio::test]
async fn oversized_headers_are_431_and_stuffed_signatures_are_not_tried() {
    let mut relay = relay("431");
    let body = triggered();
    let good = sign(&body, SECRET);

    let long_signature = format!("{good},{}", "v1=00,".repeat(MAX_HEADER_BYTES / 6));
    let (status, answer) = send(
        &mut relay,
        request(&body, &[("x-pagerduty-signature", long_signature)]),
    )
    .await;
    assert_eq!(status, 431, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("X-PagerDuty-Signature header is longer"),
        "{answer}"
    );

    let junk = format!("v1={}", "ab".repeat(32));
    let stuffed = format!("{}, {good}", vec![junk; MAX_SIGNATURES].join(", "));
    let (status, _) = send(
        &mut relay,
        request(&body, &[("x-pagerduty-signature", stuffed)]),
    )
    .await;
    assert_eq!(status, 401, "only the first {MAX_SIGNATURES} values count");

    let mut headers = signed(&body);
    headers.push(("x-webhook-id", "w".repeat(MAX_WEBHOOK_ID_BYTES + 1)));
    let (status, answer) = send(&mut relay, request(&body, &headers)).await;
    assert_eq!(status, 431, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("X-Webhook-Id header is longer"),
        "{answer}"
    );
    headers.pop();
    headers.push(("x-webhook-id", "w".repeat(MAX_WEBHOOK_ID_BYTES)));
    assert_eq!(send(&mut relay, request(&body, &headers)).await.0, 202);
}

#[tokio::test]
async fn error_answers_do_not_hand_the_request_back() {
    let mut relay = relay("echo");
    // Unsigned or forged: the body is never parsed, so nothing of it can be echoed.
    let unsigned = format!(r#"{{"event":{{"id":"{CANARY}","event_type":"{CANARY}"}}}}"#);
    for headers in [
        vec![],
        vec![("x-pagerduty-signature", format!("v1={CANARY}"))],
        vec![(
            "x-pagerduty-signature",
            sign(unsigned.as_bytes(), "attacker"),
        )],
    ] {
        let (status, answer) = send(&mut relay, request(unsigned.as_bytes(), &headers)).await;
        assert_eq!(status, 401, "{answer}");
        assert!(!answer.to_string().contains(CANARY), "{answer}");
    }

    // Signed but malformed: the reason says where, and quotes at most a bounded excerpt.
    let long_value = format!("{CANARY}{}", "x".repeat(10_000));
    let cases = [
        json!({"event": {"id": "1", "event_type": "incident.triggered",
            "data": {"type": "incident", "id": "P1", "number": long_value}}})
        .to_string(),
        format!("{{\"event\": {long_value}"),
        json!({"event": {"id": "1", "event_type": ["incident.triggered", long_value]}}).to_string(),
    ];
    for body in cases {
        let (status, answer) = send(
            &mut relay,
            request(body.as_bytes(), &signed(body.as_bytes())),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        let reason = answer["error"].as_str().unwrap();
        assert!(reason.len() < 400, "{} bytes: {reason}", reason.len());
        assert!(!reason.contains(&"x".repeat(300)), "{reason}");
    }
}

#[tokio::test]
async fn forged_webhooks_never_queue() {
    let mut relay = relay("forged");
    let body = triggered();
    let good = sign(&body, SECRET);
    let tampered = {
        let mut b = body.clone();
        let at = b.len() / 2;
        b[at] ^= 0x20;
        b
    };
    let flipped = {
        let mut hex = good.clone().into_bytes();
        let last = hex.len() - 1;
        hex[last] = if hex[last] == b'0' { b'1' } else { b'0' };
        String::from_utf8(hex).unwrap()
    };
    type Case = (Vec<u8>, Vec<(&'static str, String)>);
    let cases: Vec<Case> = vec![
        (tampered, vec![("x-pagerduty-signature", good.clone())]),
        (body.clone(), vec![("x-pagerduty-signature", flipped)]),
        (
            body.clone(),
            vec![("x-pagerduty-signature", good.replace("v1=", "v0="))],
        ),
        (
            body.clone(),
            vec![("x-pagerduty-signature", good[..40].to_owned())],
        ),
        (body.clone(), vec![("x-pagerduty-signature", String::new())]),
        (body.clone(), vec![]),
    ];
    for (body, headers) in cases {
        let (status, answer) = send(&mut relay, request(&body, &headers)).await;
        assert_eq!(status, 401, "{headers:?}: {answer}");
    }
    // Upper-case hex is the same MAC; the real one passes.
    let upper = format!("v1={}", good[3..].to_ascii_uppercase());
    let (status, _) = send(
        &mut relay,
        request(&body, &[("x-pagerduty-signature", upper)]),
    )
    .await;
    assert_eq!(status, 202);
    assert!(relay.jobs.try_recv().is_ok());
}

/// The local runner (`bridge-relay serve`) over real HTTP: hyper refuses oversized headers with
/// 431, the body is read only up to the cap, and the ingress answers as in Lambda.
#[tokio::test(flavor = "multi_thread")]
async fn the_local_runner_caps_headers_and_bodies() {
    let dir =
        std::env::temp_dir().join(format!("bridge-relay-serve-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let secrets = dir.join("secrets.json");
    std::fs::write(&secrets, secret_document(&[SECRET])).unwrap();
    let (runner, port) = Process::spawn_listening(
        "bridge-relay-serve-limits",
        Duration::from_secs(10),
        |port| {
            let mut command = serve_command(&secrets, port);
            command.env("ZOOM_HOST_USER", HOST_USER);
            command
        },
    );
    let url = format!("http://127.0.0.1:{port}/webhook");
    // A fresh connection per request: the server answers 413 and closes without reading the
    // rest of an oversized body, so a pooled connection would be dead.
    bridge_relay::aws::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let body = triggered();

    let response = client
        .post(&url)
        .header("x-padding", "p".repeat(20 * 1024))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 431);

    let mut big = body.clone();
    big.resize(MAX_BODY_BYTES + 1, b' ');
    let response = client
        .post(&url)
        .header("x-pagerduty-signature", sign(&big, SECRET))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    let response = client
        .post(&url)
        .header("x-pagerduty-signature", sign(&body, "attacker"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(!runner.output().contains(SECRET));
}

/// A token answer claiming a lifetime beyond any clock is used, capped, and never panics.
#[tokio::test]
async fn a_zoom_token_with_an_absurd_lifetime_is_capped() {
    use bridge_relay::secrets::ZoomCredentials;
    use bridge_relay::zoom::TokenCache;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let oauth = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "absurd-lifetime-token", "token_type": "bearer",
            "expires_in": u64::MAX
        })))
        .mount(&oauth)
        .await;
    let cache = TokenCache::new(bridge_relay::http::client(), &oauth.uri());
    let creds = ZoomCredentials {
        account_id: "acct".into(),
        client_id: "client".into(),
        client_secret: "client-secret".to_owned().into(),
    };
    cache.token(&creds).await.expect("first fetch");
    cache.token(&creds).await.expect("cached");
    assert_eq!(cache.fetches(), 1);
}

/// An incident id no incident tool sends (longer than the relay keeps, or not visible ASCII)
/// is the sender's 400 with the reason on every route that takes one, V3 webhooks, the button
/// and the workflow step alike, and nothing is queued: queued, it would fail at the store's key
/// limit on every retry and be dead-lettered.
#[tokio::test]
async fn an_incident_id_no_tool_sends_is_refused_on_every_route() {
    const ACTION_SECRET: &str = "hostile-action-secret-0123456789";
    let mut document: Value = serde_json::from_str(&secret_document(&[SECRET])).unwrap();
    document["pagerduty"]["action_secret"] = json!(ACTION_SECRET);
    let mut relay = relay_with_secret("long-incident-id", &document.to_string());
    let at_limit = "P".repeat(bridge_relay::model::MAX_INCIDENT_ID_BYTES);
    let too_long = "P".repeat(bridge_relay::model::MAX_INCIDENT_ID_BYTES + 1);
    let too_long_reason = format!(
        "the incident id is {} bytes long; the relay takes at most {}",
        too_long.len(),
        bridge_relay::model::MAX_INCIDENT_ID_BYTES
    );
    let token = [("x-bridge-relay-token", ACTION_SECRET.to_owned())];

    let webhook = |id: &str| {
        let mut body: Value = serde_json::from_slice(&triggered()).unwrap();
        body["event"]["data"]["id"] = json!(id);
        body.to_string().into_bytes()
    };
    let button = |id: &str| {
        let mut body =
            read_json("tests/fixtures/pagerduty-webhooks/v2-custom-action/incident_custom_v2.json");
        body["messages"][0]["incident"]["id"] = json!(id);
        body.to_string().into_bytes()
    };
    let workflow = |id: &str| {
        bridge_relay::pagerduty::manual::WORKFLOW_BODY_TEMPLATE
            .replace("{{incident.id}}", id)
            .replace("{{incident.number}}", "77")
            .replace("{{incident.title}}", "Payments failing")
            .replace("{{incident.html_url}}", "")
            .replace("{{incident.urgency}}", "high")
            .replace("{{incident.priority.name}}", "P1")
            .replace("{{incident.service.name}}", "payments")
            .replace("{{incident.service.id}}", "")
            .into_bytes()
    };
    for (id, reason) in [
        (too_long.as_str(), too_long_reason.as_str()),
        (
            "PABC 123",
            "the incident id has a character other than visible ASCII",
        ),
    ] {
        let body = webhook(id);
        let answer = send(&mut relay, request(&body, &signed(&body))).await;
        assert_eq!((answer.0, answer.1["error"].as_str()), (400, Some(reason)));
        let posted =
            FunctionUrlRequest::post("/action", &[(token[0].0, ACTION_SECRET)], &button(id));
        let answer = send(&mut relay, posted).await;
        assert_eq!((answer.0, answer.1["error"].as_str()), (400, Some(reason)));
        let posted =
            FunctionUrlRequest::post("/workflow", &[(token[0].0, ACTION_SECRET)], &workflow(id));
        let answer = send(&mut relay, posted).await;
        assert_eq!((answer.0, answer.1["error"].as_str()), (400, Some(reason)));
    }
    assert!(relay.jobs.try_recv().is_err(), "nothing was queued");

    // An id at the limit is still an incident's.
    let body = webhook(&at_limit);
    assert_eq!(
        send(&mut relay, request(&body, &signed(&body))).await.0,
        202
    );
    let posted = FunctionUrlRequest::post(
        "/action",
        &[(token[0].0, ACTION_SECRET)],
        &button(&at_limit),
    );
    assert_eq!(send(&mut relay, posted).await.0, 202);
}

/// V3 signs no timestamp: a captured body could be sent again under a new `X-Webhook-Id`, or
/// long after. The signed event id makes a copy the same delivery, and an event older than
/// PagerDuty's 48-hour retry window is ignored.
#[tokio::test]
async fn a_captured_webhook_sent_again_is_not_acted_on() {
    let mut relay = relay("replay");
    let resolved = |age: Duration, event_id: &str| {
        let mut envelope =
            pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/resolved_v3.json");
        envelope["event"]["id"] = json!(event_id);
        envelope["event"]["occurred_at"] =
            json!(humantime::format_rfc3339(SystemTime::now() - age).to_string());
        serde_json::to_vec(&envelope).unwrap()
    };
    let with_webhook_id = |body: &[u8], webhook_id: &str| {
        let mut headers = signed(body);
        headers.push(("x-webhook-id", webhook_id.to_owned()));
        request(body, &headers)
    };

    let body = resolved(Duration::ZERO, "01REPLAYRESOLVED");
    let (status, _) = send(&mut relay, with_webhook_id(&body, "first-delivery")).await;
    assert_eq!(status, 202);
    assert!(relay.jobs.try_recv().is_ok(), "the resolve is queued");
    // The same body under a new delivery header is the same delivery: nothing more is queued.
    let (status, _) = send(
        &mut relay,
        with_webhook_id(&body, "captured-and-sent-again"),
    )
    .await;
    assert_eq!(status, 202);
    assert!(
        relay.jobs.try_recv().is_err(),
        "a copy under a new X-Webhook-Id is queued again"
    );

    // Two days and more after it occurred, it is no retry of PagerDuty's.
    let old = resolved(Duration::from_secs(50 * 3600), "01REPLAYOLDRESOLVE");
    let (status, answer) = send(&mut relay, with_webhook_id(&old, "days-later")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "ignored");
    let reason = answer["reason"].as_str().unwrap();
    assert!(reason.contains("48-hour retry window"), "{reason}");
    // PagerDuty's own late retry, inside its window, is taken.
    let late = resolved(Duration::from_secs(47 * 3600), "01REPLAYLATERETRY");
    assert_eq!(
        send(&mut relay, with_webhook_id(&late, "late-retry"))
            .await
            .0,
        202
    );
    assert!(relay.jobs.try_recv().is_ok(), "the late retry is queued");

    // A time that is no time is the sender's mistake.
    let mut envelope: Value = serde_json::from_slice(&body).unwrap();
    envelope["event"]["occurred_at"] = json!("the day before yesterday");
    let garbled = serde_json::to_vec(&envelope).unwrap();
    let (status, answer) = send(&mut relay, with_webhook_id(&garbled, "garbled")).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (
            400,
            Some(
                "the body is not a PagerDuty V3 webhook: `event.occurred_at` is not an RFC 3339 time"
            )
        )
    );
}

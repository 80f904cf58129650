//! A third incident tool is one adapter plus one entry where the app composes tools: this test
//! writes a small one ("pager lite": a token-checked webhook and a REST API with bridge and note
//! calls) against the ports alone, adds it to `compose::incident_tools()` as a new line would,
//! and runs the local runner's composition end to end on the in-memory adapters and wiremock.
//! Nothing of the domain, the ports or the use case learns of it: its kind is named by the
//! adapter, its rules are in the policy's `tools`, its keys in its own section of the secret.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bridge_relay::compose::{ToolAdapter, ToolContext};
use bridge_relay::config::Env;
use bridge_relay::error::{Service, UpstreamError};
use bridge_relay::inbound::{Headers, Inbound, InboundSource, Refusal};
use bridge_relay::incident_tool::{IncidentTool, IncidentToolError};
use bridge_relay::model::{Bridge, Incident, IncidentEvent, IncidentToolKind};
use bridge_relay::secrets::{FileSecretSource, RelaySecrets, SecretCache};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PAGER_LITE: IncidentToolKind = IncidentToolKind::named("pager_lite");
const HOST: &str = "zoom-host@example.com";
const MEETING_ID: u64 = 85_012_345_679;
const TOKEN: &str = "pager-lite-token";

/// The tool's section of the secret: `{"token", "api_base"}`.
fn section(secrets: &RelaySecrets) -> Option<Value> {
    serde_json::from_str(secrets.tool_section("pager_lite")?.expose_secret()).ok()
}

/// `POST /pager-lite`: `{"event", "id", "title", "severity"}` with the token in a header.
struct PagerLiteWebhooks;

impl InboundSource for PagerLiteWebhooks {
    fn paths(&self) -> &[&'static str] {
        &["/pager-lite"]
    }

    fn what(&self) -> &'static str {
        "pager lite webhooks"
    }

    fn delivery_header(&self) -> Option<&'static str> {
        Some("x-delivery-id")
    }

    fn read(
        &self,
        secrets: &RelaySecrets,
        headers: &dyn Headers,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<Inbound, Refusal> {
        let token = section(secrets).and_then(|s| s["token"].as_str().map(str::to_owned));
        if token.is_none() || headers.header("x-pager-lite-token") != token.as_deref() {
            return Err(Refusal::new(401, "the x-pager-lite-token header is wrong"));
        }
        let body: Value =
            serde_json::from_slice(body).map_err(|_| Refusal::new(400, "the body is not JSON"))?;
        let text = |key: &str| body[key].as_str().map(str::to_owned);
        let id = text("id").ok_or_else(|| Refusal::new(400, "no `id`"))?;
        let delivery_id = headers
            .header("x-delivery-id")
            .ok_or_else(|| Refusal::new(400, "no x-delivery-id"))?
            .to_owned();
        Ok(Inbound::Event {
            event: IncidentEvent {
                tool: PAGER_LITE,
                id: delivery_id.clone(),
                event_type: text("event").unwrap_or_default(),
                incident: Some(Incident {
                    title: text("title"),
                    severity: text("severity"),
                    ..Incident::new(id)
                }),
                private: false,
            },
            delivery_id,
        })
    }
}

/// The tool's REST API: a bridge and a note per incident.
struct PagerLiteApi {
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
}

impl PagerLiteApi {
    async fn post(&self, path: String, body: Value) -> Result<(), IncidentToolError> {
        let secrets = self.secrets.get().await?;
        let base = section(&secrets)
            .and_then(|s| s["api_base"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let failed = |reason: String| UpstreamError::Transport {
            service: Service::Other("pager lite API"),
            reason,
        };
        let response = self
            .http
            .post(format!("{base}{path}"))
            .json(&body)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !response.status().is_success() {
            return Err(UpstreamError::Status {
                service: Service::Other("pager lite API"),
                status: response.status().as_u16(),
                message: "refused".into(),
                retry_after: None,
            }
            .into());
        }
        Ok(())
    }
}

#[async_trait]
impl IncidentTool for PagerLiteApi {
    async fn set_bridge(
        &self,
        incident_id: &str,
        bridge: &Bridge,
    ) -> Result<(), IncidentToolError> {
        self.post(
            format!("/incidents/{incident_id}/bridge"),
            json!({"url": bridge.conference_url}),
        )
        .await
    }

    async fn add_note(&self, incident_id: &str, content: &str) -> Result<(), IncidentToolError> {
        self.post(
            format!("/incidents/{incident_id}/notes"),
            json!({"text": content}),
        )
        .await
    }

    fn note_limit(&self) -> usize {
        2_000
    }

    async fn has_note(&self, _incident_id: &str, _needle: &str) -> Result<bool, IncidentToolError> {
        Ok(false)
    }
}

/// The new tool's entry, as its line in `compose::incident_tools()` would read.
fn pager_lite() -> ToolAdapter {
    ToolAdapter::new(
        PAGER_LITE,
        [Arc::new(PagerLiteWebhooks) as Arc<dyn InboundSource>],
        |c: &ToolContext<'_>| {
            Arc::new(PagerLiteApi {
                http: c.http.clone(),
                secrets: c.secrets.clone(),
            })
        },
    )
}

/// Zoom's OAuth and API, and the tool's API, on one server.
async fn upstream() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "third-tool-token", "expires_in": 3599})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/zoom/users/{HOST}/meetings")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": MEETING_ID,
            "join_url": format!("https://us06web.zoom.us/j/{MEETING_ID}?pwd=xyz"),
            "password": "27182818",
            "settings": {"global_dial_in_numbers": []}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/lite/incidents/[^/]+/(bridge|notes)$"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_added_by_one_adapter_and_one_entry_gets_one_meeting_its_bridge_and_a_note() {
    let server = upstream().await;
    let base = server.uri();
    let variables = [
        ("ZOOM_HOST_USER", HOST.to_owned()),
        ("ZOOM_API_BASE", format!("{base}/zoom")),
        ("ZOOM_OAUTH_BASE", base.clone()),
        (
            "POLICY",
            r#"{"tools": {"pager_lite": {"event_types": ["incident.opened"], "severities": ["SEV1"]}}}"#
                .to_owned(),
        ),
    ];
    let config = Env(|name: &str| {
        variables
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .local()
    .unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/secrets.local.json");
    let mut secret: Value = serde_json::from_slice(&std::fs::read(example).unwrap()).unwrap();
    secret["pager_lite"] = json!({"token": TOKEN, "api_base": format!("{base}/lite")});
    let secret_file = std::env::temp_dir().join(format!(
        "bridge-relay-third-tool-{}.json",
        std::process::id()
    ));
    std::fs::write(&secret_file, secret.to_string()).unwrap();
    let secrets = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(secret_file.to_str().unwrap())),
        Duration::from_secs(300),
    ));

    // The one new line: the tools this build composes, and pager lite.
    let mut tools = bridge_relay::compose::incident_tools();
    tools.push(pager_lite());
    let relay = bridge_relay::compose::local_relay_of(
        &tools,
        config,
        secrets.clone(),
        secrets,
        bridge_relay::http::client(),
    );
    let running = tokio::spawn(bridge_relay::local::run_local_worker(
        relay.worker,
        relay.dead_letters.clone(),
        relay.jobs,
        Duration::from_millis(50),
    ));

    let route = relay
        .ingress
        .route("/pager-lite")
        .expect("the route is composed");
    let post = |delivery: &'static str, token: &'static str, body: Value| {
        let ingress = relay.ingress.clone();
        async move {
            let headers: std::collections::HashMap<String, String> = [
                ("x-pager-lite-token".to_owned(), token.to_owned()),
                ("x-delivery-id".to_owned(), delivery.to_owned()),
            ]
            .into();
            let body = serde_json::to_vec(&body).unwrap();
            ingress.handle_route(route, &headers, &body).await
        }
    };
    let opened = json!({"event": "incident.opened", "id": "LITE-7", "title": "Search down", "severity": "SEV1"});
    // A forged one, a minor one the policy leaves alone, and the real one twice plus a copy.
    assert_eq!(post("d-0", "wrong", opened.clone()).await.status, 401);
    let minor = json!({"event": "incident.opened", "id": "LITE-8", "severity": "SEV4"});
    assert_eq!(post("d-1", TOKEN, minor).await.status, 200);
    for delivery in ["d-2", "d-2", "d-3"] {
        let response = post(delivery, TOKEN, opened.clone()).await;
        assert_eq!(response.status, 202, "{}", response.body);
    }

    let started = Instant::now();
    let calls = |requests: &[wiremock::Request], suffix: &str| {
        requests
            .iter()
            .filter(|r| r.url.path().ends_with(suffix))
            .count()
    };
    loop {
        let requests = server.received_requests().await.unwrap_or_default();
        if calls(&requests, "/notes") >= 1 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let requests = server.received_requests().await.unwrap_or_default();
    assert_eq!(calls(&requests, "/meetings"), 1, "one meeting");
    assert_eq!(
        calls(&requests, "/incidents/LITE-7/bridge"),
        1,
        "one bridge"
    );
    assert_eq!(calls(&requests, "/incidents/LITE-7/notes"), 1, "one note");
    assert_eq!(calls(&requests, "/incidents/LITE-8/bridge"), 0);
    let agenda: Value = requests
        .iter()
        .find(|r| r.url.path().ends_with("/meetings"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .unwrap();
    assert!(
        agenda["agenda"]
            .as_str()
            .unwrap()
            .contains("pager_lite:LITE-7"),
        "the meeting is keyed by the tool's own name: {agenda}"
    );
    assert!(relay.dead_letters.jobs().is_empty());
    running.abort();
    let _ = std::fs::remove_file(secret_file);
}

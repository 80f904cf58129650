//! Real local stand-ins for the end-to-end tests: moto (AWS), Prism proxies started from the
//! official OpenAPI specs in front of recording wiremock servers (Zoom, PagerDuty), and wiremock
//! for Zoom's OAuth endpoint. `scripts/install-tools` puts moto and Prism in `.tools/`.

pub mod faulty;
pub mod zoom_call;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::config::{Credentials, Region};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const HOST_USER: &str = "bot@example.com";
pub const FROM_EMAIL: &str = "relay-bot@example.com";
pub const ZOOM_ACCOUNT_ID: &str = "test-account";
pub const ZOOM_CLIENT_ID: &str = "test-client";
pub const ZOOM_CLIENT_SECRET: &str = "zoom-client-secret-e2e";
pub const PD_API_TOKEN: &str = "pd-api-token-e2e";
pub const ZOOM_ACCESS_TOKEN: &str = "zoom-access-token-e2e";
/// The webhook secret of `examples/secrets.local.json`, which signs the files in `events/`.
pub const EXAMPLE_WEBHOOK_SECRET: &str = "local-webhook-secret-change-me";

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn read_json(relative: &str) -> Value {
    let path = workspace_root().join(relative);
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// A captured PagerDuty V3 webhook as PagerDuty would send it now: its `event.occurred_at` set
/// to this moment, since the relay ignores events older than PagerDuty's 48-hour retry window.
pub fn pagerduty_webhook(relative: &str) -> Value {
    let mut envelope = read_json(relative);
    if let Some(occurred_at) = envelope
        .get_mut("event")
        .and_then(|event| event.get_mut("occurred_at"))
    {
        *occurred_at = json!(humantime::format_rfc3339_millis(SystemTime::now()).to_string());
    }
    envelope
}

/// [`pagerduty_webhook`] as the bytes to sign and post.
pub fn pagerduty_webhook_bytes(relative: &str) -> Vec<u8> {
    serde_json::to_vec(&pagerduty_webhook(relative)).unwrap()
}

/// A tool from `.tools/`, or from PATH; a missing tool fails the test with how to install it.
pub fn tool(relative: &str, name: &str) -> PathBuf {
    let local = workspace_root().join(".tools").join(relative);
    if local.exists() {
        return local;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.exists())
    });
    on_path.unwrap_or_else(|| panic!("{name} not found: run scripts/install-tools"))
}

fn built(relative: &[&str], how: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = relative.iter().fold(target, |path, part| path.join(part));
    assert!(
        path.exists(),
        "{} is missing: run `{how}` first",
        path.display()
    );
    path
}

/// `bridge-relay serve` on `secrets`, listening on 127.0.0.1:`port`; a test adds its own
/// flags and environment.
pub fn serve_command(secrets: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(workspace_binary("bridge-relay"));
    command
        .arg("serve")
        .arg("--secrets-file")
        .arg(secrets)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    command
}

/// A built binary of the workspace (`cargo build --workspace` comes first in scripts/test).
pub fn workspace_binary(name: &str) -> PathBuf {
    built(&["debug", name], "cargo build --workspace")
}

/// A release binary of the workspace (`cargo build --release --bin NAME`).
pub fn release_binary(name: &str) -> PathBuf {
    built(
        &["release", name],
        &format!("cargo build --release --bin {name}"),
    )
}

/// `function`'s bootstrap with the environment Lambda gives it: the runtime API, the function's
/// name, test credentials and region, no metadata service, and `settings` (its variables).
pub fn lambda_command(
    function: &str,
    runtime_api: String,
    function_name: &str,
    settings: &[(&str, String)],
) -> Command {
    let mut command = Command::new(lambda_bootstrap(function));
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(settings.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

/// A Lambda function as deployed (`cargo lambda build --release`, `target/lambda/*/bootstrap`).
pub fn lambda_bootstrap(function: &str) -> PathBuf {
    built(
        &["lambda", function, "bootstrap"],
        "cargo lambda build --release",
    )
}

/// A port free now. Not public: the port is free only until some process binds it, so a child
/// is started on one through [`Process::spawn_listening`], which checks that the child got it.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The inodes of the sockets listening on `port` (IPv4 or IPv6), from the kernel's socket tables.
fn listening_sockets(port: u16) -> Vec<String> {
    const LISTEN: &str = "0A";
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode,
                    // the local address as HEXADDR:HEXPORT.
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let local_port = fields.get(1)?.rsplit(':').next()?;
                    if *fields.get(3)? != LISTEN || u16::from_str_radix(local_port, 16) != Ok(port)
                    {
                        return None;
                    }
                    fields.get(9).map(|inode| inode.to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Whether a process of group `group` holds one of `sockets` (inodes) open.
fn group_holds(group: u32, sockets: &[String]) -> bool {
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return false;
    };
    processes.flatten().any(|process| {
        let dir = process.path();
        // The process group is the 3rd field after the command, which is in parentheses.
        let in_group = std::fs::read_to_string(dir.join("stat")).is_ok_and(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<u32>().ok())
                == Some(group)
        });
        in_group
            && std::fs::read_dir(dir.join("fd")).is_ok_and(|fds| {
                fds.flatten().any(|fd| {
                    std::fs::read_link(fd.path()).is_ok_and(|target| {
                        sockets
                            .iter()
                            .any(|inode| target.to_str() == Some(&format!("socket:[{inode}]")))
                    })
                })
            })
    })
}

/// `command` with no terminal: stdin, stdout and stderr null. For the helpers the tests run
/// only for their effect (`kill`), so their words never reach the test run's output.
fn quiet(command: &mut Command) -> &mut Command {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
}

/// A child process in its own process group, killed with its children when dropped.
pub struct Process {
    child: Child,
    pub name: String,
    log: PathBuf,
}

impl Process {
    pub fn spawn(name: &str, command: &mut Command) -> Process {
        use std::os::unix::process::CommandExt;
        // The tests of one binary run as threads of one process, so the process id alone would
        // give two children of the same name (two tests' moto servers) one file to overwrite.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = std::env::temp_dir().join(format!(
            "bridge-relay-{name}-{}-{nth}.log",
            std::process::id()
        ));
        let file = std::fs::File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Process {
            child,
            name: name.to_owned(),
            log,
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Starts `command(port)` on a port picked free and waits up to `within` until this very
    /// process (or one of its group) listens on it; returns the process and its port.
    ///
    /// A port picked free can be bound by another test's process before the child binds it: the
    /// child then fails (most tools say "address already in use"; cargo-lambda's emulator exits
    /// 0 without a word, after logging that it is starting its server) while the other process
    /// answers on the port. So neither a connection nor a log line shows that the child got the
    /// port; the kernel's socket table and the child's open sockets do. A lost port is retried
    /// on a fresh one; any other exit fails with the child's output.
    pub fn spawn_listening(
        name: &str,
        within: Duration,
        mut command: impl FnMut(u16) -> Command,
    ) -> (Process, u16) {
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut process = Process::spawn(name, &mut command(port));
            match process.wait_until_listening(port, within) {
                Ok(()) => return (process, port),
                Err(lost) => last = lost,
            }
        }
        panic!("{name} lost its port to another process three times; last time it said:\n{last}");
    }

    /// Ok once the process's group listens on `port`, its output if it exited because another
    /// process holds the port; panics if it exits otherwise or does not listen within `within`.
    fn wait_until_listening(&mut self, port: u16, within: Duration) -> Result<(), String> {
        let group = self.child.id();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let sockets = listening_sockets(port);
            if !sockets.is_empty() && group_holds(group, &sockets) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let output = self.output();
                let taken = output.to_lowercase().contains("address already in use")
                    || !listening_sockets(port).is_empty();
                if taken {
                    return Err(output);
                }
                panic!("{} exited with {status}:\n{output}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} did not listen on {port} within {within:?}:\n{}",
            self.name,
            self.output()
        );
    }

    /// Sends SIGTERM to the process (not its group) and waits up to `within` for it to exit.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let _ = quiet(Command::new("kill").args(["-TERM", &self.child.id().to_string()])).status();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The group may be gone already; kill's "No such process" is no news.
        let _ = quiet(Command::new("kill").args(["-TERM", "--", &format!("-{}", self.child.id())]))
            .status();
        let _ = self.child.wait();
    }
}

/// moto server: Secrets Manager and SQS over the real AWS wire protocol.
pub struct Moto {
    pub url: String,
    _process: Process,
}

impl Moto {
    /// moto's server with concurrent DynamoDB requests, through the launcher for its fix of
    /// moto's transactions (see the script).
    pub fn start() -> Moto {
        Self::start_launcher(&["--concurrent-dynamodb"])
    }

    /// moto's server with DynamoDB's conditional writes atomic as in AWS (see the script), for
    /// the tests whose workers race for the same item (host slots). It handles DynamoDB calls
    /// one at a time, so the other tests keep the plain server.
    pub fn start_with_atomic_dynamodb() -> Moto {
        Self::start_launcher(&[])
    }

    fn start_launcher(options: &[&str]) -> Moto {
        let launcher = workspace_root().join("tests/stand-ins/moto_server.py");
        let (process, port) = Process::spawn_listening("moto", Duration::from_secs(30), |port| {
            let mut command = Command::new(tool("venv/bin/python", "python3"));
            command
                .arg(&launcher)
                .args(options)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        Moto {
            url: format!("http://127.0.0.1:{port}"),
            _process: process,
        }
    }

    /// The relay's SDK configuration pointed at moto, with looser time limits than the relay's
    /// own: moto loads each service on its first call, which takes seconds on a busy machine,
    /// and is no AWS endpoint whose latency the limits are for (`hung_aws` tests those).
    pub async fn sdk_config(&self) -> SdkConfig {
        bridge_relay::aws::config_loader()
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "moto"))
            .load()
            .await
    }
}

/// Prism in proxy mode: validates each request against the official spec (a request the spec
/// does not allow is answered 4xx and never forwarded), forwards valid ones to `upstream`, and
/// validates the answer too.
pub struct PrismProxy {
    pub url: String,
    process: Process,
}

impl PrismProxy {
    pub fn start(spec: &str, upstream: &str) -> PrismProxy {
        let spec_path = workspace_root().join("tests/fixtures/openapi").join(spec);
        let (process, port) =
            Process::spawn_listening(&format!("prism-{spec}"), Duration::from_secs(60), |port| {
                let mut command = Command::new(tool("prism/node_modules/.bin/prism", "prism"));
                command.args([
                    "proxy",
                    spec_path.to_str().unwrap(),
                    upstream,
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "--errors",
                ]);
                command
            });
        PrismProxy {
            url: format!("http://127.0.0.1:{port}"),
            process,
        }
    }

    pub fn output(&self) -> String {
        self.process.output()
    }
}

/// The official spec's example answer for an operation, so the recorded upstream answers what
/// the real API documents (and Prism's response validation passes on real data).
pub fn spec_example(spec: &str, path: &str, method: &str, status: &str) -> Value {
    let spec = read_json(&format!("tests/fixtures/openapi/{spec}"));
    let content = &spec["paths"][path][method]["responses"][status]["content"]["application/json"];
    let examples = &content["examples"];
    let example = examples
        .as_object()
        .and_then(|all| all.values().next())
        .map(|e| e["value"].clone())
        .or_else(|| content.get("example").cloned());
    example.unwrap_or_else(|| panic!("{spec:?} has no example for {method} {path} {status}"))
}

/// A Zoom create-meeting answer as a real account with dial-in sends it.
pub fn zoom_meeting_created(meeting_id: u64) -> Value {
    json!({
        "id": meeting_id,
        "uuid": "4444AAAiAAAAAiAiAiiAii==",
        "host_id": "x1yCzABCDEfg23HiJKl4mN",
        "host_email": HOST_USER,
        "topic": "[#9] Test Incident 3",
        "type": 2,
        "status": "waiting",
        "start_time": "2026-11-23T10:00:00Z",
        "duration": 60,
        "timezone": "UTC",
        "agenda": "Incident bridge",
        "created_at": "2026-11-23T10:00:00Z",
        "start_url": format!("https://us06web.zoom.us/s/{meeting_id}?zak=HOST-ONLY-START-URL-SECRET"),
        "join_url": format!("https://us06web.zoom.us/j/{meeting_id}?pwd=bGt5dFpvZ3FoTzRrcUFqZz09"),
        "password": "48151623",
        "h323_password": "48151623",
        "pre_schedule": false,
        "settings": {
            "join_before_host": true,
            "jbh_time": 0,
            "waiting_room": false,
            "global_dial_in_numbers": [
                {"city": "San Jose", "country": "US", "country_name": "US", "number": "+1 6699006833", "type": "toll"},
                {"city": "New York", "country": "US", "country_name": "US", "number": "+1 6465588656", "type": "toll"}
            ]
        }
    })
}

/// Zoom (OAuth + API) and PagerDuty stand-ins, wired as the worker sees them.
pub struct ApiStandIns {
    pub zoom_oauth: MockServer,
    pub zoom_upstream: MockServer,
    pub pagerduty_upstream: MockServer,
    pub zoom_prism: PrismProxy,
    pub pagerduty_prism: PrismProxy,
}

impl ApiStandIns {
    pub async fn start(meeting_id: u64) -> ApiStandIns {
        let zoom_oauth = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(query_param("grant_type", "account_credentials"))
            .and(query_param("account_id", ZOOM_ACCOUNT_ID))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": ZOOM_ACCESS_TOKEN, "token_type": "bearer",
                "expires_in": 3599, "scope": "meeting:write:meeting:admin", "api_url": "https://api.zoom.us"
            })))
            .mount(&zoom_oauth)
            .await;

        let zoom_upstream = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/users/[^/]+/meetings$"))
            .respond_with(
                ResponseTemplate::new(201).set_body_json(zoom_meeting_created(meeting_id)),
            )
            .mount(&zoom_upstream)
            .await;

        let pagerduty_upstream = MockServer::start().await;
        Mock::given(method("PUT"))
            .and(path_regex(r"^/incidents/[^/]+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(spec_example(
                "pagerduty-rest.json",
                "/incidents/{id}",
                "put",
                "200",
            )))
            .mount(&pagerduty_upstream)
            .await;
        Mock::given(method("POST"))
            .and(path_regex(r"^/incidents/[^/]+/notes$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(spec_example(
                "pagerduty-rest.json",
                "/incidents/{id}/notes",
                "post",
                "200",
            )))
            .mount(&pagerduty_upstream)
            .await;

        // Every assignee is a PagerDuty user (the spec's example user) and a licensed Zoom
        // user, and meeting updates are taken, unless a test mounts its own answers (which
        // win: these have a lower priority).
        Mock::given(method("GET"))
            .and(path_regex(r"^/users/P[A-Z0-9]+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(spec_example(
                "pagerduty-rest.json",
                "/users/{id}",
                "get",
                "200",
            )))
            .with_priority(10)
            .mount(&pagerduty_upstream)
            .await;
        Mock::given(method("GET"))
            .and(path_regex(r"^/users/[^/]+@[^/]+$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "zoom-responder", "email": "125.greenholt.earline@graham.name",
                "type": 2, "status": "active", "timezone": "UTC"
            })))
            .with_priority(10)
            .mount(&zoom_upstream)
            .await;
        Mock::given(method("PATCH"))
            .and(path_regex(r"^/meetings/\d+$"))
            .respond_with(ResponseTemplate::new(204))
            .with_priority(10)
            .mount(&zoom_upstream)
            .await;
        // Every meeting has run once, so a resolve ends it rather than removing it.
        Mock::given(method("GET"))
            .and(path_regex(r"^/past_meetings/\d+/instances$"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"meetings": [
                    {"uuid": "4444AAAiAAAAAiAiAiiAii==", "start_time": "2026-11-23T10:00:00Z"}
                ]})),
            )
            .with_priority(10)
            .mount(&zoom_upstream)
            .await;

        let zoom_uri = zoom_upstream.uri();
        let pd_uri = pagerduty_upstream.uri();
        // Both Prism processes start at once; each takes a second or two.
        let (zoom_prism, pagerduty_prism) = std::thread::scope(|scope| {
            let zoom = scope.spawn(|| PrismProxy::start("zoom-meetings.json", &zoom_uri));
            let pd = scope.spawn(|| PrismProxy::start("pagerduty-rest.json", &pd_uri));
            (zoom.join().unwrap(), pd.join().unwrap())
        });
        ApiStandIns {
            zoom_oauth,
            zoom_upstream,
            pagerduty_upstream,
            zoom_prism,
            pagerduty_prism,
        }
    }

    /// The relay's settings for these stand-ins, as environment variables.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ZOOM_HOST_USER", HOST_USER.to_owned()),
            ("ZOOM_API_BASE", self.zoom_prism.url.clone()),
            ("ZOOM_OAUTH_BASE", self.zoom_oauth.uri()),
            ("PAGERDUTY_API_BASE", self.pagerduty_prism.url.clone()),
        ]
    }

    pub async fn requests(server: &MockServer) -> Vec<wiremock::Request> {
        server.received_requests().await.unwrap_or_default()
    }

    /// A PagerDuty user `id` named `name` with `email` (`GET /users/{id}`, from the spec's
    /// example), and what Zoom's account says of that e-mail (`GET /users/{email}`): a user
    /// of `zoom_type` (2 licensed, 1 Basic), or with `None` no user of the account (404,
    /// code 1001, as Zoom answers).
    pub async fn responder(&self, id: &str, name: &str, email: &str, zoom_type: Option<u8>) {
        let mut user = spec_example("pagerduty-rest.json", "/users/{id}", "get", "200");
        user["user"]["id"] = json!(id);
        user["user"]["name"] = json!(name);
        user["user"]["summary"] = json!(name);
        user["user"]["email"] = json!(email);
        Mock::given(method("GET"))
            .and(path(format!("/users/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(user))
            .mount(&self.pagerduty_upstream)
            .await;
        let answer = match zoom_type {
            Some(plan) => ResponseTemplate::new(200).set_body_json(json!({
                "id": format!("zoom-{id}"), "email": email, "type": plan, "status": "active",
                "first_name": name, "last_name": "", "timezone": "UTC"
            })),
            None => ResponseTemplate::new(404).set_body_json(
                json!({"code": 1001, "message": format!("User does not exist: {email}.")}),
            ),
        };
        Mock::given(method("GET"))
            .and(path(format!("/users/{email}")))
            .respond_with(answer)
            .mount(&self.zoom_upstream)
            .await;
    }

    /// How often `verb path` reached `server`.
    pub async fn calls(server: &MockServer, verb: &str, path: &str) -> usize {
        Self::requests(server)
            .await
            .iter()
            .filter(|r| r.method.as_str() == verb && r.url.path() == path)
            .count()
    }

    /// The notes PagerDuty got, oldest first.
    pub async fn notes(&self) -> Vec<String> {
        Self::requests(&self.pagerduty_upstream)
            .await
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path().ends_with("/notes"))
            .map(|r| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                body["note"]["content"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

/// The secret document the tests store in moto or a file.
pub fn secret_document(webhook_secrets: &[&str]) -> String {
    json!({
        "zoom": {"account_id": ZOOM_ACCOUNT_ID, "client_id": ZOOM_CLIENT_ID, "client_secret": ZOOM_CLIENT_SECRET},
        "pagerduty": {"api_token": PD_API_TOKEN, "from_email": FROM_EMAIL, "webhook_secrets": webhook_secrets}
    })
    .to_string()
}

/// The ingress's half of a split secret: the webhook verification secrets, no API credential.
pub fn ingress_secret_document(webhook_secrets: &[&str]) -> String {
    json!({"pagerduty": {"webhook_secrets": webhook_secrets}}).to_string()
}

/// The worker's half of a split secret: the API credentials, no webhook secret.
pub fn worker_secret_document() -> String {
    json!({
        "zoom": {"account_id": ZOOM_ACCOUNT_ID, "client_id": ZOOM_CLIENT_ID, "client_secret": ZOOM_CLIENT_SECRET},
        "pagerduty": {"api_token": PD_API_TOKEN, "from_email": FROM_EMAIL}
    })
    .to_string()
}

pub fn sign(body: &[u8], secret: &str) -> String {
    bridge_relay::pagerduty::signature::sign(body, &secrecy_string(secret))
}

fn secrecy_string(value: &str) -> secrecy::SecretString {
    secrecy::SecretString::from(value.to_owned())
}

/// Polls `check` until it returns Some or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Secrets Manager and SQS resources in moto for one test.
pub struct AwsStandIns {
    pub moto: Moto,
    pub config: SdkConfig,
    /// The one secret of a deployment from before the split.
    pub secret_arn: String,
    /// The ingress's secret: `secret_arn` itself, unless [`AwsStandIns::start_split`] split it.
    pub ingress_secret_arn: String,
    /// The worker's secret: likewise.
    pub worker_secret_arn: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    /// The standard queue of grace timers (`TIMER_QUEUE_URL`).
    pub timer_queue_url: String,
    /// The job queue's visibility timeout.
    pub visibility_seconds: u32,
    pub table_name: String,
}

/// The queue's redrive setting in the tests; the template uses 5 with a 360-second visibility.
pub const MAX_RECEIVES: u32 = 3;

impl AwsStandIns {
    pub async fn start(webhook_secrets: &[&str]) -> AwsStandIns {
        Self::start_with_visibility(webhook_secrets, 360).await
    }

    /// The stand-ins of a split deployment: the ingress's secret holds only `webhook_secrets`,
    /// the worker's only the API credentials, and the one secret is deleted, so nothing can
    /// lean on it.
    pub async fn start_split(webhook_secrets: &[&str]) -> AwsStandIns {
        let mut aws = Self::start(webhook_secrets).await;
        let client = aws_sdk_secretsmanager::Client::new(&aws.config);
        let create = |name: &'static str, document: String| {
            let client = client.clone();
            async move {
                client
                    .create_secret()
                    .name(name)
                    .secret_string(document)
                    .send()
                    .await
                    .expect("create secret in moto")
                    .arn
                    .unwrap()
            }
        };
        aws.ingress_secret_arn = create(
            "bridge-relay/e2e-ingress",
            ingress_secret_document(webhook_secrets),
        )
        .await;
        aws.worker_secret_arn = create("bridge-relay/e2e-worker", worker_secret_document()).await;
        client
            .delete_secret()
            .secret_id(&aws.secret_arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .expect("delete the one secret in moto");
        aws
    }

    /// Whether each function has a secret of its own.
    pub fn is_split(&self) -> bool {
        self.ingress_secret_arn != self.secret_arn
    }

    /// `visibility_seconds` is how soon SQS delivers a failed job again.
    pub async fn start_with_visibility(
        webhook_secrets: &[&str],
        visibility_seconds: u32,
    ) -> AwsStandIns {
        Self::start_on(Moto::start(), webhook_secrets, visibility_seconds).await
    }

    /// The stand-ins for workers that race for the same item (host slots, the Zoom token's
    /// lease): DynamoDB's conditional writes are atomic, as in AWS.
    pub async fn start_for_host_pool(
        webhook_secrets: &[&str],
        visibility_seconds: u32,
    ) -> AwsStandIns {
        Self::start_on(
            Moto::start_with_atomic_dynamodb(),
            webhook_secrets,
            visibility_seconds,
        )
        .await
    }

    async fn start_on(
        moto: Moto,
        webhook_secrets: &[&str],
        visibility_seconds: u32,
    ) -> AwsStandIns {
        use aws_sdk_sqs::types::QueueAttributeName as Q;
        let config = moto.sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let dead_letter_queue_url = sqs
            .create_queue()
            .queue_name("bridge-relay-dead-letters.fifo")
            .attributes(Q::FifoQueue, "true")
            .send()
            .await
            .expect("create dead-letter queue in moto")
            .queue_url
            .unwrap();
        let dlq_arn = sqs
            .get_queue_attributes()
            .queue_url(&dead_letter_queue_url)
            .attribute_names(Q::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()
            .remove(&Q::QueueArn)
            .unwrap();
        let table_name = "bridge-relay-incidents".to_owned();
        {
            use aws_sdk_dynamodb::types::{
                AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
            };
            aws_sdk_dynamodb::Client::new(&config)
                .create_table()
                .table_name(&table_name)
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("pk")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("pk")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .expect("create table in moto");
        }
        let secret_arn = aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name("bridge-relay/e2e")
            .secret_string(secret_document(webhook_secrets))
            .send()
            .await
            .expect("create secret in moto")
            .arn
            .unwrap();
        let queue_url = sqs
            .create_queue()
            .queue_name("bridge-relay-jobs.fifo")
            .attributes(Q::FifoQueue, "true")
            .attributes(Q::VisibilityTimeout, visibility_seconds.to_string())
            .attributes(
                Q::RedrivePolicy,
                json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES})
                    .to_string(),
            )
            .send()
            .await
            .expect("create queue in moto")
            .queue_url
            .unwrap();
        let timer_queue_url = sqs
            .create_queue()
            .queue_name("bridge-relay-timers")
            .send()
            .await
            .expect("create the timer queue in moto")
            .queue_url
            .unwrap();
        AwsStandIns {
            moto,
            config,
            ingress_secret_arn: secret_arn.clone(),
            worker_secret_arn: secret_arn.clone(),
            secret_arn,
            queue_url,
            dead_letter_queue_url,
            timer_queue_url,
            visibility_seconds,
            table_name,
        }
    }

    /// One receive of up to 10 messages of the job queue, with their system attributes.
    pub async fn receive_batch(&self) -> Vec<aws_sdk_sqs::types::Message> {
        aws_sdk_sqs::Client::new(&self.config)
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .expect("receive from moto")
            .messages
            .unwrap_or_default()
    }

    /// Everything in the job queue now, as the SQS event the worker's event source mapping delivers.
    pub async fn receive_as_event(&self) -> aws_lambda_events::sqs::SqsEvent {
        let mut messages = Vec::new();
        loop {
            let batch = self.receive_batch().await;
            if batch.is_empty() {
                return sqs_event(messages);
            }
            messages.extend(batch);
        }
    }

    pub async fn queue_depth(&self) -> usize {
        self.depth(&self.queue_url).await
    }

    pub async fn depth(&self, queue_url: &str) -> usize {
        let output = aws_sdk_sqs::Client::new(&self.config)
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        output
            .attributes
            .unwrap_or_default()
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// The context of a worker invocation that must answer `timeout` from now (the template's
/// worker has 60 s).
pub fn invocation_context(timeout: Duration) -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.deadline = u64::try_from(
        (std::time::SystemTime::now() + timeout)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    context
}

/// Messages as Lambda's SQS event carries them.
pub fn sqs_event(messages: Vec<aws_sdk_sqs::types::Message>) -> aws_lambda_events::sqs::SqsEvent {
    let records: Vec<Value> = messages
        .into_iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), Value::String(v)))
                .collect();
            json!({
                "messageId": m.message_id, "receiptHandle": m.receipt_handle, "body": m.body,
                "attributes": attributes, "messageAttributes": {}, "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bridge-relay-jobs.fifo",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// A Lambda test event from `events/`, as the ingress function receives it.
pub fn http_event(file: &str) -> bridge_relay::lambda::FunctionUrlRequest {
    let text = std::fs::read_to_string(workspace_root().join("events").join(file)).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The ingress function's answer to one Function URL request.
pub async fn invoke_ingress(
    ingress: &bridge_relay::relay::Ingress,
    request: bridge_relay::lambda::FunctionUrlRequest,
) -> bridge_relay::lambda::FunctionUrlResponse {
    let event = lambda_runtime::LambdaEvent::new(request, lambda_runtime::Context::default());
    let Ok(response) = bridge_relay::lambda::handle_function_url(ingress, event).await;
    response
}

/// A JSON POST to `path` through the ingress function: the status and the JSON answer.
pub async fn post_json(
    ingress: &bridge_relay::relay::Ingress,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut headers = headers.to_vec();
    headers.push(("content-type", "application/json"));
    let request = bridge_relay::lambda::FunctionUrlRequest::post(path, &headers, body);
    let response = invoke_ingress(ingress, request).await;
    let answer =
        serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{}: {e}", response.body));
    (response.status_code, answer)
}

/// The relay's configuration read from `variables` instead of the process environment; a
/// later setting of a variable wins, as in a template that overrides a default.
pub fn env_of<'a>(
    variables: &'a [(&str, String)],
) -> bridge_relay::config::Env<impl Fn(&str) -> Option<String> + 'a> {
    bridge_relay::config::Env(move |name: &str| {
        variables
            .iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
}

/// Worker variables a test sets as a deployment sets them in the template (retry timing,
/// receives, the host pool): the worker reads them through its own configuration, so a test
/// changes only what a deployment could change.
#[derive(Debug, Clone, Default)]
pub struct Deployment(Vec<(&'static str, String)>);

impl Deployment {
    pub fn new() -> Self {
        Deployment::default()
    }

    /// Sets `var` (a later setting of the same variable wins).
    pub fn set(mut self, var: &'static str, value: impl ToString) -> Self {
        self.0.push((var, value.to_string()));
        self
    }

    /// `RETRY_FIRST_DELAY_MS`, `RETRY_MAX_DELAY_MS` and `RETRY_MAX_ATTEMPTS`.
    pub fn retries(self, first_ms: u64, max_ms: u64, attempts: u32) -> Self {
        self.set("RETRY_FIRST_DELAY_MS", first_ms)
            .set("RETRY_MAX_DELAY_MS", max_ms)
            .set("RETRY_MAX_ATTEMPTS", attempts)
    }

    /// The host pool: `hosts` (the first as `ZOOM_HOST_USER`) with `meetings_per_host` slots.
    pub fn hosts(self, hosts: &[&str], meetings_per_host: u32) -> Self {
        self.set("ZOOM_HOST_USER", hosts.first().copied().unwrap_or_default())
            .set("ZOOM_HOST_USERS", hosts.join(","))
            .set("ZOOM_HOST_MAX_MEETINGS", meetings_per_host)
    }

    /// One host with room for every incident a test opens at once, so none waits for a slot
    /// or runs out of the day's creates: for tests of something other than the pool.
    pub fn roomy_pool(self) -> Self {
        self.set("ZOOM_HOST_MAX_MEETINGS", 1000)
            .set("ZOOM_HOST_DAILY_CREATES", 100_000)
    }

    pub fn vars(&self) -> &[(&'static str, String)] {
        &self.0
    }
}

impl AwsStandIns {
    /// The worker as the Lambda builds it, against these stand-ins, with the template's
    /// variables and `deployment`'s.
    pub fn worker(
        &self,
        apis_env: &[(&'static str, String)],
        deployment: Deployment,
    ) -> (
        std::sync::Arc<bridge_relay::relay::Worker>,
        std::sync::Arc<bridge_relay::zoom::ZoomApi>,
    ) {
        self.worker_with_client(apis_env, deployment, bridge_relay::http::client())
    }

    /// The same with an HTTP client of the test's choosing (a short timeout for fault tests).
    pub fn worker_with_client(
        &self,
        apis_env: &[(&'static str, String)],
        deployment: Deployment,
        http: reqwest::Client,
    ) -> (
        std::sync::Arc<bridge_relay::relay::Worker>,
        std::sync::Arc<bridge_relay::zoom::ZoomApi>,
    ) {
        use std::sync::Arc;
        // The worker Lambda's own composition, from the variables the template gives it; each
        // worker is a container of its own (its own caches), the table shared.
        let variables: Vec<(&str, String)> = [
            ("ZOOM_HOST_USER", HOST_USER.to_owned()),
            ("QUEUE_URL", self.queue_url.clone()),
        ]
        .into_iter()
        .chain(self.worker_env())
        .chain(apis_env.iter().cloned())
        .chain(deployment.0)
        .collect();
        let config = env_of(&variables)
            .worker()
            .expect("the stand-ins give the worker every variable it needs");
        let built = bridge_relay::compose::lambda_worker(&self.config, config, http);
        (Arc::new(built.worker), built.zoom)
    }

    /// The ingress as the Lambda builds it, with the secret and job queue in moto.
    pub fn ingress(
        &self,
        policy: bridge_relay::policy::BridgePolicy,
    ) -> bridge_relay::relay::Ingress {
        self.ingress_to(&self.queue_url, policy)
    }

    pub fn ingress_to(
        &self,
        queue_url: &str,
        policy: bridge_relay::policy::BridgePolicy,
    ) -> bridge_relay::relay::Ingress {
        bridge_relay::compose::lambda_ingress(
            &self.config,
            bridge_relay::config::IngressConfig {
                secret_id: self.ingress_secret_arn.clone(),
                secret_var: "INGRESS_SECRET_ID",
                queue_url: queue_url.to_owned(),
                policy,
                secret_ttl: Duration::from_secs(300),
                table_name: Some(self.table_name.clone()),
            },
        )
    }

    pub fn secret_cache(&self) -> std::sync::Arc<bridge_relay::secrets::SecretCache> {
        bridge_relay::secrets::secrets_manager(
            &self.config,
            &self.secret_arn,
            Duration::from_secs(300),
        )
    }

    /// The ingress's secret as the deployed ingress reads it (for its keys only).
    pub fn ingress_secret_cache(&self) -> std::sync::Arc<bridge_relay::secrets::SecretCache> {
        bridge_relay::secrets::secrets_manager_for(
            bridge_relay::secrets::SecretRole::Ingress,
            &self.config,
            &self.ingress_secret_arn,
            Duration::from_secs(300),
        )
    }

    /// The worker's secret as the deployed worker reads it.
    pub fn worker_secret_cache(&self) -> std::sync::Arc<bridge_relay::secrets::SecretCache> {
        bridge_relay::secrets::secrets_manager_for(
            bridge_relay::secrets::SecretRole::Worker,
            &self.config,
            &self.worker_secret_arn,
            Duration::from_secs(300),
        )
    }

    /// The ingress's settings for these stand-ins, as environment variables: the template's
    /// `SECRET_ID` for one secret, `INGRESS_SECRET_ID` once split.
    pub fn ingress_env(&self) -> Vec<(&'static str, String)> {
        let secret = if self.is_split() {
            ("INGRESS_SECRET_ID", self.ingress_secret_arn.clone())
        } else {
            ("SECRET_ID", self.secret_arn.clone())
        };
        vec![
            ("AWS_ENDPOINT_URL", self.moto.url.clone()),
            secret,
            ("QUEUE_URL", self.queue_url.clone()),
        ]
    }

    /// The worker's settings for these stand-ins, as environment variables.
    pub fn worker_env(&self) -> Vec<(&'static str, String)> {
        let secret = if self.is_split() {
            ("WORKER_SECRET_ID", self.worker_secret_arn.clone())
        } else {
            ("SECRET_ID", self.secret_arn.clone())
        };
        let mut variables = vec![
            ("AWS_ENDPOINT_URL", self.moto.url.clone()),
            secret,
            ("TABLE_NAME", self.table_name.clone()),
            ("DEAD_LETTER_QUEUE_URL", self.dead_letter_queue_url.clone()),
            ("TIMER_QUEUE_URL", self.timer_queue_url.clone()),
            ("MAX_RECEIVE_COUNT", MAX_RECEIVES.to_string()),
        ];
        // Stand-ins with a queue visibility shorter than the backoff (to make a test quick)
        // bring a failed delivery back at that visibility, as a deployment with such a queue
        // would set it; the template's 360 s keeps the default backoff.
        if self.visibility_seconds <= 60 {
            variables.push((
                "REDELIVERY_BACKOFF_SECONDS",
                self.visibility_seconds.to_string(),
            ));
        }
        variables
    }
}

impl AwsStandIns {
    /// Messages in the queue, visible or being handled.
    pub async fn in_queue(&self, queue_url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as Q;
        let attributes = aws_sdk_sqs::Client::new(&self.config)
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(Q::ApproximateNumberOfMessages)
            .attribute_names(Q::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        [
            Q::ApproximateNumberOfMessages,
            Q::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .filter_map(|name| attributes.get(name)?.parse::<usize>().ok())
        .sum()
    }

    /// Reads and deletes every message of `queue_url`; returns their bodies.
    pub async fn drain(&self, queue_url: &str) -> Vec<String> {
        let client = aws_sdk_sqs::Client::new(&self.config);
        let mut bodies = Vec::new();
        loop {
            let messages = client
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                return bodies;
            }
            for m in messages {
                client
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
                bodies.push(m.body.unwrap_or_default());
            }
        }
    }

    pub async fn put_secret(&self, document: String) {
        aws_sdk_secretsmanager::Client::new(&self.config)
            .put_secret_value()
            .secret_id(&self.secret_arn)
            .secret_string(document)
            .send()
            .await
            .expect("put secret value in moto");
    }

    /// Plays the Lambda event source mapping: receives batches from the job queue, invokes the
    /// worker handler with a real deadline, deletes what succeeded, leaves failures to SQS's
    /// redelivery and redrive. Returns once the queue is empty and nothing is in flight.
    pub async fn run_event_source(
        &self,
        worker: std::sync::Arc<bridge_relay::relay::Worker>,
        invocation_timeout: Duration,
    ) -> usize {
        let client = aws_sdk_sqs::Client::new(&self.config);
        let mut invocations = 0;
        loop {
            let messages = self.receive_batch().await;
            if messages.is_empty() {
                if self.in_queue(&self.queue_url).await == 0 {
                    return invocations;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            let receipts: std::collections::HashMap<String, String> = messages
                .iter()
                .map(|m| {
                    (
                        m.message_id.clone().unwrap(),
                        m.receipt_handle.clone().unwrap(),
                    )
                })
                .collect();
            let event = sqs_event(messages);
            let mut context = lambda_runtime::Context::default();
            context.deadline = (std::time::SystemTime::now() + invocation_timeout)
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            invocations += 1;
            let response = bridge_relay::lambda::handle_sqs(
                worker.clone(),
                lambda_runtime::LambdaEvent::new(event, context),
            )
            .await
            .expect("the worker handler never errors as a whole");
            let failed: std::collections::HashSet<String> = response
                .batch_item_failures
                .into_iter()
                .map(|f| f.item_identifier)
                .collect();
            for (id, receipt) in receipts {
                if failed.contains(&id) {
                    continue;
                }
                // An invocation that outlived the visibility timeout holds a stale receipt:
                // the message was handed out again and that delivery will find the work done.
                if let Err(e) = client
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                {
                    let stale = e
                        .as_service_error()
                        .is_some_and(|e| e.is_receipt_handle_is_invalid());
                    assert!(stale, "delete failed: {e:?}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's HTTP server on 127.0.0.1:`port` (it says "address already in use" and exits if
    /// the port is taken).
    fn http_server(port: u16) -> Command {
        let mut command = Command::new(tool("venv/bin/python", "python3"));
        command.args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ]);
        command
    }

    #[test]
    fn a_child_that_lost_its_port_is_started_again_on_another() {
        // Another process binds the first port before the child does, as another test's child
        // can; it listens and would accept the connections meant for the child.
        let mut taken = None;
        let (mut process, port) =
            Process::spawn_listening("http-server", Duration::from_secs(30), |port| {
                if taken.is_none() {
                    taken = Some(TcpListener::bind(("127.0.0.1", port)).unwrap());
                }
                http_server(port)
            });
        let taken = taken.unwrap().local_addr().unwrap().port();
        assert_ne!(port, taken, "the port the other process holds");
        assert!(process.child.try_wait().unwrap().is_none(), "still running");
        let sockets = listening_sockets(port);
        assert!(group_holds(process.child.id(), &sockets), "{sockets:?}");
        assert!(!group_holds(process.child.id(), &listening_sockets(taken)));
    }

    #[test]
    #[should_panic(expected = "exited with exit status: 3")]
    fn a_child_that_fails_otherwise_fails_the_test_with_its_output() {
        Process::spawn_listening("failing", Duration::from_secs(30), |_| {
            let mut command = Command::new(tool("venv/bin/python", "python3"));
            command.args(["-c", "import sys; sys.exit(3)"]);
            command
        });
    }
}

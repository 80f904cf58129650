//! `bridge-relay doctor` against the stand-ins (Prism proxies of the official specs in front of
//! recording wiremock servers, moto for Secrets Manager): the healthy deployment, and each thing
//! that can be wrong with one, each reported on its own line with a fix and a failing exit code.

use std::path::Path;
use std::process::Command;

use bridge_relay_tests::*;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const WEBHOOK_URL: &str = "https://abc123.lambda-url.us-east-1.on.aws/";
const BAD_PD_TOKEN: &str = "pd-token-revoked";
const NO_SUBSCRIPTIONS_PD_TOKEN: &str = "pd-token-of-an-account-without-subscriptions";
const WRONG_ZOOM_ACCOUNT: &str = "another-account";

fn pd_auth(token: &str) -> wiremock::matchers::HeaderExactMatcher {
    header("authorization", format!("Token token={token}").as_str())
}

/// What a real account answers to the doctor's look-ups, on top of the relay's usual stand-ins.
async fn mount_account(apis: &ApiStandIns) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(query_param("account_id", WRONG_ZOOM_ACCOUNT))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}),
        ))
        .mount(&apis.zoom_oauth)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/users/{HOST_USER}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "KDcuGIm1QgePTO8WbOqwIQ", "email": HOST_USER, "type": 2, "status": "active",
            "first_name": "Incident", "last_name": "Bridge", "timezone": "UTC"
        })))
        .mount(&apis.zoom_upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/users/nobody@example.com"))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"code": 1001, "message": "User does not exist: nobody@example.com."}),
        ))
        .mount(&apis.zoom_upstream)
        .await;

    let pd = &apis.pagerduty_upstream;
    Mock::given(method("GET"))
        .and(path("/users"))
        .and(pd_auth(BAD_PD_TOKEN))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": {"message": "Unauthorized", "code": 2006}})),
        )
        .mount(pd)
        .await;
    let mut users = spec_example("pagerduty-rest.json", "/users", "get", "200");
    users["users"][0]["email"] = json!(FROM_EMAIL);
    users["users"][0]["name"] = json!("Relay Bot");
    for token in [PD_API_TOKEN, NO_SUBSCRIPTIONS_PD_TOKEN] {
        Mock::given(method("GET"))
            .and(path("/users"))
            .and(pd_auth(token))
            .respond_with(ResponseTemplate::new(200).set_body_json(users.clone()))
            .mount(pd)
            .await;
    }
    // The list operation's example is a $ref to this shared one.
    let spec = read_json("tests/fixtures/openapi/pagerduty-rest.json");
    let mut subscriptions =
        spec["components"]["examples"]["ListSubscriptionExample"]["value"].clone();
    let elsewhere = subscriptions["webhook_subscriptions"][0].clone();
    assert!(
        elsewhere["delivery_method"]["url"].is_string(),
        "{subscriptions}"
    );
    let mut ours = elsewhere.clone();
    ours["id"] = json!("PRELAY1");
    ours["delivery_method"]["url"] = json!(WEBHOOK_URL);
    subscriptions["webhook_subscriptions"] = json!([elsewhere, ours]);
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(pd_auth(PD_API_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(subscriptions))
        .mount(pd)
        .await;
    Mock::given(method("GET"))
        .and(path("/webhook_subscriptions"))
        .and(pd_auth(NO_SUBSCRIPTIONS_PD_TOKEN))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"webhook_subscriptions": [], "limit": 100, "offset": 0, "total": null, "more": false}),
        ))
        .mount(pd)
        .await;
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The line of check `name`.
    fn line(&self, name: &str) -> &str {
        self.stdout
            .lines()
            .find(|line| line[5..].starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line in:\n{}", self.stdout))
    }

    fn assert_line(&self, name: &str, status: &str, contains: &[&str]) {
        let line = self.line(name);
        assert!(line.starts_with(status), "{name} is not {status}: {line}");
        for text in contains {
            assert!(line.contains(text), "{text:?} missing from: {line}");
        }
    }
}

fn doctor(apis: &ApiStandIns, host: &str, secret: &[&str], extra_env: &[(&str, String)]) -> Run {
    doctor_at(apis, host, secret, extra_env, WEBHOOK_URL)
}

fn doctor_at(
    apis: &ApiStandIns,
    host: &str,
    secret: &[&str],
    extra_env: &[(&str, String)],
    webhook_url: &str,
) -> Run {
    let mut command = Command::new(workspace_binary("bridge-relay"));
    command
        .arg("doctor")
        .args(secret)
        .args(["--webhook-url", webhook_url])
        .envs(apis.env())
        .env("ZOOM_HOST_USER", host)
        .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())));
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for secret in [
        ZOOM_CLIENT_SECRET,
        PD_API_TOKEN,
        ZOOM_ACCESS_TOKEN,
        BAD_PD_TOKEN,
    ] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked:\n{stdout}\n{stderr}"
        );
    }
    println!("{stdout}{stderr}");
    Run {
        ok: output.status.success(),
        stdout,
        stderr,
    }
}

fn secrets_file(dir: &Path, name: &str, document: &Value) -> String {
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, document.to_string()).unwrap();
    file.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_passes_a_healthy_deployment_and_names_each_fault_with_a_fix() {
    let (apis, aws) = tokio::join!(ApiStandIns::start(1), AwsStandIns::start(&["hook-secret"]));
    mount_account(&apis).await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-doctor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut good: Value = serde_json::from_str(&secret_document(&["hook-secret"])).unwrap();
    good["zoom"]["webhook_secret_token"] = json!("zoom-event-secret-token");
    let file = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut document = good.clone();
        edit(&mut document);
        secrets_file(&dir, name, &document)
    };
    let good_file = file("good", &|_| {});

    // Healthy, with the secret from Secrets Manager (moto) and from a file.
    let moto_env = [
        ("AWS_ENDPOINT_URL", aws.moto.url.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    // The deployed secret without the table: refused before any token is fetched, since a
    // token of doctor's own would void the one the workers share.
    let token_requests = || async { ApiStandIns::requests(&apis.zoom_oauth).await.len() };
    let fetches_before = token_requests().await;
    let without_table = doctor(
        &apis,
        HOST_USER,
        &["--secret-id", &aws.secret_arn],
        &moto_env,
    );
    assert!(!without_table.ok);
    assert!(
        without_table.stderr.contains("needs --table-name"),
        "{}",
        without_table.stderr
    );
    assert_eq!(token_requests().await, fetches_before, "no token fetched");
    let healthy = doctor(
        &apis,
        HOST_USER,
        &[
            "--secret-id",
            &aws.secret_arn,
            "--table-name",
            &aws.table_name,
        ],
        &moto_env,
    );
    assert!(healthy.ok, "{}", healthy.stdout);
    assert_eq!(healthy.stdout.lines().count(), 9, "{}", healthy.stdout);
    // This secret has no Zoom event token: a warning with the fix, still healthy.
    healthy.assert_line(
        "zoom events",
        "warn",
        &["no zoom.webhook_secret_token", "fix: add the Secret Token"],
    );
    assert!(
        healthy.stdout.lines().all(|l| l.starts_with("ok ")
            || l.contains("zoom events")
            || l.contains("after-call scopes")
            || l.contains("meeting update scope")),
        "{}",
        healthy.stdout
    );
    // The stand-in's app has only the meeting write scope: the after-call notes need more.
    healthy.assert_line(
        "after-call scopes",
        "warn",
        &[
            "may not read meeting summaries or cloud recordings and transcripts",
            "fix: add the scope meeting_summary:read:admin and cloud_recording:read:list_recording_files:admin",
        ],
    );
    healthy.assert_line(
        "meeting update scope",
        "warn",
        &[
            "may not update meetings",
            "fix: add the scope meeting:update:meeting:admin",
        ],
    );
    // An app with the granular scopes of each (as Zoom lists them with its token) passes.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(query_param("account_id", ZOOM_ACCOUNT_ID))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": ZOOM_ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3599,
            "scope": "meeting:write:meeting:admin meeting:update:meeting:admin meeting:read:list_past_instances:admin meeting:delete:meeting:admin meeting:read:summary:admin cloud_recording:read:list_recording_files:admin",
            "api_url": "https://api.zoom.us"
        })))
        .with_priority(1)
        .mount(&apis.zoom_oauth)
        .await;
    healthy.assert_line("secret", "ok", &["Zoom app test-client", FROM_EMAIL]);
    healthy.assert_line(
        "zoom host user",
        "ok",
        &["KDcuGIm1QgePTO8WbOqwIQ", "active"],
    );
    healthy.assert_line("pagerduty from user", "ok", &["Relay Bot"]);
    healthy.assert_line(
        "webhook subscription",
        "ok",
        &["PRELAY1", "incident.triggered"],
    );
    let from_file = doctor(&apis, HOST_USER, &["--secrets-file", &good_file], &[]);
    assert!(from_file.ok, "{}", from_file.stdout);
    assert!(
        from_file.stdout.lines().all(|l| l.starts_with("ok ")),
        "{}",
        from_file.stdout
    );
    from_file.assert_line(
        "zoom events",
        "ok",
        &["verified with the app's secret token"],
    );
    from_file.assert_line(
        "after-call scopes",
        "ok",
        &["may read meeting summaries and cloud recordings"],
    );
    from_file.assert_line(
        "meeting update scope",
        "ok",
        &["may update meetings", "and remove unused ones"],
    );
    let empty_token = file("empty-zoom-token", &|d| {
        d["zoom"]["webhook_secret_token"] = json!(" ")
    });
    let empty_token = doctor(&apis, HOST_USER, &["--secrets-file", &empty_token], &[]);
    assert!(!empty_token.ok, "{}", empty_token.stdout);
    empty_token.assert_line(
        "zoom events",
        "FAIL",
        &["is empty", "fix: paste the Secret Token"],
    );
    // It only looked: nothing was created or changed anywhere.
    for server in [
        &apis.zoom_upstream,
        &apis.pagerduty_upstream,
        &apis.zoom_oauth,
    ] {
        let requests = ApiStandIns::requests(server).await;
        assert!(
            requests
                .iter()
                .all(|r| r.method.as_str() == "GET" || r.url.path() == "/oauth/token"),
            "{:?}",
            requests
                .iter()
                .map(|r| format!("{} {}", r.method, r.url))
                .collect::<Vec<_>>()
        );
    }

    // A secret that does not exist, and one that does not parse.
    let missing = doctor(
        &apis,
        HOST_USER,
        &[
            "--secret-id",
            "bridge-relay/nope",
            "--table-name",
            &aws.table_name,
        ],
        &moto_env,
    );
    assert!(!missing.ok);
    missing.assert_line(
        "secret",
        "FAIL",
        &[
            "bridge-relay/nope could not be read",
            "fix: check the secret's name",
        ],
    );
    missing.assert_line("zoom credentials", "skip", &[]);
    let malformed = file("malformed", &|d| {
        d["zoom"].as_object_mut().unwrap().remove("client_secret");
    });
    let bad_secret = doctor(&apis, HOST_USER, &["--secrets-file", &malformed], &[]);
    assert!(!bad_secret.ok);
    bad_secret.assert_line(
        "secret",
        "FAIL",
        &[
            "missing field `client_secret`",
            "fix: correct the secret document",
        ],
    );
    bad_secret.assert_line("webhook subscription", "skip", &[]);

    // Zoom refuses the app's credentials.
    let wrong_account = file("wrong-account", &|d| {
        d["zoom"]["account_id"] = json!(WRONG_ZOOM_ACCOUNT)
    });
    let refused = doctor(&apis, HOST_USER, &["--secrets-file", &wrong_account], &[]);
    assert!(!refused.ok);
    refused.assert_line(
        "zoom credentials",
        "FAIL",
        &[
            "HTTP 400",
            "Invalid client_id or client_secret",
            "fix: check zoom.account_id",
        ],
    );
    refused.assert_line("zoom host user", "skip", &[]);
    refused.assert_line("pagerduty token", "ok", &[]);

    // The host user is not in the Zoom account.
    let unknown_host = doctor(
        &apis,
        "nobody@example.com",
        &["--secrets-file", &good_file],
        &[],
    );
    assert!(!unknown_host.ok);
    unknown_host.assert_line(
        "zoom host user",
        "FAIL",
        &[
            "Zoom has no user nobody@example.com",
            "User does not exist",
            "fix: set ZOOM_HOST_USER",
        ],
    );

    // PagerDuty refuses the key.
    let revoked = file("revoked", &|d| {
        d["pagerduty"]["api_token"] = json!(BAD_PD_TOKEN)
    });
    let unauthorized = doctor(&apis, HOST_USER, &["--secrets-file", &revoked], &[]);
    assert!(!unauthorized.ok);
    unauthorized.assert_line(
        "pagerduty token",
        "FAIL",
        &["HTTP 401", "fix: create a REST API key"],
    );
    unauthorized.assert_line("zoom host user", "ok", &[]);

    // The From user does not exist.
    let stranger = file("stranger", &|d| {
        d["pagerduty"]["from_email"] = json!("stranger@example.com")
    });
    let no_user = doctor(&apis, HOST_USER, &["--secrets-file", &stranger], &[]);
    assert!(!no_user.ok);
    no_user.assert_line(
        "pagerduty from user",
        "FAIL",
        &[
            "no PagerDuty user has the email stranger@example.com",
            "fix: set pagerduty.from_email",
        ],
    );

    // The subscription points elsewhere, is missing, or does not send the bridge events.
    let elsewhere = doctor_at(
        &apis,
        HOST_USER,
        &["--secrets-file", &good_file],
        &[],
        "https://other.example.com/hook",
    );
    assert!(!elsewhere.ok);
    elsewhere.assert_line(
        "webhook subscription",
        "FAIL",
        &[
            "no webhook subscription delivers to https://other.example.com/hook",
            WEBHOOK_URL,
            "fix: create a Generic Webhook (v3)",
        ],
    );
    let empty = file("no-subscriptions", &|d| {
        d["pagerduty"]["api_token"] = json!(NO_SUBSCRIPTIONS_PD_TOKEN)
    });
    let none = doctor(&apis, HOST_USER, &["--secrets-file", &empty], &[]);
    assert!(!none.ok);
    none.assert_line("webhook subscription", "FAIL", &["the account has none"]);
    let escalations = doctor(
        &apis,
        HOST_USER,
        &["--secrets-file", &good_file],
        &[(
            "BRIDGE_EVENT_TYPES",
            "incident.triggered,incident.reopened".to_owned(),
        )],
    );
    assert!(!escalations.ok);
    escalations.assert_line(
        "webhook subscription",
        "FAIL",
        &["does not send incident.reopened"],
    );

    let _ = std::fs::remove_dir_all(&dir);
    // Every request passed the official specs' validation.
    for prism in [&apis.zoom_prism, &apis.pagerduty_prism] {
        assert!(!prism.output().contains("Violation"), "{}", prism.output());
    }
}

/// A split deployment: doctor reads both secrets, says which is which and what each holds, and
/// names the one that lacks what its function needs (or holds what the public one must not).
#[tokio::test(flavor = "multi_thread")]
async fn doctor_checks_the_ingress_and_the_worker_secret_and_says_which_is_which() {
    let (apis, aws) = tokio::join!(
        ApiStandIns::start(1),
        AwsStandIns::start_split(&["hook-secret"])
    );
    mount_account(&apis).await;
    let moto_env = [
        ("AWS_ENDPOINT_URL", aws.moto.url.clone()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
    ];
    let split = doctor(
        &apis,
        HOST_USER,
        &[
            "--ingress-secret-id",
            &aws.ingress_secret_arn,
            "--worker-secret-id",
            &aws.worker_secret_arn,
            "--table-name",
            &aws.table_name,
        ],
        &moto_env,
    );
    assert!(split.ok, "{}", split.stdout);
    assert_eq!(split.stdout.lines().count(), 10, "{}", split.stdout);
    split.assert_line(
        "worker secret",
        "ok",
        &[
            &aws.worker_secret_arn,
            "(the worker's only)",
            "Zoom app test-client",
            FROM_EMAIL,
        ],
    );
    split.assert_line(
        "ingress secret",
        "ok",
        &[
            &aws.ingress_secret_arn,
            "(the public ingress's)",
            "pagerduty.webhook_secrets (1)",
            "no API credential",
        ],
    );
    split.assert_line("zoom credentials", "ok", &[]);
    split.assert_line("pagerduty from user", "ok", &["Relay Bot"]);
    split.assert_line("webhook subscription", "ok", &["PRELAY1"]);
    split.assert_line("zoom events", "warn", &["no zoom.webhook_secret_token"]);

    let dir =
        std::env::temp_dir().join(format!("bridge-relay-doctor-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ingress_doc: Value =
        serde_json::from_str(&ingress_secret_document(&["hook-secret"])).unwrap();
    ingress_doc["zoom"] = json!({"webhook_secret_token": "zoom-event-secret-token"});
    let ingress_file = secrets_file(&dir, "ingress", &ingress_doc);
    let worker_doc: Value = serde_json::from_str(&worker_secret_document()).unwrap();
    let worker_file = secrets_file(&dir, "worker", &worker_doc);
    let both_doc: Value = serde_json::from_str(&secret_document(&["hook-secret"])).unwrap();
    let both_file = secrets_file(&dir, "both", &both_doc);
    let files = |ingress: &str, worker: &str| {
        doctor(
            &apis,
            HOST_USER,
            &[
                "--ingress-secrets-file",
                ingress,
                "--worker-secrets-file",
                worker,
            ],
            &[],
        )
    };

    // The Zoom event token is the ingress's: the check reads it there.
    let from_files = files(&ingress_file, &worker_file);
    assert!(from_files.ok, "{}", from_files.stdout);
    from_files.assert_line(
        "zoom events",
        "ok",
        &["verified with the app's secret token"],
    );
    from_files.assert_line(
        "ingress secret",
        "ok",
        &["pagerduty.webhook_secrets (1), zoom.webhook_secret_token"],
    );

    // Halfway through the migration the ingress still reads the old secret: it works, and the
    // warning says what to remove.
    let halfway = files(&both_file, &worker_file);
    assert!(halfway.ok, "{}", halfway.stdout);
    halfway.assert_line(
        "ingress secret",
        "warn",
        &[
            "also zoom app credentials, pagerduty.api_token and from_email",
            "fix: remove the API credentials from the ingress's secret",
        ],
    );

    // Swapped: each fails by the keys its function needs.
    let swapped = files(&worker_file, &ingress_file);
    assert!(!swapped.ok, "{}", swapped.stdout);
    swapped.assert_line(
        "worker secret",
        "FAIL",
        &[
            "has no zoom.account_id",
            "which the worker needs",
            "fix: add the keys",
        ],
    );
    swapped.assert_line(
        "ingress secret",
        "FAIL",
        &[
            "has no pagerduty.webhook_secrets",
            "which the ingress needs",
        ],
    );
    swapped.assert_line("zoom credentials", "skip", &[]);
    swapped.assert_line("zoom events", "skip", &[]);
    swapped.assert_line("webhook subscription", "skip", &[]);

    // Half a split is refused: both or one.
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["doctor", "--ingress-secrets-file", &ingress_file])
        .envs(apis.env())
        .env("ZOOM_HOST_USER", HOST_USER)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--ingress-secrets-file and --worker-secrets-file"),
        "{output:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

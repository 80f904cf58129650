//! The Lambda binaries as deployed (`cargo lambda build --release`, `target/lambda/*/bootstrap`)
//! answer invocations through the Lambda runtime API of cargo-lambda's emulator, with the same
//! init work as in AWS (config from the environment, SDK clients), fed the files in events/.

use std::process::Command;
use std::time::Duration;

use bridge_relay_tests::*;
use serde_json::Value;

struct Emulator {
    port: u16,
    _process: Process,
}

impl Emulator {
    fn start() -> Emulator {
        let (process, port) =
            Process::spawn_listening("cargo-lambda-watch", Duration::from_secs(30), |port| {
                let mut command = Command::new(tool("venv/bin/cargo-lambda", "cargo-lambda"));
                command
                    .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
                    .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                    .current_dir(workspace_root());
                command
            });
        Emulator {
            port,
            _process: process,
        }
    }

    /// Runs `function`'s bootstrap against this emulator with the given settings.
    fn run_function(&self, function: &str, env: &[(&str, String)]) -> Process {
        // The emulator serves the function it calls `_` when it does not start one itself.
        let runtime_api = format!("http://127.0.0.1:{}/.rt", self.port);
        let mut command = lambda_command(function, runtime_api, "_", env);
        command.env("PATH", std::env::var("PATH").unwrap_or_default());
        Process::spawn(function, &mut command)
    }

    /// `cargo lambda invoke` with a file from events/; returns the function's JSON answer.
    fn invoke(&self, event_file: &str) -> Value {
        self.invoke_file(&workspace_root().join("events").join(event_file))
    }

    fn invoke_file(&self, event_file: &std::path::Path) -> Value {
        let event_file = event_file.display();
        let output = Command::new(tool("venv/bin/cargo-lambda", "cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                "_",
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
            ])
            .arg("--data-file")
            .arg(event_file.to_string())
            .current_dir(workspace_root())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "invoke {event_file} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_binaries_answer_through_the_runtime_api() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]),
        ApiStandIns::start(85012345678)
    );
    let emulator = Emulator::start();

    let ingress = emulator.run_function(
        "bridge-relay-ingress",
        &[
            ("AWS_ENDPOINT_URL", aws.moto.url.clone()),
            ("SECRET_ID", aws.secret_arn.clone()),
            ("QUEUE_URL", aws.queue_url.clone()),
        ],
    );
    let answer = emulator.invoke("ingress-triggered.json");
    assert_eq!(answer["statusCode"], 202, "{answer}\n{}", ingress.output());
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["incident"], "PFQZPSY");
    let answer = emulator.invoke("ingress-bad-signature.json");
    assert_eq!(answer["statusCode"], 401, "{answer}");
    assert_eq!(aws.queue_depth().await, 1);
    // One JSON line and one EMF document per webhook, each with the invocation's ids.
    let logs = ingress.output();
    let queued = log_line(&logs, "webhook queued");
    let fields = &queued["fields"];
    assert_eq!(fields["decision"], "bridge", "{queued}");
    assert_eq!(fields["incident"], "PFQZPSY", "{queued}");
    assert_eq!(fields["event_type"], "incident.triggered", "{queued}");
    assert_eq!(fields["status"], 202, "{queued}");
    assert!(
        fields["webhook_id"].as_str().is_some_and(|id| id != "-"),
        "{queued}"
    );
    assert_eq!(fields["sqs_calls"], 1, "{queued}");
    assert_eq!(
        fields["secrets_manager_calls"], 1,
        "the first webhook reads the secret: {queued}"
    );
    assert_invocation_ids(&queued);
    let accepted = emf_document(&logs, "WebhooksAccepted", 1.0);
    assert_eq!(accepted["WebhooksRejected"], 0.0, "{accepted}");
    assert_eq!(accepted["incident_id"], "PFQZPSY", "{accepted}");
    assert_eq!(
        accepted["request_id"], queued["fields"]["request_id"],
        "{accepted}"
    );
    let rejected = log_line(&logs, "webhook rejected");
    assert_eq!(rejected["fields"]["decision"], "rejected", "{rejected}");
    assert!(
        rejected["fields"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("signature")),
        "{rejected}"
    );
    assert_invocation_ids(&rejected);
    emf_document(&logs, "WebhooksRejected", 1.0);
    // One secret for both, as before the split: it still serves, and the ingress says where it
    // found what, and that it holds API credentials it never needs.
    let start = log_line(&logs, "the ingress reads webhook verification secrets only");
    assert_eq!(start["fields"]["from"], "SECRET_ID", "{start}");
    let read = log_line(&logs, "secret read");
    assert_eq!(read["fields"]["role"], "ingress", "{read}");
    assert_eq!(
        read["fields"]["keys"],
        "zoom app credentials, pagerduty.api_token and from_email, pagerduty.webhook_secrets (1)",
        "{read}"
    );
    log_line(&logs, "the ingress's secret also holds API credentials");
    assert_no_secrets(&logs);
    drop(ingress);

    // The worker gets the very job the ingress queued, so the time to bridge is measured.
    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    let event_file =
        std::env::temp_dir().join(format!("bridge-relay-job-{}.json", std::process::id()));
    std::fs::write(&event_file, serde_json::to_string(&event).unwrap()).unwrap();
    let mut worker_env = aws.worker_env();
    worker_env.extend(apis.env());
    let worker = emulator.run_function("bridge-relay-worker", &worker_env);
    let answer = emulator.invoke_file(&event_file);
    let _ = std::fs::remove_file(&event_file);
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": []}),
        "{}",
        worker.output()
    );
    let pd = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(
        pd.len(),
        3,
        "bridge and note posted, then the assignee looked up"
    );
    assert_eq!(pd[0].url.path(), "/incidents/PFQZPSY");
    assert_eq!(pd[2].url.path(), "/users/PJ0LVEB");

    let logs = worker.output();
    let job = log_line(&logs, "bridge and note posted");
    let fields = &job["fields"];
    assert_eq!(fields["decision"], "bridge", "{job}");
    assert_eq!(fields["incident"], "PFQZPSY", "{job}");
    assert_eq!(fields["meeting_id"], 85012345678u64, "{job}");
    assert_eq!(fields["event_type"], "incident.triggered", "{job}");
    // The job is deduplicated on the webhook's signed event id; the ingress's line names the
    // delivery by its X-Webhook-Id header.
    assert_eq!(fields["webhook_id"], "01BZYIL05THJDFF2Y08X9SVMTU", "{job}");
    assert_eq!(
        queued["fields"]["webhook_id"], "6f1d0bb0-3a8c-4f8e-9a5e-6b7f0d2c9e41",
        "{queued}"
    );
    assert_eq!(fields["receive_count"], 1, "{job}");
    assert_eq!(
        fields["zoom_calls"], 4,
        "token, create, host check and the update giving host controls: {job}"
    );
    assert_eq!(
        fields["pagerduty_calls"], 3,
        "bridge, note and the assignee's e-mail: {job}"
    );
    assert_eq!(fields["retries"], 0, "{job}");
    let to_bridge = fields["webhook_to_bridge_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("{job}"));
    assert!(to_bridge > 0 && to_bridge < 60_000, "{job}");
    assert_invocation_ids(&job);
    // Every line of the job, not only its summary, belongs to the invocation.
    let meeting = log_line(&logs, "zoom meeting created");
    assert_eq!(
        meeting["span"]["requestId"], fields["request_id"],
        "{meeting}"
    );
    let metrics = emf_document(&logs, "BridgesCreated", 1.0);
    assert_eq!(metrics["JobsDeadLettered"], 0.0, "{metrics}");
    assert_eq!(metrics["ZoomErrors"], 0.0, "{metrics}");
    assert_eq!(metrics["meeting_id"], 85012345678u64, "{metrics}");
    // One latency per call: Zoom's token, create, host check and update; PagerDuty's bridge,
    // note and the assignee's e-mail.
    assert_eq!(
        metrics["ZoomLatency"].as_array().map(Vec::len),
        Some(4),
        "{metrics}"
    );
    assert_eq!(
        metrics["PagerDutyLatency"].as_array().map(Vec::len),
        Some(3),
        "{metrics}"
    );
    assert_eq!(metrics["MeetingsUpdated"], 1.0, "{metrics}");
    let emf_to_bridge = metrics["WebhookToBridge"]
        .as_f64()
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(emf_to_bridge >= to_bridge as f64, "{metrics}");
    assert_eq!(metrics["request_id"], fields["request_id"], "{metrics}");
    assert_eq!(metrics["trace_id"], fields["trace_id"], "{metrics}");
    assert_no_secrets(&logs);
}

/// A split deployment as deployed: each binary finds its own secret by its own variable, logs
/// which keys it found there, and the bridge is made.
#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_binaries_each_run_on_their_own_secret() {
    let (aws, apis) = tokio::join!(
        AwsStandIns::start_split(&[EXAMPLE_WEBHOOK_SECRET]),
        ApiStandIns::start(85012345678)
    );
    let emulator = Emulator::start();

    let ingress = emulator.run_function("bridge-relay-ingress", &aws.ingress_env());
    let answer = emulator.invoke("ingress-triggered.json");
    assert_eq!(answer["statusCode"], 202, "{answer}\n{}", ingress.output());
    let logs = ingress.output();
    let start = log_line(&logs, "the ingress reads webhook verification secrets only");
    assert_eq!(start["fields"]["from"], "INGRESS_SECRET_ID", "{start}");
    assert_eq!(
        start["fields"]["secret"],
        aws.ingress_secret_arn.as_str(),
        "{start}"
    );
    let read = log_line(&logs, "secret read");
    assert_eq!(read["fields"]["role"], "ingress", "{read}");
    assert_eq!(
        read["fields"]["source"],
        aws.ingress_secret_arn.as_str(),
        "{read}"
    );
    assert_eq!(
        read["fields"]["keys"], "pagerduty.webhook_secrets (1)",
        "{read}"
    );
    assert!(!logs.contains("also holds API credentials"), "{logs}");
    assert_no_secrets(&logs);
    drop(ingress);

    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    let event_file = std::env::temp_dir().join(format!(
        "bridge-relay-split-job-{}.json",
        std::process::id()
    ));
    std::fs::write(&event_file, serde_json::to_string(&event).unwrap()).unwrap();
    let mut worker_env = aws.worker_env();
    worker_env.extend(apis.env());
    let worker = emulator.run_function("bridge-relay-worker", &worker_env);
    let answer = emulator.invoke_file(&event_file);
    let _ = std::fs::remove_file(&event_file);
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": []}),
        "{}",
        worker.output()
    );
    let pd = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(
        pd.len(),
        3,
        "bridge and note posted, then the assignee looked up"
    );
    let logs = worker.output();
    let start = log_line(
        &logs,
        "the worker reads the Zoom, PagerDuty and incident.io API credentials",
    );
    assert_eq!(start["fields"]["from"], "WORKER_SECRET_ID", "{start}");
    let read = log_line(&logs, "secret read");
    assert_eq!(read["fields"]["role"], "worker", "{read}");
    assert_eq!(
        read["fields"]["source"],
        aws.worker_secret_arn.as_str(),
        "{read}"
    );
    assert_eq!(
        read["fields"]["keys"], "zoom app credentials, pagerduty.api_token and from_email",
        "{read}"
    );
    assert_no_secrets(&logs);
}

/// The JSON log line whose message contains `message`.
fn log_line(logs: &str, message: &str) -> Value {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(message))
        })
        .unwrap_or_else(|| panic!("no {message:?} line in:\n{logs}"))
}

/// The EMF document in which metric `name` has `value`, checked against the format.
fn emf_document(logs: &str, name: &str, value: f64) -> Value {
    let document = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|doc| doc.get("_aws").is_some() && doc[name] == value)
        .unwrap_or_else(|| panic!("no EMF document with {name} = {value} in:\n{logs}"));
    let directive = &document["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        directive["Namespace"],
        bridge_relay::metrics::NAMESPACE,
        "{document}"
    );
    assert_eq!(
        directive["Dimensions"],
        serde_json::json!([["FunctionName"]]),
        "{document}"
    );
    assert!(document["_aws"]["Timestamp"].is_u64(), "{document}");
    // The emulator's function name, as AWS_LAMBDA_FUNCTION_NAME says.
    assert_eq!(document["FunctionName"], "_", "{document}");
    for metric in directive["Metrics"].as_array().unwrap() {
        let name = metric["Name"].as_str().unwrap();
        assert!(
            document[name].is_number() || document[name].is_array(),
            "{name} has no value: {document}"
        );
    }
    document
}

/// The request id and X-Ray trace id of the invocation, in the line's own fields and its span.
fn assert_invocation_ids(line: &Value) {
    let request_id = line["fields"]["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id: {line}"));
    assert_eq!(line["span"]["requestId"], request_id, "{line}");
    let trace_id = line["fields"]["trace_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no trace_id: {line}"));
    assert!(trace_id.starts_with("Root=1-"), "{line}");
}

fn assert_no_secrets(logs: &str) {
    for secret in [
        ZOOM_CLIENT_SECRET,
        PD_API_TOKEN,
        ZOOM_ACCESS_TOKEN,
        EXAMPLE_WEBHOOK_SECRET,
        "HOST-ONLY-START-URL",
    ] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}

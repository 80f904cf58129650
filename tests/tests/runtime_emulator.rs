//! The Lambda binaries as deployed (`cargo lambda build --release`, `target/lambda/*/bootstrap`)
//! answer invocations through the Lambda runtime API of cargo-lambda's emulator, with the same
//! init work as in AWS (config from the environment, SDK clients), fed the files in events/.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bridge_relay_tests::*;
use serde_json::Value;

fn bootstrap(function: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let path = target.join("lambda").join(function).join("bootstrap");
    assert!(
        path.exists(),
        "{} is missing: run `cargo lambda build --release` first (scripts/test does)",
        path.display()
    );
    path
}

struct Emulator {
    port: u16,
    _process: Process,
}

impl Emulator {
    fn start() -> Emulator {
        let port = free_port();
        let mut process = Process::spawn(
            "cargo-lambda-watch",
            Command::new(tool("venv/bin/cargo-lambda", "cargo-lambda"))
                .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
                .args(["-A", "127.0.0.1", "-P", &port.to_string()])
                .current_dir(workspace_root()),
        );
        process.wait_for_port(port, Duration::from_secs(30));
        Emulator {
            port,
            _process: process,
        }
    }

    /// Runs `function`'s bootstrap against this emulator with the given settings.
    fn run_function(&self, function: &str, env: &[(&str, String)]) -> Process {
        let mut command = Command::new(bootstrap(function));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", self.port),
            )
            // The emulator serves the function it calls `_` when it does not start one itself.
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        Process::spawn(function, &mut command)
    }

    /// `cargo lambda invoke` with a file from events/; returns the function's JSON answer.
    fn invoke(&self, event_file: &str) -> Value {
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
            .arg(workspace_root().join("events").join(event_file))
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
    // JSON log lines carry the invocation's request id.
    let logs = ingress.output();
    let queued = logs
        .lines()
        .find(|line| line.contains("webhook queued"))
        .unwrap_or_else(|| panic!("no queued line in:\n{logs}"));
    let line: Value = serde_json::from_str(queued).unwrap_or_else(|e| panic!("{e}: {queued}"));
    assert!(line["span"]["requestId"].is_string(), "{line}");
    drop(ingress);

    let mut worker_env = aws.worker_env();
    worker_env.extend(apis.env());
    let worker = emulator.run_function("bridge-relay-worker", &worker_env);
    let answer = emulator.invoke("worker-job.json");
    assert_eq!(
        answer,
        serde_json::json!({"batchItemFailures": []}),
        "{}",
        worker.output()
    );
    let pd = ApiStandIns::requests(&apis.pagerduty_upstream).await;
    assert_eq!(pd.len(), 2, "bridge and note posted");
    assert_eq!(pd[0].url.path(), "/incidents/PFQZPSY");
    assert!(
        !worker.output().contains("HOST-ONLY-START-URL"),
        "start_url in the logs"
    );
}

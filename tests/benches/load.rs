//! The local runner (`bridge-relay serve`, release build) under load over HTTP on 127.0.0.1:
//! `wrk` posts signed `incident.triggered` webhooks, each with its own `X-Webhook-Id`, so every
//! request is verified, parsed and queued; the worker in the same process finds the incident
//! already bridged after the first job. Zoom and PagerDuty are the Rust stand-in.
//!
//!   cargo build --release --bin bridge-relay && cargo bench -p bridge-relay-tests --bench load
//!   BENCH_QUICK=1 cargo bench -p bridge-relay-tests --bench load
//!
//! Needs `wrk` (Debian: `apt-get install wrk`).
//!
//! Last comes a `summary:` line of requests per second and latency p50 / p99 (scripts/test
//! shows only that).

use std::process::Command;
use std::time::Duration;

use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;

const SECRET: &str = "load-webhook-secret";

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

/// The lines of wrk's report this bench quotes.
fn summary(report: &str) -> String {
    let wanted = |line: &&str| {
        let line = line.trim_start();
        [
            "Requests/sec",
            "50%",
            "90%",
            "99%",
            "Non-2xx",
            "Socket errors",
        ]
        .iter()
        .any(|prefix| line.starts_with(prefix))
    };
    report.lines().filter(wanted).collect::<Vec<_>>().join("\n")
}

/// The value after `label` on wrk's line that starts with it ("Requests/sec:", "50%").
fn figure<'a>(report: &'a str, label: &str) -> &'a str {
    report
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(label))
        .map_or("?", str::trim)
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let apis = FaultyApis::start(1, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    let dir = std::env::temp_dir().join(format!("bridge-relay-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let secrets_file = dir.join("secrets.json");
    std::fs::write(&secrets_file, secret_document(&[SECRET])).unwrap();

    let body = pagerduty_webhook_bytes(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
    );
    let script = dir.join("webhook.lua");
    std::fs::write(
        &script,
        format!(
            r#"wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-PagerDuty-Signature"] = {signature}
local n = 0
request = function()
  n = n + 1
  wrk.headers["X-Webhook-Id"] = "load-" .. tostring(n) .. "-" .. tostring(math.random(1e9))
  return wrk.format()
end
"#,
            body = lua_string(std::str::from_utf8(&body).unwrap()),
            signature = lua_string(&sign(&body, SECRET)),
        ),
    )
    .unwrap();

    let (_runner, port) =
        Process::spawn_listening("bridge-relay serve", Duration::from_secs(30), |port| {
            let mut runner = Command::new(release_binary("bridge-relay"));
            runner
                .args(["serve", "--secrets-file"])
                .arg(&secrets_file)
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .envs(apis.env());
            runner
        });

    let (seconds, connections) = if quick { (3, 16) } else { (15, 64) };
    println!(
        "local runner under wrk: {connections} connections, 1 wrk thread, {seconds} s, \
         signed incident.triggered webhooks of {} bytes",
        body.len()
    );
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .args(["--latency", "-s"])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}/webhook"))
        .output()
        .expect("wrk not found: apt-get install wrk");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {report}");
    println!("{}", summary(&report));
    assert!(
        !report.contains("Non-2xx"),
        "the runner refused webhooks under load:\n{report}"
    );
    assert_eq!(
        apis.state().meetings.len(),
        1,
        "one meeting for the one incident"
    );
    println!(
        "summary: load: {} requests/s, latency p50 {} p99 {} ({connections} connections, {seconds} s)",
        figure(&report, "Requests/sec:"),
        figure(&report, "50%"),
        figure(&report, "99%"),
    );
    let _ = std::fs::remove_dir_all(dir);
}

//! CPU time of the ingress per signed webhook: signature check, parse, policy, job encode and
//! hand-off to the (in-process) queue, for a small and a large real-shaped payload.
//!
//!   cargo bench -p bridge-relay --bench ingress            (full run)
//!   BENCH_QUICK=1 cargo bench -p bridge-relay --bench ingress   (short run, as CI does)
//!
//! Prints the median of several runs in µs per webhook and webhooks per second on one core,
//! and last a `summary:` line with the two handle times (scripts/test shows only that line).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::pagerduty::{signature, webhook};
use bridge_relay::policy::BridgePolicy;
use bridge_relay::queue::InProcessQueue;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::WebhookRequest;
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use secrecy::SecretString;
use serde_json::json;

const WEBHOOK_SECRET: &str = "bench-webhook-secret";

/// A captured V3 webhook dated now, as PagerDuty would send it (the relay ignores events older
/// than PagerDuty's retry window).
fn fixture(relative: &str) -> Vec<u8> {
    let body = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(relative),
    )
    .unwrap();
    let mut envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
    envelope["event"]["occurred_at"] =
        json!(humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string());
    serde_json::to_vec(&envelope).unwrap()
}

/// A triggered incident padded the way big accounts send them: long title, many assignees
/// and teams, about 50 KB (PagerDuty guarantees delivery up to 55 KB).
fn large_payload() -> Vec<u8> {
    let mut envelope: serde_json::Value = serde_json::from_slice(&fixture(
        "tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json",
    ))
    .unwrap();
    let user = |i: usize| {
        json!({"html_url": format!("https://acme.pagerduty.com/users/PUSER{i:03}"), "id": format!("PUSER{i:03}"),
               "self": format!("https://api.pagerduty.com/users/PUSER{i:03}"), "summary": format!("Responder number {i}"),
               "type": "user_reference"})
    };
    let data = &mut envelope["event"]["data"];
    data["title"] =
        json!("Checkout latency above SLO in eu-west-1: p99 4.2 s on /api/cart ".repeat(3));
    data["assignees"] = json!((0..150).map(user).collect::<Vec<_>>());
    data["teams"] = json!((0..100).map(|i| json!({"id": format!("PTEAM{i:03}"), "summary": format!("Team {i}"), "type": "team_reference"})).collect::<Vec<_>>());
    serde_json::to_vec(&envelope).unwrap()
}

/// Median over `runs` of the mean time per call of `iterations` calls.
fn measure(runs: usize, iterations: usize, mut call: impl FnMut()) -> Duration {
    for _ in 0..iterations / 10 {
        call();
    }
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                call();
            }
            start.elapsed() / iterations as u32
        })
        .collect();
    samples.sort();
    samples[runs / 2]
}

fn report(name: &str, bytes: usize, per_call: Duration) {
    let micros = per_call.as_secs_f64() * 1e6;
    println!(
        "{name:<34} {:>7} B {micros:>9.2} µs/webhook {:>10.0} webhooks/s/core",
        bytes,
        1.0 / per_call.as_secs_f64()
    );
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let (runs, iterations) = if quick { (3, 300) } else { (9, 5_000) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let secrets_file =
        std::env::temp_dir().join(format!("bridge-relay-bench-{}.json", std::process::id()));
    std::fs::write(
        &secrets_file,
        json!({"zoom": {"account_id": "a", "client_id": "c", "client_secret": "s"},
               "pagerduty": {"api_token": "t", "from_email": "bot@example.com", "webhook_secrets": [WEBHOOK_SECRET]}})
        .to_string(),
    )
    .unwrap();
    let cache = Arc::new(SecretCache::new(
        Arc::new(FileSecretSource::new(&secrets_file)),
        Duration::from_secs(3600),
    ));
    let (queue, mut jobs) = InProcessQueue::new();
    let ingress = bridge_relay::compose::ingress(cache, Arc::new(queue), BridgePolicy::default());
    let secret = SecretString::from(WEBHOOK_SECRET);

    println!(
        "ingress, {} ({} runs x {iterations} webhooks, median)",
        if quick { "quick" } else { "full" },
        runs
    );
    let mut handled = Vec::new();
    for (name, body) in [
        (
            "small (captured triggered_v3)",
            fixture("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json"),
        ),
        ("large (150 assignees, 100 teams)", large_payload()),
    ] {
        let header = signature::sign(&body, &secret);
        let per_webhook = measure(runs, iterations, || {
            let response = runtime.block_on(ingress.handle(WebhookRequest {
                signature: Some(&header),
                webhook_id: Some("bench"),
                body: black_box(&body),
            }));
            assert_eq!(response.status, 202);
            while jobs.try_recv().is_ok() {}
        });
        report(&format!("handle: {name}"), body.len(), per_webhook);
        handled.push(per_webhook.as_secs_f64() * 1e6);
        let verify = measure(runs, iterations, || {
            signature::verify(
                Some(&header),
                black_box(&body),
                std::slice::from_ref(&secret),
            )
            .unwrap();
        });
        report("  of which signature check", body.len(), verify);
        let parse = measure(runs, iterations, || {
            black_box(webhook::parse(black_box(&body)).unwrap());
        });
        report("  of which parse", body.len(), parse);
    }
    println!(
        "summary: ingress: {:.2} µs per small webhook, {:.2} µs per large one ({} run, median)",
        handled[0],
        handled[1],
        if quick { "quick" } else { "full" }
    );
    let _ = std::fs::remove_file(secrets_file);
}

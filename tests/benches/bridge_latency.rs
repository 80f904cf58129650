//! Time from a job to the bridge on the incident, against Zoom and PagerDuty stand-ins that
//! answer after a fixed service time D, and the relay's own overhead: the time to bridge minus
//! the time the stand-ins spent on the two calls that must come one after the other (create the
//! meeting, set the bridge). A warm worker (secret and token cached, connections open) with the
//! in-memory idempotency store; the DynamoDB round trips of a deployment are not in these figures.
//! Each incident has an assignee, who gets host controls after the bridge (two look-ups and an
//! update, outside the time to bridge).
//!
//!   cargo bench -p bridge-relay-tests --bench bridge_latency
//!   BENCH_QUICK=1 cargo bench -p bridge-relay-tests --bench bridge_latency
//!
//! Last comes a `summary:` line with the overhead p50 at each D (scripts/test shows only that).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::hostpool::HostPool;
use bridge_relay::model::{Incident, Job, Responder};
use bridge_relay::queue::DeadLetterLog;
use bridge_relay::relay::{JobReport, Worker, WorkerSettings};
use bridge_relay::secrets::{FileSecretSource, SecretCache};
use bridge_relay::store::InMemoryStore;
use bridge_relay::zoom::ZoomApi;
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;

fn job(n: usize) -> Job {
    Job {
        webhook_id: format!("bench-{n}"),
        event_id: format!("bench-event-{n}"),
        event_type: "incident.triggered".into(),
        incident: Incident {
            number: Some(n as u64),
            title: Some("Checkout latency above SLO".into()),
            html_url: Some(format!("https://acme.pagerduty.com/incidents/PBENCH{n:05}")),
            // An assignee, as incidents have: they get host controls after the bridge is
            // posted, so the time to bridge must not include their look-ups and the update.
            responders: vec![Responder {
                id: Some(format!("PUSER{:02}", n % 20)),
                name: Some("On-call engineer".into()),
                email: None,
            }],
            ..Incident::new(format!("PBENCH{n:05}"))
        },
        requested_by: None,
        received_at_ms: None,
        meeting: Default::default(),
        failure: None,
        tool: Default::default(),
        action: Default::default(),
        requeued_after_waiting: false,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Sample {
    to_bridge: Duration,
    overhead: Duration,
}

async fn run_job(worker: &Worker, apis: &FaultyApis, n: usize) -> Sample {
    let job = job(n);
    let started = Instant::now();
    let report = worker
        .handle_job(&job, started + Duration::from_secs(30))
        .await
        .unwrap();
    assert!(matches!(report, JobReport::Bridged { .. }));
    let state = apis.state();
    let id = &job.incident.id;
    let to_bridge = state.bridged_at[id] - started;
    let critical =
        state.server_time[&(id.clone(), "create")] + state.server_time[&(id.clone(), "bridge")];
    Sample {
        to_bridge,
        overhead: to_bridge.saturating_sub(critical),
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let sequential = if quick { 10 } else { 100 };
    let in_flight = if quick { 16 } else { 64 };
    let secrets_file =
        std::env::temp_dir().join(format!("bridge-relay-latency-{}.json", std::process::id()));
    std::fs::write(&secrets_file, secret_document(&["s"])).unwrap();

    println!(
        "time to bridge, warm worker, in-memory store ({} mode)",
        if quick { "quick" } else { "full" }
    );
    println!(
        "{:>6} {:>6} {:>11} {:>11} {:>13} {:>13} {:>7}",
        "D ms", "jobs", "p50 ms", "p99 ms", "overhead p50", "overhead p99", "ratio"
    );
    let mut next = 0;
    let mut overheads = Vec::new();
    for delay_ms in [0u64, 10, 50] {
        let mut at_this_delay = Vec::new();
        let apis = FaultyApis::start(1, 0.0, Duration::ZERO, PD_API_TOKEN).await;
        apis.state().latency = Duration::from_millis(delay_ms);
        let env = apis.env();
        let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1.clone();
        let secrets = Arc::new(SecretCache::new(
            Arc::new(FileSecretSource::new(&secrets_file)),
            Duration::from_secs(300),
        ));
        let http = bridge_relay::http::client();
        let zoom = Arc::new(ZoomApi::new(
            http.clone(),
            &get("ZOOM_API_BASE"),
            &get("ZOOM_OAUTH_BASE"),
            HOST_USER,
            secrets.clone(),
        ));
        let pagerduty = Arc::new(bridge_relay::pagerduty::PagerDutyApi::new(
            http,
            &get("PAGERDUTY_API_BASE"),
            secrets,
        ));
        let worker = Arc::new(Worker::new(
            zoom.clone(),
            pagerduty,
            Arc::new(InMemoryStore::new()),
            Arc::new(DeadLetterLog::default()),
            // A pool with room for every job of the run: the bench measures the bridge's
            // path, not waits for a free host.
            WorkerSettings::new(HostPool {
                meetings_per_host: 100_000,
                creates_per_day: 100_000,
                ..HostPool::new(vec![HOST_USER.into()])
            }),
        ));
        // Warm up: secret read, token fetched, connections open.
        for _ in 0..3 {
            run_job(&worker, &apis, next).await;
            next += 1;
        }
        for (label, concurrency) in [("1 at a time", 1usize), ("in flight", in_flight)] {
            let rounds = if concurrency == 1 { sequential } else { 2 };
            let mut samples = Vec::new();
            for _ in 0..rounds {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..concurrency {
                    let (worker, n) = (worker.clone(), next);
                    next += 1;
                    let apis_state = apis.state.clone();
                    set.spawn(async move {
                        let apis = FaultyApis {
                            url: String::new(),
                            state: apis_state,
                        };
                        run_job(&worker, &apis, n).await
                    });
                }
                while let Some(sample) = set.join_next().await {
                    samples.push(sample.unwrap());
                }
            }
            let mut to_bridge: Vec<_> = samples.iter().map(|s| s.to_bridge).collect();
            let mut overhead: Vec<_> = samples.iter().map(|s| s.overhead).collect();
            to_bridge.sort();
            overhead.sort();
            let p50 = percentile(&to_bridge, 0.5);
            let critical_p50 = p50.saturating_sub(percentile(&overhead, 0.5));
            let ratio = if critical_p50.is_zero() {
                f64::NAN
            } else {
                p50.as_secs_f64() / critical_p50.as_secs_f64()
            };
            at_this_delay.push(format!("{:.3}", ms(percentile(&overhead, 0.5))));
            println!(
                "{delay_ms:>6} {:>6} {:>11.2} {:>11.2} {:>13.3} {:>13.3} {:>7.3}  {label} ({concurrency})",
                samples.len(),
                ms(p50),
                ms(percentile(&to_bridge, 0.99)),
                ms(percentile(&overhead, 0.5)),
                ms(percentile(&overhead, 0.99)),
                ratio,
            );
        }
        println!(
            "       token fetches for D = {delay_ms} ms: {}",
            zoom.token_fetches()
        );
        // A new Server-to-Server token voids the old one: concurrent jobs must share one.
        assert_eq!(zoom.token_fetches(), 1, "one Zoom token per container");
        overheads.push(format!("D={delay_ms} {}", at_this_delay.join("/")));
    }
    println!(
        "summary: bridge_latency: overhead p50 ms (1 / {in_flight} in flight): {}",
        overheads.join(", ")
    );
    let _ = std::fs::remove_file(secrets_file);
}

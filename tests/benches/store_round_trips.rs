//! The worker's AWS calls per job, and what they cost on the way to the bridge.
//!
//! One job at a time goes through the real `Worker` with the DynamoDB store against moto (its
//! atomic variant, as for the host-pool tests) and the Rust stand-in of Zoom and PagerDuty
//! (`tests/src/faulty.rs`, no faults). A small HTTP proxy in front of moto counts every AWS
//! call the worker makes (by its `X-Amz-Target`) and adds a fixed latency to each (5 ms, about
//! a DynamoDB round trip from Lambda in the same region); the stand-in adds a fixed latency to
//! each upstream call (50 ms). For each job it reports the AWS calls in all and those made
//! before the PagerDuty `PUT` that sets the bridge, the time to bridge (job start to the
//! `PUT`'s answer), the upstream critical path (the stand-in's time on the create and the
//! `PUT`, which must come one after the other) and their ratio. Each bridge job is followed by
//! Zoom's `meeting.started` for its meeting (a Zoom-event job) and the incident's resolution (a
//! lifecycle job), whose AWS calls are counted too; with the host pool the resolution frees the
//! incident's slot for the next one. It fails when a bridge job makes more than 2 AWS calls
//! before the `PUT` or more than 4 in all.
//!
//!   cargo bench -p bridge-relay-tests --bench store_round_trips
//!   BENCH_QUICK=1 cargo bench -p bridge-relay-tests --bench store_round_trips

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge_relay::hostpool::HostPool;
use bridge_relay::model::{Incident, Job, JobAction};
use bridge_relay::queue::DeadLetterLog;
use bridge_relay::relay::{JobReport, Worker, WorkerSettings};
use bridge_relay::store::DynamoDbStore;
use bridge_relay::zoom::ZoomApi;
use bridge_relay::zoom::webhook::{MeetingEvent, MeetingEventKind};
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const AWS_LATENCY: Duration = Duration::from_millis(5);
const UPSTREAM_LATENCY: Duration = Duration::from_millis(50);

/// The AWS calls seen by the proxy: operation and when it arrived.
type Calls = Arc<Mutex<Vec<(String, Instant)>>>;

/// Forwards every request to `upstream` after `AWS_LATENCY`, recording its operation.
async fn start_proxy(upstream: String, calls: Calls) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let client = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (client, upstream, calls) = (client.clone(), upstream.clone(), calls.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let (client, upstream, calls) =
                        (client.clone(), upstream.clone(), calls.clone());
                    async move { forward(client, &upstream, calls, request).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

async fn forward(
    client: reqwest::Client,
    upstream: &str,
    calls: Calls,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let operation = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.rsplit('.').next().unwrap_or(t).to_owned())
        .unwrap_or_else(|| format!("{} {}", parts.method, parts.uri.path()));
    calls.lock().unwrap().push((operation, arrived));
    let body = body.collect().await.unwrap().to_bytes();
    tokio::time::sleep(AWS_LATENCY).await;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut forwarded = client.request(parts.method.clone(), format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
            forwarded = forwarded.header(name, value);
        }
    }
    let answer = forwarded.body(body).send().await.unwrap();
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap();
    Ok(response.body(Full::new(bytes)).unwrap())
}

fn bridge_job(n: usize) -> Job {
    Job {
        webhook_id: format!("trips-{n}"),
        event_id: format!("trips-event-{n}"),
        event_type: "incident.triggered".into(),
        incident: Incident {
            number: Some(n as u64),
            title: Some("Checkout latency above SLO".into()),
            html_url: Some(format!("https://acme.pagerduty.com/incidents/PTRIPS{n:05}")),
            ..Incident::new(format!("PTRIPS{n:05}"))
        },
        requested_by: None,
        received_at_ms: Some(bridge_relay::telemetry::epoch_millis(
            std::time::SystemTime::now(),
        )),
        meeting: Default::default(),
        failure: None,
        tool: Default::default(),
        action: Default::default(),
        zoom_event: None,
        timer: None,
        requeued_after_waiting: false,
    }
}

/// Zoom's `meeting.started` for the incident's meeting (posts a note, saves the lifecycle).
fn started_job(n: usize, meeting_id: u64) -> Job {
    let mut job = bridge_job(n);
    job.webhook_id = format!("trips-started-{n}");
    job.event_type = "meeting.started".into();
    job.action = JobAction::ZoomEvent;
    job.zoom_event = Some(MeetingEvent {
        kind: MeetingEventKind::Started,
        meeting_id,
        at_ms: bridge_relay::telemetry::epoch_millis(std::time::SystemTime::now()),
        participant: None,
        participant_id: None,
        participant_email: None,
    });
    job
}

fn resolve_job(n: usize) -> Job {
    let mut job = bridge_job(n);
    job.webhook_id = format!("trips-resolved-{n}");
    job.event_type = "incident.resolved".into();
    job.action = JobAction::Resolved;
    job
}

struct Sample {
    calls: Vec<String>,
    before_bridge: usize,
    to_bridge: Duration,
    critical: Duration,
    zoom_event_calls: Vec<String>,
    lifecycle_calls: Vec<String>,
}

async fn run(worker: &Worker, apis: &FaultyApis, calls: &Calls, n: usize) -> Sample {
    let job = bridge_job(n);
    calls.lock().unwrap().clear();
    let started = Instant::now();
    let report = worker
        .handle_job(&job, started + Duration::from_secs(30))
        .await
        .unwrap();
    let JobReport::Bridged { meeting_id, .. } = report else {
        panic!("not bridged: {report:?}");
    };
    let seen = std::mem::take(&mut *calls.lock().unwrap());
    let (bridged_at, critical, put_started) = {
        let state = apis.state();
        let id = &job.incident.id;
        let bridge = state.server_time[&(id.clone(), "bridge")];
        let bridged_at = state.bridged_at[id];
        (
            bridged_at,
            state.server_time[&(id.clone(), "create")] + bridge,
            bridged_at - bridge,
        )
    };
    let before_bridge = seen.iter().filter(|(_, at)| *at < put_started).count();
    let event_report = worker
        .handle_job(
            &started_job(n, meeting_id),
            Instant::now() + Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(
        matches!(event_report, JobReport::Lifecycle { .. }),
        "{event_report:?}"
    );
    let zoom_event_calls = std::mem::take(&mut *calls.lock().unwrap());
    let resolved = worker
        .handle_job(&resolve_job(n), Instant::now() + Duration::from_secs(30))
        .await
        .unwrap();
    assert!(
        matches!(resolved, JobReport::Lifecycle { .. }),
        "{resolved:?}"
    );
    let lifecycle_calls = std::mem::take(&mut *calls.lock().unwrap());
    Sample {
        calls: seen.into_iter().map(|(op, _)| op).collect(),
        before_bridge,
        to_bridge: bridged_at - started,
        critical,
        zoom_event_calls: zoom_event_calls.into_iter().map(|(op, _)| op).collect(),
        lifecycle_calls: lifecycle_calls.into_iter().map(|(op, _)| op).collect(),
    }
}

fn median<T: Ord + Copy>(values: &mut [T]) -> T {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn tally(calls: &[String]) -> String {
    let mut counts = BTreeMap::<&str, usize>::new();
    for call in calls {
        *counts.entry(call.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let jobs = if quick { 3 } else { 20 };
    let aws = AwsStandIns::start_for_host_pool(&["s"], 30).await;
    let apis = FaultyApis::start(1, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    apis.state().latency = UPSTREAM_LATENCY;
    let calls: Calls = Arc::default();
    let proxy = start_proxy(aws.moto.url.clone(), calls.clone()).await;
    let proxied = aws.config.to_builder().endpoint_url(&proxy).build();
    let env = apis.env();
    let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1.clone();

    println!(
        "AWS calls per job and time to bridge, DynamoDB store on moto + {} ms per AWS call, \
         upstream + {} ms per call ({} mode, {jobs} jobs each)",
        AWS_LATENCY.as_millis(),
        UPSTREAM_LATENCY.as_millis(),
        if quick { "quick" } else { "full" }
    );
    let mut next = 0;
    for pooled in [false, true] {
        let store = Arc::new(DynamoDbStore::from_sdk_config(&proxied, &aws.table_name));
        let secrets = aws.secret_cache();
        let http = bridge_relay::http::client();
        let zoom = Arc::new(
            ZoomApi::new(
                http.clone(),
                &get("ZOOM_API_BASE"),
                &get("ZOOM_OAUTH_BASE"),
                HOST_USER,
                secrets.clone(),
            )
            .with_shared_token(store.clone()),
        );
        let pagerduty = Arc::new(bridge_relay::pagerduty::PagerDutyApi::new(
            http,
            &get("PAGERDUTY_API_BASE"),
            secrets,
        ));
        let settings = WorkerSettings {
            host_pool: pooled.then(|| HostPool {
                meetings_per_host: 4,
                ..HostPool::new(vec![HOST_USER.into()])
            }),
            ..WorkerSettings::default()
        };
        let worker = Worker::new(
            zoom,
            pagerduty,
            store,
            Arc::new(DeadLetterLog::default()),
            settings,
        );
        // Warm up: secret read, Zoom token fetched and shared, connections open.
        for _ in 0..2 {
            run(&worker, &apis, &calls, next).await;
            next += 1;
        }
        let mut samples = Vec::new();
        for _ in 0..jobs {
            samples.push(run(&worker, &apis, &calls, next).await);
            next += 1;
        }
        let mut total: Vec<usize> = samples.iter().map(|s| s.calls.len()).collect();
        let mut before: Vec<usize> = samples.iter().map(|s| s.before_bridge).collect();
        let mut lifecycle: Vec<usize> = samples.iter().map(|s| s.lifecycle_calls.len()).collect();
        let mut zoom_event: Vec<usize> = samples.iter().map(|s| s.zoom_event_calls.len()).collect();
        let mut to_bridge: Vec<Duration> = samples.iter().map(|s| s.to_bridge).collect();
        let mut critical: Vec<Duration> = samples.iter().map(|s| s.critical).collect();
        let (total_max, before_max) = (
            total.iter().copied().max().unwrap(),
            before.iter().copied().max().unwrap(),
        );
        // The budget of issue 17, whatever the timing: a first delivery makes at most 2 store
        // round trips before the bridge PUT and at most 4 in all.
        assert!(
            before_max <= 2,
            "{before_max} AWS calls before the bridge PUT"
        );
        assert!(total_max <= 4, "{total_max} AWS calls for one bridge job");
        let to_bridge_p50 = median(&mut to_bridge);
        let critical_p50 = median(&mut critical);
        println!(
            "\n{}:",
            if pooled {
                "host pool (1 host, 4 slots)"
            } else {
                "no host pool"
            }
        );
        println!(
            "  bridge job: AWS calls median {} (max {total_max}), before the bridge PUT median {} (max {before_max})",
            median(&mut total),
            median(&mut before),
        );
        println!("    calls: {}", tally(&samples[0].calls));
        println!(
            "  time to bridge p50 {:.1} ms, upstream critical path p50 {:.1} ms, ratio {:.3}",
            ms(to_bridge_p50),
            ms(critical_p50),
            to_bridge_p50.as_secs_f64() / critical_p50.as_secs_f64()
        );
        println!(
            "  Zoom meeting.started job: AWS calls median {}\n    calls: {}",
            median(&mut zoom_event),
            tally(&samples[0].zoom_event_calls)
        );
        println!(
            "  resolve job (lifecycle): AWS calls median {}\n    calls: {}",
            median(&mut lifecycle),
            tally(&samples[0].lifecycle_calls)
        );
    }
}

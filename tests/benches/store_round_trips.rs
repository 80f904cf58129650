//! The worker's AWS calls per job, and what they cost on the way to the bridge.
//!
//! One job at a time goes through the real `Worker` with the DynamoDB store against moto (its
//! atomic variant, as for the host-pool tests) and the Rust stand-in of Zoom and PagerDuty
//! (`tests/src/faulty.rs`, no faults). A small HTTP proxy in front of moto counts every AWS
//! call the worker makes (by its `X-Amz-Target`) and adds a fixed latency to each (5 ms, about
//! a DynamoDB round trip from Lambda in the same region; slept on a thread, which overshot by
//! about 0.2 ms on a loaded machine, and reported as slept); the stand-in adds a fixed latency
//! to each upstream call (50 ms). For each job it reports the AWS calls in all and those made
//! before the PagerDuty `PUT` that sets the bridge, the time to bridge (job start to the
//! `PUT`'s answer), the upstream critical path (the stand-in's time on the create and the
//! `PUT`, which must come one after the other) and their ratio.
//!
//! Moto is a Python server and takes 5 to 15 ms to answer a DynamoDB call on a loaded machine,
//! on top of the fixed 5 ms: the raw time to bridge is then what the worker would see
//! against a slow DynamoDB, not the in-region one the 5 ms stands for. So the proxy also times
//! moto's own service time for each call: from just before it forwards the request to moto to
//! the last byte of moto's answer (loopback and the proxy's HTTP client included, both well
//! under a millisecond). The *adjusted* time to bridge is the raw one less moto's service time
//! of the calls made before the `PUT` (those are awaited one after the other on the path to the
//! bridge; the bench checks that each was answered before the `PUT` reached the stand-in), i.e.
//! each of those calls costs the fixed 5 ms plus what the worker, its SDK and the proxy spend on
//! it. The adjusted ratio (adjusted time to bridge / critical path) is what issue 17 budgets
//! (within 1.15). It is reported, not asserted: a timed assertion on a shared machine would
//! fail under load for reasons that are not the worker's. Per job the bench also splits the
//! adjusted time into the critical path, the AWS calls before the `PUT` as the proxy saw them
//! (arrival to answer) less moto's share, and the rest (the worker's own work, its SDK, the
//! loopback both ways, the Zoom token from its cache), so a ratio over the target shows where
//! the time goes.
//!
//! Each bridge job is followed by Zoom's `meeting.started` for its meeting (a Zoom-event job)
//! and the incident's resolution (a lifecycle job), whose AWS calls are counted too; with the
//! host pool the resolution frees the incident's slot for the next one. It fails when a bridge
//! job makes more than 2 AWS calls before the `PUT` or more than 5 in all (4 and the send of the
//! roll call's timer).
//!
//!   cargo bench -p bridge-relay-tests --bench store_round_trips
//!   BENCH_QUICK=1 cargo bench -p bridge-relay-tests --bench store_round_trips
//!
//! Last comes a `summary:` line of the bridge job's AWS calls and its adjusted ratio (scripts/test
//! shows only that).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge_relay::hostpool::HostPool;
use bridge_relay::model::{Incident, Job, JobAction};
use bridge_relay::queue::{DeadLetterLog, SqsTimerQueue};
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

/// An AWS call as the proxy saw it.
struct Call {
    operation: String,
    /// The request's head reached the proxy.
    arrived: Instant,
    /// The proxy had its answer ready to send back to the worker.
    answered: Instant,
    /// Moto's own service time: forwarded to moto until moto's answer was read in full.
    moto: Duration,
    /// The fixed latency as actually slept.
    slept: Duration,
}

/// The AWS calls seen by the proxy, recorded as each is answered (so before the worker can
/// read the answer).
type Calls = Arc<Mutex<Vec<Call>>>;

/// Forwards every request to `upstream` after `AWS_LATENCY`, recording its operation and
/// moto's time on it.
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
    let body = body.collect().await.unwrap().to_bytes();
    let sleeping = Instant::now();
    // Not `tokio::time::sleep`: its timer has a 1 ms grain and rounds up, so 5 ms took about
    // 6.1 ms and overcharged every call. A thread's sleep ends within tens of microseconds.
    tokio::task::spawn_blocking(|| std::thread::sleep(AWS_LATENCY))
        .await
        .unwrap();
    let slept = sleeping.elapsed();
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
    let forwarded_at = Instant::now();
    let answer = forwarded.body(body).send().await.unwrap();
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.unwrap();
    let moto = forwarded_at.elapsed();
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let response = response.body(Full::new(bytes)).unwrap();
    calls.lock().unwrap().push(Call {
        operation,
        arrived,
        answered: Instant::now(),
        moto,
        slept,
    });
    Ok(response)
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
        requeued_after_waiting: false,
    }
}

/// Zoom's `meeting.started` for the incident's meeting (posts a note, saves the lifecycle).
fn started_job(n: usize, meeting_id: u64) -> Job {
    let mut job = bridge_job(n);
    job.webhook_id = format!("trips-started-{n}");
    job.event_type = "meeting.started".into();
    job.action = JobAction::ZoomEvent(MeetingEvent {
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
    /// Moto's service time summed over the calls made before the `PUT`.
    moto_before: Duration,
    /// The proxy's time on the calls made before the `PUT` (arrival to answer: the fixed
    /// latency, moto's service time and the proxy's own work), summed.
    proxied_before: Duration,
    /// Moto's service time on each AWS call of the bridge job.
    moto_each: Vec<Duration>,
    /// The fixed latency as slept, each AWS call of the bridge job.
    slept_each: Vec<Duration>,
    zoom_event_calls: Vec<String>,
    lifecycle_calls: Vec<String>,
}

impl Sample {
    /// The time to bridge with moto's handling of the calls before the `PUT` taken out: each
    /// of them costs the fixed latency, as an in-region DynamoDB call would.
    fn adjusted(&self) -> Duration {
        self.to_bridge - self.moto_before
    }

    /// The calls before the `PUT` as the proxy saw them, less moto's share: the fixed latency
    /// and the proxy's own work.
    fn fixed_before(&self) -> Duration {
        self.proxied_before - self.moto_before
    }

    /// What is neither the critical path nor the proxy's time on the calls before the `PUT`:
    /// the worker's own work (SDK request building, signing and parsing, JSON, the cached Zoom
    /// token), loopback both ways to the proxy and the stand-in, and whatever time the worker
    /// waits for a core.
    fn rest(&self) -> Duration {
        self.to_bridge
            .saturating_sub(self.critical)
            .saturating_sub(self.proxied_before)
    }
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
    let before: Vec<&Call> = seen.iter().filter(|c| c.arrived < put_started).collect();
    // Taking moto's time out of the time to bridge is only right for calls the worker waited
    // for before sending the PUT, not ones overlapping it (none do: the worker awaits each).
    for call in &before {
        assert!(
            call.answered <= put_started,
            "{} was still in flight when the PUT was sent",
            call.operation
        );
    }
    let moto_before = before.iter().map(|c| c.moto).sum();
    let proxied_before = before.iter().map(|c| c.answered - c.arrived).sum();
    let before_bridge = before.len();
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
        moto_each: seen.iter().map(|c| c.moto).collect(),
        slept_each: seen.iter().map(|c| c.slept).collect(),
        calls: seen.into_iter().map(|c| c.operation).collect(),
        before_bridge,
        to_bridge: bridged_at - started,
        critical,
        moto_before,
        proxied_before,
        zoom_event_calls: zoom_event_calls.into_iter().map(|c| c.operation).collect(),
        lifecycle_calls: lifecycle_calls.into_iter().map(|c| c.operation).collect(),
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
    // Every worker places its meetings on the host pool, as the deployment's does.
    {
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
        // Room for every job: each meeting has `meeting.started` and no end before its
        // resolve, so a kept call holds its slot until Zoom says it ended.
        let settings = WorkerSettings::new(HostPool {
            meetings_per_host: 1000,
            ..HostPool::new(vec![HOST_USER.into()])
        });
        // With the timer queue the deployment has: the bridge job sends the roll call's timer.
        let worker = Worker::new(
            zoom,
            pagerduty,
            store,
            Arc::new(DeadLetterLog::default()),
            settings,
        )
        .with_timer(Arc::new(SqsTimerQueue::from_sdk_config(
            &proxied,
            aws.timer_queue_url.clone(),
        )));
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
        let (total_max, before_max) = (
            total.iter().copied().max().unwrap(),
            before.iter().copied().max().unwrap(),
        );
        // The budget of issue 17, whatever the timing: a first delivery makes at most 2 store
        // round trips before the bridge PUT and at most 4 in all, and after the bridge one send
        // of the bridge health's first timer (the roll call), recorded with the meeting.
        assert!(
            before_max <= 2,
            "{before_max} AWS calls before the bridge PUT"
        );
        assert!(total_max <= 5, "{total_max} AWS calls for one bridge job");
        let p50 = |f: &dyn Fn(&Sample) -> Duration| {
            median(&mut samples.iter().map(f).collect::<Vec<_>>())
        };
        let to_bridge = p50(&|s| s.to_bridge);
        let adjusted = p50(&|s| s.adjusted());
        let critical = p50(&|s| s.critical);
        let ratio = |d: Duration| d.as_secs_f64() / critical.as_secs_f64();
        let moto_each = median(
            &mut samples
                .iter()
                .flat_map(|s| s.moto_each.iter().copied())
                .collect::<Vec<_>>(),
        );
        println!("\nhost pool (1 host, 1000 slots):");
        println!(
            "  bridge job: AWS calls median {} (max {total_max}), before the bridge PUT median {} (max {before_max})",
            median(&mut total),
            median(&mut before),
        );
        println!("    calls: {}", tally(&samples[0].calls));
        println!(
            "  moto's own service time per AWS call p50 {:.1} ms; on the calls before the PUT p50 {:.1} ms in all",
            ms(moto_each),
            ms(p50(&|s| s.moto_before)),
        );
        let slept_each = median(
            &mut samples
                .iter()
                .flat_map(|s| s.slept_each.iter().copied())
                .collect::<Vec<_>>(),
        );
        println!(
            "  fixed latency per AWS call as slept p50 {:.2} ms",
            ms(slept_each)
        );
        println!(
            "  upstream critical path (create + PUT at the stand-in) p50 {:.1} ms",
            ms(critical)
        );
        println!(
            "  time to bridge, raw (moto's time included) p50 {:.1} ms, ratio {:.3}",
            ms(to_bridge),
            ratio(to_bridge)
        );
        println!(
            "  time to bridge, adjusted (moto's time on the calls before the PUT taken out, each \
             costing the fixed {} ms) p50 {:.1} ms, ratio {:.3} (issue 17: within 1.15)",
            AWS_LATENCY.as_millis(),
            ms(adjusted),
            ratio(adjusted)
        );
        println!(
            "    adjusted = critical path + calls before the PUT at the proxy less moto ({:.1} ms p50) \
             + the rest: worker, SDK, loopback ({:.1} ms p50; p50s need not add up)",
            ms(p50(&|s| s.fixed_before())),
            ms(p50(&|s| s.rest())),
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
        println!(
            "summary: store_round_trips: bridge job {} AWS calls ({} before the PUT), p50 {:.1} ms \
             adjusted = {:.3} x the critical path (within 1.15)",
            median(&mut total),
            median(&mut before),
            ms(adjusted),
            ratio(adjusted)
        );
    }
}

//! Cold start, size and memory of the release `bootstrap` binaries as deployed
//! (`cargo lambda build --release`, `target/lambda/*/bootstrap`).
//!
//! Each run starts a fresh process against a minimal Lambda runtime API on 127.0.0.1 and times:
//! - init: process start to its first `GET /runtime/invocation/next` (what Lambda bills as the
//!   init duration: config, SDK clients, no network);
//! - first invocation: that request to the function's answer, cold caches included (the ingress
//!   reads the secret and enqueues on moto's SQS; the worker reads the secret and the
//!   deployment's shared Zoom token (the first run fetches it), and handles a batch of 10 jobs
//!   against moto's DynamoDB and the Rust stand-in of Zoom and PagerDuty);
//! - peak RSS (`VmHWM`) once the answer is posted.
//!
//!   cargo lambda build --release && cargo bench -p bridge-relay-tests --bench cold_start
//!   BENCH_QUICK=1 cargo bench -p bridge-relay-tests --bench cold_start
//!
//! Last comes a `summary:` line of the two start-to-answer p50s (scripts/test shows only that).

use std::convert::Infallible;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bridge_relay::model::{Incident, Job};
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const BATCH: usize = 10;

enum Mark {
    Next(Instant),
    Answer(Instant, Bytes),
    Failed(Bytes),
}

/// Serves one event, then holds every later `next` open: the function stays idle, as in Lambda.
struct RuntimeApi {
    event: Bytes,
    served: AtomicBool,
    marks: mpsc::UnboundedSender<Mark>,
}

async fn runtime_api(
    api: Arc<RuntimeApi>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let now = Instant::now();
    if path.ends_with("/invocation/next") {
        let _ = api.marks.send(Mark::Next(now));
        if api.served.swap(true, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let deadline =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
        let response = Response::builder()
            .header(
                "lambda-runtime-aws-request-id",
                "c0ld5747-0000-4000-8000-000000000001",
            )
            .header(
                "lambda-runtime-deadline-ms",
                deadline.as_millis().to_string(),
            )
            .header(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:bridge-relay",
            )
            .header(
                "lambda-runtime-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )
            .body(Full::new(api.event.clone()))
            .unwrap();
        return Ok(response);
    }
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mark = if path.ends_with("/response") {
        Mark::Answer(now, body)
    } else {
        Mark::Failed(body)
    };
    let _ = api.marks.send(mark);
    Ok(Response::builder()
        .status(202)
        .body(Full::default())
        .unwrap())
}

struct Run {
    init: Duration,
    first_invocation: Duration,
    peak_rss_kib: u64,
    answer: Value,
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn cold_run(function: &str, event: &Value, env: &[(&'static str, String)]) -> Run {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (marks, mut received) = mpsc::unbounded_channel();
    let api = Arc::new(RuntimeApi {
        event: Bytes::from(event.to_string()),
        served: AtomicBool::new(false),
        marks,
    });
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let api = api.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |r| runtime_api(api.clone(), r));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let started = Instant::now();
    let mut child = lambda_command(function, format!("127.0.0.1:{port}"), function, env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), received.recv())
            .await
            .unwrap_or_else(|_| panic!("{function} went silent"))
            .unwrap()
    };
    let Mark::Next(ready) = next().await else {
        panic!("{function} failed before its first invocation")
    };
    let (answered, body) = match next().await {
        Mark::Answer(at, body) => (at, body),
        Mark::Failed(body) => panic!("{function} failed: {}", String::from_utf8_lossy(&body)),
        Mark::Next(_) => unreachable!("a second next before the answer"),
    };
    // The runtime asks for the next event once it has finished with this one.
    let _ = next().await;
    let peak_rss_kib = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    server.abort();
    Run {
        init: ready - started,
        first_invocation: answered - ready,
        peak_rss_kib,
        answer: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }
}

fn cold_incident(run: usize, n: usize) -> String {
    format!("PCOLD{run:03}{n:02}")
}

fn worker_batch(run: usize) -> Value {
    let records: Vec<Value> = (0..BATCH)
        .map(|n| {
            let id = cold_incident(run, n);
            let job = Job {
                webhook_id: format!("cold-{run}-{n}"),
                event_id: format!("cold-event-{run}-{n}"),
                event_type: "incident.triggered".into(),
                incident: Incident {
                    number: Some(n as u64),
                    title: Some("Checkout latency above SLO".into()),
                    html_url: Some(format!("https://acme.pagerduty.com/incidents/{id}")),
                    ..Incident::new(id.clone())
                },
                requested_by: None,
                // Just received, as from the ingress: a job with no receive time counts as one
                // that waited, which the worker takes step by step (claim, a look for the
                // incident's resolution, the host pool slot by slot), not a first delivery.
                received_at_ms: Some(bridge_relay::telemetry::epoch_millis(SystemTime::now())),
                meeting: Default::default(),
                failure: None,
                tool: Default::default(),
                action: Default::default(),
                requeued_after_waiting: false,
            };
            json!({
                "messageId": format!("m-{run}-{n}"),
                "receiptHandle": format!("r-{run}-{n}"),
                "body": job.to_json(),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795428000000",
                    "MessageGroupId": id,
                    "MessageDeduplicationId": format!("cold-{run}-{n}"),
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bridge-relay-jobs.fifo",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints `function`'s row and returns its start-to-answer p50 in ms and peak RSS in MB.
fn report(function: &str, label: &str, runs: &[Run]) -> (f64, f64) {
    let size = std::fs::metadata(lambda_bootstrap(function)).unwrap().len();
    let init: Vec<_> = runs.iter().map(|r| r.init).collect();
    let first: Vec<_> = runs.iter().map(|r| r.first_invocation).collect();
    let total: Vec<_> = runs.iter().map(|r| r.init + r.first_invocation).collect();
    let start_to_answer = ms(median(total));
    let peak_rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap() as f64 / 1024.0;
    println!(
        "{label:<22} {:>7.2} MB {:>4} {:>9.2} {:>9.2} {:>12.2} {:>12.2} {:>9.1}",
        size as f64 / 1e6,
        runs.len(),
        ms(median(init.clone())),
        ms(init.iter().copied().max().unwrap()),
        ms(median(first)),
        start_to_answer,
        peak_rss,
    );
    (start_to_answer, peak_rss)
}

#[tokio::main]
async fn main() {
    let runs = if std::env::var_os("BENCH_QUICK").is_some() {
        3
    } else {
        15
    };
    let (aws, apis) = tokio::join!(
        AwsStandIns::start(&[EXAMPLE_WEBHOOK_SECRET]),
        FaultyApis::start(1, 0.0, Duration::ZERO, PD_API_TOKEN)
    );
    println!("cold start through the Lambda runtime API, {runs} runs each");
    println!(
        "{:<22} {:>10} {:>4} {:>9} {:>9} {:>12} {:>12} {:>9}",
        "function",
        "size",
        "runs",
        "init p50",
        "init max",
        "1st invoc.",
        "start->answer",
        "peak RSS"
    );

    let ingress_event: Value = read_json("events/ingress-triggered.json");
    let ingress_env = vec![
        ("AWS_ENDPOINT_URL", aws.moto.url.clone()),
        ("SECRET_ID", aws.secret_arn.clone()),
        ("QUEUE_URL", aws.queue_url.clone()),
    ];
    let mut ingress_runs = Vec::new();
    for run in 0..runs {
        let mut event = ingress_event.clone();
        // A new webhook id each run, so SQS's dedup does not hide the later sends.
        event["headers"]["x-webhook-id"] = json!(format!("cold-start-{run}"));
        let result = cold_run("bridge-relay-ingress", &event, &ingress_env).await;
        assert_eq!(result.answer["statusCode"], 202, "{}", result.answer);
        ingress_runs.push(result);
    }
    let ingress = report(
        "bridge-relay-ingress",
        "bridge-relay-ingress",
        &ingress_runs,
    );

    let mut worker_env = aws.worker_env();
    worker_env.extend(apis.env());
    // One host with a slot per job of a run, and creates enough for every run today. Each
    // run's incidents resolve before the next run, freeing their slots, as in a deployment.
    worker_env.push(("ZOOM_HOST_MAX_MEETINGS", BATCH.to_string()));
    worker_env.push(("ZOOM_HOST_DAILY_CREATES", "1000".to_owned()));
    let store = bridge_relay::store::DynamoDbStore::from_sdk_config(&aws.config, &aws.table_name);
    let mut worker_runs = Vec::new();
    for run in 0..runs {
        let result = cold_run("bridge-relay-worker", &worker_batch(run), &worker_env).await;
        assert_eq!(
            result.answer,
            json!({"batchItemFailures": []}),
            "worker run {run}"
        );
        worker_runs.push(result);
        for n in 0..BATCH {
            use bridge_relay::store::IdempotencyStore;
            let freed = store
                .free_host_slot(&bridge_relay::model::IncidentKey::from_stored(
                    cold_incident(run, n),
                ))
                .await
                .unwrap();
            assert!(freed.is_some(), "run {run} job {n} held a slot");
        }
    }
    let worker = report(
        "bridge-relay-worker",
        &format!("bridge-relay-worker ({BATCH} jobs)"),
        &worker_runs,
    );
    // Every run is a new container; they share one token through the table, so only the
    // first fetches one.
    assert_eq!(
        apis.state().token_fetches,
        1,
        "one Zoom token for every container"
    );
    println!(
        "summary: cold_start: start to answer p50 ingress {:.1} ms, worker ({BATCH} jobs) {:.1} ms; \
         peak RSS {:.1} / {:.1} MB ({runs} runs)",
        ingress.0, worker.0, ingress.1, worker.1
    );
}

//! `bridge-relay`: the relay on one machine, no AWS account and no Docker.
//!
//!   bridge-relay serve (--secrets-file FILE | --ingress-secrets-file FILE --worker-secrets-file FILE)
//!                      [--listen 127.0.0.1:3000]
//!   bridge-relay sign  (--secrets-file FILE | --ingress-secrets-file FILE) [--zoom] BODY_FILE
//!   bridge-relay sign-incident-io (--secrets-file FILE | --ingress-secrets-file FILE) BODY_FILE
//!   bridge-relay subscribe --url WEBHOOK_URL [--service ID]... [--team ID]...
//!   bridge-relay doctor (--secret-id ARN | --ingress-secret-id ARN --worker-secret-id ARN
//!                        | --secrets-file FILE | --ingress-secrets-file FILE --worker-secrets-file FILE)
//!                       [--table-name TABLE] [--webhook-url URL]
//!   bridge-relay redrive --from DEAD_LETTER_QUEUE_URL --to JOB_QUEUE_URL

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod subscribe;

use bridge_relay::config::{Env, process_env};
use bridge_relay::doctor::Doctor;
use bridge_relay::incident_io::IncidentIoApi;
use bridge_relay::incident_io::signature as svix;
use bridge_relay::pagerduty::{PagerDutyApi, signature};
use bridge_relay::queue::run_local_worker;
use bridge_relay::relay::Ingress;
use bridge_relay::requests;
use bridge_relay::secrets::{FileSecretSource, SecretCache, SecretRole};
use bridge_relay::zoom::ZoomApi;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const USAGE: &str = "usage:
  bridge-relay serve (--secrets-file FILE | --ingress-secrets-file FILE --worker-secrets-file FILE)
                     [--policy-file FILE] [--listen 127.0.0.1:3000]
      One secrets file holds both parts; or the ingress's (webhook verification secrets) and
      the worker's (API credentials) in two, as deployed; each is checked at start for the
      keys its side needs.
      Runs the ingress on http://ADDR/webhook (V3 webhooks), /action (Custom Incident Action
      button), /workflow (Incident Workflow webhook step), /incident-io (incident.io webhooks)
      and /zoom (Zoom event notifications), and the worker in the same process (grace timers
      in process too).
      Settings come from the same environment variables as the Lambda functions:
      ZOOM_HOST_USER and/or ZOOM_HOST_USERS (one required), ZOOM_HOST_MAX_MEETINGS,
      ZOOM_HOST_DAILY_CREATES, ZOOM_HOST_SLOT_MAX_AGE_MINUTES, ZOOM_API_BASE, ZOOM_OAUTH_BASE,
      PAGERDUTY_API_BASE, INCIDENT_IO_API_BASE, INCIDENT_IO_NOTIFY_CHANNEL, POLICY_FILE or POLICY,
      BRIDGE_EVENT_TYPES, SECRET_CACHE_TTL_SECONDS, OVERWRITE_EXISTING_BRIDGE.
      Idempotency records, host slots and dead letters are kept in memory.
  bridge-relay sign (--secrets-file FILE | --ingress-secrets-file FILE) [--zoom] BODY_FILE
      Prints the X-PagerDuty-Signature value for BODY_FILE, signed with the first
      pagerduty.webhook_secrets entry of FILE; with --zoom, the x-zm-request-timestamp (now)
      and x-zm-signature headers Zoom would send, signed with zoom.webhook_secret_token.
  bridge-relay sign-incident-io --secrets-file FILE BODY_FILE
      Prints the webhook-id, webhook-timestamp and webhook-signature headers incident.io
      would send for BODY_FILE now (as curl -H arguments), signed with the first
      incident_io.webhook_secrets entry of FILE.
  bridge-relay doctor (--secret-id SECRET_ARN | --secrets-file FILE
                       | --ingress-secret-id ARN --worker-secret-id ARN
                       | --ingress-secrets-file FILE --worker-secrets-file FILE)
                      [--table-name TABLE] [--webhook-url URL]
      Checks a deployment without creating anything: the secret parses (one serving both
      functions, or the ingress's and the worker's, each with the keys it needs and the
      ingress's with no API credential), Zoom gives a token
      (with --table-name or TABLE_NAME, the stack's TableName, the token the deployment's
      workers share, so none of theirs is voided; without it one of its own),
      the host user (ZOOM_HOST_USER) can host, PagerDuty accepts the key and knows the From
      user, and a webhook subscription sends BRIDGE_EVENT_TYPES to URL (the stack's
      WebhookUrl); with an incident_io section, that incident.io accepts its API key.
      One line per check, with a fix for each failure; exits 1 on a failure.
      Reads ZOOM_HOST_USER, ZOOM_API_BASE, ZOOM_OAUTH_BASE, PAGERDUTY_API_BASE and
      BRIDGE_EVENT_TYPES as the worker does.
  bridge-relay redrive --from DEAD_LETTER_QUEUE_URL --to JOB_QUEUE_URL
      Moves the jobs of the deployed dead-letter queue back to the job queue once the cause
      of their failure is fixed (AWS credentials and region as for the AWS CLI).
  bridge-relay subscribe --url WEBHOOK_URL [--service ID]... [--team ID]... [--events LIST]
                         [--policy-file FILE] [--secrets-file FILE | --worker-secrets-file FILE]
      Creates (or updates) the PagerDuty V3 webhook subscription that sends incidents of each
      service or team (none given: the whole account) to WEBHOOK_URL, and prints the signing
      secret of each new subscription once. The API token comes from PAGERDUTY_API_TOKEN or the
      secrets file (the worker's); the events from --events, else the policy's event types; the API from
      PAGERDUTY_API_BASE (default https://api.pagerduty.com).";

struct Args {
    command: String,
    secrets_file: Option<String>,
    ingress_secrets_file: Option<String>,
    worker_secrets_file: Option<String>,
    secret_id: Option<String>,
    ingress_secret_id: Option<String>,
    worker_secret_id: Option<String>,
    webhook_url: Option<String>,
    from: Option<String>,
    to: Option<String>,
    listen: SocketAddr,
    positional: Vec<String>,
    policy_file: Option<String>,
    url: Option<String>,
    services: Vec<String>,
    teams: Vec<String>,
    events: Option<String>,
    zoom: bool,
    table_name: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let command = args.next().ok_or("no command given")?;
    let mut parsed = Args {
        command,
        secrets_file: None,
        ingress_secrets_file: None,
        worker_secrets_file: None,
        secret_id: None,
        ingress_secret_id: None,
        worker_secret_id: None,
        webhook_url: None,
        from: None,
        to: None,
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        positional: Vec::new(),
        policy_file: None,
        url: None,
        services: Vec::new(),
        teams: Vec::new(),
        events: None,
        zoom: false,
        table_name: std::env::var("TABLE_NAME").ok().filter(|t| !t.is_empty()),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--secrets-file" => {
                parsed.secrets_file = Some(args.next().ok_or("--secrets-file needs a path")?)
            }
            "--ingress-secrets-file" => {
                parsed.ingress_secrets_file =
                    Some(args.next().ok_or("--ingress-secrets-file needs a path")?)
            }
            "--worker-secrets-file" => {
                parsed.worker_secrets_file =
                    Some(args.next().ok_or("--worker-secrets-file needs a path")?)
            }
            "--secret-id" => {
                parsed.secret_id = Some(args.next().ok_or("--secret-id needs a name or ARN")?)
            }
            "--ingress-secret-id" => {
                parsed.ingress_secret_id = Some(
                    args.next()
                        .ok_or("--ingress-secret-id needs a name or ARN")?,
                )
            }
            "--worker-secret-id" => {
                parsed.worker_secret_id = Some(
                    args.next()
                        .ok_or("--worker-secret-id needs a name or ARN")?,
                )
            }
            "--webhook-url" => {
                parsed.webhook_url = Some(args.next().ok_or("--webhook-url needs a URL")?)
            }
            "--from" => parsed.from = Some(args.next().ok_or("--from needs a queue URL")?),
            "--to" => parsed.to = Some(args.next().ok_or("--to needs a queue URL")?),
            "--policy-file" => {
                parsed.policy_file = Some(args.next().ok_or("--policy-file needs a path")?)
            }
            "--url" => parsed.url = Some(args.next().ok_or("--url needs the webhook URL")?),
            "--service" => parsed
                .services
                .push(args.next().ok_or("--service needs a service id")?),
            "--team" => parsed
                .teams
                .push(args.next().ok_or("--team needs a team id")?),
            "--events" => {
                parsed.events = Some(args.next().ok_or("--events needs a comma-separated list")?)
            }
            "--listen" => {
                let value = args.next().ok_or("--listen needs an address")?;
                parsed.listen = value
                    .parse()
                    .map_err(|e| format!("--listen {value}: {e}"))?;
            }
            "--zoom" => parsed.zoom = true,
            "--table-name" => {
                parsed.table_name = Some(args.next().ok_or("--table-name needs the table's name")?)
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            _ => parsed.positional.push(arg),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("bridge-relay: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "serve" => serve(args).await,
        "sign" => sign(args).await,
        "sign-incident-io" => sign_incident_io(args).await,
        "redrive" => redrive(args).await,
        "subscribe" => subscribe::command(args).await,
        "doctor" => doctor(args).await,
        other => Err(format!("unknown command {other}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bridge-relay: {message}");
            ExitCode::FAILURE
        }
    }
}

fn secret_cache(args: &Args, ttl: Duration) -> Result<Arc<SecretCache>, String> {
    let path = args
        .secrets_file
        .as_ref()
        .ok_or("--secrets-file is required (the secret document, see README)")?;
    Ok(file_cache(path, SecretRole::Both, ttl))
}

fn file_cache(path: &str, role: SecretRole, ttl: Duration) -> Arc<SecretCache> {
    Arc::new(SecretCache::new(Arc::new(FileSecretSource::new(path)), ttl).with_role(role))
}

/// The ingress's and the worker's secrets: one file with both parts (the same cache twice), or
/// one file each.
fn secret_files(
    args: &Args,
    ttl: Duration,
) -> Result<(Arc<SecretCache>, Arc<SecretCache>), String> {
    match (
        &args.secrets_file,
        &args.ingress_secrets_file,
        &args.worker_secrets_file,
    ) {
        (Some(_), None, None) => {
            let both = secret_cache(args, ttl)?;
            Ok((both.clone(), both))
        }
        (None, Some(ingress), Some(worker)) => Ok((
            file_cache(ingress, SecretRole::Ingress, ttl),
            file_cache(worker, SecretRole::Worker, ttl),
        )),
        _ => Err(
            "give --secrets-file (both parts in one file), or --ingress-secrets-file and --worker-secrets-file"
                .into(),
        ),
    }
}

/// The secret `sign` takes the webhook secrets from: the one file, or the ingress's.
fn signing_cache(args: &Args) -> Result<Arc<SecretCache>, String> {
    match (&args.secrets_file, &args.ingress_secrets_file) {
        (None, Some(ingress)) => Ok(file_cache(ingress, SecretRole::Ingress, Duration::ZERO)),
        _ => secret_cache(args, Duration::ZERO),
    }
}

async fn sign(args: Args) -> Result<(), String> {
    let body_file = args.positional.first().ok_or("sign needs a BODY_FILE")?;
    let secrets = signing_cache(&args)?
        .get()
        .await
        .map_err(|e| e.to_string())?;
    let body = std::fs::read(body_file).map_err(|e| format!("{body_file}: {e}"))?;
    if args.zoom {
        let token = secrets
            .zoom
            .webhook_secret_token
            .as_ref()
            .ok_or("the secrets file has no zoom.webhook_secret_token")?;
        let timestamp = (bridge_relay::telemetry::epoch_millis(std::time::SystemTime::now())
            / 1000)
            .to_string();
        println!("x-zm-request-timestamp: {timestamp}");
        println!(
            "x-zm-signature: {}",
            bridge_relay::zoom::webhook::sign(&timestamp, &body, token)
        );
        return Ok(());
    }
    let secret = secrets
        .pagerduty
        .webhook_secrets
        .first()
        .ok_or("the secrets file has no pagerduty.webhook_secrets")?;
    println!("{}", signature::sign(&body, secret));
    Ok(())
}

async fn sign_incident_io(args: Args) -> Result<(), String> {
    let body_file = args
        .positional
        .first()
        .ok_or("sign-incident-io needs a BODY_FILE")?;
    let secrets = signing_cache(&args)?
        .get()
        .await
        .map_err(|e| e.to_string())?;
    let secret = secrets
        .incident_io
        .as_ref()
        .and_then(|section| section.webhook_secrets.first())
        .ok_or("the secrets file has no incident_io.webhook_secrets")?;
    let body = std::fs::read(body_file).map_err(|e| format!("{body_file}: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let id = format!("msg_local_{now}");
    let signature = svix::sign(secret, &id, now, &body)
        .ok_or("incident_io.webhook_secrets[0] is not a whsec_ secret")?;
    println!(
        "-H '{}: {id}' -H '{}: {now}' -H '{}: {signature}'",
        svix::ID_HEADER,
        svix::TIMESTAMP_HEADER,
        svix::SIGNATURE_HEADER
    );
    Ok(())
}

async fn doctor(args: Args) -> Result<(), String> {
    let config = process_env().local().map_err(|e| e.to_string())?;
    let ttl = Duration::from_secs(300);
    // The worker's secret (or the one serving both), and the ingress's when they are split.
    let (secrets, ingress_secrets) = match (
        (&args.secret_id, &args.secrets_file),
        (&args.ingress_secret_id, &args.worker_secret_id),
        (&args.ingress_secrets_file, &args.worker_secrets_file),
    ) {
        ((Some(id), None), (None, None), (None, None)) => {
            let aws = bridge_relay::aws::sdk_config().await;
            (SecretCache::secrets_manager(&aws, id.clone(), ttl), None)
        }
        ((None, Some(_)), (None, None), (None, None)) => (secret_cache(&args, ttl)?, None),
        ((None, None), (Some(ingress), Some(worker)), (None, None)) => {
            let aws = bridge_relay::aws::sdk_config().await;
            (
                SecretCache::secrets_manager_for(SecretRole::Worker, &aws, worker.clone(), ttl),
                Some(SecretCache::secrets_manager_for(
                    SecretRole::Ingress,
                    &aws,
                    ingress.clone(),
                    ttl,
                )),
            )
        }
        ((None, None), (None, None), (Some(ingress), Some(worker))) => (
            file_cache(worker, SecretRole::Worker, ttl),
            Some(file_cache(ingress, SecretRole::Ingress, ttl)),
        ),
        _ => {
            return Err("doctor needs --secret-id or --secrets-file (one secret for both functions), or --ingress-secret-id and --worker-secret-id, or --ingress-secrets-file and --worker-secrets-file".into());
        }
    };
    let http = bridge_relay::http::client();
    let endpoints = &config.endpoints;
    let mut zoom = ZoomApi::new(
        http.clone(),
        &endpoints.zoom_api,
        &endpoints.zoom_oauth,
        config.zoom_host_user.clone(),
        secrets.clone(),
    );
    // With the deployment's table, doctor uses the token the workers share instead of fetching
    // one of its own (which would void theirs).
    if let Some(table) = &args.table_name {
        let aws = bridge_relay::aws::sdk_config().await;
        zoom = zoom.with_shared_token(Arc::new(
            bridge_relay::store::DynamoDbStore::from_sdk_config(&aws, table),
        ));
    }
    let doctor = Doctor {
        shares_token: args.table_name.is_some(),
        zoom,
        pagerduty: PagerDutyApi::new(http.clone(), &endpoints.pagerduty_api, secrets.clone()),
        incident_io: Some(IncidentIoApi::new(
            http,
            &endpoints.incident_io_api,
            secrets.clone(),
            config.incident_io_notify_channel,
        )),
        secrets,
        ingress_secrets,
        host_user: config.zoom_host_user,
        webhook_url: args.webhook_url,
        bridge_events: config.policy.event_types().to_vec(),
    };
    let checks = doctor.run().await;
    for check in &checks {
        println!("{check}");
    }
    if bridge_relay::doctor::healthy(&checks) {
        Ok(())
    } else {
        Err("some checks failed; see the fixes above".into())
    }
}

async fn redrive(args: Args) -> Result<(), String> {
    let from = args
        .from
        .ok_or("redrive needs --from DEAD_LETTER_QUEUE_URL")?;
    let to = args.to.ok_or("redrive needs --to JOB_QUEUE_URL")?;
    let aws = bridge_relay::aws::sdk_config().await;
    let client = bridge_relay::queue::sqs_client(&aws);
    let done = bridge_relay::queue::redrive(&client, &from, &to)
        .await
        .map_err(|e| e.to_string())?;
    for job in &done.moved {
        println!("requeued incident {} ({})", job.incident.id, job.event_type);
    }
    for (id, reason) in &done.skipped {
        println!("skipped message {id}, which is not a job: {reason}");
    }
    println!("{} job(s) moved back to the job queue", done.moved.len());
    if !done.skipped.is_empty() {
        println!(
            "{} message(s) that are not jobs were left in the dead-letter queue",
            done.skipped.len()
        );
    }
    Ok(())
}

/// The process environment, with `--policy-file` standing in for `POLICY_FILE`.
fn environment(args: &Args) -> Env<impl Fn(&str) -> Option<String> + use<>> {
    let policy_file = args.policy_file.clone();
    Env(move |name: &str| match (name, &policy_file) {
        ("POLICY_FILE", Some(path)) => Some(path.clone()),
        _ => std::env::var(name).ok(),
    })
}

async fn serve(args: Args) -> Result<(), String> {
    bridge_relay::init_local_tracing();
    let config = environment(&args).local().map_err(|e| e.to_string())?;
    let (ingress_secrets, secrets) = secret_files(&args, config.secret_ttl)?;
    // Read the secrets now so a bad file (or one without the keys its side needs) fails the
    // start, not the first webhook; each read logs which keys it found where.
    secrets.get().await.map_err(|e| e.to_string())?;
    ingress_secrets.get().await.map_err(|e| e.to_string())?;

    let zoom_api = config.endpoints.zoom_api.clone();
    let pagerduty_api = config.endpoints.pagerduty_api.clone();
    let relay = bridge_relay::compose::local_relay(
        config,
        ingress_secrets,
        secrets,
        bridge_relay::http::client(),
    );
    let (ingress, worker, dead_letters, jobs) =
        (relay.ingress, relay.worker, relay.dead_letters, relay.jobs);

    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        "bridge-relay listening on http://{address}/webhook, /action, /workflow, /incident-io and /zoom (zoom {}, pagerduty {})",
        zoom_api,
        pagerduty_api
    );
    // The worker reads a channel of its own: on shutdown the forwarder stops and drops its end,
    // so the worker takes no new job, finishes the ones in flight, and returns.
    let (forward, worker_jobs) = tokio::sync::mpsc::unbounded_channel();
    let mut jobs = jobs;
    let forwarder = tokio::spawn(async move {
        while let Some(job) = jobs.recv().await {
            if forward.send(job).is_err() {
                break;
            }
        }
    });
    let worker_task = tokio::spawn(run_local_worker(
        worker,
        dead_letters,
        worker_jobs,
        Duration::from_secs(1),
    ));

    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(|e| e.to_string())?,
            _ = &mut shutdown => break,
        };
        let ingress = ingress.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let ingress = ingress.clone();
                async move { route(&ingress, request).await }
            });
            // Request line and headers over 16 KB get hyper's 431; a webhook needs far less.
            let _ = hyper::server::conn::http1::Builder::new()
                .max_buf_size(16 * 1024)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    drop(listener);
    tracing::info!(
        "stopping: finishing the jobs in flight (up to {} s)",
        SHUTDOWN_GRACE.as_secs()
    );
    forwarder.abort();
    let _ = forwarder.await;
    match tokio::time::timeout(SHUTDOWN_GRACE, worker_task).await {
        Ok(_) => tracing::info!("stopped; every job in flight finished"),
        Err(_) => tracing::warn!(
            "stopped with jobs still running after {} s; their incidents may lack a bridge",
            SHUTDOWN_GRACE.as_secs()
        ),
    }
    Ok(())
}

/// How long a stopping runner waits for the jobs in flight: a bridge half made (a meeting
/// without its note) is worse than a slower stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Ctrl-C, or SIGTERM (what `docker stop`, systemd and `kill` send).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn route(
    ingress: &Ingress,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let path = request.uri().path();
    if request.method() == Method::GET && path == "/health" {
        return Ok(json(StatusCode::OK, r#"{"status":"ok"}"#.into()));
    }
    let route = match requests::route(path) {
        Some(route) if request.method() == Method::POST => route,
        _ => {
            return Ok(json(StatusCode::NOT_FOUND, requests::UNKNOWN_PATH.into()));
        }
    };
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    // One byte over the limit is enough for the ingress to answer 413.
    let limit = bridge_relay::relay::MAX_BODY_BYTES + 1;
    let body = match Limited::new(request.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Bytes::from(vec![0; limit]),
        // Not too long but unreadable (a broken chunk, the sender gone): the request is bad.
        Err(e) => {
            tracing::warn!(error = %e, "request body could not be read");
            return Ok(json(StatusCode::BAD_REQUEST, UNREADABLE_BODY.into()));
        }
    };
    let (response, calls) =
        bridge_relay::telemetry::observe(ingress.handle_route(route, &headers, &body)).await;
    bridge_relay::report::WebhookReport {
        response: &response,
        webhook_id: requests::delivery_id(&headers),
        calls,
    }
    .log(None);
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Ok(json(status, response.body.to_string()))
}

const UNREADABLE_BODY: &str =
    r#"{"status":"rejected","error":"the request body could not be read"}"#;

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

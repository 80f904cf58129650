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
use bridge_relay::local::run_local_worker;
use bridge_relay::pagerduty::{PagerDutyApi, signature};
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::{FileSecretSource, SecretCache, SecretRole};
use bridge_relay::zoom::ZoomApi;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The relay on one machine, and the operator's commands for a deployment.
#[derive(clap::Parser)]
#[command(name = "bridge-relay", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Runs the ingress and the worker in this process: /webhook (V3 webhooks), /action
    /// (Custom Incident Action button), /workflow (Incident Workflow webhook step),
    /// /incident-io and /zoom on http://ADDR, grace timers in process, records in memory.
    ///
    /// Settings come from the same environment variables as the Lambda functions:
    /// ZOOM_HOST_USER and/or ZOOM_HOST_USERS (one required), ZOOM_HOST_MAX_MEETINGS,
    /// ZOOM_HOST_DAILY_CREATES, ZOOM_HOST_SLOT_MAX_AGE_MINUTES, ZOOM_API_BASE, ZOOM_OAUTH_BASE,
    /// PAGERDUTY_API_BASE, INCIDENT_IO_API_BASE, INCIDENT_IO_NOTIFY_CHANNEL, POLICY_FILE or
    /// POLICY, BRIDGE_EVENT_TYPES, SECRET_CACHE_TTL_SECONDS, OVERWRITE_EXISTING_BRIDGE.
    Serve {
        #[command(flatten)]
        secrets: SecretFiles,
        /// The policy document (stands in for POLICY_FILE).
        #[arg(long, value_name = "FILE")]
        policy_file: Option<String>,
        /// Where the ingress listens.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
    },
    /// Prints the X-PagerDuty-Signature value for BODY_FILE, signed with the first
    /// pagerduty.webhook_secrets entry; with --zoom, the headers Zoom would send.
    Sign {
        #[command(flatten)]
        secrets: IngressSecretFile,
        /// Print the x-zm-request-timestamp (now) and x-zm-signature headers instead, signed
        /// with zoom.webhook_secret_token.
        #[arg(long)]
        zoom: bool,
        #[arg(value_name = "BODY_FILE")]
        body_file: String,
    },
    /// Prints the webhook-id, webhook-timestamp and webhook-signature headers incident.io would
    /// send for BODY_FILE now (as curl -H arguments), signed with the first
    /// incident_io.webhook_secrets entry.
    SignIncidentIo {
        #[command(flatten)]
        secrets: IngressSecretFile,
        #[arg(value_name = "BODY_FILE")]
        body_file: String,
    },
    /// Creates (or updates) the PagerDuty V3 webhook subscription that sends incidents of each
    /// service or team (none given: the whole account) to the URL, and prints the signing secret
    /// of each new subscription once.
    ///
    /// The API token comes from PAGERDUTY_API_TOKEN or the (worker's) secrets file; the events
    /// from --events, else the policy's event types; the API from PAGERDUTY_API_BASE (default
    /// https://api.pagerduty.com).
    Subscribe {
        /// The stack's WebhookUrl (required; the command says so when it is missing).
        #[arg(long, value_name = "WEBHOOK_URL")]
        url: Option<String>,
        #[arg(long = "service", value_name = "ID")]
        services: Vec<String>,
        #[arg(long = "team", value_name = "ID")]
        teams: Vec<String>,
        /// Comma-separated event types.
        #[arg(long, value_name = "LIST")]
        events: Option<String>,
        #[arg(long, value_name = "FILE")]
        policy_file: Option<String>,
        #[arg(long, value_name = "FILE")]
        secrets_file: Option<String>,
        #[arg(long, value_name = "FILE")]
        worker_secrets_file: Option<String>,
    },
    /// Checks a deployment without creating anything: the secrets parse (one serving both
    /// functions, or the ingress's and the worker's, each with its keys and the ingress's with
    /// no API credential), Zoom gives a token, the host user can host, PagerDuty accepts the key
    /// and knows the From user, and a webhook subscription sends BRIDGE_EVENT_TYPES to the
    /// stack's WebhookUrl; with an incident_io section, that incident.io accepts its key.
    ///
    /// One line per check, with a fix for each failure; exits 1 on a failure. Reads
    /// ZOOM_HOST_USER, ZOOM_API_BASE, ZOOM_OAUTH_BASE, PAGERDUTY_API_BASE and
    /// BRIDGE_EVENT_TYPES as the worker does.
    Doctor {
        /// The one secret serving both functions.
        #[arg(long, value_name = "ARN")]
        secret_id: Option<String>,
        #[arg(long, value_name = "ARN")]
        ingress_secret_id: Option<String>,
        #[arg(long, value_name = "ARN")]
        worker_secret_id: Option<String>,
        #[command(flatten)]
        secrets: SecretFiles,
        /// The stack's IncidentTableName: doctor uses the token the deployment's workers share
        /// (none of theirs is voided). Required with --secret-id or --worker-secret-id; with
        /// a secrets file and no table, doctor fetches a token of its own.
        #[arg(long, value_name = "TABLE", env = "TABLE_NAME")]
        table_name: Option<String>,
        /// The stack's WebhookUrl; without it the subscription is not checked.
        #[arg(long, value_name = "URL")]
        webhook_url: Option<String>,
    },
    /// Moves the jobs of the deployed dead-letter queue back to the job queue once the cause of
    /// their failure is fixed (AWS credentials and region as for the AWS CLI).
    Redrive {
        #[arg(long, value_name = "DEAD_LETTER_QUEUE_URL")]
        from: String,
        #[arg(long, value_name = "JOB_QUEUE_URL")]
        to: String,
    },
}

/// One secrets file with both parts, or the ingress's and the worker's as deployed (the
/// commands check the combination and say what is missing).
#[derive(clap::Args)]
struct SecretFiles {
    /// One secret document with both parts (schema in the README).
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<String>,
    /// The ingress's part: webhook verification secrets.
    #[arg(long, value_name = "FILE")]
    ingress_secrets_file: Option<String>,
    /// The worker's part: the API credentials.
    #[arg(long, value_name = "FILE")]
    worker_secrets_file: Option<String>,
}

/// The file holding the webhook secrets: one with both parts, or the ingress's.
#[derive(clap::Args)]
struct IngressSecretFile {
    /// One secret document with both parts.
    #[arg(long, value_name = "FILE")]
    secrets_file: Option<String>,
    /// The ingress's part: webhook verification secrets.
    #[arg(long, value_name = "FILE")]
    ingress_secrets_file: Option<String>,
}

/// What the commands read, whichever command parsed it.
#[derive(Default)]
struct Args {
    secrets_file: Option<String>,
    ingress_secrets_file: Option<String>,
    worker_secrets_file: Option<String>,
    secret_id: Option<String>,
    ingress_secret_id: Option<String>,
    worker_secret_id: Option<String>,
    webhook_url: Option<String>,
    from: Option<String>,
    to: Option<String>,
    listen: Option<SocketAddr>,
    positional: Vec<String>,
    policy_file: Option<String>,
    url: Option<String>,
    services: Vec<String>,
    teams: Vec<String>,
    events: Option<String>,
    zoom: bool,
    table_name: Option<String>,
}

impl From<SecretFiles> for Args {
    fn from(files: SecretFiles) -> Self {
        Args {
            secrets_file: files.secrets_file,
            ingress_secrets_file: files.ingress_secrets_file,
            worker_secrets_file: files.worker_secrets_file,
            ..Args::default()
        }
    }
}

impl From<IngressSecretFile> for Args {
    fn from(files: IngressSecretFile) -> Self {
        Args {
            secrets_file: files.secrets_file,
            ingress_secrets_file: files.ingress_secrets_file,
            ..Args::default()
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    // Usage errors exit 2 with the command's own usage; --help and --version exit 0.
    let cli = <Cli as clap::Parser>::parse();
    let result = match cli.command {
        Command::Serve {
            secrets,
            policy_file,
            listen,
        } => {
            serve(Args {
                policy_file,
                listen: Some(listen),
                ..secrets.into()
            })
            .await
        }
        Command::Sign {
            secrets,
            zoom,
            body_file,
        } => {
            sign(Args {
                zoom,
                positional: vec![body_file],
                ..secrets.into()
            })
            .await
        }
        Command::SignIncidentIo { secrets, body_file } => {
            sign_incident_io(Args {
                positional: vec![body_file],
                ..secrets.into()
            })
            .await
        }
        Command::Subscribe {
            url,
            services,
            teams,
            events,
            policy_file,
            secrets_file,
            worker_secrets_file,
        } => {
            subscribe::command(Args {
                url,
                services,
                teams,
                events,
                policy_file,
                secrets_file,
                worker_secrets_file,
                ..Args::default()
            })
            .await
        }
        Command::Doctor {
            secret_id,
            ingress_secret_id,
            worker_secret_id,
            secrets,
            table_name,
            webhook_url,
        } => {
            doctor(Args {
                secret_id,
                ingress_secret_id,
                worker_secret_id,
                table_name: table_name.filter(|t| !t.is_empty()),
                webhook_url,
                ..secrets.into()
            })
            .await
        }
        Command::Redrive { from, to } => {
            redrive(Args {
                from: Some(from),
                to: Some(to),
                ..Args::default()
            })
            .await
        }
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
    // The deployed secret's Zoom app is the workers': a token of doctor's own would void the
    // one they share, and bridges would fail until they fetched another.
    let deployed = args.secret_id.is_some() || args.worker_secret_id.is_some();
    if deployed && args.table_name.is_none() {
        return Err("doctor with the deployed secret needs --table-name (the stack's IncidentTableName output, or TABLE_NAME): it then checks Zoom with the token the workers share; a token of its own would void theirs".into());
    }
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
            (
                bridge_relay::secrets::secrets_manager(&aws, id.clone(), ttl),
                None,
            )
        }
        ((None, Some(_)), (None, None), (None, None)) => (secret_cache(&args, ttl)?, None),
        ((None, None), (Some(ingress), Some(worker)), (None, None)) => {
            let aws = bridge_relay::aws::sdk_config().await;
            (
                bridge_relay::secrets::secrets_manager_for(
                    SecretRole::Worker,
                    &aws,
                    worker.clone(),
                    ttl,
                ),
                Some(bridge_relay::secrets::secrets_manager_for(
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

    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let mut paths: Vec<&str> = ingress.places().map(|(_, path)| path).collect();
    let last = paths.pop().unwrap_or_default();
    tracing::info!(
        "bridge-relay listening on http://{address}{} and {last} (zoom {}, pagerduty {})",
        paths.join(", "),
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
    let route = match ingress.route(path) {
        Some(route) if request.method() == Method::POST => route,
        _ => {
            return Ok(json(StatusCode::NOT_FOUND, ingress.unknown_path_body()));
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
        webhook_id: ingress.delivery_id(&headers),
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("bridge-relay").chain(args.iter().copied()))
    }

    #[test]
    fn every_command_has_its_own_flags_and_help() {
        Cli::command().debug_assert();
        for command in [
            "serve",
            "sign",
            "sign-incident-io",
            "subscribe",
            "doctor",
            "redrive",
        ] {
            let help = parse(&[command, "--help"]).err().map(|e| e.kind());
            assert_eq!(help, Some(clap::error::ErrorKind::DisplayHelp), "{command}");
        }
    }

    #[test]
    fn a_flag_of_another_command_is_refused() {
        let refused = |args: &[&str]| parse(args).err().map(|e| e.kind());
        assert_eq!(
            refused(&["serve", "--secrets-file", "s.json", "--from", "x"]),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
        assert_eq!(
            refused(&[
                "sign",
                "--secrets-file",
                "s.json",
                "--listen",
                "x",
                "body.json"
            ]),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
        assert_eq!(
            refused(&["redrive", "--from", "q"]),
            Some(clap::error::ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            refused(&["serve", "--listen", "not-an-address"]),
            Some(clap::error::ErrorKind::ValueValidation)
        );
    }

    #[test]
    fn the_readme_commands_parse() {
        let serve = parse(&["serve", "--secrets-file", "examples/secrets.local.json"]).unwrap();
        assert!(matches!(serve.command, Command::Serve { .. }));
        let sign = parse(&["sign", "--secrets-file", "s.json", "--zoom", "body.json"]).unwrap();
        assert!(matches!(sign.command, Command::Sign { zoom: true, .. }));
        let doctor = parse(&[
            "doctor",
            "--secret-id",
            "arn",
            "--table-name",
            "t",
            "--webhook-url",
            "https://x",
        ])
        .unwrap();
        assert!(matches!(doctor.command, Command::Doctor { .. }));
    }
}

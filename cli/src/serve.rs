//! `bridge-relay serve`: the local runner. The ingress over HTTP on loopback, the worker in the
//! same process with the Lambda's semantics, records in memory.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bridge_relay::compose::LocalRelay;
use bridge_relay::local::run_local_worker;
use bridge_relay::relay::Ingress;
use bridge_relay::secrets::RelaySecrets;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use crate::args::{Args, environment};
use crate::secret_files::secret_files;

/// `bridge-relay serve`: the ingress over HTTP and the worker in this process, until Ctrl-C or
/// SIGTERM.
pub(crate) async fn run(args: Args) -> Result<(), String> {
    bridge_relay::init_local_tracing();
    let config = environment(&args).local().map_err(|e| e.to_string())?;
    let (ingress_secrets, secrets) = secret_files(&args, config.secret_ttl)?;
    // Read the secrets now so a bad file (or one without the keys its side needs) fails the
    // start, not the first webhook; each read logs which keys it found where.
    let worker_secrets = secrets.get().await.map_err(|e| e.to_string())?;
    ingress_secrets.get().await.map_err(|e| e.to_string())?;
    let placeholders = example_placeholders(&worker_secrets);
    if !placeholders.is_empty() {
        tracing::warn!(
            "the worker's credentials are the example placeholders ({}): with them the worker \
             cannot reach Zoom or PagerDuty, and every job will fail. To see the relay work \
             without accounts, run `bridge-relay demo`; with your own credentials in a copy of \
             the file, `bridge-relay doctor --secrets-file FILE` checks them",
            placeholders.join(", ")
        );
    }

    let zoom_api = config.endpoints.zoom_api.clone();
    let pagerduty_api = config.endpoints.pagerduty_api.clone();
    let relay = bridge_relay::compose::local_relay(
        config,
        ingress_secrets,
        secrets,
        bridge_relay::http::client(),
    );
    let listen = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 3000)));
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let mut paths: Vec<&str> = relay.ingress.places().map(|(_, path)| path).collect();
    let last = paths.pop().unwrap_or_default();
    tracing::info!(
        "bridge-relay listening on http://{address}{} and {last} (zoom {}, pagerduty {})",
        paths.join(", "),
        zoom_api,
        pagerduty_api
    );
    serve_until(relay, listener, shutdown_signal()).await
}

/// Serves the relay's ingress on `listener` and runs its worker, until `shutdown`; then takes
/// no new webhook or job and lets the jobs in flight finish (up to [`SHUTDOWN_GRACE`]).
pub(crate) async fn serve_until(
    relay: LocalRelay,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), String> {
    let (ingress, worker, dead_letters, jobs) =
        (relay.ingress, relay.worker, relay.dead_letters, relay.jobs);
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

/// The worker's keys that still hold the `your-…` placeholders of the files in `examples/`.
fn example_placeholders(secrets: &RelaySecrets) -> Vec<&'static str> {
    let placeholder = |value: &str| value.starts_with("your-");
    let mut found = Vec::new();
    if let Some(app) = &secrets.zoom.app {
        for (key, value) in [
            ("zoom.account_id", app.account_id.as_str()),
            ("zoom.client_id", app.client_id.as_str()),
            ("zoom.client_secret", app.client_secret.expose_secret()),
        ] {
            if placeholder(value) {
                found.push(key);
            }
        }
    }
    if let Some(api) = &secrets.pagerduty.api
        && placeholder(api.api_token.expose_secret())
    {
        found.push("pagerduty.api_token");
    }
    found
}

/// How long a stopping runner waits for the jobs in flight: a bridge half made (a meeting
/// without its note) is worse than a slower stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Ctrl-C, or SIGTERM (what `docker stop`, systemd and `kill` send).
pub(crate) async fn shutdown_signal() {
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

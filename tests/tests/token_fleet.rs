//! One Zoom token for the whole deployment. Zoom voids a Server-to-Server token when it issues
//! the next one, so worker containers that each fetched their own would void each other's. Here
//! several workers that share no memory (separate token caches, as separate Lambda containers)
//! share the token through the table (moto DynamoDB, its conditional writes atomic as in AWS),
//! against a Zoom stand-in that accepts only
//! the newest token it issued.

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_relay::policy::BridgePolicy;
use bridge_relay::relay::PostTo;
use bridge_relay::relay::WebhookRequest;
use bridge_relay::secrets::SecretCache;
use bridge_relay::store::{DynamoDbStore, InMemoryStore};
use bridge_relay::token_store::SharedTokenStore;
use bridge_relay::zoom::ZoomApi;
use bridge_relay_tests::faulty::FaultyApis;
use bridge_relay_tests::*;
use serde_json::json;

const SECRET: &str = "token-fleet-webhook-secret";
const CONTAINERS: usize = 3;
const INCIDENTS: usize = 90;
/// Short-lived tokens, so the fleet renews several times during the storm (renewed after 4.5 s).
const TOKEN_LIFETIME_SECONDS: u64 = 6;

fn webhook(i: usize) -> Vec<u8> {
    let mut envelope =
        pagerduty_webhook("tests/fixtures/pagerduty-webhooks/captured-zulip/triggered_v3.json");
    envelope["event"]["id"] = json!(format!("01FLEETEVENT{i:05}"));
    envelope["event"]["data"]["id"] = json!(incident_id(i));
    envelope["event"]["data"]["number"] = json!(3000 + i);
    envelope["event"]["data"]["title"] = json!(format!("Fleet incident {i}"));
    envelope.to_string().into_bytes()
}

fn incident_id(i: usize) -> String {
    format!("Q{i:05}FLEET")
}

fn fast_settings() -> Deployment {
    Deployment::new().retries(50, 1500, 6).roomy_pool()
}

async fn send_webhooks(aws: &AwsStandIns, deliveries: &[(usize, String)]) {
    let ingress = Arc::new(aws.ingress(BridgePolicy::default()));
    let mut sending = tokio::task::JoinSet::new();
    for chunk in deliveries.chunks(24) {
        for (i, webhook_id) in chunk.iter().cloned() {
            let ingress = ingress.clone();
            sending.spawn(async move {
                let body = webhook(i);
                let signature = sign(&body, SECRET);
                ingress
                    .handle(WebhookRequest {
                        signature: Some(&signature),
                        webhook_id: Some(&webhook_id),
                        body: &body,
                    })
                    .await
                    .status
            });
        }
        while let Some(status) = sending.join_next().await {
            assert_eq!(status.unwrap(), 202, "every delivery is accepted");
        }
    }
}

/// `bridge-relay doctor` against the deployment (moto) and the stand-in, sharing the table.
fn doctor(aws: &AwsStandIns, apis: &FaultyApis) -> String {
    let output = Command::new(workspace_binary("bridge-relay"))
        .args(["doctor", "--secret-id", &aws.secret_arn])
        .args(["--table-name", &aws.table_name])
        .envs(apis.env())
        .env("AWS_ENDPOINT_URL", &aws.moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_containers_share_one_zoom_token_and_a_doctor_run_voids_nothing() {
    let started = Instant::now();
    let aws = AwsStandIns::start_for_host_pool(&[SECRET], 2).await;
    let apis = FaultyApis::start(0x70_4e11, 0.2, Duration::from_millis(1200), PD_API_TOKEN).await;
    {
        let mut state = apis.state();
        state.newest_token_only = true;
        state.token_lifetime_seconds = TOKEN_LIFETIME_SECONDS;
    }
    let mut deliveries = Vec::new();
    for i in 0..INCIDENTS {
        for _ in 0..(1 + i % 2) {
            deliveries.push((i, format!("fleet-webhook-{i}")));
        }
    }
    send_webhooks(&aws, &deliveries).await;

    // Separate containers: each its own worker, Zoom client and token cache.
    let http = bridge_relay::http::client_with_timeout(Duration::from_millis(800));
    let workers: Vec<_> = (0..CONTAINERS)
        .map(|_| {
            aws.worker_with_client(&apis.env(), fast_settings(), http.clone())
                .0
        })
        .collect();
    let draining = futures::future::join_all(
        workers
            .iter()
            .map(|worker| aws.run_event_source(worker.clone(), Duration::from_secs(20)))
            .collect::<Vec<_>>(),
    );
    // An operator runs doctor against the deployment once the storm is under way.
    let doctor_run = async {
        while apis.state().bridges.len() < INCIDENTS / 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let fetches_before = apis.state().token_fetches;
        let aws = &aws;
        let apis_ref = &apis;
        let stdout = tokio::task::block_in_place(|| doctor(aws, apis_ref));
        (stdout, fetches_before, apis.state().token_fetches)
    };
    let (invocations, (doctor_stdout, fetches_before_doctor, fetches_after_doctor)) =
        tokio::join!(draining, doctor_run);
    let elapsed = started.elapsed();

    let dead_letters = aws.drain(&aws.dead_letter_queue_url).await;
    let state = apis.state();
    let mut bridged = 0;
    for i in 0..INCIDENTS {
        let id = incident_id(i);
        let meetings = state.meetings_by_incident.get(&id).map_or(0, Vec::len);
        assert_eq!(meetings, 1, "{id}: meetings");
        let bridges: HashSet<String> = state
            .bridges
            .get(&id)
            .into_iter()
            .flatten()
            .map(|b| b["conference_url"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(bridges.len(), 1, "{id}: bridges {bridges:?}");
        bridged += 1;
    }
    // Renewals: one per 4.5 s of storm for the fleet, plus the first, plus re-fetches after a
    // token answer was lost on the way (the stand-in issued it, the caller never saw it).
    let renewals = elapsed.as_secs_f64() / (TOKEN_LIFETIME_SECONDS as f64 * 0.75);
    println!(
        "token fleet: {INCIDENTS} incidents, {} deliveries, {CONTAINERS} containers, {:.1} s, \
         worker invocations {invocations:?}; token fetches {} (about {renewals:.1} lifetimes), \
         calls refused with a voided token {}, Zoom 401s {}, faults {:?}; bridged {bridged}, \
         dead-lettered {}; doctor fetched {}",
        deliveries.len(),
        elapsed.as_secs_f64(),
        state.token_fetches,
        state.voided_token_refusals,
        state.unauthorized,
        state.faults,
        dead_letters.len(),
        fetches_after_doctor - fetches_before_doctor,
    );
    println!("doctor:\n{doctor_stdout}");
    assert!(dead_letters.is_empty(), "dead letters: {dead_letters:?}");
    assert_eq!(
        state.voided_token_refusals, 0,
        "no call went out with a token another container had voided"
    );
    assert!(
        state.token_fetches as f64 <= 2.0 * (renewals + 1.0) + 2.0,
        "{} token fetches for {renewals:.1} token lifetimes: fetched per container, not per fleet",
        state.token_fetches
    );
    assert!(
        doctor_stdout.contains("shared"),
        "doctor used the deployment's token:\n{doctor_stdout}"
    );
    assert!(
        doctor_stdout.contains("ok   after-call scopes"),
        "the app's scopes come with the shared token:\n{doctor_stdout}"
    );
}

/// Two containers' Zoom clients sharing `store`, with the stand-in's credentials.
fn two_containers(
    apis: &FaultyApis,
    secrets: &Arc<SecretCache>,
    store: Arc<dyn SharedTokenStore>,
) -> Vec<ZoomApi> {
    let env = apis.env();
    let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    (0..2)
        .map(|_| {
            ZoomApi::new(
                bridge_relay::http::client(),
                &get("ZOOM_API_BASE"),
                &get("ZOOM_OAUTH_BASE"),
                HOST_USER,
                secrets.clone(),
            )
            .with_shared_token(store.clone())
        })
        .collect()
}

async fn one_fetch_for_two_containers(
    store: Arc<dyn SharedTokenStore>,
    secrets: Arc<SecretCache>,
    apis: &FaultyApis,
) {
    let zooms = two_containers(apis, &secrets, store);
    let (a, b) = tokio::join!(zooms[0].check_credentials(), zooms[1].check_credentials());
    a.unwrap();
    b.unwrap();
    assert_eq!(
        apis.state().token_fetches,
        1,
        "the lease lets one caller fetch"
    );
    assert_eq!(zooms[0].token_fetches() + zooms[1].token_fetches(), 1);
    // The one that did not fetch knows the app's scopes too, from the shared item.
    let listed: Vec<String> = bridge_relay_tests::faulty::ZOOM_APP_SCOPES
        .split(' ')
        .map(str::to_owned)
        .collect();
    for zoom in &zooms {
        assert_eq!(zoom.granted_scopes(), Some(listed.clone()));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_containers_needing_a_token_at_once_cause_one_fetch() {
    let aws = AwsStandIns::start_for_host_pool(&[SECRET], 360).await;
    let apis = FaultyApis::start(11, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    // Slow answers, so the two requests overlap.
    apis.state().latency = Duration::from_millis(300);
    let store = Arc::new(DynamoDbStore::from_sdk_config(&aws.config, &aws.table_name));
    one_fetch_for_two_containers(store, aws.secret_cache(), &apis).await;

    // The local runner's in-memory store keeps the same rule.
    let apis = FaultyApis::start(12, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    apis.state().latency = Duration::from_millis(300);
    one_fetch_for_two_containers(Arc::new(InMemoryStore::new()), aws.secret_cache(), &apis).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_zoom_keeps_refusing_is_retried_not_dead_lettered() {
    let aws = AwsStandIns::start_with_visibility(&[SECRET], 1).await;
    let apis = FaultyApis::start(13, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    apis.state().refuse_every_token = true;
    send_webhooks(&aws, &[(0, "refused-1".to_owned())]).await;
    let (worker, _) = aws.worker(&apis.env(), fast_settings());
    let event = aws.receive_as_event().await;
    assert_eq!(event.records.len(), 1);
    let response = bridge_relay::lambda::handle_sqs(
        worker.clone(),
        lambda_runtime::LambdaEvent::new(event, invocation_context(Duration::from_secs(20))),
    )
    .await
    .unwrap();
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the first delivery goes back to the queue for a later try"
    );
    assert!(aws.drain(&aws.dead_letter_queue_url).await.is_empty());
    let state = apis.state();
    assert!(
        state.notes.get(&incident_id(0)).is_none_or(Vec::is_empty),
        "no failure note while the job is still to be tried: {:?}",
        state.notes
    );
    assert!(
        state.unauthorized >= 2,
        "Zoom refused the token and the next one"
    );
}

/// A 401 that is not Zoom's invalid-token code (124) is no voided token: the worker keeps the
/// fleet's token (a new one would void it for every container and fix nothing) and the job
/// fails for good with a note that names the app's credentials and scopes.
#[tokio::test(flavor = "multi_thread")]
async fn a_401_for_a_missing_scope_renews_no_token() {
    let aws = AwsStandIns::start_with_visibility(&[SECRET], 1).await;
    let apis = FaultyApis::start(17, 0.0, Duration::ZERO, PD_API_TOKEN).await;
    apis.state().scope_refusals = 1;
    send_webhooks(&aws, &[(0, "scope-1".to_owned())]).await;
    let (worker, _) = aws.worker(&apis.env(), fast_settings());
    let event = aws.receive_as_event().await;
    let response = bridge_relay::lambda::handle_sqs(
        worker.clone(),
        lambda_runtime::LambdaEvent::new(event, invocation_context(Duration::from_secs(20))),
    )
    .await
    .unwrap();
    assert!(
        response.batch_item_failures.is_empty(),
        "dead-lettered at once"
    );
    assert_eq!(aws.drain(&aws.dead_letter_queue_url).await.len(), 1);
    let state = apis.state();
    assert_eq!(state.token_fetches, 1, "the fleet's token is kept");
    let notes = &state.notes[&incident_id(0)];
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("Check the Zoom app's credentials and scopes"),
        "{notes:?}"
    );
}

//! The one place the relay is put together. The Lambda functions, the local runner, `doctor`
//! and the tests all build their ingress and worker here, so each of them runs the composition
//! the deployment runs: the same adapters, the same incident tools, the same shared Zoom token.
//! Adding an incident tool is its adapter module, which hands the composition a
//! [`ToolAdapter`], and one line in [`incident_tools`].

use std::sync::Arc;

use aws_config::SdkConfig;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::config::{Endpoints, IngressConfig, LocalConfig, WorkerConfig};
use crate::incident_io::IncidentIoApi;
use crate::incident_io::ingress::IncidentIoWebhooks;
use crate::pagerduty::PagerDutyApi;
use crate::pagerduty::inbound::{PagerDutyRequests, PagerDutyWebhooks, RequestKind};
use crate::queue::{
    DeadLetterLog, InProcessQueue, JobQueue, LOCAL_DELIVERIES, LocalMessage, SqsJobQueue,
    SqsRedelivery, SqsTimerQueue,
};
use crate::relay::{Ingress, Worker, WorkerSettings};
use crate::secrets::{SecretCache, SecretRole};
use crate::store::{DynamoDbStore, IdempotencyStore, InMemoryStore};
use crate::zoom::ZoomApi;
use crate::zoom::inbound::ZoomEvents;
use bridge_relay_domain::model::IncidentToolKind;
use bridge_relay_domain::policy::BridgePolicy;
use bridge_relay_ports::inbound::InboundSource;
use bridge_relay_ports::incident_tool::IncidentTool;
use bridge_relay_ports::token_store::SharedTokenStore;

/// An incident tool as its adapter module hands it to the composition: the requests it sends
/// the relay (inbound sources of the ingress) and how the worker's adapter of its API is made.
pub struct ToolAdapter {
    pub kind: IncidentToolKind,
    pub sources: Vec<Arc<dyn InboundSource>>,
    pub api: fn(&ToolContext<'_>) -> Arc<dyn IncidentTool>,
}

/// What a tool's API adapter is made from: the worker's HTTP client, its secret (a tool's
/// section of it: [`RelaySecrets::tool_section`](crate::secrets::RelaySecrets::tool_section)),
/// and the deployment's settings.
pub struct ToolContext<'a> {
    pub http: &'a reqwest::Client,
    pub secrets: &'a Arc<SecretCache>,
    pub endpoints: &'a Endpoints,
    pub incident_io_notify_channel: bool,
}

impl ToolAdapter {
    pub fn new(
        kind: IncidentToolKind,
        sources: impl IntoIterator<Item = Arc<dyn InboundSource>>,
        api: fn(&ToolContext<'_>) -> Arc<dyn IncidentTool>,
    ) -> Self {
        ToolAdapter {
            kind,
            sources: sources.into_iter().collect(),
            api,
        }
    }
}

/// Every incident tool beside PagerDuty (which every deployment has and the worker is built
/// around): one entry per tool, its kind, its inbound sources and its API adapter.
pub fn incident_tools() -> Vec<ToolAdapter> {
    vec![ToolAdapter::new(
        IncidentToolKind::INCIDENT_IO,
        [Arc::new(IncidentIoWebhooks) as Arc<dyn InboundSource>],
        |c| {
            let api = &c.endpoints.incident_io_api;
            let notify = c.incident_io_notify_channel;
            Arc::new(IncidentIoApi::new(
                c.http.clone(),
                api,
                c.secrets.clone(),
                notify,
            ))
        },
    )]
}

/// Every request the ingress takes, a source each: PagerDuty's, Zoom's events, and those of
/// `tools`.
pub fn inbound_sources_of(tools: &[ToolAdapter]) -> Vec<Arc<dyn InboundSource>> {
    let mut sources: Vec<Arc<dyn InboundSource>> = vec![
        Arc::new(PagerDutyWebhooks),
        Arc::new(PagerDutyRequests(RequestKind::CustomAction)),
        Arc::new(PagerDutyRequests(RequestKind::Workflow)),
    ];
    sources.extend(tools.iter().flat_map(|tool| tool.sources.iter().cloned()));
    sources.push(Arc::new(ZoomEvents));
    sources
}

/// Every request the ingress of this build takes.
pub fn inbound_sources() -> Vec<Arc<dyn InboundSource>> {
    inbound_sources_of(&incident_tools())
}

/// The ingress over `secrets` and `queue` with every inbound source.
pub fn ingress(
    secrets: Arc<SecretCache>,
    queue: Arc<dyn JobQueue>,
    policy: BridgePolicy,
) -> Ingress {
    ingress_of(&incident_tools(), secrets, queue, policy)
}

/// The ingress with the inbound sources of `tools`.
pub fn ingress_of(
    tools: &[ToolAdapter],
    secrets: Arc<SecretCache>,
    queue: Arc<dyn JobQueue>,
    policy: BridgePolicy,
) -> Ingress {
    inbound_sources_of(tools)
        .into_iter()
        .fold(Ingress::new(secrets, queue, policy), Ingress::with_source)
}

/// What a worker is made of beyond its store and queues.
pub struct WorkerParts<'a> {
    pub endpoints: &'a Endpoints,
    /// The Zoom user who hosts meetings the host pool does not place.
    pub zoom_host_user: String,
    pub settings: WorkerSettings,
    pub incident_io_notify_channel: bool,
}

/// A worker and its Zoom adapter (the tests and `doctor` look at the adapter's token fetches).
pub struct BuiltWorker {
    pub worker: Worker,
    pub zoom: Arc<ZoomApi>,
}

/// The worker over `store` (claims, host slots, lifecycles and the shared Zoom token), with
/// every incident tool; failed-for-good jobs go to `dead_letters`.
pub fn worker<S>(
    parts: WorkerParts<'_>,
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
    store: Arc<S>,
    dead_letters: Arc<dyn JobQueue>,
) -> BuiltWorker
where
    S: IdempotencyStore + SharedTokenStore + 'static,
{
    worker_of(&incident_tools(), parts, http, secrets, store, dead_letters)
}

/// The worker with PagerDuty and the API adapters of `tools`.
pub fn worker_of<S>(
    tools: &[ToolAdapter],
    parts: WorkerParts<'_>,
    http: reqwest::Client,
    secrets: Arc<SecretCache>,
    store: Arc<S>,
    dead_letters: Arc<dyn JobQueue>,
) -> BuiltWorker
where
    S: IdempotencyStore + SharedTokenStore + 'static,
{
    let endpoints = parts.endpoints;
    let zoom = Arc::new(
        ZoomApi::new(
            http.clone(),
            &endpoints.zoom_api,
            &endpoints.zoom_oauth,
            parts.zoom_host_user,
            secrets.clone(),
        )
        .with_shared_token(store.clone()),
    );
    let pagerduty = PagerDutyApi::new(http.clone(), &endpoints.pagerduty_api, secrets.clone());
    let context = ToolContext {
        http: &http,
        secrets: &secrets,
        endpoints,
        incident_io_notify_channel: parts.incident_io_notify_channel,
    };
    let worker = tools.iter().fold(
        Worker::new(
            zoom.clone(),
            Arc::new(pagerduty),
            store,
            dead_letters,
            parts.settings,
        ),
        |worker, tool| worker.with_incident_tool(tool.kind.clone(), (tool.api)(&context)),
    );
    BuiltWorker { worker, zoom }
}

/// The worker Lambda's composition: DynamoDB, the SQS job, dead-letter and timer queues, the
/// secret in Secrets Manager.
pub fn lambda_worker(aws: &SdkConfig, config: WorkerConfig, http: reqwest::Client) -> BuiltWorker {
    let secrets = crate::secrets::secrets_manager_for(
        SecretRole::Worker,
        aws,
        config.secret_id,
        config.secret_ttl,
    );
    secrets.log_start(config.secret_var);
    let store = Arc::new(DynamoDbStore::from_sdk_config(aws, config.table_name));
    let dead_letters = Arc::new(SqsJobQueue::from_sdk_config(
        aws,
        config.dead_letter_queue_url,
    ));
    let parts = WorkerParts {
        endpoints: &config.endpoints,
        zoom_host_user: config.zoom_host_user,
        settings: config.settings,
        incident_io_notify_channel: config.incident_io_notify_channel,
    };
    let BuiltWorker { mut worker, zoom } = self::worker(parts, http, secrets, store, dead_letters);
    // The worker's event sources: a failed delivery of either comes back after a short backoff.
    let sources = config
        .queue_url
        .iter()
        .chain([&config.timer_queue_url])
        .cloned()
        .collect::<Vec<_>>();
    if let Some(queue_url) = config.queue_url {
        worker = worker.with_requeue(Arc::new(SqsJobQueue::from_sdk_config(aws, queue_url)));
    }
    let worker = worker
        .with_timer(Arc::new(SqsTimerQueue::from_sdk_config(
            aws,
            config.timer_queue_url,
        )))
        .with_redelivery(Arc::new(SqsRedelivery::from_sdk_config(aws, sources)));
    BuiltWorker { worker, zoom }
}

/// The ingress Lambda's composition: the secret in Secrets Manager, jobs to the SQS FIFO queue,
/// Zoom events matched through the table's meeting index.
pub fn lambda_ingress(aws: &SdkConfig, config: IngressConfig) -> Ingress {
    let secrets = crate::secrets::secrets_manager_for(
        SecretRole::Ingress,
        aws,
        config.secret_id,
        config.secret_ttl,
    );
    secrets.log_start(config.secret_var);
    let queue = Arc::new(SqsJobQueue::from_sdk_config(aws, config.queue_url));
    let ingress = ingress(secrets, queue, config.policy);
    match config.table_name {
        Some(table) => {
            ingress.with_meeting_index(Arc::new(DynamoDbStore::from_sdk_config(aws, table)))
        }
        None => ingress,
    }
}

/// The local runner: the same ingress and worker in one process, the store in memory, the
/// job queue (with the FIFO queue's rules) and the grace timers in process.
pub struct LocalRelay {
    pub ingress: Arc<Ingress>,
    pub worker: Arc<Worker>,
    pub zoom: Arc<ZoomApi>,
    pub store: Arc<InMemoryStore>,
    pub dead_letters: Arc<DeadLetterLog>,
    /// What the ingress queued, for [`crate::local::run_local_worker`].
    pub jobs: UnboundedReceiver<LocalMessage>,
}

/// `ingress_secrets` and `worker_secrets` may be one cache (one file holds both parts).
pub fn local_relay(
    config: LocalConfig,
    ingress_secrets: Arc<SecretCache>,
    worker_secrets: Arc<SecretCache>,
    http: reqwest::Client,
) -> LocalRelay {
    local_relay_of(
        &incident_tools(),
        config,
        ingress_secrets,
        worker_secrets,
        http,
    )
}

/// The local runner with PagerDuty and `tools`.
pub fn local_relay_of(
    tools: &[ToolAdapter],
    config: LocalConfig,
    ingress_secrets: Arc<SecretCache>,
    worker_secrets: Arc<SecretCache>,
    http: reqwest::Client,
) -> LocalRelay {
    let store = Arc::new(InMemoryStore::new());
    let dead_letters = Arc::new(DeadLetterLog::default());
    let (queue, jobs) = InProcessQueue::new();
    let parts = WorkerParts {
        endpoints: &config.endpoints,
        zoom_host_user: config.zoom_host_user,
        settings: WorkerSettings {
            overwrite_existing_bridge: config.overwrite_existing_bridge,
            max_receives: LOCAL_DELIVERIES,
            retry: config.retry,
            ..WorkerSettings::new(config.host_pool)
        },
        incident_io_notify_channel: config.incident_io_notify_channel,
    };
    let BuiltWorker { worker, zoom } = worker_of(
        tools,
        parts,
        http,
        worker_secrets,
        store.clone(),
        dead_letters.clone(),
    );
    let worker = Arc::new(worker.with_timer(Arc::new(crate::queue::LocalTimer::for_queue(&queue))));
    let ingress = Arc::new(
        ingress_of(tools, ingress_secrets, Arc::new(queue), config.policy)
            .with_meeting_index(store.clone()),
    );
    LocalRelay {
        ingress,
        worker,
        zoom,
        store,
        dead_letters,
        jobs,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::secrets::FileSecretSource;

    fn composed() -> Ingress {
        let secrets = Arc::new(SecretCache::new(
            Arc::new(FileSecretSource::new("never-read.json")),
            Duration::from_secs(60),
        ));
        let (queue, _jobs) = InProcessQueue::new();
        ingress(secrets, Arc::new(queue), BridgePolicy::default())
    }

    #[test]
    fn paths_route_to_their_source() {
        let ingress = composed();
        let what = |path: &str| {
            ingress
                .route(path)
                .and_then(|route| ingress.source_of(route))
                .map(|source| source.what())
        };
        assert_eq!(what("/"), Some("V3 webhooks"));
        assert_eq!(what("/webhook"), Some("V3 webhooks"));
        assert_eq!(what("/webhook/"), Some("V3 webhooks"));
        assert_eq!(what("/action"), Some("button clicks"));
        assert_eq!(what("/workflow"), Some("workflow requests"));
        assert_eq!(what("/incident-io"), Some("incident.io webhooks"));
        assert_eq!(what("/incident-io/"), Some("incident.io webhooks"));
        assert_eq!(what("/zoom"), Some("Zoom event notifications"));
        assert_eq!(what("/other"), None);
    }

    #[test]
    fn an_unknown_path_is_told_where_each_request_goes() {
        assert_eq!(
            composed().unknown_path_body(),
            r#"{"status":"rejected","error":"POST V3 webhooks to /webhook, button clicks to /action, workflow requests to /workflow, incident.io webhooks to /incident-io, Zoom event notifications to /zoom"}"#
        );
    }
}

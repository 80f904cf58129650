//! `bridge-relay doctor`: read-only checks of a deployment (or of local secret files).

use std::sync::Arc;
use std::time::Duration;

use bridge_relay::config::process_env;
use bridge_relay::doctor::Doctor;
use bridge_relay::incident_io::IncidentIoApi;
use bridge_relay::pagerduty::PagerDutyApi;
use bridge_relay::secrets::SecretRole;
use bridge_relay::zoom::ZoomApi;

use crate::args::Args;
use crate::secret_files::{file_cache, secret_cache};

/// `bridge-relay doctor`: the checks of [`Doctor`], one line each; an error when one fails.
pub(crate) async fn run(args: Args) -> Result<(), String> {
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

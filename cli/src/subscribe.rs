//! `bridge-relay subscribe`: creates or updates the PagerDuty V3 webhook subscription that sends
//! incidents to the deployed relay, one per chosen service or team (or one for the account), and
//! prints the signing secret of each new one, once, as PagerDuty shows it only then.

use std::io::Write;
use std::time::Duration;

use bridge_relay::http::status_error;
use bridge_relay::secrets::SecretRole;
use bridge_relay::{Service, UpstreamError};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::args::{Args, environment};
use crate::secret_files::{file_cache, secret_cache};

/// `bridge-relay subscribe`: the arguments resolved, then [`PagerDutyAdmin::subscribe`].
pub async fn command(args: Args) -> Result<(), String> {
    let url = args
        .url
        .clone()
        .ok_or("subscribe needs --url (the stack's WebhookUrl)")?;
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("--url {url}: {e}"))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(format!("--url {url} is not an http(s) URL"));
    }
    let env = environment(&args);
    let events: Vec<String> = match &args.events {
        Some(list) => {
            bridge_relay::policy::BridgePolicy::from_event_list(list)
                .map_err(|e| format!("--events: {e}"))?;
            list.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_owned)
                .collect()
        }
        None => {
            let mut events = env
                .policy()
                .map_err(|e| e.to_string())?
                .event_types()
                .to_vec();
            let followed = bridge_relay::lifecycle::LIFECYCLE_EVENT_TYPES
                .iter()
                .chain(bridge_relay::lifecycle::FOLLOW_EVENT_TYPES.iter());
            for event in followed {
                if !events.iter().any(|e| e == event) {
                    events.push((*event).to_owned());
                }
            }
            events
        }
    };
    let token = match std::env::var("PAGERDUTY_API_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        Some(token) => secrecy::SecretString::from(token.trim().to_owned()),
        None if args.secrets_file.is_some() || args.worker_secrets_file.is_some() => {
            let cache = match &args.worker_secrets_file {
                Some(path) => file_cache(path, SecretRole::Worker, Duration::ZERO),
                None => secret_cache(&args, Duration::ZERO)?,
            };
            let secrets = cache.get().await.map_err(|e| e.to_string())?;
            secrets
                .pagerduty_api()
                .map_err(|e| e.to_string())?
                .api_token
                .clone()
        }
        None => {
            return Err(
                "give the PagerDuty API token in PAGERDUTY_API_TOKEN or with --secrets-file".into(),
            );
        }
    };
    let endpoints = env.endpoints().map_err(|e| e.to_string())?;
    let mut scopes: Vec<Scope> = args
        .services
        .iter()
        .cloned()
        .map(Scope::Service)
        .chain(args.teams.iter().cloned().map(Scope::Team))
        .collect();
    if scopes.is_empty() {
        scopes.push(Scope::Account);
    }
    let admin = PagerDutyAdmin::new(
        bridge_relay::http::client(),
        &endpoints.pagerduty_api,
        token,
    );
    admin
        .subscribe(
            &Subscription {
                url,
                scopes,
                events,
            },
            &mut std::io::stdout(),
        )
        .await
        .map_err(|e| e.to_string())
}

pub const DESCRIPTION: &str = "bridge-relay: a Zoom bridge for each incident";

/// What the subscription filters on: PagerDuty allows one service, one team or the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Service(String),
    Team(String),
    Account,
}

impl Scope {
    fn filter(&self) -> Value {
        match self {
            Scope::Service(id) => json!({"type": "service_reference", "id": id}),
            Scope::Team(id) => json!({"type": "team_reference", "id": id}),
            Scope::Account => json!({"type": "account_reference"}),
        }
    }

    fn query(&self) -> Vec<(&'static str, &str)> {
        match self {
            Scope::Service(id) => vec![("filter_type", "service"), ("filter_id", id)],
            Scope::Team(id) => vec![("filter_type", "team"), ("filter_id", id)],
            Scope::Account => vec![("filter_type", "account")],
        }
    }

    fn label(&self) -> String {
        match self {
            Scope::Service(id) => format!("service {id}"),
            Scope::Team(id) => format!("team {id}"),
            Scope::Account => "the whole account".into(),
        }
    }
}

pub struct Subscription {
    /// The relay's webhook URL (`WebhookUrl` of the stack, ending in `/webhook`).
    pub url: String,
    pub scopes: Vec<Scope>,
    pub events: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Api(#[from] UpstreamError),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    webhook_subscriptions: Vec<Existing>,
    #[serde(default)]
    more: Option<bool>,
}

#[derive(Deserialize)]
struct Existing {
    id: String,
    #[serde(default)]
    delivery_method: Option<DeliveryMethod>,
}

#[derive(Deserialize)]
struct DeliveryMethod {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    secret: Option<String>,
}

#[derive(Deserialize)]
struct Created {
    webhook_subscription: CreatedSubscription,
}

#[derive(Deserialize)]
struct CreatedSubscription {
    id: String,
    #[serde(default)]
    delivery_method: Option<DeliveryMethod>,
}

pub struct PagerDutyAdmin {
    http: reqwest::Client,
    api_base: String,
    token: SecretString,
}

const PAGE: usize = 100;

impl PagerDutyAdmin {
    pub fn new(http: reqwest::Client, api_base: &str, token: SecretString) -> Self {
        PagerDutyAdmin {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, UpstreamError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.api_base)).map_err(|e| {
            UpstreamError::Transport {
                service: Service::PagerDuty,
                reason: format!("PAGERDUTY_API_BASE is not a URL: {e}"),
            }
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut request = self
            .http
            .request(method, url)
            .header(
                "authorization",
                format!("Token token={}", self.token.expose_secret()),
            )
            .header("accept", "application/vnd.pagerduty+json;version=2");
        request = match body {
            Some(body) => request.json(body),
            None => request.header("content-type", "application/json"),
        };
        let response = request
            .send()
            .await
            .map_err(|e| bridge_relay::http::transport_error(Service::PagerDuty, e))?;
        if !response.status().is_success() {
            return Err(status_error(Service::PagerDuty, response).await);
        }
        response.json().await.map_err(|e| UpstreamError::Decode {
            service: Service::PagerDuty,
            reason: e.without_url().to_string(),
        })
    }

    /// The subscription of `scope` that already delivers to `url`, if any.
    async fn find(&self, scope: &Scope, url: &str) -> Result<Option<String>, UpstreamError> {
        let mut offset = 0;
        loop {
            let offset_text = offset.to_string();
            let limit = PAGE.to_string();
            let mut query = scope.query();
            query.extend([("limit", limit.as_str()), ("offset", offset_text.as_str())]);
            let page = self
                .call(reqwest::Method::GET, "/webhook_subscriptions", &query, None)
                .await?;
            let page: Listed = serde_json::from_value(page).map_err(|e| UpstreamError::Decode {
                service: Service::PagerDuty,
                reason: e.to_string(),
            })?;
            let count = page.webhook_subscriptions.len();
            if let Some(found) = page.webhook_subscriptions.into_iter().find(|s| {
                s.delivery_method
                    .as_ref()
                    .and_then(|d| d.url.as_deref())
                    .is_some_and(|u| u.trim_end_matches('/') == url.trim_end_matches('/'))
            }) {
                return Ok(Some(found.id));
            }
            if page.more != Some(true) || count == 0 {
                return Ok(None);
            }
            offset += count;
        }
    }

    /// Creates or updates one subscription per scope and reports each on `out`.
    pub async fn subscribe(
        &self,
        subscription: &Subscription,
        out: &mut impl Write,
    ) -> Result<(), SubscribeError> {
        let mut new_secrets = 0;
        for scope in &subscription.scopes {
            match self.find(scope, &subscription.url).await? {
                Some(id) => {
                    let body = json!({"webhook_subscription": {
                        "description": DESCRIPTION,
                        "events": subscription.events,
                        "filter": scope.filter(),
                        "active": true,
                    }});
                    self.call(
                        reqwest::Method::PUT,
                        &format!("/webhook_subscriptions/{id}"),
                        &[],
                        Some(&body),
                    )
                    .await?;
                    writeln!(
                        out,
                        "updated subscription {id} for {}: events {}; its signing secret is unchanged",
                        scope.label(),
                        subscription.events.join(", ")
                    )?;
                }
                None => {
                    let body = json!({"webhook_subscription": {
                        "type": "webhook_subscription",
                        "delivery_method": {"type": "http_delivery_method", "url": subscription.url},
                        "description": DESCRIPTION,
                        "events": subscription.events,
                        "filter": scope.filter(),
                    }});
                    let created = self
                        .call(
                            reqwest::Method::POST,
                            "/webhook_subscriptions",
                            &[],
                            Some(&body),
                        )
                        .await?;
                    let created: Created =
                        serde_json::from_value(created).map_err(|e| UpstreamError::Decode {
                            service: Service::PagerDuty,
                            reason: e.to_string(),
                        })?;
                    let subscription_id = created.webhook_subscription.id;
                    let secret = created
                        .webhook_subscription
                        .delivery_method
                        .and_then(|d| d.secret)
                        .filter(|s| !s.is_empty());
                    writeln!(
                        out,
                        "created subscription {subscription_id} for {}: events {}",
                        scope.label(),
                        subscription.events.join(", ")
                    )?;
                    match secret {
                        Some(secret) => {
                            new_secrets += 1;
                            writeln!(out, "  signing secret (shown once): {secret}")?;
                        }
                        None => writeln!(
                            out,
                            "  PagerDuty returned no signing secret; delete the subscription and run this again"
                        )?,
                    }
                }
            }
        }
        if new_secrets > 0 {
            writeln!(
                out,
                "Add each signing secret above to pagerduty.webhook_secrets in the relay's secret \
                 (aws secretsmanager put-secret-value --secret-id <RelaySecretArn> --secret-string file://secret.json); \
                 PagerDuty will not show it again. Until then the relay answers its webhooks 401."
            )?;
        }
        Ok(())
    }
}

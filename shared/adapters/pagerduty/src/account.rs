//! Read-only look-ups of the PagerDuty account, for `bridge-relay doctor`.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{IncidentToolError, PagerDutyApi};
use bridge_relay_domain::error::{Service, UpstreamError};

#[derive(Debug, Clone, Deserialize)]
pub struct PagerDutyUser {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub email: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSubscription {
    pub id: String,
    #[serde(default = "yes")]
    pub active: bool,
    pub delivery_method: DeliveryMethod,
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeliveryMethod {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub temporarily_disabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Users {
    #[serde(default)]
    users: Vec<PagerDutyUser>,
}

#[derive(Deserialize)]
struct Subscriptions {
    #[serde(default)]
    webhook_subscriptions: Vec<WebhookSubscription>,
    #[serde(default)]
    more: bool,
}

/// Pages of subscriptions read (100 a page) before giving up.
const MAX_PAGES: usize = 10;

impl PagerDutyApi {
    /// The users whose name or email matches `query` (`GET /users?query=`).
    pub async fn find_users(&self, query: &str) -> Result<Vec<PagerDutyUser>, IncidentToolError> {
        let users: Users = self.get(&["users"], &[("query", query)]).await?;
        Ok(users.users)
    }

    /// Every V3 webhook subscription the token can see.
    pub async fn webhook_subscriptions(
        &self,
    ) -> Result<Vec<WebhookSubscription>, IncidentToolError> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let offset = page.saturating_mul(100).to_string();
            let subscriptions: Subscriptions = self
                .get(
                    &["webhook_subscriptions"],
                    &[("limit", "100"), ("offset", &offset)],
                )
                .await?;
            all.extend(subscriptions.webhook_subscriptions);
            if !subscriptions.more {
                break;
            }
        }
        Ok(all)
    }

    /// A GET with the secret's token as it is: a 401 is the answer the doctor reports.
    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, IncidentToolError> {
        let mut url = self.url(segments)?;
        url.query_pairs_mut().extend_pairs(query);
        let secrets = self.secrets.get().await?;
        let response = self
            .send_once(
                secrets.pagerduty_api()?,
                reqwest::Method::GET,
                url,
                &serde_json::Value::Null,
            )
            .await?;
        if !response.status().is_success() {
            return Err(
                bridge_relay_http::status_error(Service::PagerDuty, response)
                    .await
                    .into(),
            );
        }
        response.json().await.map_err(|e| {
            UpstreamError::Decode {
                service: Service::PagerDuty,
                reason: e.without_url().to_string(),
            }
            .into()
        })
    }
}

//! Read-only look-ups of the Zoom account, for `bridge-relay doctor`.

use serde::Deserialize;

use super::{MeetingError, ZoomApi};

/// The host user as `GET /users/{userId}` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct ZoomUser {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    /// 1 basic, 2 licensed, 3 on-prem, 99 none.
    #[serde(default, rename = "type")]
    pub plan: Option<u8>,
    /// `active`, `inactive` or `pending`.
    #[serde(default)]
    pub status: Option<String>,
}

impl ZoomUser {
    /// Whether the user can be an alternative host: Zoom takes only active, licensed users.
    pub fn host_verdict(&self) -> bridge_relay_domain::hosts::HostVerdict {
        use bridge_relay_domain::hosts::HostVerdict;
        match (self.status.as_deref(), self.plan) {
            (Some(status), _) if status != "active" => HostVerdict::NotActive,
            (_, Some(2)) => HostVerdict::Eligible,
            _ => HostVerdict::NotLicensed,
        }
    }
}

impl ZoomApi {
    /// Takes a token with the secret's credentials as they are (no re-read): the deployment's
    /// shared token when this API shares one and it is good, else a fetched one.
    pub async fn check_credentials(&self) -> Result<(), MeetingError> {
        let secrets = self.secrets.get().await?;
        self.tokens.token(secrets.zoom_app()?).await?;
        Ok(())
    }

    /// The configured host user (`ZOOM_HOST_USER`).
    pub async fn host_user(&self) -> Result<ZoomUser, MeetingError> {
        let url = self.url(&["users", &self.host_user], &[])?;
        let response = self.send::<()>(reqwest::Method::GET, url, None).await?;
        Self::read(response).await
    }
}

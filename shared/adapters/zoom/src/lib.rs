//! Zoom: the meetings port, its Server-to-Server OAuth adapter, and the translation rules.

// Input never panics the relay: no unwrap, expect, unchecked indexing or unchecked arithmetic
// on what came from outside; the few justified exceptions say why where they stand.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

mod account;
mod after_call;
mod auth;
pub mod inbound;
pub mod translate;
pub mod webhook;

pub use account::ZoomUser;
pub use auth::{AccessToken, TokenCache};
pub use bridge_relay_ports::meetings::{
    CreateWindow, MeetingError, MeetingProvider, Removal, SummaryAnswer, UpdateAnswer, new_passcode,
};
pub use translate::MeetingRequest;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;

use bridge_relay_domain::after_call::SummaryRefusal;
use bridge_relay_domain::error::{Service, UpstreamError};
use bridge_relay_domain::hosts::HostVerdict;
use bridge_relay_domain::meeting::{MeetingSpec, MeetingUpdate};
use bridge_relay_domain::model::Meeting;
use bridge_relay_http::status_error;
use bridge_relay_ports::secrets::SecretCache;

/// Zoom's code for an access token it no longer accepts: expired, or voided by a newer one.
const INVALID_TOKEN_CODE: i64 = 124;

/// Pages of scheduled meetings read at most when looking for a lost meeting (300 meetings a
/// page): a bound on a list that never ends, not on the window. Zoom allows a host 100 creates
/// a day, so a window's dates hold a few pages of the relay's meetings.
const FIND_MAX_PAGES: usize = 20;

/// How long after its create a meeting the relay made may be scheduled to start: a bridge
/// starts when it is created, a review up to the policy's longest `review_after_minutes`
/// (30 days) after the incident resolved, and a day more for the review job's own delay.
const LONGEST_START_AFTER_CREATE: Duration = Duration::from_secs(31 * 24 * 60 * 60);

pub struct ZoomApi {
    http: reqwest::Client,
    api_base: String,
    host_user: String,
    tokens: TokenCache,
    secrets: Arc<SecretCache>,
}

#[derive(Deserialize)]
struct MeetingList {
    #[serde(default)]
    meetings: Vec<ListedMeeting>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ListedMeeting {
    id: u64,
    #[serde(default)]
    agenda: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

impl ListedMeeting {
    /// Zoom documents `created_at` on every listed meeting; one without it (or with a time
    /// that does not parse) cannot be ruled out by time, and its marker line still decides.
    fn created_within(&self, window: &CreateWindow) -> bool {
        match self
            .created_at
            .as_deref()
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        {
            Some(created) => window.contains(created),
            None => true,
        }
    }

    fn marks(&self, marker_id: &str) -> bool {
        self.agenda
            .as_deref()
            .is_some_and(|a| bridge_relay_domain::meeting::agenda_marks(a, marker_id))
    }
}

/// The `from` and `to` dates (UTC) of the list that holds every meeting created in `window`:
/// Zoom filters the list by the meetings' dates, and a meeting the relay made starts no
/// earlier than it was created and no later than [`LONGEST_START_AFTER_CREATE`] after.
fn list_dates(window: &CreateWindow) -> (String, String) {
    let latest_start = window
        .latest
        .checked_add(LONGEST_START_AFTER_CREATE)
        .unwrap_or(window.latest);
    (utc_date(window.earliest), utc_date(latest_start))
}

/// `2026-11-24`; times RFC 3339 cannot write become its first or last day.
fn utc_date(time: SystemTime) -> String {
    bridge_relay_domain::telemetry::rfc3339_seconds(time)
        .and_then(|t| t.get(..10).map(str::to_owned))
        .unwrap_or_else(|| {
            if time < SystemTime::UNIX_EPOCH {
                "1970-01-01".to_owned()
            } else {
                "9999-12-31".to_owned()
            }
        })
}

impl ZoomApi {
    /// `api_base` is `https://api.zoom.us/v2` and `oauth_base` `https://zoom.us` in production.
    pub fn new(
        http: reqwest::Client,
        api_base: &str,
        oauth_base: &str,
        host_user: impl Into<String>,
        secrets: Arc<SecretCache>,
    ) -> Self {
        ZoomApi {
            tokens: TokenCache::new(http.clone(), oauth_base),
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            host_user: host_user.into(),
            secrets,
        }
    }

    /// Shares the app's token with every other holder of `store` (see [`TokenCache`]): the
    /// deployment's worker containers, `doctor`, the local runner.
    pub fn with_shared_token(
        self,
        store: Arc<dyn bridge_relay_ports::token_store::SharedTokenStore>,
    ) -> Self {
        ZoomApi {
            tokens: self.tokens.shared_through(store),
            ..self
        }
    }

    pub fn token_fetches(&self) -> usize {
        self.tokens.fetches()
    }

    /// The scopes Zoom listed with the last token this client fetched, if it fetched one.
    pub fn granted_scopes(&self) -> Option<Vec<String>> {
        self.tokens.granted_scopes()
    }

    /// A token, re-reading the secret once if Zoom refuses the client credentials (rotation).
    async fn token(&self) -> Result<AccessToken, MeetingError> {
        let secrets = self.secrets.get().await?;
        match self.tokens.token(secrets.zoom_app()?).await {
            Err(e) if matches!(e.status(), Some(400 | 401)) => {
                let fresh = self.secrets.refresh(&secrets).await?;
                Ok(self.tokens.token(fresh.zoom_app()?).await?)
            }
            other => Ok(other?),
        }
    }

    fn url(
        &self,
        segments: &[&str],
        query: &[(&str, &str)],
    ) -> Result<reqwest::Url, UpstreamError> {
        let invalid = |reason: &str| UpstreamError::Transport {
            service: Service::Zoom,
            reason: format!("ZOOM_API_BASE {reason}"),
        };
        let mut url = reqwest::Url::parse(&self.api_base).map_err(|_| invalid("is not a URL"))?;
        url.path_segments_mut()
            .map_err(|_| invalid("cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Sends with the fleet's token. A 401 with Zoom's invalid-token code (124) means the token
    /// was voided (a newer one was issued, or Zoom dropped it): the next token is taken (a
    /// newer shared one, else one fetched under the lease), once. A 124 after that is transient
    /// for the job: it is tried again later. A 401 for any other cause (a token without the
    /// scope the call needs, a disabled app) is no voided token: renewing would void the one
    /// the whole fleet shares and fix nothing, so it is an error like any other refusal.
    /// Non-2xx answers become errors.
    async fn send<B: serde::Serialize + ?Sized>(
        &self,
        method: reqwest::Method,
        url: reqwest::Url,
        body: Option<&B>,
    ) -> Result<reqwest::Response, MeetingError> {
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header("authorization", token.bearer());
            if let Some(body) = body {
                request = request.json(body);
            }
            let started = std::time::Instant::now();
            let response = request.send().await;
            bridge_relay_domain::telemetry::record_call(
                Service::Zoom,
                started,
                response.as_ref().ok().map(|r| r.status().as_u16()),
            );
            let response =
                response.map_err(|e| bridge_relay_http::transport_error(Service::Zoom, e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED {
                let (refused, code) =
                    bridge_relay_http::status_error_and_code(Service::Zoom, response).await;
                if code != Some(INVALID_TOKEN_CODE) {
                    return Err(refused.into());
                }
                bridge_relay_domain::telemetry::record_token_refused();
                self.tokens.invalidate(&token).await;
                if !retried {
                    retried = true;
                    continue;
                }
                return Err(UpstreamError::TokenRefused {
                    service: Service::Zoom,
                    message: refused.to_string(),
                }
                .into());
            }
            if !response.status().is_success() {
                return Err(status_error(Service::Zoom, response).await.into());
            }
            return Ok(response);
        }
    }

    async fn read<T: serde::de::DeserializeOwned>(
        response: reqwest::Response,
    ) -> Result<T, MeetingError> {
        response.json().await.map_err(|e| {
            UpstreamError::Decode {
                service: Service::Zoom,
                reason: e.without_url().to_string(),
            }
            .into()
        })
    }
}

#[async_trait]
impl MeetingProvider for ZoomApi {
    async fn create_meeting(&self, spec: &MeetingSpec) -> Result<Meeting, MeetingError> {
        let request = MeetingRequest::from(spec);
        let host = request.host_user.as_deref().unwrap_or(&self.host_user);
        let url = self.url(&["users", host, "meetings"], &[])?;
        let response = self
            .send(reqwest::Method::POST, url, Some(&request))
            .await?;
        Ok(Self::read::<translate::MeetingCreated>(response)
            .await?
            .into_meeting())
    }

    /// Lists the host's scheduled meetings of the window's dates (`from`/`to`, in UTC), so a
    /// busy host's list ends with the window instead of at a page limit; each listed meeting is
    /// kept only if Zoom says it was created within the window and its agenda starts with the
    /// marker line. Zoom does not document the list's order, so every page of those dates is read.
    async fn find_meeting_created(
        &self,
        incident_id: &str,
        host_user: Option<&str>,
        window: CreateWindow,
    ) -> Result<Option<Meeting>, MeetingError> {
        let host = host_user.unwrap_or(&self.host_user);
        let (from, to) = list_dates(&window);
        let mut page_token: Option<String> = None;
        for _ in 0..FIND_MAX_PAGES {
            let mut query = vec![
                ("type", "scheduled"),
                ("page_size", "300"),
                ("from", from.as_str()),
                ("to", to.as_str()),
                ("timezone", "UTC"),
            ];
            if let Some(token) = page_token.as_deref() {
                query.push(("next_page_token", token));
            }
            let url = self.url(&["users", host, "meetings"], &query)?;
            let page: MeetingList =
                Self::read(self.send::<()>(reqwest::Method::GET, url, None).await?).await?;
            if let Some(found) = page
                .meetings
                .iter()
                .find(|m| m.created_within(&window) && m.marks(incident_id))
            {
                let url = self.url(&["meetings", &found.id.to_string()], &[])?;
                let response = self.send::<()>(reqwest::Method::GET, url, None).await?;
                return Ok(Some(
                    Self::read::<translate::MeetingCreated>(response)
                        .await?
                        .into_meeting(),
                ));
            }
            match page.next_page_token.filter(|t| !t.is_empty()) {
                Some(token) => page_token = Some(token),
                None => return Ok(None),
            }
        }
        tracing::warn!(
            incident = %incident_id,
            pages = FIND_MAX_PAGES,
            "stopped looking for a lost meeting before the end of the host's list"
        );
        Ok(None)
    }

    async fn end_meeting(&self, meeting_id: u64) -> Result<(), MeetingError> {
        let url = self.url(&["meetings", &meeting_id.to_string(), "status"], &[])?;
        let body = serde_json::json!({"action": "end"});
        self.send(reqwest::Method::PUT, url, Some(&body))
            .await
            .map(drop)
    }

    /// `PATCH /meetings/{id}` with what changed (204). Zoom refuses the whole update for one
    /// alternative host it will not take (400 code 1114, naming them): that one is dropped and
    /// the rest sent again, until Zoom takes the update.
    async fn update_meeting(
        &self,
        meeting_id: u64,
        update: &MeetingUpdate,
    ) -> Result<UpdateAnswer, MeetingError> {
        let url = self.url(&["meetings", &meeting_id.to_string()], &[])?;
        let mut hosts = update.alternative_hosts.clone();
        let mut answer = UpdateAnswer::default();
        loop {
            let body = translate::update_body(update.labels.as_ref(), hosts.as_deref());
            match self
                .send(reqwest::Method::PATCH, url.clone(), Some(&body))
                .await
            {
                Ok(_) => return Ok(answer),
                Err(MeetingError::Upstream(UpstreamError::Status {
                    status: 400,
                    ref message,
                    ..
                })) if message.contains("(code 1114)")
                    && hosts.as_ref().is_some_and(|h| !h.is_empty()) =>
                {
                    let list = hosts.get_or_insert_with(Vec::new);
                    // The refused one when Zoom names it; else none of them can be trusted.
                    let refused: Vec<String> = match list
                        .iter()
                        .position(|email| message.to_lowercase().contains(email.as_str()))
                    {
                        Some(at) => vec![list.remove(at)],
                        None => std::mem::take(list),
                    };
                    answer.refused_hosts.extend(refused);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Zoom lists the ended instances of a meeting (`GET /past_meetings/{id}/instances`; 404
    /// for one that never ran): with none, `DELETE /meetings/{id}` (204). Zoom refuses to
    /// delete a meeting in progress (400 code 3002) or one that has ended (3007): used.
    async fn remove_unused_meeting(&self, meeting_id: u64) -> Result<Removal, MeetingError> {
        let id = meeting_id.to_string();
        let url = self.url(&["past_meetings", &id, "instances"], &[])?;
        match self.send::<()>(reqwest::Method::GET, url, None).await {
            Ok(response) => {
                let instances: PastInstances = Self::read(response).await?;
                if !instances.meetings.is_empty() {
                    return Ok(Removal::Used);
                }
            }
            Err(MeetingError::Upstream(UpstreamError::Status { status: 404, .. })) => {}
            Err(e) => return Err(e),
        }
        let url = self.url(&["meetings", &id], &[])?;
        match self.send::<()>(reqwest::Method::DELETE, url, None).await {
            Ok(_) => Ok(Removal::Removed),
            Err(MeetingError::Upstream(UpstreamError::Status {
                status: 400,
                ref message,
                ..
            })) if message.contains("(code 3002)") || message.contains("(code 3007)") => {
                Ok(Removal::Used)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /users/{email}`: an active, licensed (`type` 2) user of the account can be an
    /// alternative host; 404 (code 1001) is no user of the account.
    async fn host_verdict(&self, email: &str) -> Result<HostVerdict, MeetingError> {
        let url = self.url(&["users", email], &[])?;
        match self.send::<()>(reqwest::Method::GET, url, None).await {
            Ok(response) => Ok(Self::read::<account::ZoomUser>(response)
                .await?
                .host_verdict()),
            Err(MeetingError::Upstream(UpstreamError::Status { status: 404, .. })) => {
                Ok(HostVerdict::NotInAccount)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /meetings/{uuid}/meeting_summary`. Zoom's documented refusals (400 code 200: not
    /// a paid account; 403 code 2305: restricted by an account setting; 404 code 3001: no
    /// summary) are answers, not failures: asking again cannot change them.
    async fn meeting_summary(&self, meeting_uuid: &str) -> Result<SummaryAnswer, MeetingError> {
        let segment = after_call::uuid_segment(meeting_uuid);
        let url = self.url(&["meetings", &segment, "meeting_summary"], &[])?;
        match self.send::<()>(reqwest::Method::GET, url, None).await {
            Ok(response) => Ok(SummaryAnswer::Summary(
                Self::read::<after_call::SummaryWire>(response)
                    .await?
                    .into_summary(),
            )),
            Err(MeetingError::Upstream(UpstreamError::Status {
                status, message, ..
            })) if summary_refusal(status, &message).is_some() => Ok(SummaryAnswer::Refused(
                summary_refusal(status, &message).unwrap_or(SummaryRefusal::NotFound),
            )),
            Err(e) => Err(e),
        }
    }
}

/// `GET /past_meetings/{id}/instances`: the meeting's ended instances.
#[derive(Deserialize)]
struct PastInstances {
    #[serde(default)]
    meetings: Vec<serde_json::Value>,
}

/// Zoom's documented refusals of a summary, by status and the `(code N)` the error message
/// carries (`bridge_relay_http::status_error`).
fn summary_refusal(status: u16, message: &str) -> Option<SummaryRefusal> {
    match (status, message) {
        (400, m) if m.contains("(code 200)") => Some(SummaryRefusal::NotPaidAccount),
        (403, m) if m.contains("(code 2305)") => Some(SummaryRefusal::Restricted),
        (404, _) => Some(SummaryRefusal::NotFound),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passcodes_are_eight_digits_and_differ() {
        let a = super::new_passcode();
        let b = super::new_passcode();
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert_ne!(a, b);
    }
}

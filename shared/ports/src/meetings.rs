//! The meetings port: what the use case needs of a meeting provider (Zoom), in the relay's
//! terms ([`MeetingSpec`] in, [`Meeting`] out).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use bridge_relay_domain::after_call::{MeetingSummary, SummaryRefusal};
use bridge_relay_domain::error::{SecretsError, UpstreamError};
use bridge_relay_domain::hosts::HostVerdict;
use bridge_relay_domain::meeting::{MeetingSpec, MeetingUpdate};
use bridge_relay_domain::model::Meeting;

/// Creates, finds and ends meetings. The real adapter is Zoom's (`bridge_relay::zoom::ZoomApi`);
/// tests run it against stand-ins.
#[async_trait]
pub trait MeetingProvider: Send + Sync {
    async fn create_meeting(&self, spec: &MeetingSpec) -> Result<Meeting, MeetingError>;

    /// The meeting an earlier attempt made for `incident_id` when its answer was lost
    /// (a timeout, a crash), found by the marker line the agenda starts with, among the
    /// meetings created within the last [`LOST_CREATE_LOOKBACK`] (see [`CreateWindow::until`]).
    /// `incident_id` is the marker's id: an incident's key, or a review's
    /// ([`bridge_relay_domain::meeting::review_marker_id`]).
    /// `host_user` is the host the policy chose for the incident (`None`: the configured host).
    async fn find_meeting(
        &self,
        incident_id: &str,
        host_user: Option<&str>,
    ) -> Result<Option<Meeting>, MeetingError> {
        self.find_meeting_created(
            incident_id,
            host_user,
            CreateWindow::until(SystemTime::now()),
        )
        .await
    }

    /// [`find_meeting`](Self::find_meeting) among the meetings created within `window` only.
    async fn find_meeting_created(
        &self,
        incident_id: &str,
        host_user: Option<&str>,
        window: CreateWindow,
    ) -> Result<Option<Meeting>, MeetingError>;

    /// Ends a running meeting for everyone in it (`PUT /meetings/{id}/status` `{"action":"end"}`).
    async fn end_meeting(&self, meeting_id: u64) -> Result<(), MeetingError>;

    /// Changes the meeting as `update` says (the incident changed). An alternative host the
    /// provider refuses is dropped and the rest sent: the answer names the ones dropped.
    async fn update_meeting(
        &self,
        meeting_id: u64,
        update: &MeetingUpdate,
    ) -> Result<UpdateAnswer, MeetingError>;

    /// Removes a meeting nobody used, so it does not stay on the host's list: `Used` (and
    /// nothing removed) when the provider says it is running or ran before.
    async fn remove_unused_meeting(&self, meeting_id: u64) -> Result<Removal, MeetingError>;

    /// Whether the user with `email` can be one of the meeting's alternative hosts.
    async fn host_verdict(&self, email: &str) -> Result<HostVerdict, MeetingError>;

    /// The summary of one meeting instance (by its UUID), for a summary event that came
    /// without its text.
    async fn meeting_summary(&self, meeting_uuid: &str) -> Result<SummaryAnswer, MeetingError>;
}

/// How long before a look-up a lost create can have happened. A create is retried within its
/// job's deliveries (the worker queue's 5 receives, minutes apart), or by a later job of the
/// same incident finding its record still `Creating`; no job stays queued longer than the
/// queue keeps messages (4 days, template.yaml), so 4 days and a margin cover every retry but a
/// dead-letter redrive. An older lost meeting is not adopted: it was never posted anywhere.
pub const LOST_CREATE_LOOKBACK: Duration = Duration::from_secs(5 * 24 * 60 * 60);

/// How far the provider's clock may run ahead of the relay's: its `created_at` for a meeting
/// made just now may be a little later than the relay's now.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// When the create a look-up is for was made: a meeting created outside it is not the one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateWindow {
    pub earliest: SystemTime,
    pub latest: SystemTime,
}

impl CreateWindow {
    /// Every create a look-up at `now` may be for: from [`LOST_CREATE_LOOKBACK`] before `now`
    /// to [`CLOCK_SKEW`] after it.
    pub fn until(now: SystemTime) -> Self {
        CreateWindow {
            earliest: now.checked_sub(LOST_CREATE_LOOKBACK).unwrap_or(UNIX_EPOCH),
            latest: now.checked_add(CLOCK_SKEW).unwrap_or(now),
        }
    }

    pub fn contains(&self, time: SystemTime) -> bool {
        self.earliest <= time && time <= self.latest
    }
}

/// What came of a meeting update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateAnswer {
    /// The alternative hosts the provider refused, dropped from the update.
    pub refused_hosts: Vec<String>,
}

/// What came of removing a meeting the relay saw nobody use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    /// The provider says it is running or ran: it is to be ended, not removed.
    Used,
}

/// What the provider answered for a meeting's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryAnswer {
    Summary(MeetingSummary),
    /// There is none to be had, and asking again will not change it.
    Refused(SummaryRefusal),
}

/// A failed call, with the secret read separated from the API call.
#[derive(Debug, thiserror::Error)]
pub enum MeetingError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
}

impl crate::retry::Transient for MeetingError {
    fn is_retryable(&self) -> bool {
        match self {
            MeetingError::Secrets(e) => e.is_retryable(),
            MeetingError::Upstream(e) => e.is_retryable(),
        }
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            MeetingError::Secrets(_) => None,
            MeetingError::Upstream(e) => e.retry_after(),
        }
    }
}

/// An 8-digit passcode: numeric, so the web and phone passcodes are the same.
#[allow(
    clippy::expect_used,
    reason = "without the OS random source no passcode can be made; the process must stop"
)]
pub fn new_passcode() -> String {
    let mut passcode = String::with_capacity(8);
    while passcode.len() < 8 {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        // Bytes of 250 and over are skipped so each digit is equally likely.
        passcode.extend(
            bytes
                .iter()
                .filter(|b| **b < 250)
                .map(|b| char::from(b'0'.saturating_add(b.checked_rem(10).unwrap_or(0))))
                .take(8_usize.saturating_sub(passcode.len())),
        );
    }
    passcode
}

//! The calls each webhook and each job make, recorded where they happen: the adapters record
//! each call to an outside system ([`record_call`]) and the retry loops each retry
//! ([`record_retry`]) into the [`observe`] scope the entry adapter opens around one webhook or
//! one job; outside such a scope recording does nothing. This module imports nothing above the
//! errors, so every adapter may use it; the reporter above (`bridge_relay::report`) turns what it records into log lines
//! and metrics.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::Service;

pub fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z): humantime's `Display` fails
/// after it, and a failing `Display` panics in `format!`.
const LAST_RFC3339_SECOND: u64 = 253_402_300_799;

/// `2026-11-24T10:02:00Z`, or `None` for a time RFC 3339 cannot write (before 1970 or after
/// 9999). Times in notes come from senders (Zoom's `event_ts`), so formatting them must not panic.
pub fn rfc3339_seconds(time: SystemTime) -> Option<String> {
    use std::fmt::Write;
    let seconds = time.duration_since(UNIX_EPOCH).ok()?.as_secs();
    if seconds > LAST_RFC3339_SECOND {
        return None;
    }
    let mut text = String::new();
    write!(text, "{}", humantime::format_rfc3339_seconds(time)).ok()?;
    Some(text)
}

/// The time `at_ms` milliseconds after the Unix epoch, `None` past what `SystemTime` holds.
pub fn time_of_millis(at_ms: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_millis(at_ms))
}

/// One call to an outside system: how long it took and how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub service: Service,
    pub millis: u64,
    /// The HTTP status, or None when no answer came (timeout, connection failure).
    pub status: Option<u16>,
}

impl Call {
    pub fn failed(&self) -> bool {
        !self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The calls and retries of one webhook or job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallStats {
    pub calls: Vec<Call>,
    pub retries: u32,
    /// Zoom hosts of the pool found spent for the day.
    pub hosts_spent: u32,
    /// Whether every host of the pool was busy or spent.
    pub pool_full: bool,
    /// Zoom API calls refused with 401 (a voided or expired token).
    pub tokens_refused: u32,
    /// After-call notes posted: summaries, recordings, transcripts.
    pub summaries_posted: u32,
    pub recordings_posted: u32,
    pub transcripts_posted: u32,
    /// Meetings whose topic and agenda were brought in step with their incident.
    pub meetings_updated: u32,
    /// Updates not made (Zoom refused them after the retries, or the day's budget is kept
    /// for creates): the bridge is fine, so no note says so.
    pub meeting_updates_given_up: u32,
    /// Seconds from the bridge to a paged responder's first join, one per responder.
    pub responders_joined_after_seconds: Vec<u64>,
    /// Health notes: someone stuck waiting to be let in; one person alone or nobody on the call.
    pub stuck_waiting_notes: u32,
    pub empty_call_notes: u32,
}

impl CallStats {
    pub fn of(&self, services: &[Service]) -> impl Iterator<Item = &Call> {
        self.calls
            .iter()
            .filter(move |c| services.contains(&c.service))
    }

    pub fn millis(&self, services: &[Service]) -> Vec<u64> {
        self.of(services).map(|c| c.millis).collect()
    }

    pub fn errors(&self, services: &[Service]) -> u64 {
        self.of(services)
            .filter(|c| c.failed() && c.status != Some(429))
            .count() as u64
    }

    pub fn rate_limited(&self) -> u64 {
        self.calls.iter().filter(|c| c.status == Some(429)).count() as u64
    }

    pub fn total(&self, services: &[Service]) -> (usize, u64) {
        let millis = self.millis(services);
        (millis.len(), millis.iter().sum())
    }
}

tokio::task_local! {
    static CALLS: Mutex<CallStats>;
}

/// Runs `work`, collecting the calls and retries it records.
pub async fn observe<F: Future>(work: F) -> (F::Output, CallStats) {
    CALLS
        .scope(Mutex::new(CallStats::default()), async {
            let output = work.await;
            let stats = CALLS.with(|calls| {
                std::mem::take(
                    &mut *calls
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                )
            });
            (output, stats)
        })
        .await
}

/// Records a call that started at `started`; `status` is None when no answer came.
pub fn record_call(service: Service, started: Instant, status: Option<u16>) {
    let call = Call {
        service,
        millis: started.elapsed().as_millis() as u64,
        status,
    };
    let _ = CALLS.try_with(|calls| {
        calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .calls
            .push(call)
    });
}

pub fn record_retry() {
    let _ = CALLS.try_with(|calls| {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        calls.retries = calls.retries.saturating_add(1);
    });
}

pub fn record_host_spent() {
    let _ = CALLS.try_with(|calls| {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        calls.hosts_spent = calls.hosts_spent.saturating_add(1);
    });
}

pub fn record_token_refused() {
    let _ = CALLS.try_with(|calls| {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        calls.tokens_refused = calls.tokens_refused.saturating_add(1);
    });
}

/// An after-call note of `kind` went on an incident.
pub fn record_artifact_posted(kind: crate::after_call::ArtifactKind) {
    use crate::after_call::ArtifactKind;
    let _ = CALLS.try_with(|calls| {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = match kind {
            ArtifactKind::Summary => &mut calls.summaries_posted,
            ArtifactKind::Recording => &mut calls.recordings_posted,
            ArtifactKind::Transcript => &mut calls.transcripts_posted,
        };
        *count = count.saturating_add(1);
    });
}

/// A meeting update was made (`true`) or given up (`false`).
pub fn record_meeting_update(made: bool) {
    let _ = CALLS.try_with(|calls| {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = match made {
            true => &mut calls.meetings_updated,
            false => &mut calls.meeting_updates_given_up,
        };
        *count = count.saturating_add(1);
    });
}

/// A paged responder first joined the call `seconds` after the bridge.
pub fn record_responder_joined(seconds: u64) {
    let _ = CALLS.try_with(|calls| {
        calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .responders_joined_after_seconds
            .push(seconds)
    });
}

/// A health note went on an incident: someone stuck waiting (`true`), or an alone or empty call.
pub fn record_health_note(stuck: bool) {
    let _ = CALLS.try_with(|calls| {
        let mut calls = calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = match stuck {
            true => &mut calls.stuck_waiting_notes,
            false => &mut calls.empty_call_notes,
        };
        *count = count.saturating_add(1);
    });
}

pub fn record_pool_full() {
    let _ = CALLS.try_with(|calls| {
        calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pool_full = true
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_written_up_to_year_9999_and_refused_after() {
        let last = UNIX_EPOCH + Duration::from_secs(LAST_RFC3339_SECOND);
        assert_eq!(
            rfc3339_seconds(last).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339_seconds(last + Duration::from_secs(1)), None);
        assert_eq!(
            rfc3339_seconds(UNIX_EPOCH - Duration::from_secs(1)),
            None,
            "before 1970"
        );
        assert_eq!(time_of_millis(u64::MAX).and_then(rfc3339_seconds), None);
    }
}

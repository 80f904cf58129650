//! The host pool: several Zoom users (robot accounts) host the incidents' meetings.
//!
//! Zoom lets a licensed user host one meeting at a time (two on Business and Enterprise) and
//! make 100 meeting creates and updates a day. The worker picks a host with a free meeting slot
//! and creates left today, both kept in the idempotency store and taken with conditional
//! writes, so two workers never hand the last slot of a host to two incidents:
//!
//! - slots: items `host#<user>#slot#<n>` (n below the per-host meeting limit) that name the
//!   incident holding them. The incident's resolution frees its slot
//!   ([`Worker::free_host_slot`]); a slot held longer than the maximum age counts as free,
//!   so an incident that is never resolved (or a worker that died holding a slot) cannot keep
//!   it for ever.
//! - daily creates: items `host#<user>#<YYYY-MM-DD>` (UTC), so the count starts again at
//!   00:00 UTC by construction. A Zoom 429 "daily limit" marks the host spent for the day and
//!   the job moves on to the next host in the same delivery.
//!
//! The incident's record names the slot its meeting holds: a later delivery that finds a
//! create whose answer was lost looks for the meeting on that host, never makes a second one.

use std::time::SystemTime;

use crate::worker::{CreateFailed, CreateFrom, Worker};
pub use crate::worker::{
    DEFAULT_CREATES_PER_DAY, DEFAULT_MEETINGS_PER_HOST, DEFAULT_SLOT_MAX_AGE, HostPool,
};
pub use bridge_relay_domain::error::PoolFull;
use bridge_relay_domain::error::{JobError, UpstreamError};
use bridge_relay_domain::model::{IncidentKey, Job, Meeting};
use bridge_relay_ports::store::{HostSlot, Stage};

/// The UTC day of `time` as `YYYY-MM-DD`.
pub fn utc_day(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()[..10].to_owned()
}

/// What the incident's timeline says when every host is busy or spent (posted once).
pub fn pool_full_note(full: &PoolFull) -> String {
    format!(
        "bridge-relay has no free Zoom host for this incident right now: {full}.\n\
         The relay keeps trying and posts the bridge as soon as a host is free (a resolved \
         incident frees its host; daily limits reset at 00:00 UTC). Start a meeting by hand if \
         you cannot wait."
    )
}

/// How one host's attempt ended, when it did not give a meeting.
enum Attempt {
    /// The host's daily limit is reached: try the next host.
    Spent,
    Failed(JobError),
}

impl Worker {
    /// Creates the incident's meeting on a host of the pool with a free slot and creates left,
    /// resuming with the slot an earlier delivery recorded.
    pub(crate) async fn create_in_pool(
        &self,
        job: &Job,
        owner: &str,
        stage: Stage,
        pool: &HostPool,
        taken: Option<HostSlot>,
        deadline: std::time::Instant,
    ) -> Result<Meeting, JobError> {
        let key = job.incident_key();
        let id = &key;
        let day = utc_day(SystemTime::now());
        let mut full = PoolFull {
            busy: Vec::new(),
            spent: Vec::new(),
        };
        // The claim took a slot (and recorded `Creating`) in its own write: create there.
        if let Some(slot) = &taken {
            match self
                .attempt(job, owner, CreateFrom::Recorded, slot, &day, deadline)
                .await
            {
                Ok(meeting) => return Ok(meeting),
                Err(Attempt::Spent) => full.spent.push(slot.host.clone()),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        let held = match taken {
            Some(_) => None,
            None => self.store.meeting_host(id).await?,
        };
        // A create recorded without a host (made before the pool was configured) may have made
        // the meeting on the first host: look there first. Later hosts are fresh creates.
        let mut next_stage = if held.is_none() {
            stage
        } else {
            Stage::Claimed
        };
        if let Some(held) = &held {
            // A create on that host may have made the meeting: look there first. Otherwise
            // keep the slot if it is still ours.
            if stage == Stage::Creating
                || self
                    .store
                    .take_host_slot(&held.host, held.slot, id, pool.slot_max_age)
                    .await?
            {
                match self
                    .attempt(job, owner, CreateFrom::of(stage), held, &day, deadline)
                    .await
                {
                    Ok(meeting) => return Ok(meeting),
                    Err(Attempt::Spent) => full.spent.push(held.host.clone()),
                    Err(Attempt::Failed(e)) => return Err(e),
                }
            } else {
                self.store.record_meeting_host(id, owner, None).await?;
            }
        }
        for host in pool.candidates(job.meeting.host_user.as_deref()) {
            if full.spent.iter().any(|h| h == host) {
                continue;
            }
            let Some(slot) = self.take_free_slot(host, pool, id).await? else {
                full.busy.push(host.to_owned());
                continue;
            };
            if !self
                .store
                .take_daily_create(host, &day, pool.creates_per_day)
                .await?
            {
                self.store.release_host_slot(host, slot.slot, id).await?;
                full.spent.push(host.to_owned());
                continue;
            }
            if let Err(e) = self.store.record_meeting_host(id, owner, Some(&slot)).await {
                self.store.release_host_slot(host, slot.slot, id).await?;
                return Err(e.into());
            }
            let attempt_stage = std::mem::replace(&mut next_stage, Stage::Claimed);
            match self
                .attempt(
                    job,
                    owner,
                    CreateFrom::of(attempt_stage),
                    &slot,
                    &day,
                    deadline,
                )
                .await
            {
                Ok(meeting) => return Ok(meeting),
                Err(Attempt::Spent) => full.spent.push(host.to_owned()),
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        bridge_relay_domain::telemetry::record_pool_full();
        Err(JobError::PoolFull(full))
    }

    async fn take_free_slot(
        &self,
        host: &str,
        pool: &HostPool,
        incident_id: &IncidentKey,
    ) -> Result<Option<HostSlot>, JobError> {
        // Each incident starts at its own slot, so jobs arriving together mostly take
        // different slots at the first write instead of all racing up from slot 0.
        let slots = pool.meetings_per_host;
        let first = first_slot(incident_id, slots);
        for slot in (0..slots).map(|n| first.wrapping_add(n).checked_rem(slots).unwrap_or(0)) {
            if self
                .store
                .take_host_slot(host, slot, incident_id, pool.slot_max_age)
                .await?
            {
                return Ok(Some(HostSlot {
                    host: host.to_owned(),
                    slot,
                }));
            }
        }
        Ok(None)
    }

    /// One create on the slot's host. A create that surely made nothing gives the slot back;
    /// one whose outcome is unknown keeps it (the meeting may exist and is looked for there).
    async fn attempt(
        &self,
        job: &Job,
        owner: &str,
        from: CreateFrom,
        slot: &HostSlot,
        day: &str,
        deadline: std::time::Instant,
    ) -> Result<Meeting, Attempt> {
        let key = job.incident_key();
        let id = &key;
        let result = self
            .create_once(job, owner, from, &slot.host, deadline)
            .await;
        let CreateFailed {
            error,
            maybe_created,
        } = match result {
            Ok(meeting) => return Ok(meeting),
            Err(failed) => failed,
        };
        // A meeting that may exist keeps its slot and host: the next delivery looks there.
        let made_nothing = !maybe_created;
        let spent =
            made_nothing && matches!(error, JobError::Meeting(UpstreamError::DailyLimit { .. }));
        if spent {
            tracing::warn!(incident = %id, host = %slot.host, "the Zoom host reached its daily limit; trying the next host");
            bridge_relay_domain::telemetry::record_host_spent();
            if let Err(e) = self.store.mark_host_spent(&slot.host, day).await {
                return Err(Attempt::Failed(e.into()));
            }
        }
        if made_nothing {
            let freed = async {
                self.store
                    .release_host_slot(&slot.host, slot.slot, id)
                    .await?;
                self.store.record_meeting_host(id, owner, None).await
            };
            if let Err(e) = freed.await {
                return Err(Attempt::Failed(e.into()));
            }
        }
        if spent {
            Err(Attempt::Spent)
        } else {
            Err(Attempt::Failed(error))
        }
    }

    /// Frees the host slot the incident's meeting holds, for the next incident; call it when
    /// the incident ends. Returns the slot freed, or `None` when the incident holds none (no
    /// pool, freed already, or expired). Safe to call more than once.
    pub async fn free_host_slot(
        &self,
        incident_key: &IncidentKey,
    ) -> Result<Option<HostSlot>, JobError> {
        let freed = self.store.free_host_slot(incident_key).await?;
        if let Some(slot) = &freed {
            tracing::info!(incident = %incident_key, host = %slot.host, slot = slot.slot, "host slot freed");
        }
        Ok(freed)
    }

    /// [`free_host_slot`](Self::free_host_slot) with the slot the incident's record named when
    /// the job read it (`None`: it named none, and nothing is freed).
    pub(crate) async fn free_read_host_slot(
        &self,
        incident_key: &IncidentKey,
        held: Option<HostSlot>,
    ) -> Result<Option<HostSlot>, JobError> {
        let Some(held) = held else {
            return Ok(None);
        };
        if !self
            .store
            .release_host_slot(&held.host, held.slot, incident_key)
            .await?
        {
            return Ok(None);
        }
        tracing::info!(incident = %incident_key, host = %held.host, slot = held.slot, "host slot freed");
        Ok(Some(held))
    }

    /// Lets go of a create that left no recorded meeting: its job failed for good, or its
    /// incident resolved first. A meeting the create may have made (`maybe_created`: the
    /// record says `Creating`) is looked for on the slot's host and ended, so nobody is left
    /// on a call no bridge points to; then the slot is free for the next incident instead of
    /// being held for its maximum age. Returns the slot freed.
    pub(crate) async fn let_go_of_unrecorded_create(
        &self,
        job: &Job,
        held: Option<HostSlot>,
        maybe_created: bool,
        deadline: std::time::Instant,
    ) -> Result<Option<HostSlot>, JobError> {
        let key = job.incident_key();
        let Some(slot) = held else {
            return Ok(None);
        };
        if maybe_created {
            let keyed = job.keyed_incident();
            let found = self
                .settings
                .retry
                .run(deadline, "find meeting", || {
                    self.meetings.find_meeting(&keyed.id, Some(&slot.host))
                })
                .await
                .map_err(|e| crate::worker::meeting_error(e, JobError::Meeting))?;
            if let Some(meeting) = found {
                let ended = self
                    .settings
                    .retry
                    .run(deadline, "end meeting", || {
                        self.meetings.end_meeting(meeting.id)
                    })
                    .await;
                match ended {
                    Ok(()) => {
                        tracing::warn!(incident = %key, meeting_id = meeting.id, "ended a meeting whose create was never recorded")
                    }
                    // Never started, or gone: nobody is on it.
                    Err(e) => {
                        tracing::warn!(incident = %key, meeting_id = meeting.id, error = %e, "a meeting whose create was never recorded could not be ended")
                    }
                }
            }
        }
        self.free_read_host_slot(&key, Some(slot)).await
    }

    /// Tells the incident, once, that it waits for a free host: posted, then marked, so a
    /// post that fails is tried again by the next delivery instead of never.
    pub(crate) async fn note_pool_full_once(
        &self,
        job: &Job,
        full: &PoolFull,
        deadline: std::time::Instant,
    ) {
        let key = job.incident_key();
        let id = &key;
        match self.store.waited_for_host(id).await {
            Ok(false) => {}
            Ok(true) => return,
            Err(e) => {
                tracing::warn!(incident = %id, error = %e, "could not read whether the pool-full note is posted");
                return;
            }
        }
        if let Err(e) = self.post(job, &pool_full_note(full), deadline).await {
            tracing::error!(incident = %id, error = %e, "could not post the pool-full note; the next delivery tries again");
            return;
        }
        if let Err(e) = self.store.first_pool_full_notice(id).await {
            tracing::warn!(incident = %id, error = %e, "could not record the pool-full note");
        }
    }
}

/// The slot a first delivery tries first: the first candidate host, at the incident's own
/// starting slot. `None` when the pool has no host or no slots to try.
pub(crate) fn first_choice(
    pool: &HostPool,
    pinned: Option<&str>,
    incident_id: &IncidentKey,
) -> Option<HostSlot> {
    let host = pool.candidates(pinned).into_iter().next()?;
    (pool.meetings_per_host > 0).then(|| HostSlot {
        host: host.to_owned(),
        slot: first_slot(incident_id, pool.meetings_per_host),
    })
}

/// Where an incident's slot search starts among `slots` (FNV-1a of its key, stable).
fn first_slot(incident_id: &IncidentKey, slots: u32) -> u32 {
    let hash = incident_id
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    u32::try_from(hash.checked_rem(u64::from(slots.max(1))).unwrap_or(0)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn incidents_start_their_slot_search_spread_over_the_slots() {
        let starts: std::collections::HashSet<u32> = (0..200)
            .map(|n| first_slot(&IncidentKey::from_stored(format!("Q{n}ABCDEF")), 10))
            .collect();
        assert_eq!(starts.len(), 10, "{starts:?}");
        let key = IncidentKey::from_stored("PXYZ");
        assert_eq!(first_slot(&key, 1), 0);
        assert_eq!(first_slot(&key, 10), first_slot(&key, 10));
    }

    #[test]
    fn days_are_utc_dates() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_910_399);
        assert_eq!(utc_day(time), "2026-11-28");
        assert_eq!(utc_day(time + Duration::from_secs(1)), "2026-11-29");
    }

    #[test]
    fn a_pinned_host_is_the_only_candidate() {
        let pool = HostPool::new(vec!["a@x".into(), "b@x".into()]);
        assert_eq!(pool.candidates(None), ["a@x", "b@x"]);
        assert_eq!(pool.candidates(Some("c@x")), ["c@x"]);
    }

    #[test]
    fn the_note_names_busy_and_spent_hosts() {
        let note = pool_full_note(&PoolFull {
            busy: vec!["a@x".into()],
            spent: vec!["b@x".into()],
        });
        assert!(
            note.contains("busy: a@x; daily limit reached: b@x"),
            "{note}"
        );
        assert!(note.contains("keeps trying"), "{note}");
    }
}

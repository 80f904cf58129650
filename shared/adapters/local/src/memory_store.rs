use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Mutex;

use bridge_relay_domain::model::IncidentKey;
use bridge_relay_ports::token_store::{SharedTokenStore, TokenItem, TokenStoreError, TokenUpdate};

use bridge_relay_domain::hosts::HostCheck;
use bridge_relay_ports::store::{
    Claim, HostChecks, HostSlot, HostSlots, HostTake, IdempotencyStore, IncidentRecord,
    MEETING_EVENT_FEED_TTL, MeetingEventFeed, MeetingIndex, MeetingLifecycle, MeetingLifecycles,
    Stage, StoreError, StoredMeeting, host_day_key, host_slot_key, now_millis,
};

/// The end of a lease of `lease` from now, in ms since the epoch.
fn lease_end(lease: Duration) -> u64 {
    now_millis().saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
}

struct Entry {
    record: IncidentRecord,
    owner: String,
    lease_until: u64,
}

/// The local runner's store: the same rules as DynamoDB's, in the process's memory.
#[derive(Default)]
pub struct InMemoryStore {
    entries: Mutex<HashMap<String, Entry>>,
    pool: Mutex<PoolState>,
    meetings: Mutex<HashMap<u64, String>>,
    lifecycles: Mutex<HashMap<String, (MeetingLifecycle, u64)>>,
    tokens: Mutex<HashMap<String, TokenEntry>>,
    /// Responder key -> (host check, kept until ms).
    host_checks: Mutex<HashMap<String, (HostCheck, u64)>>,
    /// When Zoom's meeting events stop vouching for the feed (ms).
    meeting_events_until: Mutex<Option<u64>>,
}

/// The shared Zoom token's item and the owner of its lease.
#[derive(Default)]
struct TokenEntry {
    item: TokenItem,
    lease_owner: Option<String>,
}

/// The host pool's items, keyed as in DynamoDB.
#[derive(Default)]
struct PoolState {
    /// Slot key -> (incident, taken at ms).
    slots: HashMap<String, (String, u64)>,
    /// Day key -> (creates counted, spent).
    days: HashMap<String, (u32, bool)>,
    meeting_hosts: HashMap<String, HostSlot>,
    pool_full_noticed: std::collections::HashSet<String>,
}

impl InMemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl MeetingIndex for InMemoryStore {
    async fn index_meeting(
        &self,
        meeting_id: u64,
        incident_id: &IncidentKey,
    ) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        self.meetings
            .lock()
            .await
            .insert(meeting_id, incident_id.to_owned());
        Ok(())
    }

    async fn meeting_owner(&self, meeting_id: u64) -> Result<Option<IncidentKey>, StoreError> {
        Ok(self
            .meetings
            .lock()
            .await
            .get(&meeting_id)
            .cloned()
            .map(IncidentKey::from_stored))
    }
}

#[async_trait]
impl IdempotencyStore for InMemoryStore {
    async fn claim(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let incident_id = incident_id.as_str();
        let mut entries = self.entries.lock().await;
        let now = now_millis();
        let lease_until = now.saturating_add(millis(lease));
        match entries.get_mut(incident_id) {
            None => {
                let record = IncidentRecord {
                    incident_id: incident_id.to_owned(),
                    stage: Stage::Claimed,
                    meeting: None,
                };
                entries.insert(
                    incident_id.to_owned(),
                    Entry {
                        record: record.clone(),
                        owner: owner.to_owned(),
                        lease_until,
                    },
                );
                Ok(Claim::Acquired(record))
            }
            Some(entry) if entry.record.stage == Stage::Done => {
                Ok(Claim::Done(entry.record.clone()))
            }
            Some(entry) if entry.lease_until > now && entry.owner != owner => Ok(Claim::Busy),
            Some(entry) => {
                entry.owner = owner.to_owned();
                entry.lease_until = lease_until;
                Ok(Claim::Acquired(entry.record.clone()))
            }
        }
    }

    async fn claim_new_with_host(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        lease: Duration,
        take: &HostTake<'_>,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let mut entries = self.entries.lock().await;
        if entries.contains_key(incident_id) {
            return Ok(false);
        }
        let mut pool = self.pool.lock().await;
        let now = now_millis();
        let max_age = u64::try_from(take.max_age.as_millis()).unwrap_or(u64::MAX);
        let stale_before = now.saturating_sub(max_age);
        let slot_key = host_slot_key(&take.slot.host, take.slot.slot);
        let slot_free = match pool.slots.get(&slot_key) {
            None => true,
            Some((holder, taken_at)) => holder == incident_id || *taken_at < stale_before,
        };
        let day_key = host_day_key(&take.slot.host, take.day);
        let day_left = pool
            .days
            .get(&day_key)
            .is_none_or(|(creates, spent)| !*spent && *creates < take.creates_per_day);
        if !slot_free || !day_left {
            return Ok(false);
        }
        pool.slots.insert(slot_key, (incident_id.to_owned(), now));
        let day = pool.days.entry(day_key).or_default();
        day.0 = day.0.saturating_add(1);
        pool.meeting_hosts
            .insert(incident_id.to_owned(), take.slot.clone());
        entries.insert(
            incident_id.to_owned(),
            Entry {
                record: IncidentRecord {
                    incident_id: incident_id.to_owned(),
                    stage: Stage::Creating,
                    meeting: None,
                },
                owner: owner.to_owned(),
                lease_until: lease_end(lease),
            },
        );
        Ok(true)
    }

    async fn record_new_meeting(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        meeting: &StoredMeeting,
        lifecycle: &MeetingLifecycle,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let mut entries = self.entries.lock().await;
        let Some(entry) = entries.get_mut(incident_id).filter(|e| e.owner == owner) else {
            return Ok(false);
        };
        let mut lifecycles = self.lifecycles.lock().await;
        if lifecycles.contains_key(incident_id) {
            return Ok(false);
        }
        entry.record.stage = Stage::MeetingCreated;
        entry.record.meeting = Some(meeting.clone());
        self.meetings
            .lock()
            .await
            .insert(meeting.id, incident_id.to_owned());
        lifecycles.insert(incident_id.to_owned(), (lifecycle.clone(), 1));
        Ok(true)
    }

    async fn advance(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        stage: Stage,
        meeting: Option<&StoredMeeting>,
    ) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        let mut entries = self.entries.lock().await;
        let entry = entries
            .get_mut(incident_id)
            .filter(|e| e.owner == owner)
            .ok_or_else(|| StoreError::ClaimLost(incident_id.to_owned()))?;
        entry.record.stage = stage;
        if let Some(meeting) = meeting {
            entry.record.meeting = Some(meeting.clone());
        }
        Ok(())
    }

    async fn release(&self, incident_id: &IncidentKey, owner: &str) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        let mut entries = self.entries.lock().await;
        if let Some(entry) = entries.get_mut(incident_id).filter(|e| e.owner == owner) {
            entry.lease_until = 0;
        }
        Ok(())
    }

    async fn get(&self, incident_id: &IncidentKey) -> Result<Option<IncidentRecord>, StoreError> {
        let incident_id = incident_id.as_str();
        Ok(self
            .entries
            .lock()
            .await
            .get(incident_id)
            .map(|e| e.record.clone()))
    }

    async fn record_meeting_host(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        slot: Option<&HostSlot>,
    ) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        let entries = self.entries.lock().await;
        if entries.get(incident_id).is_none_or(|e| e.owner != owner) {
            return Err(StoreError::ClaimLost(incident_id.to_owned()));
        }
        let mut pool = self.pool.lock().await;
        match slot {
            Some(slot) => pool
                .meeting_hosts
                .insert(incident_id.to_owned(), slot.clone()),
            None => pool.meeting_hosts.remove(incident_id),
        };
        Ok(())
    }

    async fn meeting_host(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<Option<HostSlot>, StoreError> {
        let incident_id = incident_id.as_str();
        Ok(self
            .pool
            .lock()
            .await
            .meeting_hosts
            .get(incident_id)
            .cloned())
    }

    async fn first_pool_full_notice(&self, incident_id: &IncidentKey) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        Ok(self
            .pool
            .lock()
            .await
            .pool_full_noticed
            .insert(incident_id.to_owned()))
    }

    async fn waited_for_host(&self, incident_id: &IncidentKey) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        Ok(self
            .pool
            .lock()
            .await
            .pool_full_noticed
            .contains(incident_id))
    }
}

#[async_trait]
impl MeetingLifecycles for InMemoryStore {
    async fn lifecycle(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<(MeetingLifecycle, u64), StoreError> {
        let incident_id = incident_id.as_str();
        Ok(self
            .lifecycles
            .lock()
            .await
            .get(incident_id)
            .cloned()
            .unwrap_or_default())
    }

    async fn save_lifecycle(
        &self,
        incident_id: &IncidentKey,
        lifecycle: &MeetingLifecycle,
        version: u64,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let mut lifecycles = self.lifecycles.lock().await;
        let current = lifecycles.get(incident_id).map_or(0, |(_, v)| *v);
        if current != version {
            return Ok(false);
        }
        lifecycles.insert(
            incident_id.to_owned(),
            (lifecycle.clone(), version.saturating_add(1)),
        );
        Ok(true)
    }
}

#[async_trait]
impl HostSlots for InMemoryStore {
    async fn take_host_slot(
        &self,
        host: &str,
        slot: u32,
        incident_id: &IncidentKey,
        max_age: Duration,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let mut pool = self.pool.lock().await;
        let now = now_millis();
        let stale_before = now.saturating_sub(max_age.as_millis() as u64);
        let key = host_slot_key(host, slot);
        let free = match pool.slots.get(&key) {
            None => true,
            Some((holder, taken_at)) => holder == incident_id || *taken_at < stale_before,
        };
        if free {
            pool.slots.insert(key, (incident_id.to_owned(), now));
        }
        Ok(free)
    }

    async fn release_host_slot(
        &self,
        host: &str,
        slot: u32,
        incident_id: &IncidentKey,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let mut pool = self.pool.lock().await;
        let key = host_slot_key(host, slot);
        let held = pool
            .slots
            .get(&key)
            .is_some_and(|(holder, _)| holder == incident_id);
        if held {
            pool.slots.remove(&key);
        }
        Ok(held)
    }

    async fn take_daily_create(
        &self,
        host: &str,
        day: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let mut pool = self.pool.lock().await;
        let (creates, spent) = pool.days.entry(host_day_key(host, day)).or_default();
        if *spent || *creates >= limit {
            return Ok(false);
        }
        *creates = creates.saturating_add(1);
        Ok(true)
    }

    async fn mark_host_spent(&self, host: &str, day: &str) -> Result<(), StoreError> {
        let mut pool = self.pool.lock().await;
        pool.days.entry(host_day_key(host, day)).or_default().1 = true;
        Ok(())
    }
}

#[async_trait]
impl HostChecks for InMemoryStore {
    async fn cached_host_check(&self, responder: &str) -> Result<Option<HostCheck>, StoreError> {
        let now = now_millis();
        Ok(self
            .host_checks
            .lock()
            .await
            .get(responder)
            .filter(|(_, until)| *until > now)
            .map(|(check, _)| check.clone()))
    }

    async fn cache_host_check(
        &self,
        responder: &str,
        check: &HostCheck,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let until = lease_end(ttl);
        self.host_checks
            .lock()
            .await
            .insert(responder.to_owned(), (check.clone(), until));
        Ok(())
    }
}

#[async_trait]
impl MeetingEventFeed for InMemoryStore {
    async fn mark_meeting_events_seen(&self) -> Result<(), StoreError> {
        *self.meeting_events_until.lock().await = Some(lease_end(MEETING_EVENT_FEED_TTL));
        Ok(())
    }

    async fn meeting_events_seen(&self) -> Result<bool, StoreError> {
        let until = *self.meeting_events_until.lock().await;
        Ok(until.is_some_and(|until| until > now_millis()))
    }
}

#[async_trait]
impl SharedTokenStore for InMemoryStore {
    async fn read_token(&self, key: &str) -> Result<TokenItem, TokenStoreError> {
        let tokens = self.tokens.lock().await;
        Ok(tokens
            .get(key)
            .map(|entry| entry.item.clone())
            .unwrap_or_default())
    }

    async fn take_token_lease(
        &self,
        key: &str,
        owner: &str,
        seen_version: u64,
        lease: Duration,
    ) -> Result<bool, TokenStoreError> {
        let mut tokens = self.tokens.lock().await;
        let entry = tokens.entry(key.to_owned()).or_default();
        let now = now_millis();
        let lease_free = entry.item.lease_until_ms.is_none_or(|until| until < now)
            || entry.lease_owner.as_deref() == Some(owner);
        if entry.item.version != seen_version || !lease_free {
            return Ok(false);
        }
        entry.item.lease_until_ms = Some(now.saturating_add(millis(lease)));
        entry.lease_owner = Some(owner.to_owned());
        Ok(true)
    }

    async fn release_token_lease(
        &self,
        key: &str,
        owner: &str,
        update: &TokenUpdate,
    ) -> Result<bool, TokenStoreError> {
        let mut tokens = self.tokens.lock().await;
        let Some(entry) = tokens.get_mut(key) else {
            return Ok(false);
        };
        if entry.lease_owner.as_deref() != Some(owner) {
            return Ok(false);
        }
        match update {
            TokenUpdate::Publish(token) => entry.item.token = Some(token.clone()),
            TokenUpdate::Remove => entry.item.token = None,
            TokenUpdate::Keep => {}
        }
        entry.item.version = entry.item.version.saturating_add(1);
        entry.item.lease_until_ms = None;
        entry.lease_owner = None;
        Ok(true)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> IncidentKey {
        IncidentKey::from_stored(id)
    }

    #[tokio::test]
    async fn claims_follow_the_lease_rules() {
        let store = InMemoryStore::new();
        let lease = Duration::from_secs(60);
        assert!(matches!(
            store.claim(&key("P1"), "a", lease).await.unwrap(),
            Claim::Acquired(_)
        ));
        assert_eq!(
            store.claim(&key("P1"), "b", lease).await.unwrap(),
            Claim::Busy
        );
        store
            .advance(&key("P1"), "a", Stage::Creating, None)
            .await
            .unwrap();
        assert!(matches!(
            store.advance(&key("P1"), "b", Stage::Done, None).await,
            Err(StoreError::ClaimLost(_))
        ));
        store.release(&key("P1"), "a").await.unwrap();
        match store.claim(&key("P1"), "b", lease).await.unwrap() {
            Claim::Acquired(record) => assert_eq!(record.stage, Stage::Creating),
            other => panic!("{other:?}"),
        }
        store
            .advance(&key("P1"), "b", Stage::Done, None)
            .await
            .unwrap();
        assert!(matches!(
            store.claim(&key("P1"), "c", lease).await.unwrap(),
            Claim::Done(_)
        ));
    }

    #[tokio::test]
    async fn an_expired_claim_is_taken_over() {
        let store = InMemoryStore::new();
        store
            .claim(&key("P1"), "dead", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(matches!(
            store
                .claim(&key("P1"), "alive", Duration::from_secs(60))
                .await
                .unwrap(),
            Claim::Acquired(_)
        ));
    }
}

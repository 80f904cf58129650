use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, Get, Put, ReturnValue, TransactGetItem, TransactWriteItem, Update,
};

use secrecy::{ExposeSecret, SecretString};

use bridge_relay_domain::model::IncidentKey;
use bridge_relay_ports::token_store::{
    SharedToken, SharedTokenStore, TokenItem, TokenStoreError, TokenUpdate,
};

use bridge_relay_domain::hosts::HostCheck;
use bridge_relay_ports::store::{
    Claim, HostChecks, HostSlot, HostSlots, HostTake, IdempotencyStore, IncidentRecord,
    IncidentView, MEETING_EVENT_FEED_TTL, MeetingEventFeed, MeetingIndex, MeetingLifecycle,
    MeetingLifecycles, Stage, StoreError, StoredMeeting, host_day_key, host_slot_key, now_millis,
};

/// Records are kept this long after their last change (DynamoDB TTL on `expires_at`), well past
/// PagerDuty's 48 hours of webhook retries.
const RECORD_TTL_SECONDS: u64 = 90 * 24 * 3600;

/// The store in a DynamoDB table with the string partition key `pk`. Every change is a
/// conditional write, so two workers can never both hold an incident.
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn from_sdk_config(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        DynamoDbStore {
            client: Client::new(config),
            table: table.into(),
        }
    }

    fn key(incident_id: &str) -> AttributeValue {
        AttributeValue::S(format!("pagerduty#{incident_id}"))
    }

    fn expires_at() -> AttributeValue {
        AttributeValue::N(
            (now_millis() / 1000)
                .saturating_add(RECORD_TTL_SECONDS)
                .to_string(),
        )
    }
}

/// Host day counters are kept a little past their day.
const HOST_DAY_TTL_SECONDS: u64 = 3 * 24 * 3600;

impl DynamoDbStore {
    /// An update of the item `pk` that counts a failed condition as `false`.
    async fn conditional(
        &self,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<bool, StoreError> {
        match update.table_name(&self.table).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Sends one of the joint writes' updates on its own, as a conditional `UpdateItem`: a
    /// caller that goes step by step writes exactly what the transaction would. True if written.
    async fn update_alone(
        &self,
        update: aws_sdk_dynamodb::types::builders::UpdateBuilder,
    ) -> Result<bool, StoreError> {
        let update = update.build().map_err(build_error)?;
        self.conditional(
            self.client
                .update_item()
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values),
        )
        .await
    }
}

/// The relay's own records (a meeting, a lifecycle) as the JSON the items keep.
#[allow(
    clippy::expect_used,
    reason = "these records are strings, numbers and lists, which JSON always takes"
)]
fn to_json<T: serde::Serialize>(record: &T) -> String {
    serde_json::to_string(record).expect("a record serializes")
}

impl DynamoDbStore {
    /// The claim's conditional update; a record it makes starts at `first_stage`.
    fn claim_update(
        &self,
        incident_id: &str,
        owner: &str,
        lease: Duration,
        first_stage: Stage,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let now = now_millis();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .update_expression(
                "SET #owner = :owner, lease_until = :lease, #stage = if_not_exists(#stage, :first), expires_at = :expires",
            )
            .condition_expression(
                "attribute_not_exists(pk) OR (#stage <> :done AND (lease_until < :now OR #owner = :owner))",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":lease", AttributeValue::N(lease_until(now, lease)))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":first", AttributeValue::S(first_stage.as_str().into()))
            .expression_attribute_values(":done", AttributeValue::S(Stage::Done.as_str().into()))
            .expression_attribute_values(":expires", Self::expires_at())
    }

    /// What a claim whose condition failed found: the work done, or another live claim.
    async fn not_claimed(&self, incident_id: &IncidentKey) -> Result<Claim, StoreError> {
        match self.get(incident_id).await? {
            Some(record) if record.stage == Stage::Done => Ok(Claim::Done(record)),
            _ => Ok(Claim::Busy),
        }
    }

    /// Takes a host slot for `incident_id` (free, its own already, or stale).
    fn slot_take(
        &self,
        slot: &HostSlot,
        incident_id: &str,
        max_age: Duration,
        now: u64,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let max_age_ms = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        let stale_before = now.saturating_sub(max_age_ms);
        let expires = (now.saturating_add(max_age_ms) / 1000).saturating_add(RECORD_TTL_SECONDS);
        Update::builder()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(host_slot_key(&slot.host, slot.slot)),
            )
            .update_expression("SET held_by = :incident, taken_at = :now, expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(held_by) OR held_by = :incident OR taken_at < :stale",
            )
            .expression_attribute_values(":incident", AttributeValue::S(incident_id.into()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":stale", AttributeValue::N(stale_before.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
    }

    /// Counts one create against the host's day, unless spent or at `limit`.
    fn day_count(
        &self,
        host: &str,
        day: &str,
        limit: u32,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let expires = (now_millis() / 1000).saturating_add(HOST_DAY_TTL_SECONDS);
        Update::builder()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(host_day_key(host, day)))
            .update_expression("ADD create_count :one SET expires_at = :expires")
            .condition_expression(
                "attribute_not_exists(limit_reached) AND (attribute_not_exists(create_count) OR create_count < :limit)",
            )
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
    }

    /// Writes `items` together; false when a condition cancelled them (nothing was written).
    /// `token` (one per claim owner and kind of write; DynamoDB takes at most 36 characters, a
    /// longer one is left out) makes the SDK's retry of a transaction whose answer was lost
    /// succeed instead of failing its conditions.
    async fn transact(
        &self,
        token: String,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        match self
            .client
            .transact_write_items()
            .set_client_request_token((token.len() <= 36).then_some(token))
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// The end of a lease of `lease` from `now` (ms since the epoch), as a DynamoDB number.
fn lease_until(now: u64, lease: Duration) -> String {
    now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
        .to_string()
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Unavailable(format!("a DynamoDB request could not be built: {e}"))
}

fn unavailable<E: std::error::Error + 'static>(e: SdkError<E>) -> StoreError {
    StoreError::Unavailable(DisplayErrorContext(&e).to_string())
}

fn is_condition_failure<E, R>(e: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some("ConditionalCheckFailedException"))
}

fn record_from_item(
    incident_id: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<IncidentRecord, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        incident_id: incident_id.to_owned(),
        reason,
    };
    let stage = item
        .get("stage")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| Stage::parse(s))
        .ok_or_else(|| corrupt("no valid stage".into()))?;
    let meeting = match item.get("meeting").and_then(|v| v.as_s().ok()) {
        Some(json) => Some(
            serde_json::from_str::<StoredMeeting>(json)
                .map_err(|e| corrupt(format!("meeting: {e}")))?,
        ),
        None => None,
    };
    Ok(IncidentRecord {
        incident_id: incident_id.to_owned(),
        stage,
        meeting,
    })
}

/// The host slot a record names, if any.
fn host_from_item(
    incident_id: &str,
    item: &HashMap<String, AttributeValue>,
) -> Result<Option<HostSlot>, StoreError> {
    let host = item.get("meeting_host").and_then(|v| v.as_s().ok());
    let slot = item
        .get("host_slot")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u32>().ok());
    match (host, slot) {
        (Some(host), Some(slot)) => Ok(Some(HostSlot {
            host: host.clone(),
            slot,
        })),
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt {
            incident_id: incident_id.to_owned(),
            reason: "meeting_host and host_slot are not both set".into(),
        }),
    }
}

#[async_trait]
impl MeetingIndex for DynamoDbStore {
    async fn index_meeting(
        &self,
        meeting_id: u64,
        incident_id: &IncidentKey,
    ) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("meeting#{meeting_id}")))
            .item("incident", AttributeValue::S(incident_id.to_owned()))
            .item("expires_at", Self::expires_at())
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn meeting_owner(&self, meeting_id: u64) -> Result<Option<IncidentKey>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("meeting#{meeting_id}")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .item
            .and_then(|item| item.get("incident")?.as_s().ok().cloned())
            .map(IncidentKey::from_stored))
    }
}

#[async_trait]
impl IdempotencyStore for DynamoDbStore {
    async fn claim(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let key = incident_id;
        let incident_id = key.as_str();
        let result = self
            .claim_update(incident_id, owner, lease, Stage::Claimed)
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(Claim::Acquired(record_from_item(incident_id, &item)?))
            }
            Err(e) if is_condition_failure(&e) => self.not_claimed(key).await,
            Err(e) => Err(unavailable(e)),
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
        let now = now_millis();
        let record = Put::builder()
            .table_name(&self.table)
            .item("pk", Self::key(incident_id))
            .item("owner", AttributeValue::S(owner.to_owned()))
            .item("lease_until", AttributeValue::N(lease_until(now, lease)))
            .item("stage", AttributeValue::S(Stage::Creating.as_str().into()))
            .item("expires_at", Self::expires_at())
            .item("meeting_host", AttributeValue::S(take.slot.host.clone()))
            .item("host_slot", AttributeValue::N(take.slot.slot.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let slot = self
            .slot_take(take.slot, incident_id, take.max_age, now)
            .build()
            .map_err(build_error)?;
        let day = self
            .day_count(&take.slot.host, take.day, take.creates_per_day)
            .build()
            .map_err(build_error)?;
        self.transact(
            format!("{owner}-claim"),
            vec![
                TransactWriteItem::builder().put(record).build(),
                TransactWriteItem::builder().update(slot).build(),
                TransactWriteItem::builder().update(day).build(),
            ],
        )
        .await
    }

    async fn record_new_meeting(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        meeting: &StoredMeeting,
        lifecycle: &MeetingLifecycle,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let record = Update::builder()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .update_expression("SET #stage = :stage, expires_at = :expires, meeting = :meeting")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(
                ":stage",
                AttributeValue::S(Stage::MeetingCreated.as_str().into()),
            )
            .expression_attribute_values(":expires", Self::expires_at())
            .expression_attribute_values(":meeting", AttributeValue::S(to_json(meeting)))
            .build()
            .map_err(build_error)?;
        let index = Put::builder()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("meeting#{}", meeting.id)))
            .item("incident", AttributeValue::S(incident_id.to_owned()))
            .item("expires_at", Self::expires_at())
            .build()
            .map_err(build_error)?;
        let lifecycle = Put::builder()
            .table_name(&self.table)
            .item("pk", lifecycle_key(incident_id))
            .item("state", AttributeValue::S(to_json(&lifecycle)))
            .item("version", AttributeValue::N("1".into()))
            .item("expires_at", Self::expires_at())
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        self.transact(
            format!("{owner}-meeting"),
            vec![
                TransactWriteItem::builder().update(record).build(),
                TransactWriteItem::builder().put(index).build(),
                TransactWriteItem::builder().put(lifecycle).build(),
            ],
        )
        .await
    }

    async fn advance(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        stage: Stage,
        meeting: Option<&StoredMeeting>,
    ) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#stage", "stage")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":stage", AttributeValue::S(stage.as_str().into()))
            .expression_attribute_values(":expires", Self::expires_at());
        update = match meeting {
            Some(meeting) => update
                .update_expression("SET #stage = :stage, expires_at = :expires, meeting = :meeting")
                .expression_attribute_values(":meeting", AttributeValue::S(to_json(meeting))),
            None => update.update_expression("SET #stage = :stage, expires_at = :expires"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(StoreError::ClaimLost(incident_id.to_owned()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release(&self, incident_id: &IncidentKey, owner: &str) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .update_expression("SET lease_until = :zero")
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now: nothing of ours to give up.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, incident_id: &IncidentKey) -> Result<Option<IncidentRecord>, StoreError> {
        let incident_id = incident_id.as_str();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output
            .item
            .map(|item| record_from_item(incident_id, &item))
            .transpose()
    }

    async fn record_meeting_host(
        &self,
        incident_id: &IncidentKey,
        owner: &str,
        slot: Option<&HostSlot>,
    ) -> Result<(), StoreError> {
        let incident_id = incident_id.as_str();
        let update = self
            .client
            .update_item()
            .key("pk", Self::key(incident_id))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()));
        let update = match slot {
            Some(slot) => update
                .update_expression("SET meeting_host = :host, host_slot = :slot")
                .expression_attribute_values(":host", AttributeValue::S(slot.host.clone()))
                .expression_attribute_values(":slot", AttributeValue::N(slot.slot.to_string())),
            None => update.update_expression("REMOVE meeting_host, host_slot"),
        };
        if self.conditional(update).await? {
            Ok(())
        } else {
            Err(StoreError::ClaimLost(incident_id.to_owned()))
        }
    }

    async fn meeting_host(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<Option<HostSlot>, StoreError> {
        let incident_id = incident_id.as_str();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .projection_expression("meeting_host, host_slot")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match output.item {
            Some(item) => host_from_item(incident_id, &item),
            None => Ok(None),
        }
    }

    async fn get_with_host(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<(Option<IncidentRecord>, Option<HostSlot>), StoreError> {
        let incident_id = incident_id.as_str();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        match output.item {
            Some(item) => Ok((
                Some(record_from_item(incident_id, &item)?),
                host_from_item(incident_id, &item)?,
            )),
            None => Ok((None, None)),
        }
    }

    async fn first_pool_full_notice(&self, incident_id: &IncidentKey) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        self.conditional(
            self.client
                .update_item()
                .key("pk", Self::key(incident_id))
                .update_expression("SET pool_full_noticed = :yes")
                .condition_expression(
                    "attribute_exists(pk) AND attribute_not_exists(pool_full_noticed)",
                )
                .expression_attribute_values(":yes", AttributeValue::Bool(true)),
        )
        .await
    }

    async fn waited_for_host(&self, incident_id: &IncidentKey) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", Self::key(incident_id))
            .projection_expression("pool_full_noticed")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output
            .item
            .is_some_and(|item| item.contains_key("pool_full_noticed")))
    }

    async fn get_with_lifecycle(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<IncidentView, StoreError> {
        let key = incident_id;
        let incident_id = key.as_str();
        // A transactional read: both items as of one moment, strongly consistent, and
        // allowed by the GetItem permission.
        let get = |key: AttributeValue| {
            Get::builder()
                .table_name(&self.table)
                .key("pk", key)
                .build()
                .map(|get| TransactGetItem::builder().get(get).build())
                .map_err(build_error)
        };
        let result = self
            .client
            .transact_get_items()
            .transact_items(get(Self::key(incident_id))?)
            .transact_items(get(lifecycle_key(incident_id))?)
            .send()
            .await;
        let responses = match result {
            Ok(output) => output.responses.unwrap_or_default(),
            // Cancelled by a write transaction on one of the items: read them one by one.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                let (record, host) = self.get_with_host(key).await?;
                let (lifecycle, lifecycle_version) = self.lifecycle(key).await?;
                return Ok(IncidentView {
                    record,
                    host,
                    lifecycle,
                    lifecycle_version,
                });
            }
            Err(e) => return Err(unavailable(e)),
        };
        let mut responses = responses.into_iter().map(|response| response.item);
        let (Some(record_item), Some(lifecycle_item)) = (responses.next(), responses.next()) else {
            return Err(StoreError::Unavailable(
                "DynamoDB answered a read of two items with fewer".into(),
            ));
        };
        let (record, host) = match record_item {
            Some(item) => (
                Some(record_from_item(incident_id, &item)?),
                host_from_item(incident_id, &item)?,
            ),
            None => (None, None),
        };
        let (lifecycle, lifecycle_version) =
            lifecycle_from_item(incident_id, lifecycle_item.as_ref())?;
        Ok(IncidentView {
            record,
            host,
            lifecycle,
            lifecycle_version,
        })
    }
}

#[async_trait]
impl MeetingLifecycles for DynamoDbStore {
    async fn lifecycle(
        &self,
        incident_id: &IncidentKey,
    ) -> Result<(MeetingLifecycle, u64), StoreError> {
        let incident_id = incident_id.as_str();
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", lifecycle_key(incident_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        lifecycle_from_item(incident_id, output.item.as_ref())
    }

    async fn save_lifecycle(
        &self,
        incident_id: &IncidentKey,
        lifecycle: &MeetingLifecycle,
        version: u64,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", lifecycle_key(incident_id))
            .item("state", AttributeValue::S(to_json(lifecycle)))
            .item(
                "version",
                AttributeValue::N(version.saturating_add(1).to_string()),
            )
            .item("expires_at", Self::expires_at());
        put = if version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#version = :version")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl HostSlots for DynamoDbStore {
    async fn take_host_slot(
        &self,
        host: &str,
        slot: u32,
        incident_id: &IncidentKey,
        max_age: Duration,
    ) -> Result<bool, StoreError> {
        let slot = HostSlot {
            host: host.to_owned(),
            slot,
        };
        self.update_alone(self.slot_take(&slot, incident_id.as_str(), max_age, now_millis()))
            .await
    }

    async fn release_host_slot(
        &self,
        host: &str,
        slot: u32,
        incident_id: &IncidentKey,
    ) -> Result<bool, StoreError> {
        let incident_id = incident_id.as_str();
        self.conditional(
            self.client
                .update_item()
                .key("pk", AttributeValue::S(host_slot_key(host, slot)))
                .update_expression("REMOVE held_by, taken_at")
                .condition_expression("held_by = :incident")
                .expression_attribute_values(":incident", AttributeValue::S(incident_id.into())),
        )
        .await
    }

    async fn take_daily_create(
        &self,
        host: &str,
        day: &str,
        limit: u32,
    ) -> Result<bool, StoreError> {
        self.update_alone(self.day_count(host, day, limit)).await
    }

    async fn mark_host_spent(&self, host: &str, day: &str) -> Result<(), StoreError> {
        let expires = (now_millis() / 1000).saturating_add(HOST_DAY_TTL_SECONDS);
        self.conditional(
            self.client
                .update_item()
                .key("pk", AttributeValue::S(host_day_key(host, day)))
                .update_expression("SET limit_reached = :spent, expires_at = :expires")
                .expression_attribute_values(":spent", AttributeValue::Bool(true))
                .expression_attribute_values(":expires", AttributeValue::N(expires.to_string())),
        )
        .await
        .map(|_| ())
    }
}

/// A responder's host check: `responder#<key>`, its check as JSON in `check`, gone after
/// `expires_at` (checked on read too: DynamoDB deletes expired items up to days late).
#[async_trait]
impl HostChecks for DynamoDbStore {
    async fn cached_host_check(&self, responder: &str) -> Result<Option<HostCheck>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("responder#{responder}")))
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let now = now_millis() / 1000;
        let live = item
            .get("expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|expires| expires > now);
        // An unreadable check is looked up again, not an error: it is only a cache.
        Ok(item
            .get("check")
            .and_then(|v| v.as_s().ok())
            .and_then(|json| serde_json::from_str(json).ok())
            .filter(|_| live))
    }

    async fn cache_host_check(
        &self,
        responder: &str,
        check: &HostCheck,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let expires = (now_millis() / 1000).saturating_add(ttl.as_secs());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(format!("responder#{responder}")))
            .item("check", AttributeValue::S(to_json(check)))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

const MEETING_EVENT_FEED_KEY: &str = "feed#zoom-meeting-events";

/// Zoom's meeting events reach the relay: `feed#zoom-meeting-events`, gone after `expires_at`
/// (checked on read too, as DynamoDB deletes expired items late).
#[async_trait]
impl MeetingEventFeed for DynamoDbStore {
    async fn mark_meeting_events_seen(&self) -> Result<(), StoreError> {
        let expires = (now_millis() / 1000).saturating_add(MEETING_EVENT_FEED_TTL.as_secs());
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(MEETING_EVENT_FEED_KEY.into()))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn meeting_events_seen(&self) -> Result<bool, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(MEETING_EVENT_FEED_KEY.into()))
            .send()
            .await
            .map_err(unavailable)?;
        let now = now_millis() / 1000;
        Ok(output
            .item
            .as_ref()
            .and_then(|item| item.get("expires_at"))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|expires| expires > now))
    }
}

/// The lifecycle in a `lifecycle#` item and its version; the default at version 0 without one.
fn lifecycle_from_item(
    incident_id: &str,
    item: Option<&HashMap<String, AttributeValue>>,
) -> Result<(MeetingLifecycle, u64), StoreError> {
    let Some(item) = item else {
        return Ok((MeetingLifecycle::default(), 0));
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        incident_id: incident_id.to_owned(),
        reason,
    };
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| corrupt("lifecycle without a version".into()))?;
    let state = item
        .get("state")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| corrupt("lifecycle without a state".into()))?;
    let lifecycle = serde_json::from_str(state).map_err(|e| corrupt(format!("lifecycle: {e}")))?;
    Ok((lifecycle, version))
}

fn lifecycle_key(incident_id: &str) -> AttributeValue {
    AttributeValue::S(format!("lifecycle#{incident_id}"))
}

/// The shared token's item outlives the token by a day, then DynamoDB's TTL removes it.
const TOKEN_ITEM_TTL_SECONDS: u64 = 24 * 3600;

/// The shared Zoom token lives in the same table (item `zoom-token#<account>`): one read per
/// container and token lifetime, conditional writes for the lease, encrypted at rest with the
/// table, readable by the worker role only (the ingress may read `meeting#` items alone).
#[async_trait]
impl SharedTokenStore for DynamoDbStore {
    async fn read_token(&self, key: &str) -> Result<TokenItem, TokenStoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(token_store_error)?;
        let Some(item) = output.item else {
            return Ok(TokenItem::default());
        };
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<u64>().ok())
        };
        let token = match (
            item.get("token").and_then(|v| v.as_s().ok()),
            number("renew_after"),
            number("token_expires_at"),
        ) {
            (Some(token), Some(renew_after_ms), Some(expires_at_ms)) => Some(SharedToken {
                token: SecretString::from(token.as_str()),
                renew_after_ms,
                expires_at_ms,
                scope: item
                    .get("token_scope")
                    .and_then(|v| v.as_s().ok())
                    .filter(|scope| !scope.is_empty())
                    .cloned(),
            }),
            _ => None,
        };
        Ok(TokenItem {
            token,
            version: number("token_version").unwrap_or_default(),
            lease_until_ms: number("lease_until"),
        })
    }

    async fn take_token_lease(
        &self,
        key: &str,
        owner: &str,
        seen_version: u64,
        lease: Duration,
    ) -> Result<bool, TokenStoreError> {
        let now = now_millis();
        let lease_until = now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        // Version 0 is an item that was never published (or does not exist yet).
        let version_seen = if seen_version == 0 {
            "attribute_not_exists(token_version)"
        } else {
            "token_version = :seen"
        };
        let mut update = self
            .client
            .update_item()
            .key("pk", AttributeValue::S(key.to_owned()))
            .update_expression(
                "SET lease_owner = :owner, lease_until = :lease_until, expires_at = if_not_exists(expires_at, :expires)",
            )
            .condition_expression(format!(
                "{version_seen} AND (attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :owner)"
            ))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":lease_until", AttributeValue::N(lease_until.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(
                ":expires",
                AttributeValue::N((now / 1000).saturating_add(TOKEN_ITEM_TTL_SECONDS).to_string()),
            );
        if seen_version != 0 {
            update = update
                .expression_attribute_values(":seen", AttributeValue::N(seen_version.to_string()));
        }
        self.conditional(update)
            .await
            .map_err(|e| TokenStoreError(e.to_string()))
    }

    async fn release_token_lease(
        &self,
        key: &str,
        owner: &str,
        update: &TokenUpdate,
    ) -> Result<bool, TokenStoreError> {
        let mut request = self
            .client
            .update_item()
            .key("pk", AttributeValue::S(key.to_owned()))
            .condition_expression("lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        let next_version = "token_version = if_not_exists(token_version, :zero) + :one";
        request = match update {
            TokenUpdate::Publish(token) => {
                let ttl = (token.expires_at_ms / 1000).saturating_add(TOKEN_ITEM_TTL_SECONDS);
                request
                    .update_expression(format!(
                        "SET {next_version}, #token = :token, renew_after = :renew_after, token_expires_at = :token_expires_at, token_scope = :token_scope, expires_at = :expires REMOVE lease_owner, lease_until"
                    ))
                    .expression_attribute_names("#token", "token")
                    .expression_attribute_values(
                        ":token",
                        AttributeValue::S(token.token.expose_secret().to_owned()),
                    )
                    .expression_attribute_values(
                        ":renew_after",
                        AttributeValue::N(token.renew_after_ms.to_string()),
                    )
                    .expression_attribute_values(
                        ":token_expires_at",
                        AttributeValue::N(token.expires_at_ms.to_string()),
                    )
                    .expression_attribute_values(
                        ":token_scope",
                        AttributeValue::S(token.scope.clone().unwrap_or_default()),
                    )
                    .expression_attribute_values(":expires", AttributeValue::N(ttl.to_string()))
            }
            TokenUpdate::Remove => request
                .update_expression(format!(
                    "SET {next_version} REMOVE #token, renew_after, token_expires_at, token_scope, lease_owner, lease_until"
                ))
                .expression_attribute_names("#token", "token"),
            TokenUpdate::Keep => request.update_expression(format!(
                "SET {next_version} REMOVE lease_owner, lease_until"
            )),
        };
        self.conditional(request)
            .await
            .map_err(|e| TokenStoreError(e.to_string()))
    }
}

fn token_store_error<E: std::error::Error + 'static>(e: SdkError<E>) -> TokenStoreError {
    TokenStoreError(DisplayErrorContext(&e).to_string())
}

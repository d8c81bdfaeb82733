//! `Idempotency-Key` records on DynamoDB. Each state change is a conditional write on the record's
//! lease, so a request that lost its lease (it ran past it and another took over) changes nothing.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::DateTime;
use orderflow_types::{OrderId, Timestamp};
use tracing::{debug, instrument};

use super::codec::{Item, Reader, n, s, ts};
use super::key;
use crate::dynamodb::schema::{TableNames, table};
use crate::sdk_error;
use orderflow_domain::error::{Dependency, Error, Result};
use orderflow_domain::ports::{
    Claim, IdempotencyKey, IdempotencyRecord, IdempotencyStore, StoredResponse,
};

const DYNAMODB: Dependency = Dependency::DynamoDb;

/// Attribute names of the `idempotency` table. The key and the TTL attribute must match
/// `schema/dynamodb.json` (a test checks).
mod attr {
    pub const KEY: &str = "idempotency_key";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const ORDER_ID: &str = "order_id";
    pub const ACCEPTED_AT: &str = "accepted_at";
    /// Epoch seconds, as DynamoDB's TTL requires.
    pub const EXPIRES_AT: &str = "expires_at";
    pub const LEASE_UNTIL: &str = "lease_until";
    pub const RESPONSE_STATUS: &str = "response_status";
    pub const RESPONSE_BODY: &str = "response_body";
}

/// [`IdempotencyStore`] on the `idempotency` table of [`TableNames`].
#[derive(Debug, Clone)]
pub struct DynamoIdempotencyStore {
    client: Client,
    table: String,
}

impl DynamoIdempotencyStore {
    pub fn new(client: Client, tables: &TableNames) -> Self {
        Self {
            client,
            table: tables.name(table::IDEMPOTENCY),
        }
    }

    /// Reads a record as it is now, expired or not.
    pub async fn get(&self, key: &IdempotencyKey) -> Result<Option<IdempotencyRecord>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_of(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| sdk_error(DYNAMODB, "read an idempotency record", err))?;
        output.item.as_ref().map(record_from_item).transpose()
    }
}

fn key_of(idempotency_key: &IdempotencyKey) -> Item {
    key(attr::KEY, idempotency_key.as_str())
}

/// Epoch seconds: the TTL attribute's unit. Rounded up, so a record never expires early.
fn epoch_seconds(at: &Timestamp) -> i64 {
    let seconds = at.timestamp();
    if at.timestamp_subsec_nanos() > 0 {
        seconds + 1
    } else {
        seconds
    }
}

fn record_to_item(record: &IdempotencyRecord) -> Item {
    let mut item = key_of(&record.key);
    item.insert(attr::FINGERPRINT.into(), s(record.fingerprint.as_str()));
    item.insert(attr::ORDER_ID.into(), s(record.order_id.as_str()));
    item.insert(attr::ACCEPTED_AT.into(), ts(&record.accepted_at));
    item.insert(
        attr::EXPIRES_AT.into(),
        n(epoch_seconds(&record.expires_at)),
    );
    if let Some(lease) = &record.lease_until {
        item.insert(attr::LEASE_UNTIL.into(), ts(lease));
    }
    if let Some(response) = &record.response {
        item.insert(attr::RESPONSE_STATUS.into(), n(response.status));
        item.insert(attr::RESPONSE_BODY.into(), s(response.body.as_str()));
    }
    item
}

fn record_from_item(item: &Item) -> Result<IdempotencyRecord> {
    let r = Reader::new(item, "idempotency record");
    let expires_at = r.n::<i64>(attr::EXPIRES_AT)?;
    let response = match r.opt_s(attr::RESPONSE_BODY)? {
        None => None,
        Some(body) => Some(StoredResponse {
            status: r.n(attr::RESPONSE_STATUS)?,
            body: body.to_owned(),
        }),
    };
    Ok(IdempotencyRecord {
        key: IdempotencyKey::from_stored(r.s(attr::KEY)?),
        fingerprint: r.s(attr::FINGERPRINT)?.to_owned(),
        order_id: r.parsed(attr::ORDER_ID, str::parse::<OrderId>)?,
        accepted_at: r.timestamp(attr::ACCEPTED_AT)?,
        expires_at: DateTime::from_timestamp(expires_at, 0).ok_or_else(|| {
            Error::invalid_data("idempotency record", "attribute expires_at is out of range")
        })?,
        lease_until: match r.opt_s(attr::LEASE_UNTIL)? {
            None => None,
            Some(_) => Some(r.timestamp(attr::LEASE_UNTIL)?),
        },
        response,
    })
}

/// Whether an update failed its condition: an expected outcome, not an error.
fn failed_condition(err: &SdkError<UpdateItemError, HttpResponse>) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

impl IdempotencyStore for DynamoIdempotencyStore {
    #[instrument(skip_all, fields(order_id = %record.order_id))]
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim> {
        const ACTION: &str = "claim an idempotency key";
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(record_to_item(record)))
            // TTL deletes expired records only eventually, so the condition checks expiry itself.
            .condition_expression("attribute_not_exists(#key) OR #expires <= :now")
            .expression_attribute_names("#key", attr::KEY)
            .expression_attribute_names("#expires", attr::EXPIRES_AT)
            .expression_attribute_values(":now", n(now.timestamp()))
            // On failure DynamoDB returns the record that holds the key, saving a read.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(item) => Ok(Claim::Taken(record_from_item(item)?)),
                        // Returned by DynamoDB as requested; read it should an endpoint not.
                        None => match self.get(&record.key).await? {
                            Some(existing) => Ok(Claim::Taken(existing)),
                            None => Err(Error::Unavailable {
                                dependency: DYNAMODB,
                                action: ACTION,
                                source: "the record that held the key disappeared".into(),
                            }),
                        },
                    }
                }
                _ => Err(sdk_error(DYNAMODB, ACTION, err)),
            },
        }
    }

    #[instrument(skip_all, fields(order_id = %existing.order_id))]
    async fn take_over(
        &self,
        existing: &IdempotencyRecord,
        lease_until: Timestamp,
    ) -> Result<Option<IdempotencyRecord>> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_of(&existing.key)))
            .update_expression("SET #lease = :lease")
            .expression_attribute_names("#lease", attr::LEASE_UNTIL)
            .expression_attribute_names("#fingerprint", attr::FINGERPRINT)
            .expression_attribute_names("#accepted", attr::ACCEPTED_AT)
            .expression_attribute_names("#body", attr::RESPONSE_BODY)
            .expression_attribute_values(":lease", ts(&lease_until))
            .expression_attribute_values(":fingerprint", s(existing.fingerprint.as_str()))
            .expression_attribute_values(":accepted", ts(&existing.accepted_at))
            .return_values(ReturnValue::AllNew);
        // The record must be the one that was read: same request, no response, same lease.
        let unchanged = "#fingerprint = :fingerprint AND #accepted = :accepted \
                         AND attribute_not_exists(#body)";
        request = match &existing.lease_until {
            Some(lease) => request
                .condition_expression(format!("{unchanged} AND #lease = :old_lease"))
                .expression_attribute_values(":old_lease", ts(lease)),
            None => request
                .condition_expression(format!("{unchanged} AND attribute_not_exists(#lease)")),
        };
        match request.send().await {
            Ok(output) => {
                let item = output.attributes.unwrap_or_default();
                Ok(Some(record_from_item(&item)?))
            }
            Err(err) if failed_condition(&err) => {
                debug!("another request took the idempotency key over first");
                Ok(None)
            }
            Err(err) => Err(sdk_error(DYNAMODB, "take over an idempotency key", err)),
        }
    }

    #[instrument(skip_all, fields(order_id = %record.order_id, status = response.status))]
    async fn complete(&self, record: &IdempotencyRecord, response: &StoredResponse) -> Result<()> {
        let Some(held) = self.held(record) else {
            return Ok(());
        };
        let result = held
            .update_expression("SET #status = :status, #body = :body REMOVE #lease")
            .expression_attribute_names("#status", attr::RESPONSE_STATUS)
            .expression_attribute_names("#body", attr::RESPONSE_BODY)
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(":body", s(response.body.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if failed_condition(&err) => {
                debug!("idempotency key no longer held; response not stored");
                Ok(())
            }
            Err(err) => Err(sdk_error(DYNAMODB, "store an idempotent response", err)),
        }
    }

    #[instrument(skip_all, fields(order_id = %record.order_id))]
    async fn release(&self, record: &IdempotencyRecord) -> Result<()> {
        let Some(held) = self.held(record) else {
            return Ok(());
        };
        let result = held.update_expression("REMOVE #lease").send().await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if failed_condition(&err) => {
                debug!("idempotency key no longer held; nothing to release");
                Ok(())
            }
            Err(err) => Err(sdk_error(DYNAMODB, "release an idempotency key", err)),
        }
    }
}

impl DynamoIdempotencyStore {
    /// An update that applies only while the caller still holds `record`'s lease; `None` for a
    /// record without a lease, which no request holds.
    fn held(&self, record: &IdempotencyRecord) -> Option<UpdateItemFluentBuilder> {
        let lease = record.lease_until.as_ref()?;
        Some(
            self.client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key_of(&record.key)))
                .condition_expression("#fingerprint = :fingerprint AND #lease = :lease")
                .expression_attribute_names("#lease", attr::LEASE_UNTIL)
                .expression_attribute_names("#fingerprint", attr::FINGERPRINT)
                .expression_attribute_values(":fingerprint", s(record.fingerprint.as_str()))
                .expression_attribute_values(":lease", ts(lease)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::schema::TABLES;
    use orderflow_types::{UserId, time};

    #[test]
    fn key_and_ttl_attributes_match_the_schema() {
        let spec = &TABLES[table::IDEMPOTENCY];
        assert_eq!(spec.hash_key, attr::KEY);
        assert_eq!(spec.ttl_attribute.as_deref(), Some(attr::EXPIRES_AT));
    }

    #[test]
    fn records_round_trip_and_never_expire_early() {
        let at = time::parse("2026-11-25T20:04:05.123Z").unwrap();
        let mut record = IdempotencyRecord {
            key: IdempotencyKey::new(&UserId::parse("u-1").unwrap(), "k-1").unwrap(),
            fingerprint: "f".into(),
            order_id: OrderId::parse("o-1").unwrap(),
            accepted_at: at,
            expires_at: time::parse("2026-11-26T20:04:05Z").unwrap(),
            lease_until: Some(at + chrono::TimeDelta::seconds(30)),
            response: Some(StoredResponse {
                status: 201,
                body: "{}".into(),
            }),
        };
        assert_eq!(record_from_item(&record_to_item(&record)).unwrap(), record);
        record.expires_at = time::parse("2026-11-26T20:04:05.001Z").unwrap();
        let read = record_from_item(&record_to_item(&record)).unwrap();
        assert_eq!(time::format(&read.expires_at), "2026-11-26T20:04:06.000Z");
    }
}

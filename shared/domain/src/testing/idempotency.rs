//! The in-memory [`IdempotencyStore`] and the contract it shares with the DynamoDB adapter:
//! [`idempotency_contract_tests!`](crate::idempotency_contract_tests) turns each function here into
//! a test for a given store.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::TimeDelta;
use orderflow_types::{OrderId, Timestamp, UserId, time};

use crate::error::Result;
use crate::ports::{Claim, IdempotencyKey, IdempotencyRecord, IdempotencyStore, StoredResponse};

/// Idempotency records in memory, with the adapter's conditions.
#[derive(Debug, Default)]
pub struct InMemoryIdempotencyStore {
    records: Mutex<HashMap<String, IdempotencyRecord>>,
}

impl InMemoryIdempotencyStore {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, IdempotencyRecord>) -> R) -> R {
        // A panicking test must not hide its cause behind poisoned-lock panics in others.
        let mut records = self
            .records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut records)
    }
}

/// Whether `stored` is still the record `held` was when its holder took it.
fn still_held(stored: &IdempotencyRecord, held: &IdempotencyRecord) -> bool {
    held.lease_until.is_some()
        && stored.fingerprint == held.fingerprint
        && stored.lease_until == held.lease_until
}

impl IdempotencyStore for InMemoryIdempotencyStore {
    async fn claim(&self, record: &IdempotencyRecord, now: Timestamp) -> Result<Claim> {
        self.with(|records| match records.get(record.key.as_str()) {
            Some(existing) if existing.expires_at > now => Ok(Claim::Taken(existing.clone())),
            _ => {
                records.insert(record.key.as_str().to_owned(), record.clone());
                Ok(Claim::Claimed)
            }
        })
    }

    async fn take_over(
        &self,
        existing: &IdempotencyRecord,
        lease_until: Timestamp,
    ) -> Result<Option<IdempotencyRecord>> {
        self.with(|records| match records.get_mut(existing.key.as_str()) {
            Some(stored)
                if stored.fingerprint == existing.fingerprint
                    && stored.accepted_at == existing.accepted_at
                    && stored.response.is_none()
                    && stored.lease_until == existing.lease_until =>
            {
                stored.lease_until = Some(lease_until);
                Ok(Some(stored.clone()))
            }
            _ => Ok(None),
        })
    }

    async fn complete(&self, record: &IdempotencyRecord, response: &StoredResponse) -> Result<()> {
        self.with(|records| {
            if let Some(stored) = records.get_mut(record.key.as_str())
                && still_held(stored, record)
            {
                stored.response = Some(response.clone());
                stored.lease_until = None;
            }
            Ok(())
        })
    }

    async fn release(&self, record: &IdempotencyRecord) -> Result<()> {
        self.with(|records| {
            if let Some(stored) = records.get_mut(record.key.as_str())
                && still_held(stored, record)
            {
                stored.lease_until = None;
            }
            Ok(())
        })
    }
}

fn at(second: u32) -> Timestamp {
    time::parse(&format!("2026-11-25T20:00:{second:02}Z")).expect("valid time")
}

fn record(user: &str, key: &str, fingerprint: &str, now: Timestamp) -> IdempotencyRecord {
    IdempotencyRecord {
        key: IdempotencyKey::new(&UserId::parse(user).expect("valid user"), key)
            .expect("valid key"),
        fingerprint: fingerprint.into(),
        order_id: OrderId::parse(format!("order-{fingerprint}")).expect("valid id"),
        accepted_at: now,
        expires_at: now + TimeDelta::seconds(30),
        lease_until: Some(now + TimeDelta::seconds(10)),
        response: None,
    }
}

/// The record as stored now, read through a claim that cannot succeed.
async fn current<S: IdempotencyStore>(store: &S, held: &IdempotencyRecord) -> IdempotencyRecord {
    let probe = IdempotencyRecord {
        fingerprint: "probe".into(),
        ..held.clone()
    };
    match store.claim(&probe, held.accepted_at).await.expect("claim") {
        Claim::Taken(stored) => stored,
        Claim::Claimed => panic!("the record was gone; the probe claimed its key"),
    }
}

fn response(status: u16) -> StoredResponse {
    StoredResponse {
        status,
        body: format!(r#"{{"status":{status}}}"#),
    }
}

pub async fn a_free_key_is_claimed_once<S: IdempotencyStore>(store: &S) {
    let first = record("u-1", "k", "one", at(0));
    assert_eq!(
        store.claim(&first, at(0)).await.expect("claim"),
        Claim::Claimed
    );
    let second = record("u-1", "k", "two", at(1));
    assert_eq!(
        store.claim(&second, at(1)).await.expect("claim again"),
        Claim::Taken(first)
    );
}

pub async fn keys_are_scoped_to_their_user<S: IdempotencyStore>(store: &S) {
    for user in ["u-1", "u-2"] {
        let claimed = store.claim(&record(user, "k", user, at(0)), at(0)).await;
        assert_eq!(claimed.expect("claim"), Claim::Claimed, "{user}");
    }
}

pub async fn an_expired_record_frees_its_key<S: IdempotencyStore>(store: &S) {
    let old = record("u-1", "k", "old", at(0));
    store.claim(&old, at(0)).await.expect("claim");
    let late = old.expires_at;
    let new = record("u-1", "k", "new", late);
    assert_eq!(
        store.claim(&new, late).await.expect("claim"),
        Claim::Claimed
    );
    assert_eq!(current(store, &new).await, new);
}

pub async fn only_the_holder_completes_and_the_response_is_kept<S: IdempotencyStore>(store: &S) {
    let held = record("u-1", "k", "f", at(0));
    store.claim(&held, at(0)).await.expect("claim");
    let impostor = IdempotencyRecord {
        lease_until: Some(at(9)),
        ..held.clone()
    };
    store
        .complete(&impostor, &response(500))
        .await
        .expect("complete");
    assert_eq!(current(store, &held).await.response, None);

    store
        .complete(&held, &response(201))
        .await
        .expect("complete");
    let completed = current(store, &held).await;
    assert_eq!(
        (completed.response, completed.lease_until),
        (Some(response(201)), None)
    );
    assert_eq!(
        store
            .take_over(&current(store, &held).await, at(20))
            .await
            .expect("take over"),
        None,
        "a completed request is never resumed"
    );
}

pub async fn a_released_record_is_taken_over_by_one_retry<S: IdempotencyStore>(store: &S) {
    let held = record("u-1", "k", "f", at(0));
    store.claim(&held, at(0)).await.expect("claim");
    store.release(&held).await.expect("release");
    let released = current(store, &held).await;
    assert_eq!(released.lease_until, None);

    let resumed = store
        .take_over(&released, at(25))
        .await
        .expect("take over")
        .expect("the released record is free");
    assert_eq!(
        (&resumed.order_id, resumed.accepted_at, resumed.lease_until),
        (&held.order_id, held.accepted_at, Some(at(25)))
    );
    assert_eq!(
        store.take_over(&released, at(26)).await.expect("take over"),
        None,
        "a second retry that read the same record loses"
    );
    store.release(&held).await.expect("release");
    assert_eq!(
        current(store, &held).await.lease_until,
        Some(at(25)),
        "the first holder no longer holds it and cannot release it"
    );
}

pub async fn a_record_whose_lease_ran_out_is_taken_over<S: IdempotencyStore>(store: &S) {
    let held = record("u-1", "k", "f", at(0));
    store.claim(&held, at(0)).await.expect("claim");
    let resumed = store
        .take_over(&held, at(20))
        .await
        .expect("take over")
        .expect("the lease matches");
    assert_eq!(resumed.lease_until, Some(at(20)));
    store
        .complete(&held, &response(201))
        .await
        .expect("complete");
    assert_eq!(
        current(store, &held).await.response,
        None,
        "the request that lost its lease stores nothing"
    );
    store
        .complete(&resumed, &response(201))
        .await
        .expect("complete");
    assert_eq!(current(store, &held).await.response, Some(response(201)));
}

/// Expands to one `#[tokio::test]` per idempotency contract function, each with a fresh store
/// from `$make` (an expression of a future that yields the store).
#[macro_export]
macro_rules! idempotency_contract_tests {
    ($make:expr) => {
        $crate::idempotency_contract_tests!(@tests $make;
            a_free_key_is_claimed_once,
            keys_are_scoped_to_their_user,
            an_expired_record_frees_its_key,
            only_the_holder_completes_and_the_response_is_kept,
            a_released_record_is_taken_over_by_one_retry,
            a_record_whose_lease_ran_out_is_taken_over,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let store = $make.await;
                $crate::testing::idempotency::$name(&store).await;
            }
        )+
    };
}

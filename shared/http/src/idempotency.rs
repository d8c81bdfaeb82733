//! `Idempotency-Key`: a POST sent again with the same key gets the first answer and changes
//! nothing twice.
//!
//! The first request claims the key with a record of what it asks for (a digest of the operation
//! and its input), the order it is about and when it was accepted, under a lease. When it reaches
//! a final answer (any status below 500) the answer is stored and every retry gets it back. When
//! it fails in a way a retry can fix (a 5xx), the lease is released and the next retry takes the
//! record over and runs the request again with the same order id and the same times, so the use
//! case resumes where the failed attempt stopped. A retry while another holds the lease waits
//! (409 with `Retry-After`), so one key never runs twice at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use lambda_http::http::StatusCode;
use lambda_http::http::header::HeaderValue;
use lambda_http::{Body, Response};
use orderflow_domain::error::cause_chain;
use orderflow_domain::ports::{
    Claim, IdempotencyKey, IdempotencyRecord, IdempotencyStore, StoredResponse,
};
use orderflow_types::{OrderId, Timestamp};
use sha2::{Digest, Sha256};
use tracing::{debug, info, warn};

use crate::error::ApiError;
use crate::response::{IDEMPOTENT_REPLAYED, body_text, raw_json_response};
use crate::routes::Operation;

/// How long a request holds its key. Longer than any invocation of an API function can run (API
/// Gateway stops waiting after 30 seconds and the functions' timeout is below that), so a lease
/// only runs out when its holder is gone.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// The order a request is about and when it was accepted: fresh for a new request, the first
/// attempt's for a retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub order_id: OrderId,
    pub accepted_at: Timestamp,
}

/// What a request asks for, as a digest: the operation and its canonical input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The digest of `operation` with `input`, the request's meaning in a canonical text form
    /// (the validated lines of an order, the id of the order to pay).
    pub fn of(operation: Operation, input: &str) -> Self {
        let mut digest = Sha256::new();
        digest.update(operation.operation_id().as_bytes());
        digest.update(b"\n");
        digest.update(input.as_bytes());
        Self(URL_SAFE_NO_PAD.encode(digest.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Runs requests under their `Idempotency-Key`s.
#[derive(Debug, Clone)]
pub struct Idempotency<K> {
    pub store: K,
    /// How long a key is remembered.
    pub ttl: TimeDelta,
}

impl<K: IdempotencyStore> Idempotency<K> {
    /// Runs `work` for the request unless its key says otherwise: without a key, `work` runs with
    /// `fresh`; with a key, as the module documentation says. Failures of `work` and of the
    /// store become responses here.
    pub async fn run<F, Fut>(
        &self,
        key: Option<IdempotencyKey>,
        fingerprint: Fingerprint,
        fresh: Attempt,
        now: Timestamp,
        work: F,
    ) -> Response<Body>
    where
        F: FnOnce(Attempt) -> Fut,
        Fut: Future<Output = Result<Response<Body>, ApiError>>,
    {
        let Some(key) = key else {
            return respond(work(fresh).await);
        };
        let held = match self.hold(key, fingerprint, fresh, now).await {
            Ok(Held::Record(record)) => record,
            Ok(Held::Replay(response)) => return response,
            Err(err) => return err.respond(),
        };
        crate::record_order_id(&held.order_id);
        let response = respond(
            work(Attempt {
                order_id: held.order_id.clone(),
                accepted_at: held.accepted_at,
            })
            .await,
        );
        let status = response.status();
        let outcome = if status.is_server_error() {
            // A retry may succeed: let the next one take over at once.
            self.store.release(&held).await
        } else {
            let stored = StoredResponse {
                status: status.as_u16(),
                body: body_text(&response).to_owned(),
            };
            self.store.complete(&held, &stored).await
        };
        if let Err(err) = outcome {
            // The answer stands; a retry finds the record held until its lease runs out, and then
            // resumes a request whose every step is idempotent.
            warn!(error = %cause_chain(&err), "idempotency record not updated");
        }
        response
    }

    async fn hold(
        &self,
        key: IdempotencyKey,
        fingerprint: Fingerprint,
        fresh: Attempt,
        now: Timestamp,
    ) -> Result<Held, ApiError> {
        let record = IdempotencyRecord {
            key,
            fingerprint: fingerprint.0,
            order_id: fresh.order_id,
            accepted_at: fresh.accepted_at,
            expires_at: now + self.ttl,
            lease_until: Some(now + LEASE),
            response: None,
        };
        let existing = match self.store.claim(&record, now).await? {
            Claim::Claimed => return Ok(Held::Record(record)),
            // This request's own claim: the write was applied, its answer was lost, and the
            // SDK's retry of the write found it. Another request's record differs in its order id
            // (a new one for each creation) or in when it was accepted, to the millisecond; two
            // requests for the same order with the same key in the same millisecond may both
            // run, and paying and cancelling apply once whoever runs them. The expiry is not
            // compared: the store keeps it to the second, for DynamoDB's TTL.
            Claim::Taken(existing)
                if existing.key == record.key
                    && existing.fingerprint == record.fingerprint
                    && existing.order_id == record.order_id
                    && existing.accepted_at == record.accepted_at
                    && existing.lease_until == record.lease_until
                    && existing.response.is_none() =>
            {
                debug!(order_id = %record.order_id, "the claim was applied before; holding it");
                return Ok(Held::Record(record));
            }
            Claim::Taken(existing) => existing,
        };
        if existing.fingerprint != record.fingerprint {
            return Err(ApiError::IdempotencyKeyReused);
        }
        if let Some(stored) = existing.response {
            info!(order_id = %existing.order_id, status = stored.status, "replaying the stored response");
            return Ok(Held::Replay(replay(stored)));
        }
        if existing.lease_until.is_some_and(|lease| lease > now) {
            return Err(ApiError::IdempotencyKeyInUse);
        }
        match self.store.take_over(&existing, now + LEASE).await? {
            Some(resumed) => {
                debug!(order_id = %resumed.order_id, "resuming an interrupted request");
                Ok(Held::Record(resumed))
            }
            // Another retry took it over (or finished it) between the read and the write.
            None => Err(ApiError::IdempotencyKeyInUse),
        }
    }
}

enum Held {
    Record(IdempotencyRecord),
    Replay(Response<Body>),
}

fn respond(result: Result<Response<Body>, ApiError>) -> Response<Body> {
    result.unwrap_or_else(ApiError::respond)
}

fn replay(stored: StoredResponse) -> Response<Body> {
    // A status that was stored was valid when it was; an unreadable one is corrupt data.
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = raw_json_response(status, stored.body);
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use orderflow_domain::testing::InMemoryIdempotencyStore;
    use orderflow_types::{UserId, time};

    use super::*;
    use crate::response::json_response;

    fn key(raw: &str) -> Option<IdempotencyKey> {
        Some(IdempotencyKey::new(&UserId::parse("u-1").unwrap(), raw).unwrap())
    }

    fn at(second: i64) -> Timestamp {
        time::parse("2026-11-25T20:00:00Z").unwrap() + TimeDelta::seconds(second)
    }

    fn attempt(id: &str, second: i64) -> Attempt {
        Attempt {
            order_id: OrderId::parse(id).unwrap(),
            accepted_at: at(second),
        }
    }

    fn idempotency() -> Idempotency<InMemoryIdempotencyStore> {
        Idempotency {
            store: InMemoryIdempotencyStore::default(),
            ttl: TimeDelta::hours(24),
        }
    }

    /// Work that answers with the order id it ran for, with `status`.
    async fn answer(status: StatusCode, attempt: Attempt) -> Result<Response<Body>, ApiError> {
        json_response(status, &serde_json::json!({"order_id": attempt.order_id}))
    }

    #[test]
    fn fingerprints_depend_on_operation_and_input() {
        let create = Fingerprint::of(Operation::CreateOrder, "a:1");
        assert_eq!(create, Fingerprint::of(Operation::CreateOrder, "a:1"));
        assert_ne!(create, Fingerprint::of(Operation::CreateOrder, "a:2"));
        assert_ne!(create, Fingerprint::of(Operation::PayOrder, "a:1"));
    }

    #[tokio::test]
    async fn a_final_answer_is_replayed_without_running_again() {
        let idempotency = idempotency();
        let fingerprint = Fingerprint::of(Operation::CreateOrder, "a:1");
        let first = idempotency
            .run(
                key("k"),
                fingerprint.clone(),
                attempt("o-1", 0),
                at(0),
                |a| answer(StatusCode::CREATED, a),
            )
            .await;
        assert_eq!(first.status(), StatusCode::CREATED);
        let again = idempotency
            .run(key("k"), fingerprint, attempt("o-2", 5), at(5), |_| async {
                panic!("a completed request does not run again")
            })
            .await;
        assert_eq!(again.status(), StatusCode::CREATED);
        assert_eq!(body_text(&again), body_text(&first));
        assert_eq!(again.headers()[IDEMPOTENT_REPLAYED], "true");
    }

    #[tokio::test]
    async fn a_failed_attempt_is_resumed_with_its_order_and_time() {
        let idempotency = idempotency();
        let fingerprint = Fingerprint::of(Operation::CreateOrder, "a:1");
        let failed = idempotency
            .run(
                key("k"),
                fingerprint.clone(),
                attempt("o-1", 0),
                at(0),
                |a| answer(StatusCode::SERVICE_UNAVAILABLE, a),
            )
            .await;
        assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
        let mut resumed_with = None;
        let retried = idempotency
            .run(key("k"), fingerprint, attempt("o-2", 5), at(5), |a| {
                resumed_with = Some(a.clone());
                answer(StatusCode::CREATED, a)
            })
            .await;
        assert_eq!(retried.status(), StatusCode::CREATED);
        assert_eq!(resumed_with, Some(attempt("o-1", 0)));
    }

    #[tokio::test]
    async fn a_different_request_with_the_key_is_refused() {
        let idempotency = idempotency();
        idempotency
            .run(
                key("k"),
                Fingerprint::of(Operation::CreateOrder, "a:1"),
                attempt("o-1", 0),
                at(0),
                |a| answer(StatusCode::CREATED, a),
            )
            .await;
        let other = idempotency
            .run(
                key("k"),
                Fingerprint::of(Operation::CreateOrder, "a:2"),
                attempt("o-2", 1),
                at(1),
                |_| async { panic!("a reused key runs nothing") },
            )
            .await;
        assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    /// A store whose claims are written twice, as when the answer to the first write was lost and
    /// the SDK sent it again: the caller sees the second answer.
    struct ClaimRetried(InMemoryIdempotencyStore);

    impl IdempotencyStore for ClaimRetried {
        async fn claim(
            &self,
            record: &IdempotencyRecord,
            now: Timestamp,
        ) -> orderflow_domain::Result<Claim> {
            self.0.claim(record, now).await?;
            self.0.claim(record, now).await
        }

        async fn take_over(
            &self,
            existing: &IdempotencyRecord,
            lease_until: Timestamp,
        ) -> orderflow_domain::Result<Option<IdempotencyRecord>> {
            self.0.take_over(existing, lease_until).await
        }

        async fn complete(
            &self,
            record: &IdempotencyRecord,
            response: &StoredResponse,
        ) -> orderflow_domain::Result<()> {
            self.0.complete(record, response).await
        }

        async fn release(&self, record: &IdempotencyRecord) -> orderflow_domain::Result<()> {
            self.0.release(record).await
        }
    }

    #[tokio::test]
    async fn a_claim_whose_answer_was_lost_is_held_by_the_request_that_made_it() {
        let idempotency = Idempotency {
            store: ClaimRetried(InMemoryIdempotencyStore::default()),
            ttl: TimeDelta::hours(24),
        };
        let fingerprint = Fingerprint::of(Operation::CreateOrder, "a:1");
        let first = idempotency
            .run(
                key("k"),
                fingerprint.clone(),
                attempt("o-1", 0),
                at(0),
                |a| answer(StatusCode::CREATED, a),
            )
            .await;
        assert_eq!(first.status(), StatusCode::CREATED, "not refused as in use");
        let replayed = idempotency
            .run(key("k"), fingerprint, attempt("o-2", 1), at(1), |_| async {
                panic!("a completed key runs nothing")
            })
            .await;
        assert_eq!(replayed.headers()[IDEMPOTENT_REPLAYED], "true");
    }

    #[tokio::test]
    async fn a_held_key_makes_others_wait_until_its_lease_runs_out() {
        let idempotency = idempotency();
        let fingerprint = Fingerprint::of(Operation::PayOrder, "o-1");
        let record = IdempotencyRecord {
            key: key("k").unwrap(),
            fingerprint: fingerprint.as_str().into(),
            order_id: OrderId::parse("o-1").unwrap(),
            accepted_at: at(0),
            expires_at: at(0) + TimeDelta::hours(24),
            lease_until: Some(at(0) + LEASE),
            response: None,
        };
        // A request that holds the key and has not finished.
        idempotency.store.claim(&record, at(0)).await.unwrap();
        let waiting = idempotency
            .run(
                key("k"),
                fingerprint.clone(),
                attempt("o-1", 1),
                at(1),
                |_| async { panic!("a held key runs nothing") },
            )
            .await;
        assert_eq!(waiting.status(), StatusCode::CONFLICT);
        assert!(waiting.headers().contains_key("retry-after"));
        let after_lease = at(0) + LEASE;
        let taken_over = idempotency
            .run(
                key("k"),
                fingerprint,
                attempt("o-1", 61),
                after_lease,
                |a| answer(StatusCode::OK, a),
            )
            .await;
        assert_eq!(taken_over.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn an_expired_key_starts_a_new_request() {
        let idempotency = idempotency();
        let fingerprint = Fingerprint::of(Operation::CreateOrder, "a:1");
        idempotency
            .run(
                key("k"),
                fingerprint.clone(),
                attempt("o-1", 0),
                at(0),
                |a| answer(StatusCode::CREATED, a),
            )
            .await;
        let next_day = at(0) + TimeDelta::hours(24);
        let fresh = idempotency
            .run(key("k"), fingerprint, attempt("o-2", 0), next_day, |a| {
                answer(StatusCode::CREATED, a)
            })
            .await;
        assert!(body_text(&fresh).contains("o-2"), "{}", body_text(&fresh));
        assert!(!fresh.headers().contains_key(IDEMPOTENT_REPLAYED));
    }
}

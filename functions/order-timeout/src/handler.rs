//! The Scheduler's invocation: announce the order's payment timeout, never before its deadline.
//!
//! EventBridge Scheduler runs a one-time schedule anywhere within the minute of its time, so it
//! can invoke this function up to 59 seconds before the deadline. [`announce_timeout`] publishes
//! nothing early; what this handler does then depends on how much of the invocation is left:
//!
//! - If the deadline comes before the invocation's own deadline, less `publish_reserve` (the time
//!   a publish may take), it waits for it and publishes. With the function timeout in `infra/`
//!   (15 s) and the Kafka delivery timeout (5 s), that covers early invocations of up to ~9 s at
//!   the price of a few seconds of billed, idle time.
//! - Otherwise it fails with [`HandlerError::NotYetDue`] and publishes nothing. The Scheduler
//!   invokes Lambda asynchronously, so Lambda retries the event (twice, one and then two minutes
//!   later, as `aws_lambda_function_event_invoke_config` in `infra/` configures), by when the
//!   deadline has passed; an invocation that still fails lands in the payment timeouts queue.
//!   Waiting up to a minute in every invocation instead would bill a minute per order and need a
//!   function timeout above 60 s.

use std::time::{Duration, SystemTime};

use lambda_runtime::{Diagnostic, LambdaEvent};
use orderflow_adapters::system::{SystemClock, UuidV7Ids};
use orderflow_domain::error::cause_chain;
use orderflow_domain::expiry::{Announcement, announce_timeout};
use orderflow_domain::ports::EventPublisher;
use orderflow_types::{PaymentTimeout, Timestamp};
use serde_json::Value;
use tracing::{error, info, warn};

/// What the handler needs, built once per cold start.
pub struct Deps<P> {
    publisher: P,
    clock: SystemClock,
    ids: UuidV7Ids,
    /// The part of an invocation's time kept for publishing after a wait for the deadline.
    publish_reserve: Duration,
}

impl<P: EventPublisher> Deps<P> {
    /// `publish_reserve` is how long a publish may take: the producer's delivery timeout and a
    /// margin.
    pub fn new(publisher: P, publish_reserve: Duration) -> Self {
        Self {
            publisher,
            clock: SystemClock,
            ids: UuidV7Ids,
            publish_reserve,
        }
    }
}

/// Every failure fails the invocation: Lambda retries it per the function's asynchronous
/// invocation settings and then hands the event to its on-failure destination, so nothing is
/// dropped silently.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the payload is not a payment timeout: {0}")]
    InvalidPayload(#[from] serde_json::Error),
    /// Invoked too long before the deadline to wait for it; a retry after it succeeds.
    #[error(
        "the payment is due at {due_at}, {} ms after this invocation could wait for; the retry announces it",
        .remaining.as_millis()
    )]
    NotYetDue {
        due_at: Timestamp,
        remaining: Duration,
    },
    #[error(transparent)]
    Publish(#[from] orderflow_domain::Error),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::InvalidPayload(_) => "InvalidPayload",
            HandlerError::NotYetDue { .. } => "PaymentNotYetDue",
            HandlerError::Publish(err) if err.is_retryable() => "KafkaUnavailable",
            HandlerError::Publish(_) => "KafkaRejected",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle<P: EventPublisher>(
    deps: &Deps<P>,
    event: LambdaEvent<Value>,
) -> Result<(), HandlerError> {
    let timeout: PaymentTimeout = serde_json::from_value(event.payload).inspect_err(|err| {
        error!(request_id = %event.context.request_id, reason = %err, "rejected payment timeout payload");
    })?;
    let order_id = &timeout.order_id;
    let invocation_deadline = event.context.deadline();
    loop {
        let announced = announce_timeout(&deps.publisher, &deps.clock, &deps.ids, &timeout)
            .await
            .inspect_err(
                |err| error!(%order_id, error = %cause_chain(err), "timeout not published"),
            )?;
        let Announcement::NotYetDue { remaining } = announced else {
            return Ok(());
        };
        let can_wait = invocation_deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .saturating_sub(deps.publish_reserve);
        if remaining > can_wait {
            warn!(%order_id, remaining_ms = remaining.as_millis() as u64, "invoked before the payment deadline; failing so that the retry comes after it");
            return Err(HandlerError::NotYetDue {
                due_at: timeout.payment_due_at,
                remaining,
            });
        }
        info!(%order_id, remaining_ms = remaining.as_millis() as u64, "invoked before the payment deadline; waiting for it");
        tokio::time::sleep(remaining).await;
    }
}

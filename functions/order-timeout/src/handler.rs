use lambda_runtime::{Diagnostic, LambdaEvent};
use orderflow_core::adapters::system::{SystemClock, UuidV7Ids};
use orderflow_core::error::chain;
use orderflow_core::ports::EventPublisher;
use orderflow_core::timeouts::announce_timeout;
use orderflow_types::PaymentTimeout;
use serde_json::Value;
use tracing::error;

/// What the handler needs, built once per cold start.
pub struct Deps<P> {
    publisher: P,
    clock: SystemClock,
    ids: UuidV7Ids,
}

impl<P: EventPublisher> Deps<P> {
    pub fn new(publisher: P) -> Self {
        Self {
            publisher,
            clock: SystemClock,
            ids: UuidV7Ids,
        }
    }
}

/// Every failure fails the invocation: the Scheduler retries it per the schedule's retry policy
/// and then hands the payload to its dead-letter queue, so nothing is dropped silently.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("the payload is not a payment timeout: {0}")]
    InvalidPayload(#[from] serde_json::Error),
    #[error(transparent)]
    Publish(#[from] orderflow_core::Error),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::InvalidPayload(_) => "InvalidPayload",
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
    announce_timeout(&deps.publisher, &deps.clock, &deps.ids, &timeout)
        .await
        .inspect_err(|err| error!(order_id = %timeout.order_id, error = %chain(err), "timeout not published"))?;
    Ok(())
}

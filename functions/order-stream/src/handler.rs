//! One batch of the orders table's stream: decode every record, publish the event of every status
//! transition ([`announce_changes`]), and answer with the earliest record not done, where Lambda
//! resumes the shard.
//!
//! A record that fails (it does not decode, or its event was not acknowledged) is reported, not
//! raised: the invocation succeeds with a partial batch response, and the event source mapping
//! retries from that record, which a retry may fix (the broker is back) or not (the mapping's
//! retries run out and the record goes to its on-failure destination). Only an invocation that is
//! no stream event at all fails, since no record of it can be named.

use lambda_runtime::{Diagnostic, LambdaEvent};
use orderflow_adapters::dynamodb::stream::{StreamBatchResponse, StreamEvent, decode_event};
use orderflow_domain::outbox::announce_changes;
use orderflow_domain::ports::EventPublisher;
use serde_json::Value;
use tracing::{error, info, warn};

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The payload has no stream records: a misrouted invocation, not a batch to retry from.
    #[error("the event is not a DynamoDB Streams event: {0}")]
    NotAStreamEvent(#[from] serde_json::Error),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::NotAStreamEvent(_) => "NotAStreamEvent",
        };
        Diagnostic {
            error_type: error_type.into(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle<P: EventPublisher>(
    publisher: &P,
    event: LambdaEvent<Value>,
) -> Result<StreamBatchResponse, HandlerError> {
    let stream: StreamEvent = serde_json::from_value(event.payload).inspect_err(|err| {
        error!(request_id = %event.context.request_id, reason = %err, "rejected a payload that is not a stream event");
    })?;
    let announced = announce_changes(publisher, decode_event(&stream)).await;
    let resume_at = announced.earliest_failure();
    if let Some(sequence_number) = resume_at {
        warn!(
            sequence_number,
            failed = announced.failed.len(),
            held_back = announced.held_back,
            "the shard resumes at the earliest failed record"
        );
    }
    info!(
        records = stream.records.len(),
        published = announced.published,
        unchanged = announced.unchanged,
        "batch announced"
    );
    Ok(StreamBatchResponse::resume_at(resume_at))
}

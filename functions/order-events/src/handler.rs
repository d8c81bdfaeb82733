use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use orderflow_adapters::msk::{KafkaBatchResponse, decode_event};
use orderflow_domain::consumer::EventConsumer;
use orderflow_domain::metrics::{self, Metric};
use orderflow_domain::ports::ConsumerPorts;
use tracing::{info, warn};

/// What the handler needs, built once per cold start.
pub struct Deps<P: ConsumerPorts> {
    pub consumer: EventConsumer<P>,
    /// Answer with a partial batch response (`true`), or fail the whole invocation.
    pub report_batch_item_failures: bool,
}

/// Only with `REPORT_BATCH_ITEM_FAILURES=false`: the batch is retried whole, and every effect
/// already applied is idempotent.
#[derive(Debug, thiserror::Error)]
#[error("records not processed in {partitions} partition(s); the batch will be retried")]
pub struct HandlerError {
    pub partitions: usize,
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: "BatchIncomplete".into(),
            error_message: error.to_string(),
        }
    }
}

pub async fn handle<P: ConsumerPorts>(
    deps: &Deps<P>,
    event: LambdaEvent<KafkaEvent>,
) -> Result<KafkaBatchResponse, HandlerError> {
    let partitions = decode_event(&event.payload).into_iter().collect();
    let outcome = deps.consumer.process_batch(partitions).await;
    info!(
        request_id = %event.context.request_id,
        done = outcome.done,
        dead_lettered = outcome.dead_lettered,
        stopped_partitions = outcome.stopped_at.len(),
        "batch processed"
    );
    metrics::counts(&[
        (Metric::RecordsDeadLettered, outcome.dead_lettered as u64),
        (Metric::PartitionsStopped, outcome.stopped_at.len() as u64),
    ]);
    if outcome.stopped_at.is_empty() || deps.report_batch_item_failures {
        return Ok(KafkaBatchResponse::from_failures(outcome.stopped_at));
    }
    warn!("failing the invocation so that the whole batch is retried");
    Err(HandlerError {
        partitions: outcome.stopped_at.len(),
    })
}

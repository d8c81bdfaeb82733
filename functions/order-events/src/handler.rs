use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_runtime::{Diagnostic, LambdaEvent};
use orderflow_core::adapters::msk::{KafkaBatchResponse, decode_event};
use orderflow_core::adapters::system::{SystemClock, UuidV7Ids};
use orderflow_core::events::{Consumer, DeadLetters};
use orderflow_core::metrics::{self, Metric};
use orderflow_core::ports::{EventPublisher, NotificationStore, OrderStore, SalesStore};
use tracing::{info, warn};

/// What the handler needs, built once per cold start.
pub struct Deps<S, P, D> {
    consumer: Consumer<S, P, D, SystemClock, UuidV7Ids>,
    report_batch_item_failures: bool,
}

impl<S, P, D> Deps<S, P, D> {
    pub fn new(store: S, publisher: P, dead_letters: D, report_batch_item_failures: bool) -> Self {
        let consumer = Consumer {
            store,
            publisher,
            dead_letters,
            clock: SystemClock,
            ids: UuidV7Ids,
        };
        Self {
            consumer,
            report_batch_item_failures,
        }
    }
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

pub async fn handle<S, P, D>(
    deps: &Deps<S, P, D>,
    event: LambdaEvent<KafkaEvent>,
) -> Result<KafkaBatchResponse, HandlerError>
where
    S: OrderStore + NotificationStore + SalesStore,
    P: EventPublisher,
    D: DeadLetters,
{
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

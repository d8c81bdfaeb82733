//! What the function does when Lambda shuts its execution environment down.

use std::time::Duration;

use orderflow_adapters::kafka::KafkaPublisher;

/// How long the flush may take. Lambda gives a function with an internal extension (the runtime's
/// graceful shutdown hook registers one) 500 ms after SIGTERM; the rest is for the log line.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_millis(400);

/// Waits until every record the producer still holds (an event or a dead letter of an invocation
/// cut short) is acknowledged, so none is lost with the environment. Logs what it could not send.
pub fn flush_at_shutdown(publisher: &KafkaPublisher) {
    if let Err(err) = publisher.flush(SHUTDOWN_FLUSH) {
        tracing::error!(error = %err, "producer not flushed at shutdown");
    }
}

//! The Amazon MSK event source mapping, locally: consumes a topic with its own consumer group,
//! hands batches to a function as `KafkaEvent`s, and commits offsets only for what the function
//! reports done.
//!
//! As in AWS: a batch closes when it holds `batch_size` records or when `batching_window` has
//! passed since its first record; records are grouped under `"<topic>-<partition>"` with base64
//! keys and values and headers as signed byte arrays; a partial batch response
//! (`batchItemFailures`) resumes each named partition at the named offset; an invocation error
//! redelivers the whole batch, after a backoff, for as long as it takes.

use std::collections::BTreeMap;
use std::time::Duration;

use orderflow_core::adapters::kafka::KafkaConfig;
use orderflow_core::adapters::msk::{KafkaBatchResponse, KafkaEventBuilder, partition_key};
use orderflow_core::events::RawRecord;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::lambda::{Invoke, LocalLambda};

#[derive(Debug, Clone)]
pub struct MskSettings {
    pub kafka: KafkaConfig,
    pub topic: String,
    /// The consumer group, as the mapping's `ConsumerGroupId`.
    pub group_id: String,
    pub function: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    /// Reported as the event's `eventSourceArn`.
    pub event_source_arn: String,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the mapping until the task is dropped.
pub async fn run(settings: MskSettings, lambda: LocalLambda) -> Result<(), BoxError> {
    let consumer: StreamConsumer = settings
        .kafka
        .client_config()
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&settings.topic])?;
    info!(topic = %settings.topic, function = %settings.function, group = %settings.group_id, "MSK event source mapping started");

    let mut backoff = Backoff::default();
    loop {
        let batch = next_batch(&consumer, &settings).await;
        let event = batch
            .iter()
            .fold(
                KafkaEventBuilder::new(
                    &settings.event_source_arn,
                    &settings.kafka.bootstrap_servers,
                ),
                |builder, (record, timestamp)| builder.record(record, *timestamp),
            )
            .build();
        let payload = serde_json::to_value(&event)?;
        let first = first_offsets(&batch);
        match lambda.invoke(&settings.function, &payload).await {
            Ok(response) => {
                backoff.reset();
                // An empty or absent response means every record is done.
                let response: KafkaBatchResponse =
                    serde_json::from_value(response).unwrap_or_default();
                let failed: BTreeMap<String, i64> = response
                    .batch_item_failures
                    .into_iter()
                    .map(|f| (f.item_identifier.partition, f.item_identifier.offset))
                    .collect();
                let mut commit = TopicPartitionList::new();
                for ((topic, partition), (_, last)) in &first {
                    let resume = failed
                        .get(&partition_key(topic, i64::from(*partition)))
                        .copied();
                    let next = resume.unwrap_or(last + 1);
                    commit.add_partition_offset(topic, *partition, Offset::Offset(next))?;
                    if let Some(offset) = resume {
                        warn!(
                            topic,
                            partition,
                            offset,
                            "function reported a failure; resuming the partition there"
                        );
                        consumer.seek(
                            topic,
                            *partition,
                            Offset::Offset(offset),
                            Duration::from_secs(5),
                        )?;
                    }
                }
                consumer.commit(&commit, CommitMode::Sync)?;
                info!(
                    records = batch.len(),
                    failures = failed.len(),
                    "batch delivered"
                );
            }
            Err(err) => {
                let wait = backoff.next();
                warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "invocation failed; the batch will be redelivered");
                for ((topic, partition), (start, _)) in &first {
                    consumer.seek(
                        topic,
                        *partition,
                        Offset::Offset(*start),
                        Duration::from_secs(5),
                    )?;
                }
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Waits for a first record, then collects until the batch is full or the window has passed.
async fn next_batch(consumer: &StreamConsumer, settings: &MskSettings) -> Vec<(RawRecord, i64)> {
    let mut batch = Vec::new();
    let mut deadline: Option<Instant> = None;
    while batch.len() < settings.batch_size {
        let received = match deadline {
            None => Ok(consumer.recv().await),
            Some(deadline) => tokio::time::timeout_at(deadline, consumer.recv()).await,
        };
        match received {
            Ok(Ok(message)) => {
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                batch.push((
                    RawRecord {
                        topic: message.topic().to_owned(),
                        partition: i64::from(message.partition()),
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        value: message.payload().map(<[u8]>::to_vec),
                        headers,
                    },
                    message.timestamp().to_millis().unwrap_or_default(),
                ));
                deadline.get_or_insert_with(|| Instant::now() + settings.batching_window);
            }
            Ok(Err(err)) => warn!(error = %err, "consumer error"),
            Err(_) => break,
        }
    }
    batch
}

/// The first and last offset of each partition in the batch.
fn first_offsets(batch: &[(RawRecord, i64)]) -> BTreeMap<(String, i32), (i64, i64)> {
    let mut offsets: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for (record, _) in batch {
        let partition = i32::try_from(record.partition).unwrap_or_default();
        let entry = offsets
            .entry((record.topic.clone(), partition))
            .or_insert((record.offset, record.offset));
        entry.0 = entry.0.min(record.offset);
        entry.1 = entry.1.max(record.offset);
    }
    offsets
}

/// Exponential backoff from 500 ms to 30 s.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.failures += 1;
        Duration::from_millis(500 * 2u64.pow(self.failures.min(7) - 1)).min(Duration::from_secs(30))
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds_and_resets() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..8).map(|_| backoff.next().as_millis() as u64).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(500));
    }

    #[test]
    fn batches_are_bounded_per_partition() {
        let record = |partition, offset| {
            (
                RawRecord {
                    topic: "t".into(),
                    partition,
                    offset,
                    key: None,
                    value: None,
                    headers: vec![],
                },
                0,
            )
        };
        let offsets = first_offsets(&[record(0, 5), record(1, 2), record(0, 7), record(0, 6)]);
        assert_eq!(offsets[&("t".to_string(), 0)], (5, 7));
        assert_eq!(offsets[&("t".to_string(), 1)], (2, 2));
    }
}

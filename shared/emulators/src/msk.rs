//! The Amazon MSK event source mapping, locally: consumes a topic with its own consumer group,
//! hands batches to a function as `KafkaEvent`s, and commits offsets only for what the function
//! reports done.
//!
//! As in AWS: a batch closes when it holds `batch_size` records or when `batching_window` has
//! passed since its first record; the event JSON is AWS's ([`wire_json`]): records grouped under
//! `"<topic>-<partition>"`, base64 keys and values (absent when the record has none), headers as
//! signed byte arrays, numeric timestamps of the type the broker reports; a partial batch
//! response (`batchItemFailures`) resumes each named partition at the named offset; an invocation
//! error, or a response that is not a valid partial batch response for this batch, redelivers the
//! whole batch, after a backoff, for as long as it takes (the README lists what differs from
//! AWS).

use std::collections::BTreeMap;
use std::time::Duration;

use orderflow_adapters::kafka::{KafkaConfig, raw_record};
use orderflow_adapters::msk::{KafkaBatchResponse, KafkaEventBuilder, partition_key, wire_json};
use orderflow_domain::ports::RawRecord;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::lambda::Invoke;

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
pub async fn run<I: Invoke>(settings: MskSettings, lambda: I) -> Result<(), BoxError> {
    let consumer = consumer(&settings)?;
    info!(topic = %settings.topic, function = %settings.function, group = %settings.group_id, "MSK event source mapping started");
    let mut backoff = Backoff::default();
    loop {
        deliver_batch(&consumer, &settings, &lambda, &mut backoff).await?;
    }
}

/// The mapping's consumer: its own group, offsets committed only by [`deliver_batch`].
pub fn consumer(settings: &MskSettings) -> Result<StreamConsumer, BoxError> {
    let consumer: StreamConsumer = settings
        .kafka
        .client_config()
        .set("group.id", &settings.group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[&settings.topic])?;
    Ok(consumer)
}

/// What became of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The function took it; per partition, the offset committed (where the next batch starts).
    Committed(BTreeMap<(String, i32), i64>),
    /// The invocation failed; the batch is redelivered from its first records after `retry_in`.
    Failed { reason: String, retry_in: Duration },
}

/// Waits for a batch, invokes the function with it, and commits what the function reports done:
/// everything, or up to the offsets its `batchItemFailures` name, where each partition resumes.
/// A failed invocation (an error, a response that is not a valid partial batch response) commits
/// nothing and rewinds every partition of the batch.
pub async fn deliver_batch<I: Invoke>(
    consumer: &StreamConsumer,
    settings: &MskSettings,
    lambda: &I,
    backoff: &mut Backoff,
) -> Result<Delivered, BoxError> {
    let batch = next_batch(consumer, settings).await;
    let event = batch
        .iter()
        .fold(
            KafkaEventBuilder::new(
                &settings.event_source_arn,
                &settings.kafka.bootstrap_servers,
            ),
            |builder, (record, timestamp, timestamp_type)| {
                builder.record_with_timestamp_type(record, *timestamp, timestamp_type)
            },
        )
        .build();
    let payload = wire_json(&event)?;
    let offsets = first_offsets(&batch);
    let outcome = match lambda.invoke(&settings.function, &payload).await {
        Ok(response) => resume_offsets(&offsets, &response),
        Err(err) => Err(err.to_string()),
    };
    match outcome {
        Ok(resume) => {
            backoff.reset();
            let mut commit = TopicPartitionList::new();
            for ((topic, partition), (_, last)) in &offsets {
                let next = resume
                    .get(&(topic.clone(), *partition))
                    .copied()
                    .unwrap_or(last + 1);
                commit.add_partition_offset(topic, *partition, Offset::Offset(next))?;
                if next <= *last {
                    warn!(
                        topic,
                        partition,
                        offset = next,
                        "function reported a failure; resuming the partition there"
                    );
                    consumer.seek(
                        topic,
                        *partition,
                        Offset::Offset(next),
                        Duration::from_secs(5),
                    )?;
                }
            }
            consumer.commit(&commit, CommitMode::Sync)?;
            info!(records = batch.len(), "batch delivered");
            Ok(Delivered::Committed(resume))
        }
        Err(reason) => {
            let wait = backoff.next_wait();
            warn!(%reason, retry_in_ms = wait.as_millis() as u64, "invocation failed; the batch will be redelivered");
            for ((topic, partition), (start, _)) in &offsets {
                consumer.seek(
                    topic,
                    *partition,
                    Offset::Offset(*start),
                    Duration::from_secs(5),
                )?;
            }
            tokio::time::sleep(wait).await;
            Ok(Delivered::Failed {
                reason,
                retry_in: wait,
            })
        }
    }
}

/// Where each partition of a batch resumes, from the function's response: after the batch, or
/// at the offset a `batchItemFailures` entry names. A response that is not a partial batch
/// response, or that names a partition or offset the batch did not hold, fails the whole
/// invocation, as it does on AWS. An empty or absent response, or an empty or null list, means
/// everything is done.
pub fn resume_offsets(
    batch: &BTreeMap<(String, i32), (i64, i64)>,
    response: &serde_json::Value,
) -> Result<BTreeMap<(String, i32), i64>, String> {
    let mut resume: BTreeMap<(String, i32), i64> = batch
        .iter()
        .map(|(partition, (_, last))| (partition.clone(), last + 1))
        .collect();
    let failures = match response {
        serde_json::Value::Null => return Ok(resume),
        serde_json::Value::Object(fields) => match fields.get("batchItemFailures") {
            None | Some(serde_json::Value::Null) => return Ok(resume),
            Some(failures) => failures,
        },
        other => {
            return Err(format!(
                "the response is not a partial batch response: {other}"
            ));
        }
    };
    let response: KafkaBatchResponse =
        serde_json::from_value(serde_json::json!({ "batchItemFailures": failures }))
            .map_err(|err| format!("malformed batchItemFailures: {err}"))?;
    for failure in response.batch_item_failures {
        let named = failure.item_identifier;
        let partition = batch
            .iter()
            .find(|((topic, partition), _)| {
                partition_key(topic, i64::from(*partition)) == named.partition
            })
            .ok_or_else(|| {
                format!(
                    "batchItemFailures names {}, which is not in the batch",
                    named.partition
                )
            })?;
        let ((topic, number), (first, last)) = partition;
        if !(*first..=*last).contains(&named.offset) {
            return Err(format!(
                "batchItemFailures names offset {} of {}, outside the batch's {first}-{last}",
                named.offset, named.partition
            ));
        }
        let entry = resume
            .entry((topic.clone(), *number))
            .or_insert(named.offset);
        *entry = (*entry).min(named.offset);
    }
    Ok(resume)
}

/// Waits for a first record, then collects until the batch is full or the window has passed.
async fn next_batch(consumer: &StreamConsumer, settings: &MskSettings) -> Vec<BatchRecord> {
    let mut batch = Vec::new();
    let mut deadline: Option<Instant> = None;
    while batch.len() < settings.batch_size {
        let received = match deadline {
            None => Ok(consumer.recv().await),
            Some(deadline) => tokio::time::timeout_at(deadline, consumer.recv()).await,
        };
        match received {
            Ok(Ok(message)) => {
                let timestamp = match message.timestamp() {
                    Timestamp::CreateTime(ms) => (ms, "CREATE_TIME"),
                    Timestamp::LogAppendTime(ms) => (ms, "LOG_APPEND_TIME"),
                    Timestamp::NotAvailable => (-1, "NO_TIMESTAMP_TYPE"),
                };
                batch.push((raw_record(&message), timestamp.0, timestamp.1));
                deadline.get_or_insert_with(|| Instant::now() + settings.batching_window);
            }
            Ok(Err(err)) => warn!(error = %err, "consumer error"),
            Err(_) => break,
        }
    }
    batch
}

/// A consumed record with its timestamp and the timestamp's type.
type BatchRecord = (RawRecord, i64, &'static str);

/// The first and last offset of each partition in the batch.
pub fn first_offsets(batch: &[BatchRecord]) -> BTreeMap<(String, i32), (i64, i64)> {
    let mut offsets: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for (record, _, _) in batch {
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
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn next_wait(&mut self) -> Duration {
        self.failures += 1;
        Duration::from_millis(500 * 2u64.pow(self.failures.min(7) - 1)).min(Duration::from_secs(30))
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_thirty_seconds_and_resets() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..8)
            .map(|_| backoff.next_wait().as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(500));
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
                "CREATE_TIME",
            )
        };
        let offsets = first_offsets(&[record(0, 5), record(1, 2), record(0, 7), record(0, 6)]);
        assert_eq!(offsets[&("t".to_string(), 0)], (5, 7));
        assert_eq!(offsets[&("t".to_string(), 1)], (2, 2));
    }

    fn batch() -> BTreeMap<(String, i32), (i64, i64)> {
        BTreeMap::from([
            (("t".to_string(), 0), (5, 7)),
            (("t".to_string(), 1), (2, 2)),
        ])
    }

    #[test]
    fn an_empty_response_or_failure_list_commits_after_the_batch() {
        let after = BTreeMap::from([(("t".to_string(), 0), 8), (("t".to_string(), 1), 3)]);
        for response in [
            serde_json::Value::Null,
            serde_json::json!({}),
            serde_json::json!({"batchItemFailures": null}),
            serde_json::json!({"batchItemFailures": []}),
        ] {
            assert_eq!(
                resume_offsets(&batch(), &response),
                Ok(after.clone()),
                "{response}"
            );
        }
    }

    #[test]
    fn a_reported_failure_resumes_its_partition_there() {
        let response = serde_json::json!({"batchItemFailures": [
            {"itemIdentifier": {"partition": "t-0", "offset": 6}}
        ]});
        assert_eq!(
            resume_offsets(&batch(), &response),
            Ok(BTreeMap::from([
                (("t".to_string(), 0), 6),
                (("t".to_string(), 1), 3)
            ]))
        );
    }

    #[test]
    fn a_malformed_or_unmatched_response_fails_the_invocation() {
        for (response, reason) in [
            (
                serde_json::json!("done"),
                "the response is not a partial batch response: \"done\"",
            ),
            (
                serde_json::json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-0"}}]}),
                "malformed batchItemFailures: missing field `offset`",
            ),
            (
                serde_json::json!({"batchItemFailures": [{"itemIdentifier": null}]}),
                "malformed batchItemFailures: invalid type: null, expected struct KafkaItemIdentifier",
            ),
            (
                serde_json::json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-9", "offset": 5}}]}),
                "batchItemFailures names t-9, which is not in the batch",
            ),
            (
                serde_json::json!({"batchItemFailures": [{"itemIdentifier": {"partition": "t-0", "offset": 8}}]}),
                "batchItemFailures names offset 8 of t-0, outside the batch's 5-7",
            ),
        ] {
            assert_eq!(resume_offsets(&batch(), &response), Err(reason.to_string()));
        }
    }
}

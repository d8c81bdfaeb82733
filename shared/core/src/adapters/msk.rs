//! The Amazon MSK event source mapping's formats: the `KafkaEvent` a function receives (records
//! grouped under `"<topic>-<partition>"`, base64 key and value, headers as signed byte arrays) and
//! the partial batch response it may return. Both directions, so that tests and the local event
//! source emulator build exactly what AWS sends.

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::events::{Incoming, RawRecord};

/// The partition key the event source mapping groups records under.
pub fn partition_key(topic: &str, partition: i64) -> String {
    format!("{topic}-{partition}")
}

/// Decodes every record of `event`, grouped by partition and in offset order. A key or value that
/// is not valid base64 is kept as its raw text, with the defect noted, so that it can still be
/// dead-lettered.
pub fn decode_event(event: &KafkaEvent) -> BTreeMap<String, Vec<Incoming>> {
    let mut partitions: BTreeMap<String, Vec<Incoming>> = BTreeMap::new();
    for (group, records) in &event.records {
        for record in records {
            let topic = record
                .topic
                .clone()
                .unwrap_or_else(|| topic_of(group, record.partition));
            partitions
                .entry(partition_key(&topic, record.partition))
                .or_default()
                .push(decode_record(topic, record));
        }
    }
    for records in partitions.values_mut() {
        records.sort_by_key(|decoded| decoded.record.offset);
    }
    partitions
}

/// The topic of a `"<topic>-<partition>"` group, for records that do not name it.
fn topic_of(group: &str, partition: i64) -> String {
    group
        .strip_suffix(&format!("-{partition}"))
        .unwrap_or(group)
        .to_owned()
}

fn decode_record(topic: String, record: &KafkaRecord) -> Incoming {
    let mut defects = Vec::new();
    let mut field = |name: &str, encoded: &Option<String>| {
        encoded.as_ref().map(|text| {
            STANDARD.decode(text).unwrap_or_else(|_| {
                defects.push(format!("the {name} is not valid base64"));
                text.clone().into_bytes()
            })
        })
    };
    let key = field("key", &record.key);
    let value = field("value", &record.value);
    let headers = record
        .headers
        .iter()
        .flat_map(|header| header.iter())
        .map(|(name, bytes)| (name.clone(), bytes.iter().map(|&b| b as u8).collect()))
        .collect();
    Incoming {
        record: RawRecord {
            topic,
            partition: record.partition,
            offset: record.offset,
            key,
            value,
            headers,
        },
        defect: (!defects.is_empty()).then(|| defects.join("; ")),
    }
}

/// Builds a `KafkaEvent` the way the MSK event source mapping does.
#[derive(Debug, Clone)]
pub struct KafkaEventBuilder {
    event: KafkaEvent,
}

impl KafkaEventBuilder {
    pub fn new(event_source_arn: &str, bootstrap_servers: &str) -> Self {
        let mut event = KafkaEvent::default();
        event.event_source = Some("aws:kafka".into());
        event.event_source_arn = Some(event_source_arn.into());
        event.bootstrap_servers = Some(bootstrap_servers.into());
        Self { event }
    }

    /// Adds a record; `timestamp_ms` is the record's create time.
    pub fn record(mut self, record: &RawRecord, timestamp_ms: i64) -> Self {
        let mut kafka = KafkaRecord::default();
        kafka.topic = Some(record.topic.clone());
        kafka.partition = record.partition;
        kafka.offset = record.offset;
        kafka.timestamp = MillisecondTimestamp(
            chrono::DateTime::from_timestamp_millis(timestamp_ms).unwrap_or_default(),
        );
        kafka.timestamp_type = Some("CREATE_TIME".into());
        kafka.key = record.key.as_ref().map(|key| STANDARD.encode(key));
        kafka.value = record.value.as_ref().map(|value| STANDARD.encode(value));
        // Each header is its own single-entry map, in record order, values as signed bytes.
        kafka.headers = record
            .headers
            .iter()
            .map(|(name, value)| {
                HashMap::from([(name.clone(), value.iter().map(|&b| b as i8).collect())])
            })
            .collect();
        self.event
            .records
            .entry(partition_key(&record.topic, record.partition))
            .or_default()
            .push(kafka);
        self
    }

    pub fn build(self) -> KafkaEvent {
        self.event
    }
}

/// The partial batch response of a Kafka event source mapping: for each partition, the first
/// record that was not processed; the mapping resumes there. Empty means the whole batch is done.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchResponse {
    pub batch_item_failures: Vec<KafkaBatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaBatchItemFailure {
    pub item_identifier: KafkaItemIdentifier,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaItemIdentifier {
    /// `"<topic>-<partition>"`
    pub partition: String,
    pub offset: i64,
}

impl KafkaBatchResponse {
    pub fn from_failures(failures: impl IntoIterator<Item = (String, i64)>) -> Self {
        Self {
            batch_item_failures: failures
                .into_iter()
                .map(|(partition, offset)| KafkaBatchItemFailure {
                    item_identifier: KafkaItemIdentifier { partition, offset },
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(partition: i64, offset: i64) -> RawRecord {
        RawRecord {
            topic: "order-events".into(),
            partition,
            offset,
            key: Some(b"o-1".to_vec()),
            value: Some(br#"{"order_id":"o-1"}"#.to_vec()),
            headers: vec![
                ("event_type".into(), b"created".to_vec()),
                ("bin".into(), vec![0, 200, 255]),
            ],
        }
    }

    #[test]
    fn built_events_decode_to_the_same_records_in_offset_order() {
        let event = KafkaEventBuilder::new("arn:aws:kafka:eu-west-1:1:cluster/c/1", "b:9098")
            .record(&raw(1, 7), 1_732_565_045_123)
            .record(&raw(1, 5), 1_732_565_045_124)
            .record(&raw(0, 3), 1_732_565_045_125)
            .build();
        let decoded = decode_event(&event);
        let offsets: Vec<(&str, Vec<i64>)> = decoded
            .iter()
            .map(|(key, records)| {
                (
                    key.as_str(),
                    records.iter().map(|i| i.record.offset).collect(),
                )
            })
            .collect();
        assert_eq!(
            offsets,
            [("order-events-0", vec![3]), ("order-events-1", vec![5, 7])]
        );
        assert_eq!(decoded["order-events-1"][0].record, raw(1, 5));
        assert!(decoded.values().flatten().all(|i| i.defect.is_none()));
    }

    #[test]
    fn the_aws_example_event_decodes() {
        let event: KafkaEvent = serde_json::from_str(
            r#"{"eventSource":"aws:kafka","eventSourceArn":"arn","bootstrapServers":"b:9092",
                "records":{"AWSKafkaTopic-0":[{"topic":"AWSKafkaTopic","partition":0,"offset":0,
                "timestamp":1595035749700,"timestampType":"CREATE_TIME",
                "key":"OGQ1NTk2YjQ=","value":"eyJhIjoxfQ==",
                "headers":[{"headerKey":[104,101,97,100,101,114,86,97,108,117,101]}]}]}}"#,
        )
        .unwrap();
        let decoded = &decode_event(&event)["AWSKafkaTopic-0"][0];
        assert_eq!(decoded.record.key.as_deref(), Some(b"8d5596b4".as_slice()));
        assert_eq!(
            decoded.record.value.as_deref(),
            Some(br#"{"a":1}"#.as_slice())
        );
        assert_eq!(
            decoded.record.headers,
            [("headerKey".to_string(), b"headerValue".to_vec())]
        );
    }

    #[test]
    fn invalid_base64_is_kept_raw_with_the_reason() {
        let mut event = KafkaEventBuilder::new("arn", "b:9092")
            .record(&raw(0, 1), 0)
            .build();
        if let Some(record) = event.records.values_mut().flatten().next() {
            record.value = Some("%%%not base64".into());
        }
        let decoded = &decode_event(&event)["order-events-0"][0];
        assert_eq!(
            decoded.record.value.as_deref(),
            Some(b"%%%not base64".as_slice())
        );
        assert_eq!(
            decoded.defect.as_deref(),
            Some("the value is not valid base64")
        );
    }

    #[test]
    fn batch_response_has_the_documented_shape() {
        let response = KafkaBatchResponse::from_failures([("order-events-2".to_string(), 41)]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures":[{"itemIdentifier":{"partition":"order-events-2","offset":41}}]})
        );
        assert_eq!(
            serde_json::to_value(KafkaBatchResponse::default()).unwrap(),
            serde_json::json!({"batchItemFailures":[]})
        );
    }
}

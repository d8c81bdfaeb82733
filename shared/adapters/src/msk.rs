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

use orderflow_domain::consumer::Incoming;
use orderflow_domain::ports::RawRecord;

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
    pub fn record(self, record: &RawRecord, timestamp_ms: i64) -> Self {
        self.record_with_timestamp_type(record, timestamp_ms, "CREATE_TIME")
    }

    /// Adds a record whose timestamp is of `timestamp_type`, as the broker reports it:
    /// `CREATE_TIME` or `LOG_APPEND_TIME`.
    pub fn record_with_timestamp_type(
        mut self,
        record: &RawRecord,
        timestamp_ms: i64,
        timestamp_type: &str,
    ) -> Self {
        let mut kafka = KafkaRecord::default();
        kafka.topic = Some(record.topic.clone());
        kafka.partition = record.partition;
        kafka.offset = record.offset;
        kafka.timestamp = MillisecondTimestamp(
            chrono::DateTime::from_timestamp_millis(timestamp_ms).unwrap_or_default(),
        );
        kafka.timestamp_type = Some(timestamp_type.into());
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

/// `event` as JSON exactly as the event source mapping sends it. `KafkaEvent`'s own serialization
/// differs from AWS's in two ways a function may notice: it writes the timestamp as a string, and
/// a record without a key or value as `null` where AWS leaves the field out.
pub fn wire_json(event: &KafkaEvent) -> serde_json::Result<serde_json::Value> {
    let mut json = serde_json::to_value(event)?;
    let groups = json
        .get_mut("records")
        .and_then(serde_json::Value::as_object_mut);
    for (group, records) in groups.into_iter().flatten() {
        let originals = event
            .records
            .get(group)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let records = records.as_array_mut().into_iter().flatten();
        for (record, original) in records.zip(originals) {
            let Some(fields) = record.as_object_mut() else {
                continue;
            };
            fields.insert(
                "timestamp".into(),
                original.timestamp.timestamp_millis().into(),
            );
            for name in ["key", "value"] {
                if fields.get(name).is_some_and(serde_json::Value::is_null) {
                    fields.remove(name);
                }
            }
        }
    }
    Ok(json)
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
    fn wire_json_has_a_numeric_timestamp_and_no_missing_key_or_value() {
        let mut bare = raw(0, 9);
        bare.key = None;
        bare.value = None;
        let event = KafkaEventBuilder::new("arn", "b:9092")
            .record_with_timestamp_type(&bare, 1_732_565_045_123, "LOG_APPEND_TIME")
            .build();
        let json = wire_json(&event).unwrap();
        let record = &json["records"]["order-events-0"][0];
        assert_eq!(
            record["timestamp"],
            serde_json::json!(1_732_565_045_123_i64)
        );
        assert_eq!(record["timestampType"], "LOG_APPEND_TIME");
        let fields = record.as_object().unwrap();
        assert!(!fields.contains_key("key"), "{record}");
        assert!(!fields.contains_key("value"), "{record}");
        let back: KafkaEvent = serde_json::from_value(json).unwrap();
        assert_eq!(
            decode_event(&back),
            decode_event(&event),
            "the function's own type reads it back"
        );
    }

    /// The example event of the Lambda Developer Guide, "Using Lambda with Amazon MSK".
    const AWS_SAMPLE: &str =
        include_str!("../../../tests/fixtures/events/msk-event-aws-sample.json");

    /// The JSON type of every field, recursively (arrays by their first element).
    fn shape(value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::Null => "null".into(),
            Value::Bool(_) => "bool".into(),
            Value::Number(_) => "number".into(),
            Value::String(_) => "string".into(),
            Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, value)| (name.clone(), shape(value)))
                    .collect(),
            ),
        }
    }

    #[test]
    fn the_aws_sample_event_reads_with_the_functions_own_type() {
        let event: KafkaEvent = serde_json::from_str(AWS_SAMPLE).unwrap();
        let record = &event.records["mytopic-0"][0];
        assert_eq!(
            (record.topic.as_deref(), record.partition, record.offset),
            (Some("mytopic"), 0, 15)
        );
        // aws_lambda_events reads a numeric timestamp through an f64 and loses a millisecond
        // here; order-events does not use record timestamps.
        assert_eq!(record.timestamp.timestamp_millis(), 1_545_084_650_986);
        assert_eq!(record.timestamp_type.as_deref(), Some("CREATE_TIME"));
        let decoded = &decode_event(&event)["mytopic-0"][0];
        assert_eq!(
            decoded.record.value.as_deref(),
            Some(b"Hello, this is a test.".as_slice())
        );
        assert_eq!(
            decoded.record.headers,
            [("headerKey".to_string(), b"headerValue".to_vec())]
        );
    }

    #[test]
    fn the_emulators_json_has_the_shape_of_the_aws_sample() {
        let sample: serde_json::Value = serde_json::from_str(AWS_SAMPLE).unwrap();
        let record = RawRecord {
            topic: "mytopic".into(),
            partition: 0,
            offset: 15,
            key: Some(b"8d5596b4".to_vec()),
            value: Some(b"Hello, this is a test.".to_vec()),
            headers: vec![("headerKey".into(), b"headerValue".to_vec())],
        };
        let built = KafkaEventBuilder::new(
            "arn:aws:kafka:us-east-1:123456789012:cluster/vpc-2priv-2pub/751d2973-a626-431c-9d4e-d7975eb44dd7-2",
            "b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092,b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092",
        )
        .record(&record, 1_545_084_650_987)
        .build();
        let json = wire_json(&built).unwrap();
        assert_eq!(shape(&json), shape(&sample));
        // Everything but the key (the sample's is a placeholder) is the same, value for value.
        let mut without_keys = [json.clone(), sample];
        for event in &mut without_keys {
            event["records"]["mytopic-0"][0]
                .as_object_mut()
                .unwrap()
                .remove("key");
        }
        assert_eq!(without_keys[0], without_keys[1]);
        let back: KafkaEvent = serde_json::from_value(json).unwrap();
        assert_eq!(
            decode_event(&back),
            decode_event(&built),
            "the function reads what the emulator sends"
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

//! The MSK event source mapping emulator against the local broker, with a function that answers
//! as scripted: what it commits, where it resumes, and what it redelivers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use orderflow_emulators::lambda::{Invoke, InvokeError};
use orderflow_emulators::msk::{Backoff, Delivered, MskSettings, consumer, deliver_batch};
use orderflow_testing::local;
use rdkafka::Offset;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

/// A function that answers each invocation with the next scripted answer, and keeps the events.
struct Scripted {
    answers: Mutex<VecDeque<Result<Value, InvokeError>>>,
    events: Mutex<Vec<Value>>,
}

impl Scripted {
    fn new(answers: Vec<Result<Value, InvokeError>>) -> Self {
        Self {
            answers: Mutex::new(answers.into()),
            events: Mutex::new(Vec::new()),
        }
    }

    /// The offsets of `partition` in the `n`th event.
    fn offsets(&self, n: usize, partition: &str) -> Vec<i64> {
        let events = self.events.lock().expect("lock");
        events[n]["records"][partition]
            .as_array()
            .map(|records| {
                records
                    .iter()
                    .filter_map(|r| r["offset"].as_i64())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Invoke for Scripted {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        self.events.lock().expect("lock").push(payload.clone());
        self.answers
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| panic!("{function} invoked more often than scripted"))
    }
}

fn failed(function: &str) -> InvokeError {
    InvokeError::Function {
        function: function.to_owned(),
        status: 500,
        body: r#"{"errorType":"Boom","errorMessage":"failed"}"#.into(),
    }
}

async fn produce(topic: &str, count: usize) {
    let producer: FutureProducer = local::kafka_config()
        .client_config()
        .create()
        .expect("producer");
    for n in 0..count {
        let key = format!("k{n}");
        let value = format!(r#"{{"n":{n}}}"#);
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(0)
                    .key(&key)
                    .payload(&value),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|(err, _)| panic!("producing: {err}"));
    }
}

/// The offset the mapping's group has committed on partition 0.
fn committed(consumer: &StreamConsumer, topic: &str) -> Offset {
    let committed = consumer
        .committed(Duration::from_secs(10))
        .expect("committed offsets");
    committed
        .find_partition(topic, 0)
        .map_or(Offset::Invalid, |p| p.offset())
}

async fn deliver(
    consumer: &StreamConsumer,
    settings: &MskSettings,
    function: &Scripted,
    backoff: &mut Backoff,
) -> Delivered {
    tokio::time::timeout(
        Duration::from_secs(30),
        deliver_batch(consumer, settings, function, backoff),
    )
    .await
    .expect("a batch within 30 s")
    .expect("delivered")
}

#[tokio::test]
async fn offsets_are_committed_only_for_what_the_function_reports_done() {
    let topic = local::fresh_topic(1).await;
    produce(&topic, 5).await;
    let partition = format!("{topic}-0");
    let function = Scripted::new(vec![
        // Records 0 and 1 are done; 2 failed.
        Ok(
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": partition, "offset": 2}}]}),
        ),
        // The function fails: nothing is committed.
        Err(failed("f")),
        // A failure naming a partition the batch did not hold fails the invocation.
        Ok(
            json!({"batchItemFailures": [{"itemIdentifier": {"partition": "elsewhere-0", "offset": 2}}]}),
        ),
        // Everything is done.
        Ok(Value::Null),
    ]);
    let settings = MskSettings {
        kafka: local::kafka_config(),
        topic: topic.clone(),
        group_id: local::unique_name("esm"),
        function: "f".into(),
        batch_size: 100,
        batching_window: Duration::from_millis(500),
        event_source_arn: "arn:aws:kafka:us-east-1:000000000000:cluster/local/test".into(),
    };
    let consumer = consumer(&settings).expect("consumer");
    let mut backoff = Backoff::default();

    let first = deliver(&consumer, &settings, &function, &mut backoff).await;
    assert_eq!(
        first,
        Delivered::Committed(BTreeMap::from([((topic.clone(), 0), 2)]))
    );
    assert_eq!(function.offsets(0, &partition), [0, 1, 2, 3, 4]);
    assert_eq!(committed(&consumer, &topic), Offset::Offset(2));

    let second = deliver(&consumer, &settings, &function, &mut backoff).await;
    assert!(matches!(second, Delivered::Failed { .. }), "{second:?}");
    assert_eq!(
        function.offsets(1, &partition),
        [2, 3, 4],
        "resumed at the reported offset"
    );
    assert_eq!(committed(&consumer, &topic), Offset::Offset(2));

    let third = deliver(&consumer, &settings, &function, &mut backoff).await;
    assert_eq!(
        third,
        Delivered::Failed {
            reason: "batchItemFailures names elsewhere-0, which is not in the batch".into(),
            retry_in: Duration::from_secs(1),
        },
        "the second failure in a row waits twice as long"
    );
    assert_eq!(function.offsets(2, &partition), [2, 3, 4], "redelivered");
    assert_eq!(committed(&consumer, &topic), Offset::Offset(2));

    let fourth = deliver(&consumer, &settings, &function, &mut backoff).await;
    assert_eq!(
        fourth,
        Delivered::Committed(BTreeMap::from([((topic.clone(), 0), 5)]))
    );
    assert_eq!(function.offsets(3, &partition), [2, 3, 4]);
    assert_eq!(committed(&consumer, &topic), Offset::Offset(5));

    // The event as AWS sends it: numeric timestamps, base64 keys and values.
    let events = function.events.lock().expect("lock").clone();
    let record = &events[0]["records"][&partition][0];
    assert!(record["timestamp"].is_i64(), "{record}");
    assert_eq!(record["timestampType"], "CREATE_TIME");
    assert_eq!(record["key"], "azA=", "base64 of k0");
    assert_eq!(record["value"], "eyJuIjowfQ==", "base64 of {{\"n\":0}}");
}

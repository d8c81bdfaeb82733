//! The DynamoDB Streams event source mapping emulator against moto's DynamoDB Streams, with a
//! function in this process that answers as each test scripts it: what the events hold, how
//! batches are cut, and what a failure redelivers, splits or discards.
//!
//! Every test writes to its own table, and waits for what it expects with a deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactWriteItem,
};
use orderflow_emulators::lambda::{Invoke, InvokeError};
use orderflow_emulators::streams::{
    StartingPosition, StreamClients, StreamError, StreamMapping, StreamSettings,
};
use orderflow_testing::local;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How long a test waits for what it expects.
const DEADLINE: Duration = Duration::from_secs(15);

type Answer = dyn Fn(usize, &Value) -> Result<Value, InvokeError> + Send + Sync;

/// A function that keeps every event and answers the `n`th invocation, with its event, as the
/// test's script says.
struct Function {
    events: Mutex<Vec<Value>>,
    answer: Box<Answer>,
}

impl Function {
    fn new(
        answer: impl Fn(usize, &Value) -> Result<Value, InvokeError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            events: Mutex::new(Vec::new()),
            answer: Box::new(answer),
        })
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().expect("lock").clone()
    }

    /// The `pk` of every record, event by event.
    fn batches(&self) -> Vec<Vec<String>> {
        self.events().iter().map(pks).collect()
    }

    /// Waits until the function was invoked `count` times.
    async fn wait_for(&self, count: usize) {
        let invoked = local::eventually(DEADLINE, || {
            self.events.lock().expect("lock").len() >= count
        })
        .await;
        assert!(
            invoked,
            "{count} invocations expected, got {:?}",
            self.batches()
        );
    }
}

impl Invoke for Function {
    async fn invoke(&self, _function: &str, payload: &Value) -> Result<Value, InvokeError> {
        let invocation = {
            let mut events = self.events.lock().expect("lock");
            events.push(payload.clone());
            events.len() - 1
        };
        (self.answer)(invocation, payload)
    }
}

fn pks(event: &Value) -> Vec<String> {
    records(event)
        .iter()
        .map(|record| {
            record["dynamodb"]["Keys"]["pk"]["S"]
                .as_str()
                .unwrap_or_else(|| panic!("record without a pk: {record}"))
                .to_owned()
        })
        .collect()
}

fn records(event: &Value) -> Vec<Value> {
    event["Records"]
        .as_array()
        .unwrap_or_else(|| panic!("event without Records: {event}"))
        .clone()
}

fn sequence_numbers(event: &Value) -> Vec<String> {
    records(event)
        .iter()
        .map(|record| {
            record["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap_or_else(|| panic!("record without a SequenceNumber: {record}"))
                .to_owned()
        })
        .collect()
}

/// The sequence number of the record of `pk` in `event`.
fn sequence_number_of(event: &Value, pk: &str) -> String {
    let index = pks(event)
        .iter()
        .position(|p| p == pk)
        .unwrap_or_else(|| panic!("no record of {pk} in {event}"));
    sequence_numbers(event)[index].clone()
}

fn failure(status: u16) -> InvokeError {
    InvokeError::Function {
        function: "order-stream".into(),
        status,
        body: r#"{"errorType":"Boom","errorMessage":"failed"}"#.into(),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

/// A fresh table keyed by `pk`, with or without a NEW_AND_OLD_IMAGES stream.
async fn table(stream: bool) -> String {
    let name = local::unique_name("stream");
    let mut create = local::dynamodb_client()
        .await
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        );
    if stream {
        create = create.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .expect("stream"),
        );
    }
    create
        .send()
        .await
        .unwrap_or_else(|err| panic!("creating table {name}: {err:?}"));
    name
}

async fn put(table: &str, pks: &[&str]) {
    let dynamodb = local::dynamodb_client().await;
    for pk in pks {
        dynamodb
            .put_item()
            .table_name(table)
            .item("pk", AttributeValue::S((*pk).to_owned()))
            .send()
            .await
            .unwrap_or_else(|err| panic!("putting {pk}: {err:?}"));
    }
}

/// The mapping's settings for a test: fast polls and retries, nothing discarded.
fn settings(table: &str) -> StreamSettings {
    StreamSettings {
        poll_interval: Duration::from_millis(20),
        retry_delay: Duration::from_millis(10),
        max_retry_delay: Duration::from_millis(40),
        bisect_on_error: false,
        ..StreamSettings::new(table, "order-stream")
    }
}

/// A running mapping, stopped when the test ends.
struct Running {
    task: JoinHandle<Result<(), StreamError>>,
    stream_arn: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(settings: StreamSettings, function: &Arc<Function>) -> Running {
    let clients = StreamClients::new(local::aws_config().await);
    let mapping = StreamMapping::start(settings, clients, Arc::clone(function))
        .await
        .unwrap_or_else(|err| panic!("starting the mapping: {err}"));
    let stream_arn = mapping.stream_arn().to_owned();
    Running {
        task: tokio::spawn(mapping.run()),
        stream_arn,
    }
}

async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(local::aws_config().await)
}

/// A fresh queue: its ARN and URL.
async fn queue(sqs: &aws_sdk_sqs::Client) -> (String, String) {
    let name = local::unique_name("stream-on-failure");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned();
    (format!("arn:aws:sqs:us-east-1:000000000000:{name}"), url)
}

/// The next message on the queue, parsed; waits for it.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(url)
            .send()
            .await
            .expect("receive");
        if let Some(body) = received.messages().first().and_then(|m| m.body()) {
            return serde_json::from_str(body).expect("an on-failure record is JSON");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no message on {url} within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn queue_is_empty(sqs: &aws_sdk_sqs::Client, url: &str) -> bool {
    sqs.receive_message()
        .queue_url(url)
        .send()
        .await
        .expect("receive")
        .messages()
        .is_empty()
}

/// The stream's only shard (moto has one per table).
async fn shard_id(stream_arn: &str) -> String {
    let streams = aws_sdk_dynamodbstreams::Client::new(local::aws_config().await);
    let described = streams
        .describe_stream()
        .stream_arn(stream_arn)
        .send()
        .await
        .expect("describe stream");
    let shards = described
        .stream_description()
        .map(|d| d.shards().to_vec())
        .unwrap_or_default();
    assert_eq!(shards.len(), 1, "{shards:?}");
    shards[0].shard_id().expect("shard id").to_owned()
}

#[tokio::test]
async fn events_carry_every_change_in_dynamodb_json_as_aws_sends_them() {
    let table = table(true).await;
    let dynamodb = local::dynamodb_client().await;
    dynamodb
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("o-1".into()))
        .item("status", AttributeValue::S("PENDING".into()))
        .item("total", AttributeValue::N("12.5".into()))
        .item(
            "receipt_scan",
            AttributeValue::B(Blob::new(vec![0, 1, 255])),
        )
        .item("paid", AttributeValue::Bool(false))
        .item("memo", AttributeValue::Null(true))
        .item(
            "order_lines",
            AttributeValue::L(vec![AttributeValue::M(
                [
                    ("sku".to_owned(), AttributeValue::S("p-1".into())),
                    ("qty".to_owned(), AttributeValue::N("2".into())),
                ]
                .into(),
            )]),
        )
        .item("gift_tags", AttributeValue::Ss(vec!["gift".into()]))
        .item("shoe_sizes", AttributeValue::Ns(vec!["42".into()]))
        .item(
            "promo_codes",
            AttributeValue::Bs(vec![Blob::new(b"hi".to_vec())]),
        )
        .send()
        .await
        .expect("put");
    dynamodb
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("o-1".into()))
        .update_expression(
            "SET #status = :paid \
             REMOVE memo, order_lines, gift_tags, shoe_sizes, promo_codes, receipt_scan",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":paid", AttributeValue::S("PAID".into()))
        .send()
        .await
        .expect("update");
    dynamodb
        .delete_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("o-1".into()))
        .send()
        .await
        .expect("delete");
    let transaction_put = |pk: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&table)
                    .item("pk", AttributeValue::S(pk.to_owned()))
                    .build()
                    .expect("put"),
            )
            .build()
    };
    dynamodb
        .transact_write_items()
        .transact_items(transaction_put("o-2"))
        .transact_items(transaction_put("o-3"))
        .send()
        .await
        .expect("transaction");

    let function = Function::new(|_, _| Ok(Value::Null));
    let running = start(settings(&table), &function).await;
    function.wait_for(1).await;

    let event = &function.events()[0];
    assert_eq!(pks(event), ["o-1", "o-1", "o-1", "o-2", "o-3"]);
    let records = records(event);
    let names: Vec<&str> = records
        .iter()
        .map(|record| record["eventName"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE", "INSERT", "INSERT"]);
    for record in &records {
        assert_eq!(record["eventVersion"], "1.1", "{record}");
        assert_eq!(record["eventSource"], "aws:dynamodb", "{record}");
        assert_eq!(record["awsRegion"], "us-east-1", "{record}");
        assert_eq!(
            record["eventSourceARN"],
            running.stream_arn.as_str(),
            "{record}"
        );
        assert!(
            record["eventID"].as_str().is_some_and(|id| !id.is_empty()),
            "{record}"
        );
        let change = &record["dynamodb"];
        assert_eq!(change["StreamViewType"], "NEW_AND_OLD_IMAGES", "{record}");
        assert!(
            change["ApproximateCreationDateTime"].is_i64(),
            "whole epoch seconds: {record}"
        );
        assert!(change["SizeBytes"].is_u64(), "{record}");
    }
    let inserted = json!({
        "pk": {"S": "o-1"},
        "status": {"S": "PENDING"},
        "total": {"N": "12.5"},
        "receipt_scan": {"B": "AAH/"},
        "paid": {"BOOL": false},
        "memo": {"NULL": true},
        "order_lines": {"L": [{"M": {"sku": {"S": "p-1"}, "qty": {"N": "2"}}}]},
        "gift_tags": {"SS": ["gift"]},
        "shoe_sizes": {"NS": ["42"]},
        "promo_codes": {"BS": ["aGk="]},
    });
    let paid = json!({
        "pk": {"S": "o-1"},
        "status": {"S": "PAID"},
        "total": {"N": "12.5"},
        "paid": {"BOOL": false},
    });
    assert_eq!(records[0]["dynamodb"]["Keys"], json!({"pk": {"S": "o-1"}}));
    assert_eq!(records[0]["dynamodb"]["NewImage"], inserted);
    assert!(
        records[0]["dynamodb"].get("OldImage").is_none(),
        "{}",
        records[0]
    );
    assert_eq!(records[1]["dynamodb"]["OldImage"], inserted);
    assert_eq!(records[1]["dynamodb"]["NewImage"], paid);
    assert_eq!(records[2]["dynamodb"]["OldImage"], paid);
    assert!(
        records[2]["dynamodb"].get("NewImage").is_none(),
        "{}",
        records[2]
    );
    assert_eq!(
        records[3]["dynamodb"]["NewImage"],
        json!({"pk": {"S": "o-2"}})
    );

    let numbers: Vec<u128> = sequence_numbers(event)
        .iter()
        .map(|n| n.parse().expect("a sequence number is a decimal string"))
        .collect();
    assert!(
        numbers.windows(2).all(|pair| pair[0] < pair[1]),
        "in stream order: {numbers:?}"
    );
}

#[tokio::test]
async fn batches_hold_at_most_batch_size_records_in_stream_order() {
    let table = table(true).await;
    put(&table, &["a", "b", "c", "d", "e", "f", "g"]).await;
    let function = Function::new(|_, _| Ok(json!({"batchItemFailures": []})));
    let _running = start(
        StreamSettings {
            batch_size: 3,
            ..settings(&table)
        },
        &function,
    )
    .await;

    function.wait_for(3).await;
    put(&table, &["h"]).await;
    function.wait_for(4).await;
    assert_eq!(
        function.batches(),
        [
            strings(&["a", "b", "c"]),
            strings(&["d", "e", "f"]),
            strings(&["g"]),
            strings(&["h"]),
        ]
    );
}

/// moto applies a transaction's writes one by one, stream records included, and puts its tables
/// back from a copy when one fails; an iterator taken before keeps reading the table it was
/// taken on. The mapping delivers neither the failed transaction's writes nor fewer than what is
/// written afterwards.
#[tokio::test]
async fn a_failed_transaction_delivers_nothing_and_what_follows_it_is_delivered() {
    let table = table(true).await;
    put(&table, &["a"]).await;
    let function = Function::new(|_, _| Ok(json!({"batchItemFailures": []})));
    let _running = start(settings(&table), &function).await;
    function.wait_for(1).await;
    // Idle reads first, so that the mapping has read since the last change.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let write = |pk: &str, condition: Option<&str>| {
        let put = Put::builder()
            .table_name(&table)
            .item("pk", AttributeValue::S(pk.into()))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .expect("put");
        TransactWriteItem::builder().put(put).build()
    };
    let refused = local::dynamodb_client()
        .await
        .transact_write_items()
        .transact_items(write("phantom", None))
        .transact_items(write("a", Some("attribute_not_exists(pk)")))
        .send()
        .await;
    assert!(refused.is_err(), "the condition fails: a exists");
    put(&table, &["b"]).await;
    function.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(function.batches(), [strings(&["a"]), strings(&["b"])]);
}

#[tokio::test]
async fn a_partial_failure_redelivers_from_the_lowest_reported_record() {
    let table = table(true).await;
    put(&table, &["a", "b", "c", "d", "e"]).await;
    // d and c failed, reported in that order.
    let function = Function::new(|invocation, event| match invocation {
        0 => Ok(json!({"batchItemFailures": [
            {"itemIdentifier": sequence_number_of(event, "d")},
            {"itemIdentifier": sequence_number_of(event, "c")},
        ]})),
        _ => Ok(json!({})),
    });
    let _running = start(settings(&table), &function).await;
    function.wait_for(2).await;
    put(&table, &["f"]).await;
    function.wait_for(3).await;
    assert_eq!(
        function.batches(),
        [
            strings(&["a", "b", "c", "d", "e"]),
            strings(&["c", "d", "e"]),
            strings(&["f"]),
        ],
        "a and b were done; c, d and e were delivered again, then only what came next"
    );
    let events = function.events();
    assert_eq!(
        sequence_numbers(&events[1]),
        &sequence_numbers(&events[0])[2..],
        "the same records, from the lowest reported sequence number"
    );
}

#[tokio::test]
async fn a_function_error_redelivers_the_whole_batch() {
    let table = table(true).await;
    put(&table, &["a", "b", "c"]).await;
    let function = Function::new(|invocation, _| match invocation {
        0 => Err(failure(500)),
        _ => Ok(Value::Null),
    });
    let _running = start(settings(&table), &function).await;

    function.wait_for(2).await;
    put(&table, &["d"]).await;
    function.wait_for(3).await;
    let events = function.events();
    assert_eq!(
        function.batches(),
        [
            strings(&["a", "b", "c"]),
            strings(&["a", "b", "c"]),
            strings(&["d"])
        ]
    );
    assert_eq!(events[0], events[1], "the same records, unchanged");
}

#[tokio::test]
async fn an_unknown_item_identifier_fails_the_whole_batch() {
    let table = table(true).await;
    put(&table, &["a", "b", "c"]).await;
    let function = Function::new(|invocation, _| match invocation {
        0 => Ok(json!({"batchItemFailures": [{"itemIdentifier": "1"}]})),
        _ => Ok(Value::Null),
    });
    let _running = start(settings(&table), &function).await;

    function.wait_for(2).await;
    put(&table, &["d"]).await;
    function.wait_for(3).await;
    assert_eq!(
        function.batches(),
        [
            strings(&["a", "b", "c"]),
            strings(&["a", "b", "c"]),
            strings(&["d"])
        ],
        "nothing was checkpointed: the whole batch came again"
    );
}

#[tokio::test]
async fn bisection_isolates_a_failing_record_and_delivers_the_rest() {
    let table = table(true).await;
    put(&table, &["a", "b", "c", "d"]).await;
    let sqs = sqs().await;
    // Named by ARN, as a mapping's DestinationConfig names it.
    let (queue_arn, queue_url) = queue(&sqs).await;
    // c always fails the batch it is in.
    let function = Function::new(|_, event| {
        if pks(event).contains(&"c".to_owned()) {
            Err(failure(500))
        } else {
            Ok(Value::Null)
        }
    });
    let running = start(
        StreamSettings {
            bisect_on_error: true,
            max_retry_attempts: Some(1),
            on_failure_queue: Some(queue_arn),
            ..settings(&table)
        },
        &function,
    )
    .await;

    function.wait_for(6).await;
    let record = receive(&sqs, &queue_url).await;
    assert_eq!(
        function.batches(),
        [
            strings(&["a", "b", "c", "d"]),
            strings(&["a", "b"]),
            strings(&["c", "d"]),
            strings(&["c"]),
            strings(&["c"]),
            strings(&["d"]),
        ],
        "halved until c was alone, then c was retried once (splits count no retry)"
    );
    let c = &sequence_numbers(&function.events()[3])[0];
    let batch = &record["DDBStreamBatchInfo"];
    assert_eq!(batch["startSequenceNumber"], c.as_str());
    assert_eq!(batch["endSequenceNumber"], c.as_str());
    assert_eq!(batch["batchSize"], 1);
    assert_eq!(batch["streamArn"], running.stream_arn.as_str());
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(
        record["requestContext"]["approximateInvokeCount"], 4,
        "c was in four invocations"
    );
}

#[tokio::test]
async fn exhausted_retries_send_the_batchs_place_to_the_on_failure_queue_and_move_on() {
    let table = table(true).await;
    put(&table, &["a", "b", "c"]).await;
    let sqs = sqs().await;
    let (_, queue_url) = queue(&sqs).await;
    let function = Function::new(|_, event| {
        if pks(event) == ["d"] {
            Ok(Value::Null)
        } else {
            Err(failure(500))
        }
    });
    let running = start(
        StreamSettings {
            max_retry_attempts: Some(2),
            on_failure_queue: Some(queue_url.clone()),
            ..settings(&table)
        },
        &function,
    )
    .await;

    let record = receive(&sqs, &queue_url).await;
    assert_eq!(
        function.batches(),
        [
            strings(&["a", "b", "c"]),
            strings(&["a", "b", "c"]),
            strings(&["a", "b", "c"]),
        ],
        "the first invocation and two retries"
    );
    let sequence_numbers = sequence_numbers(&function.events()[0]);
    let batch = &record["DDBStreamBatchInfo"];
    assert_eq!(
        batch["shardId"],
        shard_id(&running.stream_arn).await.as_str()
    );
    assert_eq!(batch["streamArn"], running.stream_arn.as_str());
    assert_eq!(batch["startSequenceNumber"], sequence_numbers[0].as_str());
    assert_eq!(batch["endSequenceNumber"], sequence_numbers[2].as_str());
    assert_eq!(batch["batchSize"], 3);
    assert!(
        batch["approximateArrivalOfFirstRecord"]
            .as_str()
            .is_some_and(|at| at.ends_with('Z')),
        "{record}"
    );
    assert_eq!(record["version"], "1.0");
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:order-stream"
    );
    assert_eq!(
        record["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(
        record["responseContext"],
        json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
    );
    assert!(
        record.get("Records").is_none(),
        "the records themselves are not sent"
    );

    put(&table, &["d"]).await;
    function.wait_for(4).await;
    assert_eq!(
        function.batches()[3],
        ["d"],
        "the mapping moved past a, b and c"
    );
    assert!(
        queue_is_empty(&sqs, &queue_url).await,
        "one on-failure record"
    );
}

#[tokio::test]
async fn latest_skips_records_written_before_the_mapping_started() {
    let table = table(true).await;
    put(&table, &["before-1", "before-2"]).await;
    let function = Function::new(|_, _| Ok(Value::Null));
    let _running = start(
        StreamSettings {
            starting_position: StartingPosition::Latest,
            ..settings(&table)
        },
        &function,
    )
    .await;

    put(&table, &["after"]).await;
    function.wait_for(1).await;
    assert_eq!(function.batches(), [strings(&["after"])]);
}

#[tokio::test]
async fn records_older_than_the_maximum_age_are_discarded_without_an_invocation() {
    let table = table(true).await;
    put(&table, &["old-1", "old-2"]).await;
    // ApproximateCreationDateTime has whole seconds: 2 s makes them older than 1 s for sure.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sqs = sqs().await;
    let (_, queue_url) = queue(&sqs).await;
    let function = Function::new(|_, _| Ok(Value::Null));
    let _running = start(
        StreamSettings {
            max_record_age: Some(Duration::from_secs(1)),
            on_failure_queue: Some(queue_url.clone()),
            ..settings(&table)
        },
        &function,
    )
    .await;

    let record = receive(&sqs, &queue_url).await;
    assert_eq!(record["requestContext"]["condition"], "RecordAgeExceeded");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 0);
    assert_eq!(record["DDBStreamBatchInfo"]["batchSize"], 2);
    assert!(record.get("responseContext").is_none(), "{record}");
    put(&table, &["new"]).await;
    function.wait_for(1).await;
    assert_eq!(function.batches(), [strings(&["new"])]);
}

#[tokio::test]
async fn a_table_without_a_stream_is_refused_with_a_clear_error() {
    let table = table(false).await;
    let clients = StreamClients::new(local::aws_config().await);
    let function = Function::new(|_, _| Ok(Value::Null));
    let refused =
        StreamMapping::start(settings(&table), clients.clone(), Arc::clone(&function)).await;
    let Err(err) = refused else {
        panic!("a mapping started on {table}, which has no stream");
    };
    assert!(
        matches!(err, StreamError::StreamNotEnabled { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "table {table} has no stream enabled: set its StreamSpecification \
             (StreamEnabled=true, StreamViewType=NEW_AND_OLD_IMAGES) before mapping it to a function"
        )
    );

    let missing = local::unique_name("missing");
    let Err(err) = StreamMapping::start(settings(&missing), clients, function).await else {
        panic!("a mapping started on {missing}, which does not exist");
    };
    assert_eq!(err.to_string(), format!("table {missing} does not exist"));
}

//! The DynamoDB Streams event source mapping, locally: reads a table's stream and invokes a
//! function with its records, as Lambda's mapping does in AWS.
//!
//! As in AWS:
//!
//! - **Where.** The table's latest stream (`DescribeTable`'s `LatestStreamArn`; a table without
//!   one is a [`StreamError::StreamNotEnabled`]), every shard read by its own sequential poller,
//!   in order within the shard, and a child shard only once its parent has been read to its end.
//!   Shards that exist when the mapping starts begin at the [`StartingPosition`]; shards that
//!   appear later begin at their oldest record.
//! - **When.** An idle shard is read every `poll_interval`. A batch closes when it holds
//!   `batch_size` records, when the payload would pass Lambda's 6 MB, or when `batching_window`
//!   has passed since its first record was read (0, AWS's default for streams: as soon as a read
//!   returns records).
//! - **What.** The event is AWS's, built by the pure [`lambda_record`]: `{"Records": [...]}` with
//!   each record's keys and images in DynamoDB JSON ([`attribute_value_json`]), its
//!   `SequenceNumber`, its `ApproximateCreationDateTime` in whole epoch seconds and the stream's
//!   ARN as `eventSourceARN`.
//! - **Done.** A response without failures (`null`, `{}`, an empty or null `batchItemFailures`)
//!   checkpoints after the batch. A partial batch response checkpoints before the lowest
//!   sequence number it names and retries the batch from there ([`first_failed`]); a response
//!   that names a record the batch does not hold, or that is not a partial batch response, fails
//!   the whole batch, as an error of the function does.
//! - **Failed.** A failed batch is retried after a backoff (`retry_delay`, doubling up to
//!   `max_retry_delay`). Each retry counts against `max_retry_attempts`, partial failures
//!   included; with `bisect_on_error` a batch of more than one record that fails as a whole is
//!   first split in two and the halves delivered in turn, which counts no attempt (AWS: "Splitting
//!   a batch does not count towards the retry quota"). When the attempts are exhausted, or
//!   records are older than `max_record_age`, the records are discarded: an on-failure record
//!   with their shard, sequence number range and arrival times (not the records) goes to the
//!   on-failure SQS queue if one is set and is logged at error level in any case, and the
//!   mapping moves past them. A function that cannot be reached at all (the local Lambda endpoint
//!   is down) was not invoked: as in AWS, that retries until the records are too old, counting no
//!   attempt and splitting nothing.
//!
//! What differs from AWS, and why:
//!
//! - Checkpoints live in memory: a restarted emulator starts again at its starting position
//!   (with `TRIM_HORIZON`, moto's whole stream is delivered again). Functions must be idempotent
//!   anyway, since AWS delivers at least once too.
//! - Partial batch responses are always honoured, as if the mapping had
//!   `FunctionResponseTypes=["ReportBatchItemFailures"]`; without it AWS ignores them.
//! - Records read but not yet checkpointed are kept and redelivered from memory, which is what
//!   AWS's reread of the shard at the checkpoint returns; the shard is read further only once
//!   they are done.
//! - The backoff between retries is short (100 ms to 5 s by default), so that local runs and
//!   tests see retries in seconds.
//! - Every failed invocation waits for the backoff, a bisection's included.
//! - A record the emulator cannot encode (an attribute type this SDK does not know) is logged at
//!   error level and skipped rather than blocking its shard.
//! - Filter criteria, tumbling windows, `ParallelizationFactor` and SNS, S3 or Kafka on-failure
//!   destinations are not emulated; a stream disabled and enabled again (a new stream ARN) needs
//!   a restart.
//! - `eventVersion` is always `1.1` and `awsRegion` the mapping's region: moto reports `1.0` and
//!   `us-east-1`.
//!
//! moto applies a transaction's writes one by one, stream records included, and when one of them
//! fails puts the tables back from a copy taken before; its shard iterators kept reading the
//! table they were taken on, which no later change reached and which held records of the failed
//! transaction's writes. `scripts/moto_server.py` makes every read resolve the table anew, and
//! `tests/streams.rs` pins it.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, Shard, ShardIteratorType};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, SecondsFormat, Utc};
use orderflow_adapters::config::ConfigError;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::lambda::{Invoke, function_name};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Lambda's limit on a synchronous invocation's payload.
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// How often the stream is described again to find new shards. DynamoDB splits a shard about
/// every four hours, and `DescribeStream` allows 10 calls a second per account.
const SHARD_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

/// How often sending an on-failure record is tried before only the log keeps it.
const ON_FAILURE_SEND_ATTEMPTS: u32 = 3;

/// Where the mapping starts reading the shards that exist when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record the stream holds (24 hours of changes in AWS, every change in moto).
    TrimHorizon,
    /// Only the records written after the mapping started.
    Latest,
}

impl StartingPosition {
    /// Parses `STREAM_STARTING_POSITION`: `TRIM_HORIZON` or `LATEST`, as the mapping's
    /// `StartingPosition`.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "TRIM_HORIZON" => Ok(Self::TrimHorizon),
            "LATEST" => Ok(Self::Latest),
            other => Err(ConfigError::invalid(
                "STREAM_STARTING_POSITION",
                "TRIM_HORIZON or LATEST",
                other,
            )),
        }
    }
}

/// The mapping's configuration, named after the `CreateEventSourceMapping` parameters it
/// stands for.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    /// The table whose latest stream is read.
    pub table: String,
    /// The function invoked: a name, or an ARN whose name is invoked.
    pub function: String,
    /// The region of the mapping: each record's `awsRegion`, and the function ARN's.
    pub region: String,
    /// `StartingPosition`.
    pub starting_position: StartingPosition,
    /// `BatchSize`: most records per invocation, 1 to 10,000.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long records are gathered after the first one.
    pub batching_window: Duration,
    /// How long a shard that had no new records waits before it is read again (AWS reads four
    /// times a second).
    pub poll_interval: Duration,
    /// `MaximumRetryAttempts`: retries of a failing batch before it is discarded; `None` (AWS's
    /// -1) retries until the records are older than `max_record_age`.
    pub max_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds`: records older than this are discarded instead of delivered;
    /// `None` (AWS's -1) never.
    pub max_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// `DestinationConfig.OnFailure`: the SQS queue, by ARN or URL, that receives the record of
    /// every discarded batch.
    pub on_failure_queue: Option<String>,
    /// The wait after a batch's first failure; it doubles with each failure in a row.
    pub retry_delay: Duration,
    /// The longest wait between retries.
    pub max_retry_delay: Duration,
}

impl StreamSettings {
    /// A mapping of `table`'s stream to `function` with the emulator's defaults: batches of 100
    /// with no batching window (AWS's defaults), the stream read every 500 ms, 10 retries with
    /// bisection, no record age limit and no on-failure queue, starting at `TRIM_HORIZON`.
    ///
    /// AWS's API defaults are -1 retries and no bisection, which hold a failing record for up to
    /// the stream's 24 hours of retention and block its shard meanwhile; a mapping should bound
    /// both, and this default does. Reads are half as frequent as AWS's because moto keeps every
    /// shard iterator it hands out (about 1.5 KB each) for as long as it runs, and every read
    /// hands out one.
    pub fn new(table: impl Into<String>, function: impl Into<String>) -> Self {
        Self {
            table: table.into(),
            function: function.into(),
            region: "us-east-1".into(),
            starting_position: StartingPosition::TrimHorizon,
            batch_size: 100,
            batching_window: Duration::ZERO,
            poll_interval: Duration::from_millis(500),
            max_retry_attempts: Some(10),
            max_record_age: None,
            bisect_on_error: true,
            on_failure_queue: None,
            retry_delay: Duration::from_millis(100),
            max_retry_delay: Duration::from_secs(5),
        }
    }
}

/// The AWS clients the mapping calls.
#[derive(Debug, Clone)]
pub struct StreamClients {
    /// Finds the table's stream (`DescribeTable`).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// Reads it (`DescribeStream`, `GetShardIterator`, `GetRecords`).
    pub streams: aws_sdk_dynamodbstreams::Client,
    /// Sends on-failure records.
    pub sqs: aws_sdk_sqs::Client,
}

impl StreamClients {
    /// Clients of `config`'s endpoint and credentials, every call bounded by
    /// [`orderflow_adapters::aws_timeouts`]: a stalled endpoint fails a read, which is retried,
    /// instead of holding its shard forever.
    pub fn new(config: &SdkConfig) -> Self {
        let timeouts = orderflow_adapters::aws_timeouts();
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config)
                    .timeout_config(timeouts.clone())
                    .build(),
            ),
            streams: aws_sdk_dynamodbstreams::Client::from_conf(
                aws_sdk_dynamodbstreams::config::Builder::from(config)
                    .timeout_config(timeouts.clone())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(config)
                    .timeout_config(timeouts)
                    .build(),
            ),
        }
    }
}

/// Why the mapping cannot start or go on. Everything else (throttling, timeouts, a function that
/// fails) is retried or handled as AWS does and never ends the mapping.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("table {table} does not exist")]
    TableNotFound { table: String },
    #[error(
        "table {table} has no stream enabled: set its StreamSpecification \
         (StreamEnabled=true, StreamViewType=NEW_AND_OLD_IMAGES) before mapping it to a function"
    )]
    StreamNotEnabled { table: String },
    #[error("shard {shard_id} of stream {stream_arn} no longer exists (was the stream disabled?)")]
    StreamGone {
        stream_arn: String,
        shard_id: String,
    },
    #[error("{operation} failed: {message}")]
    Aws {
        operation: &'static str,
        message: String,
    },
    #[error("the poller of shard {shard_id} panicked: {message}")]
    Panicked { shard_id: String, message: String },
}

impl StreamError {
    fn aws(operation: &'static str, err: impl std::error::Error) -> Self {
        Self::Aws {
            operation,
            message: aws_sdk_dynamodbstreams::error::DisplayErrorContext(err).to_string(),
        }
    }
}

/// Runs the mapping described by `settings` until the task is dropped: [`StreamMapping::start`]
/// then [`StreamMapping::run`]. Fails only if the stream cannot be found or disappears.
pub async fn run<I: Invoke>(
    settings: StreamSettings,
    clients: StreamClients,
    lambda: I,
) -> Result<(), BoxError> {
    StreamMapping::start(settings, clients, lambda)
        .await?
        .run()
        .await?;
    Ok(())
}

/// A started mapping. [`StreamMapping::start`] finds the stream and fixes where each shard starts,
/// so that a test can write records once it returned and know which of them `LATEST` delivers;
/// [`StreamMapping::run`] then reads until dropped:
///
/// ```no_run
/// # use orderflow_emulators::lambda::LocalLambda;
/// # async fn example(lambda: LocalLambda) -> Result<(), Box<dyn std::error::Error>> {
/// use orderflow_emulators::streams::{StreamClients, StreamMapping, StreamSettings};
/// let clients = StreamClients::new(&aws_config::load_from_env().await);
/// let settings = StreamSettings::new("orderflow-local-orders", "order-stream");
/// let mapping = StreamMapping::start(settings, clients, lambda).await?;
/// let running = tokio::spawn(mapping.run());
/// // ... write to the table, watch the function ...
/// running.abort();
/// # Ok(()) }
/// ```
pub struct StreamMapping<I> {
    shared: Arc<Shared<I>>,
    /// Every shard seen, and whether it has been read to its end (or skipped).
    shards: HashMap<String, bool>,
    /// Pollers of the shards ready when the mapping started, their iterators already taken.
    first_pollers: Vec<ShardPoller<I>>,
}

/// What every shard's poller shares.
struct Shared<I> {
    settings: StreamSettings,
    clients: StreamClients,
    lambda: I,
    stream_arn: String,
    /// The function's name, as invoked.
    function: String,
    /// The function's ARN, for on-failure records.
    function_arn: String,
    /// The on-failure queue's URL, once looked up.
    queue_url: OnceCell<String>,
}

impl<I: Invoke> StreamMapping<I> {
    /// Finds `settings.table`'s stream and its shards, and takes an iterator for every shard
    /// that can be read now, at the starting position. Fails if the table or its stream does not
    /// exist, or if the stream cannot be read.
    pub async fn start(
        settings: StreamSettings,
        clients: StreamClients,
        lambda: I,
    ) -> Result<Self, StreamError> {
        let stream_arn = stream_arn(&clients.dynamodb, &settings.table).await?;
        let listed = describe_shards(&clients.streams, &stream_arn).await?;
        let function = function_name(&settings.function).to_owned();
        let function_arn = if settings.function.starts_with("arn:") {
            settings.function.clone()
        } else {
            // The stream's ARN names the account (moto's is 123456789012).
            let account = stream_arn.split(':').nth(4).unwrap_or("000000000000");
            format!(
                "arn:aws:lambda:{}:{account}:function:{function}",
                settings.region
            )
        };
        info!(
            table = %settings.table,
            stream = %stream_arn,
            shards = listed.len(),
            %function,
            starting_position = ?settings.starting_position,
            "DynamoDB Streams event source mapping started"
        );
        let starting_position = settings.starting_position;
        let mut mapping = Self {
            shared: Arc::new(Shared {
                settings,
                clients,
                lambda,
                stream_arn,
                function,
                function_arn,
                queue_url: OnceCell::new(),
            }),
            shards: HashMap::new(),
            first_pollers: Vec::new(),
        };
        if starting_position == StartingPosition::Latest {
            // A closed shard holds nothing newer than now.
            for shard in listed.iter().filter(|shard| is_closed(shard)) {
                mapping.shards.insert(shard_id(shard).to_owned(), true);
            }
        }
        let position = match starting_position {
            StartingPosition::TrimHorizon => Position::TrimHorizon,
            StartingPosition::Latest => Position::Latest,
        };
        for shard_id in mapping.ready_shards(&listed) {
            let mut poller =
                ShardPoller::new(Arc::clone(&mapping.shared), shard_id, position.clone());
            poller.iterator = Some(poller.take_iterator().await?);
            mapping.shards.insert(poller.shard_id.clone(), false);
            mapping.first_pollers.push(poller);
        }
        Ok(mapping)
    }

    /// The ARN of the stream read.
    pub fn stream_arn(&self) -> &str {
        &self.shared.stream_arn
    }

    /// Reads every shard, each in its own task, until the future is dropped. Shards that appear
    /// later are found by describing the stream again every few seconds, and a child shard is
    /// read once its parent is done. Fails only if the stream disappears.
    pub async fn run(mut self) -> Result<(), StreamError> {
        let mut pollers = Pollers::default();
        for poller in std::mem::take(&mut self.first_pollers) {
            pollers.spawn(poller);
        }
        let mut discovery = tokio::time::interval(SHARD_DISCOVERY_INTERVAL);
        discovery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        discovery.tick().await;
        loop {
            tokio::select! {
                Some(ended) = pollers.join_next() => {
                    self.shards.insert(ended?, true);
                    // Its children may be ready now.
                    discovery.reset_immediately();
                }
                _ = discovery.tick() => self.discover(&mut pollers).await,
            }
        }
    }

    /// Describes the stream and starts a poller for every new shard that is ready.
    async fn discover(&mut self, pollers: &mut Pollers) {
        let listed =
            match describe_shards(&self.shared.clients.streams, &self.shared.stream_arn).await {
                Ok(listed) => listed,
                Err(err) => {
                    warn!(error = %err, "describing the stream failed; trying again");
                    return;
                }
            };
        for shard_id in self.ready_shards(&listed) {
            info!(shard = %shard_id, "new shard; reading it from its oldest record");
            self.shards.insert(shard_id.clone(), false);
            pollers.spawn(ShardPoller::new(
                Arc::clone(&self.shared),
                shard_id,
                Position::TrimHorizon,
            ));
        }
    }

    /// The listed shards not yet seen whose parent is done, or no longer listed (trimmed).
    fn ready_shards(&self, listed: &[Shard]) -> Vec<String> {
        listed
            .iter()
            .filter(|shard| !self.shards.contains_key(shard_id(shard)))
            .filter(|shard| match shard.parent_shard_id() {
                None => true,
                Some(parent) => {
                    self.shards.get(parent).copied().unwrap_or(false)
                        || !listed.iter().any(|other| shard_id(other) == parent)
                }
            })
            .map(|shard| shard_id(shard).to_owned())
            .collect()
    }
}

/// The running shard pollers, each in its own task.
#[derive(Default)]
struct Pollers {
    tasks: JoinSet<Result<String, StreamError>>,
    /// The shard each task reads, to name it if the task panics.
    shards: HashMap<tokio::task::Id, String>,
}

impl Pollers {
    fn spawn<I: Invoke>(&mut self, poller: ShardPoller<I>) {
        let shard_id = poller.shard_id.clone();
        let task = self.tasks.spawn(poller.run());
        self.shards.insert(task.id(), shard_id);
    }

    /// The next shard read to its end, or why a poller stopped; `None` when none runs.
    async fn join_next(&mut self) -> Option<Result<String, StreamError>> {
        let ended = self.tasks.join_next_with_id().await?;
        Some(match ended {
            Ok((id, read)) => {
                self.shards.remove(&id);
                read
            }
            Err(err) => Err(StreamError::Panicked {
                shard_id: self.shards.remove(&err.id()).unwrap_or_default(),
                message: err.to_string(),
            }),
        })
    }
}

fn shard_id(shard: &Shard) -> &str {
    shard.shard_id().unwrap_or_default()
}

fn is_closed(shard: &Shard) -> bool {
    shard
        .sequence_number_range()
        .and_then(|range| range.ending_sequence_number())
        .is_some()
}

/// The table's latest stream, if it is enabled.
async fn stream_arn(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<String, StreamError> {
    let described = dynamodb.describe_table().table_name(table).send().await;
    let described = match described {
        Ok(described) => described,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Err(StreamError::TableNotFound {
                table: table.to_owned(),
            });
        }
        Err(err) => return Err(StreamError::aws("DescribeTable", err)),
    };
    let description = described.table();
    let enabled = description
        .and_then(|t| t.stream_specification())
        .is_some_and(|spec| spec.stream_enabled());
    match description.and_then(|t| t.latest_stream_arn()) {
        Some(arn) if enabled => Ok(arn.to_owned()),
        _ => Err(StreamError::StreamNotEnabled {
            table: table.to_owned(),
        }),
    }
}

/// Every shard of the stream, page after page.
async fn describe_shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
) -> Result<Vec<Shard>, StreamError> {
    let mut shards = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let described = streams
            .describe_stream()
            .stream_arn(stream_arn)
            .set_exclusive_start_shard_id(after.take())
            .send()
            .await
            .map_err(|err| StreamError::aws("DescribeStream", err))?;
        let Some(description) = described.stream_description() else {
            return Ok(shards);
        };
        shards.extend(description.shards().iter().cloned());
        match description.last_evaluated_shard_id() {
            Some(last) => after = Some(last.to_owned()),
            None => return Ok(shards),
        }
    }
}

/// What a read returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// As many records as it asked for: more may be waiting, read again at once.
    Full,
    /// Fewer, or none: the shard is read again after `poll_interval`.
    Partly,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Position {
    TrimHorizon,
    Latest,
    /// After the last record read.
    After(String),
}

/// A record read from a shard, already in the shape the function receives.
#[derive(Debug, Clone)]
struct Entry {
    sequence_number: String,
    /// `ApproximateCreationDateTime`, in whole seconds since the epoch as the event has it.
    created: Option<i64>,
    json: Value,
    /// The length of `json`, serialized.
    size: usize,
}

/// A run of records at the front of a shard's undelivered records, delivered as one batch until
/// it succeeds, is split or is discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slice {
    len: usize,
    /// Retries so far, as `MaximumRetryAttempts` counts them.
    retries: u32,
    /// Invocations with these records so far (`approximateInvokeCount`).
    invocations: u32,
    /// Whether the last invocation that ran was a function error; `None` before any ran.
    function_error: Option<bool>,
}

impl Slice {
    fn new(len: usize) -> Self {
        Self {
            len,
            retries: 0,
            invocations: 0,
            function_error: None,
        }
    }
}

/// What becomes of a slice after an invocation that failed it as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterFailure {
    /// Deliver it again (its retry counted).
    Retry(Slice),
    /// Deliver these two halves in turn; no retry counted.
    Split(Slice, Slice),
    /// Retries exhausted.
    Discard(Slice),
}

/// Splits a slice that failed as a whole, or counts a retry; pure, so that the rules are tested
/// on their own.
fn after_failure(slice: Slice, bisect: bool, max_retry_attempts: Option<u32>) -> AfterFailure {
    if bisect && slice.len > 1 {
        let first = slice.len / 2;
        return AfterFailure::Split(
            Slice {
                len: first,
                ..slice
            },
            Slice {
                len: slice.len - first,
                ..slice
            },
        );
    }
    count_retry(slice, max_retry_attempts)
}

fn count_retry(mut slice: Slice, max_retry_attempts: Option<u32>) -> AfterFailure {
    slice.retries += 1;
    if max_retry_attempts.is_some_and(|max| slice.retries > max) {
        AfterFailure::Discard(slice)
    } else {
        AfterFailure::Retry(slice)
    }
}

/// How an invocation went for a batch.
enum Outcome {
    /// Every record is done.
    Done,
    /// The records before this index are done; the rest failed.
    Partial(usize),
    /// The function ran and failed the batch as a whole (an error, or an invalid response).
    Failed {
        reason: String,
        function_error: bool,
    },
    /// The function could not be invoked.
    NotInvoked(String),
}

/// Why records were discarded: the `condition` of the on-failure record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscardCondition {
    RetryAttemptsExhausted,
    RecordAgeExceeded,
}

impl DiscardCondition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExceeded => "RecordAgeExceeded",
        }
    }
}

/// Where discarded records were in the stream: the `DDBStreamBatchInfo` of an on-failure record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    pub stream_arn: String,
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    /// `ApproximateCreationDateTime` of the first and last record, in epoch seconds.
    pub first_arrival: Option<i64>,
    pub last_arrival: Option<i64>,
    pub batch_size: usize,
}

/// One shard, read and delivered in order by one task.
struct ShardPoller<I> {
    shared: Arc<Shared<I>>,
    shard_id: String,
    /// The iterator the next read uses; `None` until one is taken, or after it expired.
    iterator: Option<String>,
    /// Where a new iterator starts.
    position: Position,
    /// The shard is closed and every record of it was read.
    ended: bool,
    /// Records read and not yet checkpointed, in order.
    pending: VecDeque<Entry>,
    /// The serialized size of `pending`.
    pending_bytes: usize,
    /// When the first of `pending` was read: the batching window's start.
    window_start: Option<Instant>,
    /// How the front of `pending` is cut into batches still to deliver: a failed batch, its
    /// halves after a bisection. Empty: the next batch is cut from what is read.
    plan: VecDeque<Slice>,
    backoff: Backoff,
}

impl<I: Invoke> ShardPoller<I> {
    fn new(shared: Arc<Shared<I>>, shard_id: String, position: Position) -> Self {
        let backoff = Backoff::new(shared.settings.retry_delay, shared.settings.max_retry_delay);
        Self {
            shared,
            shard_id,
            iterator: None,
            position,
            ended: false,
            pending: VecDeque::new(),
            pending_bytes: 0,
            window_start: None,
            plan: VecDeque::new(),
            backoff,
        }
    }

    /// Delivers the shard's records until it is closed and done; returns its id. Fails only if
    /// the shard disappears.
    async fn run(mut self) -> Result<String, StreamError> {
        debug!(shard = %self.shard_id, position = ?self.position, "reading shard");
        loop {
            if self.plan.is_empty() {
                self.fill().await?;
                if self.pending.is_empty() {
                    info!(shard = %self.shard_id, "shard closed and read to its end");
                    return Ok(self.shard_id);
                }
                let len = batch_len(
                    self.pending.iter().map(|entry| entry.size),
                    self.shared.settings.batch_size,
                );
                self.plan.push_back(Slice::new(len));
            }
            self.deliver_front().await;
        }
    }

    /// Reads until a batch is ready (full, the window passed) or the shard has ended.
    async fn fill(&mut self) -> Result<(), StreamError> {
        let settings = &self.shared.settings;
        let (window, poll_interval) = (settings.batching_window, settings.poll_interval);
        loop {
            if self.batch_ready() || self.ended {
                return Ok(());
            }
            if self.read().await? == Read::Full {
                continue;
            }
            let mut wake = Instant::now() + poll_interval;
            if let Some(start) = self.window_start {
                wake = wake.min(start + window);
            }
            tokio::time::sleep_until(wake).await;
        }
    }

    fn batch_ready(&self) -> bool {
        let settings = &self.shared.settings;
        !self.pending.is_empty()
            && (self.pending.len() >= settings.batch_size
                || self.pending_bytes >= MAX_PAYLOAD_BYTES
                || self
                    .window_start
                    .is_some_and(|start| start.elapsed() >= settings.batching_window))
    }

    /// One `GetRecords`. An expired iterator, trimmed records and passing failures are handled
    /// here (and read as nothing); only a shard that no longer exists is an error.
    async fn read(&mut self) -> Result<Read, StreamError> {
        let iterator = match self.iterator.take() {
            Some(iterator) => iterator,
            None => match self.take_iterator().await {
                Ok(iterator) => iterator,
                Err(StreamError::Aws { operation, message }) => {
                    warn!(
                        shard = %self.shard_id,
                        operation,
                        %message,
                        "taking a shard iterator failed; trying again",
                    );
                    return Ok(Read::Partly);
                }
                Err(err) => return Err(err),
            },
        };
        let room = self
            .shared
            .settings
            .batch_size
            .saturating_sub(self.pending.len())
            .clamp(1, 1000);
        let read = self
            .shared
            .clients
            .streams
            .get_records()
            .shard_iterator(&iterator)
            .limit(i32::try_from(room).unwrap_or(1000))
            .send()
            .await;
        let output = match read {
            Ok(output) => output,
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_expired_iterator_exception()) {
                    debug!(shard = %self.shard_id, "shard iterator expired; taking a new one");
                } else if service.is_some_and(|e| e.is_trimmed_data_access_exception()) {
                    warn!(
                        shard = %self.shard_id,
                        "records past the checkpoint were trimmed from the stream (older than \
                         24 hours); reading on from the oldest left",
                    );
                    self.position = Position::TrimHorizon;
                } else if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                    return Err(self.gone());
                } else {
                    warn!(
                        shard = %self.shard_id,
                        error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&err),
                        "reading the shard failed; trying again",
                    );
                    self.iterator = Some(iterator);
                }
                return Ok(Read::Partly);
            }
        };
        self.iterator = output.next_shard_iterator().map(str::to_owned);
        self.ended = self.iterator.is_none();
        let records = output.records();
        for record in records {
            let Some(sequence_number) = record
                .dynamodb()
                .and_then(|stream| stream.sequence_number())
            else {
                error!(
                    shard = %self.shard_id,
                    event_id = ?record.event_id(),
                    "stream record without a sequence number; skipped",
                );
                continue;
            };
            self.position = Position::After(sequence_number.to_owned());
            let json = match lambda_record(
                record,
                &self.shared.stream_arn,
                &self.shared.settings.region,
            ) {
                Ok(json) => json,
                Err(err) => {
                    error!(
                        shard = %self.shard_id,
                        sequence_number,
                        error = %err,
                        "stream record cannot be encoded; skipped",
                    );
                    continue;
                }
            };
            let size = json.to_string().len();
            self.pending.push_back(Entry {
                sequence_number: sequence_number.to_owned(),
                created: record
                    .dynamodb()
                    .and_then(|stream| stream.approximate_creation_date_time())
                    .map(|at| at.secs()),
                json,
                size,
            });
            self.pending_bytes += size;
            self.window_start.get_or_insert_with(Instant::now);
        }
        Ok(if records.len() >= room {
            Read::Full
        } else {
            Read::Partly
        })
    }

    /// A new iterator at `position`.
    async fn take_iterator(&mut self) -> Result<String, StreamError> {
        let request = self
            .shared
            .clients
            .streams
            .get_shard_iterator()
            .stream_arn(&self.shared.stream_arn)
            .shard_id(&self.shard_id);
        let request = match &self.position {
            Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Position::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            Position::After(sequence_number) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence_number),
        };
        match request.send().await {
            Ok(output) => {
                output
                    .shard_iterator()
                    .map(str::to_owned)
                    .ok_or_else(|| StreamError::Aws {
                        operation: "GetShardIterator",
                        message: "the answer holds no iterator".into(),
                    })
            }
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                    return Err(self.gone());
                }
                if service.is_some_and(|e| e.is_trimmed_data_access_exception()) {
                    warn!(
                        shard = %self.shard_id,
                        position = ?self.position,
                        "the position was trimmed from the stream (older than 24 hours); \
                         reading on from the oldest record left",
                    );
                    self.position = Position::TrimHorizon;
                }
                Err(StreamError::aws("GetShardIterator", err))
            }
        }
    }

    fn gone(&self) -> StreamError {
        StreamError::StreamGone {
            stream_arn: self.shared.stream_arn.clone(),
            shard_id: self.shard_id.clone(),
        }
    }

    /// Delivers the first planned batch once, and acts on the outcome.
    async fn deliver_front(&mut self) {
        let Some(mut slice) = self.plan.pop_front() else {
            return;
        };
        if let Some(max_age) = self.shared.settings.max_record_age {
            let now = Utc::now().timestamp();
            let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            let expired = self
                .pending
                .iter()
                .take(slice.len)
                .take_while(|entry| entry.created.is_some_and(|at| now - at > max_age))
                .count();
            if expired > 0 {
                self.discard(expired, DiscardCondition::RecordAgeExceeded, slice)
                    .await;
                slice.len -= expired;
                if slice.len > 0 {
                    self.plan.push_front(slice);
                }
                return;
            }
        }
        let outcome = self.invoke(slice.len).await;
        let settings = &self.shared.settings;
        let (bisect, max_retries) = (settings.bisect_on_error, settings.max_retry_attempts);
        let next = match outcome {
            Outcome::Done => {
                let (first, last) = self.range(slice.len);
                info!(shard = %self.shard_id, records = slice.len, first, last, "batch delivered");
                self.checkpoint(slice.len);
                self.backoff.reset();
                return;
            }
            Outcome::Partial(done) => {
                slice.invocations += 1;
                slice.function_error = Some(false);
                let failed = self.pending.get(done).map(|e| e.sequence_number.as_str());
                warn!(
                    shard = %self.shard_id,
                    done,
                    failed = failed.unwrap_or_default(),
                    "function reported a failure; retrying from that record",
                );
                self.checkpoint(done);
                slice.len -= done;
                count_retry(slice, max_retries)
            }
            Outcome::Failed {
                reason,
                function_error,
            } => {
                slice.invocations += 1;
                slice.function_error = Some(function_error);
                let next = after_failure(slice, bisect, max_retries);
                if let AfterFailure::Split(first, second) = next {
                    warn!(
                        shard = %self.shard_id,
                        %reason,
                        records = slice.len,
                        halves = ?(first.len, second.len),
                        "batch failed; bisecting it",
                    );
                } else {
                    warn!(
                        shard = %self.shard_id,
                        %reason,
                        records = slice.len,
                        retries = slice.retries,
                        "batch failed",
                    );
                }
                next
            }
            Outcome::NotInvoked(reason) => {
                warn!(
                    shard = %self.shard_id,
                    %reason,
                    "function not invoked; the batch will be delivered again",
                );
                AfterFailure::Retry(slice)
            }
        };
        match next {
            AfterFailure::Retry(slice) => self.plan.push_front(slice),
            AfterFailure::Split(first, second) => {
                self.plan.push_front(second);
                self.plan.push_front(first);
            }
            AfterFailure::Discard(slice) => {
                self.discard(slice.len, DiscardCondition::RetryAttemptsExhausted, slice)
                    .await;
                // What follows is another batch, with its own failures.
                self.backoff.reset();
                return;
            }
        }
        tokio::time::sleep(self.backoff.next_wait()).await;
    }

    /// Invokes the function with the first `len` pending records.
    async fn invoke(&self, len: usize) -> Outcome {
        let records: Vec<Value> = self
            .pending
            .iter()
            .take(len)
            .map(|entry| entry.json.clone())
            .collect();
        let payload = json!({ "Records": records });
        match self
            .shared
            .lambda
            .invoke(&self.shared.function, &payload)
            .await
        {
            Ok(response) => {
                let sequence_numbers: Vec<&str> = self
                    .pending
                    .iter()
                    .take(len)
                    .map(|entry| entry.sequence_number.as_str())
                    .collect();
                match first_failed(&sequence_numbers, &response) {
                    Ok(None) => Outcome::Done,
                    Ok(Some(index)) => Outcome::Partial(index),
                    Err(reason) => Outcome::Failed {
                        reason,
                        function_error: false,
                    },
                }
            }
            Err(err) if err.is_function_error() => Outcome::Failed {
                reason: err.to_string(),
                function_error: true,
            },
            Err(err) => Outcome::NotInvoked(err.to_string()),
        }
    }

    /// The first and last sequence numbers of the first `len` pending records.
    fn range(&self, len: usize) -> (&str, &str) {
        let first = self.pending.front().map(|e| e.sequence_number.as_str());
        let last = self
            .pending
            .get(len.saturating_sub(1))
            .map(|e| e.sequence_number.as_str());
        (first.unwrap_or_default(), last.unwrap_or_default())
    }

    /// Moves the checkpoint past the first `count` pending records.
    fn checkpoint(&mut self, count: usize) {
        for entry in self.pending.drain(..count.min(self.pending.len())) {
            self.pending_bytes -= entry.size;
        }
        if self.pending.is_empty() {
            self.window_start = None;
        }
    }

    /// Gives up on the first `count` pending records: their on-failure record goes to the log and
    /// the on-failure queue, and the checkpoint moves past them.
    async fn discard(&mut self, count: usize, condition: DiscardCondition, slice: Slice) {
        let records: Vec<&Entry> = self.pending.iter().take(count).collect();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return;
        };
        let info = BatchInfo {
            stream_arn: self.shared.stream_arn.clone(),
            shard_id: self.shard_id.clone(),
            start_sequence_number: first.sequence_number.clone(),
            end_sequence_number: last.sequence_number.clone(),
            first_arrival: first.created,
            last_arrival: last.created,
            batch_size: count,
        };
        let record = on_failure_record(
            &self.shared.function_arn,
            &info,
            condition,
            slice.invocations,
            slice.function_error,
            Utc::now(),
        );
        error!(
            shard = %self.shard_id,
            condition = condition.as_str(),
            start = %info.start_sequence_number,
            end = %info.end_sequence_number,
            records = count,
            on_failure_record = %record,
            "records discarded"
        );
        if let Some(queue) = &self.shared.settings.on_failure_queue {
            self.send_on_failure(queue, &record.to_string()).await;
        }
        self.checkpoint(count);
    }

    /// Sends an on-failure record, a few times if need be. It is in the log already, so a queue
    /// that cannot be reached does not hold the shard.
    async fn send_on_failure(&self, queue: &str, body: &str) {
        let mut backoff = Backoff::new(
            self.shared.settings.retry_delay,
            self.shared.settings.max_retry_delay,
        );
        for attempt in 1..=ON_FAILURE_SEND_ATTEMPTS {
            match send(&self.shared, queue, body).await {
                Ok(()) => {
                    info!(shard = %self.shard_id, queue, "on-failure record sent");
                    return;
                }
                Err(err) if attempt < ON_FAILURE_SEND_ATTEMPTS => {
                    warn!(
                        shard = %self.shard_id,
                        queue,
                        attempt,
                        error = %err,
                        "sending the on-failure record failed; trying again",
                    );
                    tokio::time::sleep(backoff.next_wait()).await;
                }
                Err(err) => {
                    error!(
                        shard = %self.shard_id,
                        queue,
                        error = %err,
                        "sending the on-failure record failed; it is only in this log",
                    );
                }
            }
        }
    }
}

/// Sends `body` to the queue named by `queue`: a queue URL, or an ARN whose name is looked up.
async fn send<I>(shared: &Shared<I>, queue: &str, body: &str) -> Result<(), BoxError> {
    let url = shared
        .queue_url
        .get_or_try_init(|| async {
            if queue.starts_with("http://") || queue.starts_with("https://") {
                return Ok::<_, BoxError>(queue.to_owned());
            }
            let name = queue.rsplit(':').next().unwrap_or(queue);
            let found = shared
                .clients
                .sqs
                .get_queue_url()
                .queue_name(name)
                .send()
                .await?;
            found
                .queue_url()
                .map(str::to_owned)
                .ok_or_else(|| format!("no URL for queue {name}").into())
        })
        .await?;
    shared
        .clients
        .sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await?;
    Ok(())
}

/// How many of the records, of these serialized sizes, the next batch takes: at most
/// `batch_size`, and no more than fits in Lambda's payload limit, but always one.
fn batch_len(sizes: impl Iterator<Item = usize>, batch_size: usize) -> usize {
    // `{"Records":[...]}` and the commas between records.
    let mut bytes = r#"{"Records":[]}"#.len();
    let mut len = 0;
    for size in sizes.take(batch_size) {
        bytes += size + usize::from(len > 0);
        if len > 0 && bytes > MAX_PAYLOAD_BYTES {
            break;
        }
        len += 1;
    }
    len.max(1)
}

/// A record of the stream as the function receives it in the event's `Records`, from the record
/// `GetRecords` returned: keys and images in DynamoDB JSON, `ApproximateCreationDateTime` in whole
/// epoch seconds, and the mapping's `eventSourceARN` and `awsRegion`.
pub fn lambda_record(
    record: &Record,
    stream_arn: &str,
    region: &str,
) -> Result<Value, EncodeError> {
    let stream = record.dynamodb().ok_or(EncodeError::NoStreamRecord)?;
    let mut dynamodb = Map::new();
    if let Some(at) = stream.approximate_creation_date_time() {
        dynamodb.insert("ApproximateCreationDateTime".into(), json!(at.secs()));
    }
    for (name, image) in [
        ("Keys", stream.keys.as_ref()),
        ("NewImage", stream.new_image.as_ref()),
        ("OldImage", stream.old_image.as_ref()),
    ] {
        if let Some(image) = image {
            dynamodb.insert(name.into(), image_json(image)?);
        }
    }
    if let Some(sequence_number) = stream.sequence_number() {
        dynamodb.insert("SequenceNumber".into(), json!(sequence_number));
    }
    if let Some(size) = stream.size_bytes() {
        dynamodb.insert("SizeBytes".into(), json!(size));
    }
    if let Some(view) = stream.stream_view_type() {
        dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
    }
    let mut event = Map::new();
    if let Some(id) = record.event_id() {
        event.insert("eventID".into(), json!(id));
    }
    if let Some(name) = record.event_name() {
        event.insert("eventName".into(), json!(name.as_str()));
    }
    event.insert("eventVersion".into(), json!("1.1"));
    event.insert("eventSource".into(), json!("aws:dynamodb"));
    event.insert("awsRegion".into(), json!(region));
    event.insert("dynamodb".into(), Value::Object(dynamodb));
    event.insert("eventSourceARN".into(), json!(stream_arn));
    // Present on deletions by Time to Live:
    // {"type": "Service", "principalId": "dynamodb.amazonaws.com"}.
    if let Some(identity) = record.user_identity() {
        event.insert(
            "userIdentity".into(),
            json!({ "type": identity.r#type(), "principalId": identity.principal_id() }),
        );
    }
    Ok(Value::Object(event))
}

/// Why a stream record cannot be handed to the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("the record has no stream record (`dynamodb`)")]
    NoStreamRecord,
    #[error("attribute {attribute} holds a type this SDK does not know")]
    UnknownAttributeType { attribute: String },
}

/// An item image (or its keys) in DynamoDB JSON: `{"name": {"S": "x"}, ...}`.
pub fn image_json(image: &HashMap<String, AttributeValue>) -> Result<Value, EncodeError> {
    image
        .iter()
        .map(|(name, value)| {
            attribute_value_json(value)
                .map(|json| (name.clone(), json))
                .ok_or_else(|| EncodeError::UnknownAttributeType {
                    attribute: name.clone(),
                })
        })
        .collect::<Result<Map<_, _>, _>>()
        .map(Value::Object)
}

/// One attribute value in DynamoDB JSON, as the Lambda event carries it: `{"S": "x"}`,
/// `{"N": "1.5"}` (numbers stay strings), `{"B": "<base64>"}`, `{"BOOL": true}`,
/// `{"NULL": true}`, `{"M": {...}}`, `{"L": [...]}`, `{"SS": [...]}`, `{"NS": [...]}`,
/// `{"BS": ["<base64>", ...]}`. `None` for a type this SDK does not know.
pub fn attribute_value_json(value: &AttributeValue) -> Option<Value> {
    Some(match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": BASE64.encode(b.as_ref()) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Ss(ss) => json!({ "SS": ss }),
        AttributeValue::Ns(ns) => json!({ "NS": ns }),
        AttributeValue::Bs(bs) => {
            json!({ "BS": bs.iter().map(|b| BASE64.encode(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::L(list) => json!({
            "L": list.iter().map(attribute_value_json).collect::<Option<Vec<_>>>()?
        }),
        AttributeValue::M(map) => json!({
            "M": map
                .iter()
                .map(|(k, v)| attribute_value_json(v).map(|v| (k.clone(), v)))
                .collect::<Option<Map<_, _>>>()?
        }),
        _ => return None,
    })
}

/// Where the function's response says to resume a batch whose records carry `sequence_numbers`,
/// in stream order: `None` if every record is done, `Some(i)` to retry from the `i`th, the
/// lowest sequence number `batchItemFailures` names. A response with no failures (`null`, `{}`,
/// a null or empty `batchItemFailures`) is a success; one that is not a partial batch response,
/// or whose `itemIdentifier` is missing, empty, null or not a sequence number of the batch, fails
/// the whole batch (the error says why), as on AWS.
pub fn first_failed(sequence_numbers: &[&str], response: &Value) -> Result<Option<usize>, String> {
    let failures = match response {
        Value::Null => return Ok(None),
        Value::Object(fields) => match fields.get("batchItemFailures") {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(failures)) => failures,
            Some(other) => return Err(format!("batchItemFailures is not a list: {other}")),
        },
        other => {
            return Err(format!(
                "the response is not a partial batch response: {other}"
            ));
        }
    };
    let mut first: Option<usize> = None;
    for failure in failures {
        let identifier = match failure.get("itemIdentifier") {
            Some(Value::String(identifier)) if !identifier.is_empty() => identifier,
            _ => {
                return Err(format!(
                    "batchItemFailures entry without an itemIdentifier: {failure}"
                ));
            }
        };
        let index = sequence_numbers
            .iter()
            .position(|sequence_number| sequence_number == identifier)
            .ok_or_else(|| {
                format!(
                    "batchItemFailures names {identifier}, \
                     which is not a sequence number of the batch"
                )
            })?;
        first = Some(first.map_or(index, |first| first.min(index)));
    }
    Ok(first)
}

/// The record Lambda sends to a stream mapping's on-failure destination: where the discarded
/// records are in the stream, not the records ("Retain discarded records for a DynamoDB event
/// source"). `invocations` is `approximateInvokeCount`; `function_error` whether the last
/// invocation that ran failed with an error (`None`: none ran, and there is no
/// `responseContext`).
pub fn on_failure_record(
    function_arn: &str,
    batch: &BatchInfo,
    condition: DiscardCondition,
    invocations: u32,
    function_error: Option<bool>,
    at: DateTime<Utc>,
) -> Value {
    let arrival = |seconds: Option<i64>| {
        seconds
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
    };
    let mut record = json!({
        "requestContext": {
            "requestId": request_id(batch, at),
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": invocations,
        },
        "version": "1.0",
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "DDBStreamBatchInfo": {
            "shardId": batch.shard_id,
            "startSequenceNumber": batch.start_sequence_number,
            "endSequenceNumber": batch.end_sequence_number,
            "approximateArrivalOfFirstRecord": arrival(batch.first_arrival),
            "approximateArrivalOfLastRecord": arrival(batch.last_arrival),
            "batchSize": batch.batch_size,
            "streamArn": batch.stream_arn,
        },
    });
    if let Some(function_error) = function_error {
        let mut response = json!({ "statusCode": 200, "executedVersion": "$LATEST" });
        if function_error {
            response["functionError"] = json!("Unhandled");
        }
        record["responseContext"] = response;
    }
    record
}

/// A request id for an on-failure record: unique enough locally, and needs no random source.
fn request_id(batch: &BatchInfo, at: DateTime<Utc>) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&batch.shard_id, &batch.start_sequence_number).hash(&mut hasher);
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        hasher.finish() & 0xffff_ffff,
        at.timestamp_micros().rem_euclid(1 << 48)
    )
}

/// The wait before a failed batch is delivered again: `initial`, doubling with each failure in
/// a row, at most `max`.
#[derive(Debug, Clone)]
struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            failures: 0,
        }
    }

    fn next_wait(&mut self) -> Duration {
        let doublings = self.failures.min(20);
        self.failures = self.failures.saturating_add(1);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use aws_sdk_dynamodbstreams::primitives::{Blob, DateTime as SdkDateTime};
    use aws_sdk_dynamodbstreams::types::{Identity, OperationType, StreamRecord, StreamViewType};

    use super::*;

    fn image(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect()
    }

    #[test]
    fn attribute_values_become_dynamodb_json() {
        let cases = [
            (AttributeValue::S("x".into()), json!({"S": "x"})),
            (AttributeValue::N("1.50".into()), json!({"N": "1.50"})),
            (
                AttributeValue::B(Blob::new(vec![0, 1, 255])),
                json!({"B": "AAH/"}),
            ),
            (AttributeValue::Bool(false), json!({"BOOL": false})),
            (AttributeValue::Null(true), json!({"NULL": true})),
            (
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
                json!({"SS": ["a", "b"]}),
            ),
            (
                AttributeValue::Ns(vec!["1".into(), "-2e3".into()]),
                json!({"NS": ["1", "-2e3"]}),
            ),
            (
                AttributeValue::Bs(vec![Blob::new(b"hi".to_vec())]),
                json!({"BS": ["aGk="]}),
            ),
            (AttributeValue::L(vec![]), json!({"L": []})),
            (AttributeValue::M(HashMap::new()), json!({"M": {}})),
            (
                AttributeValue::M(image(&[
                    (
                        "lines",
                        AttributeValue::L(vec![AttributeValue::M(image(&[(
                            "qty",
                            AttributeValue::N("2".into()),
                        )]))]),
                    ),
                    ("paid", AttributeValue::Bool(true)),
                ])),
                json!({"M": {"lines": {"L": [{"M": {"qty": {"N": "2"}}}]}, "paid": {"BOOL": true}}}),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(attribute_value_json(&value), Some(expected), "{value:?}");
        }
    }

    fn stream_record(event: OperationType, identity: Option<Identity>) -> Record {
        Record::builder()
            .event_id("e-1")
            .event_name(event)
            .event_version("1.0")
            .event_source("aws:dynamodb")
            .aws_region("us-east-1")
            .set_user_identity(identity)
            .dynamodb(
                StreamRecord::builder()
                    .approximate_creation_date_time(SdkDateTime::from_fractional_secs(
                        1_700_000_000,
                        0.94,
                    ))
                    .keys("pk", AttributeValue::S("o-1".into()))
                    .old_image("pk", AttributeValue::S("o-1".into()))
                    .old_image("status", AttributeValue::S("PENDING".into()))
                    .sequence_number("1100000000017454423009")
                    .size_bytes(57)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build(),
            )
            .build()
    }

    #[test]
    fn a_record_has_the_shape_lambda_delivers() {
        let arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-01-01T00:00:00.000";
        let record = lambda_record(
            &stream_record(OperationType::Remove, None),
            arn,
            "eu-west-1",
        );
        assert_eq!(
            record,
            Ok(json!({
                "eventID": "e-1",
                "eventName": "REMOVE",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_700_000_000,
                    "Keys": {"pk": {"S": "o-1"}},
                    "OldImage": {"pk": {"S": "o-1"}, "status": {"S": "PENDING"}},
                    "SequenceNumber": "1100000000017454423009",
                    "SizeBytes": 57,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": arn,
            }))
        );
    }

    #[test]
    fn a_deletion_by_time_to_live_names_the_service() {
        let identity = Identity::builder()
            .r#type("Service")
            .principal_id("dynamodb.amazonaws.com")
            .build();
        let record = lambda_record(
            &stream_record(OperationType::Remove, Some(identity)),
            "arn",
            "us-east-1",
        )
        .expect("encoded");
        assert_eq!(
            record["userIdentity"],
            json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"})
        );
    }

    const BATCH: [&str; 3] = ["100", "200", "300"];

    #[test]
    fn a_response_without_failures_completes_the_batch() {
        for response in [
            Value::Null,
            json!({}),
            json!({"batchItemFailures": null}),
            json!({"batchItemFailures": []}),
            json!({"somethingElse": 1}),
        ] {
            assert_eq!(first_failed(&BATCH, &response), Ok(None), "{response}");
        }
    }

    #[test]
    fn the_lowest_reported_sequence_number_is_where_the_batch_resumes() {
        let response = json!({"batchItemFailures": [
            {"itemIdentifier": "300"},
            {"itemIdentifier": "200"},
        ]});
        assert_eq!(first_failed(&BATCH, &response), Ok(Some(1)));
        let first = json!({"batchItemFailures": [{"itemIdentifier": "100"}]});
        assert_eq!(first_failed(&BATCH, &first), Ok(Some(0)));
    }

    #[test]
    fn a_response_that_is_not_a_valid_partial_batch_response_fails_the_batch() {
        for (response, reason) in [
            (
                json!("done"),
                r#"the response is not a partial batch response: "done""#,
            ),
            (
                json!([]),
                "the response is not a partial batch response: []",
            ),
            (
                json!({"batchItemFailures": {"itemIdentifier": "100"}}),
                r#"batchItemFailures is not a list: {"itemIdentifier":"100"}"#,
            ),
            (
                json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
                r#"batchItemFailures entry without an itemIdentifier: {"itemIdentifier":""}"#,
            ),
            (
                json!({"batchItemFailures": [{"itemIdentifier": null}]}),
                r#"batchItemFailures entry without an itemIdentifier: {"itemIdentifier":null}"#,
            ),
            (
                json!({"batchItemFailures": [{"itemIdentifer": "100"}]}),
                r#"batchItemFailures entry without an itemIdentifier: {"itemIdentifer":"100"}"#,
            ),
            (
                json!({"batchItemFailures": [{"itemIdentifier": 100}]}),
                r#"batchItemFailures entry without an itemIdentifier: {"itemIdentifier":100}"#,
            ),
            (
                json!({"batchItemFailures": [{"itemIdentifier": "200"}, {"itemIdentifier": "999"}]}),
                "batchItemFailures names 999, which is not a sequence number of the batch",
            ),
        ] {
            assert_eq!(
                first_failed(&BATCH, &response),
                Err(reason.to_owned()),
                "{response}"
            );
        }
    }

    #[test]
    fn bisection_splits_until_one_record_is_left_and_counts_no_retry() {
        let slice = Slice {
            len: 5,
            retries: 1,
            invocations: 2,
            function_error: Some(true),
        };
        assert_eq!(
            after_failure(slice, true, Some(0)),
            AfterFailure::Split(Slice { len: 2, ..slice }, Slice { len: 3, ..slice })
        );
        let single = Slice { len: 1, ..slice };
        assert_eq!(
            after_failure(single, true, Some(2)),
            AfterFailure::Retry(Slice {
                retries: 2,
                ..single
            })
        );
        assert_eq!(
            after_failure(single, true, Some(1)),
            AfterFailure::Discard(Slice {
                retries: 2,
                ..single
            })
        );
    }

    #[test]
    fn without_bisection_every_failure_counts_a_retry_until_the_maximum() {
        let slice = Slice::new(4);
        assert_eq!(
            after_failure(slice, false, Some(1)),
            AfterFailure::Retry(Slice {
                retries: 1,
                ..slice
            })
        );
        let retried = Slice {
            retries: 1,
            ..slice
        };
        assert_eq!(
            after_failure(retried, false, Some(1)),
            AfterFailure::Discard(Slice {
                retries: 2,
                ..slice
            })
        );
        let many = Slice {
            retries: 10_000,
            ..slice
        };
        assert!(
            matches!(after_failure(many, false, None), AfterFailure::Retry(_)),
            "no maximum: retried until the records are too old"
        );
    }

    #[test]
    fn batches_stop_at_the_batch_size_or_the_payload_limit() {
        assert_eq!(batch_len([10, 10, 10].into_iter(), 2), 2);
        assert_eq!(batch_len([10, 10, 10].into_iter(), 100), 3);
        let half = MAX_PAYLOAD_BYTES / 2;
        assert_eq!(batch_len([half, half - 20, 5].into_iter(), 100), 2);
        assert_eq!(batch_len([half, half, 5].into_iter(), 100), 1);
        assert_eq!(
            batch_len([MAX_PAYLOAD_BYTES * 2].into_iter(), 100),
            1,
            "a record is delivered even if alone it is too large"
        );
    }

    #[test]
    fn an_on_failure_record_locates_the_records_in_the_stream() {
        let batch = BatchInfo {
            stream_arn: "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x".into(),
            shard_id: "shardId-1".into(),
            start_sequence_number: "100".into(),
            end_sequence_number: "300".into(),
            first_arrival: Some(1_700_000_000),
            last_arrival: Some(1_700_000_061),
            batch_size: 3,
        };
        let at = DateTime::from_timestamp(1_700_000_100, 250_000_000).expect("time");
        let record = on_failure_record(
            "arn:aws:lambda:us-east-1:123456789012:function:order-stream",
            &batch,
            DiscardCondition::RetryAttemptsExhausted,
            4,
            Some(true),
            at,
        );
        assert_eq!(record["version"], "1.0");
        assert_eq!(record["timestamp"], "2023-11-14T22:15:00.250Z");
        assert_eq!(
            record["requestContext"]["functionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:order-stream"
        );
        assert_eq!(
            record["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(record["requestContext"]["approximateInvokeCount"], 4);
        assert_eq!(
            record["responseContext"],
            json!({"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"})
        );
        assert_eq!(
            record["DDBStreamBatchInfo"],
            json!({
                "shardId": "shardId-1",
                "startSequenceNumber": "100",
                "endSequenceNumber": "300",
                "approximateArrivalOfFirstRecord": "2023-11-14T22:13:20Z",
                "approximateArrivalOfLastRecord": "2023-11-14T22:14:21Z",
                "batchSize": 3,
                "streamArn": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/x",
            })
        );
        assert!(record.get("Records").is_none(), "the records are not sent");

        let aged = on_failure_record(
            "f",
            &batch,
            DiscardCondition::RecordAgeExceeded,
            0,
            None,
            at,
        );
        assert_eq!(aged["requestContext"]["condition"], "RecordAgeExceeded");
        assert!(aged.get("responseContext").is_none(), "{aged}");
    }

    #[test]
    fn backoff_doubles_up_to_its_maximum_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let waits: Vec<u128> = (0..8).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next_wait(), Duration::from_millis(100));
    }

    #[test]
    fn starting_positions_parse_as_the_mapping_names_them() {
        assert_eq!(
            StartingPosition::parse("TRIM_HORIZON"),
            Ok(StartingPosition::TrimHorizon)
        );
        assert_eq!(
            StartingPosition::parse("LATEST"),
            Ok(StartingPosition::Latest)
        );
        assert_eq!(
            StartingPosition::parse("AT_TIMESTAMP")
                .unwrap_err()
                .to_string(),
            r#"STREAM_STARTING_POSITION must be TRIM_HORIZON or LATEST, not "AT_TIMESTAMP""#
        );
    }
}

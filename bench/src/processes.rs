//! Figures 4 and 5: what each function costs as a process, measured on its release binary run the
//! way Lambda runs it: a child process polling a local Lambda Runtime API
//! (`orderflow_testing::runtime`), on fresh tables and topics of the local services.
//!
//! - Figure 4, cold start: from spawning a fresh process to the answer to its first invocation,
//!   against the same event handled by the same process once warm. The ratio is what a new
//!   execution environment adds to an invocation: loading the binary, the runtime, the clients,
//!   their first connections.
//! - Figure 5, memory and size: the peak resident set of a process under sustained invocations,
//!   against its resident set right after the first one, and each function's zip: the one
//!   `make package` built, or else the native release binary zipped here, each row labelled with
//!   the architecture its binary really has.
//!
//! Each function gets the event it is deployed for, one it really handles: an order placed
//! (create-order), the caller's order read back (orders-api), a `created` record batch
//! (order-events), a stream `INSERT` of a new order (order-stream), a payment timeout past its
//! deadline (order-timeout). Every answer is checked, so a misconfigured function fails the
//! figure instead of timing its error path.

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use orderflow_adapters::dynamodb::admin;
use orderflow_adapters::dynamodb::stream::order_image;
use orderflow_adapters::kafka::raw_record;
use orderflow_adapters::msk::KafkaEventBuilder;
use orderflow_domain::error::cause_chain;
use orderflow_domain::ports::EventPublisher;
use orderflow_http::testing::ApiGatewayRequest;
use orderflow_testing::api::{Placer, order_request};
use orderflow_testing::local;
use orderflow_testing::runtime::{self, FunctionProcess, Invocation, RuntimeApi};
use orderflow_testing::services::LocalServices;
use orderflow_types::{EventType, Order, OrderEvent, PaymentTimeout};
use serde_json::{Value, json};

use crate::report::{Row, Stat};
use crate::{Outcome, Settings};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Every function of the workspace, in the order the table lists them.
const FUNCTIONS: [&str; 5] = [
    "create-order",
    "orders-api",
    "order-events",
    "order-stream",
    "order-timeout",
];

/// The warm invocations timed after each cold one: the baseline is their median over all starts.
const WARM_PER_START: usize = 3;

/// Invocations queued ahead of the one being answered under sustained load, so that the process
/// never waits for the bench between two of them. The Runtime API hands them out one at a time,
/// as Lambda does to one execution environment.
const QUEUED_AHEAD: usize = 4;

/// How long one invocation, cold or warm, may take before the figure fails: far above any
/// healthy answer, so only a hung function reaches it.
const INVOCATION_LIMIT: Duration = Duration::from_secs(30);

/// The user every event is for.
const USER: &str = "bench-user";

/// One function ready to be started: its binary, the environment it reads, the event it handles.
struct Subject {
    name: &'static str,
    binary: PathBuf,
    /// The function's timeout in `infra/lambda.tf`: each invocation's deadline.
    timeout: Duration,
    env: Vec<(&'static str, String)>,
    event: Vec<u8>,
    /// What a handled event's answer looks like.
    expect: Expect,
    /// The tables, schedule group and topic made for this function alone.
    services: LocalServices,
}

/// How a function answers an event it handled.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An API Gateway response with this status.
    Http(u16),
    /// A partial batch response that names no record.
    WholeBatch,
    /// Any answer: the function answers only what it did.
    Answer,
}

/// Figure 4: each function's cold start against its warm invocation, in milliseconds.
pub async fn cold_starts(settings: &Settings) -> Outcome {
    let starts = settings.runs(20, 2);
    let mut rows = Vec::new();
    for name in FUNCTIONS {
        let release_dir = settings.release_dir.clone();
        let row = isolated(name, async move {
            let subject = Subject::prepare(name, &release_dir).await?;
            let row = cold_start_row(&subject, starts).await;
            subject.remove().await;
            row
        })
        .await?;
        rows.push(row);
    }
    Ok(rows)
}

/// Figure 5: each function's peak resident set under load against its resident set after the
/// first event, then each function's zip, in MiB.
pub async fn memory_and_size(settings: &Settings) -> Outcome {
    let invocations = settings.runs(500, 10);
    let mut rows = Vec::new();
    for name in FUNCTIONS {
        let release_dir = settings.release_dir.clone();
        let row = isolated(name, async move {
            let subject = Subject::prepare(name, &release_dir).await?;
            let row = memory_row(&subject, invocations).await;
            subject.remove().await;
            row
        })
        .await?;
        rows.push(row);
    }
    for name in FUNCTIONS {
        rows.push(zip_row(name, settings)?);
    }
    Ok(rows)
}

/// Runs one function's measurement as a task of its own, so that a panic of the test support
/// (a local service that refuses a table) fails the figure with its message instead of ending the
/// whole bench before it printed anything.
async fn isolated(
    name: &str,
    work: impl Future<Output = Result<Row, Error>> + Send + 'static,
) -> Result<Row, Error> {
    match tokio::spawn(work).await {
        Ok(row) => row.map_err(|err| format!("{name}: {err}").into()),
        Err(failed) => {
            let panic = failed.into_panic();
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("a panic without a message");
            Err(format!("{name}: {message}").into())
        }
    }
}

impl Subject {
    /// Fresh tables, schedule group and topic for `name`, what it reads from them, and its event.
    async fn prepare(name: &'static str, release_dir: &Path) -> Result<Self, Error> {
        let binary = release_dir.join(name);
        if !binary.is_file() {
            return Err(format!(
                "no release binary at {}: `make bench` builds them (scripts/bench.sh), or pass \
                 --release-dir",
                binary.display()
            )
            .into());
        }
        let services = LocalServices::new(1).await;
        let product = services.product("bench-tea", 450, 10_000_000).await;
        let order = Placer::new(&services).place(USER, &[(&product, 1)]).await;
        let api_env = || {
            let scheduler = services.scheduler_config();
            vec![
                ("DYNAMODB_TABLE_PREFIX", services.tables.prefix().to_owned()),
                ("SCHEDULE_GROUP_NAME", scheduler.group_name),
                ("ORDER_TIMEOUT_FUNCTION_ARN", scheduler.target_arn),
                ("SCHEDULER_ROLE_ARN", scheduler.role_arn),
            ]
        };
        let producer_env = || {
            vec![
                ("KAFKA_BOOTSTRAP_SERVERS", local::kafka_bootstrap_servers()),
                ("ORDER_EVENTS_TOPIC", services.topic.clone()),
            ]
        };
        let (timeout, env, event, expect) = match name {
            // No idempotency key: every invocation places a new order of one unit.
            "create-order" => (
                15,
                api_env(),
                order_request(USER, &[(&product, 1)]).event(),
                Expect::Http(201),
            ),
            "orders-api" => (
                15,
                api_env(),
                ApiGatewayRequest::get(format!("/orders/{}", order.order_id))
                    .user(USER)
                    .event(),
                Expect::Http(200),
            ),
            "order-events" => (
                60,
                vec![
                    ("DYNAMODB_TABLE_PREFIX", services.tables.prefix().to_owned()),
                    ("KAFKA_BOOTSTRAP_SERVERS", local::kafka_bootstrap_servers()),
                    ("ORDER_EVENTS_DLQ_TOPIC", local::fresh_topic(1).await),
                ],
                created_batch(&services, &order).await?,
                Expect::WholeBatch,
            ),
            "order-stream" => (
                120,
                producer_env(),
                insert_batch(&order)?,
                Expect::WholeBatch,
            ),
            "order-timeout" => (
                15,
                producer_env(),
                serde_json::to_value(PaymentTimeout {
                    order_id: order.order_id.clone(),
                    user_id: order.user_id.clone(),
                    payment_due_at: chrono::Utc::now() - chrono::TimeDelta::seconds(1),
                })?,
                Expect::Answer,
            ),
            other => return Err(format!("no event for a function named {other}").into()),
        };
        Ok(Self {
            name,
            binary,
            timeout: Duration::from_secs(timeout),
            env,
            event: serde_json::to_vec(&event)?,
            expect,
            services,
        })
    }

    /// Deletes the tables and the schedule group made for this function. moto copies every table
    /// it holds before each transaction, so what one function's measurement left behind would
    /// slow down the next ones, and every later user of a moto that stays up.
    async fn remove(self) {
        let Self { name, services, .. } = self;
        if let Err(err) = admin::delete_tables(&services.dynamodb, &services.tables).await {
            eprintln!(
                "bench: {name}: leaving the tables {}*: {}",
                services.tables.prefix(),
                cause_chain(&err)
            );
        }
        let group = services
            .scheduler_client
            .delete_schedule_group()
            .name(&services.schedule_group)
            .send()
            .await;
        if let Err(err) = group {
            eprintln!(
                "bench: {name}: leaving the schedule group {}: {err}",
                services.schedule_group
            );
        }
    }

    /// A fresh process of this function: a new execution environment.
    fn spawn(&self, runtime: &RuntimeApi) -> FunctionProcess {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        runtime.spawn(&self.binary, &env)
    }

    /// Waits for `invocation`'s answer and checks that the function handled the event; fails
    /// early if the process exits, and names its log either way.
    async fn handled(
        &self,
        process: &mut FunctionProcess,
        invocation: Invocation,
    ) -> Result<(), Error> {
        let failed = |what: String, process: &FunctionProcess| -> Error {
            format!(
                "{what}; the function's log ({}) ends with:\n{}",
                process.log_path().display(),
                tail(&process.log(), 20)
            )
            .into()
        };
        // A little past our own limit: `outcome` panics at its own, which ours is to pre-empt.
        let outcome = invocation.outcome(INVOCATION_LIMIT + Duration::from_secs(5));
        let outcome = tokio::select! {
            answered = tokio::time::timeout(INVOCATION_LIMIT, outcome) => match answered {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(failed(format!("no answer within {INVOCATION_LIMIT:?}"), process));
                }
            },
            () = exited(process) => {
                return Err(failed("the process exited before it answered".into(), process));
            }
        };
        match (&outcome, self.expect) {
            (runtime::Outcome::Response(body), expect) => {
                check_answer(body, expect).map_err(|err| failed(err, process))
            }
            (other, _) => Err(failed(format!("the invocation failed: {other:?}"), process)),
        }
    }
}

/// Whether an answer is what handling the event gives: the status, or a batch with no failures.
fn check_answer(body: &[u8], expect: Expect) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let answer = || serde_json::from_slice::<Value>(body).map_err(|err| format!("{err}: {text}"));
    match expect {
        Expect::Answer => Ok(()),
        Expect::Http(status) => {
            let got = answer()?["statusCode"].as_u64();
            if got == Some(u64::from(status)) {
                Ok(())
            } else {
                Err(format!("answered {got:?}, not {status}: {text}"))
            }
        }
        Expect::WholeBatch => {
            let failures = &answer()?["batchItemFailures"];
            if failures.is_null() || failures.as_array().is_some_and(Vec::is_empty) {
                Ok(())
            } else {
                Err(format!("records of the batch failed: {text}"))
            }
        }
    }
}

/// Resolves once `process` is no longer running.
async fn exited(process: &mut FunctionProcess) {
    while process.is_running() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The `created` event of `order` as the MSK event source mapping delivers it: published to the
/// topic by the real producer, read back, and wrapped in a batch of one record.
async fn created_batch(services: &LocalServices, order: &Order) -> Result<Value, Error> {
    let event = OrderEvent::new(
        order.order_id.clone(),
        order.user_id.clone(),
        EventType::Created,
        order.created_at,
    );
    services
        .publisher()
        .publish(&event)
        .await
        .map_err(|err| format!("publishing the created event: {err}"))?;
    let records = local::read_topic(&services.topic).await;
    let [record] = records.as_slice() else {
        return Err(format!("{} records on a fresh topic, not 1", records.len()).into());
    };
    // The record's own timestamp is the publish time, a few milliseconds after the event's.
    let timestamp = event
        .occurred_at
        .unwrap_or(order.created_at)
        .timestamp_millis();
    let batch = KafkaEventBuilder::new(
        "arn:aws:kafka:us-east-1:123456789012:cluster/orderflow/1",
        &local::kafka_bootstrap_servers(),
    )
    .record(&raw_record(record), timestamp)
    .build();
    Ok(serde_json::to_value(batch)?)
}

/// The stream record of `order`'s `INSERT`, in a batch as the DynamoDB Streams event source
/// mapping delivers it.
fn insert_batch(order: &Order) -> Result<Value, Error> {
    let image = order_image(order).map_err(|err| format!("the image of an order: {err}"))?;
    Ok(json!({"Records": [{
        "eventID": "00000000000000000000000000000001",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench-orders/stream/2026-01-01T00:00:00.000",
        "dynamodb": {
            "ApproximateCreationDateTime": order.created_at.timestamp(),
            "Keys": {"order_id": {"S": order.order_id.as_str()}},
            "NewImage": image,
            "SequenceNumber": "4421584500000000017450439091",
            "SizeBytes": 240,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }]}))
}

fn millis(elapsed: Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

/// `starts` fresh processes, each timed from its spawn to the answer to its first invocation,
/// then [`WARM_PER_START`] invocations more on it, each timed alone: the baseline.
async fn cold_start_row(subject: &Subject, starts: usize) -> Result<Row, Error> {
    let runtime = RuntimeApi::start(subject.name, subject.timeout).await;
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..starts {
        // Queued first, so that the clock runs from the spawn to the answer and nothing else:
        // the process takes it with its first poll, as a new execution environment does.
        let invocation = runtime.invoke(subject.event.clone());
        let started = Instant::now();
        let mut process = subject.spawn(&runtime);
        subject.handled(&mut process, invocation).await?;
        cold.push(millis(started.elapsed()));
        for _ in 0..WARM_PER_START {
            let started = Instant::now();
            let invocation = runtime.invoke(subject.event.clone());
            subject.handled(&mut process, invocation).await?;
            warm.push(millis(started.elapsed()));
        }
        retire(process);
    }
    let binary = file_size(&subject.binary)?;
    Ok(Row::new(
        4,
        format!("{} cold start", subject.name),
        "ms",
        Stat::of(&cold).ok_or("no start measured")?,
    )
    .against(
        "warm invocation",
        Stat::of(&warm).ok_or("no warm invocation measured")?,
    )
    .note(format!(
        "spawn to first answer; warm: the next {WARM_PER_START} of each process; binary {:.1} MiB",
        mebibytes(binary)
    )))
}

/// Kills a measured process and removes its log, which only a failure needs.
fn retire(mut process: FunctionProcess) {
    process.kill();
    // A log left behind only costs a little space in the temporary directory.
    let _ = std::fs::remove_file(process.log_path());
}

/// One process: its resident set right after its first event, then its peak after
/// `invocations` more, [`QUEUED_AHEAD`] of them always waiting.
async fn memory_row(subject: &Subject, invocations: usize) -> Result<Row, Error> {
    let runtime = RuntimeApi::start(subject.name, subject.timeout).await;
    let mut process = subject.spawn(&runtime);
    let first = runtime.invoke(subject.event.clone());
    subject.handled(&mut process, first).await?;
    let pid = pid_of(&process)?;
    let after_first = status_kib(pid, "VmRSS")?;
    let mut queued = VecDeque::new();
    for _ in 0..invocations {
        if queued.len() > QUEUED_AHEAD
            && let Some(oldest) = queued.pop_front()
        {
            subject.handled(&mut process, oldest).await?;
        }
        queued.push_back(runtime.invoke(subject.event.clone()));
    }
    while let Some(oldest) = queued.pop_front() {
        subject.handled(&mut process, oldest).await?;
    }
    let peak = status_kib(pid, "VmHWM")?;
    retire(process);
    Ok(Row::new(
        5,
        format!("{} peak RSS", subject.name),
        "MiB",
        Stat::exact(peak as f64 / 1024.0, invocations),
    )
    .against(
        "RSS after 1st event",
        Stat::exact(after_first as f64 / 1024.0, 1),
    )
    .note(format!(
        "VmHWM after {invocations} invocations, {QUEUED_AHEAD} queued ahead"
    )))
}

/// The pid of `process`. `FunctionProcess` does not tell it, but its standard output is a log
/// file no other process has: the process whose descriptor 1 is that file is the one.
fn pid_of(process: &FunctionProcess) -> Result<u32, Error> {
    let log = std::fs::canonicalize(process.log_path())
        .map_err(|err| format!("resolving {}: {err}", process.log_path().display()))?;
    let entries = std::fs::read_dir("/proc").map_err(|err| format!("listing /proc: {err}"))?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        // Processes of other users, or gone since the listing, cannot be read: not ours.
        if std::fs::read_link(format!("/proc/{pid}/fd/1")).is_ok_and(|stdout| stdout == log) {
            return Ok(pid);
        }
    }
    Err(format!("no process writes to {}", log.display()).into())
}

/// A `kB` field of `/proc/<pid>/status`, e.g. `VmHWM`, the peak resident set.
fn status_kib(pid: u32, field: &str) -> Result<u64, Error> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).map_err(|err| format!("reading {path}: {err}"))?;
    parse_status_kib(&status, field).ok_or_else(|| format!("no {field} in {path}").into())
}

fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        value.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

fn mebibytes(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// The size of `name`'s zip: the one `make package` built if there is one at least as new as the
/// native release binary (an older one may be of older code), else that binary zipped here as
/// cargo-lambda zips it (one entry, `bootstrap`). The architecture is read from the binary in the
/// zip: `make package` builds for `LAMBDA_ARCH`, arm64 unless set.
fn zip_row(name: &str, settings: &Settings) -> Result<Row, Error> {
    let packaged = settings.lambda_dir.join(name).join("bootstrap.zip");
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let current = match (
        modified(&packaged),
        modified(&settings.release_dir.join(name)),
    ) {
        (Some(zipped), Some(built)) => zipped >= built,
        (zipped, _) => zipped.is_some(),
    };
    let (size, header, note) = if current {
        let built = std::fs::metadata(&packaged)
            .and_then(|metadata| metadata.modified())
            .map(|modified| {
                chrono::DateTime::<chrono::Utc>::from(modified)
                    .format("%Y-%m-%d %H:%M UTC")
                    .to_string()
            })
            .map_err(|err| format!("reading the time of {}: {err}", packaged.display()))?;
        (
            file_size(&packaged)?,
            python(ZIPPED_HEADER, &[&packaged])?,
            format!("make package's zip, built {built}"),
        )
    } else {
        let binary = settings.release_dir.join(name);
        if !binary.is_file() {
            return Err(format!(
                "neither a make package zip at {} nor a release binary at {}",
                packaged.display(),
                binary.display()
            )
            .into());
        }
        let zip =
            std::env::temp_dir().join(format!("{}.zip", local::unique_name("bench-bootstrap")));
        let zipped = python(ZIP, &[&binary, &zip]).and_then(|_| file_size(&zip));
        // Only its size was needed.
        let _ = std::fs::remove_file(&zip);
        let mut header = Vec::new();
        std::fs::File::open(&binary)
            .and_then(|file| file.take(20).read_to_end(&mut header))
            .map_err(|err| format!("reading the header of {}: {err}", binary.display()))?;
        (
            zipped?,
            header,
            "no make package zip newer than the release binary: the native release binary \
             zipped here (python3 zipfile, deflate level 9)"
                .to_owned(),
        )
    };
    let architecture = architecture_of(&header)
        .ok_or_else(|| format!("the {name} zip holds no x86_64 or arm64 ELF binary"))?;
    Ok(Row::new(
        5,
        format!("{name} zip, {architecture}"),
        "MiB",
        Stat::exact(mebibytes(size), 1),
    )
    .note(note))
}

/// Zips `argv[1]` as `bootstrap`, the one entry cargo-lambda's zips have, into `argv[2]`.
const ZIP: &str = "import sys, zipfile
with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
    archive.write(sys.argv[1], 'bootstrap')
";

/// Writes the first 20 bytes of the `bootstrap` in the zip `argv[1]`: its ELF header's start.
const ZIPPED_HEADER: &str = "import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as archive, archive.open('bootstrap') as binary:
    sys.stdout.buffer.write(binary.read(20))
";

/// Runs a Python `script` with `args` and returns what it wrote. Python rather than a zip crate:
/// every machine this project runs on has it (the tools install with it), and it compiles nothing.
fn python(script: &str, args: &[&Path]) -> Result<Vec<u8>, Error> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = std::process::Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .map_err(|err| format!("running {python}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{python} failed on {args:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(output.stdout)
}

fn file_size(path: &Path) -> Result<u64, Error> {
    Ok(std::fs::metadata(path)
        .map_err(|err| format!("reading the size of {}: {err}", path.display()))?
        .len())
}

/// The instruction set of an ELF binary, as Lambda names it, from the first 20 bytes of its
/// header: `e_machine`.
fn architecture_of(header: &[u8]) -> Option<&'static str> {
    if header.len() < 20 {
        return None;
    }
    // Lambda's binaries are little-endian (EI_DATA = 1), so is e_machine.
    if &header[..4] != b"\x7fELF" || header[5] != 1 {
        return None;
    }
    match u16::from_le_bytes([header[18], header[19]]) {
        0x3e => Some("x86_64"),
        0xb7 => Some("arm64"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kib_fields_of_proc_status() {
        let status =
            "Name:\tbootstrap\nVmPeak:\t  812345 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   30720 kB\n";
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(40960));
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(30720));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn tells_the_architecture_from_the_elf_header() {
        let header = |machine: u16| {
            let mut header = [0; 20];
            header[..4].copy_from_slice(b"\x7fELF");
            header[4] = 2;
            header[5] = 1;
            header[18..20].copy_from_slice(&machine.to_le_bytes());
            header
        };
        assert_eq!(architecture_of(&header(0x3e)), Some("x86_64"));
        assert_eq!(architecture_of(&header(0xb7)), Some("arm64"));
        assert_eq!(architecture_of(&header(0x28)), None);
        assert_eq!(architecture_of(&[0; 20]), None);
        assert_eq!(architecture_of(b"\x7fELF"), None);
    }

    #[test]
    fn a_batch_answer_is_handled_only_without_failures() {
        assert_eq!(
            check_answer(br#"{"batchItemFailures":[]}"#, Expect::WholeBatch),
            Ok(())
        );
        assert!(
            check_answer(
                br#"{"batchItemFailures":[{"itemIdentifier":"1"}]}"#,
                Expect::WholeBatch
            )
            .is_err()
        );
        assert_eq!(
            check_answer(br#"{"statusCode":201,"body":"{}"}"#, Expect::Http(201)),
            Ok(())
        );
        assert!(check_answer(br#"{"statusCode":503}"#, Expect::Http(201)).is_err());
    }
}

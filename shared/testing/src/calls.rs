//! Remote calls counted on the wire: a TCP proxy that reads each request as it passes and counts
//! it by service and operation, for the figure of `make bench` that states what an operation
//! costs in calls. Counting at the transport rather than in an adapter sees what the SDKs really
//! send: their retries, and any call an adapter makes without meaning to.
//!
//! Two kinds, by what they stand in front of:
//!
//! - [`CountingProxy::http`] (or [`CountingProxy::before_moto`]): HTTP/1.1 to moto. DynamoDB and
//!   DynamoDB Streams name their operation in `X-Amz-Target`; the Scheduler's REST API names it by
//!   method and path ([`http_operation`]). The AWS SDK does not pipeline, but the parser does not
//!   rely on it: it follows each body by its `Content-Length`, or chunk by chunk.
//! - [`CountingProxy::kafka`] (or [`CountedBroker`], a private tansu that advertises the proxy so
//!   that every connection of a client goes through it): Kafka requests by API key, from their
//!   framing ([`kafka_api_name`]). Kafka clients do pipeline; each frame is counted.
//!
//! Bytes are forwarded unchanged both ways. What a proxy counted is a [`Calls`] snapshot; the
//! calls of one operation are the difference of the snapshots around it ([`CountingProxy::measure`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::{Add, Sub};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::local;

/// Who a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    DynamoDb,
    DynamoDbStreams,
    Scheduler,
    Kafka,
    /// Anything the proxy could not attribute, including bytes it could not parse
    /// (operation [`UNPARSED`]).
    Other,
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::DynamoDb => "DynamoDB",
            Self::DynamoDbStreams => "DynamoDB Streams",
            Self::Scheduler => "Scheduler",
            Self::Kafka => "Kafka",
            Self::Other => "other",
        })
    }
}

/// The operation counted, once, for a connection whose bytes stopped making sense as requests:
/// from then on its bytes are forwarded uncounted, so a count that includes this is a lower bound.
pub const UNPARSED: &str = "unparsed";

/// How many calls of each operation: a proxy's count so far, or the difference of two counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calls(BTreeMap<(Service, String), usize>);

impl Calls {
    /// Every call to `service`, whatever the operation.
    pub fn of(&self, service: Service) -> usize {
        self.iter()
            .filter(|&(s, _, _)| s == service)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// The calls of one operation of `service`, e.g. `(Service::Kafka, "Produce")`.
    pub fn operation(&self, service: Service, operation: &str) -> usize {
        self.0
            .get(&(service, operation.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every call counted.
    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only the calls to `service`.
    pub fn only(&self, service: Service) -> Self {
        Self(
            self.0
                .iter()
                .filter(|((s, _), _)| *s == service)
                .map(|(key, n)| (key.clone(), *n))
                .collect(),
        )
    }

    /// (service, operation, calls), by service then operation name.
    pub fn iter(&self) -> impl Iterator<Item = (Service, &str, usize)> {
        self.0
            .iter()
            .map(|((service, operation), n)| (*service, operation.as_str(), *n))
    }

    fn record(&mut self, service: Service, operation: String) {
        *self.0.entry((service, operation)).or_default() += 1;
    }
}

/// `Calls` stated literally, e.g. `[(Service::DynamoDb, "GetItem", 2)].into_iter().collect()`.
impl<S: Into<String>> FromIterator<(Service, S, usize)> for Calls {
    fn from_iter<I: IntoIterator<Item = (Service, S, usize)>>(calls: I) -> Self {
        let mut counted = BTreeMap::new();
        for (service, operation, n) in calls {
            *counted.entry((service, operation.into())).or_default() += n;
        }
        counted.retain(|_, n| *n > 0);
        Self(counted)
    }
}

/// The calls made between two snapshots of the same proxy: `after - before`. Counts only grow,
/// so nothing goes below zero; an operation with no calls in between is left out.
impl Sub<&Calls> for &Calls {
    type Output = Calls;

    fn sub(self, before: &Calls) -> Calls {
        Calls(
            self.0
                .iter()
                .filter_map(|(key, &after)| {
                    let since = after.saturating_sub(before.0.get(key).copied().unwrap_or(0));
                    (since > 0).then(|| (key.clone(), since))
                })
                .collect(),
        )
    }
}

impl Sub for Calls {
    type Output = Calls;

    fn sub(self, before: Calls) -> Calls {
        &self - &before
    }
}

/// The calls of two proxies (or two operations) together.
impl Add<&Calls> for &Calls {
    type Output = Calls;

    fn add(self, other: &Calls) -> Calls {
        let mut sum = self.clone();
        for (key, n) in &other.0 {
            *sum.0.entry(key.clone()).or_default() += n;
        }
        sum
    }
}

impl Add for Calls {
    type Output = Calls;

    fn add(self, other: Calls) -> Calls {
        &self + &other
    }
}

/// `DynamoDB TransactWriteItems×1, Scheduler CreateSchedule×1`; `no calls` when empty.
impl fmt::Display for Calls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no calls");
        }
        for (i, (service, operation, n)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{service} {operation}×{n}")?;
        }
        Ok(())
    }
}

/// What a [`CountingProxy`] parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    Kafka,
}

/// Forwards every connection on a local port to `upstream`, counting the requests that go up.
/// Stops accepting when dropped; connections open then run until either end closes them.
pub struct CountingProxy {
    address: SocketAddr,
    calls: Arc<Mutex<Calls>>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// A proxy that counts HTTP/1.1 requests to `upstream`.
    pub async fn http(upstream: SocketAddr) -> Self {
        Self::start(upstream, Protocol::Http).await
    }

    /// A proxy that counts Kafka requests to `upstream`. A client reconnects to the address the
    /// broker advertises, so put it in front of a broker that advertises it ([`CountedBroker`]).
    pub async fn kafka(upstream: SocketAddr) -> Self {
        Self::start(upstream, Protocol::Kafka).await
    }

    /// An HTTP proxy in front of moto, the local DynamoDB, DynamoDB Streams and Scheduler.
    #[cfg(feature = "aws")]
    pub async fn before_moto() -> Self {
        Self::http(local::moto_address()).await
    }

    /// A proxy to `upstream`, which need not listen yet: each connection is made when a client
    /// connects.
    pub async fn start(upstream: SocketAddr, protocol: Protocol) -> Self {
        let (listener, address) = local::listener().await;
        let calls = Arc::new(Mutex::new(Calls::default()));
        let counting = calls.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, protocol, counting.clone()));
            }
        });
        Self {
            address,
            calls,
            task,
        }
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`, for an SDK client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every request counted so far. A request is counted as it goes up, so once a call has its
    /// answer it is in here.
    pub fn calls(&self) -> Calls {
        lock(&self.calls).clone()
    }

    /// Runs `operation` and returns its output with the requests that went through this proxy
    /// meanwhile. Exact when nothing else uses the proxy at the same time.
    pub async fn measure<T>(&self, operation: impl Future<Output = T>) -> (T, Calls) {
        let before = self.calls();
        let output = operation.await;
        (output, &self.calls() - &before)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: requests are parsed and counted on their way up, answers copied back as they
/// come. Each direction is closed once the other side closed it.
async fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    protocol: Protocol,
    calls: Arc<Mutex<Calls>>,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        // As if the service refused the connection: the client's ends with a reset.
        let _ = client.set_zero_linger();
        return;
    };
    // Small requests and answers go at once, as they would without the proxy in between.
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut requests = Requests::new(protocol);
        let mut buffer = vec![0; 16 * 1024];
        while let Ok(read @ 1..) = client_read.read(&mut buffer).await {
            let seen = requests.feed(&buffer[..read]);
            if !seen.is_empty() {
                let mut calls = lock(&calls);
                for (service, operation) in seen {
                    calls.record(service, operation);
                }
            }
            if server_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// The requests of one connection, in the protocol it speaks.
enum Requests {
    Http(HttpRequests),
    Kafka(KafkaRequests),
}

impl Requests {
    fn new(protocol: Protocol) -> Self {
        match protocol {
            Protocol::Http => Self::Http(HttpRequests::default()),
            Protocol::Kafka => Self::Kafka(KafkaRequests::default()),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<(Service, String)> {
        match self {
            Self::Http(requests) => requests.feed(bytes),
            Self::Kafka(requests) => requests.feed(bytes),
        }
    }
}

/// The longest request head, or chunk-size or trailer line, taken for HTTP: far above what the
/// SDK sends, far below what would let a broken stream grow a buffer without bound.
const MAX_HEAD: usize = 64 * 1024;

/// Where an HTTP/1.1 request stream is.
#[derive(Debug, Clone, Copy, Default)]
enum HttpState {
    /// Reading a request head, up to its empty line.
    #[default]
    Head,
    /// Skipping this many bytes of a body.
    Body(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping this many bytes of chunk data, then its CRLF.
    ChunkData(u64),
    /// Reading trailer lines after the last chunk, up to the empty one.
    Trailers,
    /// The bytes made no sense; nothing more is counted on this connection.
    Broken,
}

/// Splits the client side of an HTTP/1.1 connection into requests, as the bytes come in pieces
/// of any size; each request is named as its head completes.
#[derive(Debug, Default)]
pub struct HttpRequests {
    state: HttpState,
    /// The head or line read so far.
    line: Vec<u8>,
}

impl HttpRequests {
    /// The next bytes the client sent: the requests whose heads they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<(Service, String)> {
        let mut seen = Vec::new();
        while !bytes.is_empty() {
            match self.state {
                HttpState::Broken => break,
                HttpState::Body(left) | HttpState::ChunkData(left) => {
                    let taken = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                    bytes = &bytes[taken..];
                    let left = left - taken as u64;
                    self.state = match self.state {
                        HttpState::Body(_) if left == 0 => HttpState::Head,
                        HttpState::Body(_) => HttpState::Body(left),
                        // The chunk's CRLF is read as the (empty) line before the next size.
                        _ if left == 0 => HttpState::ChunkSize,
                        _ => HttpState::ChunkData(left),
                    };
                }
                HttpState::Head => {
                    let searched_from = self.line.len().saturating_sub(3);
                    let end = take_until(&mut self.line, &mut bytes, b"\r\n\r\n", searched_from);
                    match end {
                        Some(()) => {
                            let head = std::mem::take(&mut self.line);
                            match parse_head(&head) {
                                Some((request, next)) => {
                                    seen.push(request);
                                    self.state = next;
                                }
                                None => self.broken(&mut seen),
                            }
                        }
                        None if self.line.len() > MAX_HEAD => self.broken(&mut seen),
                        None => {}
                    }
                }
                HttpState::ChunkSize | HttpState::Trailers => {
                    let searched_from = self.line.len().saturating_sub(1);
                    match take_until(&mut self.line, &mut bytes, b"\r\n", searched_from) {
                        Some(()) => {
                            let line = std::mem::take(&mut self.line);
                            let line = &line[..line.len() - 2];
                            self.state = match self.state {
                                // The CRLF that closes a chunk's data.
                                HttpState::ChunkSize if line.is_empty() => HttpState::ChunkSize,
                                HttpState::ChunkSize => match chunk_size(line) {
                                    Some(0) => HttpState::Trailers,
                                    Some(size) => HttpState::ChunkData(size),
                                    None => {
                                        self.broken(&mut seen);
                                        continue;
                                    }
                                },
                                _ if line.is_empty() => HttpState::Head,
                                _ => HttpState::Trailers,
                            };
                        }
                        None if self.line.len() > MAX_HEAD => self.broken(&mut seen),
                        None => {}
                    }
                }
            }
        }
        seen
    }

    fn broken(&mut self, seen: &mut Vec<(Service, String)>) {
        self.state = HttpState::Broken;
        self.line = Vec::new();
        seen.push((Service::Other, UNPARSED.into()));
    }
}

/// Moves bytes from `bytes` to `line` up to and including the first `end` in `line` (searched
/// from `from`, where an earlier call left off); whether it came.
fn take_until(line: &mut Vec<u8>, bytes: &mut &[u8], end: &[u8], from: usize) -> Option<()> {
    // Take everything, then give back what follows the marker: one search per piece read.
    line.extend_from_slice(bytes);
    let found = line[from..]
        .windows(end.len())
        .position(|window| window == end)
        .map(|at| from + at + end.len());
    match found {
        Some(stop) => {
            let rest = line.len() - stop;
            *bytes = &bytes[bytes.len() - rest..];
            line.truncate(stop);
            Some(())
        }
        None => {
            *bytes = &[];
            None
        }
    }
}

/// The request a head names, and how its body is framed; `None` if it is no HTTP/1.x head.
fn parse_head(head: &[u8]) -> Option<((Service, String), HttpState)> {
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let (method, path, version) = (
        request_line.next()?,
        request_line.next()?,
        request_line.next()?,
    );
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let (mut target, mut length, mut chunked) = (None, 0, false);
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("x-amz-target") {
            target = Some(value);
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let next = match (chunked, length) {
        (true, _) => HttpState::ChunkSize,
        (false, 0) => HttpState::Head,
        (false, length) => HttpState::Body(length),
    };
    Some((http_operation(method, path, target), next))
}

/// The size of a chunk-size line (hex, perhaps with extensions after `;`).
fn chunk_size(line: &[u8]) -> Option<u64> {
    let line = std::str::from_utf8(line).ok()?;
    let size = line.split(';').next()?.trim();
    u64::from_str_radix(size, 16).ok()
}

/// The service and operation of an HTTP request to the AWS APIs moto stands in for: from
/// `X-Amz-Target` for the JSON protocols (DynamoDB, DynamoDB Streams), from method and path for
/// the Scheduler's REST API (`POST /schedules/{Name}` is CreateSchedule).
pub fn http_operation(method: &str, path: &str, target: Option<&str>) -> (Service, String) {
    if let Some(target) = target {
        let (prefix, operation) = target.split_once('.').unwrap_or(("", target));
        let service = match prefix {
            "DynamoDB_20120810" => Service::DynamoDb,
            "DynamoDBStreams_20120810" => Service::DynamoDbStreams,
            _ => return (Service::Other, target.to_owned()),
        };
        return (service, operation.to_owned());
    }
    let path = path.split('?').next().unwrap_or_default();
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    let (collection, name) = (segments.next().unwrap_or_default(), segments.next());
    let named = name.is_some_and(|name| !name.is_empty());
    let operation = match (collection, named, method) {
        ("schedules", true, "POST") => "CreateSchedule",
        ("schedules", true, "GET") => "GetSchedule",
        ("schedules", true, "PUT") => "UpdateSchedule",
        ("schedules", true, "DELETE") => "DeleteSchedule",
        ("schedules", false, "GET") => "ListSchedules",
        ("schedule-groups", true, "POST") => "CreateScheduleGroup",
        ("schedule-groups", true, "GET") => "GetScheduleGroup",
        ("schedule-groups", true, "DELETE") => "DeleteScheduleGroup",
        ("schedule-groups", false, "GET") => "ListScheduleGroups",
        _ => return (Service::Other, format!("{method} /{collection}")),
    };
    (Service::Scheduler, operation.to_owned())
}

/// Splits the client side of a Kafka connection into requests: each a 4-byte big-endian size,
/// then that many bytes starting with the i16 API key. Pipelined frames and frames split over
/// reads are both counted once each.
#[derive(Debug, Default)]
pub struct KafkaRequests {
    /// The first bytes of the current frame, until its size and API key are read.
    start: Vec<u8>,
    /// Bytes of the current frame still to skip after its API key.
    left: usize,
    broken: bool,
}

impl KafkaRequests {
    /// The next bytes the client sent: the requests whose API key they complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<(Service, String)> {
        let mut seen = Vec::new();
        while !bytes.is_empty() && !self.broken {
            if self.left > 0 {
                let skipped = self.left.min(bytes.len());
                self.left -= skipped;
                bytes = &bytes[skipped..];
                continue;
            }
            let wanted = (6 - self.start.len()).min(bytes.len());
            self.start.extend_from_slice(&bytes[..wanted]);
            bytes = &bytes[wanted..];
            let [s0, s1, s2, s3, k0, k1] = self.start[..] else {
                continue;
            };
            self.start.clear();
            let size = i32::from_be_bytes([s0, s1, s2, s3]);
            // A request holds at least its API key and version.
            let Some(left) = usize::try_from(size)
                .ok()
                .and_then(|size| size.checked_sub(2))
            else {
                self.broken = true;
                seen.push((Service::Other, UNPARSED.into()));
                break;
            };
            self.left = left;
            seen.push((Service::Kafka, kafka_api_name(i16::from_be_bytes([k0, k1]))));
        }
        seen
    }
}

/// The name of a Kafka API key, as the protocol's documentation spells it; `ApiKey<n>` for one
/// not listed here.
pub fn kafka_api_name(api_key: i16) -> String {
    let name = match api_key {
        0 => "Produce",
        1 => "Fetch",
        2 => "ListOffsets",
        3 => "Metadata",
        8 => "OffsetCommit",
        9 => "OffsetFetch",
        10 => "FindCoordinator",
        11 => "JoinGroup",
        12 => "Heartbeat",
        13 => "LeaveGroup",
        14 => "SyncGroup",
        15 => "DescribeGroups",
        16 => "ListGroups",
        17 => "SaslHandshake",
        18 => "ApiVersions",
        19 => "CreateTopics",
        20 => "DeleteTopics",
        22 => "InitProducerId",
        24 => "AddPartitionsToTxn",
        32 => "DescribeConfigs",
        36 => "SaslAuthenticate",
        // KIP-714 client metrics, which librdkafka asks about on its own.
        71 => "GetTelemetrySubscriptions",
        72 => "PushTelemetry",
        other => return format!("ApiKey{other}"),
    };
    name.to_owned()
}

/// A tansu broker of its own (in-memory storage) behind a counting proxy, stopped when dropped.
/// It advertises the proxy's address, so every connection a client makes, not only the
/// bootstrap one, is counted; it listens on a port only the proxy knows.
pub struct CountedBroker {
    process: Child,
    proxy: CountingProxy,
}

impl CountedBroker {
    /// Starts `$TANSU` (or `tansu` from the `PATH` the Makefile sets) and waits until it listens.
    pub async fn start() -> Self {
        let listening = free_address().await;
        // The proxy connects to its upstream per client connection, so it may start first.
        let proxy = CountingProxy::kafka(listening).await;
        let program = std::env::var("TANSU").unwrap_or_else(|_| "tansu".into());
        let process = Command::new(&program)
            .args(["broker", "--cluster-id", "orderflow-calls"])
            .args(["--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &format!("tcp://{listening}")])
            .args([
                "--advertised-listener-url",
                &format!("tcp://{}", proxy.address()),
            ])
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "starting {program} failed: {err}; run with the PATH the Makefile sets, \
                     which has the project's tansu, or set TANSU"
                )
            });
        let broker = Self { process, proxy };
        // Straight to the broker, so that waiting counts nothing.
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(listening).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {listening}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        broker
    }

    /// The proxy every client of this broker talks through.
    pub fn proxy(&self) -> &CountingProxy {
        &self.proxy
    }

    /// Every request to this broker so far.
    pub fn calls(&self) -> Calls {
        self.proxy.calls()
    }

    /// A client configuration for this broker, through its proxy, with the functions' delivery
    /// timeout.
    pub fn kafka_config(&self) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: self.proxy.address().to_string(),
            auth: KafkaAuth::Plaintext,
            client_id: local::unique_name("orderflow-calls"),
            delivery_timeout: KafkaConfig::DEFAULT_DELIVERY_TIMEOUT,
        }
    }
}

impl Drop for CountedBroker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A local address nothing listens on now: the kernel's pick, released for the broker to bind.
async fn free_address() -> SocketAddr {
    let (listener, address) = local::listener().await;
    drop(listener);
    address
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(list: &[(Service, &str, usize)]) -> Calls {
        list.iter().map(|&(s, op, n)| (s, op, n)).collect()
    }

    /// Feeds `bytes` to a fresh parser in pieces of `piece` bytes.
    fn http_in_pieces(bytes: &[u8], piece: usize) -> Vec<(Service, String)> {
        let mut requests = HttpRequests::default();
        bytes
            .chunks(piece)
            .flat_map(|chunk| requests.feed(chunk))
            .collect()
    }

    fn kafka_in_pieces(bytes: &[u8], piece: usize) -> Vec<(Service, String)> {
        let mut requests = KafkaRequests::default();
        bytes
            .chunks(piece)
            .flat_map(|chunk| requests.feed(chunk))
            .collect()
    }

    fn op(service: Service, operation: &str) -> (Service, String) {
        (service, operation.to_owned())
    }

    const TRANSACT: &str = "POST / HTTP/1.1\r\nhost: 127.0.0.1:4566\r\n\
        x-amz-target: DynamoDB_20120810.TransactWriteItems\r\n\
        content-type: application/x-amz-json-1.0\r\ncontent-length: 25\r\n\r\n\
        {\"TransactItems\":[\r\n\r\n]}\n";

    const CREATE_SCHEDULE: &str = "POST /schedules/order-1?x=y HTTP/1.1\r\n\
        Content-Length: 4\r\n\r\n{}\r\n";

    #[test]
    fn requests_on_one_connection_are_named_whatever_pieces_they_come_in() {
        let stream = [TRANSACT, CREATE_SCHEDULE, TRANSACT].concat();
        for piece in [1, 2, 3, 7, 64, stream.len()] {
            assert_eq!(
                http_in_pieces(stream.as_bytes(), piece),
                [
                    op(Service::DynamoDb, "TransactWriteItems"),
                    op(Service::Scheduler, "CreateSchedule"),
                    op(Service::DynamoDb, "TransactWriteItems"),
                ],
                "in pieces of {piece}"
            );
        }
    }

    #[test]
    fn a_chunked_body_is_followed_to_its_end() {
        let chunked = "POST / HTTP/1.1\r\nX-Amz-Target: DynamoDBStreams_20120810.GetRecords\r\n\
            Transfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nPOST \r\n\
            10\r\n/ HTTP/1.1\r\n\r\n\r\n\r\n\
            0\r\ntrailer: x\r\n\r\n";
        let stream = [chunked, TRANSACT].concat();
        for piece in [1, 5, stream.len()] {
            assert_eq!(
                http_in_pieces(stream.as_bytes(), piece),
                [
                    op(Service::DynamoDbStreams, "GetRecords"),
                    op(Service::DynamoDb, "TransactWriteItems"),
                ],
                "in pieces of {piece}"
            );
        }
    }

    #[test]
    fn scheduler_operations_are_named_by_method_and_path() {
        let named = |method, path| http_operation(method, path, None);
        assert_eq!(
            named("POST", "/schedules/o-1"),
            op(Service::Scheduler, "CreateSchedule")
        );
        assert_eq!(
            named("GET", "/schedules/o-1?groupName=g"),
            op(Service::Scheduler, "GetSchedule")
        );
        assert_eq!(
            named("PUT", "/schedules/o-1"),
            op(Service::Scheduler, "UpdateSchedule")
        );
        assert_eq!(
            named("DELETE", "/schedules/o-1?groupName=g&clientToken=t"),
            op(Service::Scheduler, "DeleteSchedule")
        );
        assert_eq!(
            named("GET", "/schedules?groupName=g"),
            op(Service::Scheduler, "ListSchedules")
        );
        assert_eq!(
            named("POST", "/schedule-groups/g"),
            op(Service::Scheduler, "CreateScheduleGroup")
        );
        assert_eq!(named("GET", "/health"), op(Service::Other, "GET /health"));
        assert_eq!(
            http_operation("POST", "/", Some("AmazonSQS.SendMessage")),
            op(Service::Other, "AmazonSQS.SendMessage")
        );
    }

    #[test]
    fn bytes_that_are_no_http_are_counted_once_as_unparsed() {
        let mut requests = HttpRequests::default();
        assert_eq!(
            requests.feed(b"\x16\x03\x01 binary\r\n\r\n"),
            [op(Service::Other, UNPARSED)]
        );
        assert_eq!(requests.feed(TRANSACT.as_bytes()), []);
        let mut requests = HttpRequests::default();
        let endless = vec![b'a'; MAX_HEAD + 2];
        assert_eq!(requests.feed(&endless), [op(Service::Other, UNPARSED)]);
        let mut requests = HttpRequests::default();
        assert_eq!(
            requests.feed(b"POST / HTTP/1.1\r\nContent-Length: many\r\n\r\n"),
            [op(Service::Other, UNPARSED)]
        );
    }

    /// A Kafka request frame: size, API key, version, then `body` bytes.
    fn frame(api_key: i16, body: usize) -> Vec<u8> {
        let size = i32::try_from(4 + body).unwrap();
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend(api_key.to_be_bytes());
        bytes.extend(9_i16.to_be_bytes());
        bytes.extend(std::iter::repeat_n(0xAB, body));
        bytes
    }

    #[test]
    fn pipelined_kafka_requests_are_counted_by_api_key() {
        let stream = [
            frame(18, 30),
            frame(3, 0),
            frame(0, 500),
            frame(22, 1),
            frame(68, 3),
        ]
        .concat();
        for piece in [1, 2, 5, 6, 100, stream.len()] {
            assert_eq!(
                kafka_in_pieces(&stream, piece),
                [
                    op(Service::Kafka, "ApiVersions"),
                    op(Service::Kafka, "Metadata"),
                    op(Service::Kafka, "Produce"),
                    op(Service::Kafka, "InitProducerId"),
                    op(Service::Kafka, "ApiKey68"),
                ],
                "in pieces of {piece}"
            );
        }
        assert_eq!(
            [1, 2].map(kafka_api_name),
            ["Fetch".to_owned(), "ListOffsets".to_owned()]
        );
    }

    #[test]
    fn a_kafka_frame_too_short_for_its_api_key_stops_the_count() {
        let mut stream = 1_i32.to_be_bytes().to_vec();
        stream.extend([0, 0]);
        stream.extend(frame(0, 10));
        assert_eq!(kafka_in_pieces(&stream, 3), [op(Service::Other, UNPARSED)]);
        let negative = [(-5_i32).to_be_bytes().to_vec(), vec![0, 0]].concat();
        assert_eq!(
            kafka_in_pieces(&negative, 100),
            [op(Service::Other, UNPARSED)]
        );
    }

    #[test]
    fn a_difference_keeps_what_happened_in_between() {
        let before = calls(&[
            (Service::DynamoDb, "GetItem", 2),
            (Service::Kafka, "Metadata", 1),
        ]);
        let after = calls(&[
            (Service::DynamoDb, "GetItem", 4),
            (Service::DynamoDb, "TransactWriteItems", 1),
            (Service::Scheduler, "CreateSchedule", 1),
            (Service::Kafka, "Metadata", 1),
        ]);
        let since = &after - &before;
        assert_eq!(
            since,
            calls(&[
                (Service::DynamoDb, "GetItem", 2),
                (Service::DynamoDb, "TransactWriteItems", 1),
                (Service::Scheduler, "CreateSchedule", 1),
            ])
        );
        assert_eq!(
            (
                since.of(Service::DynamoDb),
                since.of(Service::Kafka),
                since.total()
            ),
            (3, 0, 4)
        );
        assert_eq!(since.operation(Service::DynamoDb, "GetItem"), 2);
        assert_eq!(
            since.to_string(),
            "DynamoDB GetItem×2, DynamoDB TransactWriteItems×1, Scheduler CreateSchedule×1"
        );
        assert_eq!(
            since.only(Service::Scheduler).to_string(),
            "Scheduler CreateSchedule×1"
        );
        assert_eq!(Calls::default().to_string(), "no calls");
        assert_eq!((before.clone() + since).to_string(), after.to_string());
    }

    #[cfg(feature = "aws")]
    mod on_moto {
        use super::super::*;
        use crate::services::LocalServices;
        use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};

        #[tokio::test]
        async fn a_dynamodb_call_and_a_streams_call_are_each_counted_once() {
            let services = LocalServices::new(1).await;
            let proxy = CountingProxy::before_moto().await;
            let dynamodb = local::dynamodb_client_at(&proxy.url()).await;
            let table = services
                .tables
                .name(orderflow_adapters::dynamodb::schema::table::ORDERS);
            let (described, seen) = proxy
                .measure(dynamodb.describe_table().table_name(&table).send())
                .await;
            let stream_arn = described
                .expect("described")
                .table
                .and_then(|table| table.latest_stream_arn)
                .expect("the orders table has a stream");
            assert_eq!(seen.to_string(), "DynamoDB DescribeTable×1");

            let config = aws_sdk_dynamodbstreams::config::Builder::from(local::aws_config().await)
                .endpoint_url(proxy.url())
                .build();
            let streams = aws_sdk_dynamodbstreams::Client::from_conf(config);
            let (described, seen) = proxy
                .measure(streams.describe_stream().stream_arn(stream_arn).send())
                .await;
            described.expect("stream described");
            assert_eq!(seen.to_string(), "DynamoDB Streams DescribeStream×1");
        }

        /// What the aws-sdk-scheduler client sends for each operation the functions use.
        #[tokio::test]
        async fn scheduler_calls_are_named_as_the_sdk_sends_them() {
            let services = LocalServices::new(1).await;
            let proxy = CountingProxy::before_moto().await;
            let scheduler = local::scheduler_client_at(&proxy.url()).await;
            let group = services.schedule_group.as_str();
            let target = Target::builder()
                .arn("arn:aws:lambda:us-east-1:123456789012:function:order-timeout")
                .role_arn("arn:aws:iam::123456789012:role/orderflow-scheduler")
                .input("{}")
                .build()
                .expect("a target");
            let window = FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .expect("a window");
            let (created, seen) = proxy
                .measure(
                    scheduler
                        .create_schedule()
                        .group_name(group)
                        .name("o-1")
                        .schedule_expression("at(2030-01-01T00:00:00)")
                        .target(target.clone())
                        .flexible_time_window(window.clone())
                        .send(),
                )
                .await;
            created.expect("created");
            assert_eq!(seen.to_string(), "Scheduler CreateSchedule×1");
            let (got, seen) = proxy
                .measure(
                    scheduler
                        .get_schedule()
                        .group_name(group)
                        .name("o-1")
                        .send(),
                )
                .await;
            got.expect("got");
            assert_eq!(seen.to_string(), "Scheduler GetSchedule×1");
            let (updated, seen) = proxy
                .measure(
                    scheduler
                        .update_schedule()
                        .group_name(group)
                        .name("o-1")
                        .schedule_expression("at(2030-01-02T00:00:00)")
                        .target(target)
                        .flexible_time_window(window)
                        .send(),
                )
                .await;
            updated.expect("updated");
            assert_eq!(seen.to_string(), "Scheduler UpdateSchedule×1");
            let (deleted, seen) = proxy
                .measure(
                    scheduler
                        .delete_schedule()
                        .group_name(group)
                        .name("o-1")
                        .send(),
                )
                .await;
            deleted.expect("deleted");
            assert_eq!(seen.to_string(), "Scheduler DeleteSchedule×1");
        }
    }

    #[tokio::test]
    async fn a_produce_to_a_private_broker_is_counted_once() {
        use orderflow_adapters::kafka::KafkaPublisher;
        use rdkafka::message::OwnedHeaders;

        let broker = local::within(
            Duration::from_secs(30),
            "starting a broker",
            CountedBroker::start(),
        )
        .await;
        let topic = local::fresh_topic_on(&broker.kafka_config(), 1).await;
        let publisher =
            KafkaPublisher::connect(&broker.kafka_config(), None, topic.clone()).expect("producer");
        let (sent, seen) = broker
            .proxy()
            .measure(publisher.send(&topic, Some(b"k"), Some(b"v"), OwnedHeaders::new()))
            .await;
        sent.expect("acknowledged");
        assert_eq!(seen.operation(Service::Kafka, "Produce"), 1, "{seen}");
        // Everything the producer said to the broker went through the proxy: its start too.
        let all = broker.calls();
        for expected in ["ApiVersions", "Metadata", "InitProducerId", "CreateTopics"] {
            assert!(all.operation(Service::Kafka, expected) > 0, "{all}");
        }
        assert_eq!(all.operation(Service::Other, UNPARSED), 0, "{all}");
    }
}

//! A local stand-in for the Lambda service around one function: the [Runtime API] a function
//! process polls for its invocations, served over real TCP, and the function binary run as a
//! child process that a test kills with SIGKILL and starts again, as Lambda does with a new
//! execution environment.
//!
//! With it, a test crashes the real binary at a chosen moment: in the middle of its remote calls
//! (with a [`FaultProxy`](crate::proxy::FaultProxy) holding the answer to one of them), or after
//! the function did its work but before Lambda accepted its answer ([`RuntimeApi::hold_responses`]).
//! What comes next is the caller's retry: the event source mapping redelivers the batch, the
//! Scheduler's asynchronous invocation is retried, a client sends its request again.
//!
//! The server speaks the subset of HTTP/1.1 `lambda_runtime` (hyper's client, keep-alive) uses:
//! one request at a time per connection, bodies with `Content-Length` or chunked. It also accepts
//! the registration of the internal extension `lambda_runtime`'s graceful-shutdown handler makes
//! (the [Extensions API]), whose next-event poll is left waiting, as Lambda leaves it until
//! shutdown.
//!
//! One function process runs at a time, as in one execution environment: when it is killed, every
//! invocation it held ends as [`Outcome::ProcessDied`], and connections it opened are closed.
//!
//! Bodies are bytes: what to send and what came back is the test's to (de)serialize, so that this
//! module serves the tests of every function, including those built without JSON support here.
//!
//! [Runtime API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
//! [Extensions API]: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::local;

/// The longest request head or body the server reads: far above any batch a test sends.
const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// How an invocation ended, as Lambda sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The function answered: its response body.
    Response(Vec<u8>),
    /// The function reported an error: `Lambda-Runtime-Function-Error-Type` and the body (a JSON
    /// `{"errorType","errorMessage"}` from `lambda_runtime`).
    Error { error_type: String, body: Vec<u8> },
    /// The process died before Lambda accepted an answer: to the caller, a failed invocation.
    ProcessDied,
}

impl Outcome {
    /// The response body as text, if the function answered; for messages and JSON parsing.
    pub fn response_text(&self) -> Option<String> {
        match self {
            Self::Response(body) => Some(String::from_utf8_lossy(body).into_owned()),
            _ => None,
        }
    }
}

/// An invocation queued with [`RuntimeApi::invoke`]; await how it ended with
/// [`outcome`](Self::outcome).
pub struct Invocation {
    request_id: String,
    outcome: oneshot::Receiver<Outcome>,
}

impl Invocation {
    /// The request id the function sees (`Lambda-Runtime-Aws-Request-Id`).
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// How the invocation ended; panics if it has not within `within`, so that a function that
    /// hangs fails the test instead of holding it.
    pub async fn outcome(self, within: Duration) -> Outcome {
        match tokio::time::timeout(within, self.outcome).await {
            Ok(Ok(outcome)) => outcome,
            // The runtime API was dropped with the invocation pending.
            Ok(Err(_)) => Outcome::ProcessDied,
            Err(_) => panic!(
                "invocation {} did not end within {within:?}",
                self.request_id
            ),
        }
    }
}

/// The Runtime API of one function, on a local port. Stops when dropped.
pub struct RuntimeApi {
    address: SocketAddr,
    function_name: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    /// The function's timeout: each invocation's deadline is this far from when it is handed out.
    timeout: Duration,
    /// Invocations not yet handed to a process, oldest first.
    queue: Mutex<VecDeque<Queued>>,
    /// Invocations handed to the running process, awaiting its answer, by request id.
    in_flight: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    /// Wakes connections waiting for an invocation, a release, or the death of their process.
    wake: Notify,
    /// Bumped each time a process dies: connections opened before belong to a dead process.
    generation: AtomicU64,
    /// Whether `/response` posts are held unanswered, and how many are held now.
    hold: Mutex<bool>,
    holding: AtomicUsize,
    /// Bumped by `release`.
    releases: AtomicU64,
    handed_out: AtomicUsize,
    answered: AtomicUsize,
    init_errors: Mutex<Vec<String>>,
}

struct Queued {
    request_id: String,
    body: Vec<u8>,
    outcome: oneshot::Sender<Outcome>,
}

impl RuntimeApi {
    /// The Runtime API of `function_name`, whose invocations may run for `timeout` (the
    /// `Lambda-Runtime-Deadline-Ms` each one carries).
    pub async fn start(function_name: &str, timeout: Duration) -> Self {
        let (listener, address) = local::listener().await;
        let shared = Arc::new(Shared {
            timeout,
            queue: Mutex::default(),
            in_flight: Mutex::default(),
            wake: Notify::new(),
            generation: AtomicU64::new(0),
            hold: Mutex::new(false),
            holding: AtomicUsize::new(0),
            releases: AtomicU64::new(0),
            handed_out: AtomicUsize::new(0),
            answered: AtomicUsize::new(0),
            init_errors: Mutex::default(),
        });
        let accepting = shared.clone();
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:{function_name}");
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let generation = accepting.generation.load(Ordering::SeqCst);
                tokio::spawn(serve(stream, accepting.clone(), generation, arn.clone()));
            }
        });
        Self {
            address,
            function_name: function_name.into(),
            shared,
            task,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Queues an invocation with `event` as its payload; the next process that polls gets it.
    pub fn invoke(&self, event: impl Into<Vec<u8>>) -> Invocation {
        let request_id = local::unique_name("request");
        let (sender, outcome) = oneshot::channel();
        lock(&self.shared.queue).push_back(Queued {
            request_id: request_id.clone(),
            body: event.into(),
            outcome: sender,
        });
        self.shared.wake.notify_waiters();
        Invocation {
            request_id,
            outcome,
        }
    }

    /// From now on, holds every `/response` the function posts without answering it (the
    /// function has done its work; Lambda has not accepted the answer), until
    /// [`release`](Self::release).
    pub fn hold_responses(&self) {
        *lock(&self.shared.hold) = true;
    }

    /// Waits until a response is being held, for at most `timeout`; whether one is.
    pub async fn wait_for_held(&self, timeout: Duration) -> bool {
        local::eventually(timeout, || self.shared.holding.load(Ordering::SeqCst) > 0).await
    }

    /// Stops holding responses, and accepts those held so far from a process still alive.
    pub fn release(&self) {
        *lock(&self.shared.hold) = false;
        self.shared.releases.fetch_add(1, Ordering::SeqCst);
        self.shared.wake.notify_waiters();
    }

    /// How many invocations were handed to a process so far, redeliveries included.
    pub fn handed_out(&self) -> usize {
        self.shared.handed_out.load(Ordering::SeqCst)
    }

    /// How many answers (responses and errors) Lambda accepted so far.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// The bodies of every `/runtime/init/error` posted so far: a process that failed its start.
    pub fn init_errors(&self) -> Vec<String> {
        lock(&self.shared.init_errors).clone()
    }

    /// Starts `binary` as this function's process, with the variables Lambda sets and `env`.
    /// Its standard output and error go to a file named in every panic about it, and printed by
    /// [`FunctionProcess::log`].
    pub fn spawn(&self, binary: impl AsRef<Path>, env: &[(&str, &str)]) -> FunctionProcess {
        let binary = binary.as_ref();
        let log_path =
            std::env::temp_dir().join(format!("{}.log", local::unique_name(&self.function_name)));
        let log = File::create(&log_path)
            .unwrap_or_else(|err| panic!("creating {}: {err}", log_path.display()));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|err| panic!("sharing {}: {err}", log_path.display()));
        let child = Command::new(binary)
            .env("AWS_LAMBDA_RUNTIME_API", self.address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.function_name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|err| panic!("starting {}: {err}", binary.display()));
        FunctionProcess {
            child: Some(child),
            log_path,
            shared: self.shared.clone(),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
        // Wakes every connection, which then finds its process gone and ends.
        self.shared.process_died();
    }
}

/// A function binary running against a [`RuntimeApi`]. Killed when dropped.
pub struct FunctionProcess {
    child: Option<Child>,
    log_path: PathBuf,
    shared: Arc<Shared>,
}

impl FunctionProcess {
    /// Kills the process with SIGKILL (no shutdown hook runs) and waits for it to be gone; every
    /// invocation it held ends as [`Outcome::ProcessDied`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Fails only if the process has exited already, which is as good.
            let _ = child.kill();
            let _ = child.wait();
            self.shared.process_died();
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// What the process wrote to its standard output and error.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Where the process's output goes.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Shared {
    /// The running process is gone: its connections close and its invocations end.
    fn process_died(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for (_, outcome) in lock(&self.in_flight).drain() {
            let _ = outcome.send(Outcome::ProcessDied);
        }
        self.wake.notify_waiters();
    }

    fn is_alive(&self, generation: u64) -> bool {
        self.generation.load(Ordering::SeqCst) == generation
    }
}

/// One request as the server needs it.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// One connection of the process of `generation`: requests one after another until it closes or
/// its process dies.
async fn serve(mut stream: TcpStream, shared: Arc<Shared>, generation: u64, arn: String) {
    let mut buffer = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        if !shared.is_alive(generation) {
            return;
        }
        let written = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let Some(next) = next_invocation(&mut stream, &shared, generation).await else {
                    return;
                };
                let deadline = SystemTime::now() + shared.timeout;
                let deadline_ms = deadline
                    .duration_since(UNIX_EPOCH)
                    .map(|since| since.as_millis())
                    .unwrap_or_default();
                let headers = [
                    ("Lambda-Runtime-Aws-Request-Id", next.request_id.clone()),
                    ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                    ("Lambda-Runtime-Invoked-Function-Arn", arn.clone()),
                    (
                        "Lambda-Runtime-Trace-Id",
                        format!("Root=1-00000000-{:024x};Sampled=0", deadline_ms),
                    ),
                ];
                let request_id = next.request_id.clone();
                let outcome = next.outcome;
                lock(&shared.in_flight).insert(request_id.clone(), outcome);
                shared.handed_out.fetch_add(1, Ordering::SeqCst);
                let sent = respond(&mut stream, 200, &headers, &next.body).await;
                if !sent {
                    // The process is gone: the invocation goes back to the front of the queue.
                    if let Some(outcome) = lock(&shared.in_flight).remove(&request_id) {
                        lock(&shared.queue).push_front(Queued {
                            request_id,
                            body: next.body,
                            outcome,
                        });
                        shared.handed_out.fetch_sub(1, Ordering::SeqCst);
                        shared.wake.notify_waiters();
                    }
                }
                sent
            }
            ("POST", path) if path.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &path["/2018-06-01/runtime/invocation/".len()..];
                let outcome = match rest.rsplit_once('/') {
                    Some((id, "response")) => Some((id, Outcome::Response(request.body.clone()))),
                    Some((id, "error")) => Some((
                        id,
                        Outcome::Error {
                            error_type: request
                                .header("Lambda-Runtime-Function-Error-Type")
                                .unwrap_or("unhandled")
                                .to_owned(),
                            body: request.body.clone(),
                        },
                    )),
                    _ => None,
                };
                match outcome {
                    Some((id, outcome)) => {
                        if matches!(outcome, Outcome::Response(_))
                            && !hold_if_asked(&shared, generation).await
                        {
                            return;
                        }
                        accept(&mut stream, &shared, id, outcome).await
                    }
                    None => respond(&mut stream, 404, &[], b"{}").await,
                }
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                lock(&shared.init_errors).push(String::from_utf8_lossy(&request.body).into());
                respond(&mut stream, 202, &[], br#"{"status":"OK"}"#).await
            }
            ("POST", "/2020-01-01/extension/register") => {
                let name = request
                    .header("Lambda-Extension-Name")
                    .unwrap_or("extension");
                let body = format!(
                    r#"{{"functionName":"{}","functionVersion":"$LATEST","handler":"bootstrap"}}"#,
                    arn.rsplit(':').next().unwrap_or_default()
                );
                let id = format!("extension-{name}");
                let headers = [("Lambda-Extension-Identifier", id)];
                respond(&mut stream, 200, &headers, body.as_bytes()).await
            }
            ("GET", "/2020-01-01/extension/event/next") => {
                // No events until shutdown, which never comes: the process is killed instead.
                wait_for_death(&mut stream, &shared, generation).await;
                return;
            }
            _ => respond(&mut stream, 404, &[], b"{}").await,
        };
        if !written {
            return;
        }
    }
}

/// Takes the next queued invocation, waiting for one while the connection stays open and its
/// process alive; `None` once either is gone.
async fn next_invocation(
    stream: &mut TcpStream,
    shared: &Shared,
    generation: u64,
) -> Option<Queued> {
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if !shared.is_alive(generation) {
            return None;
        }
        if let Some(next) = lock(&shared.queue).pop_front() {
            return Some(next);
        }
        let mut probe = [0; 1];
        tokio::select! {
            () = woken => {}
            // The client sends nothing while it waits: bytes or the end of the stream mean the
            // connection is no longer waiting for this answer.
            _ = stream.read(&mut probe) => return None,
        }
    }
}

/// Holds a `/response` unanswered while responses are held; whether its process is still alive
/// when released.
async fn hold_if_asked(shared: &Shared, generation: u64) -> bool {
    if !*lock(&shared.hold) {
        return true;
    }
    let release = shared.releases.load(Ordering::SeqCst);
    shared.holding.fetch_add(1, Ordering::SeqCst);
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if !shared.is_alive(generation) || shared.releases.load(Ordering::SeqCst) != release {
            break;
        }
        woken.await;
    }
    shared.holding.fetch_sub(1, Ordering::SeqCst);
    shared.is_alive(generation)
}

/// Waits until the connection closes or its process dies.
async fn wait_for_death(stream: &mut TcpStream, shared: &Shared, generation: u64) {
    let mut probe = [0; 1];
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if !shared.is_alive(generation) {
            return;
        }
        tokio::select! {
            () = woken => {}
            _ = stream.read(&mut probe) => return,
        }
    }
}

/// Accepts the answer to invocation `id`: 202, and the invocation ends with `outcome`. An answer
/// to an invocation that is not in flight is refused, as Lambda refuses it.
async fn accept(stream: &mut TcpStream, shared: &Shared, id: &str, outcome: Outcome) -> bool {
    let Some(waiting) = lock(&shared.in_flight).remove(id) else {
        return respond(stream, 400, &[], br#"{"errorType":"InvalidRequestID"}"#).await;
    };
    shared.answered.fetch_add(1, Ordering::SeqCst);
    // The test may have stopped waiting; the answer is accepted all the same.
    let _ = waiting.send(outcome);
    respond(stream, 202, &[], br#"{"status":"OK"}"#).await
}

/// Writes a response with a JSON body; whether it was written.
async fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
) -> bool {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body);
    stream.write_all(&message).await.is_ok() && stream.flush().await.is_ok()
}

/// Reads one request from `stream`, keeping in `buffer` what was read past it; `None` if the
/// connection closed or sent something that is not HTTP/1.1 this server understands.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(end) = find(buffer, b"\r\n\r\n") {
            break end;
        }
        if buffer.len() > MAX_MESSAGE || !fill(stream, buffer).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    buffer.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut start = lines.next()?.split(' ');
    let (method, path) = (start.next()?.to_owned(), start.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    let mut request = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"));
    if chunked {
        request.body = read_chunked(stream, buffer).await?;
    } else {
        let length: usize = request
            .header("content-length")
            .unwrap_or("0")
            .parse()
            .ok()?;
        if length > MAX_MESSAGE {
            return None;
        }
        while buffer.len() < length {
            if !fill(stream, buffer).await {
                return None;
            }
        }
        request.body = buffer.drain(..length).collect();
    }
    Some(request)
}

/// A chunked body, trailers skipped.
async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(end) = find(buffer, b"\r\n") {
                break end;
            }
            if !fill(stream, buffer).await {
                return None;
            }
        };
        let line = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        buffer.drain(..line_end + 2);
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        if size == 0 {
            // Trailers, each on a line, up to an empty line.
            loop {
                let end = loop {
                    if let Some(end) = find(buffer, b"\r\n") {
                        break end;
                    }
                    if !fill(stream, buffer).await {
                        return None;
                    }
                };
                buffer.drain(..end + 2);
                if end == 0 {
                    return Some(body);
                }
            }
        }
        if body.len() + size > MAX_MESSAGE {
            return None;
        }
        while buffer.len() < size + 2 {
            if !fill(stream, buffer).await {
                return None;
            }
        }
        body.extend(buffer.drain(..size));
        buffer.drain(..2);
    }
}

/// Reads more of the stream into `buffer`; whether anything came.
async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(read @ 1..) => {
            buffer.extend_from_slice(&chunk[..read]);
            true
        }
        _ => false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

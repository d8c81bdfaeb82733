//! A TCP proxy between a client and a local service that misbehaves on cue, response by response:
//! it loses a response (the request reached the service and was applied, then the connection is
//! reset before the client reads the answer), holds one back until the test releases it (the
//! moment to kill the client between a call and its answer), slows every response down, or
//! takes the service away altogether (every connection reset, new ones refused) until restored.
//! The failures idempotent retries and client timeouts exist for, on the wire rather than in an
//! adapter.
//!
//! Responses are told apart by direction: the first bytes back after bytes went up start a
//! response. That is exact for HTTP/1.1 without pipelining (the SDK's case); a Kafka client may
//! pipeline requests on a connection, and then a response the service sends in the same read as
//! the one before it counts with it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::local;

/// Forwards every connection on a local port to `upstream`. Responses are numbered from 0 in the
/// order they start; an armed response is lost (the client's connection reset instead) or held.
/// Stops when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    responses: AtomicUsize,
    lost: Mutex<BTreeSet<usize>>,
    resets: AtomicUsize,
    to_hold: Mutex<BTreeSet<usize>>,
    /// How many responses are being held back now.
    holding: AtomicUsize,
    /// Bumped by `release`: every response held before it goes on.
    releases: watch::Sender<u64>,
    /// Added before every response starts; zero unless the test slows the service down.
    delay: Mutex<Duration>,
    /// While set, the service is away: connections are reset as they come.
    down: AtomicBool,
    /// Bumped by `cut`: every connection open before it is reset.
    cuts: watch::Sender<u64>,
    /// How many connections were refused or cut so far.
    refused: AtomicUsize,
}

impl FaultProxy {
    /// A proxy to `upstream`, which need not listen yet: each connection is made when a client
    /// connects.
    pub async fn start(upstream: SocketAddr) -> Self {
        let (listener, address) = local::listener().await;
        let shared = Arc::new(Shared {
            responses: AtomicUsize::new(0),
            lost: Mutex::default(),
            resets: AtomicUsize::new(0),
            to_hold: Mutex::default(),
            holding: AtomicUsize::new(0),
            releases: watch::channel(0).0,
            delay: Mutex::default(),
            down: AtomicBool::new(false),
            cuts: watch::channel(0).0,
            refused: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(forward(client, upstream, accepting.clone()));
            }
        });
        Self {
            address,
            shared,
            task,
        }
    }

    /// A proxy in front of moto, the local DynamoDB and Scheduler.
    #[cfg(feature = "aws")]
    pub async fn before_moto() -> Self {
        Self::start(local::moto_address()).await
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:<port>`, for an SDK client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many responses have started so far; the next one has this number.
    pub fn responses(&self) -> usize {
        self.shared.responses.load(Ordering::SeqCst)
    }

    /// Resets the connection instead of delivering response number `n`.
    pub fn lose_response(&self, n: usize) {
        lock(&self.shared.lost).insert(n);
    }

    /// How many responses were lost so far.
    pub fn resets(&self) -> usize {
        self.shared.resets.load(Ordering::SeqCst)
    }

    /// Holds response number `n` back (the service has answered; the client has not read it)
    /// until [`release`](Self::release).
    pub fn hold_response(&self, n: usize) {
        lock(&self.shared.to_hold).insert(n);
    }

    /// Waits until a response is being held, for at most `timeout`; whether one is.
    pub async fn wait_for_held(&self, timeout: Duration) -> bool {
        local::eventually(timeout, || self.shared.holding.load(Ordering::SeqCst) > 0).await
    }

    /// Forgets every response armed to be lost or held that has not come yet.
    pub fn disarm(&self) {
        lock(&self.shared.lost).clear();
        lock(&self.shared.to_hold).clear();
    }

    /// Delivers every response held so far (to clients still there to read it).
    pub fn release(&self) {
        self.shared
            .releases
            .send_modify(|generation| *generation += 1);
    }

    /// Delays every response from now on by `delay` before its first byte: a slow service.
    /// `Duration::ZERO` makes it fast again.
    pub fn slow_down(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Takes the service away, as a stopped broker or server is to its clients: every open
    /// connection is reset, and every new one reset as it comes, until [`restore`](Self::restore).
    /// Nothing sent from now on reaches the service.
    pub fn cut(&self) {
        self.shared.down.store(true, Ordering::SeqCst);
        self.shared.cuts.send_modify(|generation| *generation += 1);
    }

    /// Lets connections through to the service again.
    pub fn restore(&self) {
        self.shared.down.store(false, Ordering::SeqCst);
    }

    /// How many connections were refused or reset by [`cut`](Self::cut) so far.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.release();
        self.task.abort();
    }
}

/// One connection: requests go up as they come; each response comes back as it comes, late, held
/// until released, or, if armed to be lost, is swallowed and the client's connection reset.
async fn forward(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut cuts = shared.cuts.subscribe();
    if shared.down.load(Ordering::SeqCst) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let _ = client.set_zero_linger();
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        // As if the service refused the connection: the client's ends with a reset.
        let _ = client.set_zero_linger();
        return;
    };
    let (mut up, mut down) = (vec![0; 16 * 1024], vec![0; 16 * 1024]);
    // Whether a request went up since the last response started.
    let mut awaiting = false;
    loop {
        tokio::select! {
            _ = cuts.changed() => {
                shared.refused.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_zero_linger();
                return;
            }
            read = client.read(&mut up) => {
                let Ok(read @ 1..) = read else { return };
                awaiting = true;
                if server.write_all(&up[..read]).await.is_err() {
                    return;
                }
            }
            read = server.read(&mut down) => {
                let Ok(read @ 1..) = read else { return };
                if std::mem::take(&mut awaiting) {
                    let n = shared.responses.fetch_add(1, Ordering::SeqCst);
                    if lock(&shared.lost).remove(&n) {
                        shared.resets.fetch_add(1, Ordering::SeqCst);
                        // Dropped with a zero linger, the connection ends with a reset.
                        let _ = client.set_zero_linger();
                        return;
                    }
                    let delay = *lock(&shared.delay);
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if lock(&shared.to_hold).remove(&n) {
                        hold(&shared).await;
                    }
                }
                if client.write_all(&down[..read]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Waits for the next release.
async fn hold(shared: &Shared) {
    let mut releases = shared.releases.subscribe();
    shared.holding.fetch_add(1, Ordering::SeqCst);
    // The sender lives in `shared`, so this ends only with a release.
    let _ = releases.changed().await;
    shared.holding.fetch_sub(1, Ordering::SeqCst);
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

//! A TCP proxy between a client and a local service that loses responses on cue: the request
//! reaches the service and is applied, then the connection is reset before the client reads the
//! answer. The failure idempotent retries exist for, on the wire rather than in an adapter.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::local;

/// Forwards every connection on a local port to `upstream`. Responses are numbered from 0 in the
/// order they start (the first bytes back after a request); an armed response is never
/// delivered: the proxy resets the client's connection instead. Stops when dropped.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    responses: AtomicUsize,
    armed: Mutex<BTreeSet<usize>>,
    resets: AtomicUsize,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let (listener, address) = local::listener().await;
        let shared = Arc::new(Shared::default());
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
    pub async fn before_moto() -> Self {
        Self::start(local::moto_address()).await
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
        lock(&self.shared.armed).insert(n);
    }

    /// How many responses were lost so far.
    pub fn resets(&self) -> usize {
        self.shared.resets.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: requests go up as they come; each response either comes back as it comes, or,
/// if armed, is swallowed and the client's connection reset.
async fn forward(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut up, mut down) = (vec![0; 16 * 1024], vec![0; 16 * 1024]);
    // Whether a request went up since the last response started.
    let mut awaiting = false;
    loop {
        tokio::select! {
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
                    if lock(&shared.armed).remove(&n) {
                        shared.resets.fetch_add(1, Ordering::SeqCst);
                        // Dropped with a zero linger, the connection ends with a reset.
                        let _ = client.set_zero_linger();
                        return;
                    }
                }
                if client.write_all(&down[..read]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

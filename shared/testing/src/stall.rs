//! A frozen peer: an endpoint that accepts connections and never answers. The common cloud
//! failure, and the one a refused connection does not exercise: without timeouts a client waits on
//! it for ever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::task::JoinHandle;

use crate::local;

/// Accepts every connection on a local port, holds it open and never reads or writes. Stops when
/// dropped.
pub struct StalledEndpoint {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl StalledEndpoint {
    pub async fn start() -> Self {
        let (listener, address) = local::listener().await;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                held.push(connection);
            }
        });
        Self {
            address,
            accepted,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`, for an SDK client's endpoint.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A DynamoDB client for this endpoint, with the timeouts and retries the functions use.
    pub async fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        local::dynamodb_client_at(&self.url()).await
    }

    /// A Scheduler client for this endpoint, with the timeouts and retries the functions use.
    pub async fn scheduler_client(&self) -> aws_sdk_scheduler::Client {
        local::scheduler_client_at(&self.url()).await
    }

    /// How many connections clients opened so far: a test checks that its calls reached the stall.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for StalledEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

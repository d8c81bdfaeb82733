//! A Kafka broker of a test's own: a tansu process on a free port that the test may freeze and
//! thaw (SIGSTOP, SIGCONT) without disturbing the tests that share the local broker.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::local;
use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig};

/// A tansu broker with in-memory storage, stopped when dropped.
pub struct PrivateBroker {
    process: Child,
    address: String,
}

impl PrivateBroker {
    /// Starts `$TANSU` (or `tansu` from the `PATH` the Makefile sets) and waits until it listens.
    pub async fn start() -> Self {
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let url = format!("tcp://{address}");
        let program = std::env::var("TANSU").unwrap_or_else(|_| "tansu".into());
        let process = Command::new(&program)
            .args(["broker", "--cluster-id", "orderflow-test"])
            .args(["--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .env_remove("SCHEMA_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "starting {program} failed: {err}; run the tests with `make test`, which puts \
                     the project's tansu on the PATH, or set TANSU"
                )
            });
        let broker = Self { process, address };
        broker.wait_until_listening().await;
        broker
    }

    /// A client configuration for this broker, with the functions' delivery timeout.
    pub fn kafka_config(&self) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: self.address.clone(),
            auth: KafkaAuth::Plaintext,
            client_id: local::unique_name("orderflow-test"),
            delivery_timeout: KafkaConfig::DEFAULT_DELIVERY_TIMEOUT,
        }
    }

    /// Stops the broker process where it is: connections stay open and nothing is answered.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen broker run again.
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.process.id().to_string()])
            .status()
            .unwrap_or_else(|err| panic!("kill {signal} failed: {err}"));
        assert!(status.success(), "kill {signal}: {status}");
    }

    async fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.address).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {}",
                self.address
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A port nothing listens on now: the kernel's pick, released for the broker to bind.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|err| panic!("finding a free port: {err}"))
}

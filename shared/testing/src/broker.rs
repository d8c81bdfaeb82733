//! A Kafka broker of a test's own: a tansu process on a free port that the test may freeze and
//! thaw (SIGSTOP, SIGCONT) without disturbing the tests that share the local broker, or put
//! behind a [`FaultProxy`] that loses, holds back or slows down its responses.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::local;
use crate::proxy::FaultProxy;
use orderflow_adapters::kafka::{KafkaAuth, KafkaConfig, KafkaPublisher, read_to_end};
use rdkafka::message::OwnedMessage;

/// A tansu broker with in-memory storage, stopped when dropped.
pub struct PrivateBroker {
    process: Child,
    /// Where clients connect: the broker itself, or the proxy in front of it.
    address: String,
}

impl PrivateBroker {
    /// Starts `$TANSU` (or `tansu` from the `PATH` the Makefile sets) and waits until it listens.
    pub async fn start() -> Self {
        let address = format!("127.0.0.1:{}", free_port());
        let broker = Self::spawn(&address, &address);
        broker.wait_until_listening(&address).await;
        broker
    }

    /// A broker that every client reaches through the returned proxy, so that the proxy's faults
    /// hit every request, the producer's included.
    ///
    /// Pointing the bootstrap address at the proxy is not enough: a Kafka client reconnects to the
    /// address the broker advertises in its metadata. So the broker advertises the proxy's address,
    /// and listens on a port only the proxy knows.
    pub async fn behind_proxy() -> (Self, FaultProxy) {
        let listening: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        // The proxy connects to its upstream per client connection, so it may start first.
        let proxy = FaultProxy::start(listening).await;
        let broker = Self::spawn(&listening.to_string(), &proxy.address().to_string());
        broker.wait_until_listening(&listening.to_string()).await;
        (broker, proxy)
    }

    /// Starts tansu listening on `listening` and advertising `advertised`.
    fn spawn(listening: &str, advertised: &str) -> Self {
        let program = std::env::var("TANSU").unwrap_or_else(|_| "tansu".into());
        let process = Command::new(&program)
            .args(["broker", "--cluster-id", "orderflow-test"])
            .args(["--storage-engine", "memory://tansu/"])
            .args(["--listener-url", &format!("tcp://{listening}")])
            .args(["--advertised-listener-url", &format!("tcp://{advertised}")])
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
        Self {
            process,
            address: advertised.to_owned(),
        }
    }

    /// A client configuration for this broker (through its proxy, if it has one), with the
    /// functions' delivery timeout.
    pub fn kafka_config(&self) -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: self.address.clone(),
            auth: KafkaAuth::Plaintext,
            client_id: local::unique_name("orderflow-test"),
            delivery_timeout: KafkaConfig::DEFAULT_DELIVERY_TIMEOUT,
        }
    }

    /// Every record on `topic` of this broker, duplicates included, in partition then offset
    /// order: [`read_to_end`] with this broker's configuration.
    pub async fn read_topic(&self, topic: &str) -> Vec<OwnedMessage> {
        read_to_end(&self.kafka_config(), topic, Duration::from_secs(30))
            .await
            .unwrap_or_else(|err| panic!("reading {topic} failed: {err}"))
    }

    /// The value of every record on `topic` of this broker, duplicates included, in partition then
    /// offset order: for tests without rdkafka of their own.
    pub async fn payloads(&self, topic: &str) -> Vec<Vec<u8>> {
        use rdkafka::Message;
        self.read_topic(topic)
            .await
            .iter()
            .map(|message| message.payload().unwrap_or_default().to_vec())
            .collect()
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

    async fn wait_until_listening(&self, address: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(address).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {address}"
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

/// A private broker behind a fault proxy, a fresh topic on it, and the functions' publisher to
/// that topic through the proxy: where a test of publishing under broker faults starts.
pub struct ProxiedTopic {
    pub broker: PrivateBroker,
    pub proxy: FaultProxy,
    pub topic: String,
    pub publisher: KafkaPublisher,
}

impl ProxiedTopic {
    /// With a topic of `partitions` partitions.
    pub async fn start(partitions: i32) -> Self {
        let (broker, proxy) = local::within(
            Duration::from_secs(30),
            "starting a broker",
            PrivateBroker::behind_proxy(),
        )
        .await;
        let topic = local::within(
            Duration::from_secs(30),
            "creating a topic",
            local::fresh_topic_on(&broker.kafka_config(), partitions),
        )
        .await;
        let publisher = KafkaPublisher::connect(&broker.kafka_config(), None, topic.clone())
            .unwrap_or_else(|err| panic!("a producer for {topic}: {err}"));
        Self {
            broker,
            proxy,
            topic,
            publisher,
        }
    }
}

/// Waits until no response has passed `proxy` for 250 ms, failing the test if that takes over
/// 10 s. A Kafka client keeps talking after its first request is answered (metadata refreshes,
/// the handshake of a second connection), so a test that arms a fault for "the next response"
/// settles first, or the fault may hit one of those instead of the answer it means.
pub async fn settle(proxy: &FaultProxy) {
    let (quiet, deadline) = (
        Duration::from_millis(250),
        Instant::now() + Duration::from_secs(10),
    );
    loop {
        let seen = proxy.responses();
        tokio::time::sleep(quiet).await;
        if proxy.responses() == seen {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the clients behind the proxy kept talking for 10 s"
        );
    }
}

/// A port nothing listens on now: the kernel's pick, released for the broker to bind.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|err| panic!("finding a free port: {err}"))
}

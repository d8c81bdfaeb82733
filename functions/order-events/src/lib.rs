//! order-events: the MSK event source mapping's target. Decodes each Kafka record and applies it
//! (see `orderflow_domain::consumer`); answers with a partial batch response naming, per partition,
//! the first record not done.

mod config;
mod handler;
mod shutdown;

use orderflow_adapters::dynamodb::DynamoStore;
use orderflow_adapters::kafka::KafkaDeadLetters;
use orderflow_adapters::system::SystemClock;
use orderflow_domain::ports::ConsumerWith;

pub use config::Config;
pub use handler::{Deps, HandlerError, handle};
pub use shutdown::{SHUTDOWN_FLUSH, flush_at_shutdown};

/// The consumer's ports as deployed: DynamoDB, the Kafka dead-letter topic, the system clock.
pub type AwsConsumer = ConsumerWith<DynamoStore, KafkaDeadLetters, SystemClock>;

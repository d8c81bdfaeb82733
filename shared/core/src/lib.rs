//! orderflow's domain: the ports the order pipeline needs ([`ports`]), the one error type
//! ([`error`]), the DynamoDB schema ([`schema`]) and the adapters that implement the ports on AWS
//! and Kafka ([`adapters`]). With the `testing` feature, [`testing`] adds in-memory fakes and the
//! contract tests that fakes and adapters both pass. [`metrics`] writes the counts CloudWatch
//! alarms and the dashboard read.

pub mod adapters;
pub mod error;
pub mod events;
pub mod metrics;
pub mod orders;
pub mod ports;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;
pub mod timeouts;

pub use error::{Dependency, Error, Result};

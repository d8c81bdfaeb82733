//! orderflow's domain, free of AWS and Kafka: its dependency list has neither, so the compiler
//! keeps it that way.
//!
//! - [`ports`]: what the domain needs from the outside world, as small traits, bundled per use
//!   case ([`ports::ApiPorts`], [`ports::ConsumerPorts`]). `orderflow-adapters` implements them.
//! - [`storefront`]: the API's use cases (create-order and orders-api): place, pay and cancel
//!   orders; notifications; products and their stock.
//! - [`consumer`]: order-events: what each order event does, and how a batch is worked through.
//! - [`expiry`]: payment expiry, both halves: order-timeout's announcement and the consumer's
//!   cancellation of an unpaid order.
//! - [`outbox`]: order-stream: the order event each status change of the orders table announces,
//!   and how a batch of the table's stream records is published.
//! - [`error`]: the one error type; [`metrics`]: the counts CloudWatch alarms and the dashboard
//!   read.
//!
//! With the `testing` feature, [`testing`] adds in-memory fakes, the contract tests that fakes and
//! adapters both pass, fault injection and hostile-input strategies.

pub mod catalogue;
pub mod consumer;
pub mod error;
pub mod expiry;
pub mod metrics;
pub mod outbox;
pub mod ports;
pub mod storefront;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Dependency, Error, Resource, Result};

//! Test support that needs the local services (moto for DynamoDB and the Scheduler, tansu for
//! Kafka): a dev-dependency of the crates whose tests run against them.
//!
//! - [`local`]: clients for the local services, fresh tables and topics, reading a topic back;
//! - [`services`]: the real adapters on fresh tables and topics, with outages and stalls on cue;
//! - [`broker`]: a private broker a test may freeze; [`stall`]: an endpoint that never answers;
//!   [`proxy`]: a proxy in front of moto or a broker that loses, holds back or slows down the
//!   responses a test names;
//! - [`runtime`]: the Lambda Runtime API around a function binary run as a child process, to
//!   kill it with SIGKILL at a chosen moment and start it again;
//! - [`figures`]: what a scenario reports having tried and found, collected over a test run;
//! - [`api`]: what both API functions' tests share: their ports on the local services or in
//!   memory, and requests to them.
//!
//! Without its default feature `aws`, only the Kafka part is here: what the tests of a function
//! that never calls DynamoDB or the Scheduler need, so that their build does not compile those
//! SDKs either.

#[cfg(feature = "aws")]
pub mod api;
pub mod broker;
pub mod calls;
pub mod figures;
pub mod local;
pub mod proxy;
pub mod runtime;
#[cfg(feature = "aws")]
pub mod services;
#[cfg(feature = "aws")]
pub mod stall;

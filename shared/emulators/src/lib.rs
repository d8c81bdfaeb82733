//! Local stand-ins for the AWS services that invoke orderflow's functions:
//!
//! - [`msk`]: the MSK event source mapping, from a Kafka topic;
//! - [`streams`]: the DynamoDB Streams event source mapping, from a table's stream;
//! - [`scheduler`]: EventBridge Scheduler's one-time schedules.
//!
//! All of them invoke functions through the Lambda Invoke API that `cargo lambda watch` serves
//! ([`lambda`]), so what runs locally is the same binary on the same runtime path as on Lambda.
//! Nothing here is specific to orderflow's functions: point them at any topic, table, schedule
//! group and function.

pub mod lambda;
pub mod msk;
pub mod scheduler;
pub mod streams;

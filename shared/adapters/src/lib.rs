//! The ports of `orderflow-domain` implemented against AWS and Kafka, one feature per adapter so
//! that each function compiles only the SDKs it calls:
//!
//! | feature | module | what |
//! |---|---|---|
//! | `dynamodb` | [`dynamodb`] | the stores, the idempotency store, the table schema |
//! | `scheduler` | [`scheduler`] | payment timeouts as one-time EventBridge Scheduler schedules |
//! | `kafka` | [`kafka`] | the event publisher and dead-letter topic, MSK IAM authentication |
//! | `msk` | [`msk`] | the MSK event source mapping's events and partial batch responses |
//! | `api` | [`api`] | the API functions' settings and wiring: all of the above, once per cold start |
//!
//! Always here: [`system`] (clock and ids), [`config`] (reading the environment), and the SDK
//! configuration every function loads ([`load_aws_config`]), with the timeouts that bound every
//! AWS call.

#[cfg(feature = "api")]
pub mod api;
#[cfg(feature = "aws-errors")]
mod aws_errors;
pub mod config;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "msk")]
pub mod msk;
#[cfg(feature = "scheduler")]
pub mod scheduler;
pub mod system;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
#[cfg(feature = "aws-errors")]
pub(crate) use aws_errors::{build_error, sdk_error};

/// How long one call to an AWS service may take. The SDK sets no limit of its own, so a stalled
/// endpoint (one that accepts the connection and never answers) would hold a request until the
/// function times out. Within these bounds a DynamoDB or Scheduler call fails as
/// `Error::Unavailable` after at most [`AWS_OPERATION_TIMEOUT`], retries included: the API then
/// answers 503 with `Retry-After`, far inside API Gateway's 29 s, and order-events reports the
/// partition in `batchItemFailures` instead of holding the batch.
///
/// Single-digit milliseconds is the usual latency of these calls in a region, so two seconds per
/// attempt leaves room for a slow moment, and one more attempt, without waiting on a dead peer.
/// A retried `TransactWriteItems` is idempotent: the SDK fills in its `ClientRequestToken` once
/// per operation, and DynamoDB answers a repeat of an applied transaction with success.
pub const AWS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const AWS_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const AWS_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The timeouts above, for an SDK configuration.
pub fn aws_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(AWS_CONNECT_TIMEOUT)
        .operation_attempt_timeout(AWS_ATTEMPT_TIMEOUT)
        .operation_timeout(AWS_OPERATION_TIMEOUT)
        .build()
}

/// The AWS configuration of a function, once per cold start: region and credentials from the
/// environment (the function's role on Lambda), with [`aws_timeouts`].
pub async fn load_aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(aws_timeouts())
        .load()
        .await
}

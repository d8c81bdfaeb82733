//! Adapters: the ports implemented against DynamoDB, EventBridge Scheduler and Kafka.

pub mod dynamodb;
pub mod kafka;
pub mod msk;
pub mod scheduler;
pub mod system;

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::{Dependency, Error};

/// How long one call to an AWS service may take. The SDK sets no limit of its own, so a stalled
/// endpoint (one that accepts the connection and never answers) would hold a request until the
/// function times out. Within these bounds a DynamoDB or Scheduler call fails as
/// [`Error::Unavailable`] after at most [`AWS_OPERATION_TIMEOUT`], retries included: the API then
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

/// Error codes that AWS services use for failures a retry can fix.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Maps an AWS SDK error to [`Error::Unavailable`] when a retry may fix it (network, timeout,
/// throttling, 5xx), to [`Error::Rejected`] otherwise.
pub(crate) fn sdk_error<E>(
    dependency: Dependency,
    action: &'static str,
    error: SdkError<E, HttpResponse>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service
                    .err()
                    .code()
                    .is_some_and(|code| TRANSIENT_CODES.contains(&code))
        }
        _ => false,
    };
    let source = Box::new(error);
    if transient {
        Error::Unavailable {
            dependency,
            action,
            source,
        }
    } else {
        Error::Rejected {
            dependency,
            action,
            source,
        }
    }
}

/// A request builder failed: a required field is missing, which is a defect in this crate.
pub(crate) fn build_error(
    dependency: Dependency,
    action: &'static str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Rejected {
        dependency,
        action,
        source: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::error::ErrorMetadata;
    use aws_sdk_dynamodb::operation::get_item::GetItemError;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// What `sdk_error` makes of a service error with `code` answered with HTTP `status`.
    fn classified(status: u16, code: &str) -> Error {
        let error = GetItemError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(status.try_into().expect("status"), SdkBody::empty());
        sdk_error(
            Dependency::DynamoDb,
            "get an order",
            SdkError::service_error(error, raw),
        )
    }

    #[test]
    fn throttling_and_transaction_conflicts_are_retryable() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "TransactionConflictException",
            "TransactionInProgressException",
        ] {
            let error = classified(400, code);
            assert!(
                matches!(error, Error::Unavailable { .. }),
                "{code}: {error:?}"
            );
            assert!(error.is_retryable(), "{code}");
        }
    }

    #[test]
    fn server_errors_are_retryable_whatever_their_code() {
        for (status, code) in [
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
            (502, "SomethingNew"),
        ] {
            assert!(classified(status, code).is_retryable(), "{status} {code}");
        }
    }

    #[test]
    fn refusals_are_not_retryable() {
        for code in [
            "ResourceNotFoundException",
            "AccessDeniedException",
            "ValidationException",
        ] {
            let error = classified(400, code);
            assert!(matches!(error, Error::Rejected { .. }), "{code}: {error:?}");
            assert!(!error.is_retryable(), "{code}");
        }
    }
}

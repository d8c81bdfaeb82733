//! What an AWS SDK error means to the domain: a failure a retry may fix, or a refusal.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use orderflow_domain::error::{Dependency, Error};

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

#[cfg(all(test, feature = "dynamodb"))]
mod tests {
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

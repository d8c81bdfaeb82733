//! Business and technical counts in CloudWatch embedded metric format (EMF): one JSON line on
//! stdout per outcome. Lambda sends stdout to the function's log group, where CloudWatch Logs
//! turns each such line into metrics; no client and no extra call. infra/alarms.tf and
//! infra/dashboard.tf read these metrics by the names and the dimension below.
//!
//! Lines are written only where `AWS_LAMBDA_FUNCTION_NAME` is set, which Lambda does (like
//! `AWS_REGION`) and `cargo lambda watch` too (`make run` shows them in its Lambda log); tests
//! print nothing. It is the `FunctionName` dimension, so two stacks in one account stay apart.

use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Value, json};

/// The CloudWatch namespace of every metric here.
pub const NAMESPACE: &str = "orderflow";

/// What is counted. The names are the CloudWatch metric names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// An order was stored as PENDING with its stock reserved (not its retries).
    OrdersPlaced,
    /// An order was refused because a product had too little stock.
    OrdersSoldOut,
    /// An order went from PENDING to PAID.
    OrdersPaid,
    /// A payment timeout cancelled a PENDING order and returned its stock.
    PaymentTimeoutsApplied,
    /// Records order-events sent to the dead-letter topic: they can never be applied.
    RecordsDeadLettered,
    /// Partitions order-events stopped at a failed record, one batch item failure each; the
    /// mapping retries from there.
    PartitionsStopped,
}

impl Metric {
    pub const fn name(self) -> &'static str {
        match self {
            Metric::OrdersPlaced => "OrdersPlaced",
            Metric::OrdersSoldOut => "OrdersSoldOut",
            Metric::OrdersPaid => "OrdersPaid",
            Metric::PaymentTimeoutsApplied => "PaymentTimeoutsApplied",
            Metric::RecordsDeadLettered => "RecordsDeadLettered",
            Metric::PartitionsStopped => "PartitionsStopped",
        }
    }
}

/// Counts one occurrence of `metric`.
pub fn count(metric: Metric) {
    counts(&[(metric, 1)]);
}

/// Writes `counts` as one EMF line, where the function has a name (see the module's comment).
pub fn counts(counts: &[(Metric, u64)]) {
    static FUNCTION_NAME: OnceLock<Option<String>> = OnceLock::new();
    let function = FUNCTION_NAME.get_or_init(|| std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok());
    if let Some(function) = function {
        let line = document(counts, function, chrono::Utc::now().timestamp_millis());
        // A metric that cannot be written must not fail the work it counts.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }
}

/// The EMF document: the `_aws` metadata names the namespace, the dimension and each metric with
/// its unit; the values sit beside it, under the same names.
fn document(counts: &[(Metric, u64)], function: &str, timestamp_ms: i64) -> Value {
    let mut document = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": counts
                    .iter()
                    .map(|(metric, _)| json!({ "Name": metric.name(), "Unit": "Count" }))
                    .collect::<Vec<_>>(),
            }],
        },
        "FunctionName": function,
    });
    for (metric, value) in counts {
        document[metric.name()] = json!(value);
    }
    document
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_count_is_an_emf_document_with_the_function_as_dimension() {
        let line = document(
            &[(Metric::OrdersPlaced, 1)],
            "orderflow-dev-create-order",
            1_764_620_000_000,
        );
        assert_eq!(
            line,
            json!({
                "_aws": {
                    "Timestamp": 1_764_620_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "orderflow",
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [{ "Name": "OrdersPlaced", "Unit": "Count" }],
                    }],
                },
                "FunctionName": "orderflow-dev-create-order",
                "OrdersPlaced": 1,
            })
        );
    }

    #[test]
    fn several_counts_share_one_line_and_zeros_are_written() {
        let line = document(
            &[
                (Metric::RecordsDeadLettered, 2),
                (Metric::PartitionsStopped, 0),
            ],
            "orderflow-dev-order-events",
            7,
        );
        assert_eq!(
            line,
            json!({
                "_aws": {
                    "Timestamp": 7,
                    "CloudWatchMetrics": [{
                        "Namespace": "orderflow",
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [
                            { "Name": "RecordsDeadLettered", "Unit": "Count" },
                            { "Name": "PartitionsStopped", "Unit": "Count" },
                        ],
                    }],
                },
                "FunctionName": "orderflow-dev-order-events",
                "RecordsDeadLettered": 2,
                "PartitionsStopped": 0,
            })
        );
        assert!(
            !line.to_string().contains('\n'),
            "CloudWatch Logs reads one document per line"
        );
    }
}

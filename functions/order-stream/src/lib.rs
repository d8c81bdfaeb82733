//! order-stream: the target of the DynamoDB Streams event source mapping on the orders table
//! (`ReportBatchItemFailures` on). It publishes each order status transition in the batch as one
//! order event on `order-events` and answers with a partial batch response naming the earliest
//! record not done. What a transition announces, and how a batch is worked through, is
//! `orderflow_domain::outbox`; the stream's wire format is `orderflow_adapters::dynamodb::stream`.

pub mod config;
mod handler;

pub use handler::{HandlerError, handle};

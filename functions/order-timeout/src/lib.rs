//! order-timeout: the EventBridge Scheduler target. Its input is the schedule's `PaymentTimeout`
//! payload, delivered as it is (no envelope); it publishes the order's `timeout` event, never
//! before the payment deadline (see `handler.rs` for what an early invocation does). What the
//! event then does to the order is `orderflow_domain::expiry`, beside the announcement.

pub mod config;
mod handler;

pub use handler::{Deps, HandlerError, handle};

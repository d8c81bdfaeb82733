//! create-order: `POST /orders` behind API Gateway (HTTP API, payload 2.0) or a function URL.
//! Schedules the payment timeout, reserves every line's stock and stores the order as PENDING in
//! one transaction, publishes `created`, and answers 201 with the order. With an
//! `Idempotency-Key`, a retry answers the same and completes whatever a failed attempt left undone.

pub mod config;
mod handler;

pub use handler::{Deps, handle};

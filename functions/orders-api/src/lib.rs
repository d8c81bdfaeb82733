//! orders-api: every API route but `POST /orders`, behind API Gateway (HTTP API, payload 2.0) or
//! a function URL. The caller's orders and notifications; paying and cancelling an order (with
//! an optional `Idempotency-Key`); products with their stock, which administrators set.

pub mod config;
mod handler;

pub use handler::handle;

//! create-order: `POST /orders` behind API Gateway (HTTP API, payload 2.0) or a function URL.
//! Places the order (`orderflow_domain::storefront::Storefront::place`, whose module documentation
//! tells the steps and why they come in that order) and answers 201 with it. With an
//! `Idempotency-Key`, a retry answers the same and completes whatever a failed attempt left undone
//! (`orderflow_http::idempotency`).

pub mod config;
mod handler;

pub use handler::handle;

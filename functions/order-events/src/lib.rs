//! order-events: the MSK event source mapping's target. Decodes each Kafka record and applies it
//! (see `orderflow_core::events`); answers with a partial batch response naming, per partition,
//! the first record not done.

mod config;
mod handler;
mod shutdown;

pub use config::Config;
pub use handler::{Deps, HandlerError, handle};
pub use shutdown::{SHUTDOWN_FLUSH, flush_at_shutdown};

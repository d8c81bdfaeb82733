//! In-memory fakes of the ports, for fast domain tests, and the contract tests that both the fakes
//! and the real adapters pass, so the fakes cannot drift from the real thing.

pub mod broker;
pub mod contract;
mod fakes;
pub mod faults;
pub mod hostile;
pub mod idempotency;
pub mod local;
pub mod stack;
pub mod stall;

pub use fakes::{
    FixedClock, InMemoryScheduler, InMemoryStore, RecordingDeadLetters, RecordingPublisher,
    SequentialIds,
};
pub use idempotency::InMemoryIdempotencyStore;

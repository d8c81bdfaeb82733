//! In-memory fakes of the ports, for fast domain tests, and the contract tests that both the fakes
//! and the real adapters pass ([`contract`] for the stores, [`delivery_contract`] for the
//! scheduler, the publisher and the dead-letter topic), so the fakes cannot drift from the real
//! thing. [`faults`] wraps any port to fail on cue; [`hostile`] generates the input an attacker or
//! a broken client sends.

pub mod contract;
pub mod delivery_contract;
mod fakes;
pub mod faults;
pub mod hostile;
pub mod idempotency;

pub use fakes::{
    FixedClock, InMemoryScheduler, InMemoryStore, RecordingDeadLetters, RecordingPublisher,
    SequentialIds,
};
pub use idempotency::InMemoryIdempotencyStore;

use crate::ports::{ApiWith, ConsumerWith};

/// The API's ports, all in memory.
pub type FakeApi =
    ApiWith<InMemoryStore, InMemoryIdempotencyStore, InMemoryScheduler, FixedClock, SequentialIds>;

/// The consumer's ports, all in memory.
pub type FakeConsumer = ConsumerWith<InMemoryStore, RecordingDeadLetters, FixedClock>;

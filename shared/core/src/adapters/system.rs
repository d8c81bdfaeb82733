//! The real clock and id source.

use orderflow_types::{EventId, OrderId, Timestamp};

use crate::ports::{Clock, IdSource};

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// Time-ordered UUIDv7 ids.
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidV7Ids;

impl IdSource for UuidV7Ids {
    fn order_id(&self) -> OrderId {
        OrderId::generate()
    }

    fn event_id(&self) -> EventId {
        EventId::generate()
    }
}

//! The real clock and id source.

use chrono::SubsecRound;
use orderflow_types::{EventId, OrderId, Timestamp};

use orderflow_domain::ports::{Clock, IdSource};

/// The system clock, at millisecond precision: the precision timestamps have on the wire and in
/// DynamoDB, so that what is stored reads back equal.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now().trunc_subsecs(3)
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

//! Types shared by every orderflow function: identifiers, orders, the Kafka event, the Scheduler
//! payload and the API bodies. Serde only; no I/O.

pub mod api;
pub mod event;
pub mod ids;
pub mod notification;
pub mod order;
pub mod time;

pub use event::{EventType, OrderEvent, PaymentTimeout};
pub use ids::{EventId, InvalidId, OrderId, ProductId, UserId};
pub use notification::{DailySales, Notification, NotificationKind, ProductSales};
pub use order::{CancelReason, Order, OrderLine, OrderStatus, Product, Quantity};
pub use time::Timestamp;

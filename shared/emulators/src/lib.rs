//! Local stand-ins for the AWS services that invoke orderflow's functions: the MSK event source
//! mapping ([`msk`]) and EventBridge Scheduler ([`scheduler`]). Both invoke functions through the
//! Lambda Invoke API that `cargo lambda watch` serves ([`lambda`]), so what runs locally is the
//! same binary on the same runtime path as on Lambda. Nothing here is specific to orderflow's
//! functions: point them at any topic, schedule group and function.

pub mod lambda;
pub mod msk;
pub mod scheduler;

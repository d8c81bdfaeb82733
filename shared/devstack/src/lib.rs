//! The local stack's tooling: its settings ([`settings`]) and the scripted story that drives the
//! running pipeline ([`story`]), shared by the `devstack` command and the end-to-end test.

pub mod settings;
pub mod story;

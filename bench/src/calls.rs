//! Figure placeholder.

use crate::{Outcome, Settings};

pub async fn run(_settings: &Settings) -> Outcome {
    Ok(Vec::new())
}

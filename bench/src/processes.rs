//! Figures 4 and 5 placeholder.

use crate::{Outcome, Settings};

pub async fn cold_starts(_settings: &Settings) -> Outcome {
    Ok(Vec::new())
}

pub async fn memory_and_size(_settings: &Settings) -> Outcome {
    Ok(Vec::new())
}

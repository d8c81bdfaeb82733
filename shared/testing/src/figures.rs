//! The figures a scenario reports: what it tried and what it found, one line per scenario.
//!
//! A test's own output is captured by the test harness and shown only when it fails; these
//! lines are meant to be read on every run. Each goes to standard output (seen with
//! `--nocapture`) and, when `ORDERFLOW_FIGURES` names a file, is appended to it:
//! `scripts/cargo-test.sh` sets it and prints the collected lines after the tests, and README's
//! "Guarantees" quotes them.

use std::io::Write;

/// Reports `line` as a figure of `scenario`.
pub fn report(scenario: &str, line: impl std::fmt::Display) {
    let line = format!("{scenario}: {line}\n");
    print!("{line}");
    let Some(path) = std::env::var_os("ORDERFLOW_FIGURES") else {
        return;
    };
    // One write of a short line to a file opened for appending: lines from tests running at
    // once, in threads or processes, do not interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()));
    if let Err(err) = written {
        panic!(
            "appending to ORDERFLOW_FIGURES ({}): {err}",
            path.to_string_lossy()
        );
    }
}

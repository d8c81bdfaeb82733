//! `emulators [msk|scheduler|streams|all]`: runs the local MSK event source mapping, the
//! EventBridge Scheduler emulator and/or the DynamoDB Streams event source mapping until Ctrl-C.
//! Settings come from the environment (see `settings.rs` and the README).

mod settings;

use std::process::ExitCode;

use orderflow_emulators::streams::{self, StreamClients};
use orderflow_emulators::{lambda::LocalLambda, msk, scheduler};
use tracing::error;

use crate::settings::Settings;

const EMULATORS: [&str; 3] = ["msk", "scheduler", "streams"];

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let runs = |name: &str| which == "all" || which == name;
    if which != "all" && !EMULATORS.contains(&which.as_str()) {
        eprintln!("emulators: unknown emulator {which:?}; use msk, scheduler, streams or all");
        return ExitCode::from(2);
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("emulators: {err}");
            return ExitCode::from(2);
        }
    };
    let lambda = match LocalLambda::new(&settings.lambda_endpoint, settings.invoke_timeout) {
        Ok(lambda) => lambda,
        Err(err) => {
            eprintln!("emulators: {err}");
            return ExitCode::FAILURE;
        }
    };
    let aws = aws_config::load_from_env().await;
    let mut tasks = tokio::task::JoinSet::new();
    if runs("msk") {
        tasks.spawn(msk::run(settings.msk, lambda.clone()));
    }
    if runs("scheduler") {
        let clients = (
            aws_sdk_scheduler::Client::new(&aws),
            aws_sdk_sqs::Client::new(&aws),
        );
        tasks.spawn(
            scheduler::Scheduler::new(settings.scheduler, clients.0, clients.1, lambda.clone())
                .run(),
        );
    }
    if runs("streams") {
        tasks.spawn(streams::run(
            settings.streams,
            StreamClients::new(&aws),
            lambda,
        ));
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => ExitCode::SUCCESS,
        Some(ended) = tasks.join_next() => {
            match ended {
                Ok(Err(err)) => error!(error = %err, "an emulator stopped"),
                Err(err) => error!(error = %err, "an emulator panicked"),
                Ok(Ok(())) => {}
            }
            ExitCode::FAILURE
        }
    }
}

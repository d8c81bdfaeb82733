//! `emulators [msk|scheduler|all]`: runs the local MSK event source mapping and/or the
//! EventBridge Scheduler emulator until Ctrl-C. Settings come from the environment (see
//! `settings.rs` and the README).

mod settings;

use std::process::ExitCode;

use orderflow_emulators::{lambda::LocalLambda, msk, scheduler};
use tracing::error;

use crate::settings::Settings;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt().with_target(false).init();
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    let (run_msk, run_scheduler) = match which.as_str() {
        "all" => (true, true),
        "msk" => (true, false),
        "scheduler" => (false, true),
        other => {
            eprintln!("emulators: unknown emulator {other:?}; use msk, scheduler or all");
            return ExitCode::from(2);
        }
    };
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
    if run_msk {
        tasks.spawn(msk::run(settings.msk, lambda.clone()));
    }
    if run_scheduler {
        let clients = (
            aws_sdk_scheduler::Client::new(&aws),
            aws_sdk_sqs::Client::new(&aws),
        );
        tasks.spawn(
            scheduler::Scheduler::new(settings.scheduler, clients.0, clients.1, lambda).run(),
        );
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

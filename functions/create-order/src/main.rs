use create_order::{config, handle};
use lambda_http::{Error, run, service_fn, tracing};
use orderflow_adapters::api;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let api = api::connect(config::from_env()?).await;
    run(service_fn(|request| handle(&api, request))).await
}

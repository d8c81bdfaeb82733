//! Invokes functions through the Lambda Invoke API that `cargo lambda watch` serves
//! (`POST /2015-03-31/functions/<name>/invocations`), the way AWS services invoke them.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("the Lambda endpoint could not be reached: {0}")]
    Transport(#[from] reqwest::Error),
    /// The function returned an error (or crashed, or timed out).
    #[error("function {function} failed with HTTP {status}: {body}")]
    Function {
        function: String,
        status: u16,
        body: String,
    },
    /// The function succeeded but its response is not JSON.
    #[error("function {function} answered something that is not JSON: {reason}")]
    Response { function: String, reason: String },
}

impl InvokeError {
    /// Whether the function ran and failed (or answered nonsense), rather than never being
    /// reached.
    pub fn is_function_error(&self) -> bool {
        !matches!(self, Self::Transport(_))
    }
}

/// What the emulators invoke functions through: the local Lambda endpoint, or in tests a
/// function called in the same process.
pub trait Invoke: Send + Sync + 'static {
    /// Invokes `function` synchronously and returns its response.
    fn invoke(
        &self,
        function: &str,
        payload: &Value,
    ) -> impl Future<Output = Result<Value, InvokeError>> + Send;
}

impl<I: Invoke> Invoke for std::sync::Arc<I> {
    fn invoke(
        &self,
        function: &str,
        payload: &Value,
    ) -> impl Future<Output = Result<Value, InvokeError>> + Send {
        I::invoke(self, function, payload)
    }
}

/// A client of the local Lambda endpoint.
#[derive(Debug, Clone)]
pub struct LocalLambda {
    endpoint: String,
    http: reqwest::Client,
}

impl LocalLambda {
    /// `endpoint` is the Lambda API's base URL, such as `http://127.0.0.1:9000`.
    pub fn new(endpoint: impl Into<String>, timeout: Duration) -> Result<Self, InvokeError> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self {
            endpoint: endpoint.into().trim_end_matches('/').to_owned(),
            http,
        })
    }
}

impl Invoke for LocalLambda {
    async fn invoke(&self, function: &str, payload: &Value) -> Result<Value, InvokeError> {
        let url = format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint
        );
        let response = self.http.post(url).json(payload).send().await?;
        let status = response.status();
        // AWS answers 200 with an X-Amz-Function-Error header; the local emulator answers 5xx.
        let failed =
            !status.is_success() || response.headers().contains_key("x-amz-function-error");
        let body = response.bytes().await?;
        if failed {
            return Err(InvokeError::Function {
                function: function.to_owned(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        if body.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&body).map_err(|err| InvokeError::Response {
            function: function.to_owned(),
            reason: err.to_string(),
        })
    }
}

/// The function name of a Lambda ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:alias]`),
/// or the string itself if it is a plain name.
pub fn function_name(arn_or_name: &str) -> &str {
    match arn_or_name.split_once(":function:") {
        Some((_, rest)) => rest.split(':').next().unwrap_or(rest),
        None => arn_or_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_names_come_from_arns_and_plain_names() {
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:order-timeout"),
            "order-timeout"
        );
        assert_eq!(
            function_name("arn:aws:lambda:us-east-1:123456789012:function:order-timeout:live"),
            "order-timeout"
        );
        assert_eq!(function_name("order-timeout"), "order-timeout");
    }
}

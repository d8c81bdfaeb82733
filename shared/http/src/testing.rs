//! For tests of the API functions: requests as API Gateway delivers them, and the OpenAPI document
//! with a [`Coverage`] record that holds what the handlers answer to what the document says.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};

use crate::response::body_text;
use crate::routes::Operation;

/// The OpenAPI document, as shipped next to this crate.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// An API Gateway HTTP API (payload 2.0) event, built up and turned into the [`Request`] that
/// `lambda_http` hands a function, through the same deserialization as in Lambda.
#[derive(Debug, Clone)]
pub struct ApiGatewayRequest {
    method: Method,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body: Option<String>,
    claims: Option<serde_json::Map<String, Value>>,
}

impl ApiGatewayRequest {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: String::new(),
            headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
            body: None,
            claims: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// The raw query string, without `?`.
    pub fn query(mut self, query: &str) -> Self {
        self.query = query.into();
        self
    }

    /// Authenticated by the JWT authorizer as `sub`.
    pub fn user(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// A claim of the verified token, as API Gateway passes it: a string.
    pub fn claim(mut self, name: &str, value: &str) -> Self {
        self.claims
            .get_or_insert_with(Default::default)
            .insert(name.into(), Value::String(value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    pub fn idempotency_key(self, key: &str) -> Self {
        self.header(crate::request::IDEMPOTENCY_KEY_HEADER, key)
    }

    pub fn json(self, body: &Value) -> Self {
        self.body(body.to_string())
    }

    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// The event as API Gateway sends it.
    pub fn event(&self) -> Value {
        let authorizer = self
            .claims
            .as_ref()
            .map(|claims| json!({"jwt": {"claims": claims, "scopes": null}}));
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": self.headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api",
                "authorizer": authorizer,
                "domainName": "api.example.com",
                "domainPrefix": "api",
                "http": {
                    "method": self.method.as_str(),
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "orderflow-tests"
                },
                "requestId": format!("test-{}", next_request_number()),
                "routeKey": "$default",
                "stage": "$default",
                "time": "25/Nov/2026:20:00:00 +0000",
                "timeEpoch": 1_795_636_800_000_i64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }

    pub fn build(&self) -> Request {
        lambda_http::request::from_str(&self.event().to_string())
            .unwrap_or_else(|err| panic!("not an API Gateway event: {err}"))
    }
}

/// A number unique within the test process, for request ids.
fn next_request_number() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:016x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A response's status and, for an error, its `code`.
pub type Outcome = (u16, Option<String>);

/// The outcome of `response`, as the document would list it.
pub fn outcome(response: &Response<Body>) -> Outcome {
    let status = response.status();
    if status.is_success() {
        return (status.as_u16(), None);
    }
    let code = serde_json::from_str::<Value>(body_text(response))
        .ok()
        .and_then(|body| body.get("code").and_then(Value::as_str).map(str::to_owned));
    (status.as_u16(), code)
}

/// Checks that `response` is a clear answer whatever the request was: never a 5xx, and for any
/// refusal a JSON body with a non-empty `code` and `message`. `request` names the case.
pub fn assert_clear_answer(response: &Response<Body>, request: &str) {
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "{status} for {request}: {}",
        body_text(response)
    );
    if status.is_success() {
        return;
    }
    let body: Value = serde_json::from_str(body_text(response))
        .unwrap_or_else(|err| panic!("{status} for {request} is not JSON: {err}"));
    for field in ["code", "message"] {
        assert!(
            body.get(field)
                .and_then(Value::as_str)
                .is_some_and(|text| !text.is_empty()),
            "{status} for {request} has no {field}: {body}"
        );
    }
}

/// The response's body as JSON; panics, naming the body, when it is not JSON.
pub fn json_body(response: &Response<Body>) -> Value {
    serde_json::from_str(body_text(response))
        .unwrap_or_else(|err| panic!("not JSON ({err}): {}", body_text(response)))
}

/// The OpenAPI document's routes and responses.
#[derive(Debug)]
pub struct OpenApi {
    document: Value,
}

impl OpenApi {
    pub fn load() -> Self {
        let document = serde_norway::from_str(OPENAPI_YAML)
            .unwrap_or_else(|err| panic!("openapi.yaml is not valid YAML: {err}"));
        Self { document }
    }

    /// Every documented operation: method, path and `operationId`.
    pub fn operations(&self) -> BTreeSet<(String, String, String)> {
        let mut operations = BTreeSet::new();
        let Some(paths) = self.document["paths"].as_object() else {
            panic!("openapi.yaml has no paths");
        };
        for (path, item) in paths {
            let Some(methods) = item.as_object() else {
                continue;
            };
            for (method, operation) in methods {
                let id = operation["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                operations.insert((method.to_uppercase(), path.clone(), id.to_owned()));
            }
        }
        operations
    }

    /// What `operation` is documented to answer: each status, and each error code under it.
    pub fn outcomes(&self, operation: Operation) -> BTreeSet<Outcome> {
        let method = operation.method().as_str().to_lowercase();
        let responses = &self.document["paths"][operation.path()][&method]["responses"];
        let Some(responses) = responses.as_object() else {
            panic!("{} has no responses", operation.operation_id());
        };
        let mut outcomes = BTreeSet::new();
        for (status, response) in responses {
            let status: u16 = status
                .parse()
                .unwrap_or_else(|_| panic!("{status} is not a status code"));
            let response = self.resolve(response);
            if StatusCode::from_u16(status).is_ok_and(|s| s.is_success()) {
                outcomes.insert((status, None));
                continue;
            }
            let codes = error_codes(&response["content"]["application/json"]["schema"]);
            assert!(
                !codes.is_empty(),
                "{} {status} lists no error codes",
                operation.operation_id()
            );
            outcomes.extend(codes.into_iter().map(|code| (status, Some(code))));
        }
        outcomes
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value["$ref"].as_str() {
            None => value,
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.document
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("{reference} does not resolve"))
            }
        }
    }
}

/// The `code` enum of an error schema: `allOf: [Error, {properties: {code: {enum}}}]`.
fn error_codes(schema: &Value) -> Vec<String> {
    let parts = schema["allOf"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![schema.clone()]);
    parts
        .iter()
        .filter_map(|part| part["properties"]["code"]["enum"].as_array())
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// What handlers were seen answering, per operation, to compare with the document.
#[derive(Debug, Default)]
pub struct Coverage {
    seen: Mutex<BTreeMap<Operation, BTreeSet<Outcome>>>,
}

impl Coverage {
    /// Notes what `operation` answered and hands the response back.
    pub fn record(&self, operation: Operation, response: Response<Body>) -> Response<Body> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(operation)
            .or_default()
            .insert(outcome(&response));
        response
    }

    /// Panics unless, for every one of `operations`, what was seen is exactly what the document
    /// lists: nothing undocumented was answered, and every documented answer was produced.
    pub fn assert_matches(&self, document: &OpenApi, operations: &[Operation]) {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut problems = Vec::new();
        for &operation in operations {
            let documented = document.outcomes(operation);
            let answered = seen.get(&operation).cloned().unwrap_or_default();
            for missing in documented.difference(&answered) {
                problems.push(format!(
                    "{}: documented {missing:?} was never answered",
                    operation.operation_id()
                ));
            }
            for extra in answered.difference(&documented) {
                problems.push(format!(
                    "{}: answered {extra:?}, which is not documented",
                    operation.operation_id()
                ));
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}

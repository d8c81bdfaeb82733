"""Schemathesis hooks for the API fuzzing run on the local stack (scripts/api-fuzz.sh).

Two differences between the local stack and AWS, and nothing else, are bridged here:

- Identity. In AWS, API Gateway's JWT authorizer refuses a request without a valid token before
  any function runs, so the document requires `Authorization` on every operation. Locally the
  functions run behind `cargo lambda watch` with `DEV_IDENTITY_HEADERS=true`, and the caller is
  named by the `x-dev-user` header the run sends. The document's security requirement is dropped
  for the run; the rest of the document is checked as it is.
- Bytes. API Gateway hands a body that is not UTF-8 to the function base64-encoded;
  `cargo lambda watch` answers such a request with its own 500 before the function runs. Bodies
  that are not UTF-8 are not sent here; the handlers' property tests (`hostile_input.rs` of both
  API functions) send them arbitrary bytes.
"""

import schemathesis


@schemathesis.hook
def before_load_schema(context, raw_schema):
    raw_schema.pop("security", None)
    for item in raw_schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    raw_schema.get("components", {}).pop("securitySchemes", None)


@schemathesis.hook
def filter_body(context, body):
    try:
        if isinstance(body, bytes):
            body.decode("utf-8")
        elif isinstance(body, str):
            body.encode("utf-8")
    except UnicodeError:
        return False
    return True

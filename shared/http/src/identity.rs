//! Who is calling. API Gateway's JWT authorizer has verified the token before the function runs;
//! its claims arrive in the request context, and `sub` is the caller. Nothing in the request
//! itself — body, query or headers — can name the caller, except the development headers below,
//! which only the deployment's configuration can turn on.

use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use orderflow_types::UserId;
use tracing::warn;

use crate::error::ApiError;

/// The development headers: when [`IdentityConfig::dev_identity_headers`] is on and API Gateway
/// authenticated nobody (as under `cargo lambda watch`), these name the caller and their groups.
pub const DEV_USER_HEADER: &str = "x-dev-user";
pub const DEV_GROUPS_HEADER: &str = "x-dev-groups";

/// How callers are identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// The claim that lists the caller's groups (`cognito:groups` for Amazon Cognito).
    pub groups_claim: String,
    /// Members of this group may set products and their stock.
    pub admin_group: String,
    /// Trusts [`DEV_USER_HEADER`] and [`DEV_GROUPS_HEADER`] on requests that API Gateway did not
    /// authenticate. For a developer's machine only: anyone who can reach a function with this on
    /// can act as anyone.
    pub dev_identity_headers: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            groups_claim: "cognito:groups".into(),
            admin_group: "admin".into(),
            dev_identity_headers: false,
        }
    }
}

/// An identified caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: UserId,
    pub groups: Vec<String>,
}

impl IdentityConfig {
    /// The caller of `request`, or [`ApiError::Unauthenticated`].
    pub fn caller(&self, request: &Request) -> Result<Caller, ApiError> {
        let claims = request
            .request_context_ref()
            .and_then(RequestContext::authorizer)
            .and_then(|authorizer| authorizer.jwt.as_ref())
            .map(|jwt| &jwt.claims);
        if let Some(claims) = claims {
            let user_id = claims
                .get("sub")
                .and_then(|sub| UserId::parse(sub.as_str()).ok())
                .ok_or(ApiError::Unauthenticated)?;
            let groups = claims
                .get(&self.groups_claim)
                .map(|raw| parse_groups(raw))
                .unwrap_or_default();
            return Ok(Caller { user_id, groups });
        }
        if !self.dev_identity_headers {
            return Err(ApiError::Unauthenticated);
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
        };
        let user_id = header(DEV_USER_HEADER)
            .and_then(|user| UserId::parse(user).ok())
            .ok_or(ApiError::Unauthenticated)?;
        warn!(
            header = DEV_USER_HEADER,
            "caller named by a development header"
        );
        Ok(Caller {
            user_id,
            groups: header(DEV_GROUPS_HEADER)
                .map(parse_groups)
                .unwrap_or_default(),
        })
    }

    /// The caller of `request` if an administrator; [`ApiError::Forbidden`] for anyone else.
    pub fn admin(&self, request: &Request) -> Result<Caller, ApiError> {
        let caller = self.caller(request)?;
        if caller.groups.iter().any(|group| group == &self.admin_group) {
            Ok(caller)
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// A list of groups as API Gateway hands array claims over: a JWT array becomes the string
/// `[admin ops]`. Also accepts a JSON array and a comma- or space-separated list.
pub fn parse_groups(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if let Ok(groups) = serde_json::from_str::<Vec<String>>(raw) {
        return groups;
    }
    let inner = raw
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(raw);
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|group| !group.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_read_in_every_form_they_arrive_in() {
        for raw in [
            "[admin ops]",
            r#"["admin","ops"]"#,
            "admin,ops",
            "admin, ops",
            " admin ops ",
        ] {
            assert_eq!(parse_groups(raw), ["admin", "ops"], "{raw}");
        }
        assert_eq!(parse_groups("[admin]"), ["admin"]);
        assert!(parse_groups("[]").is_empty());
        assert!(parse_groups("").is_empty());
    }
}

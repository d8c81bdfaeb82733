//! What an API function's handler works with, built once per cold start: the same for both API
//! functions, so each handler is only its own routes.

use orderflow_domain::ports::ApiPorts;
use orderflow_domain::storefront::Storefront;

use crate::idempotency::Idempotency;
use crate::identity::IdentityConfig;

/// The use cases on their ports, the `Idempotency-Key` store, who the caller is, and new ids.
pub struct ApiContext<P: ApiPorts> {
    pub storefront: Storefront<P>,
    pub idempotency: Idempotency<P::Idempotency>,
    pub identity: IdentityConfig,
    pub ids: P::Ids,
}

//! Identifiers. Each is validated once, when it enters the system, and is a plain string on the wire.
//!
//! The original system wrote numeric ids (`{"order_id": 42}`); those still deserialize and are
//! normalized to their decimal string, so old and new events share one key space.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An identifier that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    pub kind: &'static str,
    pub reason: &'static str,
}

/// Which characters an identifier may contain.
#[derive(Clone, Copy)]
enum Charset {
    /// ASCII letters, digits, `-`, `_` and `.`: safe in keys, schedule names and URLs.
    Slug,
    /// Any printable character except whitespace: identity-provider subjects such as `auth0|123`.
    Printable,
}

fn check(
    kind: &'static str,
    value: &str,
    max_len: usize,
    charset: Charset,
) -> Result<(), InvalidId> {
    let fail = |reason| Err(InvalidId { kind, reason });
    if value.is_empty() {
        return fail("must not be empty");
    }
    if value.len() > max_len {
        return fail("is too long");
    }
    let allowed = |c: char| match charset {
        Charset::Slug => c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        Charset::Printable => !c.is_control() && !c.is_whitespace(),
    };
    if !value.chars().all(allowed) {
        return fail(match charset {
            Charset::Slug => "may contain only letters, digits, '-', '_' and '.'",
            Charset::Printable => "may not contain whitespace or control characters",
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max_len:literal, $charset:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// What this identifier is called in error messages.
            pub const KIND: &'static str = $kind;

            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                check($kind, &value, $max_len, $charset)?;
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = deserializer.deserialize_any(StringOrInteger($kind))?;
                Self::parse(raw).map_err(de::Error::custom)
            }
        }
    };
}

id_type!(
    /// An order's id: a UUIDv7 for new orders, a decimal number for the original system's. At most
    /// 48 characters, so that `order-timeout-<id>` fits the Scheduler's 64-character schedule names.
    OrderId, "order id", 48, Charset::Slug
);
id_type!(
    /// The customer: the `sub` claim of the caller's token.
    UserId, "user id", 128, Charset::Printable
);
id_type!(
    /// A product's id (its SKU).
    ProductId, "product id", 64, Charset::Slug
);
id_type!(
    /// An event's id, unique per published event.
    EventId, "event id", 64, Charset::Slug
);

impl OrderId {
    /// A new, time-ordered order id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl EventId {
    /// A new, time-ordered event id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

/// Accepts a JSON string or integer and yields its string form.
struct StringOrInteger(&'static str);

impl Visitor<'_> for StringOrInteger {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as a string or an integer", self.0)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ids_are_normalized_to_strings() {
        let id: OrderId = serde_json::from_str("1234567890123").unwrap();
        assert_eq!(id.as_str(), "1234567890123");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"1234567890123\"");
    }

    #[test]
    fn ids_reject_empty_oversized_and_unsafe_values() {
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("a".repeat(48)).is_ok());
        assert!(OrderId::parse("a".repeat(49)).is_err());
        assert!(ProductId::parse("sku 1").is_err());
        assert!(ProductId::parse("sku#1").is_err());
        assert!(UserId::parse("user\n").is_err());
        assert!(serde_json::from_str::<OrderId>("\"\"").is_err());
        assert!(serde_json::from_str::<OrderId>("1.5").is_err());
        assert!(serde_json::from_str::<OrderId>("null").is_err());
    }

    #[test]
    fn identity_provider_subjects_are_valid_user_ids() {
        assert!(UserId::parse("auth0|5f7c8ec7c33c6c004bbafe82").is_ok());
        assert!(UserId::parse("3f1e2d4c-0000-4000-8000-000000000001").is_ok());
    }

    #[test]
    fn generated_ids_are_valid_and_time_ordered() {
        let first = OrderId::generate();
        let second = OrderId::generate();
        assert!(OrderId::parse(first.as_str()).is_ok());
        assert!(first < second);
    }

    #[test]
    fn invalid_id_errors_name_the_kind() {
        let err = ProductId::parse("").unwrap_err();
        assert_eq!(err.to_string(), "invalid product id: must not be empty");
    }
}

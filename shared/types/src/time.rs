//! Timestamps: RFC 3339 in UTC with exactly three fractional digits (`2026-11-25T20:04:05.123Z`), so
//! that their string order is their time order (DynamoDB sort keys rely on it).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serializer};

pub type Timestamp = DateTime<Utc>;

/// Formats a timestamp in the sortable wire form.
pub fn format(at: &Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses any RFC 3339 timestamp.
pub fn parse(value: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(value).map(|at| at.with_timezone(&Utc))
}

/// `#[serde(with = "crate::time::rfc3339")]`
pub mod rfc3339 {
    use super::*;

    pub fn serialize<S: Serializer>(at: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(deserializer)?;
        parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(default, with = "crate::time::rfc3339_option", skip_serializing_if = "Option::is_none")]`
pub mod rfc3339_option {
    use super::*;

    pub fn serialize<S: Serializer>(
        at: &Option<Timestamp>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_str(&format(at)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Timestamp>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|raw| parse(&raw).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_timestamps_sort_in_time_order() {
        let earlier = parse("2026-11-25T20:04:05Z").unwrap();
        let later = parse("2026-11-25T20:04:05.5Z").unwrap();
        assert_eq!(format(&earlier), "2026-11-25T20:04:05.000Z");
        assert!(format(&earlier) < format(&later));
    }

    #[test]
    fn offsets_are_normalized_to_utc() {
        let at = parse("2026-11-25T21:04:05.123+01:00").unwrap();
        assert_eq!(format(&at), "2026-11-25T20:04:05.123Z");
    }
}

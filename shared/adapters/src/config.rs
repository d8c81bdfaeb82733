//! Reading a function's environment. Every function has one `config.rs` that calls these with
//! `std::env::var`; tests pass a map. An error names the variable and what it should be, and
//! fails the cold start, so a misconfigured function never serves a request.

use std::ops::RangeInclusive;

/// A variable that is missing or does not hold what it must.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is not set")]
    Missing { variable: String },
    #[error("{variable} must be {expected}, not {found:?}")]
    Invalid {
        variable: String,
        expected: String,
        found: String,
    },
}

impl ConfigError {
    /// The variable at fault.
    pub fn variable(&self) -> &str {
        match self {
            Self::Missing { variable } | Self::Invalid { variable, .. } => variable,
        }
    }

    pub fn invalid(variable: &str, expected: impl Into<String>, found: &str) -> Self {
        Self::Invalid {
            variable: variable.to_owned(),
            expected: expected.into(),
            found: found.to_owned(),
        }
    }
}

/// A function's environment: `var(name)` is the variable's value, if set.
pub struct Vars<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The value, if set.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The value, which must be set and not blank.
    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| ConfigError::Missing {
                variable: name.to_owned(),
            })
    }

    /// The value, or `default` when unset.
    pub fn or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// `true` or `false`, or `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(ConfigError::invalid(name, "true or false", other)),
        }
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number(
        &self,
        name: &str,
        default: u32,
        range: RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        let Some(raw) = self.optional(name) else {
            return Ok(default);
        };
        raw.trim()
            .parse::<u32>()
            .ok()
            .filter(|value| range.contains(value))
            .ok_or_else(|| {
                ConfigError::invalid(
                    name,
                    format!("a whole number from {} to {}", range.start(), range.end()),
                    &raw,
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(
        pairs: &'static [(&'static str, &'static str)],
    ) -> Vars<impl Fn(&str) -> Option<String>> {
        Vars(move |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn errors_name_the_variable_and_what_it_must_be() {
        let vars = vars(&[("BLANK", " "), ("FLAG", "yes"), ("N", "7")]);
        let missing = vars.required("BLANK").unwrap_err();
        assert_eq!(missing.variable(), "BLANK");
        assert_eq!(missing.to_string(), "BLANK is not set");
        let flag = vars.flag("FLAG", false).unwrap_err();
        assert_eq!(flag.to_string(), r#"FLAG must be true or false, not "yes""#);
        let number = vars.number("N", 1, 1..=5).unwrap_err();
        assert_eq!(
            number.to_string(),
            r#"N must be a whole number from 1 to 5, not "7""#
        );
        assert_eq!(vars.number("UNSET", 3, 1..=5), Ok(3));
        assert_eq!(vars.flag("UNSET", true), Ok(true));
    }
}

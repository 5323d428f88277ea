//! The delivery options every kind accepts, and their documented maxima.

use std::time::Duration;

use herald_model::{FieldError, Span};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Delivery settings every kind accepts next to its own; absent ones take the
/// sender's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryOptions {
    /// How long the sender keeps retrying before the failure goes to the error table.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_elapsed: Option<Span>,
    /// How many attempts at most, the first one included.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// How long one attempt may take.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Span>,
}

impl DeliveryOptions {
    pub const FIELDS: &'static [&'static str] = &["max_elapsed", "max_attempts", "timeout"];
    /// The longest `timeout`: an attempt holds a slot and a lease this long.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(5 * 60);
    /// The longest `max_elapsed`; past it the error table and its replays
    /// take over.
    pub const MAX_ELAPSED: Duration = Duration::from_secs(24 * 3600);
    /// The most `max_attempts`.
    pub const MAX_ATTEMPTS: u32 = 100;

    /// Refuses values over the maxima, naming the field.
    pub(crate) fn check_bounds(&self) -> Result<(), FieldError> {
        let over = |field: &str, max: Duration| {
            FieldError::new(field, format!("must be at most {}", Span(max)))
        };
        if self.timeout.is_some_and(|t| t.get() > Self::MAX_TIMEOUT) {
            return Err(over("timeout", Self::MAX_TIMEOUT));
        }
        if self
            .max_elapsed
            .is_some_and(|t| t.get() > Self::MAX_ELAPSED)
        {
            return Err(over("max_elapsed", Self::MAX_ELAPSED));
        }
        if self.max_attempts.is_some_and(|n| n > Self::MAX_ATTEMPTS) {
            return Err(FieldError::new(
                "max_attempts",
                format!("must be at most {}", Self::MAX_ATTEMPTS),
            ));
        }
        Ok(())
    }

    /// The time one attempt may take: the notifier's (held to
    /// [`Self::MAX_TIMEOUT`], for settings saved before it was enforced), else
    /// `default`.
    pub fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout
            .map_or(default, |t| t.get().min(Self::MAX_TIMEOUT))
    }

    /// The retry budget: the notifier's (held to [`Self::MAX_ELAPSED`]), else
    /// `default`.
    pub fn max_elapsed_or(&self, default: Duration) -> Duration {
        self.max_elapsed
            .map_or(default, |t| t.get().min(Self::MAX_ELAPSED))
    }

    /// Attempts at most: the notifier's (held to [`Self::MAX_ATTEMPTS`]), else
    /// `default`.
    pub fn max_attempts_or(&self, default: u32) -> u32 {
        self.max_attempts
            .map_or(default, |n| n.min(Self::MAX_ATTEMPTS))
    }

    pub(crate) fn parse(value: serde_json::Value) -> Result<DeliveryOptions, FieldError> {
        let options: DeliveryOptions = herald_model::from_value(value)?;
        if options.max_attempts == Some(0) {
            return Err(FieldError::new("max_attempts", "must be at least 1"));
        }
        if options.timeout.is_some_and(|t| t.get().is_zero()) {
            return Err(FieldError::new("timeout", "must be longer than 0s"));
        }
        Ok(options)
    }
}

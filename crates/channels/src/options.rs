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

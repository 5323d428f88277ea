use std::fmt;

/// Bad input, named by the field that carries it (`severity`, `[2].labels.env`,
/// `config.url`), so that the API can answer with a 4xx that says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error seen from a parent: `url` inside `config` becomes `config.url`,
    /// an element of an array becomes `[3].source`.
    #[must_use]
    pub fn within(mut self, parent: &str) -> Self {
        self.field = match (parent, self.field.as_str()) {
            (p, "") => p.to_owned(),
            (p, f) if f.starts_with('[') || p.is_empty() => format!("{p}{f}"),
            (p, f) => format!("{p}.{f}"),
        };
        self
    }

    /// Turns a serde error located by `serde_path_to_error` into a field error. A
    /// missing field is reported at its parent, so its name is taken from the
    /// message and appended; a syntax error names no field.
    pub fn from_serde(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        if err.inner().is_syntax() || err.inner().is_eof() {
            // Broken JSON is the body's fault, whichever key was being read.
            return Self::new("", format!("not valid JSON: {}", err.inner()));
        }
        let path = err.path().to_string();
        let message = strip_position(&err.inner().to_string());
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name.to_owned(),
            (".", None) => String::new(),
            (p, Some(name)) => format!("{p}.{name}"),
            (p, None) => p.to_owned(),
        };
        Self { field, message }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// serde_json appends " at line 1 column 42"; the field name already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Deserializes `value` as `T`, reporting the failing field by name.
pub fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(FieldError::from_serde)
}

/// Deserializes `bytes` as `T`, reporting the failing field by name.
pub(crate) fn from_slice<'a, T: serde::Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, FieldError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(FieldError::from_serde)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_joins_paths_the_way_a_reader_expects() {
        let cases = [
            ("config", "url", "config.url"),
            ("config", "", "config"),
            ("", "source", "source"),
            ("[2]", "labels.env", "[2].labels.env"),
            ("config", "[0]", "config[0]"),
        ];
        for (parent, field, want) in cases {
            assert_eq!(FieldError::new(field, "x").within(parent).field, want);
        }
    }
}

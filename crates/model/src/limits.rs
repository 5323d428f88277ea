//! The documented limits of what Herald accepts, in one place, and the check
//! every free-text field goes through.
//!
//! Each limit exists so that no input can reach a database constraint (a
//! unique index refuses rows over about 2,700 bytes) or make one record cost
//! more than its purpose needs; each is refused with an error naming the field.
//! The README's "Limits" table lists them.

use crate::FieldError;

/// Events in one request or one message.
pub const MAX_EVENTS_PER_REQUEST: usize = 1_000;
/// A scope, in bytes, and its segments.
pub const MAX_SCOPE_BYTES: usize = 512;
pub const MAX_SCOPE_SEGMENTS: usize = 16;
/// Labels on an event or a rule, and the size of each key and value.
pub const MAX_LABELS: usize = 64;
pub const MAX_LABEL_KEY_CHARS: usize = 128;
pub const MAX_LABEL_VALUE_CHARS: usize = 1_024;
/// An event's `source`, `kind` and `dedup_key`.
pub const MAX_SHORT_TEXT_CHARS: usize = 256;
/// An event's `title`.
pub const MAX_TITLE_CHARS: usize = 1_024;
/// An event's `url`.
pub const MAX_URL_CHARS: usize = 2_048;
/// The name of a rule, a notifier or an inhibition; who created a silence.
pub const MAX_NAME_CHARS: usize = 200;
/// The description of a notifier.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// The comment of a silence.
pub const MAX_COMMENT_CHARS: usize = 2_000;
/// A rule's `kinds` (each at most [`MAX_SHORT_TEXT_CHARS`]).
pub const MAX_RULE_KINDS: usize = 64;
/// The notifiers one rule sends to.
pub const MAX_RULE_NOTIFIERS: usize = 64;
/// A rule's `condition`.
pub const MAX_CONDITION_CHARS: usize = 4_096;
/// One template (a rule's or a notifier's part).
pub const MAX_TEMPLATE_CHARS: usize = 65_536;
/// A notifier's `config` as JSON, templates included.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;

/// Refuses `value` if it has more than `max` characters, naming `field`.
pub fn check_chars(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    // Counting stops past the limit: a megabyte of text costs no more than the limit.
    match value.chars().nth(max) {
        Some(_) => Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        )),
        None => Ok(()),
    }
}

/// Refuses a list or map of `len` entries over `max`, naming `field`.
pub fn check_count(field: &str, len: usize, max: usize) -> Result<(), FieldError> {
    match len > max {
        true => Err(FieldError::new(
            field,
            format!("has {len} entries; at most {max} are accepted"),
        )),
        false => Ok(()),
    }
}

/// Refuses more than [`MAX_LABELS`] labels, or a key or value over its limit,
/// naming `field` (`labels`, `labels.env`).
pub fn check_labels<'a>(
    field: &str,
    labels: impl ExactSizeIterator<Item = (&'a String, &'a String)>,
) -> Result<(), FieldError> {
    check_count(field, labels.len(), MAX_LABELS)?;
    for (key, value) in labels {
        check_chars(field, key, MAX_LABEL_KEY_CHARS).map_err(|_| {
            FieldError::new(
                field,
                format!(
                    "key `{}…` is over {MAX_LABEL_KEY_CHARS} characters",
                    prefix(key)
                ),
            )
        })?;
        check_chars(&format!("{field}.{key}"), value, MAX_LABEL_VALUE_CHARS)?;
    }
    Ok(())
}

/// The start of an oversized text, to name it without echoing all of it.
fn prefix(text: &str) -> &str {
    text.char_indices()
        .nth(32)
        .map_or(text, |(cut, _)| &text[..cut])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn text_at_the_limit_passes_and_one_more_character_is_refused() {
        assert!(check_chars("name", &"é".repeat(5), 5).is_ok());
        let err = check_chars("name", &"é".repeat(6), 5).unwrap_err();
        assert_eq!(err.field, "name");
        assert!(err.message.contains("at most 5 characters"), "{err}");
    }

    #[test]
    fn labels_are_limited_in_number_and_in_size() {
        let many: BTreeMap<String, String> = (0..=MAX_LABELS)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert_eq!(
            check_labels("labels", many.iter()).unwrap_err().field,
            "labels"
        );
        let long_value =
            BTreeMap::from([("env".to_owned(), "x".repeat(MAX_LABEL_VALUE_CHARS + 1))]);
        assert_eq!(
            check_labels("labels", long_value.iter()).unwrap_err().field,
            "labels.env"
        );
        let long_key = BTreeMap::from([("k".repeat(MAX_LABEL_KEY_CHARS + 1), "v".to_owned())]);
        let err = check_labels("labels", long_key.iter()).unwrap_err();
        assert_eq!(err.field, "labels");
        assert!(
            err.message.len() < 200,
            "the key is not echoed whole: {err}"
        );
    }
}

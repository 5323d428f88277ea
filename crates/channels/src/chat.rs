//! What the chat and incident channels share: their default parts (a
//! `title` that says how bad it is, a short `text`), severity colours, and
//! checks of provider URLs.

use herald_model::secret::{Mask, SecretField};
use herald_model::{Event, FieldError, Severity};

use crate::http::{self, Answer, HttpError};
use crate::{Part, SendContext};

pub(crate) const TITLE: Part = Part {
    name: "title",
    about: "The headline: severity (or RESOLVED) and the event's title.",
    default: include_str!("defaults/title.j2"),
};

pub(crate) const TEXT: Part = Part {
    name: "text",
    about: "The message, then where the event came from.",
    default: include_str!("defaults/text.j2"),
};

/// A `webhook_url` setting: a secret (the URL is the credential), shown by
/// its origin.
pub(crate) const WEBHOOK_URL: SecretField = SecretField {
    path: "webhook_url",
    mask: Mask::Origin,
};

/// The colour of an event: green once resolved, else by severity.
pub(crate) fn colour(event: &Event) -> u32 {
    match (event.resolved, event.severity) {
        (true, _) => 0x2E_B8_86,
        (false, Severity::Critical) => 0xD5_02_00,
        (false, Severity::Warning) => 0xF2_C7_44,
        (false, Severity::Info) => 0x43_9F_E0,
    }
}

/// `#rrggbb`.
pub(crate) fn hex(colour: u32) -> String {
    format!("#{colour:06X}")
}

/// Checks that `url` is an http(s) URL with a host, naming `field`.
pub(crate) fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    let parsed =
        url::Url::parse(url).map_err(|e| FieldError::new(field, format!("not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || !parsed.has_host() {
        return Err(FieldError::new(
            field,
            "must be an http:// or https:// URL with a host",
        ));
    }
    Ok(())
}

/// POSTs `body` as JSON to `url`: what most webhook-style providers take.
pub(crate) async fn post_json(
    cx: &SendContext<'_>,
    url: &str,
    body: &serde_json::Value,
) -> Result<Answer, HttpError> {
    http::send(cx.http().post(url).json(body), cx).await
}

/// A markdown link to the event's source on a line of its own, or nothing.
pub(crate) fn markdown_link(event: &Event) -> String {
    event
        .url
        .as_ref()
        .map(|url| format!("\n[Open]({url})"))
        .unwrap_or_default()
}

/// A comment on an issue or merge request (GitHub, GitLab): its number,
/// rendered from the `number` setting, and `{"body": <markdown>}` with the
/// title in bold, the text and the link.
pub struct Comment {
    pub(crate) number: u64,
    pub(crate) body: serde_json::Value,
}

impl Comment {
    pub(crate) fn render(
        event: &Event,
        parts: &crate::Parts<'_>,
        number: &str,
    ) -> Result<Comment, crate::DeliveryError> {
        let title = parts.render("title")?;
        let text = parts.render("text")?;
        let link = markdown_link(event).replace('\n', "\n\n");
        Ok(Comment {
            number: render_number(parts, "number", number)?,
            body: serde_json::json!({"body": format!("**{title}**\n\n{text}{link}")}),
        })
    }
}

/// A setting that is a template rendering to a positive number (an issue's),
/// checked on save and rendered per delivery; a render that is not a number
/// fails the delivery for good, naming the setting and what it rendered.
pub(crate) fn check_number_template(field: &str, source: &str) -> Result<(), FieldError> {
    herald_templates::check_template(field, source).map_err(|e| FieldError::new(field, e.message))
}

pub(crate) fn render_number(
    parts: &crate::Parts<'_>,
    field: &str,
    source: &str,
) -> Result<u64, crate::DeliveryError> {
    let rendered = parts.render_setting(field, source)?;
    match rendered.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(crate::DeliveryError::permanent(format!(
            "config.{field} rendered `{rendered}`, not an issue number"
        ))),
    }
}

/// `text` cut to at most `max` characters, with an ellipsis when cut: the
/// providers refuse longer fields instead of cutting them.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text.chars().count() > max => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text_to_the_limit() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééééé", 4).chars().count(), 4);
        assert_eq!(hex(0x2EB886), "#2EB886");
    }
}

//! Delivery channels: how one notification reaches one kind of endpoint.
//!
//! Every channel implements [`Channel`]: it checks its settings, renders an event
//! into its own message, sends it, and says whether an error is worth retrying.
//! The [`registry!`] line at the bottom of this file is the only list of kinds;
//! adding a channel is a new module with its `Config` plus one line there.
//!
//! This crate does not retry, queue, record outcomes or read the database: the
//! sender does those around [`NotifierConfig::deliver`], the API uses it for test
//! sends, and both get settings already unsealed from the store.

mod chat;
mod context;
pub mod discord;
pub mod email;
pub mod github;
pub mod gitlab;
pub mod googlechat;
pub mod grafana;
pub mod http;
pub mod irc;
pub mod matrix;
pub mod mattermost;
pub mod ntfy;
pub mod opsgenie;
mod options;
pub mod pagerduty;
mod parts;
pub mod pushover;
pub mod rocketchat;
pub mod slack;
mod targets;
pub mod teams;
pub mod telegram;
pub mod twilio;
pub mod webex;
pub mod webhook;
pub mod wecom;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use herald_model::FieldError;
use herald_model::secret::SecretField;
use herald_templates::TemplateSet;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use context::{Delivery, SendContext};
pub use options::DeliveryOptions;
pub use parts::{Part, Parts, RuleTemplates, check_rule_parts};
pub use targets::{TargetErrors, TargetLog};

/// One kind of endpoint, configured.
pub trait Channel: DeserializeOwned + Send + Sync + Sized + 'static {
    /// The notifier kind, also the routing key and queue suffix of its jobs.
    const KIND: &'static str;
    /// Where the settings hold secrets, sealed at rest and masked in answers.
    const SECRETS: &'static [SecretField];
    /// The parts of its message, each with a default template.
    const PARTS: &'static [Part];
    type Message: Send;
    type Error: std::error::Error + Classify + Send + Sync + 'static;

    /// Checks what types alone cannot (formats, required pairs), naming the field.
    fn validate(&self) -> Result<(), FieldError>;
    /// Turns an event into this channel's message, its parts rendered from
    /// `parts`. An error here is permanent.
    fn render(
        &self,
        delivery: &Delivery<'_>,
        parts: &Parts<'_>,
    ) -> Result<Self::Message, DeliveryError>;
    fn send(
        &self,
        message: Self::Message,
        cx: &SendContext<'_>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Whether an error of `send` may go away if the same message is sent
    /// again: as its error type says, unless the provider documents otherwise.
    fn classify(error: &Self::Error) -> Disposition {
        error.disposition()
    }
}

/// How a kind of send error says whether sending again may help.
pub trait Classify {
    fn disposition(&self) -> Disposition;
}

/// What to do after a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again, not before `after` if the endpoint said so (`Retry-After`).
    Retry { after: Option<Duration> },
    /// Sending the same message again cannot succeed (a 404, bad settings).
    Permanent,
}

/// A failed delivery attempt, already classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    pub disposition: Disposition,
    pub message: String,
    /// The template that failed, when that is why: the message was never sent.
    pub template: Option<herald_templates::TemplateError>,
}

impl DeliveryError {
    pub fn permanent(message: impl Into<String>) -> Self {
        DeliveryError {
            disposition: Disposition::Permanent,
            message: message.into(),
            template: None,
        }
    }

    pub fn retry(message: impl Into<String>) -> Self {
        DeliveryError {
            disposition: Disposition::Retry { after: None },
            message: message.into(),
            template: None,
        }
    }

    /// A template that did not render: permanent, since the same event and
    /// templates render the same way next time.
    pub fn render(error: herald_templates::TemplateError) -> Self {
        DeliveryError {
            disposition: Disposition::Permanent,
            message: format!("template {error}"),
            template: Some(error),
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(self.disposition, Disposition::Retry { .. })
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self.disposition {
            Disposition::Retry { after } => after,
            Disposition::Permanent => None,
        }
    }
}

async fn deliver<C: Channel>(
    channel: &C,
    templates: Option<&TemplateSet>,
    delivery: &Delivery<'_>,
    cx: &SendContext<'_>,
) -> Result<(), DeliveryError> {
    let message = channel.render(delivery, &Parts::new(delivery, C::KIND, templates))?;
    channel.send(message, cx).await.map_err(|e| DeliveryError {
        disposition: C::classify(&e),
        message: error_chain(&e),
        template: None,
    })
}

/// An error and its causes on one line; libraries often keep the useful part
/// ("connection refused") in a source.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A notifier's settings: the channel's own plus the delivery options common to
/// every kind and its `templates`, all in one flat JSON object.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    pub options: DeliveryOptions,
    pub channel: ChannelConfig,
    /// The parts it overrides, compiled.
    pub templates: Option<Arc<TemplateSet>>,
}

impl NotifierConfig {
    /// Parses the `config` of a notifier of `kind`; errors are named `kind` or
    /// `config.<field>`.
    pub fn parse(kind: &str, config: &Value) -> Result<NotifierConfig, FieldError> {
        let Value::Object(all) = config else {
            return Err(FieldError::new("config", "must be a JSON object"));
        };
        let mut all = all.clone();
        let templates: BTreeMap<String, String> = match all.remove("templates") {
            Some(t) => herald_model::from_value(t).map_err(|e| e.within("config.templates"))?,
            None => BTreeMap::new(),
        };
        let (common, own): (serde_json::Map<_, _>, serde_json::Map<_, _>) = all
            .into_iter()
            .partition(|(k, _)| DeliveryOptions::FIELDS.contains(&k.as_str()));
        let options =
            DeliveryOptions::parse(Value::Object(common)).map_err(|e| e.within("config"))?;
        let channel = ChannelConfig::parse(kind, Value::Object(own))?;
        let templates =
            parts::compile_notifier_templates(kind, &templates).map_err(|e| e.within("config"))?;
        Ok(NotifierConfig {
            options,
            channel,
            templates,
        })
    }

    pub fn kind(&self) -> &'static str {
        self.channel.kind()
    }

    /// Renders and sends once, without retrying.
    pub async fn deliver(
        &self,
        delivery: &Delivery<'_>,
        cx: &SendContext<'_>,
    ) -> Result<(), DeliveryError> {
        self.channel
            .deliver(self.templates.as_deref(), delivery, cx)
            .await
    }

    /// Every part of the message `delivery` would send, rendered, without
    /// sending it.
    pub fn preview(
        &self,
        delivery: &Delivery<'_>,
    ) -> Result<BTreeMap<String, String>, DeliveryError> {
        Parts::new(delivery, self.kind(), self.templates.as_deref()).render_all()
    }
}

macro_rules! registry {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        /// The settings of one notifier, by kind.
        #[derive(Debug, Clone)]
        pub enum ChannelConfig {
            $($variant($module::Config)),+
        }

        /// Every kind Herald can deliver to; each has its own delivery queue.
        pub const KINDS: &[&str] = &[$(<$module::Config as Channel>::KIND),+];

        impl ChannelConfig {
            fn parse(kind: &str, config: Value) -> Result<ChannelConfig, FieldError> {
                $(
                    if kind == <$module::Config as Channel>::KIND {
                        let parsed: $module::Config = herald_model::from_value(config)
                            .map_err(|e| e.within("config"))?;
                        parsed.validate().map_err(|e| e.within("config"))?;
                        return Ok(ChannelConfig::$variant(parsed));
                    }
                )+
                Err(unknown_kind(kind))
            }

            pub fn kind(&self) -> &'static str {
                match self {
                    $(ChannelConfig::$variant(_) => <$module::Config as Channel>::KIND),+
                }
            }

            async fn deliver(
                &self,
                templates: Option<&TemplateSet>,
                delivery: &Delivery<'_>,
                cx: &SendContext<'_>,
            ) -> Result<(), DeliveryError> {
                match self {
                    $(ChannelConfig::$variant(c) => deliver(c, templates, delivery, cx).await),+
                }
            }
        }

        /// The JSON Schema of a `kind`'s `config`: its own fields, the
        /// delivery options and `templates`; `None` for an unknown kind.
        pub fn config_schema(kind: &str) -> Option<Value> {
            $(
                if kind == <$module::Config as Channel>::KIND {
                    return Some(with_common_fields(
                        schemars::schema_for!($module::Config).to_value(),
                        <$module::Config as Channel>::PARTS,
                    ));
                }
            )+
            None
        }

        /// The parts of a `kind`'s message; unknown kinds have none.
        pub fn parts_of(kind: &str) -> &'static [Part] {
            $(
                if kind == <$module::Config as Channel>::KIND {
                    return <$module::Config as Channel>::PARTS;
                }
            )+
            &[]
        }

        /// Where notifiers of `kind` keep secrets; unknown kinds have none.
        pub fn secret_fields(kind: &str) -> &'static [SecretField] {
            $(
                if kind == <$module::Config as Channel>::KIND {
                    return <$module::Config as Channel>::SECRETS;
                }
            )+
            &[]
        }
    };
}

/// A channel's schema with the fields every kind takes added: the delivery
/// options and `templates` (one string per part).
fn with_common_fields(mut schema: Value, parts: &[Part]) -> Value {
    let options = schemars::schema_for!(DeliveryOptions).to_value();
    let part_names: serde_json::Map<String, Value> = parts
        .iter()
        .map(|p| {
            (
                p.name.to_owned(),
                serde_json::json!({"type": "string", "description": p.about}),
            )
        })
        .collect();
    if let (Some(own), Some(common)) = (
        schema["properties"].as_object_mut(),
        options["properties"].as_object(),
    ) {
        own.extend(common.clone());
        own.insert(
            "templates".into(),
            serde_json::json!({
                "type": "object",
                "description": "Templates (MiniJinja) overriding parts of the default message.",
                "properties": part_names,
                "additionalProperties": false,
            }),
        );
    }
    schema
}

fn unknown_kind(kind: &str) -> FieldError {
    FieldError::new(
        "kind",
        format!(
            "unknown notifier kind `{kind}`, expected one of {}",
            KINDS.join(", ")
        ),
    )
}

registry! {
    Webhook => webhook,
    Email => email,
    Discord => discord,
    PagerDuty => pagerduty,
    Slack => slack,
    Teams => teams,
    Mattermost => mattermost,
    RocketChat => rocketchat,
    GoogleChat => googlechat,
    Webex => webex,
    Ntfy => ntfy,
    Matrix => matrix,
    WeCom => wecom,
    Telegram => telegram,
    Opsgenie => opsgenie,
    Twilio => twilio,
    Pushover => pushover,
    Grafana => grafana,
    GitHub => github,
    GitLab => gitlab,
    Irc => irc,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_split_into_common_options_and_the_channels_own() {
        let c = NotifierConfig::parse(
            "webhook",
            &json!({"url": "http://127.0.0.1:9/hook", "max_elapsed": "30s", "max_attempts": 3}),
        )
        .unwrap();
        assert_eq!(c.kind(), "webhook");
        assert_eq!(
            c.options.max_elapsed.unwrap().get(),
            Duration::from_secs(30)
        );
        assert_eq!(c.options.max_attempts, Some(3));
    }

    #[test]
    fn bad_settings_are_named_under_config() {
        let cases = [
            ("pager", json!({}), "kind"),
            ("webhook", json!([]), "config"),
            ("webhook", json!({}), "config.url"),
            (
                "webhook",
                json!({"url": "http://x/", "max_elapsed": "soon"}),
                "config.max_elapsed",
            ),
            (
                "webhook",
                json!({"url": "http://x/", "verb": "GET"}),
                "config.verb",
            ),
        ];
        for (kind, config, field) in cases {
            let err = NotifierConfig::parse(kind, &config).expect_err(&config.to_string());
            assert_eq!(err.field, field, "{kind} {config}: {err}");
        }
    }

    #[test]
    fn every_kind_describes_its_config_and_parts() {
        for kind in KINDS {
            let schema = config_schema(kind).unwrap();
            let props = schema["properties"].as_object().unwrap();
            for common in ["max_elapsed", "max_attempts", "timeout", "templates"] {
                assert!(props.contains_key(common), "{kind} lacks {common}");
            }
            assert!(!parts_of(kind).is_empty());
        }
        let webhook = config_schema("webhook").unwrap();
        assert_eq!(webhook["required"], serde_json::json!(["url"]));
        assert!(webhook["properties"]["templates"]["properties"]["body"].is_object());
        assert!(config_schema("pager").is_none());
    }

    #[test]
    fn every_kind_is_listed_once() {
        let mut kinds = KINDS.to_vec();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), KINDS.len());
        assert!(secret_fields("webhook").iter().any(|f| f.path == "url"));
        assert!(secret_fields("email").iter().any(|f| f.path == "password"));
    }
}

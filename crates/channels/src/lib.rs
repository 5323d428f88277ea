//! Delivery channels: how one notification reaches one kind of endpoint.
//!
//! Every channel implements [`Channel`]: it checks its settings, renders an event
//! into its own message, sends it, and says whether an error is worth retrying.
//! The [`registry!`] line at the bottom of this file is the only list of kinds;
//! adding a channel is a new module with its `Config` plus one line there.
//!
//! This crate does not retry, queue, record outcomes or read the database: the
//! sender does those around [`NotifierConfig::deliver`], the API uses it for test
//! sends, and both get settings already unsealed from the store. Where it
//! may connect is the [`outbound`] guard's to say.

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
pub mod outbound;
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
pub use outbound::{Destination, Guard, Outbound};
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
    /// The settings naming where it connects, checked by the outbound guard
    /// on save.
    const DESTINATIONS: &'static [Destination];
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

/// How a kind of send error says whether sending again may help, and what
/// of it may be answered to whoever asked for the send.
pub trait Classify: std::error::Error {
    fn disposition(&self) -> Disposition;

    /// The error without what the endpoint answered beyond its status and
    /// error code, for test sends: Herald must not relay what an address it
    /// was pointed at answers.
    fn summary(&self) -> String
    where
        Self: Sized + 'static,
    {
        error_chain(self)
    }
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
    /// The message as a test send answers it ([`Classify::summary`]), when
    /// that differs; see [`DeliveryError::summary`].
    summary: Option<Box<str>>,
    /// The template that failed, when that is why: the message was never sent.
    pub template: Option<herald_templates::TemplateError>,
}

impl DeliveryError {
    pub fn permanent(message: impl Into<String>) -> Self {
        let message = message.into();
        DeliveryError {
            disposition: Disposition::Permanent,
            message,
            summary: None,
            template: None,
        }
    }

    pub fn retry(message: impl Into<String>) -> Self {
        let message = message.into();
        DeliveryError {
            disposition: Disposition::Retry { after: None },
            message,
            summary: None,
            template: None,
        }
    }

    /// A template that did not render: permanent, since the same event and
    /// templates render the same way next time.
    pub fn render(error: herald_templates::TemplateError) -> Self {
        let message = format!("template {error}");
        DeliveryError {
            disposition: Disposition::Permanent,
            message,
            summary: None,
            template: Some(error),
        }
    }

    /// The message without what the endpoint answered beyond its status and
    /// error code: what a test send answers.
    pub fn summary(&self) -> &str {
        self.summary.as_deref().unwrap_or(&self.message)
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
    channel.send(message, cx).await.map_err(|e| {
        let message = error_chain(&e);
        let summary = e.summary();
        DeliveryError {
            disposition: C::classify(&e),
            summary: (summary != message).then(|| summary.into()),
            message,
            template: None,
        }
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

    /// Refuses a setting that names an address the guard forbids literally
    /// (names are checked when they are resolved, at send time); errors are
    /// named `config.<field>`.
    pub fn check_destinations(&self, guard: &Guard) -> Result<(), FieldError> {
        self.channel
            .check_destinations(guard)
            .map_err(|e| e.within("config"))
    }

    /// Checks the delivery options against their maxima, naming the field
    /// (`config.timeout`). Only on save: settings stored before a maximum
    /// existed still parse, and the sender holds them to it (see
    /// [`DeliveryOptions::timeout_or`]).
    pub fn check_bounds(&self) -> Result<(), FieldError> {
        self.options.check_bounds().map_err(|e| e.within("config"))
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
                            .map_err(|e| with_every_field(kind, e).within("config"))?;
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

            fn check_destinations(&self, guard: &Guard) -> Result<(), FieldError> {
                match self {
                    $(ChannelConfig::$variant(c) => check_destinations(c, guard)),+
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

        /// The settings naming where notifiers of `kind` connect; unknown
        /// kinds have none.
        pub fn destinations(kind: &str) -> &'static [Destination] {
            $(
                if kind == <$module::Config as Channel>::KIND {
                    return <$module::Config as Channel>::DESTINATIONS;
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

/// Each setting of `C::DESTINATIONS` as the channel holds it (defaults
/// applied), through the guard.
fn check_destinations<C: Channel + serde::Serialize>(
    channel: &C,
    guard: &Guard,
) -> Result<(), FieldError> {
    let settings = serde_json::to_value(channel)
        .map_err(|e| FieldError::new("", format!("cannot read the settings back: {e}")))?;
    for destination in C::DESTINATIONS {
        if let Some(value) = settings.get(destination.field()).and_then(Value::as_str) {
            guard.check_setting(*destination, value)?;
        }
    }
    Ok(())
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

/// serde names only a kind's own fields when it meets an unknown one; the
/// delivery options and `templates` are as valid, so the message lists every
/// field the kind takes.
fn with_every_field(kind: &str, mut e: FieldError) -> FieldError {
    let top_level = !e.field.contains(['.', '[']);
    let unknown = e
        .message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.find('`').map(|end| &rest[..end]));
    if let (true, Some(name), Some(schema)) = (top_level, unknown, config_schema(kind)) {
        let fields: Vec<&str> = schema["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys().map(String::as_str))
            .collect();
        e.message = format!(
            "unknown field `{name}`, expected one of {}",
            fields.join(", ")
        );
    }
    e
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
    fn an_unknown_field_is_answered_with_every_field_the_kind_takes() {
        let err = NotifierConfig::parse("webhook", &json!({"url": "http://x/", "retries": {}}))
            .unwrap_err();
        assert_eq!(err.field, "config.retries");
        for field in [
            "url",
            "method",
            "headers",
            "max_elapsed",
            "max_attempts",
            "timeout",
            "templates",
        ] {
            assert!(err.message.contains(field), "{field} missing: {err}");
        }
    }

    #[test]
    fn delivery_options_are_bounded_on_save() {
        let cases = [
            (json!({"timeout": "200000000d"}), "config.timeout"),
            (json!({"timeout": "0s"}), "config.timeout"),
            (json!({"max_elapsed": "200000000d"}), "config.max_elapsed"),
            (json!({"max_attempts": 0}), "config.max_attempts"),
            (json!({"max_attempts": 101}), "config.max_attempts"),
        ];
        for (options, field) in cases {
            let mut config = json!({"url": "http://x/"});
            config
                .as_object_mut()
                .unwrap()
                .extend(options.as_object().unwrap().clone());
            let err = NotifierConfig::parse("webhook", &config)
                .and_then(|c| c.check_bounds())
                .expect_err(&config.to_string());
            assert_eq!(err.field, field, "{config}: {err}");
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
    fn every_kind_names_where_it_connects() {
        for kind in KINDS {
            assert!(
                !destinations(kind).is_empty(),
                "{kind} names no destination"
            );
            let schema = config_schema(kind).unwrap();
            for d in destinations(kind) {
                assert!(
                    schema["properties"].get(d.field()).is_some(),
                    "{kind} has no setting {}",
                    d.field()
                );
            }
        }
        let guard = Guard::default();
        let refused = NotifierConfig::parse("webhook", &json!({"url": "http://10.0.0.1/"}))
            .unwrap()
            .check_destinations(&guard)
            .unwrap_err();
        assert_eq!(refused.field, "config.url");
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

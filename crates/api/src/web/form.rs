//! A notifier's settings as form fields, built from its kind's JSON Schema
//! (as `GET /api/v1/channels` gives it), and the fields read back into
//! settings. Strings, numbers, booleans and choices get their own inputs;
//! anything else (header maps, lists, nested settings) is edited as JSON.
//! Secret settings show their masked value: sent back unchanged, the API keeps
//! the stored secret.
//!
//! It does not validate: the API does, naming the setting at fault.

use maud::{Markup, html};
use serde_json::{Map, Value, json};

use super::session::Fields;

/// The prefix of the settings' field names in the form.
const PREFIX: &str = "config.";

/// How one setting is edited.
#[derive(Debug, PartialEq)]
enum Input {
    Text,
    Number,
    Integer,
    Boolean,
    Choice(Vec<String>),
    Json,
}

/// One setting of a kind.
#[derive(Debug)]
pub struct Setting {
    name: String,
    about: String,
    input: Input,
    required: bool,
    secret: bool,
    default: Option<Value>,
}

/// The settings of a kind, in the schema's order, from its `config_schema`
/// and `secret_fields`.
pub fn settings(schema: &Value, secrets: &[Value]) -> Vec<Setting> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let secret = |name: &str| {
        secrets
            .iter()
            .filter_map(Value::as_str)
            .any(|path| path == name || path.split('.').next() == Some(name))
    };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut settings: Vec<Setting> = properties
        .iter()
        .map(|(name, given)| {
            let property = resolve(schema, given);
            Setting {
                name: name.clone(),
                about: property
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                input: input_of(schema, property),
                required: required.contains(&name.as_str()),
                secret: secret(name),
                // A default beside a `$ref` is the property's own.
                default: given.get("default").or(property.get("default")).cloned(),
            }
        })
        .collect();
    // What must be given first; the rest in the schema's order.
    settings.sort_by_key(|s| !s.required);
    settings
}

/// A `$ref` to the schema's `$defs`, followed; anything else as it is.
fn resolve<'a>(schema: &'a Value, property: &'a Value) -> &'a Value {
    let target = property
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/"))
        .and_then(|path| path.split('/').try_fold(schema, |at, key| at.get(key)));
    target.unwrap_or(property)
}

fn input_of(schema: &Value, property: &Value) -> Input {
    if let Some(choices) = choices(schema, property) {
        return Input::Choice(choices);
    }
    let types: Vec<&str> = match property.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let types: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    match types.as_slice() {
        ["string"] => Input::Text,
        ["integer"] => Input::Integer,
        ["number"] => Input::Number,
        ["boolean"] => Input::Boolean,
        _ => Input::Json,
    }
}

/// The values of an enum: `enum`, or `oneOf`/`anyOf` of `const`s (a
/// nullable one's `null` left out).
fn choices(schema: &Value, property: &Value) -> Option<Vec<String>> {
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return Some(
            values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        );
    }
    let variants = property
        .get("oneOf")
        .or_else(|| property.get("anyOf"))
        .and_then(Value::as_array)?;
    let mut out = Vec::new();
    for variant in variants {
        let variant = resolve(schema, variant);
        if variant.get("type").and_then(Value::as_str) == Some("null") {
            continue;
        }
        match (variant.get("const"), variant.get("enum")) {
            (Some(Value::String(c)), _) => out.push(c.clone()),
            (_, Some(Value::Array(values))) => {
                out.extend(values.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => return None,
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The inputs of `settings`, filled from `config` (a stored notifier's,
/// masked) or their defaults.
pub fn inputs(settings: &[Setting], config: &Value) -> Markup {
    html! {
        @for s in settings {
            @let name = format!("{PREFIX}{}", s.name);
            @let value = config.get(&s.name).or(s.default.as_ref());
            div class={"field" @if matches!(s.input, Input::Json) { " wide" }} {
                label for=(name) {
                    (s.name)
                    @if s.required { span.required title="required" { " *" } }
                    @if s.secret { span.secret title="a secret: stored sealed, shown masked; leave the masked value to keep it" { " secret" } }
                }
                @match &s.input {
                    Input::Boolean => {
                        input type="hidden" name=(name) value="false";
                        input #(name) type="checkbox" name=(name) value="true" checked[value.and_then(Value::as_bool).unwrap_or(false)];
                    }
                    Input::Choice(choices) => {
                        select #(name) name=(name) {
                            @if !s.required { option value="" { "" } }
                            @for c in choices {
                                option value=(c) selected[value.and_then(Value::as_str) == Some(c.as_str())] { (c) }
                            }
                        }
                    }
                    Input::Json => {
                        textarea #(name) name=(name) rows="3" placeholder="JSON" {
                            (value.filter(|v| !is_empty(v)).map(|v| v.to_string()).unwrap_or_default())
                        }
                    }
                    Input::Text | Input::Number | Input::Integer => {
                        input #(name) type=(if matches!(s.input, Input::Text) { "text" } else { "number" })
                            step=[matches!(s.input, Input::Number).then_some("any")]
                            name=(name) value=(value.map(scalar).unwrap_or_default()) required[s.required];
                    }
                }
                @if !s.about.is_empty() { small.about { (s.about) } }
            }
        }
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The settings the form sent, as the API takes them: empty optional ones
/// left out, numbers and JSON parsed. A value that does not parse is sent as
/// the text it is, so the API's error names the setting.
pub fn config_from(settings: &[Setting], fields: &Fields) -> Value {
    let mut config = Map::new();
    for s in settings {
        let name = format!("{PREFIX}{}", s.name);
        let value = match s.input {
            // The checkbox follows its hidden `false`: the last value wins.
            Input::Boolean => fields.all(&name).last().map(|v| json!(v == "true")),
            _ => fields
                .get(&name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| parse(&s.input, v)),
        };
        if let Some(value) = value {
            config.insert(s.name.clone(), value);
        }
    }
    Value::Object(config)
}

fn parse(input: &Input, text: &str) -> Value {
    let parsed = match input {
        Input::Integer => text.parse::<i64>().ok().map(Value::from),
        Input::Number => text.parse::<f64>().ok().map(Value::from),
        Input::Json => serde_json::from_str(text).ok(),
        _ => None,
    };
    parsed.unwrap_or_else(|| json!(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "description": "Where to"},
                "method": {"$ref": "#/$defs/Method", "default": "POST"},
                "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                "retries": {"type": ["integer", "null"]},
                "tls_verify": {"type": "boolean", "default": true},
                "mode": {"oneOf": [{"const": "a"}, {"const": "b"}, {"type": "null"}]}
            },
            "$defs": {"Method": {"type": "string", "enum": ["POST", "PUT"]}}
        })
    }

    #[test]
    fn each_type_of_setting_gets_its_input() {
        let settings = settings(&schema(), &[json!("url"), json!("headers.*")]);
        let by_name = |n: &str| settings.iter().find(|s| s.name == n).unwrap();
        let table = [
            ("url", Input::Text, true, true),
            (
                "method",
                Input::Choice(vec!["POST".into(), "PUT".into()]),
                false,
                false,
            ),
            ("headers", Input::Json, false, true),
            ("retries", Input::Integer, false, false),
            ("tls_verify", Input::Boolean, false, false),
            (
                "mode",
                Input::Choice(vec!["a".into(), "b".into()]),
                false,
                false,
            ),
        ];
        for (name, input, required, secret) in table {
            let s = by_name(name);
            assert_eq!(s.input, input, "{name}");
            assert_eq!(s.required, required, "{name}");
            assert_eq!(s.secret, secret, "{name}");
        }
        assert_eq!(by_name("url").about, "Where to");
    }

    #[test]
    fn fields_come_back_as_settings() {
        let settings = settings(&schema(), &[]);
        let fields = Fields(
            [
                ("config.url", "http://x"),
                ("config.method", "PUT"),
                ("config.headers", r#"{"a": "b"}"#),
                ("config.retries", "3"),
                ("config.tls_verify", "false"),
                ("config.tls_verify", "true"),
                ("config.mode", ""),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec(),
        );
        assert_eq!(
            config_from(&settings, &fields),
            json!({"url": "http://x", "method": "PUT", "headers": {"a": "b"}, "retries": 3, "tls_verify": true})
        );
        let unparsable = Fields(vec![("config.retries".into(), "three".into())]);
        assert_eq!(
            config_from(&settings, &unparsable)["retries"],
            json!("three")
        );
    }
}

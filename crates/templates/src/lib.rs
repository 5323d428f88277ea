//! Message templates and rule conditions, in MiniJinja (Jinja2 syntax).
//!
//! A [`TemplateSet`] holds the parts of one message (`subject`, `body`, …),
//! compiled once when the set is built; a [`Condition`] is one expression
//! compiled once. Both run under the same bounds: undefined values are errors
//! (a typo must not render an empty message), each render has a fuel budget
//! and a recursion limit, and there is no loader, so a template can neither
//! include another nor read a file.
//!
//! Errors carry the part and the line: `subject: syntax error: unexpected end
//! of input (line 1)`. This crate knows nothing of events or channels: callers
//! give it any serialisable context.

use std::collections::BTreeMap;
use std::fmt;

use minijinja::value::Kwargs;
pub use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;

/// Instructions one render may run: a loop over a few thousand items is
/// fine, an unbounded one stops.
const FUEL: u64 = 200_000;
/// How deep macros and nested blocks may go.
const RECURSION: usize = 32;
/// The largest template or condition accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

/// The name a condition is compiled under, and the variable holding its value.
const CONDITION: &str = "condition";

/// A template or condition that failed to compile or to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    /// The part (`subject`) or `condition`.
    pub part: String,
    /// What went wrong, with the line when known.
    pub message: String,
    pub line: Option<usize>,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part, self.message)
    }
}

impl TemplateError {
    fn new(part: &str, error: &minijinja::Error) -> TemplateError {
        let mut message = error.kind().to_string();
        if let Some(detail) = error.detail() {
            message.push_str(": ");
            message.push_str(detail);
        }
        if let Some(line) = error.line() {
            message.push_str(&format!(" (line {line})"));
        }
        TemplateError {
            part: part.to_owned(),
            message,
            line: error.line(),
        }
    }

    fn too_long(part: &str) -> TemplateError {
        TemplateError {
            part: part.to_owned(),
            message: format!("longer than {MAX_SOURCE_BYTES} bytes"),
            line: None,
        }
    }
}

/// The bounded environment every template and condition compiles in.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION);
    // Parts meant as HTML (`html_body`) escape what they insert; others are text.
    env.set_auto_escape_callback(|name| match name.contains("html") {
        true => AutoEscape::Html,
        false => AutoEscape::None,
    });
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    minijinja_contrib::add_to_environment(&mut env);
    env.add_filter("truncate", truncate);
    env.add_filter("pretty_json", pretty_json);
    env.add_filter("without", without);
    env
}

/// A map without the given keys (`event.data | without("trace")`); any
/// other value as it is.
fn without(value: &Value, keys: minijinja::value::Rest<String>) -> Result<Value, minijinja::Error> {
    if value.kind() != minijinja::value::ValueKind::Map {
        return Ok(value.clone());
    }
    let mut kept = Vec::new();
    for key in value.try_iter()? {
        if key.as_str().is_some_and(|k| keys.contains(&k.to_owned())) {
            continue;
        }
        let item = value.get_item(&key)?;
        kept.push((key, item));
    }
    Ok(Value::from_pairs(kept))
}

/// JSON indented by two spaces and left as is, for text meant for people
/// (`tojson` escapes `<`, `>`, `&` and `'` for HTML).
fn pretty_json(value: &Value) -> Result<String, minijinja::Error> {
    serde_json::to_string_pretty(value).map_err(|e| {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "cannot write JSON")
            .with_source(e)
    })
}

/// Jinja2's `truncate`, whose length may also be given by position
/// (`truncate(80)`), as AWX and Ansible templates write it.
fn truncate(
    state: &mut minijinja::State,
    value: &Value,
    length: Option<usize>,
    kwargs: Kwargs,
) -> Result<Value, minijinja::Error> {
    let Some(length) = length else {
        return minijinja_contrib::filters::truncate(state, value, kwargs);
    };
    let mut given = vec![("length".to_owned(), Value::from(length))];
    for key in kwargs.args() {
        given.push((key.to_owned(), kwargs.get::<Value>(key)?));
    }
    minijinja_contrib::filters::truncate(state, value, Kwargs::from_iter(given))
}

/// The parts of one message, compiled.
pub struct TemplateSet {
    env: Environment<'static>,
    parts: Vec<String>,
}

impl fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateSet")
            .field("parts", &self.parts)
            .finish()
    }
}

impl TemplateSet {
    /// Compiles every part (name → source); the first that does not compile
    /// is the error.
    pub fn compile(parts: &BTreeMap<String, String>) -> Result<TemplateSet, TemplateError> {
        let mut env = environment();
        for (name, source) in parts {
            if source.len() > MAX_SOURCE_BYTES {
                return Err(TemplateError::too_long(name));
            }
            env.add_template_owned(name.clone(), source.clone())
                .map_err(|e| TemplateError::new(name, &e))?;
        }
        Ok(TemplateSet {
            env,
            parts: parts.keys().cloned().collect(),
        })
    }

    /// Whether the set has this part.
    pub fn has(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    pub fn parts(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().map(String::as_str)
    }

    /// Renders one part; `None` when the set does not have it.
    pub fn render(&self, part: &str, context: &Value) -> Option<Result<String, TemplateError>> {
        let template = self.env.get_template(part).ok()?;
        Some(
            template
                .render(context)
                .map_err(|e| TemplateError::new(part, &e)),
        )
    }
}

/// Checks that one template compiles.
pub fn check_template(part: &str, source: &str) -> Result<(), TemplateError> {
    TemplateSet::compile(&BTreeMap::from([(part.to_owned(), source.to_owned())])).map(drop)
}

/// A rule's condition: an expression that should be true or false.
pub struct Condition {
    env: Environment<'static>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Condition")
    }
}

/// Why a condition gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("{0}")]
    Failed(String),
    #[error("returned {0}, not true or false")]
    NotBoolean(String),
}

impl Condition {
    /// Compiles an expression such as `event.labels.env == "prod"`.
    pub fn compile(source: &str) -> Result<Condition, TemplateError> {
        if source.len() > MAX_SOURCE_BYTES {
            return Err(TemplateError::too_long(CONDITION));
        }
        if let Some(at) = early_end(source) {
            return Err(TemplateError {
                part: CONDITION.to_owned(),
                message: format!(
                    "syntax error: unexpected `}}}}` at character {}; a condition is one \
                     expression, without `{{{{ }}}}`",
                    source[..at].chars().count() + 1
                ),
                line: Some(source[..at].matches('\n').count() + 1),
            });
        }
        let mut env = environment();
        // Checked as an expression first, so that a statement cannot ride along
        // and the syntax error is about what the user wrote.
        env.compile_expression(source)
            .map_err(|e| TemplateError::new(CONDITION, &e))?;
        // Kept as a one-statement template: it can be stored with its
        // environment, and evaluating it leaves the value in a variable.
        let wrapped = format!("{{% set {CONDITION} = ({source}\n) %}}");
        env.add_template_owned(CONDITION, wrapped)
            .map_err(|e| TemplateError::new(CONDITION, &e))?;
        Ok(Condition { env })
    }

    /// Evaluates the condition against `context`.
    pub fn eval(&self, context: &Value) -> Result<bool, ConditionError> {
        let failed =
            |e: minijinja::Error| ConditionError::Failed(TemplateError::new(CONDITION, &e).message);
        let template = self.env.get_template(CONDITION).map_err(failed)?;
        let captured = template.render_captured(context).map_err(failed)?;
        let value = captured
            .state()
            .lookup(CONDITION)
            .unwrap_or(Value::UNDEFINED);
        match value.kind() {
            minijinja::value::ValueKind::Bool => Ok(value.is_true()),
            kind => Err(ConditionError::NotBoolean(describe(&value, kind))),
        }
    }
}

/// Where a `}}` (or `-}}`, `+}}`) outside strings and brackets would end an
/// expression with text still after it. MiniJinja's expression lexer takes it
/// for the end of a `{{ }}` it never opened and then panics ("empty lexer
/// stack") instead of failing: such a source is refused before it gets there.
/// Tracks strings and brackets as that lexer does.
fn early_end(source: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let (mut depth, mut quote, mut i) = (0usize, None, 0);
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' => quote = Some(b),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' if depth > 0 => depth -= 1,
                b'-' | b'+' | b'}' if depth == 0 => {
                    let end = if b == b'}' { i } else { i + 1 };
                    if source[end..].starts_with("}}") && end + 2 < bytes.len() {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// A value in a few words: itself when short, else its kind and size. A
/// sequence may be lazy and immense (`[[]] * 10**16`, found by fuzzing):
/// formatting it walks every item, for days, outside the fuel's reach, so
/// only scalars are ever formatted.
fn describe(value: &Value, kind: minijinja::value::ValueKind) -> String {
    use minijinja::value::ValueKind as Kind;
    let short = match kind {
        Kind::Undefined | Kind::None | Kind::Bool | Kind::Number => Some(value.to_string()),
        Kind::String => value.as_str().map(str::to_owned),
        _ => None,
    };
    match (short, value.len()) {
        (Some(text), _) if text.len() <= 40 => format!("{kind} {text}"),
        (None, Some(items)) if matches!(kind, Kind::Seq | Kind::Map | Kind::Iterable) => {
            format!("{kind} of {items} items")
        }
        _ => format!("{kind}"),
    }
}

/// A context for templates and conditions from anything serialisable.
pub fn context<S: Serialize>(value: &S) -> Value {
    Value::from(minijinja::value::Serde(value))
}

/// A context of named values, each converted once and shared: the event of
/// a routed batch is converted once for every condition that reads it.
pub fn context_of<'a>(values: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::from_pairs(values)
}

#[cfg(test)]
mod tests;

//! One subcommand group per API object: its flags, the requests they make,
//! the columns its lists show. Objects that have a name (notifiers, rules,
//! monitors, tokens) can be named instead of given by id.

use std::io::Read;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Map, Value, json};

use super::client::{Api, with_query};
use super::error::CliError;
use super::output::{Column, Output, print_json};

/// What the generic commands need to know of an object.
pub(crate) struct Kind {
    /// Its collection under `/api/v1`.
    pub path: &'static str,
    /// How errors name it.
    pub noun: &'static str,
    /// The field that names it, when it has one.
    pub name_field: Option<&'static str>,
    pub columns: &'static [Column],
}

pub(crate) const NOTIFIERS: Kind = Kind {
    path: "/notifiers",
    noun: "notifier",
    name_field: Some("name"),
    columns: &[
        ("ID", "/id"),
        ("NAME", "/name"),
        ("KIND", "/kind"),
        ("DESCRIPTION", "/description"),
    ],
};
pub(crate) const RULES: Kind = Kind {
    path: "/rules",
    noun: "rule",
    name_field: Some("name"),
    columns: &[
        ("ID", "/id"),
        ("NAME", "/name"),
        ("ENABLED", "/enabled"),
        ("SCOPE", "/scope"),
        ("CATEGORIES", "/categories"),
        ("KINDS", "/kinds"),
        ("SEVERITIES", "/severities"),
    ],
};
pub(crate) const MONITORS: Kind = Kind {
    path: "/monitors",
    noun: "monitor",
    name_field: Some("name"),
    columns: &[
        ("ID", "/id"),
        ("NAME", "/name"),
        ("STATE", "/state"),
        ("SILENT FOR", "/silent_for"),
        ("ENABLED", "/enabled"),
        ("LAST SEEN", "/last_seen_at"),
    ],
};
pub(crate) const SILENCES: Kind = Kind {
    path: "/silences",
    noun: "silence",
    name_field: Some("name"),
    columns: &[
        ("ID", "/id"),
        ("NAME", "/name"),
        ("STATE", "/state"),
        ("STARTS", "/starts_at"),
        ("ENDS", "/ends_at"),
        ("MATCHERS", "/matchers"),
        ("COMMENT", "/comment"),
    ],
};
const TOKENS: Kind = Kind {
    path: "/tokens",
    noun: "token",
    name_field: Some("name"),
    columns: &[
        ("ID", "/id"),
        ("NAME", "/name"),
        ("ROLE", "/role"),
        ("HINT", "/hint"),
        ("EXPIRES", "/expires_at"),
        ("REVOKED", "/revoked_at"),
    ],
};
const EVENTS: Kind = Kind {
    path: "/events",
    noun: "event",
    name_field: None,
    columns: &[
        ("ID", "/id"),
        ("RECEIVED", "/received_at"),
        ("SOURCE", "/source"),
        ("CATEGORY", "/category"),
        ("KIND", "/kind"),
        ("SEVERITY", "/severity"),
        ("SCOPE", "/scope"),
        ("MATCHED", "/matched"),
        ("TITLE", "/title"),
    ],
};
const FAILURES: Kind = Kind {
    path: "/failures",
    noun: "failure",
    name_field: None,
    columns: &[
        ("ID", "/id"),
        ("STATUS", "/status"),
        ("NOTIFIER", "/notifier_name"),
        ("ATTEMPTS", "/attempts"),
        ("LAST FAILED", "/last_failed_at"),
        ("ERROR", "/error"),
    ],
};

/// The id of the object `key` names: an id as is, else the one whose name it is.
pub(crate) async fn resolve(api: &Api, kind: &Kind, key: &str) -> Result<String, CliError> {
    if uuid::Uuid::parse_str(key).is_ok() {
        return Ok(key.to_owned());
    }
    let Some(field) = kind.name_field else {
        return Err(CliError::usage(format!(
            "`{key}` is not a {} id",
            kind.noun
        )));
    };
    api.all_items(kind.path, &[])
        .await?
        .iter()
        .find(|item| item[field] == key)
        .and_then(|item| item["id"].as_str().map(str::to_owned))
        .ok_or_else(|| CliError::NotFound(format!("no {} named `{key}`", kind.noun)))
}

/// `--json FILE` (`-` for stdin): a request body written by hand.
fn read_json(path: &str) -> Result<Value, CliError> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::usage(format!("--json -: {e}")))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("--json {path}: {e}")))?;
    }
    serde_json::from_str(&text).map_err(|e| CliError::usage(format!("--json {path}: {e}")))
}

fn parse_json_arg(flag: &str, text: &str) -> Result<Value, CliError> {
    serde_json::from_str(text).map_err(|e| CliError::usage(format!("{flag}: not JSON: {e}")))
}

/// The body a create or update sends: `--json` (or `base`), then each flag given.
fn body(json: Option<&str>, base: Value) -> Result<Map<String, Value>, CliError> {
    let start = match json {
        Some(path) => read_json(path)?,
        None => base,
    };
    match start {
        Value::Object(map) => Ok(map),
        _ => Err(CliError::usage("--json: must hold a JSON object")),
    }
}

fn set<T: Into<Value>>(map: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        map.insert(key.to_owned(), value.into());
    }
}

fn set_list(map: &mut Map<String, Value>, key: &str, values: &[String]) {
    if !values.is_empty() {
        map.insert(key.to_owned(), json!(values));
    }
}

fn set_labels(map: &mut Map<String, Value>, key: &str, labels: &[(String, String)]) {
    if !labels.is_empty() {
        let labels: Map<String, Value> =
            labels.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        map.insert(key.to_owned(), Value::Object(labels));
    }
}

/// The fields the API answers but does not take back in a `PUT`.
fn writable(mut object: Value) -> Map<String, Value> {
    if let Some(map) = object.as_object_mut() {
        for key in [
            "id",
            "created_at",
            "updated_at",
            "state",
            "last_seen_at",
            "raised_at",
        ] {
            map.remove(key);
        }
    }
    match object {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

async fn list(api: &Api, out: Output, kind: &Kind, query: &[(&str, String)]) -> anyhow::Result<()> {
    let answer = api.get(&with_query(kind.path, query)).await?;
    out.list(&answer, kind.columns);
    Ok(())
}

async fn get(api: &Api, out: Output, kind: &Kind, key: &str) -> anyhow::Result<()> {
    let id = resolve(api, kind, key).await?;
    out.object(&api.get(&format!("{}/{id}", kind.path)).await?);
    Ok(())
}

async fn delete(api: &Api, out: Output, kind: &Kind, key: &str, verb: &str) -> anyhow::Result<()> {
    let id = resolve(api, kind, key).await?;
    let answer = api.delete(&format!("{}/{id}", kind.path)).await?;
    out.done(&answer, &format!("{verb} {} {key}", kind.noun));
    Ok(())
}

async fn clone(api: &Api, out: Output, kind: &Kind, key: &str, name: &str) -> anyhow::Result<()> {
    let id = resolve(api, kind, key).await?;
    let copy = api
        .post(&format!("{}/{id}/clone", kind.path), &json!({"name": name}))
        .await?;
    out.object(&copy);
    Ok(())
}

async fn create(
    api: &Api,
    out: Output,
    kind: &Kind,
    body: Map<String, Value>,
) -> anyhow::Result<()> {
    out.object(&api.post(kind.path, &Value::Object(body)).await?);
    Ok(())
}

/// Reads the object, lays the flags given over it, and writes it back.
async fn update(
    api: &Api,
    out: Output,
    kind: &Kind,
    key: &str,
    json: Option<&str>,
    overlay: impl FnOnce(&mut Map<String, Value>),
) -> anyhow::Result<()> {
    let id = resolve(api, kind, key).await?;
    let path = format!("{}/{id}", kind.path);
    let mut current = writable(api.get(&path).await?);
    if let Some(file) = json {
        current.extend(body(Some(file), Value::Null)?);
    }
    overlay(&mut current);
    out.object(&api.put(&path, &Value::Object(current)).await?);
    Ok(())
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("`{text}` is not key=value"))
}

// ---------------------------------------------------------------- notifiers

#[derive(Subcommand)]
pub enum NotifiersCommand {
    /// Lists the notifiers.
    List,
    /// Shows one notifier (secrets masked).
    Get { notifier: String },
    /// Creates a notifier.
    Create(NotifierFields),
    /// Changes the fields given; sending a masked secret back keeps it.
    Update {
        notifier: String,
        #[command(flatten)]
        fields: NotifierFields,
    },
    /// Sends a test notification now.
    Test { notifier: String },
    /// Copies a notifier under a new name.
    Clone {
        notifier: String,
        #[arg(long)]
        name: String,
    },
    /// Deletes a notifier no rule sends to.
    Delete { notifier: String },
}

#[derive(Args)]
pub struct NotifierFields {
    /// The whole body as JSON, from a file or `-` for stdin.
    #[arg(long)]
    json: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// webhook, email, slack, … (`GET /api/v1/channels`).
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// The channel's settings as JSON.
    #[arg(long)]
    config: Option<String>,
    /// Another notifier (name or id) that gets the event when a delivery here fails for good.
    #[arg(long)]
    fallback: Option<String>,
}

impl NotifierFields {
    async fn overlay(self, api: &Api) -> Result<impl FnOnce(&mut Map<String, Value>), CliError> {
        let config = self
            .config
            .as_deref()
            .map(|c| parse_json_arg("--config", c))
            .transpose()?;
        let fallback = match &self.fallback {
            Some(key) => Some(resolve(api, &NOTIFIERS, key).await?),
            None => None,
        };
        Ok(move |map: &mut Map<String, Value>| {
            set(map, "name", self.name);
            set(map, "kind", self.kind);
            set(map, "description", self.description);
            set(map, "config", config);
            set(map, "fallback", fallback);
        })
    }
}

pub async fn notifiers(api: &Api, out: Output, command: NotifiersCommand) -> anyhow::Result<()> {
    match command {
        NotifiersCommand::List => list(api, out, &NOTIFIERS, &[]).await,
        NotifiersCommand::Get { notifier } => get(api, out, &NOTIFIERS, &notifier).await,
        NotifiersCommand::Create(fields) => {
            let mut map = body(fields.json.as_deref(), json!({}))?;
            fields.overlay(api).await?(&mut map);
            create(api, out, &NOTIFIERS, map).await
        }
        NotifiersCommand::Update { notifier, fields } => {
            let json = fields.json.clone();
            let overlay = fields.overlay(api).await?;
            update(api, out, &NOTIFIERS, &notifier, json.as_deref(), overlay).await
        }
        NotifiersCommand::Test { notifier } => {
            let id = resolve(api, &NOTIFIERS, &notifier).await?;
            let answer = api
                .post(&format!("/notifiers/{id}/test"), &json!({}))
                .await?;
            let status = answer["status"].as_str().unwrap_or("sent");
            out.done(
                &answer,
                &format!("test notification {status} via {notifier}"),
            );
            Ok(())
        }
        NotifiersCommand::Clone { notifier, name } => {
            clone(api, out, &NOTIFIERS, &notifier, &name).await
        }
        NotifiersCommand::Delete { notifier } => {
            delete(api, out, &NOTIFIERS, &notifier, "deleted").await
        }
    }
}

// -------------------------------------------------------------------- rules

#[derive(Subcommand)]
pub enum RulesCommand {
    /// Lists the rules.
    List,
    /// Shows one rule.
    Get { rule: String },
    /// Creates a rule.
    Create(RuleFields),
    /// Changes the fields given.
    Update {
        rule: String,
        #[command(flatten)]
        fields: RuleFields,
    },
    /// Copies a rule under a new name.
    Clone {
        rule: String,
        #[arg(long)]
        name: String,
    },
    /// Deletes a rule.
    Delete { rule: String },
    /// Tries a rule, not saved, on recent events.
    DryRun {
        #[command(flatten)]
        fields: RuleFields,
        /// How far back (`24h`) or since when (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Args)]
pub struct RuleFields {
    /// The whole body as JSON, from a file or `-` for stdin.
    #[arg(long)]
    json: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// Repeat for several; none matches any.
    #[arg(long = "category")]
    categories: Vec<String>,
    #[arg(long = "kind")]
    kinds: Vec<String>,
    #[arg(long = "severity")]
    severities: Vec<String>,
    /// A scope prefix such as `acme/web`.
    #[arg(long)]
    scope: Option<String>,
    /// key=value; every label given must be equal on the event.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    #[arg(long)]
    condition: Option<String>,
    /// A notifier's name or id; repeat for several.
    #[arg(long = "notifier")]
    notifiers: Vec<String>,
    /// Saves the rule switched off.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    #[arg(long)]
    enable: bool,
}

impl RuleFields {
    async fn overlay(self, api: &Api) -> Result<impl FnOnce(&mut Map<String, Value>), CliError> {
        let mut notifiers = Vec::new();
        for key in &self.notifiers {
            notifiers.push(resolve(api, &NOTIFIERS, key).await?);
        }
        let enabled = match (self.enable, self.disable) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        Ok(move |map: &mut Map<String, Value>| {
            set(map, "name", self.name);
            set_list(map, "categories", &self.categories);
            set_list(map, "kinds", &self.kinds);
            set_list(map, "severities", &self.severities);
            set(map, "scope", self.scope);
            set_labels(map, "labels", &self.labels);
            set(map, "condition", self.condition);
            set_list(map, "notifiers", &notifiers);
            set(map, "enabled", enabled);
        })
    }
}

pub async fn rules(api: &Api, out: Output, command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::List => list(api, out, &RULES, &[]).await,
        RulesCommand::Get { rule } => get(api, out, &RULES, &rule).await,
        RulesCommand::Create(fields) => {
            let mut map = body(fields.json.as_deref(), json!({}))?;
            fields.overlay(api).await?(&mut map);
            create(api, out, &RULES, map).await
        }
        RulesCommand::Update { rule, fields } => {
            let json = fields.json.clone();
            let overlay = fields.overlay(api).await?;
            update(api, out, &RULES, &rule, json.as_deref(), overlay).await
        }
        RulesCommand::Clone { rule, name } => clone(api, out, &RULES, &rule, &name).await,
        RulesCommand::Delete { rule } => delete(api, out, &RULES, &rule, "deleted").await,
        RulesCommand::DryRun {
            fields,
            since,
            limit,
        } => {
            let mut map = body(fields.json.as_deref(), json!({}))?;
            fields.overlay(api).await?(&mut map);
            // The rule is not saved: a name is only what its answer calls it.
            map.entry("name").or_insert_with(|| json!("dry run"));
            set(&mut map, "since", since);
            set(&mut map, "limit", limit);
            let answer = api.post("/rules/dry-run", &Value::Object(map)).await?;
            if out == Output::Json {
                print_json(&answer);
                return Ok(());
            }
            println!(
                "{} of {} events selected",
                answer["selected"], answer["total"]
            );
            out.list(
                &json!({"items": answer["results"]}),
                &[
                    ("EVENT", "/event_id"),
                    ("TITLE", "/title"),
                    ("SELECTED", "/selected"),
                    ("REASON", "/reason"),
                ],
            );
            Ok(())
        }
    }
}

// ------------------------------------------------------------------- events

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Publishes one event through the API (`herald emit` goes to the broker).
    Emit(Box<crate::EmitArgs>),
    /// Recorded events, newest first.
    List {
        #[arg(long)]
        source: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        /// A scope prefix.
        #[arg(long)]
        scope: Option<String>,
        /// Only events some rule selected (true) or none did (false).
        #[arg(long)]
        matched: Option<bool>,
        /// How far back (`24h`) or since when (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One event as recorded.
    Get { id: String },
    /// Why an event did or did not notify.
    Explain { id: String },
}

pub async fn events(api: &Api, out: Output, command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::Emit(args) => {
            let body = match &args.json {
                Some(path) => read_json(path)?,
                None => serde_json::to_value(crate::new_event(&args)?.build()?)?,
            };
            let answer = api.post("/events", &body).await?;
            match out {
                Output::Json => print_json(&answer),
                Output::Table => {
                    for id in answer["ids"].as_array().into_iter().flatten() {
                        println!("{}", id.as_str().unwrap_or_default());
                    }
                }
            }
            Ok(())
        }
        EventsCommand::List {
            source,
            category,
            severity,
            scope,
            matched,
            since,
            limit,
        } => {
            let query: Vec<(&str, String)> = [
                ("source", source),
                ("category", category),
                ("severity", severity),
                ("scope", scope),
                ("matched", matched.map(|m| m.to_string())),
                ("since", since),
                ("limit", limit.map(|l| l.to_string())),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            list(api, out, &EVENTS, &query).await
        }
        EventsCommand::Get { id } => get(api, out, &EVENTS, &id).await,
        EventsCommand::Explain { id } => {
            let id = resolve(api, &EVENTS, &id).await?;
            let answer = api.get(&format!("/events/{id}/explain")).await?;
            if out == Output::Json {
                print_json(&answer);
                return Ok(());
            }
            println!("{}", answer["summary"].as_str().unwrap_or_default());
            out.list(
                &json!({"items": answer["rules"]}),
                &[
                    ("RULE", "/name"),
                    ("SELECTED", "/selected"),
                    ("REASON", "/reason"),
                ],
            );
            out.list(
                &json!({"items": answer["notifications"]}),
                &[
                    ("NOTIFIER", "/notifier_name"),
                    ("STATUS", "/status"),
                    ("REASON", "/reason"),
                    ("LAST ERROR", "/last_error"),
                ],
            );
            Ok(())
        }
    }
}

// ----------------------------------------------------------------- failures

#[derive(Subcommand)]
pub enum FailuresCommand {
    /// The error table (default: pending, replaying and dead).
    List(FailureFilter),
    /// One failure with its error and replay history.
    Get { id: String },
    /// Replays failures now: the ids given, or `--all` those the filters select.
    Replay(FailureSelection),
    /// Gives up on failures: the ids given, or `--all` those the filters select.
    Discard(FailureSelection),
}

#[derive(Args)]
pub struct FailureFilter {
    /// pending, replaying, resolved, dead or discarded.
    #[arg(long)]
    status: Option<String>,
    /// A notifier's name or id.
    #[arg(long)]
    notifier: Option<String>,
    #[arg(long)]
    limit: Option<u32>,
}

#[derive(Args)]
pub struct FailureSelection {
    ids: Vec<String>,
    /// Every failure the filters select (default: the open ones).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    #[command(flatten)]
    filter: FailureFilter,
}

impl FailureFilter {
    async fn query(&self, api: &Api) -> Result<Vec<(&'static str, String)>, CliError> {
        let mut query = Vec::new();
        if let Some(status) = &self.status {
            query.push(("status", status.clone()));
        }
        if let Some(notifier) = &self.notifier {
            query.push(("notifier_id", resolve(api, &NOTIFIERS, notifier).await?));
        }
        if let Some(limit) = self.limit {
            query.push(("limit", limit.to_string()));
        }
        Ok(query)
    }
}

pub async fn failures(api: &Api, out: Output, command: FailuresCommand) -> anyhow::Result<()> {
    match command {
        FailuresCommand::List(filter) => {
            let query = filter.query(api).await?;
            list(api, out, &FAILURES, &query).await
        }
        FailuresCommand::Get { id } => get(api, out, &FAILURES, &id).await,
        FailuresCommand::Replay(selection) => each_failure(api, out, selection, "replay").await,
        FailuresCommand::Discard(selection) => each_failure(api, out, selection, "discard").await,
    }
}

/// Replays or discards each selected failure, one request each, with a
/// progress bar on a terminal; goes on past one that fails and says so.
async fn each_failure(
    api: &Api,
    out: Output,
    selection: FailureSelection,
    action: &str,
) -> anyhow::Result<()> {
    let ids = selected(api, &selection).await?;
    let bar = progress(ids.len() as u64, action);
    let mut results = Vec::new();
    let mut refused = Vec::new();
    for id in &ids {
        match api
            .post(&format!("/failures/{id}/{action}"), &json!({}))
            .await
        {
            Ok(answer) => results.push(json!({"id": id, "ok": true, "answer": answer})),
            Err(e @ (CliError::Connect { .. } | CliError::Auth { .. })) => {
                bar.abandon();
                return Err(e.into());
            }
            Err(e) => {
                bar.suspend(|| eprintln!("{id}: {e}"));
                results.push(json!({"id": id, "ok": false, "error": e.to_string()}));
                refused.push(e);
            }
        }
        bar.inc(1);
    }
    // Left drawn: the last state of the bar is the summary a person reads.
    bar.finish();
    let done = ids.len() - refused.len();
    out.done(
        &json!({"items": results}),
        &format!("{action}: {done} of {} failures", ids.len()),
    );
    match refused.into_iter().next() {
        Some(first) if done < ids.len() => Err(anyhow::Error::new(first).context(format!(
            "{} of {} could not {action}",
            ids.len() - done,
            ids.len()
        ))),
        _ => Ok(()),
    }
}

async fn selected(api: &Api, selection: &FailureSelection) -> Result<Vec<String>, CliError> {
    if !selection.all {
        if selection.ids.is_empty() {
            return Err(CliError::usage("name the failures' ids, or pass --all"));
        }
        return Ok(selection.ids.clone());
    }
    let query = selection.filter.query(api).await?;
    let items = api.all_items("/failures", &query).await?;
    Ok(items
        .iter()
        // A failure being replayed already has its round.
        .filter(|f| f["status"] != "replaying")
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect())
}

/// A bar on stderr, drawn only when stderr is a terminal.
fn progress(len: u64, action: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    bar.set_message(action.to_owned());
    bar
}

// ----------------------------------------------------------------- silences

#[derive(Subcommand)]
pub enum SilencesCommand {
    /// Silences, newest first, expired ones included unless `--state` says otherwise.
    List {
        /// pending, active or expired.
        #[arg(long)]
        state: Option<String>,
    },
    /// One silence.
    Get { id: String },
    /// Holds back the matching events until `--ends-at` (or for `--for`).
    Create(Box<SilenceFields>),
    /// Ends a silence now; it is kept for the record.
    Expire { id: String },
}

#[derive(Args)]
pub struct SilenceFields {
    /// The whole body as JSON, from a file or `-` for stdin.
    #[arg(long)]
    json: Option<String>,
    #[command(flatten)]
    matchers: MatchFields,
    /// RFC 3339; default now.
    #[arg(long)]
    starts_at: Option<String>,
    /// RFC 3339.
    #[arg(long, conflicts_with = "duration")]
    ends_at: Option<String>,
    /// How long from now, e.g. `2h`.
    #[arg(long = "for")]
    duration: Option<herald_model::Span>,
    /// Optional: what `apply` and the other commands know it by.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    comment: Option<String>,
}

/// What silences and monitors match events on.
#[derive(Args)]
pub struct MatchFields {
    #[arg(long)]
    source: Option<String>,
    /// A scope prefix.
    #[arg(long)]
    scope: Option<String>,
    #[arg(long)]
    category: Option<String>,
    #[arg(long)]
    severity: Option<String>,
    #[arg(long)]
    kind: Option<String>,
    /// key=value; repeat for more.
    #[arg(long = "label", value_parser = parse_label)]
    labels: Vec<(String, String)>,
}

impl MatchFields {
    fn into_map(self) -> Option<Map<String, Value>> {
        let mut map = Map::new();
        set(&mut map, "source", self.source);
        set(&mut map, "scope", self.scope);
        set(&mut map, "category", self.category);
        set(&mut map, "severity", self.severity);
        set(&mut map, "kind", self.kind);
        set_labels(&mut map, "labels", &self.labels);
        (!map.is_empty()).then_some(map)
    }
}

pub async fn silences(api: &Api, out: Output, command: SilencesCommand) -> anyhow::Result<()> {
    match command {
        SilencesCommand::List { state } => {
            let query: Vec<(&str, String)> = state.map(|s| ("state", s)).into_iter().collect();
            list(api, out, &SILENCES, &query).await
        }
        SilencesCommand::Get { id } => get(api, out, &SILENCES, &id).await,
        SilencesCommand::Create(fields) => {
            let fields = *fields;
            let mut map = body(fields.json.as_deref(), json!({}))?;
            set(
                &mut map,
                "matchers",
                fields.matchers.into_map().map(Value::Object),
            );
            set(&mut map, "starts_at", fields.starts_at);
            let ends_at = match fields.duration {
                Some(span) => Some(rfc3339(time::OffsetDateTime::now_utc() + span.get())?),
                None => fields.ends_at,
            };
            set(&mut map, "ends_at", ends_at);
            set(&mut map, "name", fields.name);
            set(&mut map, "comment", fields.comment);
            create(api, out, &SILENCES, map).await
        }
        SilencesCommand::Expire { id } => delete(api, out, &SILENCES, &id, "expired").await,
    }
}

fn rfc3339(at: time::OffsetDateTime) -> Result<String, CliError> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| CliError::usage(format!("--for: {e}")))
}

// ----------------------------------------------------------------- monitors

#[derive(Subcommand)]
pub enum MonitorsCommand {
    /// Lists the monitors.
    List,
    /// Shows one monitor.
    Get { monitor: String },
    /// Creates a monitor.
    Create(MonitorFields),
    /// Changes the fields given.
    Update {
        monitor: String,
        #[command(flatten)]
        fields: MonitorFields,
    },
    /// Deletes a monitor.
    Delete { monitor: String },
}

#[derive(Args)]
pub struct MonitorFields {
    /// The whole body as JSON, from a file or `-` for stdin.
    #[arg(long)]
    json: Option<String>,
    #[arg(long)]
    name: Option<String>,
    /// How long nothing matching may arrive, e.g. `30m`.
    #[arg(long)]
    silent_for: Option<String>,
    #[command(flatten)]
    matchers: MatchFields,
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    #[arg(long)]
    enable: bool,
}

impl MonitorFields {
    fn overlay(self) -> impl FnOnce(&mut Map<String, Value>) {
        move |map: &mut Map<String, Value>| {
            set(map, "name", self.name);
            set(map, "silent_for", self.silent_for);
            set(map, "match", self.matchers.into_map().map(Value::Object));
            let enabled = match (self.enable, self.disable) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            set(map, "enabled", enabled);
        }
    }
}

pub async fn monitors(api: &Api, out: Output, command: MonitorsCommand) -> anyhow::Result<()> {
    match command {
        MonitorsCommand::List => list(api, out, &MONITORS, &[]).await,
        MonitorsCommand::Get { monitor } => get(api, out, &MONITORS, &monitor).await,
        MonitorsCommand::Create(fields) => {
            let mut map = body(fields.json.as_deref(), json!({}))?;
            fields.overlay()(&mut map);
            create(api, out, &MONITORS, map).await
        }
        MonitorsCommand::Update { monitor, fields } => {
            let json = fields.json.clone();
            update(
                api,
                out,
                &MONITORS,
                &monitor,
                json.as_deref(),
                fields.overlay(),
            )
            .await
        }
        MonitorsCommand::Delete { monitor } => {
            delete(api, out, &MONITORS, &monitor, "deleted").await
        }
    }
}

// ------------------------------------------------------------------- tokens

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Lists the tokens (never the tokens themselves).
    List,
    /// Makes a token and prints it; it is shown this once.
    Create {
        #[arg(long)]
        name: String,
        /// admin, publisher or viewer.
        #[arg(long)]
        role: String,
        /// RFC 3339; forever when absent.
        #[arg(long)]
        expires_at: Option<String>,
    },
    /// Revokes a token (name or id).
    Revoke { token: String },
}

pub async fn tokens(api: &Api, out: Output, command: TokensCommand) -> anyhow::Result<()> {
    match command {
        TokensCommand::List => list(api, out, &TOKENS, &[]).await,
        TokensCommand::Create {
            name,
            role,
            expires_at,
        } => {
            let mut map = Map::new();
            map.insert("name".into(), json!(name));
            map.insert("role".into(), json!(role));
            set(&mut map, "expires_at", expires_at);
            let answer = api.post("/tokens", &Value::Object(map)).await?;
            out.done(&answer, answer["token"].as_str().unwrap_or_default());
            Ok(())
        }
        TokensCommand::Revoke { token } => delete(api, out, &TOKENS, &token, "revoked").await,
    }
}

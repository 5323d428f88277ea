//! Configuration as code: `herald apply -f herald.yaml` makes the notifiers,
//! rules, monitors and silences what the file declares, by name (silences
//! without a name are left alone); `herald export` writes the configuration as such a file.
//!
//! The file names notifiers, not ids: rules list their notifiers' names and a
//! notifier its `fallback`'s. Secrets are never in the file: each is a
//! `${VAR}` reference, expanded from the environment when applying, and
//! `export` writes every secret field (the channel schemas' `secret_fields`)
//! as one.
//!
//! The API masks secrets in its answers, so `apply` cannot tell whether a
//! secret changed: it compares everything else, and a secret by its mask (a
//! URL's origin, when the mask shows it). A notifier is written, secrets
//! included, when it is created, when anything it shows differs, or with
//! `--force-secrets`; a rotated token alone is pushed with that flag. This
//! keeps a second apply of the same file a no-op.
//!
//! What it does not do: inhibitions and tokens are not declared here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use clap::Args;
use herald_model::secret::{MASK, Mask, mask};
use serde_json::{Map, Value, json};

use super::client::Api;
use super::error::CliError;
use super::output::{Output, print_json};
use super::resources::{Kind, MONITORS, NOTIFIERS, RULES, SILENCES};

#[derive(Args)]
pub struct ApplyArgs {
    /// The YAML file (`-` for stdin).
    #[arg(long, short = 'f')]
    file: PathBuf,
    /// Also deletes what the file no longer declares (silences are expired).
    #[arg(long)]
    prune: bool,
    /// Prints what would change and changes nothing.
    #[arg(long)]
    dry_run: bool,
    /// Writes every notifier that has secrets, so rotated secrets reach Herald.
    #[arg(long)]
    force_secrets: bool,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Where to write; stdout when absent.
    #[arg(long, short = 'f')]
    file: Option<PathBuf>,
}

/// The kinds of object a file declares, in the order they are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Notifiers,
    Rules,
    Monitors,
    Silences,
}

impl Section {
    const ALL: [Section; 4] = [
        Section::Notifiers,
        Section::Rules,
        Section::Monitors,
        Section::Silences,
    ];

    fn key(self) -> &'static str {
        match self {
            Section::Notifiers => "notifiers",
            Section::Rules => "rules",
            Section::Monitors => "monitors",
            Section::Silences => "silences",
        }
    }

    fn api(self) -> &'static Kind {
        match self {
            Section::Notifiers => &NOTIFIERS,
            Section::Rules => &RULES,
            Section::Monitors => &MONITORS,
            Section::Silences => &SILENCES,
        }
    }

    /// Fields the API answers but a file does not write.
    fn computed(self) -> &'static [&'static str] {
        &[
            "id",
            "created_at",
            "updated_at",
            "state",
            "last_seen_at",
            "raised_at",
        ]
    }

    /// Fields the server fills in when a file leaves them out: their absence
    /// is not a difference.
    fn server_defaults(self) -> &'static [&'static str] {
        match self {
            Section::Silences => &["starts_at", "created_by"],
            _ => &[],
        }
    }
}

/// A configuration as a file declares it: each section's objects by name.
type Declared = BTreeMap<Section, BTreeMap<String, Value>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Update,
    Delete,
}

/// One change `apply` makes.
#[derive(Debug)]
struct Change {
    section: Section,
    action: Action,
    name: String,
    /// The object's id, for updates and deletes.
    id: Option<String>,
    /// The fields that differ, for updates.
    fields: Vec<String>,
    /// The object as the file declares it (secrets expanded).
    wanted: Option<Value>,
}

impl Change {
    fn describe(&self) -> String {
        let verb = match self.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete if self.section == Section::Silences => "expire",
            Action::Delete => "delete",
        };
        let noun = self.section.api().noun;
        match self.action {
            Action::Update => format!("{verb} {noun} `{}`: {}", self.name, self.fields.join(", ")),
            _ => format!("{verb} {noun} `{}`", self.name),
        }
    }

    fn as_json(&self) -> Value {
        json!({
            "action": format!("{:?}", self.action).to_lowercase(),
            "object": self.section.api().noun,
            "name": self.name,
            "id": self.id,
            "fields": self.fields,
        })
    }
}

pub async fn apply(api: &Api, out: Output, args: ApplyArgs) -> anyhow::Result<()> {
    let text = read_file(&args.file)?;
    let shown = args.file.display().to_string();
    let secrets = secret_fields(api).await?;
    let declared = parse(&text, &shown, &secrets)?;
    let current = Current::read(api).await?;
    let changes = plan(&declared, &current, &secrets, &args)?;
    if !args.dry_run {
        execute(api, &changes, &current).await?;
    }
    report(out, &changes, args.dry_run);
    Ok(())
}

pub async fn export(api: &Api, args: ExportArgs) -> anyhow::Result<()> {
    let secrets = secret_fields(api).await?;
    let current = Current::read(api).await?;
    let mut file = Map::new();
    let mut variables = Vec::new();
    for section in Section::ALL {
        let items: Vec<Value> = current.declared[&section]
            .values()
            .map(|object| {
                let mut object = tidy(object.clone());
                if section == Section::Notifiers {
                    variables.extend(references(&mut object, &secrets));
                }
                object
            })
            .collect();
        if !items.is_empty() {
            file.insert(section.key().to_owned(), Value::Array(items));
        }
    }
    let mut yaml =
        String::from("# Written by `herald export`; apply with `herald apply -f <file>`.\n");
    if !variables.is_empty() {
        yaml.push_str("# Secrets are read from these environment variables when applying:\n");
        for variable in &variables {
            yaml.push_str(&format!("#   {variable}\n"));
        }
    }
    yaml.push_str(&serde_yaml_ng::to_string(&Value::Object(file))?);
    match &args.file {
        Some(path) => std::fs::write(path, yaml)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?,
        None => print!("{yaml}"),
    }
    Ok(())
}

fn read_file(path: &PathBuf) -> Result<String, CliError> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|e| CliError::usage(format!("stdin: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

/// Each channel kind's secret fields (`url`, `headers.*`), from `GET /channels`.
type Secrets = HashMap<String, Vec<String>>;

async fn secret_fields(api: &Api) -> Result<Secrets, CliError> {
    let channels = api.get("/channels").await?;
    Ok(channels["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let kind = c["kind"].as_str().unwrap_or_default().to_owned();
            let fields = c["secret_fields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect();
            (kind, fields)
        })
        .collect())
}

/// The concrete places of a kind's secrets in `config` that hold text:
/// `headers.*` becomes `headers.X-Token`, … .
fn secret_places(config: &Value, patterns: &[String]) -> Vec<Vec<String>> {
    fn walk(value: &Value, pattern: &[&str], at: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        let Some((first, rest)) = pattern.split_first() else {
            if value.is_string() {
                found.push(at.clone());
            }
            return;
        };
        let Some(map) = value.as_object() else { return };
        for (key, child) in map {
            if *first == "*" || first == key {
                at.push(key.clone());
                walk(child, rest, at, found);
                at.pop();
            }
        }
    }
    let mut found = Vec::new();
    for pattern in patterns {
        let parts: Vec<&str> = pattern.split('.').collect();
        walk(config, &parts, &mut Vec::new(), &mut found);
    }
    found
}

fn at_mut<'a>(value: &'a mut Value, place: &[String]) -> Option<&'a mut Value> {
    place.iter().try_fold(value, |v, key| v.get_mut(key))
}

fn at<'a>(value: &'a Value, place: &[String]) -> Option<&'a Value> {
    place.iter().try_fold(value, |v, key| v.get(key))
}

// ------------------------------------------------------------- the file

/// Reads a file: sections of objects, each named once, secrets as
/// references, references expanded.
fn parse(text: &str, shown: &str, secrets: &Secrets) -> Result<Declared, CliError> {
    let document: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| CliError::usage(format!("{shown}: not a configuration file: {e}")))?;
    let Value::Object(mut top) = (match document {
        Value::Null => Value::Object(Map::new()),
        other => other,
    }) else {
        return Err(CliError::usage(format!(
            "{shown}: must be a mapping of notifiers, rules, monitors and silences"
        )));
    };
    let mut declared = Declared::new();
    for section in Section::ALL {
        let items = match top.remove(section.key()) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(CliError::usage(format!(
                    "{shown}: `{}` must be a list",
                    section.key()
                )));
            }
        };
        declared.insert(section, named(section, items, shown)?);
    }
    if let Some(unknown) = top.keys().next() {
        return Err(CliError::usage(format!(
            "{shown}: unknown section `{unknown}` (expected notifiers, rules, monitors, silences)"
        )));
    }
    for (name, notifier) in declared.get_mut(&Section::Notifiers).into_iter().flatten() {
        let at = format!("{shown}: notifier `{name}`");
        refuse_literal_secrets(notifier, secrets, &at)?;
    }
    for (section, objects) in &mut declared {
        for (name, object) in objects.iter_mut() {
            let at = format!("{shown}: {} `{name}`", section.api().noun);
            expand(object, &at)?;
        }
    }
    Ok(declared)
}

fn named(
    section: Section,
    items: Vec<Value>,
    shown: &str,
) -> Result<BTreeMap<String, Value>, CliError> {
    let field = "name";
    let mut objects = BTreeMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("{shown}: {}[{i}]", section.key());
        let name = item
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{at}: `{field}` is required (objects are declared by it)"
                ))
            })?
            .to_owned();
        if !item.is_object() {
            return Err(CliError::usage(format!("{at}: must be a mapping")));
        }
        if objects.insert(name.clone(), item).is_some() {
            return Err(CliError::usage(format!("{at}: `{name}` is declared twice")));
        }
    }
    Ok(objects)
}

/// A secret written in the file itself would end up in version control.
fn refuse_literal_secrets(notifier: &Value, secrets: &Secrets, at: &str) -> Result<(), CliError> {
    let kind = notifier["kind"].as_str().unwrap_or_default();
    let patterns = secrets.get(kind).map_or(&[][..], Vec::as_slice);
    for place in secret_places(&notifier["config"], patterns) {
        let value = at_value_str(&notifier["config"], &place);
        if !value.contains("${") {
            return Err(CliError::usage(format!(
                "{at}: config.{} is a secret: write it as a ${{VARIABLE}} reference, not in the file",
                place.join(".")
            )));
        }
    }
    Ok(())
}

fn at_value_str<'a>(value: &'a Value, place: &[String]) -> &'a str {
    at(value, place).and_then(Value::as_str).unwrap_or_default()
}

/// Replaces every `${VAR}` in the object's strings by the variable's value;
/// `$${` writes a literal `${`.
fn expand(value: &mut Value, at: &str) -> Result<(), CliError> {
    match value {
        Value::String(text) if text.contains('$') => *text = expand_text(text, at)?,
        Value::Array(items) => items.iter_mut().try_for_each(|v| expand(v, at))?,
        Value::Object(map) => map.values_mut().try_for_each(|v| expand(v, at))?,
        _ => {}
    }
    Ok(())
}

fn expand_text(text: &str, at: &str) -> Result<String, CliError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(literal) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(reference) = after.strip_prefix("${") {
            let end = reference
                .find('}')
                .ok_or_else(|| CliError::usage(format!("{at}: `${{` without its `}}`")))?;
            let name = &reference[..end];
            let value = std::env::var(name).map_err(|_| {
                CliError::usage(format!("{at}: environment variable `{name}` is not set"))
            })?;
            out.push_str(&value);
            rest = &reference[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

// ------------------------------------------------------ what Herald has

/// The configuration Herald has, in the file's form, with ids by name.
struct Current {
    declared: Declared,
    ids: BTreeMap<Section, BTreeMap<String, String>>,
    /// Notifier names by id, to write references by name.
    notifier_names: HashMap<String, String>,
    /// Silences that have ended: matched by a declaration, never expired again.
    expired: BTreeSet<String>,
}

impl Current {
    async fn read(api: &Api) -> Result<Current, CliError> {
        let mut raw = BTreeMap::new();
        for section in Section::ALL {
            raw.insert(section, api.all_items(section.api().path, &[]).await?);
        }
        let notifier_names: HashMap<String, String> = raw[&Section::Notifiers]
            .iter()
            .map(|n| (id_of(n), n["name"].as_str().unwrap_or_default().to_owned()))
            .collect();
        let mut current = Current {
            declared: Declared::new(),
            ids: BTreeMap::new(),
            notifier_names,
            expired: BTreeSet::new(),
        };
        for (section, items) in raw {
            let mut objects = BTreeMap::new();
            let mut ids = BTreeMap::new();
            // Lists come newest first: the newest silence of a name is the one.
            // An object without a name (a silence made by hand) is not the
            // file's to manage.
            for item in items {
                let name = item["name"].as_str().unwrap_or_default().to_owned();
                if name.is_empty() || objects.contains_key(&name) {
                    continue;
                }
                if section == Section::Silences && item["state"] == "expired" {
                    current.expired.insert(name.clone());
                }
                ids.insert(name.clone(), id_of(&item));
                objects.insert(name, current.file_form(section, item));
            }
            current.declared.insert(section, objects);
            current.ids.insert(section, ids);
        }
        Ok(current)
    }

    /// An answer of the API as a file would declare it: no computed fields,
    /// notifiers named instead of given by id.
    fn file_form(&self, section: Section, mut object: Value) -> Value {
        let Some(map) = object.as_object_mut() else {
            return object;
        };
        for key in section.computed() {
            map.remove(*key);
        }
        let name_of = |id: &Value| {
            let id = id.as_str().unwrap_or_default();
            json!(
                self.notifier_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_owned())
            )
        };
        match section {
            Section::Notifiers => {
                if let Some(fallback) = map.get_mut("fallback").filter(|f| !f.is_null()) {
                    *fallback = name_of(fallback);
                }
            }
            Section::Rules => {
                if let Some(Value::Array(ids)) = map.get_mut("notifiers") {
                    *ids = ids.iter().map(name_of).collect();
                }
            }
            _ => {}
        }
        object
    }
}

fn id_of(object: &Value) -> String {
    object["id"].as_str().unwrap_or_default().to_owned()
}

// ---------------------------------------------------------- the changes

fn plan(
    declared: &Declared,
    current: &Current,
    secrets: &Secrets,
    args: &ApplyArgs,
) -> Result<Vec<Change>, CliError> {
    check_references(declared, current)?;
    let mut changes = Vec::new();
    for section in Section::ALL {
        let have = &current.declared[&section];
        for (name, wanted) in &declared[&section] {
            let Some(existing) = have.get(name) else {
                changes.push(Change {
                    section,
                    action: Action::Create,
                    name: name.clone(),
                    id: None,
                    fields: Vec::new(),
                    wanted: Some(wanted.clone()),
                });
                continue;
            };
            let mut fields = differences(section, wanted, existing, secrets);
            let has_secrets = section == Section::Notifiers && {
                let kind = wanted["kind"].as_str().unwrap_or_default();
                let patterns = secrets.get(kind).map_or(&[][..], Vec::as_slice);
                !secret_places(&wanted["config"], patterns).is_empty()
            };
            if args.force_secrets && has_secrets && fields.is_empty() {
                fields.push("secrets (--force-secrets)".to_owned());
            }
            if !fields.is_empty() {
                changes.push(Change {
                    section,
                    action: Action::Update,
                    name: name.clone(),
                    id: current.ids[&section].get(name).cloned(),
                    fields,
                    wanted: Some(wanted.clone()),
                });
            }
        }
    }
    if args.prune {
        // Rules go before the notifiers they send to, which are otherwise kept.
        for section in [
            Section::Rules,
            Section::Monitors,
            Section::Silences,
            Section::Notifiers,
        ] {
            for (name, id) in &current.ids[&section] {
                let gone = !declared[&section].contains_key(name);
                if gone && !(section == Section::Silences && current.expired.contains(name)) {
                    changes.push(Change {
                        section,
                        action: Action::Delete,
                        name: name.clone(),
                        id: Some(id.clone()),
                        fields: Vec::new(),
                        wanted: None,
                    });
                }
            }
        }
    }
    Ok(changes)
}

/// Every notifier a rule or a fallback names is declared or exists.
fn check_references(declared: &Declared, current: &Current) -> Result<(), CliError> {
    let known = |name: &str| {
        declared[&Section::Notifiers].contains_key(name)
            || current.declared[&Section::Notifiers].contains_key(name)
    };
    for (rule, spec) in &declared[&Section::Rules] {
        for name in spec["notifiers"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !known(name) {
                return Err(CliError::usage(format!(
                    "rule `{rule}`: notifiers: no notifier named `{name}` is declared or exists"
                )));
            }
        }
    }
    for (notifier, spec) in &declared[&Section::Notifiers] {
        if let Some(name) = spec["fallback"].as_str()
            && !known(name)
        {
            return Err(CliError::usage(format!(
                "notifier `{notifier}`: fallback: no notifier named `{name}` is declared or exists"
            )));
        }
    }
    Ok(())
}

/// The fields of `wanted` that `existing` does not have, as dotted paths. A
/// field the file leaves out matches the API's default for it; a secret
/// matches its mask.
fn differences(
    section: Section,
    wanted: &Value,
    existing: &Value,
    secrets: &Secrets,
) -> Vec<String> {
    let mut wanted = wanted.clone();
    if section == Section::Rules {
        sort_names(&mut wanted);
    }
    let mut existing = existing.clone();
    if section == Section::Rules {
        sort_names(&mut existing);
    }
    if section == Section::Notifiers {
        let kind = wanted["kind"].as_str().unwrap_or_default();
        let patterns = secrets.get(kind).map_or(&[][..], Vec::as_slice);
        for place in secret_places(&wanted["config"], patterns) {
            let shown = at(&existing["config"], &place)
                .and_then(Value::as_str)
                .map(str::to_owned);
            let value = at_mut(&mut wanted["config"], &place).expect("the place was found in it");
            let secret = value.as_str().unwrap_or_default();
            // What the API would show for this secret, if it is the one stored.
            if let Some(shown) = shown
                && (shown == MASK || shown == mask(secret, Mask::Origin))
            {
                *value = Value::String(shown);
            }
        }
    }
    let mut found = Vec::new();
    compare(
        &wanted,
        &existing,
        section.server_defaults(),
        &mut Vec::new(),
        &mut found,
    );
    found
}

fn sort_names(rule: &mut Value) {
    if let Some(Value::Array(names)) = rule.get_mut("notifiers") {
        names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

fn compare(
    wanted: &Value,
    existing: &Value,
    server_defaults: &[&str],
    at: &mut Vec<String>,
    found: &mut Vec<String>,
) {
    match (wanted, existing) {
        (Value::Object(w), Value::Object(e)) => {
            let keys: BTreeSet<&String> = w.keys().chain(e.keys()).collect();
            for key in keys {
                at.push(key.clone());
                match (w.get(key), e.get(key)) {
                    (Some(w), Some(e)) => compare(w, e, &[], at, found),
                    (None, Some(e))
                        if is_default(key, e) || server_defaults.contains(&key.as_str()) => {}
                    (Some(w), None) if is_default(key, w) => {}
                    _ => found.push(at.join(".")),
                }
                at.pop();
            }
        }
        (w, e) if same(w, e) => {}
        _ => found.push(at.join(".")),
    }
}

/// Equal values, or the same instant or duration written two ways.
fn same(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let (Some(a), Some(b)) = (a.as_str(), b.as_str()) else {
        return false;
    };
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    if let (Ok(a), Ok(b)) = (
        time::OffsetDateTime::parse(a, rfc3339),
        time::OffsetDateTime::parse(b, rfc3339),
    ) {
        return a == b;
    }
    match (
        a.parse::<herald_model::Span>(),
        b.parse::<herald_model::Span>(),
    ) {
        (Ok(a), Ok(b)) => a.get() == b.get(),
        _ => false,
    }
}

/// What the API answers for a field nobody set.
fn is_default(key: &str, value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(|v| is_default("", v)),
        Value::Bool(b) => *b == matches!(key, "enabled" | "send_resolved"),
        Value::Number(_) => false,
    }
}

// ------------------------------------------------------------ doing it

async fn execute(api: &Api, changes: &[Change], current: &Current) -> Result<(), CliError> {
    let mut notifier_ids = current.ids[&Section::Notifiers].clone();
    // Notifiers first, a fallback before who falls back to it.
    for change in ordered_notifiers(changes) {
        let body = api_form(change, &notifier_ids)?;
        let written = write(api, change, &body).await?;
        notifier_ids.insert(change.name.clone(), id_of(&written));
    }
    for change in changes
        .iter()
        .filter(|c| c.section != Section::Notifiers || c.action == Action::Delete)
    {
        match change.action {
            Action::Delete => {
                let id = change.id.as_deref().unwrap_or_default();
                api.delete(&format!("{}/{id}", change.section.api().path))
                    .await
                    .map_err(|e| context(e, change))?;
            }
            _ => {
                let body = api_form(change, &notifier_ids)?;
                write(api, change, &body).await?;
            }
        }
    }
    Ok(())
}

fn ordered_notifiers(changes: &[Change]) -> Vec<&Change> {
    let mut pending: Vec<&Change> = changes
        .iter()
        .filter(|c| c.section == Section::Notifiers && c.action != Action::Delete)
        .collect();
    let mut ordered = Vec::new();
    while !pending.is_empty() {
        let waiting: BTreeSet<&str> = pending.iter().map(|c| c.name.as_str()).collect();
        let (ready, rest): (Vec<&Change>, Vec<&Change>) = pending.into_iter().partition(|c| {
            let fallback = c.wanted.as_ref().and_then(|w| w["fallback"].as_str());
            fallback.is_none_or(|f| !waiting.contains(f) || f == c.name)
        });
        if ready.is_empty() {
            // A cycle of fallbacks: let the API say what it makes of it.
            ordered.extend(rest);
            break;
        }
        ordered.extend(ready);
        pending = rest;
    }
    ordered
}

/// The body the API takes: notifiers given by id.
fn api_form(change: &Change, notifier_ids: &BTreeMap<String, String>) -> Result<Value, CliError> {
    let mut body = change.wanted.clone().unwrap_or(Value::Null);
    let id_of = |name: &Value| -> Result<Value, CliError> {
        let name = name.as_str().unwrap_or_default();
        notifier_ids.get(name).map(|id| json!(id)).ok_or_else(|| {
            CliError::usage(format!("{}: no notifier named `{name}`", change.describe()))
        })
    };
    match change.section {
        Section::Notifiers => {
            if let Some(fallback) = body.get_mut("fallback").filter(|f| f.is_string()) {
                *fallback = id_of(fallback)?;
            }
        }
        Section::Rules => {
            if let Some(Value::Array(names)) = body.get_mut("notifiers") {
                *names = names.iter().map(id_of).collect::<Result<_, _>>()?;
            }
        }
        _ => {}
    }
    Ok(body)
}

async fn write(api: &Api, change: &Change, body: &Value) -> Result<Value, CliError> {
    let path = change.section.api().path;
    let written = match (change.action, &change.id) {
        (Action::Update, Some(id)) => api.put(&format!("{path}/{id}"), body).await,
        _ => api.post(path, body).await,
    };
    written.map_err(|e| context(e, change))
}

/// The API's refusal, naming the object it was about.
fn context(error: CliError, change: &Change) -> CliError {
    let about = change.describe();
    match error {
        CliError::Api { status, message } => CliError::Api {
            status,
            message: format!("{about}: {message}"),
        },
        CliError::NotFound(message) => CliError::NotFound(format!("{about}: {message}")),
        other => other,
    }
}

fn report(out: Output, changes: &[Change], dry_run: bool) {
    if out == Output::Json {
        print_json(&json!({
            "dry_run": dry_run,
            "changes": changes.iter().map(Change::as_json).collect::<Vec<_>>(),
        }));
        return;
    }
    if changes.is_empty() {
        println!("no changes");
        return;
    }
    for change in changes {
        println!("{}", change.describe());
    }
    let count = |action| changes.iter().filter(|c| c.action == action).count();
    let tense = if dry_run { "would be" } else { "were" };
    println!(
        "{} {tense} created, {} updated, {} deleted{}",
        count(Action::Create),
        count(Action::Update),
        count(Action::Delete),
        if dry_run {
            " (dry run: nothing changed)"
        } else {
            ""
        }
    );
}

// -------------------------------------------------------------- export

/// Leaves out what a file need not say: empty values and defaults.
fn tidy(mut object: Value) -> Value {
    if let Value::Object(map) = &mut object {
        map.retain(|key, value| {
            !is_default(key, value)
                || value.is_boolean() && key != "enabled" && key != "send_resolved"
        });
        for value in map.values_mut() {
            if value.is_object() {
                *value = tidy(value.take());
            }
        }
    }
    object
}

/// Writes each secret of a notifier as a `${VAR}` reference; returns the variables.
fn references(notifier: &mut Value, secrets: &Secrets) -> Vec<String> {
    let kind = notifier["kind"].as_str().unwrap_or_default().to_owned();
    let name = notifier["name"].as_str().unwrap_or_default().to_owned();
    let patterns = secrets.get(&kind).map_or(&[][..], Vec::as_slice);
    let mut variables = Vec::new();
    for place in secret_places(&notifier["config"], patterns) {
        let variable = variable_name(&name, &place);
        if let Some(value) = at_mut(&mut notifier["config"], &place) {
            *value = Value::String(format!("${{{variable}}}"));
        }
        variables.push(variable);
    }
    variables
}

/// `ops-hook` and `headers.X-Token` → `OPS_HOOK_HEADERS_X_TOKEN`.
fn variable_name(notifier: &str, place: &[String]) -> String {
    let raw = std::iter::once(notifier)
        .chain(place.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("_");
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_expand_and_a_missing_variable_is_named() {
        // SAFETY-free: set_var is safe on edition 2021; tests own this name.
        let name = "HERALD_APPLY_TEST_EXPAND";
        assert_eq!(expand_text("a $${b} $c", "x").unwrap(), "a ${b} $c");
        let err =
            expand_text(&format!("${{{name}_MISSING}}"), "herald.yaml: notifier `n`").unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("`{name}_MISSING` is not set")),
            "{err}"
        );
    }

    #[test]
    fn secret_places_follow_wildcards() {
        let config = json!({"url": "u", "headers": {"A": "1", "B": "2"}, "timeout": "5s"});
        let places = secret_places(&config, &["url".into(), "headers.*".into()]);
        assert_eq!(places.len(), 3);
        assert!(places.contains(&vec!["headers".to_owned(), "B".to_owned()]));
    }

    #[test]
    fn left_out_fields_match_their_defaults_and_times_their_instants() {
        let wanted =
            json!({"name": "r", "notifiers": ["b", "a"], "ends_at": "2030-01-01T01:00:00+01:00"});
        let existing = json!({"name": "r", "enabled": true, "categories": [], "notifiers": ["a", "b"],
                              "ends_at": "2030-01-01T00:00:00Z", "scope": ""});
        assert!(differences(Section::Rules, &wanted, &existing, &Secrets::new()).is_empty());
        let disabled = json!({"name": "r", "enabled": false, "notifiers": ["a", "b"], "ends_at": "2030-01-01T00:00:00Z"});
        assert_eq!(
            differences(Section::Rules, &wanted, &disabled, &Secrets::new()),
            vec!["enabled"]
        );
    }

    #[test]
    fn a_secret_matches_its_mask_and_a_new_origin_does_not() {
        let secrets: Secrets = [("webhook".to_owned(), vec!["url".to_owned()])].into();
        let stored = json!({"name": "h", "kind": "webhook", "config": {"url": "https://a.example/********"}});
        let same = json!({"name": "h", "kind": "webhook", "config": {"url": "https://a.example/T/secret"}});
        let moved = json!({"name": "h", "kind": "webhook", "config": {"url": "https://b.example/T/secret"}});
        assert!(differences(Section::Notifiers, &same, &stored, &secrets).is_empty());
        assert_eq!(
            differences(Section::Notifiers, &moved, &stored, &secrets),
            vec!["config.url"]
        );
    }

    #[test]
    fn variable_names_are_shell_names() {
        assert_eq!(
            variable_name("ops-hook", &["headers".into(), "X-Token".into()]),
            "OPS_HOOK_HEADERS_X_TOKEN"
        );
    }
}

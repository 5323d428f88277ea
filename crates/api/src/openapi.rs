//! The API described as OpenAPI 3.1, generated from the handlers'
//! `#[utoipa::path]` annotations and the model's `ToSchema` derives, served
//! at `/api/v1/openapi.json` with a browsable page at `/api/v1/docs`.
//!
//! Both are readable without a token: they describe the API, not its data.
//! What every route shares is added here rather than on each handler: the
//! bearer-token security scheme, the role a route needs (taken from
//! [`crate::auth::needed_role`], the function that enforces it), and the
//! answers the middleware and the server bounds give (401, 403, 500, 503).
//! Notifier settings are described per channel kind from the channels' own
//! JSON Schemas, the ones `GET /api/v1/channels` answers.
//!
//! It does not check requests against the document: handlers validate their
//! input themselves, with errors that name the field.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::Router;
use axum::http::{Method, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/v1/openapi.json";
/// Where the browsable page is served.
pub const PAGE_PATH: &str = "/api/v1/docs";
const SCRIPT_PATH: &str = "/api/v1/docs/rapidoc-min.js";

/// RapiDoc (MIT, `assets/rapidoc/LICENSE.txt`), from the npm package
/// `rapidoc`, compiled in so that the page needs nothing but this server.
const RAPIDOC_JS: &[u8] = include_bytes!("../assets/rapidoc/rapidoc-min.js");

/// The document, the page and its script: no state, no token.
pub fn router() -> Router {
    Router::new()
        .route(DOCUMENT_PATH, get(serve_document))
        .route(PAGE_PATH, get(page))
        .route(SCRIPT_PATH, get(script))
}

/// The whole document as JSON, built once.
pub fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
        add_access(&mut doc);
        add_channel_configs(&mut doc);
        open_flattened_specs(&mut doc);
        doc
    })
}

async fn serve_document() -> impl IntoResponse {
    axum::Json(document())
}

async fn page() -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Herald API</title>
<script type="module" src="{SCRIPT_PATH}"></script>
</head>
<body>
<rapi-doc spec-url="{DOCUMENT_PATH}" render-style="read" show-header="false"
  allow-server-selection="false" allow-authentication="true"
  schema-description-expanded="true"></rapi-doc>
</body>
</html>"#
    ))
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        RAPIDOC_JS,
    )
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Herald's HTTP API: publish events; manage notifiers, rules, silences, \
inhibitions and monitors; read events, notifications, failures and problems; replay failures. \
Every `/api/v1` route needs `Authorization: Bearer <token>` of a role that grants what the \
route needs (`viewer` < `publisher` < `admin`); each operation names its role. Every error \
answer is JSON with an `error` message, and `field` when one field is at fault.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/", description = "This Herald")),
    paths(
        crate::events::publish,
        crate::ingest_formats::alertmanager,
        crate::events::list,
        crate::events::get,
        crate::events::explain,
        crate::channels::list,
        crate::notifiers::list,
        crate::notifiers::create,
        crate::notifiers::get,
        crate::notifiers::update,
        crate::notifiers::delete,
        crate::notifiers::clone,
        crate::notifiers::test,
        crate::notifiers::preview,
        crate::rules::list,
        crate::rules::create,
        crate::rules::dry_run,
        crate::rules::get,
        crate::rules::update,
        crate::rules::delete,
        crate::rules::clone,
        crate::silences::list,
        crate::silences::create,
        crate::silences::get,
        crate::silences::update,
        crate::silences::expire,
        crate::silences::list_inhibitions,
        crate::silences::create_inhibition,
        crate::silences::get_inhibition,
        crate::silences::update_inhibition,
        crate::silences::delete_inhibition,
        crate::monitors::list,
        crate::monitors::create,
        crate::monitors::get,
        crate::monitors::update,
        crate::monitors::delete,
        crate::notifications::list,
        crate::notifications::get,
        crate::failures::list,
        crate::failures::replay_all,
        crate::failures::get,
        crate::failures::replay,
        crate::failures::discard,
        crate::problems::list,
        crate::tokens::list,
        crate::tokens::create,
        crate::tokens::revoke,
        crate::tokens::audit,
        crate::ops::metrics,
        crate::ops::healthz,
        crate::ops::readyz,
    ),
    components(schemas(
        ErrorBody,
        ForbiddenBody,
        InUseBody,
        RenderErrorBody,
        RateLimitedBody,
        UpstreamBody
    )),
    tags(
        (name = "events", description = "Publishing events and reading what was recorded"),
        (name = "channels", description = "The kinds of notifier and their settings"),
        (name = "notifiers", description = "Where notifications go"),
        (name = "rules", description = "Which events notify which notifiers"),
        (name = "silences", description = "Silences and inhibitions"),
        (name = "monitors", description = "No-activity monitors"),
        (name = "notifications", description = "Deliveries and their outcomes"),
        (name = "failures", description = "Deliveries that failed for good, and their replays"),
        (name = "problems", description = "Open problems"),
        (name = "tokens", description = "API tokens and the audit trail"),
        (name = "operations", description = "Health and metrics, outside /api/v1"),
    )
)]
struct ApiDoc;

/// The name of the security scheme every `/api/v1` operation uses.
const BEARER: &str = "bearer";

/// The bearer-token scheme, the role each `/api/v1` operation needs (from
/// the function the middleware enforces it with) and the answers every
/// operation may give besides its own: the middleware's 401 and 403, the
/// server bounds' 503 (timeout, or the database unreachable) and 500.
fn add_access(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`herald token create`, or `POST /api/v1/tokens`).",
        }
    });
    let paths = doc["paths"]
        .as_object_mut()
        .expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        let below = path.strip_prefix("/api/v1");
        for (method, op) in item.as_object_mut().into_iter().flatten() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if let Some(below) = below {
                let role = crate::auth::needed_role(&method, below);
                op["security"] = json!([{ BEARER: [] }]);
                op["x-herald-role"] = json!(role);
                let about = op["description"].as_str().unwrap_or_default();
                op["description"] = json!(format!("Needs the `{role}` role.\n\n{about}"));
                respond(
                    op,
                    "401",
                    "No token, or one unknown, expired or revoked",
                    "ErrorBody",
                );
                respond(
                    op,
                    "403",
                    "The token's role does not grant this",
                    "ForbiddenBody",
                );
            }
            respond(
                op,
                "500",
                "Herald failed; the server log says why",
                "ErrorBody",
            );
            respond(
                op,
                "503",
                "The database or the broker is unreachable, or the request timed out",
                "ErrorBody",
            );
        }
    }
}

/// Adds a JSON answer to `op` unless it documents `status` already.
fn respond(op: &mut Value, status: &str, description: &str, schema: &str) {
    let responses = op["responses"]
        .as_object_mut()
        .expect("every operation has responses");
    responses.entry(status).or_insert_with(|| {
        json!({
            "description": description,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
        })
    });
}

/// Every error answer. `field` names the input at fault when one is; the
/// other members come with the statuses that say so.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub error: String,
    /// The field, parameter or header at fault (`events[2].severity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// 409 when deleting a notifier still in use: who uses it.
#[derive(Serialize, ToSchema)]
pub struct InUseBody {
    pub error: String,
    /// Rules that send to it.
    pub rules: Vec<Named>,
    /// Notifiers that fall back to it.
    pub notifiers: Vec<Named>,
}

#[derive(Serialize, ToSchema)]
pub struct Named {
    pub id: Uuid,
    pub name: String,
}

/// 422: a template did not render.
#[derive(Serialize, ToSchema)]
pub struct RenderErrorBody {
    pub error: String,
    /// The message part whose template failed (`subject`, `body`, …).
    pub part: String,
    /// The template's line, when known.
    pub line: Option<u64>,
}

/// 429: over the token's publishing rate.
#[derive(Serialize, ToSchema)]
pub struct RateLimitedBody {
    pub error: String,
    /// Seconds to wait, as in the `Retry-After` header.
    pub retry_after: u64,
}

/// 502: a test send reached the endpoint, which refused it.
#[derive(Serialize, ToSchema)]
pub struct UpstreamBody {
    pub error: String,
    /// Whether a delivery would retry after this answer.
    pub retryable: bool,
}

/// 403: the token's role does not grant what the route needs.
#[derive(Serialize, ToSchema)]
pub struct ForbiddenBody {
    pub error: String,
    pub role_needed: herald_model::Role,
}

/// Puts each kind's settings schema under `components/schemas` as
/// `<Kind>Config` (its `$defs` moved beside it), and describes
/// `NotifierSpec` as one variant per kind: `kind` equal to the kind and
/// `config` that kind's schema. Answers keep `config` a free object, since
/// their secrets are masked.
fn add_channel_configs(doc: &mut Value) {
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("the document has component schemas");
    let mut variants = Vec::new();
    let mut refs = Vec::new();
    for kind in herald_channels::KINDS {
        let Some(schema) = herald_channels::config_schema(kind) else {
            continue;
        };
        let name = format!("{}Config", pascal(kind));
        let (schema, defs) = hoist_defs(schema, &name);
        schemas.extend(defs);
        schemas.insert(name.clone(), schema);
        let config_ref = json!({"$ref": format!("#/components/schemas/{name}")});
        refs.push(config_ref.clone());
        variants.push(spec_variant(schemas, kind, config_ref));
    }
    let spec = schemas
        .get_mut("NotifierSpec")
        .expect("NotifierSpec is described");
    *spec = json!({
        "description": spec.get("description").cloned().unwrap_or(Value::Null),
        "oneOf": variants,
    });
    if let Some(config) = schemas
        .get_mut("Notifier")
        .and_then(|n| n.pointer_mut("/properties/config"))
    {
        *config = json!({
            "type": "object",
            "description": "The settings, as `NotifierConfig` describes them by kind, secrets masked.",
        });
    }
    schemas.insert(
        "NotifierConfig".into(),
        json!({
            "description": "A notifier's settings, by its kind; in answers, secrets are masked.",
            "anyOf": refs,
        }),
    );
}

/// `NotifierSpec` for one kind: its own properties, `kind` fixed, `config`
/// the kind's schema.
fn spec_variant(schemas: &Map<String, Value>, kind: &str, config: Value) -> Value {
    let mut variant = schemas["NotifierSpec"].clone();
    variant["properties"]["kind"] = json!({"type": "string", "const": kind});
    variant["properties"]["config"] = config;
    variant["title"] = json!(kind);
    variant
}

/// `webhook` → `Webhook`, `google_chat` → `GoogleChat`.
fn pascal(kind: &str) -> String {
    kind.split(['_', '-'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// A schemars schema made a component: its `$defs` become components named
/// `<name>.<def>` and its `#/$defs/` references point to them; the
/// `$schema` keyword goes (the document says which dialect).
fn hoist_defs(mut schema: Value, name: &str) -> (Value, BTreeMap<String, Value>) {
    let defs = schema
        .as_object_mut()
        .and_then(|o| {
            o.remove("$schema");
            o.remove("$defs")
        })
        .and_then(|d| match d {
            Value::Object(d) => Some(d),
            _ => None,
        })
        .unwrap_or_default();
    let rename = |v: &mut Value| retarget(v, name);
    let mut hoisted = BTreeMap::new();
    for (def, mut body) in defs {
        rename(&mut body);
        hoisted.insert(format!("{name}.{def}"), body);
    }
    rename(&mut schema);
    (schema, hoisted)
}

fn retarget(value: &mut Value, name: &str) {
    match value {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(def) = r.strip_prefix("#/$defs/") {
                            *r = format!("#/components/schemas/{name}.{def}");
                        }
                    }
                    (_, v) => retarget(v, name),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| retarget(v, name)),
        _ => {}
    }
}

/// A stored object is its spec flattened with its id and times; the spec
/// refuses unknown fields (`additionalProperties: false`) as input, which,
/// referenced from the object's `allOf`, would refuse the object's own
/// fields. Such references are replaced by the spec without that keyword.
fn open_flattened_specs(doc: &mut Value) {
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("the document has component schemas");
    let closed: BTreeMap<String, Value> = schemas
        .iter()
        .filter(|(_, s)| s["additionalProperties"] == false)
        .map(|(name, s)| {
            let mut open = s.clone();
            open.as_object_mut()
                .map(|o| o.remove("additionalProperties"));
            (format!("#/components/schemas/{name}"), open)
        })
        .collect();
    open_refs(doc, &closed);
}

fn open_refs(value: &mut Value, closed: &BTreeMap<String, Value>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match (k.as_str(), v) {
                    ("allOf", Value::Array(parts)) => {
                        for part in parts.iter_mut() {
                            match part["$ref"].as_str().and_then(|r| closed.get(r)) {
                                Some(open) => *part = open.clone(),
                                None => open_refs(part, closed),
                            }
                        }
                    }
                    (_, v) => open_refs(v, closed),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| open_refs(v, closed)),
        _ => {}
    }
}

/// The methods and paths the document describes, `/api/v1` included: what
/// the tests compare with the router's routes.
pub fn operations() -> Vec<(Method, String)> {
    let mut found = Vec::new();
    for (path, item) in document()["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            if let Ok(m) = method.to_uppercase().parse::<Method>() {
                found.push((m, path.clone()));
            }
        }
    }
    found
}

// Answers built as JSON by their handlers, described here. The schemathesis
// test checks real answers against them, so they cannot drift unnoticed.

/// A listing that is not paged.
#[derive(Serialize, ToSchema)]
pub struct Items<T> {
    pub items: Vec<T>,
}

/// A page of recorded events; pass `next_cursor` back as `cursor`.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    pub items: Vec<herald_model::RecordedEvent>,
    pub next_cursor: Option<String>,
}

/// What `POST /api/v1/events` takes: one event, or a list of up to 100.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Publish {
    One(Box<herald_model::EventInput>),
    Many(Vec<herald_model::EventInput>),
}

/// One CloudEvent 1.0 in the JSON event format (`application/cloudevents+json`);
/// extension attributes (`severity`, `title`, `message`, `dedupkey`,
/// `resolved`, any other as a label) sit beside the context attributes. The
/// binary mode carries the same attributes as `ce-` headers.
#[derive(Deserialize, ToSchema)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: Option<String>,
    pub time: Option<String>,
    pub datacontenttype: Option<String>,
    pub dataschema: Option<String>,
    pub data: Option<serde_json::Value>,
    pub data_base64: Option<String>,
}

/// The ids of the events accepted, in the order given.
#[derive(Serialize, ToSchema)]
pub struct Published {
    pub ids: Vec<Uuid>,
}

/// Why an event did or did not notify.
#[derive(Serialize, ToSchema)]
pub struct Explanation {
    pub event_id: Uuid,
    pub received_at: Option<String>,
    pub config_version: Option<i64>,
    pub matched: Option<bool>,
    pub summary: String,
    /// Each rule as it was when the event was routed.
    pub rules: Vec<RuleDecision>,
    /// How many notifications have each status.
    pub outcomes: BTreeMap<String, u64>,
    pub notifications: Vec<herald_model::Notification>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleDecision {
    pub rule_id: Uuid,
    pub name: String,
    pub selected: bool,
    /// `matched`, or the first reason the rule did not select the event.
    pub reason: String,
}

/// A kind of notifier.
#[derive(Serialize, ToSchema)]
pub struct ChannelKind {
    pub kind: String,
    /// The JSON Schema of its settings (also `<Kind>Config` in this document).
    #[schema(value_type = Object)]
    pub config_schema: Value,
    /// Settings that are secrets: sealed when stored, masked when answered.
    pub secret_fields: Vec<String>,
    /// Each message part's default template.
    pub templates: BTreeMap<String, String>,
    pub parts: Vec<PartAbout>,
}

#[derive(Serialize, ToSchema)]
pub struct PartAbout {
    pub name: String,
    pub about: String,
}

/// What a clone is given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneRequest {
    pub name: String,
}

/// What a preview renders: `event` (an event to try) or `event_id` (a
/// recorded one), and optionally the rule whose templates apply.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub event: Option<herald_model::EventInput>,
    pub event_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
}

/// The rendered message parts, by name.
#[derive(Serialize, ToSchema)]
pub struct Preview {
    pub parts: BTreeMap<String, String>,
}

/// A test notification that was delivered.
#[derive(Serialize, ToSchema)]
pub struct TestSent {
    /// Always `sent`.
    pub status: String,
    pub notification_id: Uuid,
    pub event_id: Uuid,
    /// Each target's outcome, for kinds that send to several.
    #[schema(value_type = Option<Object>)]
    pub targets: Option<Value>,
}

/// A dry run: the rule (not saved; under `rule`, or its fields at the top
/// level, `name` optional) and either `events` to try or `since`/`limit`
/// (recently routed events; the last 24 hours by default).
#[derive(Deserialize, ToSchema)]
pub struct DryRunRequest {
    pub rule: Option<herald_model::RuleSpec>,
    pub events: Option<Vec<herald_model::EventInput>>,
    /// A time (RFC 3339) or a duration ago (`24h`).
    pub since: Option<String>,
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct DryRun {
    pub total: u64,
    pub selected: u64,
    pub results: Vec<DryRunResult>,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunResult {
    pub event_id: Uuid,
    pub title: String,
    pub selected: bool,
    pub reason: String,
    /// For the first few selected events: each notifier's rendered parts,
    /// or the error rendering them.
    pub previews: Option<Vec<DryRunPreview>>,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunPreview {
    pub notifier_id: Uuid,
    pub notifier: String,
    pub parts: Option<BTreeMap<String, String>>,
    pub error: Option<String>,
    pub part: Option<String>,
    pub line: Option<u64>,
}

/// How many failures were queued for replay.
#[derive(Serialize, ToSchema)]
pub struct Replayed {
    pub replayed: u64,
}

/// A notification with the event it delivers.
#[derive(Serialize, ToSchema)]
pub struct NotificationWithEvent {
    #[serde(flatten)]
    pub notification: herald_model::Notification,
    pub event: herald_model::Event,
}

/// A new token: the token itself is in this answer and nowhere else.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub record: herald_model::TokenRecord,
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `up` or `down`.
    pub broker: String,
    /// `up` or `down`.
    pub database: String,
    /// Why the database is down.
    pub database_error: Option<String>,
}

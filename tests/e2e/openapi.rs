//! The API's description: `/api/v1/openapi.json` is public, valid OpenAPI 3.1
//! (checked against the specification's own schema), describes every route
//! the router serves and nothing else, and the page at `/api/v1/docs` serves
//! its script from Herald itself. Then schemathesis, a property-based tester,
//! calls every operation with generated input as an admin: no answer may be a
//! 5xx, and every answer must have a documented status and match its schema.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, spawn_app};

/// The OpenAPI 3.1 schema (`https://spec.openapis.org/oas/3.1/schema/2022-10-07`).
const OAS_31_SCHEMA: &str = include_str!("../fixtures/openapi-3.1-schema.json");

/// Examples schemathesis generates per operation and phase: enough to reach
/// each documented error, few enough to stay within a couple of minutes.
const EXAMPLES_PER_OPERATION: &str = "8";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn public_document(app: &TestApp) -> Value {
    let response = reqwest::get(app.url("/api/v1/openapi.json"))
        .await
        .expect("the document answers");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the document needs no token"
    );
    response.json().await.expect("the document is JSON")
}

#[tokio::test]
async fn the_document_is_public_and_valid_openapi_3_1() {
    let app = spawn_app().await;
    let doc = public_document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "OpenAPI 3.1, not {}",
        doc["openapi"]
    );

    let oas: Value = serde_json::from_str(OAS_31_SCHEMA).expect("the OAS schema is JSON");
    let validator = jsonschema::validator_for(&oas).expect("the OAS schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not valid OpenAPI 3.1: {errors:#?}");

    for (name, schema) in doc["components"]["schemas"].as_object().expect("schemas") {
        if let Err(e) = jsonschema::meta::validate(schema) {
            panic!("component schema {name} is not a valid JSON Schema: {e}");
        }
    }
    let mut missing = Vec::new();
    dangling_refs(&doc, &doc, &mut missing);
    assert!(missing.is_empty(), "references to nothing: {missing:?}");

    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");
    for (method, path, op) in operations(&doc) {
        if path.starts_with("/api/v1/") {
            assert_eq!(
                op["security"][0]["bearer"],
                serde_json::json!([]),
                "{method} {path}"
            );
            assert!(
                op["x-herald-role"].is_string(),
                "{method} {path} names its role"
            );
            for status in ["401", "403"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} documents {status}"
                );
            }
        }
    }
    // The roles are the middleware's.
    let role = |method: &str, path: &str| doc["paths"][path][method]["x-herald-role"].clone();
    assert_eq!(role("get", "/api/v1/events"), "viewer");
    assert_eq!(role("post", "/api/v1/events"), "publisher");
    assert_eq!(role("get", "/api/v1/tokens"), "admin");
    assert_eq!(role("post", "/api/v1/notifiers"), "admin");

    // Each channel kind's settings are described, as /channels gives them.
    let (status, channels) = app.get("/channels").await;
    assert_eq!(status, StatusCode::OK);
    let variants = doc["components"]["schemas"]["NotifierSpec"]["oneOf"]
        .as_array()
        .expect("a notifier spec is one variant per kind");
    for channel in channels["items"].as_array().expect("channels") {
        let kind = channel["kind"].as_str().expect("a kind");
        let variant = variants
            .iter()
            .find(|v| v["properties"]["kind"]["const"] == kind)
            .unwrap_or_else(|| panic!("no NotifierSpec variant for {kind}"));
        let target = variant["properties"]["config"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .expect("config refers to its kind's schema");
        let described = &doc["components"]["schemas"][target];
        let names = |schema: &Value| -> Vec<String> {
            schema["properties"]
                .as_object()
                .map(|p| p.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(
            (names(described), &described["required"]),
            (
                names(&channel["config_schema"]),
                &channel["config_schema"]["required"]
            ),
            "{kind}'s settings as /channels describes them"
        );
    }
}

#[tokio::test]
async fn the_docs_page_serves_its_script_from_herald() {
    let app = spawn_app().await;
    let page = reqwest::get(app.url("/api/v1/docs"))
        .await
        .expect("the page answers");
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.expect("the page is text");
    assert!(
        html.contains(r#"spec-url="/api/v1/openapi.json""#),
        "{html}"
    );
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page loads a script");
    assert!(
        script.starts_with('/'),
        "served by Herald, not a CDN: {script}"
    );
    let js = reqwest::get(app.url(script))
        .await
        .expect("the script answers");
    assert_eq!(js.status(), StatusCode::OK);
    assert!(
        js.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let body = js.text().await.expect("the script is text");
    assert!(body.contains("rapi-doc"), "the RapiDoc element is defined");
}

/// Every method and path the document describes.
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            if methods.contains(&method.as_str()) {
                found.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    found
}

fn dangling_refs(doc: &Value, at: &Value, missing: &mut Vec<String>) {
    match at {
        Value::Object(o) => {
            for (k, v) in o {
                if let ("$ref", Value::String(r)) = (k.as_str(), v) {
                    let pointer = r.strip_prefix('#').unwrap_or(r);
                    if doc.pointer(pointer).is_none() {
                        missing.push(r.clone());
                    }
                } else {
                    dangling_refs(doc, v, missing);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dangling_refs(doc, v, missing)),
        _ => {}
    }
}

/// The routes `crates/api/src` declares with `.route("path", methods)`:
/// those of the API router are below `/api/v1` (unless written in full),
/// those of `ops.rs` at the root. The web pages (`web/`) and the document's
/// own routes (`openapi.rs`) are not API operations.
fn declared_routes() -> BTreeSet<(String, String)> {
    let src = repo_root().join("crates/api/src");
    let mut routes = BTreeSet::new();
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).expect("below src");
        if relative.starts_with("web") || relative == Path::new("openapi.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a source file reads");
        let at_root = relative == Path::new("ops.rs");
        for (path, methods) in route_calls(&text) {
            let full = if at_root || path.starts_with("/api/v1") {
                path
            } else {
                format!("/api/v1{path}")
            };
            for method in methods {
                routes.insert((method, full.clone()));
            }
        }
    }
    routes
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source directory reads") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// Each `.route("path", <method router>)` in `text`, with the methods its
/// method router names (`get(..)`, `.post(..)`, …).
fn route_calls(text: &str) -> Vec<(String, Vec<String>)> {
    let mut calls = Vec::new();
    for piece in text.split(".route(").skip(1) {
        let Some(rest) = piece.trim_start().strip_prefix('"') else {
            continue;
        };
        let Some((path, args)) = rest.split_once('"') else {
            continue;
        };
        let router = method_router(args);
        let named = |m: &str| {
            router.match_indices(&format!("{m}(")).any(|(i, _)| {
                let before = router[..i].chars().next_back();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            })
        };
        let methods = ["get", "post", "put", "delete", "patch"]
            .into_iter()
            .filter(|m| named(m))
            .map(str::to_uppercase)
            .collect();
        calls.push((path.to_owned(), methods));
    }
    calls
}

/// The argument list of a `.route(` call after its path: up to the
/// parenthesis that closes the call.
fn method_router(args: &str) -> &str {
    let mut depth = 1usize;
    for (i, c) in args.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &args[..i];
                }
            }
            _ => {}
        }
    }
    args
}

#[tokio::test]
async fn the_document_describes_every_route_the_router_serves() {
    let app = spawn_app().await;
    let doc = public_document(&app).await;
    let declared = declared_routes();
    assert!(
        declared.len() >= 40,
        "the source scan found the routes: {declared:?}"
    );
    let described: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let undocumented: Vec<_> = declared.difference(&described).collect();
    assert!(
        undocumented.is_empty(),
        "routes without #[utoipa::path] (add them to crates/api/src/openapi.rs): {undocumented:?}"
    );
    let phantom: Vec<_> = described.difference(&declared).collect();
    assert!(phantom.is_empty(), "documented but not served: {phantom:?}");
    // And the router really serves what is documented: none of it is the
    // API's fallback 404 for unknown paths.
    let client = crate::support::app::client_with_token(app.admin_token());
    for (method, path) in &described {
        let url = app.url(&path.replace("{id}", &uuid::Uuid::now_v7().to_string()));
        let answer = client
            .request(method.parse().expect("a method"), url)
            .send()
            .await
            .expect("the route answers");
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["error"], "no such API path",
            "{method} {path} is documented but not routed"
        );
    }
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_the_schema() {
    let st = std::env::var("HERALD_TEST_SCHEMATHESIS").expect(
        "HERALD_TEST_SCHEMATHESIS names schemathesis's `st` (ops/services.sh --schemathesis installs it)",
    );
    let app = spawn_app().await;
    let report = tempdir();
    let mut command = tokio::process::Command::new(&st);
    command
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--url", &app.url("")])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", app.admin_token()),
        ])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
        ])
        .args(["--max-examples", EXAMPLES_PER_OPERATION])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--seed", "1"])
        .args(["--request-timeout", "20"])
        .arg("--no-color")
        .env("SCHEMATHESIS_HOOKS", "")
        .env("HOME", &report)
        .current_dir(&report)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(300), command.output())
        .await
        .expect("schemathesis finishes within 5 minutes")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis found problems ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("passed") && !stdout.contains("No operations"),
        "schemathesis tested the operations:\n{stdout}"
    );
}

/// A directory of its own for schemathesis's cache and reports.
fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("herald-schemathesis-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

//! The invariants ARCHITECTURE.md states, checked on the source, so that
//! breaking one fails the suite: only `queue` speaks AMQP, only `store` writes
//! SQL, only `api` serves HTTP, and `model` does no I/O. `loadkit` and `bench`
//! are measurement equipment, never deployed, and exempt.

use std::path::{Path, PathBuf};

const EQUIPMENT: [&str; 2] = ["loadkit", "bench"];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crates/ holds the herald crate")
        .to_path_buf()
}

/// Every deployed crate's name, but `except`.
fn crates_but(except: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(crates_dir())
        .expect("crates/ is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n != except && !EQUIPMENT.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}

/// The names of the crate's normal (not dev) dependencies.
fn dependencies(name: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(crates_dir().join(name).join("Cargo.toml"))
        .expect("every crate has a manifest");
    manifest
        .split("\n[")
        .find(|section| section.starts_with("dependencies]"))
        .map(|section| {
            section
                .lines()
                .skip(1)
                .filter_map(|l| l.split(['=', '.', ' ']).next())
                .filter(|n| !n.is_empty() && !n.starts_with('#'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Each Rust source file of the crate, with its text.
fn sources(name: &str) -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("sources are readable");
                out.push((path, text));
            }
        }
    }
    let mut out = Vec::new();
    walk(&crates_dir().join(name).join("src"), &mut out);
    out
}

/// The places in `crates` whose code (comments aside) holds any of `needles`.
fn offenders(crates: &[String], needles: &[&str]) -> Vec<String> {
    crates
        .iter()
        .flat_map(|c| sources(c))
        .filter_map(|(path, text)| {
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            let found: Vec<&&str> = needles.iter().filter(|n| code.contains(**n)).collect();
            (!found.is_empty()).then(|| format!("{} ({found:?})", path.display()))
        })
        .collect()
}

#[test]
fn only_the_queue_crate_speaks_amqp() {
    let others = crates_but("queue");
    let depending: Vec<&String> = others
        .iter()
        .filter(|c| dependencies(c).iter().any(|d| d == "lapin"))
        .collect();
    assert!(
        depending.is_empty(),
        "crates depending on lapin: {depending:?}"
    );
    let using = offenders(&others, &["lapin::"]);
    assert!(using.is_empty(), "lapin used in {using:?}");
}

#[test]
fn only_the_store_crate_writes_sql() {
    let others = crates_but("store");
    let depending: Vec<&String> = others
        .iter()
        .filter(|c| {
            dependencies(c)
                .iter()
                .any(|d| ["tokio-postgres", "deadpool-postgres", "refinery"].contains(&d.as_str()))
        })
        .collect();
    assert!(
        depending.is_empty(),
        "crates depending on a PostgreSQL client: {depending:?}"
    );
    let statements = [
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
        "SELECT ",
        "CREATE TABLE",
    ];
    let sql = offenders(&others, &statements);
    assert!(sql.is_empty(), "SQL outside the store: {sql:?}");
}

#[test]
fn only_the_api_crate_serves_http() {
    let others = crates_but("api");
    let serving: Vec<&String> = others
        .iter()
        .filter(|c| dependencies(c).iter().any(|d| d == "axum"))
        .collect();
    assert!(serving.is_empty(), "crates depending on axum: {serving:?}");
}

/// The pure crates: what they may depend on, none of it I/O.
const PURE: &[(&str, &[&str])] = &[
    (
        "model",
        &[
            "aws-lc-rs",
            "base64",
            // Time zones compiled in and cron schedules: arithmetic, no clock or file.
            "chrono",
            "chrono-tz",
            "croner",
            "herald-templates",
            "serde",
            "serde_json",
            "serde_path_to_error",
            "thiserror",
            "time",
            "url",
            // OpenAPI schemas derived from the types: descriptions, no I/O.
            "utoipa",
            "uuid",
        ],
    ),
    (
        "templates",
        &[
            "minijinja",
            "minijinja-contrib",
            "serde",
            "serde_json",
            "thiserror",
        ],
    ),
];

#[test]
fn the_model_and_templates_crates_do_no_io() {
    for (krate, allowed) in PURE {
        let extra: Vec<String> = dependencies(krate)
            .into_iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "{krate} depends on {extra:?}: is it pure?"
        );
        let io = offenders(
            &[(*krate).to_owned()],
            &[
                "std::fs",
                "std::net",
                "std::process",
                "tokio",
                "std::io::stdin",
                "path_loader",
            ],
        );
        assert!(io.is_empty(), "I/O in {krate}: {io:?}");
    }
}

#[test]
fn the_checks_see_the_crates_they_guard() {
    // A rename that empties the lists would make every check above pass.
    assert!(dependencies("queue").iter().any(|d| d == "lapin"));
    assert!(dependencies("store").iter().any(|d| d == "tokio-postgres"));
    assert!(dependencies("api").iter().any(|d| d == "axum"));
    assert!(!offenders(&["store".to_owned()], &["INSERT INTO"]).is_empty());
    assert!(crates_but("queue").contains(&"sender".to_owned()));
    assert!(dependencies("templates").iter().any(|d| d == "minijinja"));
}

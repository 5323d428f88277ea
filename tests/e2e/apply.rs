//! Configuration as code: `herald apply` creates, updates and prunes what a
//! YAML file declares, shows its plan without changing anything, reads
//! secrets from the environment, and `herald export` writes a file that
//! applies as no change.

use serde_json::Value;

use crate::cli::{Run, herald};
use crate::support::{HttpSink, TestApp, spawn_app};

/// The file a team would keep: two notifiers (one falls back to the other), a
/// rule naming them, a monitor and a silence.
fn declaration(hook_categories: &str) -> String {
    format!(
        r#"
notifiers:
  - name: ops-hook
    kind: webhook
    description: the team's hook
    config:
      url: ${{OPS_HOOK_URL}}
      max_elapsed: 30s
    fallback: ops-pager
  - name: ops-pager
    kind: webhook
    config:
      url: ${{OPS_PAGER_URL}}
rules:
  - name: failed jobs
    categories: {hook_categories}
    kinds: [failed]
    scope: acme
    notifiers: [ops-hook, ops-pager]
monitors:
  - name: billing quiet
    match: {{source: billing}}
    silent_for: 30m
silences:
  - name: staging-migration
    comment: staging migration
    matchers: {{source: ci, labels: {{env: staging}}}}
    ends_at: "2099-01-01T00:00:00Z"
"#
    )
}

struct Setup {
    app: TestApp,
    _sink: HttpSink,
    dir: std::path::PathBuf,
    secrets: Vec<(String, String)>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Setup {
    async fn new() -> Setup {
        let app = spawn_app().await;
        let sink = HttpSink::start().await;
        let dir = std::env::temp_dir().join(format!("herald-apply-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let secrets = vec![
            ("OPS_HOOK_URL".to_owned(), sink.url("/hook/T0/very-secret")),
            ("OPS_PAGER_URL".to_owned(), sink.url("/pager/other-secret")),
        ];
        Setup {
            app,
            _sink: sink,
            dir,
            secrets,
        }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    async fn run(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .secrets
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        herald(&self.app, args, &env).await
    }

    async fn items(&self, what: &str) -> Vec<Value> {
        let (_, body) = self.app.get(&format!("/{what}")).await;
        body["items"].as_array().cloned().unwrap_or_default()
    }

    async fn named(&self, what: &str, name: &str) -> Value {
        self.items(what)
            .await
            .into_iter()
            .find(|o| o["name"] == name)
            .unwrap_or_else(|| panic!("{what} has `{name}`"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_everything_and_a_second_apply_changes_nothing() {
    let s = Setup::new().await;
    let file = s.write("herald.yaml", &declaration("[job]"));
    let first = s.run(&["apply", "-f", &file]).await;
    let text = first.ok();
    for line in [
        "create notifier `ops-hook`",
        "create notifier `ops-pager`",
        "create rule `failed jobs`",
        "create monitor `billing quiet`",
        "create silence `staging-migration`",
        "5 were created, 0 updated, 0 deleted",
    ] {
        assert!(text.contains(line), "`{line}` in:\n{text}");
    }
    let hook = s.named("notifiers", "ops-hook").await;
    let pager = s.named("notifiers", "ops-pager").await;
    assert_eq!(hook["fallback"], pager["id"], "the fallback named by name");
    let url = hook["config"]["url"].as_str().unwrap();
    assert!(
        !url.contains("very-secret") && url.starts_with("http://127.0.0.1"),
        "{url}"
    );
    let rule = s.named("rules", "failed jobs").await;
    let mut ids: Vec<&Value> = rule["notifiers"].as_array().unwrap().iter().collect();
    ids.sort_by_key(|v| v.as_str());
    let mut want = vec![&hook["id"], &pager["id"]];
    want.sort_by_key(|v| v.as_str());
    assert_eq!(ids, want);
    assert_eq!(
        s.named("monitors", "billing quiet").await["silent_for"],
        "30m"
    );
    let silences = s.items("silences").await;
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0]["matchers"]["labels"]["env"], "staging");

    let second = s.run(&["apply", "-f", &file]).await;
    assert_eq!(second.ok().trim(), "no changes", "{}", second.stdout);
    assert!(second.stderr.is_empty(), "{}", second.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_shows_the_diff_and_changes_nothing_then_prune_deletes() {
    let s = Setup::new().await;
    let file = s.write("herald.yaml", &declaration("[job]"));
    s.run(&["apply", "-f", &file]).await.ok();
    let before = s.named("rules", "failed jobs").await;

    let changed = declaration("[job, deployment]").replace(
        "  - name: billing quiet\n    match: {source: billing}\n    silent_for: 30m\n",
        "",
    );
    let edited = s.write("edited.yaml", &changed);
    let plan = s
        .run(&["apply", "-f", &edited, "--prune", "--dry-run"])
        .await;
    let text = plan.ok();
    assert!(
        text.contains("update rule `failed jobs`: categories"),
        "{text}"
    );
    assert!(text.contains("delete monitor `billing quiet`"), "{text}");
    assert!(text.contains("(dry run: nothing changed)"), "{text}");
    assert_eq!(
        s.named("rules", "failed jobs").await,
        before,
        "the rule is as it was"
    );
    assert_eq!(
        s.items("monitors").await.len(),
        1,
        "the monitor is still there"
    );

    let json = s
        .run(&["apply", "-f", &edited, "--dry-run", "-o", "json"])
        .await;
    json.ok();
    assert_eq!(
        json.json()["changes"][0]["fields"][0],
        "categories",
        "{}",
        json.stdout
    );

    let applied = s.run(&["apply", "-f", &edited, "--prune"]).await;
    assert!(
        applied
            .ok()
            .contains("0 were created, 1 updated, 1 deleted"),
        "{}",
        applied.stdout
    );
    assert_eq!(
        s.named("rules", "failed jobs").await["categories"],
        serde_json::json!(["job", "deployment"])
    );
    assert!(s.items("monitors").await.is_empty(), "pruned");

    // Without the silence and the pager: the silence is expired, the pager kept
    // out of the rule and deleted.
    let smaller = changed
        .replace("notifiers: [ops-hook, ops-pager]", "notifiers: [ops-hook]")
        .replace("    fallback: ops-pager\n", "")
        .replace(
            "  - name: ops-pager\n    kind: webhook\n    config:\n      url: ${OPS_PAGER_URL}\n",
            "",
        );
    let smaller = smaller.split("silences:").next().unwrap().to_owned();
    let file = s.write("smaller.yaml", &smaller);
    // A silence made by hand, without a name, is not the file's to prune.
    s.run(&["silences", "create", "--source", "deploy", "--for", "1h"])
        .await
        .ok();
    let pruned = s.run(&["apply", "-f", &file, "--prune"]).await;
    let text = pruned.ok();
    assert!(text.contains("delete notifier `ops-pager`"), "{text}");
    assert!(
        text.contains("expire silence `staging-migration`"),
        "{text}"
    );
    assert_eq!(s.items("notifiers").await.len(), 1);
    let silences = s.items("silences").await;
    let state_of = |name: &str| {
        silences
            .iter()
            .find(|x| x["name"] == name)
            .map(|x| x["state"].clone())
    };
    assert_eq!(state_of("staging-migration"), Some("expired".into()));
    assert_eq!(state_of(""), Some("active".into()), "{silences:?}");
    let again = s.run(&["apply", "-f", &file, "--prune"]).await;
    assert_eq!(again.ok().trim(), "no changes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_writes_secrets_as_references_and_applies_as_no_change() {
    let s = Setup::new().await;
    let file = s.write("herald.yaml", &declaration("[job]"));
    s.run(&["apply", "-f", &file]).await.ok();

    let exported = s.dir.join("exported.yaml").display().to_string();
    s.run(&["export", "-f", &exported]).await.ok();
    let text = std::fs::read_to_string(&exported).unwrap();
    assert!(text.contains("url: ${OPS_HOOK_URL}"), "{text}");
    assert!(
        !text.contains("very-secret") && !text.contains("127.0.0.1"),
        "no secret in:\n{text}"
    );
    assert!(
        text.contains("fallback: ops-pager"),
        "names, not ids:\n{text}"
    );
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("#   "))
        .collect();
    assert_eq!(
        listed,
        ["OPS_HOOK_URL", "OPS_PAGER_URL"],
        "the variables to set:\n{text}"
    );

    // With those variables set to the secrets, the file is what Herald has.
    let round = s.run(&["apply", "-f", &exported, "--prune"]).await;
    assert_eq!(round.ok().trim(), "no changes", "{}", round.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_variable_or_a_secret_in_the_file_is_refused_by_name() {
    let s = Setup::new().await;
    let file = s.write("herald.yaml", &declaration("[job]"));
    let missing = herald(
        &s.app,
        &["apply", "-f", &file],
        &[("OPS_HOOK_URL", "http://127.0.0.1:9/x")],
    )
    .await;
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing.stderr.contains("`OPS_PAGER_URL` is not set"),
        "{}",
        missing.stderr
    );
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);

    let literal = s.write(
        "literal.yaml",
        "notifiers:\n  - name: leaky\n    kind: webhook\n    config: {url: 'https://hooks.example.com/T0/secret'}\n",
    );
    let refused = s.run(&["apply", "-f", &literal]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("config.url is a secret"),
        "{}",
        refused.stderr
    );
    assert!(s.items("notifiers").await.is_empty(), "nothing was created");
}

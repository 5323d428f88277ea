//! The operator's files in `ops/`: the Grafana dashboard and the Prometheus
//! alert rules use only metrics and labels a live Herald exports (after some
//! traffic: a delivery sent, one failed and replayed, a message
//! dead-lettered); `promtool` checks the rules and the Prometheus config and
//! runs the rules' unit tests; docker-compose mounts files that exist, where
//! the Grafana provisioning and the Prometheus config look for them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::support::http_sink::SOON;
use crate::support::promql::{Exported, problems};
use crate::support::{Behaviour, HttpSink, amqp, eventually, spawn_app};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn yaml(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("ops/grafana/herald.json")).expect("the dashboard is JSON")
}

/// Every `expr` anywhere in a dashboard (panels, rows' panels, targets).
fn exprs_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr", Value::String(expr)) => out.push(expr.clone()),
                    _ => exprs_in(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs_in(v, out)),
        _ => {}
    }
}

fn dashboard_queries() -> Vec<String> {
    let mut queries = Vec::new();
    exprs_in(&dashboard(), &mut queries);
    queries
}

fn alert_queries() -> Vec<String> {
    let rules = yaml("ops/prometheus/alerts.yml");
    rules["groups"]
        .as_array()
        .expect("alerts.yml has groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("each group has rules").clone())
        .map(|r| {
            r["expr"]
                .as_str()
                .expect("each rule has an expr")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn every_query_of_the_dashboard_and_the_alert_rules_uses_metrics_herald_exports() {
    let app = spawn_app().await;
    let (ok, broken) = (HttpSink::start().await, HttpSink::start().await);
    broken.set(Behaviour::Status(404));
    let good = app.webhook("good", &ok.url("/ok"), json!({})).await;
    let bad = app.webhook("bad", &broken.url("/gone"), json!({})).await;
    app.rule(json!({"notifiers": [good, bad]})).await;
    let id = app
        .publish(json!({"source": "ci", "category": "system", "title": "t"}))
        .await[0];
    app.wait_notification(id, good, "sent", SOON).await;
    app.wait_notification(id, bad, "failed", SOON).await;
    let (status, body) = app.post("/failures/replay", json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    let (_conn, ch) = amqp::channel().await;
    let events = format!("{}.events", app.prefix());
    amqp::publish(&ch, &events, "system.info", b"not an event").await;

    let queries: Vec<String> = dashboard_queries()
        .into_iter()
        .chain(alert_queries())
        .collect();
    assert!(queries.len() >= 20, "few queries found: {queries:?}");
    eventually(
        "every query to find its metrics in /metrics",
        SOON,
        || async {
            let exported = Exported::parse(&app.metrics_text(None).await);
            let found: Vec<String> = queries
                .iter()
                .flat_map(|q| problems(q, &exported))
                .collect();
            if found.is_empty() {
                Ok(())
            } else {
                Err(found.join("\n"))
            }
        },
    )
    .await;
}

#[test]
fn the_dashboard_shows_what_an_operator_watches_from_its_data_source() {
    let used: BTreeSet<String> = dashboard_queries()
        .iter()
        .flat_map(|q| {
            q.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|word| word.starts_with("herald_"))
        .collect();
    for metric in [
        "herald_events_ingested_total",
        "herald_events_routed_total",
        "herald_deliveries_total",
        "herald_delivery_latency_seconds_bucket",
        "herald_failures",
        "herald_queue_messages",
        "herald_queue_consumers",
        "herald_broker_up",
        "herald_database_up",
    ] {
        assert!(used.contains(metric), "no panel reads {metric}: {used:?}");
    }
    let dashboard = dashboard();
    let variable = &dashboard["templating"]["list"][0];
    assert_eq!(
        (&variable["name"], &variable["query"]),
        (&json!("datasource"), &json!("prometheus"))
    );
    let mut panels: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    panels.retain(|p| p["type"] != "row");
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
        assert!(!panel["targets"].as_array().unwrap().is_empty(), "{panel}");
    }
}

/// The checker itself: a typo in a metric, a label, a grouping or a value
/// is reported; the correct query is not.
#[test]
fn a_typo_anywhere_in_a_query_is_reported() {
    let exported = Exported::parse(concat!(
        "# TYPE herald_deliveries_total counter\n",
        "herald_deliveries_total{channel=\"webhook\",outcome=\"sent\"} 3\n",
        "herald_latency_seconds_bucket{channel=\"webhook\",le=\"0.5\"} 1\n",
        "herald_broker_up 1\n",
    ));
    let cases = [
        (
            r#"sum by (channel) (rate(herald_deliveries_total{outcome="sent"}[5m]))"#,
            None,
        ),
        (
            "histogram_quantile(0.9, sum by (le) (rate(herald_latency_seconds_bucket[$__rate_interval])))",
            None,
        ),
        ("min by (instance) (herald_broker_up)", None),
        (
            "sum(rate(herald_delivery_total[5m]))",
            Some("`herald_delivery_total` is not exported"),
        ),
        (
            r#"herald_deliveries_total{chanel="webhook"}"#,
            Some("no label `chanel`"),
        ),
        (
            "sum by (outcom) (herald_deliveries_total)",
            Some("label `outcom`"),
        ),
        (
            r#"herald_deliveries_total{outcome="snet"}"#,
            Some("outcome=\"snet\""),
        ),
        (
            "herald_broker_up * on (channel) herald_deliveries_total",
            Some("label `channel`"),
        ),
        (
            "histogram_quantile(0.9, sum by (channel) (rate(herald_latency_seconds_bucket[5m])))",
            Some("without `le`"),
        ),
        (
            "sum(rate(herald_deliveries_total[5m]) by",
            Some("does not parse"),
        ),
        ("rate(herald_deliveries_total[$window])", Some("variable")),
    ];
    // A missing metric is reported once, not again for each grouping over it.
    let once = problems(
        "sum by (channel) (rate(herald_delivery_total[5m]))",
        &exported,
    );
    assert_eq!(once.len(), 1, "{once:?}");
    for (query, expected) in cases {
        let found = problems(query, &exported);
        match expected {
            None => assert!(found.is_empty(), "{query}: {found:?}"),
            Some(part) => assert!(found.iter().any(|p| p.contains(part)), "{query}: {found:?}"),
        }
    }
}

fn promtool(args: &[&str]) -> String {
    let program = std::env::var("HERALD_TEST_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    let output = Command::new(&program)
        .args(args)
        .current_dir(repo("ops/prometheus"))
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): ops/services.sh --promtool installs it (Debian package prometheus)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn promtool_checks_the_rules_and_the_prometheus_config_and_passes_their_unit_tests() {
    let rules = alert_queries().len();
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(
        checked.contains(&format!("SUCCESS: {rules} rules found")),
        "{checked}"
    );
    let config = promtool(&["check", "config", "prometheus.yml"]);
    assert!(
        config.contains(&format!("SUCCESS: {rules} rules found")),
        "{config}"
    );
    let tested = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
    let unit_tests = yaml("ops/prometheus/alerts_test.yml");
    let tested_alerts: BTreeSet<&str> = unit_tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .map(|t| t["alertname"].as_str().unwrap())
        .collect();
    let rules = yaml("ops/prometheus/alerts.yml");
    for rule in rules["groups"][0]["rules"].as_array().unwrap() {
        let name = rule["alert"].as_str().unwrap();
        assert!(
            tested_alerts.contains(name),
            "alerts_test.yml does not test {name}"
        );
    }
}

/// `src:dst[:mode]` of each bind mount of `service`.
fn mounts(compose: &Value, service: &str) -> Vec<(String, String)> {
    compose["services"][service]["volumes"]
        .as_array()
        .unwrap_or_else(|| panic!("{service} mounts nothing"))
        .iter()
        .filter_map(|v| {
            let mut parts = v.as_str().unwrap().split(':');
            let (src, dst) = (parts.next()?, parts.next()?);
            src.starts_with("./")
                .then(|| (src.to_owned(), dst.to_owned()))
        })
        .collect()
}

#[test]
fn compose_mounts_the_rules_the_dashboard_and_the_provisioning_where_they_are_read() {
    let compose = yaml("docker-compose.yml");
    for service in ["prometheus", "grafana"] {
        for (src, _) in mounts(&compose, service) {
            assert!(
                repo(&src).exists(),
                "{service} mounts {src}, which does not exist"
            );
        }
    }
    let target_of = |service: &str, src: &str| {
        mounts(&compose, service)
            .into_iter()
            .find(|(s, _)| s == src)
            .map(|(_, dst)| PathBuf::from(dst))
            .unwrap_or_else(|| panic!("{service} does not mount {src}"))
    };
    // prometheus.yml names its rule files relative to itself.
    let config = target_of("prometheus", "./ops/prometheus/prometheus.yml");
    let prometheus = yaml("ops/prometheus/prometheus.yml");
    for rule_file in prometheus["rule_files"].as_array().unwrap() {
        let name = rule_file.as_str().unwrap();
        let src = format!("./ops/prometheus/{name}");
        assert_eq!(
            target_of("prometheus", &src),
            config.parent().unwrap().join(name)
        );
    }
    // Every target Prometheus scrapes is a compose service on its HTTP port.
    for job in prometheus["scrape_configs"].as_array().unwrap() {
        for target in job["static_configs"][0]["targets"].as_array().unwrap() {
            let (host, port) = target.as_str().unwrap().split_once(':').unwrap();
            let addr = compose["services"][host]["environment"]["HERALD_HTTP_ADDR"].as_str();
            assert_eq!(
                addr.and_then(|a| a.rsplit(':').next()),
                Some(port),
                "{target}"
            );
        }
    }
    // Grafana: the provider's folder holds the dashboard, the data source the
    // dashboard's variable picks is Prometheus's service.
    let provider = yaml("ops/grafana/provisioning/dashboards/herald.yml");
    let folder = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(
        target_of("grafana", "./ops/grafana/herald.json"),
        Path::new(folder).join("herald.json")
    );
    assert_eq!(
        target_of("grafana", "./ops/grafana/provisioning/dashboards"),
        Path::new("/etc/grafana/provisioning/dashboards")
    );
    assert_eq!(
        target_of("grafana", "./ops/grafana/provisioning/datasources"),
        Path::new("/etc/grafana/provisioning/datasources")
    );
    let sources = yaml("ops/grafana/provisioning/datasources/prometheus.yml");
    let source = &sources["datasources"][0];
    assert_eq!(
        source["type"],
        dashboard()["templating"]["list"][0]["query"]
    );
    assert_eq!(source["isDefault"], true);
    let url = source["url"].as_str().unwrap();
    assert!(url.starts_with("http://prometheus:"), "{url}");
    assert!(compose["services"]["prometheus"].is_object());
}

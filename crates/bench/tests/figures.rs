//! `herald-bench` as a user runs it: a small load through the real pipeline
//! (the machine's PostgreSQL and RabbitMQ, a database and broker prefix of its
//! own), and the JSON line it prints. These tests check that every figure the
//! performance targets are read from is there and consistent; they time
//! nothing and hold no figure to a limit, which is the benchmark's job.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Runs `herald-bench` with `args` and returns the JSON line it printed last.
/// The `herald` binary it drives is the one next to it, which
/// `cargo test --workspace` builds for the herald package's own tests.
fn bench(args: &[&str]) -> Value {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_herald-bench"));
    let herald = exe.with_file_name("herald");
    assert!(
        herald.exists(),
        "{} not found: run the workspace's tests (cargo test --workspace) or cargo build -p herald",
        herald.display()
    );
    let out = Command::new(&exe)
        .args(args)
        .args(["--deadline", "180"])
        .output()
        .expect("herald-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "herald-bench {args:?} failed: {stderr}"
    );
    let stdout = String::from_utf8(out.stdout).expect("the figures are UTF-8");
    let last = stdout.lines().last().expect("herald-bench prints a line");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"))
}

fn number(line: &Value, path: &[&str]) -> f64 {
    let mut at = line;
    for key in path {
        at = &at[key];
    }
    at.as_f64()
        .unwrap_or_else(|| panic!("{} is not a number in {line}", path.join(".")))
}

/// `deliveries` made once each, with CPU per delivery split between Herald,
/// PostgreSQL and RabbitMQ, and the latency percentiles.
fn assert_delivered_once(line: &Value, deliveries: f64) {
    assert_eq!(number(line, &["deliveries"]), deliveries, "{line}");
    assert_eq!(number(line, &["duplicates"]), 0.0, "{line}");
    assert!(number(line, &["deliveries_per_s"]) > 0.0, "{line}");
    assert!(
        number(line, &["cpu_us_per_delivery", "herald"]) > 0.0,
        "{line}"
    );
    // A small load can take less than a clock tick (10 ms) of a server's
    // CPU, but never less than none.
    for server in ["postgres", "rabbitmq"] {
        assert!(
            number(line, &["cpu_us_per_delivery", server]) >= 0.0,
            "{server}: {line}"
        );
    }
    let p50 = number(line, &["latency_ms", "p50"]);
    let p99 = number(line, &["latency_ms", "p99"]);
    assert!(p50 > 0.0 && p50 <= p99, "{line}");
    assert!(number(line, &["peak_rss_mib"]) > 0.0, "{line}");
}

#[test]
fn the_http_load_against_alertmanager_prints_both_sides_and_their_ratio() {
    let line = bench(&[
        "--via",
        "http",
        "--batch",
        "50",
        "--events",
        "300",
        "--peer",
        "alertmanager",
        "--no-raw",
    ]);
    assert_eq!(line["via"], "http", "{line}");
    assert_eq!(number(&line, &["events"]), 300.0, "{line}");
    assert_delivered_once(&line, 300.0);
    let peer = &line["alertmanager"];
    assert_eq!(number(peer, &["alerts"]), 300.0, "{line}");
    assert_eq!(number(peer, &["duplicates"]), 0.0, "{line}");
    assert!(number(peer, &["latency_ms", "p50"]) > 0.0, "{line}");
    let ours = number(&line, &["deliveries_per_s"]);
    let theirs = number(peer, &["alerts_per_s"]);
    let ratio = number(&line, &["ratio"]);
    assert!(
        (ratio - ours / theirs).abs() < 0.01,
        "ratio {ratio} of {ours} and {theirs}"
    );
    let p50s = number(&line, &["latency_ms", "p50"]) / number(peer, &["latency_ms", "p50"]);
    assert!(
        (number(&line, &["latency_p50_ratio"]) - p50s).abs() < 0.01,
        "{line}"
    );
}

#[test]
fn an_amqp_burst_prints_its_ratio_to_the_raw_broker_limit() {
    let line = bench(&["--events", "400"]);
    assert_eq!(line["via"], "amqp", "{line}");
    assert_eq!(number(&line, &["events"]), 400.0, "{line}");
    assert_delivered_once(&line, 400.0);
    let raw = number(&line, &["raw", "per_s"]);
    assert_eq!(number(&line, &["raw", "messages"]), 400.0, "{line}");
    let ratio = number(&line, &["ratio_to_raw"]);
    let expected = number(&line, &["deliveries_per_s"]) / raw;
    assert!(
        (ratio - expected).abs() < 0.01,
        "ratio {ratio}, expected {expected}"
    );
}

#[test]
fn a_paced_run_sends_at_the_rate_asked_and_prints_its_cpu_per_delivery() {
    let line = bench(&[
        "--mode", "paced", "--rate", "500", "--events", "500", "--no-raw",
    ]);
    assert_eq!(line["mode"], "paced", "{line}");
    assert_eq!(number(&line, &["rate"]), 500.0, "{line}");
    assert_eq!(number(&line, &["events"]), 500.0, "{line}");
    assert_delivered_once(&line, 500.0);
    // 500 events at 500 a second are published over about a second, not at once.
    assert!(number(&line, &["publish_seconds"]) >= 0.9, "{line}");
}

#[test]
fn a_critical_event_behind_a_backlog_prints_its_own_latency() {
    let line = bench(&["--mode", "critical", "--events", "500", "--no-raw"]);
    assert_eq!(number(&line, &["backlog"]), 500.0, "{line}");
    // The backlog and the critical event, each delivered once.
    assert_delivered_once(&line, 501.0);
    assert!(number(&line, &["critical_latency_ms"]) > 0.0, "{line}");
}

//! Checks PromQL queries (a Grafana dashboard's, alert rules') against what a
//! live Herald exports: every metric a selector names is in `/metrics`, and
//! every label a matcher, `by`/`without`, `on`/`ignoring` or `group_left`
//! names is one those metrics carry. Queries are parsed (`promql-parser`), so
//! a typo anywhere in a name fails; label values of `=` and `=~` matchers must
//! match a value seen.
//!
//! It does not evaluate queries, nor know which labels a function such as
//! `label_replace` adds: queries that need that are reported as they are.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};

/// Labels Prometheus adds to every scraped series.
pub const TARGET_LABELS: [&str; 2] = ["job", "instance"];

/// Stands for the labels of a metric already reported missing, so that the
/// groupings over it are not reported as well.
const ANY_LABEL: &str = "*";

/// Grafana's interval variables, replaced by a duration before parsing.
const GRAFANA_VARIABLES: [(&str, &str); 4] = [
    ("$__rate_interval", "1m"),
    ("$__interval", "1m"),
    ("$__range", "1h"),
    ("${__range}", "1h"),
];

/// Metric names in a Prometheus text exposition, with each label's values.
#[derive(Debug, Default)]
pub struct Exported(BTreeMap<String, BTreeMap<String, BTreeSet<String>>>);

impl Exported {
    /// Reads the samples of a text exposition (`# HELP`/`# TYPE` lines aside).
    pub fn parse(text: &str) -> Exported {
        let mut exported = Exported::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let labels = exported.0.entry(line[..end].to_owned()).or_default();
            if line[end..].starts_with('{') {
                for (name, value) in sample_labels(&line[end + 1..]) {
                    labels.entry(name).or_default().insert(value);
                }
            }
        }
        exported
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.0.keys()
    }
}

/// The `name="value"` pairs after a sample's `{`, up to its `}`.
fn sample_labels(mut rest: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim_start_matches([',', ' ']).to_owned();
        let (mut value, mut escaped, mut end) = (String::new(), false, rest.len());
        for (i, c) in rest[eq + 2..].char_indices() {
            match (escaped, c) {
                (true, 'n') => (value.push('\n'), escaped = false).1,
                (true, c) => (value.push(c), escaped = false).1,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = eq + 2 + i + 1;
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        pairs.push((name, value));
        rest = &rest[end..];
        if rest.starts_with('}') {
            break;
        }
    }
    pairs
}

/// What is wrong with `query` against `exported`; empty when nothing is.
pub fn problems(query: &str, exported: &Exported) -> Vec<String> {
    let mut text = query.to_owned();
    for (variable, value) in GRAFANA_VARIABLES {
        text = text.replace(variable, value);
    }
    if text.contains('$') {
        return vec![format!("`{query}` uses a variable the check does not know")];
    }
    let expr = match promql_parser::parser::parse(&text) {
        Ok(expr) => expr,
        Err(e) => return vec![format!("`{query}` does not parse: {e}")],
    };
    let mut found = Vec::new();
    labels_of(&expr, exported, &mut found);
    found
        .into_iter()
        .map(|p| format!("{p}, in `{query}`"))
        .collect()
}

/// The labels the series of `expr` may carry, noting in `found` what it
/// names that `exported` lacks.
fn labels_of(expr: &Expr, exported: &Exported, found: &mut Vec<String>) -> BTreeSet<String> {
    match expr {
        Expr::VectorSelector(vs) => selector(vs, exported, found),
        Expr::MatrixSelector(ms) => selector(&ms.vs, exported, found),
        Expr::Paren(p) => labels_of(&p.expr, exported, found),
        Expr::Unary(u) => labels_of(&u.expr, exported, found),
        Expr::Subquery(s) => labels_of(&s.expr, exported, found),
        Expr::Aggregate(a) => {
            if let Some(param) = &a.param {
                labels_of(param, exported, found);
            }
            let below = labels_of(&a.expr, exported, found);
            match &a.modifier {
                None => BTreeSet::new(),
                Some(modifier) => {
                    require(modifier, &below, "grouping", found);
                    let named: BTreeSet<String> =
                        modifier.labels().labels.iter().cloned().collect();
                    match modifier {
                        LabelModifier::Include(_) => named,
                        LabelModifier::Exclude(_) => below.difference(&named).cloned().collect(),
                    }
                }
            }
        }
        Expr::Binary(b) => {
            let lhs = labels_of(&b.lhs, exported, found);
            let rhs = labels_of(&b.rhs, exported, found);
            let both: BTreeSet<String> = lhs.union(&rhs).cloned().collect();
            if let Some(modifier) = &b.modifier {
                if let Some(matching) = &modifier.matching {
                    for side in [&lhs, &rhs].into_iter().filter(|s| !s.is_empty()) {
                        require(matching, side, "vector matching", found);
                    }
                }
                if let Some(labels) = modifier.card.labels() {
                    let known = !both.contains(ANY_LABEL);
                    for label in labels.labels.iter().filter(|l| known && !both.contains(*l)) {
                        found.push(format!(
                            "group_left/right names label `{label}`, which no operand carries"
                        ));
                    }
                }
            }
            both
        }
        Expr::Call(call) => {
            let mut labels = BTreeSet::new();
            for arg in &call.args.args {
                labels.extend(labels_of(arg, exported, found));
            }
            if call.func.name == "histogram_quantile" {
                if !labels.contains("le") && !labels.contains(ANY_LABEL) {
                    found.push("histogram_quantile over series without `le`".to_owned());
                }
                labels.remove("le");
            }
            labels
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => BTreeSet::new(),
    }
}

/// Notes each label of `modifier` that `available` lacks.
fn require(
    modifier: &LabelModifier,
    available: &BTreeSet<String>,
    what: &str,
    found: &mut Vec<String>,
) {
    if available.contains(ANY_LABEL) {
        return;
    }
    for label in modifier
        .labels()
        .labels
        .iter()
        .filter(|l| !available.contains(*l))
    {
        found.push(format!(
            "{what} names label `{label}`, which its series do not carry (they have {available:?})"
        ));
    }
}

/// The labels of the metric `vs` selects (with the target labels), noting a
/// metric not exported, a label it does not carry, or a value never seen.
fn selector(vs: &VectorSelector, exported: &Exported, found: &mut Vec<String>) -> BTreeSet<String> {
    let matchers: Vec<&Matcher> = vs
        .matchers
        .matchers
        .iter()
        .chain(vs.matchers.or_matchers.iter().flatten())
        .collect();
    let name = vs.name.clone().or_else(|| {
        matchers
            .iter()
            .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
            .map(|m| m.value.clone())
    });
    let Some(name) = name else {
        found.push("a selector names no metric".to_owned());
        return BTreeSet::new();
    };
    let Some(labels) = exported.0.get(&name) else {
        found.push(format!("metric `{name}` is not exported"));
        return BTreeSet::from([ANY_LABEL.to_owned()]);
    };
    for matcher in matchers.iter().filter(|m| m.name != "__name__") {
        if TARGET_LABELS.contains(&matcher.name.as_str()) {
            continue;
        }
        let Some(values) = labels.get(&matcher.name) else {
            found.push(format!("`{name}` has no label `{}`", matcher.name));
            continue;
        };
        let positive = matches!(matcher.op, MatchOp::Equal | MatchOp::Re(_));
        if positive && !values.iter().any(|v| matcher.is_match(v)) {
            found.push(format!(
                "no `{name}` series has {}{}\"{}\" (seen: {values:?})",
                matcher.name, matcher.op, matcher.value
            ));
        }
    }
    labels
        .keys()
        .cloned()
        .chain(TARGET_LABELS.iter().map(|l| (*l).to_owned()))
        .collect()
}

use serde_json::json;

use super::*;

fn ctx() -> Value {
    context(&json!({
        "event": {
            "title": "Deploy failed", "severity": "critical", "resolved": false,
            "occurred_at": "2026-11-22T09:30:00Z",
            "labels": {"env": "prod"}, "data": {"duration_s": 900, "steps": [1, 2]},
        },
        "notifier": {"name": "ops", "kind": "email"},
        "herald": {"url": "https://herald.example"},
    }))
}

fn render(source: &str) -> Result<String, TemplateError> {
    let set = TemplateSet::compile(&BTreeMap::from([("body".to_owned(), source.to_owned())]))?;
    set.render("body", &ctx()).expect("the part exists")
}

#[test]
fn renders_table() {
    let cases = [
        (
            "[{{ event.severity | upper }}] {{ event.title }}",
            "[CRITICAL] Deploy failed",
        ),
        ("{{ event.labels.env }}", "prod"),
        (
            "{{ event.data | tojson }}",
            r#"{"duration_s": 900, "steps": [1, 2]}"#,
        ),
        ("{{ event.title | truncate(9, leeway=0) }}", "Deploy..."),
        ("{{ event.title | truncate(9) }}", "Deploy failed"),
        (
            "{{ event.title | truncate(length=10, end='~', leeway=0) }}",
            "Deploy~",
        ),
        (
            "{{ event.occurred_at | datetimeformat(format='short') }}",
            "2026-11-22 09:30",
        ),
        ("{{ event.occurred_at | dateformat }}", "Nov 22 2026"),
        ("{% if event.resolved %}ok{% else %}bad{% endif %}", "bad"),
        ("{{ herald.url }}/events", "https://herald.example/events"),
        ("{{ event.labels.team | default('none') }}", "none"),
        ("{% if event.labels.team is defined %}x{% endif %}-", "-"),
        ("line\n", "line\n"),
        ("{{ {'a': '<&>'} | pretty_json }}", "{\n  \"a\": \"<&>\"\n}"),
        (
            "{{ {'a': 1, 'trace': 'x', 'b': 2} | without('trace', 'b') | pretty_json }}",
            "{\n  \"a\": 1\n}",
        ),
        ("{{ 'text' | without('t') }}", "text"),
    ];
    for (source, want) in cases {
        assert_eq!(render(source).unwrap(), want, "{source}");
    }
}

#[test]
fn render_errors_name_the_part_and_line() {
    let cases = [
        ("{{ event.labels.team }}", "undefined value", Some(1)),
        ("ok\n{{ event.nope.deeper }}", "undefined value", Some(2)),
        (
            "{{ event.title | truncate('x') }}",
            "invalid operation",
            Some(1),
        ),
        (
            "{{ event.title | truncate(9, colour=1) }}",
            "too many arguments",
            Some(1),
        ),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "engine ran out of fuel",
            Some(1),
        ),
    ];
    for (source, kind, line) in cases {
        let err = render(source).expect_err(source);
        assert_eq!(err.part, "body");
        assert!(err.message.starts_with(kind), "{source}: {err}");
        assert_eq!(err.line, line, "{source}: {err}");
    }
}

#[test]
fn syntax_errors_are_found_when_compiling() {
    let err = check_template("subject", "{{ event.title").unwrap_err();
    assert_eq!(
        err.to_string(),
        "subject: syntax error: unexpected end of input, expected end of variable block (line 1)"
    );
    assert!(
        check_template("body", "{% include 'x' %}").is_ok(),
        "compiles; fails when rendered"
    );
    let include = render("{% include '/etc/passwd' %}").unwrap_err();
    assert!(
        include.message.starts_with("template not found"),
        "{include}"
    );
    assert!(check_template("body", &"x".repeat(MAX_SOURCE_BYTES + 1)).is_err());
}

#[test]
fn html_parts_escape_what_they_insert() {
    let parts = BTreeMap::from([
        ("html_body".to_owned(), "<b>{{ x }}</b>".to_owned()),
        ("body".to_owned(), "{{ x }}".to_owned()),
    ]);
    let set = TemplateSet::compile(&parts).unwrap();
    let cx = context(&json!({"x": "<script>"}));
    assert_eq!(
        set.render("html_body", &cx).unwrap().unwrap(),
        "<b>&lt;script&gt;</b>"
    );
    assert_eq!(set.render("body", &cx).unwrap().unwrap(), "<script>");
    assert!(set.render("subject", &cx).is_none());
    assert!(set.has("body") && !set.has("subject"));
}

#[test]
fn conditions_table() {
    let cases: [(&str, Result<bool, &str>); 9] = [
        ("event.labels.env == 'prod'", Ok(true)),
        (
            "event.labels.env == \"prod\" and event.data.duration_s > 600",
            Ok(true),
        ),
        ("event.data.duration_s > 1000", Ok(false)),
        ("'prod' in event.labels.env", Ok(true)),
        (
            "event.labels.team is defined and event.labels.team == 'web'",
            Ok(false),
        ),
        ("event.labels.team == 'web'", Err("undefined value")),
        ("event.data.duration_s + 'x'", Err("invalid operation")),
        (
            "event.data.duration_s",
            Err("returned number 900, not true or false"),
        ),
        (
            "event.title",
            Err("returned string Deploy failed, not true or false"),
        ),
    ];
    for (source, want) in cases {
        let got = Condition::compile(source).unwrap().eval(&ctx());
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{source}"),
            (Err(e), Err(want)) => assert!(e.to_string().starts_with(want), "{source}: {e}"),
            (got, want) => panic!("{source}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_variable_end_inside_a_condition_is_an_error_not_a_panic() {
    // Found by fuzzing (fuzz/, target `template`): MiniJinja's expression
    // parser panicked on these instead of failing.
    for bad in [
        "evvent.data | tojson }}ent.labels.env == \"prod\"",
        "event.da}}={{v}}{% es > 487",
        "x }} ",
        "x -}}\ny",
        "x +}}y",
    ] {
        let err = Condition::compile(bad).expect_err(bad);
        assert!(
            err.message.starts_with("syntax error: unexpected `}}`"),
            "{bad}: {err}"
        );
    }
    // Braces that close a dict, and braces in strings, are no such end.
    for good in [
        "event.labels == {'a': {'b': 1}}",
        "event.title != 'a}} b'",
        "event.title != \"\\\"}} b\"",
    ] {
        Condition::compile(good).expect(good);
    }
}

#[test]
fn a_huge_non_boolean_is_named_by_its_size_not_spelt_out() {
    // Found by fuzzing (target `template`): the error message formatted the
    // whole lazy sequence, 10^17 items.
    // MiniJinja 3 refuses such a repetition outright.
    let huge = Condition::compile("[[1]*3]*32222222222222222*3").unwrap();
    let err = huge.eval(&ctx()).unwrap_err();
    assert!(
        err.to_string().contains("repeated sequence is too large"),
        "{err}"
    );
    let list = Condition::compile("[1, 2]").unwrap().eval(&ctx());
    assert_eq!(
        list.unwrap_err().to_string(),
        "returned sequence of 2 items, not true or false"
    );
}

#[test]
fn repeating_a_sequence_is_bounded_so_no_template_spins_or_overflows() {
    // Found by fuzzing (target `template`) under MiniJinja 2: `seq * n` took
    // no fuel, so a loop over `[] * 3e9` spun without end and a longer
    // product overflowed. MiniJinja 3 caps the repetition and makes an empty
    // one empty; fuel bounds the rest.
    let mut parts = BTreeMap::new();
    parts.insert(
        "body".to_owned(),
        "{% for x in [] * 3000000000 %}{% endfor %}{% for x in [1] * 3000000000 %}{% endfor %}"
            .to_owned(),
    );
    let set = TemplateSet::compile(&parts).unwrap();
    let err = set.render("body", &ctx()).unwrap().unwrap_err();
    assert!(err.message.contains("too large"), "{err}");
    let overflow = Condition::compile("[[]*3]*322222*222224222*222222*3").unwrap();
    assert!(overflow.eval(&ctx()).is_err());
}

#[test]
fn a_condition_is_one_expression() {
    for bad in ["event.title ==", "true %}{% for x in y %}", "", "a b"] {
        let err = Condition::compile(bad).expect_err(bad);
        assert_eq!(err.part, "condition");
        assert!(err.message.starts_with("syntax error"), "{bad}: {err}");
    }
}

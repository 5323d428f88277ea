use serde_json::json;

use super::{fails_after_retries, route};
use crate::support::{HttpSink, Reply, spawn_app};

const SID: &str = "AC00000000000000000000000000000001";
const PATH: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json";

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_texts_each_number_once_form_encoded_and_an_invalid_number_fails_for_good() {
    let app = spawn_app().await;
    let twilio = HttpSink::start().await;
    twilio.reply(
        PATH,
        Reply::json(201, json!({"sid": "SM1", "status": "queued"})),
    );
    twilio.script_when(
        PATH,
        "To=%2B15550000002",
        [Reply::json(
            503,
            json!({"code": 20503, "message": "Service unavailable", "status": 503}),
        )],
    );
    twilio.reply_when(
        PATH,
        "To=%2B15550000003",
        Reply::json(
            400,
            json!({"code": 21211, "message": "The 'To' number +15550000003 is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "twilio",
        json!({"account_sid": SID, "auth_token": "tw-secret", "from": "+15017122661",
            "to": ["+15550000001", "+15550000002", "+15550000003"], "api_url": twilio.url("")}),
        json!({"source": "billing", "category": "spending", "severity": "warning",
            "title": "Budget at 90%", "message": "x".repeat(3000)}),
    )
    .await;
    let failed = fails_after_retries(
        &app,
        event,
        notifier,
        "+15550000003: Twilio refused: error 21211",
    )
    .await;
    assert_eq!(failed["targets"]["+15550000001"]["status"], "sent");
    assert_eq!(failed["targets"]["+15550000002"]["status"], "sent");
    let got = twilio.requests();
    let to = |n: &str| {
        got.iter()
            .filter(|r| form(&r.body).contains(&("To".into(), n.into())))
            .count()
    };
    assert_eq!(
        (to("+15550000001"), to("+15550000002"), to("+15550000003")),
        (1, 2, 2)
    );
    let expected_auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{SID}:tw-secret")
        )
    );
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(r.header("authorization"), Some(expected_auth.as_str()));
        let fields = form(&r.body);
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["To", "From", "Body"]);
        assert_eq!(fields[1].1, "+15017122661");
        let text = &fields[2].1;
        assert!(text.starts_with("[WARNING] Budget at 90%\nxxx"), "{text}");
        assert_eq!(
            text.chars().count(),
            1600,
            "Twilio takes at most 1,600 characters"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_settings_name_the_bad_field() {
    let app = spawn_app().await;
    let base = json!({"account_sid": SID, "auth_token": "t", "from": "+15017122661", "to": ["+15550000001"]});
    let cases = [
        ("account_sid", json!("XX1")),
        ("from", json!("5017122661")),
        ("to", json!([])),
        ("to.1", json!(["+15550000001", "555-0102"])),
    ];
    for (field, value) in cases {
        let mut config = base.clone();
        config[field.split('.').next().unwrap()] = value;
        let (status, answer) = app
            .post(
                "/notifiers",
                json!({"name": "t", "kind": "twilio", "config": config}),
            )
            .await;
        assert_eq!(status, 400, "{config}: {answer}");
        assert_eq!(answer["field"], format!("config.{field}"), "{answer}");
    }
    let mut both = base.clone();
    both["messaging_service_sid"] = json!("MG1");
    let (_, answer) = app
        .post(
            "/notifiers",
            json!({"name": "t", "kind": "twilio", "config": both}),
        )
        .await;
    assert_eq!(answer["field"], "config.messaging_service_sid");
}

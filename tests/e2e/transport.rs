//! Herald's own connections over TLS: PostgreSQL as the URL's `sslmode` asks
//! (the local server has TLS on with Debian's self-signed snakeoil
//! certificate; `ops/services.sh` turns it on), and RabbitMQ over `amqps://`
//! through a TLS proxy whose certificate a private CA signed.

use std::net::SocketAddr;

use herald_store::{Store, StoreError};
use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, TlsProxy, signed_certificate, spawn_app_with};

fn database_url(params: &str) -> String {
    let id = Uuid::new_v4().simple();
    format!("postgres://postgres@127.0.0.1:5432/herald_test_{id}?{params}")
}

/// Asks the server, over a connection of the test's own, whether every
/// connection to `database` is encrypted; returns how many there are.
async fn server_side_tls(database: &str) -> (i64, bool) {
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_ssl s \
             JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
            &[&database],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The file of the server's certificate, which is its own CA (self-signed).
async fn server_certificate() -> String {
    let admin = "postgres://postgres@127.0.0.1:5432/postgres";
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client.query_one("SHOW ssl_cert_file", &[]).await.unwrap();
    row.get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_every_database_connection() {
    let url = database_url("sslmode=require");
    let app = spawn_app_with(&[("HERALD_DATABASE_URL", &url)]).await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("tls-db", &sink.url("/db"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let ids = app
        .publish(json!({"source": "ci", "category": "job", "kind": "failed"}))
        .await;
    app.wait_notification(ids[0], hook, "sent", SOON).await;
    sink.wait_delivered("/db", 1, SOON).await;

    let database = url.rsplit_once('/').unwrap().1.split('?').next().unwrap();
    let (connections, all_tls) = server_side_tls(database).await;
    assert!(connections > 0, "Herald holds connections to {database}");
    assert!(all_tls, "every connection of Herald's to {database} is TLS");
    let store = Store::connect(&url, 1).await.unwrap();
    assert!(store.encrypted().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_checked_when_the_url_says_verify() {
    let url = database_url("sslmode=require");
    let app = spawn_app_with(&[("HERALD_DATABASE_URL", &url)]).await;
    let base = url.split('?').next().unwrap();

    // The server's self-signed certificate names `localhost`, and no platform
    // root signed it (unless the platform trusts the file itself, as
    // SSL_CERT_DIR=/etc/ssl/certs does here): a clear refusal, at once, not a
    // minute of retries.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .arg("migrate")
        .envs(app.env())
        .env("HERALD_DATABASE_URL", format!("{base}?sslmode=verify-full"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("TLS to the database failed")
            && stderr.contains("invalid peer certificate"),
        "{stderr}"
    );

    // Trusting it by file: verify-ca connects (the chain holds); verify-full
    // still refuses, as the certificate does not name 127.0.0.1.
    let root = server_certificate().await;
    let store = Store::connect(&format!("{base}?sslmode=verify-ca&sslrootcert={root}"), 1)
        .await
        .unwrap();
    assert!(store.encrypted().await.unwrap());
    let refused = Store::connect(&format!("{base}?sslmode=verify-full&sslrootcert={root}"), 1)
        .await
        .err()
        .expect("the certificate does not name 127.0.0.1");
    assert!(
        matches!(&refused, StoreError::Tls(m) if m.contains("not valid for name \"127.0.0.1\"")),
        "{refused}"
    );

    // Without sslmode the connection stays plain, as it was.
    let plain = Store::connect(base, 1).await.unwrap();
    assert!(!plain.encrypted().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_travel_over_amqps_to_a_broker_with_a_private_ca() {
    let pki = signed_certificate();
    let rabbit: SocketAddr = "127.0.0.1:5672".parse().unwrap();
    let proxy = TlsProxy::start(rabbit, &pki.cert, &pki.key).await;
    let amqps = format!("amqps://guest:guest@127.0.0.1:{}/%2f", proxy.addr.port());
    let ca = pki.ca.display().to_string();
    let app = spawn_app_with(&[("HERALD_AMQP_URL", &amqps), ("HERALD_AMQP_CA_FILE", &ca)]).await;
    assert!(proxy.handshakes() > 0, "Herald reached the broker over TLS");

    let sink = HttpSink::start().await;
    let hook = app
        .webhook("tls-amqp", &sink.url("/amqps"), json!({}))
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let ids = app
        .publish(json!({"source": "ci", "category": "job", "kind": "failed", "title": "over TLS"}))
        .await;
    app.wait_notification(ids[0], hook, "sent", SOON).await;
    let got = sink.wait_delivered("/amqps", 1, SOON).await;
    assert_eq!(got[0].json()["event"]["title"], "over TLS");
}

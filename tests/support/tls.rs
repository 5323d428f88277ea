//! A self-signed certificate for the tests' TLS servers (SMTP, IRC).

use std::path::PathBuf;

use uuid::Uuid;

/// A self-signed certificate for 127.0.0.1 and the key, as PEM files.
pub fn certificate() -> (String, String) {
    let dir = std::env::temp_dir().join(format!("herald-cert-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key): (PathBuf, PathBuf) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(status.success(), "openssl made no certificate");
    (cert.display().to_string(), key.display().to_string())
}

//! TLS to PostgreSQL, as the URL's `sslmode` and `sslrootcert` ask, over rustls.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and leaves the
//! certificate to a connector; it refuses parameters it does not know. So the
//! two TLS parameters are taken out of the URL here, read as libpq reads them,
//! and the rest goes to tokio-postgres:
//!
//! | `sslmode` | TLS | certificate |
//! |---|---|---|
//! | absent, `disable` | never | — |
//! | `prefer` | if the server offers it | not checked |
//! | `require` | always | not checked (as libpq: encrypted, not authenticated); with an `sslrootcert` file, as `verify-ca` |
//! | `verify-ca` | always | chains to a trusted root; any name |
//! | `verify-full` | always | chains to a trusted root and names the host |
//!
//! Trusted roots are the platform's (`rustls-platform-verifier`), or only the
//! certificates of the PEM file `sslrootcert` names (`sslrootcert=system` is the
//! platform's and, without `sslmode`, means `verify-full`, as in libpq 16).
//! Unlike libpq, an absent `sslmode` means `disable`: the usual database is on
//! loopback, where TLS costs and protects nothing.
//!
//! The connection itself is `tokio-postgres-rustls`'s, which also offers
//! SCRAM channel binding (`-PLUS`) with the hash the certificate calls for.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;
pub(crate) use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// The TLS a database URL asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) mode: SslMode,
    pub(crate) root_cert: Option<RootCert>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCert {
    /// `sslrootcert=system`: the platform's trust store.
    System,
    File(PathBuf),
}

/// Takes `sslmode` and `sslrootcert` out of a database URL (URL or key=value
/// form), returning the rest for tokio-postgres and what they asked.
pub(crate) fn split_url(url: &str) -> Result<(String, TlsSettings), StoreError> {
    let (rest, mode, root) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        take_from_query(url)
    } else {
        take_from_key_values(url)
    };
    let root_cert = root.filter(|r| !r.is_empty()).map(|r| match r.as_str() {
        "system" => RootCert::System,
        _ => RootCert::File(r.into()),
    });
    let mode = match mode.as_deref() {
        None if root_cert == Some(RootCert::System) => SslMode::VerifyFull,
        None | Some("disable") => SslMode::Disable,
        Some("prefer") => SslMode::Prefer,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(other) => {
            return Err(StoreError::Config(format!(
                "HERALD_DATABASE_URL: sslmode `{other}` is not supported; \
                 use disable, prefer, require, verify-ca or verify-full"
            )));
        }
    };
    Ok((rest, TlsSettings { mode, root_cert }))
}

impl TlsSettings {
    /// The mode tokio-postgres negotiates with; the certificate is our part.
    pub(crate) fn pg_mode(&self) -> PgSslMode {
        match self.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
        }
    }

    /// A connector that checks the server's certificate as the mode says.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, StoreError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let check = match (self.mode, &self.root_cert) {
            (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => Check::Nothing,
            (SslMode::Require | SslMode::VerifyCa, _) => Check::Chain,
            (SslMode::VerifyFull, _) => Check::ChainAndName,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match check {
            Check::Nothing => Arc::new(AnyCertificate(provider.signature_verification_algorithms)),
            Check::Chain => Arc::new(AnyName(self.roots(&provider)?)),
            Check::ChainAndName => self.roots(&provider)?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Config(format!("TLS to the database: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn roots(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, StoreError> {
        let failed = |e: String| StoreError::Config(format!("HERALD_DATABASE_URL: {e}"));
        match &self.root_cert {
            None | Some(RootCert::System) => {
                let verifier =
                    rustls_platform_verifier::Verifier::new(provider.clone()).map_err(|e| {
                        failed(format!("the platform's trust store cannot be used: {e}"))
                    })?;
                Ok(Arc::new(verifier))
            }
            Some(RootCert::File(path)) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| failed(format!("sslrootcert `{shown}`: {e}")))?;
                let mut roots = RootCertStore::empty();
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(failed(format!(
                        "sslrootcert `{shown}` holds no certificate"
                    )));
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map(|v| v as Arc<dyn ServerCertVerifier>)
                    .map_err(|e| failed(format!("sslrootcert `{shown}`: {e}")))
            }
        }
    }
}

enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// Whether a connection failed because TLS refused the server (its
/// certificate, its name): trying again will not help.
pub(crate) fn refused(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<io::Error>()
            && io.get_ref().is_some_and(|e| e.is::<rustls::Error>())
        {
            return true;
        }
        source = inner.source();
    }
    false
}

/// Accepts any certificate, but checks the handshake's signatures with it:
/// the session is encrypted with whoever holds the key (`require`, `prefer`).
#[derive(Debug)]
struct AnyCertificate(rustls::crypto::WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root, the name may be any.
/// WebPKI checks the name only once the chain verified, so a wrong name is
/// the one failure left to forgive.
#[derive(Debug)]
struct AnyName(Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn take_from_query(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None, None);
    };
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&') {
        // Decode one pair at a time, so that the pairs kept go on as written.
        let decoded = url::form_urlencoded::parse(pair.as_bytes()).next();
        match decoded.as_ref().map(|(k, v)| (k.as_ref(), v)) {
            Some(("sslmode", v)) => mode = Some(v.to_string()),
            Some(("sslrootcert", v)) => root = Some(v.to_string()),
            _ => kept.push(pair),
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_owned(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (rest, mode, root)
}

/// `key=value` pairs separated by spaces; a value may be quoted (`'a b'`)
/// and escape with a backslash, as libpq reads them.
fn take_from_key_values(s: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root) = (None, None);
    let mut rest = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        chars.next_if(|(_, c)| *c == '=');
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        while let Some((_, c)) = chars.next() {
            match c {
                '\\' => value.extend(chars.next().map(|(_, c)| c)),
                '\'' if quoted => break,
                c if c.is_whitespace() && !quoted => break,
                c => value.push(c),
            }
        }
        let end = chars.peek().map_or(s.len(), |&(i, _)| i);
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => {
                rest.push_str(s[start..end].trim_end());
                rest.push(' ');
            }
        }
    }
    (rest.trim_end().to_owned(), mode, root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_tls_parameters_and_keep_the_rest() {
        let plain = || TlsSettings {
            mode: SslMode::Disable,
            root_cert: None,
        };
        let with = |mode, root_cert| TlsSettings { mode, root_cert };
        let file = |p: &str| Some(RootCert::File(p.into()));
        let table = [
            ("postgres://u@h/db", "postgres://u@h/db", plain()),
            (
                "postgres://u@h/db?sslmode=disable",
                "postgres://u@h/db",
                plain(),
            ),
            (
                "postgresql://u@h/db?application_name=x&sslmode=require",
                "postgresql://u@h/db?application_name=x",
                with(SslMode::Require, None),
            ),
            (
                "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
                "postgres://u@h/db?connect_timeout=5",
                with(SslMode::VerifyFull, file("/etc/ca.pem")),
            ),
            (
                "postgres://u@h/db?sslrootcert=system",
                "postgres://u@h/db",
                with(SslMode::VerifyFull, Some(RootCert::System)),
            ),
            (
                "postgres://u@h/db?sslmode=prefer",
                "postgres://u@h/db",
                with(SslMode::Prefer, None),
            ),
            (
                "host=h user=u sslmode=verify-ca sslrootcert='/a b/ca.pem' dbname=db",
                "host=h user=u dbname=db",
                with(SslMode::VerifyCa, file("/a b/ca.pem")),
            ),
            (
                "host=h password='it\\'s' sslmode = require",
                "host=h password='it\\'s'",
                with(SslMode::Require, None),
            ),
            ("host=h dbname=db", "host=h dbname=db", plain()),
        ];
        for (url, rest, tls) in table {
            let (got_rest, got_tls) = split_url(url).unwrap();
            assert_eq!((got_rest.as_str(), &got_tls), (rest, &tls), "{url}");
        }
    }

    #[test]
    fn unsupported_modes_are_refused_by_name() {
        let e = split_url("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(e.to_string().contains("sslmode `allow`"), "{e}");
    }

    #[test]
    fn a_root_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("herald-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let settings = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File(path)),
        };
        let e = settings.connector().err().expect("no roots, no connector");
        assert!(e.to_string().contains("holds no certificate"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

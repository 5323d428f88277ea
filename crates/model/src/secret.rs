//! Secrets in notifier settings: sealed (AES-256-GCM) at rest, masked in every API
//! answer, and never printed by `Debug`.
//!
//! Each channel lists where its secrets sit in its settings (`password`, `url`,
//! `headers.*`); the functions here walk those places in the JSON form of the
//! settings, so the store and the API need not know any channel's types.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a masked secret reads as.
pub const MASK: &str = "********";

const SEALED_PREFIX: &str = "$herald$v1$";

/// A secret inside typed settings. It serializes as itself (settings are sealed
/// before they are stored), but `Debug` and `Display` show only the mask.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// How much of a secret a mask may show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// Nothing at all.
    Full,
    /// The scheme, host and port of a URL, so an operator can tell which endpoint
    /// a notifier points at while the path and query (where webhook tokens live)
    /// stay hidden.
    Origin,
}

/// Where a secret sits in a channel's settings: keys joined by dots, `*` for
/// every key of an object (`headers.*`).
#[derive(Debug, Clone, Copy)]
pub struct SecretField {
    pub path: &'static str,
    pub mask: Mask,
}

impl SecretField {
    /// A secret shown as the mask alone (tokens, keys, passwords).
    pub const fn full(path: &'static str) -> SecretField {
        SecretField {
            path,
            mask: Mask::Full,
        }
    }
}

/// The masked form of `value`.
pub fn mask(value: &str, style: Mask) -> String {
    match (style, url::Url::parse(value)) {
        (Mask::Origin, Ok(url)) if url.has_host() => {
            format!("{}/{MASK}", url.origin().ascii_serialization())
        }
        _ => MASK.to_owned(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("the secret key must be 32 bytes encoded in base64: {0}")]
    BadKey(String),
    #[error("cannot decrypt the secret at `{path}`: it was sealed with another key or is damaged")]
    Open { path: String },
}

/// The key that seals secrets at rest.
pub struct SecretKey(RandomizedNonceKey);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(********)")
    }
}

impl SecretKey {
    pub fn from_base64(encoded: &str) -> Result<SecretKey, SecretError> {
        let bytes = B64
            .decode(encoded.trim())
            .map_err(|e| SecretError::BadKey(e.to_string()))?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey(format!("got {} bytes", bytes.len())));
        }
        RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map(SecretKey)
            .map_err(|_| SecretError::BadKey("rejected by AES-256-GCM".into()))
    }

    /// A fresh random key, in the base64 form `from_base64` reads.
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        B64.encode(bytes)
    }

    fn seal(&self, plain: &str) -> String {
        let mut buf = plain.as_bytes().to_vec();
        let nonce = self
            .0
            .seal_in_place_append_tag(Aad::empty(), &mut buf)
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buf);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    fn open(&self, sealed: &str) -> Option<String> {
        let raw = B64.decode(sealed.strip_prefix(SEALED_PREFIX)?).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::empty(), &mut body).ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }

    /// Seals every secret of `config` that is not sealed yet.
    pub fn seal_config(&self, config: &mut Value, fields: &[SecretField]) {
        visit(config, fields, &mut |_, _, value| {
            if !value.starts_with(SEALED_PREFIX) {
                *value = self.seal(value);
            }
            Ok(())
        })
        .expect("sealing never fails");
    }

    /// Opens every sealed secret of `config` in place.
    pub fn open_config(
        &self,
        config: &mut Value,
        fields: &[SecretField],
    ) -> Result<(), SecretError> {
        visit(config, fields, &mut |path, _, value| {
            if value.starts_with(SEALED_PREFIX) {
                *value = self.open(value).ok_or_else(|| SecretError::Open {
                    path: path.join("."),
                })?;
            }
            Ok(())
        })
    }
}

/// Replaces every secret of `config` by its mask.
pub fn mask_config(config: &mut Value, fields: &[SecretField]) {
    visit(config, fields, &mut |_, style, value| {
        *value = mask(value, style);
        Ok(())
    })
    .expect("masking never fails");
}

/// Where `incoming` carries the mask of the secret stored at the same place,
/// puts the stored secret back: a client may send back the settings it read
/// without knowing, or resetting, the secrets in them.
pub fn keep_masked(incoming: &mut Value, stored: &Value, fields: &[SecretField]) {
    visit(incoming, fields, &mut |path, style, value| {
        let old = path.iter().try_fold(stored, |v, key| v.get(key));
        if let Some(Value::String(old)) = old
            && *value == mask(old, style)
        {
            value.clone_from(old);
        }
        Ok(())
    })
    .expect("restoring never fails");
}

type Visitor<'a> = dyn FnMut(&[String], Mask, &mut String) -> Result<(), SecretError> + 'a;

fn visit(
    config: &mut Value,
    fields: &[SecretField],
    f: &mut Visitor<'_>,
) -> Result<(), SecretError> {
    for field in fields {
        let keys: Vec<&str> = field.path.split('.').collect();
        walk(config, &keys, &mut Vec::new(), field.mask, f)?;
    }
    Ok(())
}

fn walk(
    value: &mut Value,
    keys: &[&str],
    at: &mut Vec<String>,
    style: Mask,
    f: &mut Visitor<'_>,
) -> Result<(), SecretError> {
    let Some((key, rest)) = keys.split_first() else {
        if let Value::String(s) = value {
            f(at, style, s)?;
        }
        return Ok(());
    };
    let Value::Object(map) = value else {
        return Ok(());
    };
    for (name, child) in map.iter_mut() {
        if *key == "*" || name == key {
            at.push(name.clone());
            walk(child, rest, at, style, f)?;
            at.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FIELDS: &[SecretField] = &[
        SecretField {
            path: "password",
            mask: Mask::Full,
        },
        SecretField {
            path: "url",
            mask: Mask::Origin,
        },
        SecretField {
            path: "headers.*",
            mask: Mask::Full,
        },
    ];

    fn key() -> SecretKey {
        SecretKey::from_base64(&SecretKey::generate_base64()).unwrap()
    }

    fn config() -> Value {
        json!({
            "url": "https://hooks.example.com:8443/T000/B000/XXXX?token=abc",
            "password": "hunter2",
            "headers": {"Authorization": "Bearer t0k3n", "X-Team": "web"},
            "to": ["ops@example.com"]
        })
    }

    #[test]
    fn sealed_settings_hold_no_secret_and_open_back_to_the_original() {
        let key = key();
        let mut c = config();
        key.seal_config(&mut c, FIELDS);
        let text = c.to_string();
        for secret in ["hunter2", "t0k3n", "XXXX", "hooks.example.com"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        assert_eq!(c["to"], json!(["ops@example.com"]));
        let sealed_once = c.clone();
        key.seal_config(&mut c, FIELDS);
        assert_eq!(c, sealed_once, "sealing twice must not double-encrypt");
        key.open_config(&mut c, FIELDS).unwrap();
        assert_eq!(c, config());
    }

    #[test]
    fn opening_with_another_key_names_the_field() {
        let mut c = config();
        key().seal_config(&mut c, FIELDS);
        let err = key().open_config(&mut c, FIELDS).unwrap_err();
        assert!(err.to_string().contains('`'), "{err}");
    }

    #[test]
    fn masks_hide_secrets_but_keep_a_urls_origin() {
        let mut c = config();
        mask_config(&mut c, FIELDS);
        assert_eq!(c["password"], MASK);
        assert_eq!(c["url"], format!("https://hooks.example.com:8443/{MASK}"));
        assert_eq!(c["headers"]["X-Team"], MASK);
        assert_eq!(mask("not a url", Mask::Origin), MASK);
    }

    #[test]
    fn a_masked_value_sent_back_keeps_the_stored_secret_and_a_new_value_replaces_it() {
        let stored = config();
        let mut incoming = stored.clone();
        mask_config(&mut incoming, FIELDS);
        incoming["headers"]["X-Team"] = json!("platform");
        keep_masked(&mut incoming, &stored, FIELDS);
        assert_eq!(incoming["password"], "hunter2");
        assert_eq!(incoming["url"], stored["url"]);
        assert_eq!(incoming["headers"]["Authorization"], "Bearer t0k3n");
        assert_eq!(incoming["headers"]["X-Team"], "platform");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), MASK);
        assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    }
}

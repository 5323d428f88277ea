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
use uuid::Uuid;

/// What a masked secret reads as.
pub const MASK: &str = "********";

/// Sealed values: `$herald$v2$<key id>$<base64 of nonce and ciphertext>`.
const SEALED_PREFIX: &str = "$herald$v2$";
/// Values sealed by earlier versions, with no key id and no associated data.
const LEGACY_PREFIX: &str = "$herald$v1$";
const SEALED_ANY: &str = "$herald$";

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
    #[error(
        "cannot decrypt the secret at `{path}`: it was sealed with another key or for another notifier, or is damaged"
    )]
    Open { path: String },
    #[error(
        "cannot decrypt the secret at `{path}`: it was sealed with key {kid}, which HERALD_SECRET_KEYS does not hold"
    )]
    UnknownKey { path: String, kid: String },
}

/// One key that seals secrets at rest, with its id: the first 8 hex digits of
/// the key's SHA-256, so sealed values say which key opens them without
/// saying anything about the key.
pub struct SecretKey {
    key: RandomizedNonceKey,
    id: String,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, ********)", self.id)
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
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
        let id = digest.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        RandomizedNonceKey::new(&AES_256_GCM, &bytes)
            .map(|key| SecretKey { key, id })
            .map_err(|_| SecretError::BadKey("rejected by AES-256-GCM".into()))
    }

    /// A fresh random key, in the base64 form `from_base64` reads.
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random source works");
        B64.encode(bytes)
    }

    /// The key's id, as sealed values carry it.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plain: &str, aad: &str) -> String {
        let mut buf = plain.as_bytes().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad.as_bytes()), &mut buf)
            .expect("AES-GCM sealing of an in-memory buffer cannot fail");
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buf);
        format!("{SEALED_PREFIX}{}${}", self.id, B64.encode(out))
    }

    fn open(&self, encoded: &str, aad: &[u8]) -> Option<String> {
        let raw = B64.decode(encoded).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut body)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// The keys Herald holds, the current one (which seals) first; the others
/// only open what they sealed until `herald rekey` re-seals it.
///
/// A sealed value is bound to the notifier and the field it belongs to (both
/// are the cipher's associated data), so a value copied into another notifier,
/// or another field, does not open.
#[derive(Debug)]
pub struct Keyring {
    keys: Vec<SecretKey>,
}

impl Keyring {
    /// `keys` in order, the current first; at least one.
    pub fn new(keys: Vec<SecretKey>) -> Result<Keyring, SecretError> {
        if keys.is_empty() {
            return Err(SecretError::BadKey("no key given".into()));
        }
        Ok(Keyring { keys })
    }

    /// Keys in base64, comma-separated, the current first.
    pub fn from_base64_list(list: &str) -> Result<Keyring, SecretError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(SecretKey::from_base64)
            .collect::<Result<Vec<_>, _>>()?;
        Keyring::new(keys)
    }

    pub fn current(&self) -> &SecretKey {
        &self.keys[0]
    }

    fn aad(owner: Uuid, path: &[String]) -> String {
        format!("herald:notifier:{owner}:{}", path.join("."))
    }

    fn open_value(&self, value: &str, owner: Uuid, path: &[String]) -> Result<String, SecretError> {
        let failed = || SecretError::Open {
            path: path.join("."),
        };
        if let Some(rest) = value.strip_prefix(SEALED_PREFIX) {
            let (kid, encoded) = rest.split_once('$').ok_or_else(failed)?;
            let key =
                self.keys
                    .iter()
                    .find(|k| k.id == kid)
                    .ok_or_else(|| SecretError::UnknownKey {
                        path: path.join("."),
                        kid: kid.to_owned(),
                    })?;
            let aad = Keyring::aad(owner, path);
            return key.open(encoded, aad.as_bytes()).ok_or_else(failed);
        }
        // Sealed before values were bound to their place: any key may hold it.
        let encoded = value.strip_prefix(LEGACY_PREFIX).ok_or_else(failed)?;
        self.keys
            .iter()
            .find_map(|k| k.open(encoded, &[]))
            .ok_or_else(failed)
    }

    /// Seals every secret of `config`, which belongs to the notifier `owner`;
    /// values still sealed (under any key) are opened and sealed again under
    /// the current key.
    pub fn seal_config(
        &self,
        config: &mut Value,
        fields: &[SecretField],
        owner: Uuid,
    ) -> Result<(), SecretError> {
        visit(config, fields, &mut |path, _, value| {
            let plain = if looks_sealed(value) {
                self.open_value(value, owner, path)?
            } else {
                std::mem::take(value)
            };
            *value = self.current().seal(&plain, &Keyring::aad(owner, path));
            Ok(())
        })
    }

    /// Opens every sealed secret of `config` (of the notifier `owner`) in place.
    pub fn open_config(
        &self,
        config: &mut Value,
        fields: &[SecretField],
        owner: Uuid,
    ) -> Result<(), SecretError> {
        visit(config, fields, &mut |path, _, value| {
            if looks_sealed(value) {
                *value = self.open_value(value, owner, path)?;
            }
            Ok(())
        })
    }

    /// Seals `plain` for `purpose` (the associated data, e.g. `web-session`),
    /// under the current key: a value sealed for one purpose never opens for
    /// another, nor as a notifier's secret.
    pub fn seal_for(&self, plain: &str, purpose: &str) -> String {
        self.current().seal(plain, &Keyring::purpose_aad(purpose))
    }

    /// Opens what [`Keyring::seal_for`] sealed for `purpose`, under any key
    /// held; `None` when it was not sealed so, or was altered.
    pub fn open_for(&self, sealed: &str, purpose: &str) -> Option<String> {
        let (kid, encoded) = sealed.strip_prefix(SEALED_PREFIX)?.split_once('$')?;
        let key = self.keys.iter().find(|k| k.id == kid)?;
        key.open(encoded, Keyring::purpose_aad(purpose).as_bytes())
    }

    fn purpose_aad(purpose: &str) -> String {
        format!("herald:purpose:{purpose}")
    }

    /// Whether every secret of `config` is sealed under the current key, bound
    /// to its place: what `herald rekey` leaves behind.
    pub fn is_current(&self, config: &Value, fields: &[SecretField]) -> bool {
        let current = format!("{SEALED_PREFIX}{}$", self.current().id);
        let mut all = true;
        let mut copy = config.clone();
        visit(&mut copy, fields, &mut |_, _, value| {
            all &= value.starts_with(&current);
            Ok(())
        })
        .expect("looking never fails");
        all
    }
}

/// Whether `value` has the form of a sealed secret (of any version).
pub fn looks_sealed(value: &str) -> bool {
    value.starts_with(SEALED_ANY)
}

/// The path of the first string anywhere in `config` that looks sealed:
/// sealed values are Herald's own, never input.
pub fn find_sealed(config: &Value) -> Option<String> {
    match config {
        Value::String(s) if looks_sealed(s) => Some(String::new()),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            find_sealed(v).map(|rest| {
                if rest.is_empty() {
                    k.clone()
                } else {
                    format!("{k}.{rest}")
                }
            })
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            find_sealed(v).map(|rest| {
                if rest.is_empty() {
                    format!("{i}")
                } else {
                    format!("{i}.{rest}")
                }
            })
        }),
        _ => None,
    }
}

/// Settings that say where a notifier sends, at any depth of its settings; a
/// URL counts by its origin.
const DESTINATION_KEYS: &[&str] = &[
    "url",
    "api_url",
    "server",
    "homeserver",
    "host",
    "port",
    "security",
    "tls",
    "tls_verify",
    "token_url",
    "topic_url",
];

/// Where `config` sends: each destination setting (see [`DESTINATION_KEYS`])
/// by its path, URLs reduced to their origin.
pub fn destination(config: &Value) -> Vec<(String, Value)> {
    fn collect(value: &Value, at: &str, out: &mut Vec<(String, Value)>) {
        let Value::Object(map) = value else { return };
        for (key, child) in map {
            let path = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}.{key}")
            };
            if DESTINATION_KEYS.contains(&key.as_str()) {
                let shown = match child.as_str().map(url::Url::parse) {
                    Some(Ok(u)) if u.has_host() => Value::String(u.origin().ascii_serialization()),
                    _ => child.clone(),
                };
                out.push((path.clone(), shown));
            }
            collect(child, &path, out);
        }
    }
    let mut out = Vec::new();
    collect(config, "", &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
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
///
/// Returns the paths of the secrets so kept. The caller refuses to keep them
/// when the settings now send somewhere else ([`destination`]): otherwise
/// anyone who may edit a notifier could send its secret to a host of theirs.
pub fn keep_masked(incoming: &mut Value, stored: &Value, fields: &[SecretField]) -> Vec<String> {
    let mut kept = Vec::new();
    visit(incoming, fields, &mut |path, style, value| {
        let old = path.iter().try_fold(stored, |v, key| v.get(key));
        if let Some(Value::String(old)) = old
            && *value == mask(old, style)
        {
            value.clone_from(old);
            kept.push(path.join("."));
        }
        Ok(())
    })
    .expect("restoring never fails");
    kept
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

    #[test]
    fn a_value_sealed_for_a_purpose_opens_only_for_it() {
        let ring = Keyring::from_base64_list(&SecretKey::generate_base64()).unwrap();
        let sealed = ring.seal_for("session body", "web-session");
        assert!(!sealed.contains("session body"));
        assert_eq!(
            ring.open_for(&sealed, "web-session").as_deref(),
            Some("session body")
        );
        assert_eq!(ring.open_for(&sealed, "other"), None);
        let other = Keyring::from_base64_list(&SecretKey::generate_base64()).unwrap();
        assert_eq!(other.open_for(&sealed, "web-session"), None);
        let mut altered = sealed.clone();
        altered.push('A');
        assert_eq!(ring.open_for(&altered, "web-session"), None);
    }

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

    fn ring() -> Keyring {
        Keyring::from_base64_list(&SecretKey::generate_base64()).unwrap()
    }

    fn config() -> Value {
        json!({
            "url": "https://hooks.example.com:8443/T000/B000/XXXX?token=abc",
            "password": "hunter2",
            "headers": {"Authorization": "Bearer t0k3n", "X-Team": "web"},
            "to": ["ops@example.com"]
        })
    }

    const OWNER: Uuid = Uuid::from_u128(7);

    #[test]
    fn sealed_settings_hold_no_secret_and_open_back_to_the_original() {
        let ring = ring();
        let mut c = config();
        ring.seal_config(&mut c, FIELDS, OWNER).unwrap();
        let text = c.to_string();
        for secret in ["hunter2", "t0k3n", "XXXX", "hooks.example.com"] {
            assert!(!text.contains(secret), "{secret} leaked into {text}");
        }
        let kid = format!("$herald$v2${}$", ring.current().id());
        assert!(c["password"].as_str().unwrap().starts_with(&kid), "{c}");
        assert_eq!(c["to"], json!(["ops@example.com"]));
        assert!(ring.is_current(&c, FIELDS));
        let mut again = c.clone();
        ring.seal_config(&mut again, FIELDS, OWNER).unwrap();
        ring.open_config(&mut again, FIELDS, OWNER).unwrap();
        assert_eq!(again, config(), "sealing twice must not double-encrypt");
        ring.open_config(&mut c, FIELDS, OWNER).unwrap();
        assert_eq!(c, config());
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_notifier_and_its_field() {
        let ring = ring();
        let mut c = config();
        ring.seal_config(&mut c, FIELDS, OWNER).unwrap();
        let mut elsewhere = c.clone();
        let err = ring
            .open_config(&mut elsewhere, FIELDS, Uuid::from_u128(8))
            .unwrap_err();
        assert!(err.to_string().contains("another notifier"), "{err}");
        let mut moved = c.clone();
        moved["headers"]["Authorization"] = c["password"].clone();
        let err = ring.open_config(&mut moved, FIELDS, OWNER).unwrap_err();
        assert!(err.to_string().contains("headers.Authorization"), "{err}");
    }

    #[test]
    fn opening_with_another_key_names_the_field_and_the_key() {
        let mut c = config();
        let first = ring();
        first.seal_config(&mut c, FIELDS, OWNER).unwrap();
        let err = ring().open_config(&mut c, FIELDS, OWNER).unwrap_err();
        assert!(err.to_string().contains(first.current().id()), "{err}");
    }

    #[test]
    fn an_old_key_in_the_ring_opens_and_sealing_again_moves_to_the_current_key() {
        let old = SecretKey::generate_base64();
        let new = SecretKey::generate_base64();
        let before = Keyring::from_base64_list(&old).unwrap();
        let after = Keyring::from_base64_list(&format!("{new}, {old}")).unwrap();
        let mut c = config();
        before.seal_config(&mut c, FIELDS, OWNER).unwrap();
        assert!(!after.is_current(&c, FIELDS));
        let mut opened = c.clone();
        after.open_config(&mut opened, FIELDS, OWNER).unwrap();
        assert_eq!(opened, config());
        after.seal_config(&mut c, FIELDS, OWNER).unwrap();
        assert!(after.is_current(&c, FIELDS));
        let err = before.open_config(&mut c, FIELDS, OWNER).unwrap_err();
        assert!(matches!(err, SecretError::UnknownKey { .. }), "{err}");
    }

    #[test]
    fn values_sealed_by_v1_still_open_and_are_sealed_anew() {
        let encoded = SecretKey::generate_base64();
        let key = SecretKey::from_base64(&encoded).unwrap();
        // What v1 wrote: the nonce and ciphertext with no associated data.
        let mut buf = b"hunter2".to_vec();
        let nonce = key
            .key
            .seal_in_place_append_tag(Aad::empty(), &mut buf)
            .unwrap();
        let mut raw = nonce.as_ref().to_vec();
        raw.extend_from_slice(&buf);
        let mut c = json!({"password": format!("{LEGACY_PREFIX}{}", B64.encode(raw))});
        let ring = Keyring::from_base64_list(&encoded).unwrap();
        let mut opened = c.clone();
        ring.open_config(&mut opened, FIELDS, OWNER).unwrap();
        assert_eq!(opened["password"], "hunter2");
        ring.seal_config(&mut c, FIELDS, OWNER).unwrap();
        assert!(c["password"].as_str().unwrap().starts_with(SEALED_PREFIX));
    }

    #[test]
    fn sealed_looking_input_is_found_wherever_it_is() {
        assert_eq!(find_sealed(&config()), None);
        let c = json!({"headers": {"X": "$herald$v1$abc"}});
        assert_eq!(find_sealed(&c).as_deref(), Some("headers.X"));
        let c = json!({"to": ["a", "$herald$v2$x$y"]});
        assert_eq!(find_sealed(&c).as_deref(), Some("to.1"));
    }

    #[test]
    fn the_destination_is_the_origin_host_port_and_transport_security() {
        let a = json!({"url": "https://a.example.com/x/TOKEN", "headers": {"Authorization": "t"}});
        let same =
            json!({"url": "https://a.example.com/y/OTHER", "headers": {"Authorization": "u"}});
        let other = json!({"url": "https://b.example.com/x/TOKEN"});
        assert_eq!(destination(&a), destination(&same));
        assert_ne!(destination(&a), destination(&other));
        let smtp = json!({"host": "smtp.example.com", "port": 587, "security": "starttls"});
        for (key, value) in [
            ("host", json!("evil.example.com")),
            ("port", json!(25)),
            ("security", json!("none")),
        ] {
            let mut changed = smtp.clone();
            changed[key] = value;
            assert_ne!(destination(&smtp), destination(&changed), "{key}");
        }
        let mut unverified = smtp.clone();
        unverified["tls_verify"] = json!(false);
        assert_ne!(destination(&smtp), destination(&unverified));
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
        let kept = keep_masked(&mut incoming, &stored, FIELDS);
        assert_eq!(kept, ["password", "url", "headers.Authorization"]);
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

//! Login with Amazon credentials for SMAPI: the Secret named by `spec.alexa.credentialsSecretRef`
//! (keys `clientId`, `clientSecret`, `refreshToken`) or the CLI's `--alexa-credentials FILE`.
//!
//! Nothing here ever puts a secret value into a message: errors name the key and the problem,
//! `Debug` redacts, and YAML is walked by hand so that no parser error can echo a value.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::SmapiError;

pub const CLIENT_ID: &str = "clientId";
pub const CLIENT_SECRET: &str = "clientSecret";
pub const REFRESH_TOKEN: &str = "refreshToken";
const KEYS: [&str; 3] = [CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN];

/// An LWA security profile's client id and secret, and a refresh token of a user (the skill's
/// vendor) who authorized that client for SMAPI.
#[derive(Clone, PartialEq, Eq)]
pub struct AlexaCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl fmt::Debug for AlexaCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlexaCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

impl AlexaCredentials {
    /// From a Secret's `data` (already base64-decoded, as kube hands it over). Values are trimmed
    /// of surrounding whitespace: `kubectl create secret --from-file` keeps a file's final newline,
    /// and no LWA id or token contains whitespace.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Result<Self, SmapiError> {
        let origin = "Secret data";
        let get = |key: &str| match data.get(key) {
            None => Err(invalid(origin, key, "is missing")),
            Some(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => non_empty(origin, key, text),
                Err(_) => Err(invalid(origin, key, "is not UTF-8 text")),
            },
        };
        Ok(AlexaCredentials {
            client_id: get(CLIENT_ID)?,
            client_secret: get(CLIENT_SECRET)?,
            refresh_token: get(REFRESH_TOKEN)?,
        })
    }

    /// From the CLI's `--alexa-credentials FILE`: a YAML (or JSON) map with the three keys, or a
    /// whole Kubernetes Secret manifest (`kind: Secret`) with base64 `data:` and/or `stringData:`
    /// (`stringData` wins on a key present in both, as the API server merges them).
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, SmapiError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = crate::input::read_text(path, &origin).map_err(|e| SmapiError::CredentialsFile {
            origin: e.origin,
            reason: format!("cannot read it: {}", e.problem),
        })?;
        Self::from_yaml_str(&text, &origin)
    }

    /// [`Self::from_yaml_file`] on text already read; `origin` names it in errors.
    pub fn from_yaml_str(text: &str, origin: &str) -> Result<Self, SmapiError> {
        // The reader's errors carry a position or a key, never the text around it.
        let doc = crate::input::yaml_document(text, origin).map_err(|e| SmapiError::CredentialsFile {
            origin: e.origin,
            reason: format!("not YAML or JSON: {}", e.problem),
        })?;
        let Value::Object(map) = doc else {
            return Err(SmapiError::CredentialsFile {
                origin: origin.to_string(),
                reason: format!("expected a map with the keys {}, or a Secret manifest", KEYS.join(", ")),
            });
        };
        let is_secret = map.get("kind").and_then(Value::as_str) == Some("Secret");
        let mut values: BTreeMap<&str, String> = BTreeMap::new();
        if is_secret {
            let data = sub_map(&map, "data", origin)?;
            let string_data = sub_map(&map, "stringData", origin)?;
            for key in KEYS {
                let origin_data = format!("{origin}: data");
                let origin_string_data = format!("{origin}: stringData");
                if let Some(value) = string_data.and_then(|m| m.get(key)) {
                    values.insert(
                        key,
                        non_empty(&origin_string_data, key, string_value(value, &origin_string_data, key)?)?,
                    );
                } else if let Some(value) = data.and_then(|m| m.get(key)) {
                    let encoded = string_value(value, &origin_data, key)?;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(encoded.trim())
                        .map_err(|_| invalid(&origin_data, key, "is not valid base64"))?;
                    let text = String::from_utf8(bytes)
                        .map_err(|_| invalid(&origin_data, key, "is not UTF-8 text once decoded"))?;
                    values.insert(key, non_empty(&origin_data, key, &text)?);
                } else {
                    return Err(invalid(origin, key, "is missing from the Secret's data and stringData"));
                }
            }
        } else {
            for key in KEYS {
                let value = map.get(key).ok_or_else(|| invalid(origin, key, "is missing"))?;
                values.insert(key, non_empty(origin, key, string_value(value, origin, key)?)?);
            }
        }
        let mut take = |key| values.remove(key).unwrap_or_default();
        Ok(AlexaCredentials {
            client_id: take(CLIENT_ID),
            client_secret: take(CLIENT_SECRET),
            refresh_token: take(REFRESH_TOKEN),
        })
    }
}

fn invalid(origin: &str, key: &str, problem: &str) -> SmapiError {
    SmapiError::InvalidCredentials {
        origin: origin.to_string(),
        key: key.to_string(),
        problem: problem.to_string(),
    }
}

fn non_empty(origin: &str, key: &str, value: &str) -> Result<String, SmapiError> {
    let value = value.trim();
    if value.is_empty() { Err(invalid(origin, key, "is empty")) } else { Ok(value.to_string()) }
}

/// A string value. Anything else is refused, with a hint and without the value: YAML reads an
/// unquoted all-digit value as a number, and turning it back into text could change it.
fn string_value<'a>(value: &'a Value, origin: &str, key: &str) -> Result<&'a str, SmapiError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Ok(""),
        _ => Err(invalid(origin, key, "must be a string (quote it)")),
    }
}

fn sub_map<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    origin: &str,
) -> Result<Option<&'a Map<String, Value>>, SmapiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(SmapiError::CredentialsFile {
            origin: origin.to_string(),
            reason: format!("the Secret's `{key}` must be a map"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-value";
    const TOKEN: &str = "Atzr|refresh-value";

    fn data(entries: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        entries.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
    }

    fn message(error: SmapiError) -> String {
        let message = error.to_string();
        assert!(!message.contains(SECRET) && !message.contains(TOKEN), "leaks a secret: {message}");
        message
    }

    #[test]
    fn secret_data_gives_trimmed_credentials() {
        let creds = AlexaCredentials::from_secret_data(&data(&[
            (CLIENT_ID, b"amzn1.application-oa2-client.x"),
            (CLIENT_SECRET, SECRET.as_bytes()),
            (REFRESH_TOKEN, format!("{TOKEN}\n").as_bytes()),
            ("other", b"ignored"),
        ]))
        .unwrap();
        assert_eq!(creds.client_id, "amzn1.application-oa2-client.x");
        assert_eq!(creds.client_secret, SECRET);
        assert_eq!(creds.refresh_token, TOKEN);
    }

    #[test]
    fn secret_data_errors_name_the_key() {
        let full = [
            (CLIENT_ID, b"id".as_slice()),
            (CLIENT_SECRET, SECRET.as_bytes()),
            (REFRESH_TOKEN, TOKEN.as_bytes()),
        ];
        let without =
            |skip: &str| data(&full.iter().copied().filter(|(k, _)| *k != skip).collect::<Vec<_>>());
        for key in KEYS {
            let m = message(AlexaCredentials::from_secret_data(&without(key)).unwrap_err());
            assert!(m.contains(&format!("`{key}`")) && m.contains("missing"), "{m}");
        }
        let mut empty = data(&full);
        empty.insert(CLIENT_SECRET.into(), b" \n".to_vec());
        let m = message(AlexaCredentials::from_secret_data(&empty).unwrap_err());
        assert!(m.contains("`clientSecret` is empty"), "{m}");
        let mut binary = data(&full);
        binary.insert(REFRESH_TOKEN.into(), vec![0xff, 0xfe]);
        let m = message(AlexaCredentials::from_secret_data(&binary).unwrap_err());
        assert!(m.contains("`refreshToken` is not UTF-8"), "{m}");
    }

    #[test]
    fn debug_never_prints_the_secrets() {
        let creds = AlexaCredentials {
            client_id: "id".into(),
            client_secret: SECRET.into(),
            refresh_token: TOKEN.into(),
        };
        let debug = format!("{creds:?}");
        assert!(debug.contains("id") && !debug.contains(SECRET) && !debug.contains(TOKEN), "{debug}");
    }

    #[test]
    fn plain_maps_in_yaml_or_json() {
        let yaml = format!("clientId: id\nclientSecret: {SECRET}\nrefreshToken: '{TOKEN}'\n");
        let json = format!(r#"{{"clientId": "id", "clientSecret": "{SECRET}", "refreshToken": "{TOKEN}"}}"#);
        for text in [yaml, json] {
            let creds = AlexaCredentials::from_yaml_str(&text, "f.yaml").unwrap();
            assert_eq!((creds.client_id.as_str(), creds.client_secret.as_str()), ("id", SECRET));
            assert_eq!(creds.refresh_token, TOKEN);
        }
    }

    #[test]
    fn secret_manifests_with_data_or_string_data() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let manifest = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: alexa}}\ntype: Opaque\ndata:\n  \
             clientId: {}\n  clientSecret: {}\n  refreshToken: {}\n\
             stringData:\n  clientId: from-string-data\n",
            b64("from-data"),
            b64(SECRET),
            b64(TOKEN)
        );
        let creds = AlexaCredentials::from_yaml_str(&manifest, "secret.yaml").unwrap();
        assert_eq!(creds.client_id, "from-string-data", "stringData wins, like the API server");
        assert_eq!((creds.client_secret.as_str(), creds.refresh_token.as_str()), (SECRET, TOKEN));

        let bad = manifest.replace(&b64(SECRET), "'not base64!'");
        let m = message(AlexaCredentials::from_yaml_str(&bad, "secret.yaml").unwrap_err());
        assert!(m.contains("secret.yaml: data") && m.contains("`clientSecret` is not valid base64"), "{m}");
        let missing = "kind: Secret\nstringData: {clientId: a, clientSecret: b}\n";
        let m = message(AlexaCredentials::from_yaml_str(missing, "s.yaml").unwrap_err());
        assert!(m.contains("`refreshToken` is missing from the Secret's data and stringData"), "{m}");
    }

    #[test]
    fn file_errors_name_the_file_or_key_and_never_echo_values() {
        let m = message(AlexaCredentials::from_yaml_file("/nonexistent/alexa.yaml").unwrap_err());
        assert!(m.contains("/nonexistent/alexa.yaml") && m.contains("cannot read"), "{m}");
        let m = message(AlexaCredentials::from_yaml_str("- a\n- b\n", "list.yaml").unwrap_err());
        assert!(m.contains("list.yaml") && m.contains("expected a map"), "{m}");
        let m = message(AlexaCredentials::from_yaml_str("clientId: [\n", "broken.yaml").unwrap_err());
        assert!(m.contains("broken.yaml") && m.contains("not YAML"), "{m}");
        let numeric = format!("clientId: id\nclientSecret: {{nested: {SECRET}}}\nrefreshToken: {TOKEN}\n");
        let m = message(AlexaCredentials::from_yaml_str(&numeric, "n.yaml").unwrap_err());
        assert!(m.contains("`clientSecret` must be a string"), "{m}");
        let empty = format!("clientId: ''\nclientSecret: {SECRET}\nrefreshToken: {TOKEN}\n");
        let m = message(AlexaCredentials::from_yaml_str(&empty, "e.yaml").unwrap_err());
        assert!(m.contains("e.yaml: key `clientId` is empty"), "{m}");
    }
}

//! Re-pointing a skill manifest's endpoints without touching anything else: the manifest is
//! edited as text, so every byte other than the endpoint URIs that change (unknown fields, key
//! order, whitespace, number spellings, `sslCertificateType`) goes back to SMAPI as it came.
//!
//! Written by hand because no JSON crate edits a document in place: parsing into a value and
//! printing it again would reorder or respell what SMAPI sent. The document is first checked
//! with serde_json, so the scanner below only ever walks well-formed JSON.

use serde::de::IgnoredAny;

/// One endpoint URI changed: where (a dotted path) and from what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    pub path: String,
    pub from: String,
}

/// `body` with every endpoint URI that names `function_arn` (unqualified, or with any version or
/// alias qualifier) replaced by `new_uri`, and what changed; an empty list when nothing did.
/// Endpoints are `manifest.apis.<api>.endpoint.uri` and
/// `manifest.apis.<api>.regions.<region>.endpoint.uri`; nothing else is looked at.
pub fn retarget(body: &[u8], function_arn: &str, new_uri: &str) -> Result<(Vec<u8>, Vec<Changed>), String> {
    serde_json::from_slice::<IgnoredAny>(body).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    let mut scanner = Scanner { text: body, pos: 0, depth: 0, path: Vec::new(), found: Vec::new() };
    scanner.value()?;
    let replacement = serde_json::to_string(new_uri).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(body.len());
    let mut changed = Vec::new();
    let mut at = 0;
    for (start, end, path, uri) in scanner.found {
        if !names(&uri, function_arn) || uri == new_uri {
            continue;
        }
        out.extend_from_slice(&body[at..start]);
        out.extend_from_slice(replacement.as_bytes());
        at = end;
        changed.push(Changed { path, from: uri });
    }
    out.extend_from_slice(&body[at..]);
    Ok((out, changed))
}

/// Whether `uri` is `function_arn` itself or one of its qualifiers.
fn names(uri: &str, function_arn: &str) -> bool {
    match uri.strip_prefix(function_arn) {
        Some("") => true,
        Some(rest) => rest.strip_prefix(':').is_some_and(|q| !q.is_empty() && !q.contains(':')),
        None => false,
    }
}

/// Whether a path of object keys is an endpoint's `uri`.
fn is_endpoint(path: &[String]) -> bool {
    match path {
        [m, a, _, e, u] => m == "manifest" && a == "apis" && e == "endpoint" && u == "uri",
        [m, a, _, r, _, e, u] => {
            m == "manifest" && a == "apis" && r == "regions" && e == "endpoint" && u == "uri"
        }
        _ => false,
    }
}

/// How deep the scanner follows objects and arrays: serde_json's own limit. Its check above
/// (`IgnoredAny`) skips values without one, and the scanner recurses, so without this a deeply
/// nested answer would overflow the stack and abort the controller.
const MAX_DEPTH: usize = 128;

/// Walks well-formed JSON, noting the span and value of every string at an endpoint path.
struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
    /// Objects and arrays open around `pos`.
    depth: usize,
    path: Vec<String>,
    /// (start, end, dotted path, decoded value) of each endpoint string, in document order.
    found: Vec<(usize, usize, String, String)>,
}

impl Scanner<'_> {
    fn skip_space(&mut self) {
        while self.text.get(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<(), String> {
        self.skip_space();
        match self.peek() {
            Some(b'{' | b'[') if self.depth >= MAX_DEPTH => {
                Err(format!("the manifest nests objects and arrays deeper than {MAX_DEPTH} levels"))
            }
            Some(open @ (b'{' | b'[')) => {
                self.depth += 1;
                let walked = if open == b'{' { self.object() } else { self.array() };
                self.depth -= 1;
                walked
            }
            Some(b'"') => {
                let (start, end, text) = self.string()?;
                if is_endpoint(&self.path) {
                    self.found.push((start, end, self.path.join("."), text));
                }
                Ok(())
            }
            Some(_) => {
                // A number, true, false or null: up to the next delimiter.
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.pos += 1;
                }
                Ok(())
            }
            None => Err("the manifest ends early".into()),
        }
    }

    /// A string token: its span (quotes included) and its decoded value.
    fn string(&mut self) -> Result<(usize, usize, String), String> {
        let start = self.pos;
        self.pos += 1;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'\\' => self.pos += 1,
                b'"' => {
                    let token = &self.text[start..self.pos];
                    let text: String = serde_json::from_slice(token).map_err(|e| e.to_string())?;
                    return Ok((start, self.pos, text));
                }
                _ => {}
            }
        }
        Err("an unterminated string".into())
    }

    fn object(&mut self) -> Result<(), String> {
        self.pos += 1;
        loop {
            self.skip_space();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b',') => self.pos += 1,
                Some(b'"') => {
                    let (_, _, key) = self.string()?;
                    self.skip_space();
                    self.pos += 1; // the ':'
                    self.path.push(key);
                    let result = self.value();
                    self.path.pop();
                    result?;
                }
                _ => return Err("an object key was expected".into()),
            }
        }
    }

    fn array(&mut self) -> Result<(), String> {
        self.pos += 1;
        // Array items have no key: nothing inside an array is an endpoint.
        self.path.push("[]".into());
        let result = loop {
            self.skip_space();
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    break Ok(());
                }
                Some(b',') => self.pos += 1,
                Some(_) => {
                    if let Err(e) = self.value() {
                        break Err(e);
                    }
                }
                None => break Err("the manifest ends early".into()),
            }
        };
        self.path.pop();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FN: &str = "arn:aws:lambda:eu-west-1:111122223333:function:trivia";

    /// A real-shaped manifest: publishing information, permissions, events, a custom API with a
    /// default and three regional endpoints (one of another function), an unknown field and
    /// odd spacing and number spellings.
    fn manifest() -> String {
        format!(
            r#"{{
  "manifest" : {{
    "publishingInformation": {{"locales": {{"en-US": {{"name": "Trivia", "examplePhrases": ["Alexa, open trivia"]}}}}, "isAvailableWorldwide": true}},
    "apis": {{
      "custom": {{
        "endpoint": {{"uri": "{FN}:PROD1", "sslCertificateType": "Trusted"}},
        "regions": {{
          "NA": {{"endpoint": {{"uri": "{FN}:PROD1"}}}},
          "EU": {{"endpoint": {{"sslCertificateType":"Wildcard", "uri":"{FN}"}}}},
          "FE": {{"endpoint": {{"uri": "{FN}-fe:PROD1"}}}}
        }},
        "interfaces": [{{"type": "ALEXA_PRESENTATION_APL", "uri": "{FN}:PROD1"}}],
        "futureField": {{"uri": "{FN}:PROD1", "weight": 1.50e0}}
      }}
    }},
    "permissions": [{{"name": "alexa::profile:email:read"}}],
    "manifestVersion": "1.0",
    "x-unknown": {{"nested": [1, 2.0, -3e2, null, false, "\u00e9\"quoted\""]}}
  }}
}}"#
        )
    }

    #[test]
    fn deep_nesting_is_refused_not_recursed_into() {
        // Found by the reader property (src/input/tests.rs): 20,000 levels overflowed the stack.
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let deep = format!("{}1{}", open.repeat(20_000), close.repeat(20_000));
            let error = retarget(deep.as_bytes(), FN, "x").unwrap_err();
            assert_eq!(error, "the manifest nests objects and arrays deeper than 128 levels");
        }
        let shallow = format!("{}1{}", "[".repeat(128), "]".repeat(128));
        assert!(retarget(shallow.as_bytes(), FN, "x").is_ok());
    }

    #[test]
    fn only_the_endpoints_of_this_function_change() {
        let before = manifest();
        let (after, changed) = retarget(before.as_bytes(), FN, &format!("{FN}:PROD2")).unwrap();
        let after = String::from_utf8(after).unwrap();
        assert_eq!(
            changed,
            vec![
                Changed { path: "manifest.apis.custom.endpoint.uri".into(), from: format!("{FN}:PROD1") },
                Changed {
                    path: "manifest.apis.custom.regions.NA.endpoint.uri".into(),
                    from: format!("{FN}:PROD1")
                },
                Changed { path: "manifest.apis.custom.regions.EU.endpoint.uri".into(), from: FN.into() },
            ]
        );
        // Exactly those three strings differ: the same text with them put back is the original.
        let restored = after
            .replacen(
                &format!("\"{FN}:PROD2\", \"sslCertificateType\": \"Trusted\""),
                &format!("\"{FN}:PROD1\", \"sslCertificateType\": \"Trusted\""),
                1,
            )
            .replacen(
                &format!("\"NA\": {{\"endpoint\": {{\"uri\": \"{FN}:PROD2\"}}"),
                &format!("\"NA\": {{\"endpoint\": {{\"uri\": \"{FN}:PROD1\"}}"),
                1,
            )
            .replacen(&format!("\"uri\":\"{FN}:PROD2\""), &format!("\"uri\":\"{FN}\""), 1);
        assert_eq!(restored, before);
        assert!(after.contains(&format!("{FN}-fe:PROD1")), "another function's endpoint stays");
        assert!(after.contains(&format!(
            r#""interfaces": [{{"type": "ALEXA_PRESENTATION_APL", "uri": "{FN}:PROD1"}}]"#
        )));
        assert!(after.contains(&format!(r#""futureField": {{"uri": "{FN}:PROD1", "weight": 1.50e0}}"#)));
        // Again: nothing left to change, and the bytes stay.
        let (again, changed) = retarget(after.as_bytes(), FN, &format!("{FN}:PROD2")).unwrap();
        assert!(changed.is_empty());
        assert_eq!(again, after.as_bytes());
    }

    #[test]
    fn smart_home_and_escaped_strings() {
        let escaped = FN.replace('/', "\\/");
        let body = format!(
            r#"{{"manifest":{{"apis":{{"smartHome":{{"endpoint":{{"uri":"{escaped}:7"}},"protocolVersion":"3"}}}}}}}}"#
        );
        let (after, changed) = retarget(body.as_bytes(), FN, &format!("{FN}:PROD2")).unwrap();
        assert_eq!(changed.len(), 1, "an escaped URI is read as its value");
        assert_eq!(
            String::from_utf8(after).unwrap(),
            format!(
                r#"{{"manifest":{{"apis":{{"smartHome":{{"endpoint":{{"uri":"{FN}:PROD2"}},"protocolVersion":"3"}}}}}}}}"#
            )
        );
        assert!(retarget(b"{\"manifest\": ", FN, "x").unwrap_err().contains("not JSON"));
        assert!(!names(&format!("{FN}:PROD1:extra"), FN));
        assert!(!names(&format!("{FN}x"), FN));
    }
}

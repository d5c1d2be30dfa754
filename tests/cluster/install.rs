//! A user's first command, on an empty real API server: `kubectl apply -f crds/` (and the
//! chart's copy) creates the CRD with nothing on stderr — no invalid pattern (Go's RE2 refuses
//! counted repeats over 1000), no unknown `format`, no deprecation — and the CRD is Established
//! with the printer columns and short name users type. Applying again changes nothing.

use crate::support;

use support::cluster::{FreshApiServer, cluster};

#[tokio::test]
async fn kubectl_apply_of_the_crd_on_an_empty_cluster_is_clean() {
    let Some(_client) = cluster("k8s_install").await else { return };
    let Some(server) = FreshApiServer::start("k8s_install") else { return };

    let (code, out, err) = server.kubectl(&["apply", "-f", "crds/"]);
    assert_eq!(code, 0, "kubectl apply -f crds/ failed: {err}");
    assert_eq!(err, "", "kubectl apply -f crds/ printed on stderr");
    assert_eq!(
        out.trim(),
        "customresourcedefinition.apiextensions.k8s.io/lambdaaliassets.lambda.aliasset.dev created"
    );

    // kubectl wait fails outright ("status.conditions accessor error") when it reads the CRD
    // before the API server has written any condition: ask again until it can wait.
    support::cluster::eventually("the CRD becomes Established", || async {
        match server.kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/lambdaaliassets.lambda.aliasset.dev",
        ]) {
            (0, _, err) if err.is_empty() => Ok(()),
            (code, _, err) => Err(format!("exit {code}: {err}")),
        }
    })
    .await;

    // The chart ships the same CRD: applying its copy over it changes nothing.
    let (code, out, err) = server.kubectl(&["apply", "-f", "charts/lambda-alias-controller/crds/"]);
    assert_eq!((code, err.as_str()), (0, ""), "the chart's copy applies cleanly");
    assert!(out.trim().ends_with("unchanged"), "the chart's copy is the same CRD: {out}");
    let (code, out, err) = server.kubectl(&["apply", "-f", "crds/"]);
    assert_eq!((code, err.as_str()), (0, ""), "re-applying is clean");
    assert!(out.trim().ends_with("unchanged"), "{out}");

    // What users type next works: the short name and the printer columns.
    let (code, out, err) = server.kubectl(&["get", "las", "-A"]);
    assert_eq!((code, err.trim()), (0, "No resources found"), "{out}");
    // The API server publishes the CRD's OpenAPI a moment after it is Established.
    let explained = support::cluster::eventually("kubectl explain knows the CRD", || async {
        match server.kubectl(&["explain", "lambdaaliasset.spec.certification.phase"]) {
            (0, out, _) => Ok(out),
            (_, _, err) => Err(err),
        }
    })
    .await;
    assert!(explained.contains("Development"), "kubectl explain shows the phase's values: {explained}");

    // Every description reads as prose: kubectl wraps it to 80 columns itself, so a line that
    // continues a paragraph was only broken because the next word did not fit (a doc comment's
    // hard wraps made short lines in the middle of sentences).
    let cache = std::env::temp_dir().join(format!("lac-explain-cache-{}", std::process::id()));
    let cache = cache.to_str().expect("a UTF-8 temp dir");
    let mut checked = 0;
    for path in object_paths() {
        let field = format!("lambdaaliasset{path}");
        let (code, out, err) = server.kubectl(&["explain", &field, "--cache-dir", cache]);
        assert_eq!(code, 0, "kubectl explain {field}: {err}");
        if let Some((line, next)) = ragged(&out).first() {
            panic!("kubectl explain {field}: a line break inside a sentence:\n{line}\n{next}\n\n{out}");
        }
        checked += 1;
    }
    assert!(checked > 10, "explained {checked} objects");
    eprintln!("kubectl explain: {checked} objects of the CRD, every description reads as prose");
    let _ = std::fs::remove_dir_all(cache);
}

/// `.spec`, `.spec.rollout`, ...: every object (or list of objects) of the CRD's schema, whose
/// explanation shows its own description and its fields'.
fn object_paths() -> Vec<String> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        JSONSchemaProps, JSONSchemaPropsOrArray,
    };
    fn walk(path: &str, schema: &JSONSchemaProps, out: &mut Vec<String>) {
        let node = match &schema.items {
            Some(JSONSchemaPropsOrArray::Schema(item)) => item.as_ref(),
            _ => schema,
        };
        let Some(properties) = &node.properties else { return };
        out.push(path.to_string());
        for (name, child) in properties {
            walk(&format!("{path}.{name}"), child, out);
        }
    }
    let crd = lambda_alias_controller::api::crd();
    let root =
        crd.spec.versions[0].schema.as_ref().and_then(|s| s.open_api_v3_schema.as_ref()).expect("schema");
    let mut out = Vec::new();
    for top in ["spec", "status"] {
        walk(&format!(".{top}"), &root.properties.as_ref().expect("properties")[top], &mut out);
    }
    out
}

/// Consecutive lines of one paragraph of text in `kubectl explain`'s output where the first
/// was broken inside a sentence although the next word would have fit in 80 columns.
fn ragged(out: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = out.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut found = Vec::new();
    for pair in lines.windows(2) {
        let (line, next) = (pair[0], pair[1]);
        let prose = |l: &str| indent(l) >= 4 && !l.trim().is_empty() && !l.contains('\t');
        if !prose(line) || !prose(next) || indent(line) != indent(next) {
            continue;
        }
        // A break after a sentence's end is not inside a sentence (kubectl prints a list's
        // description and its items' on lines of their own).
        if line.trim_end().ends_with(['.', ':', '!', '?']) {
            continue;
        }
        let word = next.split_whitespace().next().unwrap_or_default();
        // A list item starts a line of its own.
        if word == "-" || word == "*" || word.trim_end_matches('.').parse::<u32>().is_ok() {
            continue;
        }
        if line.trim_end().len() + 1 + word.len() <= 80 {
            found.push((line.to_string(), next.to_string()));
        }
    }
    found
}

//! A user's first command, on an empty real API server: `kubectl apply -f crds/` (and the
//! chart's copy) creates the CRD with nothing on stderr — no invalid pattern (Go's RE2 refuses
//! counted repeats over 1000), no unknown `format`, no deprecation — and the CRD is Established
//! with the printer columns and short name users type. Applying again changes nothing.

mod support;

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

    let (code, _, err) = server.kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/lambdaaliassets.lambda.aliasset.dev",
    ]);
    assert_eq!((code, err.as_str()), (0, ""), "the CRD becomes Established");

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
}

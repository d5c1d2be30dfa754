//! End to end: the real `lambda-alias-controller` binary (`plan`, `apply`) against moto.
//!
//! Each test writes manifests into a fresh temp dir, runs the binary as a child process with
//! the moto environment (`support::moto_env()`), and inspects AWS with the SDK. Every test uses
//! its own uniquely named function(s) and queue(s): moto is shared by the tests of this binary,
//! which run in parallel. The contract checked after every successful `apply` is the README's ("The CLI"):
//! `plan` then exits 0.
//!
//! moto here runs through tests/support/moto_faithful.py, so resource policies are per
//! qualifier, keep `lambda:EventSourceToken`, and mappings report the alias ARN they invoke.
//! Nothing here relies on moto enforcing RevisionId or CodeSha256 preconditions, and no
//! assertion is about durations (the one drain test sleeps until just past its drain).

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_lambda::primitives::Blob;
use serde_json::Value;
use support::run_bounded;
use support::run_cli as run;

/// moto's default account: the account of every ARN it hands out.
const ACCOUNT: &str = "123456789012";
const SKILL_ID: &str = "amzn1.ask.skill.3b4c5d6e-1234-4f00-9a9a-0123456789ab";

// ---------------------------------------------------------------------------------------------
// Running the binary (support::run_cli, against moto)
// ---------------------------------------------------------------------------------------------

fn show(args: &[&str], code: i32, stdout: &str, stderr: &str) -> String {
    format!(
        "$ lambda-alias-controller {}\n(exit {code})\n--- stdout\n{stdout}--- stderr\n{stderr}",
        args.join(" ")
    )
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// `plan -f path`: (exit code, stdout, stderr).
fn plan(path: &Path) -> (i32, String, String) {
    run(&["plan", "-f", path_str(path)])
}

fn plan_exit(path: &Path) -> i32 {
    plan(path).0
}

/// `apply -f path`, asserting exit 0 and then that `plan` has nothing left to do (exit 0).
/// Returns apply's stdout (the status YAML).
fn apply(path: &Path) -> String {
    let args = ["apply", "-f", path_str(path)];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 0, "apply failed\n{}", show(&args, code, &stdout, &stderr));
    let (pcode, pout, perr) = plan(path);
    assert_eq!(
        pcode,
        0,
        "plan must exit 0 after a successful apply\n{}\n{}",
        show(&args, code, &stdout, &stderr),
        show(&["plan", "-f", path_str(path)], pcode, &pout, &perr)
    );
    stdout
}

/// `apply -f path` expected to fail: asserts exit 1 and returns (stdout, stderr).
fn apply_fails(path: &Path) -> (String, String) {
    let args = ["apply", "-f", path_str(path)];
    let (code, stdout, stderr) = run(&args);
    assert_eq!(code, 1, "apply should exit 1\n{}", show(&args, code, &stdout, &stderr));
    (stdout, stderr)
}

/// Every YAML document `apply` printed, as JSON values.
fn statuses(stdout: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(stdout)
        .map(|doc| {
            let yaml = serde_yaml::Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("apply printed invalid YAML: {e}\n{stdout}"));
            serde_json::to_value(yaml).expect("YAML to JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The one status `apply` printed for a single-manifest file.
fn status(stdout: &str) -> Value {
    let mut all = statuses(stdout);
    assert_eq!(all.len(), 1, "expected one status document:\n{stdout}");
    all.remove(0)
}

fn text(value: &Value, pointer: &str) -> String {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
        .to_owned()
}

/// The Ready condition's reason in a printed status.
fn ready_reason(status: &Value) -> String {
    let conditions = status.pointer("/status/conditions").and_then(Value::as_array).expect("conditions");
    let ready = conditions.iter().find(|c| c["type"] == "Ready").expect("a Ready condition");
    text(ready, "/reason")
}

// ---------------------------------------------------------------------------------------------
// Manifests in a per-test temp dir
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(prefix: &str) -> Scratch {
        let dir = std::env::temp_dir().join(support::unique_name(&format!("lac-e2e-{prefix}")));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Scratch(dir)
    }

    /// Writes `text` to `file` (relative to the dir, parents created) and returns its path.
    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A LambdaAliasSet document; `spec` is the body under `spec:` (any common indentation is
/// stripped, then it is indented under `spec:`), after `functionName`.
fn las(namespace: &str, name: &str, function: &str, spec: &str) -> String {
    let mut out = format!(
        "apiVersion: lambda.aliasset.dev/v1alpha1\nkind: LambdaAliasSet\n\
         metadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  functionName: {function}\n"
    );
    for line in dedent(spec).lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Drops blank lines and the indentation all other lines share (YAML written indented in code).
fn dedent(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let indent = lines.iter().map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    lines.iter().map(|l| format!("{}\n", &l[indent..])).collect()
}

/// A code hash that matches the pattern but no code ever deployed.
const NEVER_DEPLOYED: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

// ---------------------------------------------------------------------------------------------
// AWS state through the SDK
// ---------------------------------------------------------------------------------------------

fn is_not_found<E: ProvideErrorMetadata, R>(error: &aws_sdk_lambda::error::SdkError<E, R>) -> bool {
    error.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException")
}

/// Uploads code `marker` to `$LATEST` (a CI deploy) and returns its CodeSha256.
async fn deploy(client: &Client, function: &str, marker: &str) -> String {
    let out = client
        .update_function_code()
        .function_name(function)
        .zip_file(Blob::new(support::demo_zip(marker)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateFunctionCode {function}: {}", DisplayErrorContext(&e)));
    out.code_sha256().expect("CodeSha256").to_owned()
}

/// Creates a function with code `marker` and returns its CodeSha256.
async fn create_function(client: &Client, function: &str, marker: &str) -> String {
    let created = support::create_function(client, function, marker).await;
    created.code_sha256().expect("CodeSha256").to_owned()
}

/// (version, description) of an alias, `None` when it does not exist.
async fn get_alias(client: &Client, function: &str, alias: &str) -> Option<(String, String)> {
    match client.get_alias().function_name(function).name(alias).send().await {
        Ok(out) => Some((
            out.function_version().unwrap_or_default().to_owned(),
            out.description().unwrap_or_default().to_owned(),
        )),
        Err(e) if is_not_found(&e) => None,
        Err(e) => panic!("GetAlias {function}:{alias}: {}", DisplayErrorContext(&e)),
    }
}

async fn alias_version(client: &Client, function: &str, alias: &str) -> String {
    get_alias(client, function, alias)
        .await
        .unwrap_or_else(|| panic!("alias {alias} of {function} is missing"))
        .0
}

/// The alias's Description: our role marker.
async fn alias_marker(client: &Client, function: &str, alias: &str) -> String {
    get_alias(client, function, alias)
        .await
        .unwrap_or_else(|| panic!("alias {alias} of {function} is missing"))
        .1
}

/// `key=value` from a marker (`las:v1 owner=ns/name role=live epoch=2 ...`).
fn marker_field(marker: &str, key: &str) -> Option<String> {
    marker.split_whitespace().find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_owned))
}

/// Alias names of the function, sorted.
async fn alias_names(client: &Client, function: &str) -> Vec<String> {
    let out = client
        .list_aliases()
        .function_name(function)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListAliases {function}: {}", DisplayErrorContext(&e)));
    let mut names: Vec<String> = out.aliases().iter().filter_map(|a| a.name().map(str::to_owned)).collect();
    names.sort();
    names
}

/// Published versions (not `$LATEST`) with their code hashes.
async fn versions(client: &Client, function: &str) -> BTreeMap<String, String> {
    let out = client
        .list_versions_by_function()
        .function_name(function)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListVersionsByFunction {function}: {}", DisplayErrorContext(&e)));
    out.versions()
        .iter()
        .filter(|v| v.version() != Some("$LATEST"))
        .map(|v| (v.version().unwrap_or_default().to_owned(), v.code_sha256().unwrap_or_default().to_owned()))
        .collect()
}

/// The code hash of a published version.
async fn version_sha(client: &Client, function: &str, version: &str) -> String {
    versions(client, function)
        .await
        .remove(version)
        .unwrap_or_else(|| panic!("{function} has no published version {version}"))
}

/// The statements of an alias's own resource policy (empty when it has none).
async fn statements(client: &Client, function: &str, alias: &str) -> Vec<Value> {
    match client.get_policy().function_name(function).qualifier(alias).send().await {
        Ok(out) => {
            let policy: Value = serde_json::from_str(out.policy().unwrap_or("{}")).expect("policy JSON");
            match policy.get("Statement") {
                Some(Value::Array(list)) => list.clone(),
                Some(one @ Value::Object(_)) => vec![one.clone()],
                _ => Vec::new(),
            }
        }
        Err(e) if is_not_found(&e) => Vec::new(),
        Err(e) => panic!("GetPolicy {function}:{alias}: {}", DisplayErrorContext(&e)),
    }
}

/// Statement ids in an alias's policy, sorted.
async fn sids(client: &Client, function: &str, alias: &str) -> Vec<String> {
    let mut sids: Vec<String> = statements(client, function, alias)
        .await
        .iter()
        .map(|s| s["Sid"].as_str().unwrap_or("").to_owned())
        .collect();
    sids.sort();
    sids
}

/// The statement with `sid` in an alias's policy; panics when absent.
async fn statement(client: &Client, function: &str, alias: &str, sid: &str) -> Value {
    let all = statements(client, function, alias).await;
    all.iter()
        .find(|s| s["Sid"] == sid)
        .cloned()
        .unwrap_or_else(|| panic!("no statement {sid} on {function}:{alias}: {all:#?}"))
}

/// A statement's principal, whether written as a string or `{"Service": ...}`.
fn principal(statement: &Value) -> String {
    match &statement["Principal"] {
        Value::String(s) => s.clone(),
        Value::Object(map) => map.values().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A condition value by key (case-insensitive, any operator), e.g. `AWS:SourceArn`.
fn condition(statement: &Value, key: &str) -> Option<String> {
    let Some(Value::Object(operators)) = statement.get("Condition") else { return None };
    operators.values().filter_map(Value::as_object).flat_map(|m| m.iter()).find_map(|(k, v)| {
        k.eq_ignore_ascii_case(key).then(|| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
    })
}

/// Event source mappings reading from `queue_arn` (any function).
async fn queue_mappings(
    client: &Client,
    queue_arn: &str,
) -> Vec<aws_sdk_lambda::types::EventSourceMappingConfiguration> {
    client
        .list_event_source_mappings()
        .event_source_arn(queue_arn)
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListEventSourceMappings {queue_arn}: {}", DisplayErrorContext(&e)))
        .event_source_mappings()
        .to_vec()
}

/// The aliases of `function` with a mapping from `queue_arn` (listed by alias ARN), sorted.
async fn mapped_aliases(client: &Client, function: &str, queue_arn: &str) -> Vec<String> {
    let mut found = Vec::new();
    for alias in alias_names(client, function).await {
        let arn = function_arn(function, &alias);
        let out = client
            .list_event_source_mappings()
            .function_name(&arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListEventSourceMappings {arn}: {}", DisplayErrorContext(&e)));
        for m in out.event_source_mappings() {
            if m.event_source_arn() == Some(queue_arn) {
                found.push(alias.clone());
            }
        }
    }
    found.sort();
    found
}

fn function_arn(function: &str, alias: &str) -> String {
    format!("arn:aws:lambda:{}:{ACCOUNT}:function:{function}:{alias}", support::REGION)
}

/// Everything observable about a function that a set could write: published versions, each
/// alias's version and description, and each alias's policy and mappings. For "nothing was
/// written" assertions.
async fn world(client: &Client, function: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    out.insert("versions".to_owned(), format!("{:?}", versions(client, function).await));
    for alias in alias_names(client, function).await {
        out.insert(format!("alias {alias}"), format!("{:?}", get_alias(client, function, &alias).await));
        out.insert(format!("policy {alias}"), format!("{:?}", statements(client, function, &alias).await));
        let arn = function_arn(function, &alias);
        let mappings = client
            .list_event_source_mappings()
            .function_name(&arn)
            .send()
            .await
            .unwrap_or_else(|e| panic!("ListEventSourceMappings {arn}: {}", DisplayErrorContext(&e)));
        let mut listed: Vec<String> = mappings
            .event_source_mappings()
            .iter()
            .map(|m| format!("{:?} {:?} {:?}", m.uuid(), m.event_source_arn(), m.batch_size()))
            .collect();
        listed.sort();
        out.insert(format!("mappings {alias}"), format!("{listed:?}"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// 1. The Alexa seed workflow
// ---------------------------------------------------------------------------------------------

/// The drain in the one test that exercises it. The marker records the swap in whole seconds,
/// so the drain can end up to a second early: 4 s leaves the second `apply` + `plan` (well
/// under a second each) ample room to run inside it. Nothing asserts on durations.
const DRAIN_SECONDS: u32 = 4;

/// Sleeps until the wall clock has passed `unix` seconds (plus a little).
fn sleep_until_unix(unix: i64) {
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs_f64();
    let wait = (unix as f64 - now).max(0.0) + 0.2;
    std::thread::sleep(std::time::Duration::from_secs_f64(wait));
}

/// The skill's manifest: `certification` is the flow mapping under `certification:`, `live`
/// an optional `live:` line.
fn skill(function: &str, certification: &str, live: Option<&str>, drain: u32) -> String {
    let live = live.map(|l| format!("live: {l}")).unwrap_or_default();
    las(
        "skills",
        "trivia",
        function,
        &format!(
            "
            aliases: [PROD1, PROD2]
            drainSeconds: {drain}
            certification: {certification}
            {live}
            triggers:
              - name: alexa
                alexaSkill: {{skillId: {SKILL_ID}}}
            "
        ),
    )
}

/// Asserts the Alexa statement on `alias`: principal and the skill id as EventSourceToken.
async fn assert_alexa_statement(client: &Client, function: &str, alias: &str) {
    let st = statement(client, function, alias, "las-alexa").await;
    assert_eq!(principal(&st), "alexa-appkit.amazon.com", "{alias}: {st:#}");
    assert_eq!(condition(&st, "lambda:EventSourceToken").as_deref(), Some(SKILL_ID), "{alias}: {st:#}");
}

#[tokio::test]
async fn seed_workflow_rotates_prod1_and_prod2() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-seed");
    let scratch = Scratch::new("seed");
    let file = scratch.path("trivia.yaml");
    let write = |text: String| scratch.write("trivia.yaml", &text);
    let code_a = create_function(&client, &f, "A").await;

    // Development: PROD1 live on a version published from $LATEST, PROD2 tracks $LATEST,
    // both carry the Alexa permission.
    write(skill(&f, "{phase: Development}", None, 0));
    assert_eq!(plan_exit(&file), 2, "a fresh function has work pending");
    apply(&file);
    assert_eq!(alias_version(&client, &f, "PROD1").await, "1");
    assert_eq!(version_sha(&client, &f, "1").await, code_a);
    assert_eq!(alias_version(&client, &f, "PROD2").await, "$LATEST");
    for alias in ["PROD1", "PROD2"] {
        assert_alexa_statement(&client, &f, alias).await;
    }
    assert_eq!(marker_field(&alias_marker(&client, &f, "PROD1").await, "role").as_deref(), Some("live"));
    assert_eq!(
        marker_field(&alias_marker(&client, &f, "PROD1").await, "owner").as_deref(),
        Some("skills/trivia")
    );

    // CI deploys B: the candidate follows $LATEST by itself, nothing to do.
    let code_b = deploy(&client, &f, "B").await;
    assert_eq!(plan_exit(&file), 0);

    // Certifying: PROD2 is frozen on a new version with B's code.
    write(skill(&f, "{phase: Certifying, description: \"1.1.0\"}", None, 0));
    assert_eq!(plan_exit(&file), 2);
    apply(&file);
    let frozen = alias_version(&client, &f, "PROD2").await;
    assert_ne!(frozen, "$LATEST");
    assert_ne!(frozen, "1");
    assert_eq!(version_sha(&client, &f, &frozen).await, code_b);
    assert_eq!(alias_version(&client, &f, "PROD1").await, "1", "live untouched by Certifying");

    // Development goes on (C): the frozen candidate does not move.
    let code_c = deploy(&client, &f, "C").await;
    assert_eq!(plan_exit(&file), 0, "a later $LATEST never moves a frozen candidate");
    assert_eq!(alias_version(&client, &f, "PROD2").await, frozen);

    // Hotfix: the live alias moves to C's code, the candidate stays frozen.
    write(skill(
        &f,
        "{phase: Certifying, description: \"1.1.0\"}",
        Some(&format!("{{codeSha256: \"{code_c}\"}}")),
        0,
    ));
    apply(&file);
    let hotfix = alias_version(&client, &f, "PROD1").await;
    assert_ne!(hotfix, "1");
    assert_eq!(version_sha(&client, &f, &hotfix).await, code_c);
    assert_eq!(alias_version(&client, &f, "PROD2").await, frozen);

    // Certified, with a drain: PROD2 becomes live, PROD1 keeps the hotfix while it drains.
    let certified = format!("{{phase: Certified, codeSha256: \"{code_b}\"}}");
    write(skill(&f, &certified, None, DRAIN_SECONDS));
    let applied = status(&apply(&file));
    assert_eq!(text(&applied, "/status/live/alias"), "PROD2", "{applied:#}");
    assert_eq!(text(&applied, "/status/live/version"), frozen, "{applied:#}");
    assert_eq!(ready_reason(&applied), "Draining", "{applied:#}");
    assert_eq!(alias_version(&client, &f, "PROD2").await, frozen);
    assert_eq!(alias_version(&client, &f, "PROD1").await, hotfix, "the old live alias drains");
    let prod2_marker = alias_marker(&client, &f, "PROD2").await;
    let prod1_marker = alias_marker(&client, &f, "PROD1").await;
    assert_eq!(marker_field(&prod2_marker, "role").as_deref(), Some("live"), "{prod2_marker}");
    let epoch = |m: &str| marker_field(m, "epoch").and_then(|e| e.parse::<u64>().ok()).expect("an epoch");
    assert!(epoch(&prod2_marker) > epoch(&prod1_marker), "{prod2_marker} / {prod1_marker}");

    // Applying again never swaps again.
    let again = status(&apply(&file));
    assert_eq!(text(&again, "/status/live/alias"), "PROD2", "{again:#}");
    assert_eq!(alias_marker(&client, &f, "PROD2").await, prod2_marker, "no second swap");
    assert_eq!(alias_marker(&client, &f, "PROD1").await, prod1_marker, "no second swap");
    assert_eq!(alias_version(&client, &f, "PROD1").await, hotfix);

    // After the drain PROD1 becomes the candidate and tracks $LATEST.
    let swapped_at: i64 =
        marker_field(&prod2_marker, "at").and_then(|a| a.parse().ok()).expect("at= in the marker");
    sleep_until_unix(swapped_at + i64::from(DRAIN_SECONDS));
    let after = status(&apply(&file));
    assert_eq!(ready_reason(&after), "Converged", "{after:#}");
    assert_eq!(alias_version(&client, &f, "PROD1").await, "$LATEST");
    assert_eq!(alias_version(&client, &f, "PROD2").await, frozen);
    for alias in ["PROD1", "PROD2"] {
        assert_alexa_statement(&client, &f, alias).await;
    }

    // Next round, roles reversed: PROD1 is the candidate.
    write(skill(&f, "{phase: Development}", None, 0));
    apply(&file);
    assert_eq!(alias_version(&client, &f, "PROD1").await, "$LATEST");
    let code_d = deploy(&client, &f, "D").await;
    write(skill(&f, "{phase: Certifying}", None, 0));
    apply(&file);
    let frozen_d = alias_version(&client, &f, "PROD1").await;
    assert_ne!(frozen_d, "$LATEST");
    assert_eq!(version_sha(&client, &f, &frozen_d).await, code_d);
    assert_eq!(alias_version(&client, &f, "PROD2").await, frozen, "live untouched");

    write(skill(&f, "{phase: Certified}", None, 0));
    let swapped = status(&apply(&file));
    assert_eq!(text(&swapped, "/status/live/alias"), "PROD1", "{swapped:#}");
    assert_eq!(alias_version(&client, &f, "PROD1").await, frozen_d);
    assert_eq!(
        alias_version(&client, &f, "PROD2").await,
        "$LATEST",
        "no drain: PROD2 tracks $LATEST at once"
    );
    let prod1 = alias_marker(&client, &f, "PROD1").await;
    let prod2 = alias_marker(&client, &f, "PROD2").await;
    assert_eq!(marker_field(&prod1, "role").as_deref(), Some("live"), "{prod1}");
    assert_eq!(marker_field(&prod2, "role").as_deref(), Some("candidate"), "{prod2}");
    for alias in ["PROD1", "PROD2"] {
        assert_alexa_statement(&client, &f, alias).await;
    }
}

// ---------------------------------------------------------------------------------------------
// 2. API Gateway, S3, EventBridge, a generic permission and an SQS mapping
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn api_gateway_s3_sqs_and_eventbridge_triggers() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-trig");
    create_function(&client, &f, "A").await;
    let queue = support::create_sqs_queue(&support::unique_name("e2e-orders"));
    let scratch = Scratch::new("triggers");
    let api_arn = format!("arn:aws:execute-api:{}:{ACCOUNT}:abc123/*/POST/orders", support::REGION);
    let bucket_arn = "arn:aws:s3:::e2e-uploads-bucket";
    let rule_arn = format!("arn:aws:events:{}:{ACCOUNT}:rule/nightly", support::REGION);
    let topic_arn = format!("arn:aws:sns:{}:{ACCOUNT}:alerts", support::REGION);
    let manifest = |phase: &str, batch: u32, with_other_and_queue: bool| {
        let mut triggers = format!(
            "
            drainSeconds: 0
            certification: {{phase: {phase}}}
            triggers:
              - name: api
                apiGateway: {{sourceArn: \"{api_arn}\"}}
                target: Live
              - name: uploads
                s3: {{bucketArn: \"{bucket_arn}\", sourceAccount: \"{ACCOUNT}\"}}
              - name: nightly
                eventBridge: {{ruleArn: \"{rule_arn}\"}}
                target: Candidate
            "
        );
        if with_other_and_queue {
            triggers.push_str(&format!(
                "
              - name: other
                permission: {{principal: sns.amazonaws.com, sourceArn: \"{topic_arn}\"}}
              - name: orders
                eventSourceMapping: {{eventSourceArn: \"{queue}\", batchSize: {batch}}}
                "
            ));
        }
        las("shop", "orders", &f, &triggers)
    };
    let file = scratch.write("orders.yaml", &manifest("Development", 10, true));
    apply(&file);

    // Statements land on the aliases their target names, with the right conditions.
    assert_eq!(sids(&client, &f, "PROD1").await, ["las-api", "las-other", "las-uploads"]);
    assert_eq!(sids(&client, &f, "PROD2").await, ["las-nightly", "las-other", "las-uploads"]);
    let api = statement(&client, &f, "PROD1", "las-api").await;
    assert_eq!(principal(&api), "apigateway.amazonaws.com");
    assert_eq!(condition(&api, "AWS:SourceArn").as_deref(), Some(api_arn.as_str()), "{api:#}");
    for alias in ["PROD1", "PROD2"] {
        let s3 = statement(&client, &f, alias, "las-uploads").await;
        assert_eq!(principal(&s3), "s3.amazonaws.com");
        assert_eq!(condition(&s3, "AWS:SourceArn").as_deref(), Some(bucket_arn), "{s3:#}");
        assert_eq!(condition(&s3, "AWS:SourceAccount").as_deref(), Some(ACCOUNT), "{s3:#}");
        let other = statement(&client, &f, alias, "las-other").await;
        assert_eq!(principal(&other), "sns.amazonaws.com");
        assert_eq!(condition(&other, "AWS:SourceArn").as_deref(), Some(topic_arn.as_str()), "{other:#}");
    }
    let nightly = statement(&client, &f, "PROD2", "las-nightly").await;
    assert_eq!(principal(&nightly), "events.amazonaws.com");
    assert_eq!(condition(&nightly, "AWS:SourceArn").as_deref(), Some(rule_arn.as_str()), "{nightly:#}");

    // One mapping, on the live alias.
    let mappings = queue_mappings(&client, &queue).await;
    assert_eq!(mappings.len(), 1, "{mappings:#?}");
    let uuid = mappings[0].uuid().expect("uuid").to_owned();
    assert_eq!(mappings[0].function_arn(), Some(function_arn(&f, "PROD1").as_str()));
    assert_eq!(mappings[0].batch_size(), Some(10));
    assert_eq!(mapped_aliases(&client, &f, &queue).await, ["PROD1"]);

    // A new batch size updates the same mapping.
    scratch.write("orders.yaml", &manifest("Development", 5, true));
    assert_eq!(plan_exit(&file), 2);
    apply(&file);
    let mappings = queue_mappings(&client, &queue).await;
    assert_eq!(mappings.len(), 1, "{mappings:#?}");
    assert_eq!(mappings[0].uuid(), Some(uuid.as_str()), "updated in place");
    assert_eq!(mappings[0].batch_size(), Some(5));

    // A rotation: the Live statement and the mapping follow the new live alias (PROD2), the
    // Candidate statement moves to PROD1; still one mapping, the same one.
    scratch.write("orders.yaml", &manifest("Certifying", 5, true));
    apply(&file);
    scratch.write("orders.yaml", &manifest("Certified", 5, true));
    let rotated = status(&apply(&file));
    assert_eq!(text(&rotated, "/status/live/alias"), "PROD2", "{rotated:#}");
    assert_eq!(sids(&client, &f, "PROD2").await, ["las-api", "las-other", "las-uploads"]);
    assert_eq!(sids(&client, &f, "PROD1").await, ["las-nightly", "las-other", "las-uploads"]);
    let mappings = queue_mappings(&client, &queue).await;
    assert_eq!(mappings.len(), 1, "never two pollers for one role: {mappings:#?}");
    assert_eq!(mappings[0].uuid(), Some(uuid.as_str()), "moved, not recreated");
    assert_eq!(mapped_aliases(&client, &f, &queue).await, ["PROD2"]);

    // Triggers removed from the manifest: their statements and the mapping go.
    scratch.write("orders.yaml", &manifest("Certified", 5, false));
    let (code, out, _) = plan(&file);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("remove permission las-other"), "{out}");
    apply(&file);
    assert_eq!(sids(&client, &f, "PROD2").await, ["las-api", "las-uploads"]);
    assert_eq!(sids(&client, &f, "PROD1").await, ["las-nightly", "las-uploads"]);
    assert!(queue_mappings(&client, &queue).await.is_empty(), "the mapping is deleted");
    assert!(mapped_aliases(&client, &f, &queue).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 3. Stage aliases
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stage_tracks_latest_and_pins() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-stage");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("stages");
    let api_arn = format!("arn:aws:execute-api:{}:{ACCOUNT}:dev123/*/GET/items", support::REGION);
    // `stages` is the whole `stages:` block (or nothing); the API trigger goes to `target`.
    let manifest = |stages: &str, target: &str| {
        let triggers = format!(
            "
            triggers:
              - name: api
                apiGateway: {{sourceArn: \"{api_arn}\"}}
                target: {target}
            "
        );
        las("apps", "items", &f, &format!("drainSeconds: 0\n{stages}\n{}", dedent(&triggers)))
    };
    // First without stages: the bootstrap publishes version 1 (a stage pinned to a version
    // that does not exist yet would be VersionNotFound).
    let file = scratch.write("items.yaml", &manifest("", "Live"));
    apply(&file);
    assert_eq!(alias_version(&client, &f, "PROD1").await, "1");
    deploy(&client, &f, "B").await;

    let both = "stages:\n  - {alias: DEV, track: $LATEST}\n  - {alias: STG, version: \"1\"}";
    scratch.write("items.yaml", &manifest(both, "DEV"));
    assert_eq!(plan_exit(&file), 2);
    let applied = status(&apply(&file));
    assert_eq!(alias_version(&client, &f, "DEV").await, "$LATEST");
    assert_eq!(alias_version(&client, &f, "STG").await, "1");
    let api = statement(&client, &f, "DEV", "las-api").await;
    assert_eq!(condition(&api, "AWS:SourceArn").as_deref(), Some(api_arn.as_str()), "{api:#}");
    assert!(sids(&client, &f, "STG").await.is_empty());
    assert!(!sids(&client, &f, "PROD1").await.contains(&"las-api".to_owned()), "moved to DEV only");
    let stages = applied.pointer("/status/stages").and_then(Value::as_array).expect("status.stages");
    assert!(stages.iter().any(|s| s["summary"] == "STG:1"), "{applied:#}");

    // STG removed from the manifest: the alias it created is deleted; DEV stays.
    scratch.write("items.yaml", &manifest("stages:\n  - {alias: DEV, track: $LATEST}", "DEV"));
    apply(&file);
    assert_eq!(get_alias(&client, &f, "STG").await, None, "STG is deleted");
    assert_eq!(alias_version(&client, &f, "DEV").await, "$LATEST");
    assert_eq!(alias_names(&client, &f).await, ["DEV", "PROD1", "PROD2"]);
}

// ---------------------------------------------------------------------------------------------
// 4. Drift
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn drift_is_put_back_and_foreign_statements_are_left_alone() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-drift");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("drift");
    let file = scratch.write("drift.yaml", &skill(&f, "{phase: Development}", None, 0));
    apply(&file);
    assert_eq!(alias_version(&client, &f, "PROD1").await, "1");

    // Out of band: PROD1 re-pointed (marker kept, as a console edit of the version would),
    // a foreign statement on PROD2, our statement removed from PROD1.
    deploy(&client, &f, "B").await;
    let other = client
        .publish_version()
        .function_name(&f)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PublishVersion: {}", DisplayErrorContext(&e)))
        .version()
        .expect("version")
        .to_owned();
    assert_ne!(other, "1");
    let marker = alias_marker(&client, &f, "PROD1").await;
    client
        .update_alias()
        .function_name(&f)
        .name("PROD1")
        .function_version(&other)
        .description(&marker)
        .send()
        .await
        .unwrap_or_else(|e| panic!("UpdateAlias: {}", DisplayErrorContext(&e)));
    client
        .add_permission()
        .function_name(&f)
        .qualifier("PROD2")
        .statement_id("console-added")
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
        .source_arn(format!("arn:aws:events:{}:{ACCOUNT}:rule/console", support::REGION))
        .send()
        .await
        .unwrap_or_else(|e| panic!("AddPermission: {}", DisplayErrorContext(&e)));
    client
        .remove_permission()
        .function_name(&f)
        .qualifier("PROD1")
        .statement_id("las-alexa")
        .send()
        .await
        .unwrap_or_else(|e| panic!("RemovePermission: {}", DisplayErrorContext(&e)));
    assert_eq!(alias_version(&client, &f, "PROD1").await, other);
    assert!(sids(&client, &f, "PROD1").await.is_empty());

    // plan sees both fixes, and nothing about the foreign statement.
    let (code, out, err) = plan(&file);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("point alias PROD1 -> 1"), "{out}");
    assert!(out.contains("add permission las-alexa for trigger alexa on PROD1"), "{out}");
    assert!(!out.contains("console-added"), "{out}");

    apply(&file);
    assert_eq!(alias_version(&client, &f, "PROD1").await, "1", "put back");
    assert_alexa_statement(&client, &f, "PROD1").await;
    assert_eq!(sids(&client, &f, "PROD2").await, ["console-added", "las-alexa"], "foreign statement kept");
    assert_eq!(alias_version(&client, &f, "PROD2").await, "$LATEST");
}

// ---------------------------------------------------------------------------------------------
// 5. Two sets, one function
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn second_set_on_the_same_function_is_refused_with_nothing_written() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-owned");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("owned");
    let first = scratch.write(
        "a.yaml",
        &las(
            "team-a",
            "first",
            &f,
            "
            drainSeconds: 0
            triggers:
              - name: alexa
                alexaSkill: {skillId: amzn1.ask.skill.first}
            ",
        ),
    );
    apply(&first);
    deploy(&client, &f, "B").await;
    let before = world(&client, &f).await;

    // Same function, same aliases, another owner, another trigger and phase.
    let second = scratch.write(
        "b.yaml",
        &las(
            "team-b",
            "second",
            &f,
            "
            drainSeconds: 0
            certification: {phase: Certifying}
            triggers:
              - name: other
                alexaSkill: {skillId: amzn1.ask.skill.second}
            ",
        ),
    );
    let (code, out, err) = plan(&second);
    assert_eq!(code, 1, "{}", show(&["plan"], code, &out, &err));
    let both = format!("{out}{err}");
    assert!(both.contains("OwnedByOther") && both.contains("team-a/first"), "{both}");

    let (out, err) = apply_fails(&second);
    let both = format!("{out}{err}");
    assert!(both.contains("team-a/first"), "apply names the owner: {both}");
    assert_eq!(ready_reason(&status(&out)), "OwnedByOther", "{out}");
    assert_eq!(world(&client, &f).await, before, "the refused set wrote nothing");

    // The owner is unaffected.
    assert_eq!(plan_exit(&first), 0);
}

// ---------------------------------------------------------------------------------------------
// 6. Bad manifests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_manifests_are_rejected_naming_the_field_with_nothing_written() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-bad");
    let g = support::unique_name("e2e-bad2");
    create_function(&client, &f, "A").await;
    create_function(&client, &g, "A").await;
    let scratch = Scratch::new("bad");
    let nothing_written = |label: &'static str| {
        let client = client.clone();
        let (f, g) = (f.clone(), g.clone());
        async move {
            for function in [&f, &g] {
                assert!(alias_names(&client, function).await.is_empty(), "{label}: {function} got aliases");
                assert!(versions(&client, function).await.is_empty(), "{label}: {function} got versions");
            }
        }
    };

    // (a) Duplicate aliases: the object and the field are named.
    let dup = scratch.write("dup.yaml", &las("bad", "dup", &f, "aliases: [PROD1, PROD1]\n"));
    let (_, err) = apply_fails(&dup);
    assert!(err.contains("bad/dup") && err.contains("spec.aliases"), "{err}");
    assert_eq!(plan_exit(&dup), 1);
    nothing_written("duplicate aliases").await;

    // (a') A trigger with two kinds.
    let two = scratch.write(
        "two.yaml",
        &las(
            "bad",
            "two-kinds",
            &f,
            "
            triggers:
              - name: both
                alexaSkill: {skillId: amzn1.ask.skill.x}
                eventBridge: {ruleArn: \"arn:aws:events:us-east-1:123456789012:rule/r\"}
            ",
        ),
    );
    let (_, err) = apply_fails(&two);
    assert!(err.contains("bad/two-kinds") && err.contains("spec.triggers[0]"), "{err}");
    nothing_written("two trigger kinds").await;

    // (a'') An unknown field is an error, not silently dropped.
    let unknown = scratch.write("unknown.yaml", &las("bad", "typo", &f, "liveAlias: PROD2\n"));
    let (_, err) = apply_fails(&unknown);
    assert!(err.contains("bad/typo") && err.contains("spec.liveAlias"), "{err}");
    nothing_written("unknown field").await;

    // (b) One valid and one invalid document in one file: every manifest is validated
    // before anything is written, so neither set writes.
    let good = las("ok", "good", &g, "drainSeconds: 0\n");
    let bad =
        las("bad", "liveboth", &f, &format!("live: {{version: \"1\", codeSha256: \"{NEVER_DEPLOYED}\"}}\n"));
    let multi = scratch.write("multi.yaml", &format!("{good}---\n{bad}"));
    let (out, err) = apply_fails(&multi);
    assert!(err.contains("bad/liveboth") && err.contains("spec.live"), "{err}");
    assert!(!err.contains("ok/good"), "the valid document is not reported: {err}");
    assert!(out.trim().is_empty(), "no status printed when nothing ran: {out}");
    assert_eq!(plan_exit(&multi), 1);
    nothing_written("multi-document file").await;

    // (c) Another kind of object is an error, never skipped.
    let cm = scratch.write(
        "cm.yaml",
        &format!(
            "{good}---\napiVersion: v1\nkind: ConfigMap\n\
             metadata: {{name: settings, namespace: ok}}\ndata: {{a: b}}\n"
        ),
    );
    let (_, err) = apply_fails(&cm);
    assert!(err.contains("ConfigMap") && err.contains("not a LambdaAliasSet"), "{err}");
    nothing_written("ConfigMap").await;

    // (d) A directory of manifests (non-YAML files are skipped) is accepted.
    let dir = Scratch::new("bad-dir");
    dir.write("one.yaml", &las("ok", "one", &f, "drainSeconds: 0\n"));
    dir.write("two.yml", &las("ok", "two", &g, "drainSeconds: 0\n"));
    dir.write("README.txt", "not a manifest\n");
    let out = apply(&dir.0);
    let mut names: Vec<String> = statuses(&out).iter().map(|s| text(s, "/metadata/name")).collect();
    names.sort();
    assert_eq!(names, ["one", "two"], "{out}");
    for function in [&f, &g] {
        assert_eq!(alias_version(&client, function, "PROD1").await, "1");
        assert_eq!(alias_version(&client, function, "PROD2").await, "$LATEST");
    }
}

// ---------------------------------------------------------------------------------------------
// 7. AWS-side errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_function_and_code_mismatch_are_errors_with_nothing_written() {
    let client = support::lambda().await;
    let scratch = Scratch::new("errors");

    // A function that does not exist.
    let missing = support::unique_name("e2e-missing");
    let file = scratch.write("missing.yaml", &las("ops", "ghost", &missing, "drainSeconds: 0\n"));
    let (code, out, err) = plan(&file);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FunctionNotFound"), "the report: {out}");
    // The refusal is said on stderr too, naming the set and its file, as `apply` says it.
    let said = format!("error: ops/ghost ({}): FunctionNotFound: ", file.display());
    assert!(err.starts_with(&said), "{err}");
    let (out, err) = apply_fails(&file);
    assert!(err.contains("ops/ghost") && err.contains("does not exist"), "{err}");
    assert_eq!(ready_reason(&status(&out)), "FunctionNotFound", "{out}");

    // Certifying code that was never deployed: CodeMismatch, no alias moves.
    let f = support::unique_name("e2e-mismatch");
    create_function(&client, &f, "A").await;
    let file = scratch.write("skill.yaml", &skill(&f, "{phase: Development}", None, 0));
    apply(&file);
    deploy(&client, &f, "B").await;
    let before = world(&client, &f).await;
    scratch.write(
        "skill.yaml",
        &skill(&f, &format!("{{phase: Certifying, codeSha256: \"{NEVER_DEPLOYED}\"}}"), None, 0),
    );
    let (code, out, err) = plan(&file);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("CodeMismatch"), "{out}");
    let (out, err) = apply_fails(&file);
    assert!(format!("{out}{err}").contains("CodeMismatch"), "{out}{err}");
    assert!(err.contains("spec.certification.codeSha256"), "names the field: {err}");
    assert_eq!(world(&client, &f).await, before, "nothing written");
    assert_eq!(alias_version(&client, &f, "PROD2").await, "$LATEST");
}

// ---------------------------------------------------------------------------------------------
// 8. plan -o json
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn plan_json_output_is_machine_readable() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-json");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("json");
    let file = scratch.write("json.yaml", &skill(&f, "{phase: Development}", None, 0));
    let args = ["plan", "-f", path_str(&file), "-o", "json"];

    let (code, out, err) = run(&args);
    assert_eq!(code, 2, "{}", show(&args, code, &out, &err));
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{out}"));
    let objects = report.as_array().expect("a JSON array");
    assert_eq!(objects.len(), 1, "{report:#}");
    let object = &objects[0];
    assert_eq!(object["name"], "trivia");
    assert_eq!(object["namespace"], "skills");
    assert_eq!(object["outcome"]["reason"], "Progressing", "{object:#}");
    let actions = object["actions"].as_array().expect("actions");
    assert!(!actions.is_empty());
    for action in actions {
        assert!(action["action"].as_str().is_some_and(|a| !a.is_empty()), "{action:#}");
        assert!(action["description"].as_str().is_some_and(|d| !d.is_empty()), "{action:#}");
    }
    let verbs: Vec<&str> = actions.iter().filter_map(|a| a["action"].as_str()).collect();
    for verb in ["PublishVersion", "CreateAlias", "AddPermission"] {
        assert!(verbs.contains(&verb), "{verbs:?}");
    }
    assert!(versions(&client, &f).await.is_empty(), "plan wrote nothing");

    apply(&file);
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{}", show(&args, code, &out, &err));
    let report: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(report[0]["outcome"]["reason"], "Converged", "{report:#}");
    assert_eq!(report[0]["actions"], Value::Array(Vec::new()));
}

// ---------------------------------------------------------------------------------------------
// 5. What it costs: `apply --aws-calls`, the independent count
// ---------------------------------------------------------------------------------------------

/// The `aws calls: N (Op=n ...)` line `--aws-calls` prints, as operation -> count.
fn aws_calls(stderr: &str) -> BTreeMap<String, u64> {
    let line =
        stderr.lines().find(|l| l.starts_with("aws calls: ")).unwrap_or_else(|| panic!("no count: {stderr}"));
    let inner = line.split_once('(').and_then(|(_, rest)| rest.strip_suffix(')')).unwrap_or_default();
    inner
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(op, n)| (op.to_string(), n.parse().unwrap_or_else(|_| panic!("count {n}"))))
        .collect()
}

#[tokio::test]
async fn the_alexa_example_costs_the_minimum_to_bootstrap_and_one_observe_when_steady() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-cost");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("cost");
    let file = scratch.write("cost.yaml", &skill(&f, "{phase: Development}", None, 0));
    let ops = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(op, n)| (op.to_string(), *n)).collect()
    };

    // Bootstrap: one observe (nothing to list policies or mappings of yet), the five writes,
    // and no confirming observe: the state AWS answered with plans nothing.
    let args = ["apply", "-f", path_str(&file), "--aws-calls"];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{}", show(&args, code, &out, &err));
    assert_eq!(
        aws_calls(&err),
        ops(&[
            ("AddPermission", 2),
            ("CreateAlias", 2),
            ("GetFunction", 1),
            ("ListAliases", 1),
            ("ListVersionsByFunction", 1),
            ("PublishVersion", 1),
        ]),
        "{err}"
    );
    // And it did converge: a fresh plan has nothing to do.
    assert_eq!(plan_exit(&file), 0);

    // Steady: the CLI keeps no baseline between runs, so it observes in full (the controller's
    // drift pass reads GetFunction, ListAliases and the two policies instead).
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{}", show(&args, code, &out, &err));
    assert_eq!(
        aws_calls(&err),
        ops(&[
            ("GetFunction", 1),
            ("GetPolicy", 2),
            ("ListAliases", 1),
            ("ListEventSourceMappings", 2),
            ("ListVersionsByFunction", 1),
        ]),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// spec.rollout through the CLI
// ---------------------------------------------------------------------------------------------

/// The interval of the CLI's rollout step: long enough that an `apply` and a `plan` run well
/// inside it, short enough to sleep through. Nothing asserts on durations.
const STEP_SECONDS: u32 = 6;

/// PROD1's version and its weighted versions, from AWS.
async fn weights(client: &Client, function: &str) -> (String, BTreeMap<String, f64>) {
    let alias = client.get_alias().function_name(function).name("PROD1").send().await.expect("GetAlias");
    let weights = alias
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    (alias.function_version().unwrap_or_default().to_owned(), weights)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// README "Progressive rollouts" and "The CLI": `plan` prints the next step and writes nothing;
/// `apply` writes the step and returns (exit 0) when only its wait is left; an `apply` inside
/// the step writes nothing; a later `apply` completes it. An alarm in ALARM mid-step: `apply`
/// rolls back in one write and exits 1 naming the alarm, and `plan` keeps reporting it.
#[tokio::test]
async fn a_rollout_through_plan_and_apply_waits_out_its_step_and_rolls_back_on_an_alarm() {
    let client = support::lambda().await;
    let f = support::unique_name("cli-rollout");
    let versions = support::function_with_versions(&client, &f, &["v1", "v2", "v3"]).await;
    assert_eq!(versions, ["1", "2", "3"]);
    let alarm = format!("{f}-errors");
    support::put_alarm(&alarm, &f, "OK");
    let scratch = Scratch::new("rollout");
    let manifest = |version: &str| {
        las(
            "apps",
            "canary",
            &f,
            &format!(
                "
                drainSeconds: 0
                live: {{version: \"{version}\"}}
                rollout: {{steps: [50], intervalSeconds: {STEP_SECONDS}, alarms: [{alarm}]}}
                "
            ),
        )
    };
    let file = scratch.write("canary.yaml", &manifest("1"));
    apply(&file);
    assert_eq!(weights(&client, &f).await, ("1".to_owned(), BTreeMap::new()), "bootstrap is one write");

    // plan: the step, nothing written.
    scratch.write("canary.yaml", &manifest("2"));
    let (code, out, err) = plan(&file);
    let shown = show(&["plan", "-f", path_str(&file)], code, &out, &err);
    assert_eq!(code, 2, "{shown}");
    assert!(out.contains("point alias PROD1 -> 1 with 50% on 2 (rollout step)"), "{shown}");
    assert_eq!(weights(&client, &f).await, ("1".to_owned(), BTreeMap::new()), "plan wrote nothing");

    // apply: the step is written and apply returns with only its wait left (plan then exits 0).
    let st = status(&apply(&file));
    assert_eq!(ready_reason(&st), "RollingOut", "{st:#}");
    assert_eq!(text(&st, "/status/live/summary"), "PROD1:1→2 (50%)");
    assert_eq!(st.pointer("/status/live/rollout/weight"), Some(&Value::from(50)), "{st:#}");
    assert_eq!(st.pointer("/status/live/rollout/alarms/0/state"), Some(&Value::from("OK")), "{st:#}");
    let next: jiff::Timestamp = text(&st, "/status/live/rollout/nextStepAt").parse().expect("RFC 3339");
    assert_eq!(weights(&client, &f).await, ("1".to_owned(), BTreeMap::from([("2".to_owned(), 0.5)])));

    // apply inside the step: nothing written, the step is not restarted or skipped.
    let args = ["apply", "-f", path_str(&file)];
    let (code, out, err) = run(&args);
    let shown = show(&args, code, &out, &err);
    assert_eq!(code, 0, "{shown}");
    if unix_now() < next.as_second() {
        assert!(!err.contains(" => "), "an apply inside the step wrote: {shown}");
        assert_eq!(text(&status(&out), "/status/live/rollout/nextStepAt"), next.to_string(), "{shown}");
    } else {
        eprintln!("(the machine was slow: the second apply ran after the step's end)");
    }

    // After the interval: plan shows the move to 2 alone, apply makes it.
    sleep_until_unix(next.as_second());
    let (code, out, err) = plan(&file);
    let shown = show(&["plan", "-f", path_str(&file)], code, &out, &err);
    assert_eq!(code, 2, "{shown}");
    assert!(out.contains("point alias PROD1 -> 2 (") && !out.contains("with 50%"), "{shown}");
    let st = status(&apply(&file));
    assert_eq!(ready_reason(&st), "Converged", "{st:#}");
    assert_eq!(weights(&client, &f).await, ("2".to_owned(), BTreeMap::new()));

    // A rollout to 3, and its alarm flips mid-step: apply rolls back and exits 1.
    scratch.write("canary.yaml", &manifest("3"));
    assert_eq!(ready_reason(&status(&apply(&file))), "RollingOut");
    support::set_alarm_state(&alarm, "ALARM");
    let (out, err) = apply_fails(&file);
    let st = status(&out);
    assert_eq!(ready_reason(&st), "RolledBack", "{st:#}\n{err}");
    let message = st
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .map(|c| text(c, "/message"))
        .unwrap_or_default();
    assert!(message.contains(&alarm) && message.contains("version 3"), "{message}");
    assert!(err.contains("roll back"), "the write is printed: {err}");
    assert_eq!(weights(&client, &f).await, ("2".to_owned(), BTreeMap::new()), "back on 2 alone");

    // plan keeps saying so (exit 1), writes nothing, and 3 is not tried again.
    support::set_alarm_state(&alarm, "OK");
    let (code, out, err) = plan(&file);
    assert_eq!(code, 1, "{}", show(&["plan", "-f", path_str(&file)], code, &out, &err));
    assert!(out.contains("RolledBack"), "{out}");
    let (_, err) = apply_fails(&file);
    assert!(!err.contains(" => "), "nothing written: {err}");
    assert_eq!(weights(&client, &f).await, ("2".to_owned(), BTreeMap::new()));

    // Accepting the rollback (the spec names the version served) converges.
    scratch.write("canary.yaml", &manifest("2"));
    assert_eq!(ready_reason(&status(&apply(&file))), "Converged");
}

/// README "Provisioned concurrency": `apply` returns (exit 0, `Warming`) with only Lambda's
/// allocation left, and a later `apply` finds it READY; the status shows the live version's
/// config.
#[tokio::test]
async fn apply_with_provisioned_concurrency_returns_while_lambda_allocates_it() {
    let client = support::lambda().await;
    let f = support::unique_name("cli-warm");
    create_function(&client, &f, "v1").await;
    support::moto_warm_control(&serde_json::json!({"FunctionName": f, "ReadySeconds": 1.0}));
    let scratch = Scratch::new("warm");
    let file = scratch
        .write("warm.yaml", &las("apps", "warm", &f, "drainSeconds: 0\nprovisionedConcurrency: {live: 3}\n"));
    let st = status(&apply(&file));
    assert_eq!(ready_reason(&st), "Warming", "{st:#}");
    assert_eq!(text(&st, "/status/live/provisionedConcurrency/status"), "IN_PROGRESS", "{st:#}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let st = status(&apply(&file));
    assert_eq!(ready_reason(&st), "Converged", "{st:#}");
    assert_eq!(st.pointer("/status/live/provisionedConcurrency/allocated"), Some(&Value::from(3)), "{st:#}");
}

// ---------------------------------------------------------------------------------------------
// 9. Bad input ends in bounded time and memory (README, "Bad input")
// ---------------------------------------------------------------------------------------------

/// `plan` and `apply` both refuse `file` with exit 1 and an error that starts with `expected`,
/// and write nothing to `function` (which exists in moto, and which the file's valid documents name).
async fn refused_by_both(client: &Client, file: &Path, function: &str, expected: &str) {
    for verb in ["plan", "apply"] {
        let run = run_bounded(&[verb, "-f", path_str(file)]);
        assert_eq!(run.code, 1, "{verb} {}: {}", file.display(), run.stderr);
        assert!(run.stderr.starts_with(expected), "{verb}: expected {expected:?}\n{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(run.stdout.trim().is_empty(), "nothing planned or applied: {}", run.stdout);
    }
    assert!(alias_names(client, function).await.is_empty(), "{function} got aliases");
    assert!(versions(client, function).await.is_empty(), "{function} got versions");
}

#[tokio::test]
async fn yaml_syntax_errors_are_refused_at_once_naming_file_line_and_column() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-syntax");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("syntax");
    let good = las("ok", "good", &f, "drainSeconds: 0\n");
    // The reproduction, which used to spin and grow without bound.
    let file = scratch.write("bad.yaml", "a: [\n");
    let at = format!("error: {}: not valid YAML at line 2 column 1: ", file.display());
    refused_by_both(&client, &file, &f, &at).await;
    // A valid document before the error is not planned or applied either.
    let cases = [
        ("flow.yaml", format!("{good}---\n- : [\n"), "8 column 3: did not find expected key"),
        (
            "tab.yaml",
            format!("{good}---\nspec:\n\tfunctionName: x\n"),
            "9 column 1: found character that cannot start",
        ),
        (
            "anchor.yaml",
            format!("{good}---\n&a [*a]\n"),
            "8 column 1: nested deeper than 128 levels, or an alias inside",
        ),
        (
            "cut.yaml",
            format!("{good}---\nspec:\n  triggers: [{{name: x\n"),
            "10 column 1: did not find expected ',' or '}'",
        ),
        ("nul.yaml", format!("{good}---\na: b\0c\n"), "8 column 5: control characters are not allowed"),
        (
            "dup.yaml",
            format!("{good}---\nspec:\n  functionName: a\n  functionName: b\n"),
            "9 column 3: spec: the key \"functionName\" appears twice",
        ),
    ];
    for (name, text, position) in cases {
        let file = scratch.write(name, &text);
        let at = format!("error: {}: not valid YAML at line {position}", file.display());
        refused_by_both(&client, &file, &f, &at).await;
    }
    // An alias bomb and deep nesting, alone in their files.
    let mut bomb = String::from("a0: &a0 [lol]\n");
    for level in 1..10 {
        bomb.push_str(&format!("a{level}: &a{level} [{}]\n", vec![format!("*a{}", level - 1); 9].join(", ")));
    }
    let file = scratch.write("bomb.yaml", &format!("{good}---\n{bomb}"));
    refused_by_both(&client, &file, &f, &format!("error: {}: ", file.display())).await;
    let deep = format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let file = scratch.write("deep.yaml", &deep);
    refused_by_both(
        &client,
        &file,
        &f,
        &format!("error: {}: not valid YAML at line 1 column ", file.display()),
    )
    .await;
    // A 10 MB document: refused by the document's budget, in bounded memory.
    let big: String = std::iter::once(format!("{good}  description: x\ndata:\n"))
        .chain((0..100_000).map(|i| format!("  k{i}: {}\n", "x".repeat(100))))
        .collect();
    assert!(big.len() > 10_000_000);
    let file = scratch.write("big.yaml", &big);
    let run = run_bounded(&["plan", "-f", path_str(&file)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("expands to more than 4 MiB"), "{}", run.stderr);
    println!("a 10 MB document: refused using {} KiB resident", run.max_rss_kib);
}

#[tokio::test]
async fn a_file_without_a_document_is_refused() {
    let scratch = Scratch::new("empty");
    for (name, text) in [
        ("empty.yaml", ""),
        ("comments.yaml", "# only a header\n# and no object\n"),
        ("ends.yaml", "---\n...\n"),
    ] {
        let file = scratch.write(name, text);
        let run = run_bounded(&["plan", "-f", path_str(&file)]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        let said = format!("error: {}: holds no document (it is empty, or only comments)", file.display());
        assert!(run.stderr.starts_with(&said), "{}", run.stderr);
    }
}

#[tokio::test]
async fn a_bom_and_crlf_line_endings_are_read_like_any_manifest() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-bom");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("bom");
    let text = format!("\u{feff}{}", las("ok", "bom", &f, "drainSeconds: 0\n").replace('\n', "\r\n"));
    let file = scratch.write("windows.yaml", &text);
    let run = run_bounded(&["plan", "-f", path_str(&file)]);
    assert_eq!(run.code, 2, "changes pending, as for the same manifest without BOM and CR: {}", run.stderr);
    apply(&file);
}

#[tokio::test]
async fn symbolic_link_loops_are_named_and_a_file_reached_twice_is_one_manifest() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-links");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("links");
    let manifest = scratch.write("dloop/skill.yaml", &las("ok", "linked", &f, "drainSeconds: 0\n"));
    let dloop = scratch.path("dloop");
    std::os::unix::fs::symlink(".", dloop.join("self")).expect("symlink");
    let loop_error = format!(
        "error: {}: a symbolic link loop: it leads back to {}, which is being walked",
        dloop.join("self").display(),
        dloop.display()
    );
    refused_by_both(&client, &dloop, &f, &loop_error).await;
    // With `up -> ..` as well the walk branches; it still ends, naming every loop it met.
    std::os::unix::fs::symlink("..", dloop.join("up")).expect("symlink");
    let run = run_bounded(&["plan", "-f", path_str(&dloop)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains(&loop_error), "{}", run.stderr);
    assert!(run.stderr.contains("up: a symbolic link loop"), "{}", run.stderr);
    assert!(!run.stderr.contains("appears more than once"), "{}", run.stderr);

    // Without loops: a directory linked in, the same file named twice and linked twice, read once.
    let tree = Scratch::new("links-tree");
    tree.write("shared/skill.yaml", &std::fs::read_to_string(&manifest).expect("manifest"));
    std::fs::create_dir_all(tree.path("app")).expect("mkdir");
    std::os::unix::fs::symlink(tree.path("shared"), tree.path("app/shared")).expect("symlink");
    std::os::unix::fs::symlink(tree.path("shared/skill.yaml"), tree.path("app/again.yaml")).expect("symlink");
    let (app, same) = (tree.path("app"), tree.path("shared/skill.yaml"));
    let run = run_bounded(&["plan", "-f", path_str(&app), "-f", path_str(&same), "-f", path_str(&same)]);
    assert_eq!(run.code, 2, "one set, changes pending: {}", run.stderr);
    apply(&app);
}

#[tokio::test]
async fn the_tenancy_and_credentials_files_say_a_syntax_error_as_one() {
    let client = support::lambda().await;
    let f = support::unique_name("e2e-files");
    create_function(&client, &f, "A").await;
    let scratch = Scratch::new("files");
    let manifest = scratch.write("set.yaml", &las("ok", "files", &f, "drainSeconds: 0\n"));
    let broken = scratch.write("broken.yaml", "a: [\n");
    let run = run_bounded(&["plan", "-f", path_str(&manifest), "--tenancy-file", path_str(&broken)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = format!("error: --tenancy-file {}: not valid YAML at line 2 column 1: ", broken.display());
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);

    let aware = scratch.write(
        "aware.yaml",
        &las(
            "ok",
            "aware",
            &f,
            "certification: {phase: FromSkill}\nalexa: {credentialsSecretRef: {name: smapi}}\n\
             triggers: [{name: alexa, alexaSkill: {skillId: amzn1.ask.skill.x}}]\n",
        ),
    );
    let run = run_bounded(&["plan", "-f", path_str(&aware), "--alexa-credentials", path_str(&broken)]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let expected = format!(
        "error: Alexa credentials file {}: not YAML or JSON: not valid YAML at line 2 column 1: ",
        broken.display()
    );
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    assert!(alias_names(&client, &f).await.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 10. The property: mutated manifests, tenancy and credentials files
// ---------------------------------------------------------------------------------------------

/// Which reader a case mutates.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Manifest(usize),
    Tenancy,
    Credentials,
}

/// The deploy/examples manifests: what users copy, so what their typos start from.
fn example_manifests() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/examples");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("deploy/examples").map(|e| e.expect("entry").path()).collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).expect("read"),
            )
        })
        .collect()
}

const TENANCY_SEED: &str = "ok:\n  lambda.aliasset.dev/allowed-functions: \"arn:aws:lambda:*:*:function:*\"\n  \
                            lambda.aliasset.dev/allow-public-invoke: \"false\"\nteam-b: {}\n";
const CREDENTIALS_SEED: &str = "apiVersion: v1\nkind: Secret\nmetadata: {name: smapi}\nstringData:\n  \
                                clientId: amzn1.application-oa2-client.x\n  clientSecret: s3cr3t\ndata:\n  \
                                refreshToken: QXR6cnxyZWZyZXNo\n";

/// The property of issue "bad input": any mutated input ends by itself, by exit 0, 1 or 2, within
/// the time and memory bounds of [`run_bounded`], never by a panic; a refusal names the file it
/// refuses and, for an invalid object, a field. `LAC_FUZZ_CASES` (default 100) sets the count: run
/// it longer with `LAC_FUZZ_CASES=2000 cargo test --test it mutated`.
#[test]
fn mutated_inputs_end_in_bounded_time_and_memory_with_a_named_refusal() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let cases = std::env::var("LAC_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(100);
    let mut examples = example_manifests();
    let scratch = Scratch::new("fuzz");
    // One seed on a function moto has, so that mutations that stay valid reach exit 0 and 2.
    let function = support::unique_name("e2e-fuzz");
    tokio::runtime::Runtime::new().expect("runtime").block_on(async {
        create_function(&support::lambda().await, &function, "A").await;
    });
    let live = las("ok", "valid", &function, "drainSeconds: 0\naliases: [PROD1, PROD2]\nretainVersions: 3\n");
    examples.push(("valid.yaml".to_string(), live.clone()));
    let valid = scratch.write("valid.yaml", &live);
    let aware = scratch.write(
        "aware.yaml",
        &las(
            "ok",
            "aware",
            "fuzz",
            "certification: {phase: FromSkill}\nalexa: {credentialsSecretRef: {name: smapi}}\n",
        ),
    );
    let reader = prop_oneof![
        7 => (0..examples.len()).prop_map(Reader::Manifest),
        1 => Just(Reader::Tenancy),
        1 => Just(Reader::Credentials),
    ];
    let strategy = (reader, lambda_alias_controller::input::mutate::edits(1..5));
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let counts = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let result = runner.run(&strategy, |(reader, edits)| {
        let (seed, label) = match reader {
            Reader::Manifest(i) => (examples[i].1.as_str(), examples[i].0.as_str()),
            Reader::Tenancy => (TENANCY_SEED, "tenancy"),
            Reader::Credentials => (CREDENTIALS_SEED, "credentials"),
        };
        let file = scratch
            .write(&format!("case-{label}"), &lambda_alias_controller::input::mutate::apply(seed, &edits));
        let file_arg = path_str(&file);
        let args: Vec<&str> = match reader {
            Reader::Manifest(_) => vec!["plan", "-f", file_arg],
            Reader::Tenancy => vec!["plan", "-f", path_str(&valid), "--tenancy-file", file_arg],
            Reader::Credentials => vec![
                "plan",
                "-f",
                path_str(&aware),
                "--alexa-credentials",
                file_arg,
                "--smapi-endpoint",
                "http://127.0.0.1:9",
                "--lwa-endpoint",
                "http://127.0.0.1:9/auth/o2/token",
            ],
        };
        let run = run_bounded(&args);
        *counts.borrow_mut().entry(format!("{label} exit {}", run.code)).or_default() += 1;
        prop_assert!([0, 1, 2].contains(&run.code), "exit {}: {}", run.code, run.stderr);
        prop_assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        if run.code == 1 {
            let errors: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("error: ")).collect();
            prop_assert!(!errors.is_empty(), "a refusal says why: {:?} {:?}", run.stderr, run.stdout);
            for error in errors {
                let names_a_file =
                    [file_arg, path_str(&valid), path_str(&aware)].iter().any(|f| error.contains(f));
                prop_assert!(names_a_file, "a refusal names its file: {error}");
            }
            // An invalid object lists its problems one per line, each under a field.
            if let Some((_, details)) = run.stderr.split_once("is invalid, nothing was written:\n") {
                for detail in details.lines().take_while(|l| l.starts_with("  ")) {
                    if detail.trim_start() == lambda_alias_controller::api::validate::RULES_NOT_CHECKED {
                        continue;
                    }
                    let field =
                        detail.trim_start().split_once(": ").map(|(field, _)| field).unwrap_or_default();
                    prop_assert!(!field.is_empty(), "an invalid object's problem names a field: {detail}");
                }
            }
        }
        Ok(())
    });
    println!("{cases} cases: {:?}", counts.borrow());
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

//! Request-level tests of the reconcile against kube's tower-test mock: every API call is
//! answered by the verifier, and an unexpected extra call fails the test (the mock client is
//! dropped at the end and must have nothing left to send). AWS is the faithful fake.

use std::sync::Arc;
use std::time::Duration;

use ::http::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::controller::Action;
use serde_json::{Value, json};

use super::events::MemorySink;
use super::metrics::Metrics;
use super::*;
use crate::api::{DeletionPolicy, LambdaAliasSetSpec, Phase, Trigger};
use crate::aws::fake::FakeLambda;

const NS: &str = "skills";
const NAME: &str = "trivia";
const OWNER: &str = "skills/trivia";
const FUNCTION: &str = "trivia-backend";
const NOW: i64 = 1_800_000_000;
const SHA: &str = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=";
const PATH: &str = "/apis/lambda.aliasset.dev/v1alpha1/namespaces/skills/lambdaaliassets/trivia";

struct FakeProvider(Arc<FakeLambda>);

impl LambdaProvider for FakeProvider {
    type Api = FakeLambda;
    fn client_for<'a>(
        &'a self,
        _spec: &'a LambdaAliasSetSpec,
    ) -> impl Future<Output = Arc<FakeLambda>> + Send + 'a {
        let api = self.0.clone();
        async move { api }
    }
}

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn spec(phase: Phase) -> LambdaAliasSetSpec {
    let mut spec = LambdaAliasSetSpec::for_function(FUNCTION);
    spec.certification.phase = phase;
    spec.triggers = vec![Trigger::alexa("alexa", "amzn1.ask.skill.1")];
    spec
}

fn object(spec: LambdaAliasSetSpec, finalizer: bool, deleting: bool) -> LambdaAliasSet {
    let mut obj = LambdaAliasSet::new(NAME, spec);
    obj.metadata.namespace = Some(NS.into());
    obj.metadata.uid = Some("0000-1111".into());
    obj.metadata.generation = Some(3);
    obj.metadata.resource_version = Some("100".into());
    if finalizer {
        obj.metadata.finalizers = Some(vec![FINALIZER.into()]);
    }
    if deleting {
        obj.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
    }
    obj
}

fn fake_with_function() -> Arc<FakeLambda> {
    let fake = Arc::new(FakeLambda::new("111122223333", "eu-west-1"));
    fake.add_function(FUNCTION, SHA);
    fake
}

fn context(fake: Arc<FakeLambda>) -> (Arc<Context<FakeProvider>>, Handle, Arc<MemorySink>) {
    context_with(fake, Ok(Vec::new()))
}

/// A context whose skill source answers `skills` (Alexa-aware sets).
fn context_with(
    fake: Arc<FakeLambda>,
    skills: Result<Vec<crate::plan::skill::SkillObservation>, String>,
) -> (Arc<Context<FakeProvider>>, Handle, Arc<MemorySink>) {
    context_gated(fake, skills, crate::controller::tenancy::Gate::open())
}

fn context_gated(
    fake: Arc<FakeLambda>,
    skills: Result<Vec<crate::plan::skill::SkillObservation>, String>,
    gate: crate::controller::tenancy::Gate,
) -> (Arc<Context<FakeProvider>>, Handle, Arc<MemorySink>) {
    context_clocked(fake, skills, gate, Arc::new(|| NOW))
}

/// A context whose clock is `clock` (tests that let time pass between reconciles).
fn context_clocked(
    fake: Arc<FakeLambda>,
    skills: Result<Vec<crate::plan::skill::SkillObservation>, String>,
    gate: crate::controller::tenancy::Gate,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
) -> (Arc<Context<FakeProvider>>, Handle, Arc<MemorySink>) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = kube::Client::new(service, "default");
    let sink = Arc::new(MemorySink::default());
    let ctx = Arc::new(Context {
        client,
        aws: FakeProvider(fake),
        events: sink.clone(),
        metrics: Arc::new(Metrics::new()),
        calls: CallCounter::new(),
        resync: Duration::from_secs(300),
        drift: crate::controller::drift::Scheduler::new(
            Duration::from_secs(300),
            &crate::aws::budget::Budgets::default(),
            4,
        ),
        tenancy: Arc::new(gate),
        clock,
        skills: Arc::new(crate::controller::skills::FixedSkills(std::sync::Mutex::new(skills))),
    });
    (ctx, handle, sink)
}

/// Answers the next request after checking its method and path; returns its JSON body.
async fn expect(handle: &mut Handle, method: Method, path: &str, reply: &Value) -> Value {
    let (request, send) = tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("the reconcile stopped calling the API server")
        .expect("a request");
    assert_eq!(request.method(), method, "{}", request.uri());
    assert_eq!(request.uri().path(), path, "{}", request.uri());
    let query = request.uri().query().unwrap_or_default().to_string();
    let bytes = request.into_body().collect_bytes().await.expect("body");
    let body: Value =
        if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
    if path.ends_with("/status") {
        assert!(
            query.contains("fieldManager=lambda-alias-controller") && query.contains("force=true"),
            "{query}"
        );
    }
    send.send_response(
        Response::builder().body(Body::from(serde_json::to_vec(reply).expect("json"))).expect("response"),
    );
    body
}

/// Runs the reconcile while `verify` answers the API server's side, then checks that nothing
/// else was sent (the client is dropped with the context, so the mock must be empty).
async fn scenario<F, Fut>(
    obj: LambdaAliasSet,
    fake: Arc<FakeLambda>,
    verify: F,
) -> (Action, Arc<MemorySink>, Value)
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = (Handle, Value)> + Send + 'static,
{
    let (ctx, handle, sink) = context(fake);
    let server = tokio::spawn(verify(handle));
    let action = tokio::time::timeout(Duration::from_secs(10), reconcile(Arc::new(obj), ctx))
        .await
        .expect("reconcile hung on an unexpected API call")
        .expect("reconcile succeeds");
    let (mut handle, seen) = server.await.expect("verifier");
    assert!(handle.next_request().await.is_none(), "an unexpected extra API call");
    (action, sink, seen)
}

/// A reconcile whose only API call is one status patch; returns the patch body.
async fn status_scenario(obj: LambdaAliasSet, fake: Arc<FakeLambda>) -> (Action, Arc<MemorySink>, Value) {
    let reply = serde_json::to_value(&obj).expect("json");
    scenario(obj, fake, |mut h| async move {
        let patch = expect(&mut h, Method::PATCH, &format!("{PATH}/status"), &reply).await;
        (h, patch)
    })
    .await
}

fn reasons(sink: &MemorySink) -> Vec<String> {
    sink.events().into_iter().map(|(_, reason, _)| reason).collect()
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"].as_array().and_then(|c| c.iter().find(|c| c["type"] == kind)).expect("condition")
}

#[tokio::test]
async fn finalizer_is_added_on_first_sight_before_any_aws_call() {
    let fake = fake_with_function();
    let obj = object(spec(Phase::Development), false, false);
    let reply = serde_json::to_value(object(spec(Phase::Development), true, false)).expect("json");
    let (action, sink, patch) = scenario(obj, fake.clone(), |mut h| async move {
        let patch = expect(&mut h, Method::PATCH, PATH, &reply).await;
        (h, patch)
    })
    .await;
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}
        ])
    );
    assert_eq!(action, Action::await_change());
    assert!(fake.calls().is_empty(), "no AWS call before the finalizer is in place");
    assert!(sink.events().is_empty());
}

#[tokio::test]
async fn status_is_patched_once_and_not_again_when_nothing_changed() {
    let fake = fake_with_function();
    let obj = object(spec(Phase::Development), true, false);
    let (action, sink, patch) = status_scenario(obj.clone(), fake.clone()).await;
    assert_eq!(patch["apiVersion"], "lambda.aliasset.dev/v1alpha1");
    let status = &patch["status"];
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(status["live"]["summary"], "PROD1:1");
    assert_eq!(status["candidate"]["summary"], "PROD2:$LATEST");
    assert_eq!(status["phase"], "Development");
    assert_eq!(condition(status, "Ready")["status"], "True");
    assert_eq!(condition(status, "Ready")["reason"], "Converged");
    assert_eq!(condition(status, "Stalled")["status"], "False");
    assert_eq!(status["triggers"], json!([{"name": "alexa", "aliases": ["PROD1", "PROD2"]}]));
    assert!(matches!(action, a if a != Action::await_change()), "requeued for the periodic drift check");
    let events = reasons(&sink);
    assert!(events.contains(&"VersionPublished".to_string()), "{events:?}");
    assert_eq!(events.iter().filter(|r| *r == "AliasCreated").count(), 2, "{events:?}");
    assert_eq!(events.iter().filter(|r| *r == "TriggerAdded").count(), 2, "{events:?}");

    // The API server now holds that status: a second reconcile writes nothing anywhere.
    let mut stored = obj;
    stored.status = Some(serde_json::from_value(patch["status"].clone()).expect("status"));
    let writes = fake.writes();
    let (_, sink, _) = scenario(stored, fake.clone(), |h| async move { (h, Value::Null) }).await;
    assert_eq!(fake.writes(), writes, "no AWS write in steady state");
    assert!(sink.events().is_empty(), "no Event in steady state");
}

#[tokio::test]
async fn invalid_spec_is_stalled_without_aws_calls_and_parked() {
    let fake = fake_with_function();
    let mut bad = spec(Phase::Development);
    bad.aliases = vec!["PROD1".into(), "PROD1".into()];
    let obj = object(bad, true, false);
    let (action, sink, patch) = status_scenario(obj, fake.clone()).await;
    assert_eq!(action, Action::await_change(), "no retry storm: wait for the spec to change");
    assert!(fake.calls().is_empty(), "nothing observed or written in AWS");
    let stalled = condition(&patch["status"], "Stalled");
    assert_eq!((stalled["status"].as_str(), stalled["reason"].as_str()), (Some("True"), Some("InvalidSpec")));
    let message = condition(&patch["status"], "Ready")["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("spec.aliases"), "names the field: {message}");
    assert_eq!(reasons(&sink), ["InvalidSpec"]);
}

#[tokio::test]
async fn a_stalled_set_is_on_the_gauge_of_stalled_sets_with_its_reason() {
    let fake = fake_with_function();
    let mut bad = spec(Phase::Development);
    bad.aliases = vec!["PROD1".into(), "PROD1".into()];
    let obj = object(bad, true, false);
    let key = super::key_of(&obj);
    let reply = serde_json::to_value(&obj).expect("json");
    let (ctx, handle, _sink) = context(fake);
    let server = tokio::spawn(async move {
        let mut h = handle;
        expect(&mut h, Method::PATCH, &format!("{PATH}/status"), &reply).await;
        h
    });
    reconcile(Arc::new(obj), ctx.clone()).await.expect("parked, not failed");
    drop(server.await.expect("verifier"));
    let text = ctx.metrics.render(&ctx.calls, &crate::aws::budget::Budgets::default());
    assert!(text.contains(&format!("lac_set_stalled{{set=\"{key}\",reason=\"InvalidSpec\"}} 1\n")), "{text}");
}

#[tokio::test]
async fn another_sets_aliases_are_refused_with_a_warning_and_nothing_written() {
    let fake = fake_with_function();
    crate::engine::converge(&*fake, "other/set", &spec(Phase::Development), None, || NOW, 5)
        .await
        .expect("other set");
    let writes = fake.writes();
    let obj = object(spec(Phase::Development), true, false);
    let (_, sink, patch) = status_scenario(obj, fake.clone()).await;
    assert_eq!(fake.writes(), writes);
    assert_eq!(condition(&patch["status"], "Ready")["reason"], "OwnedByOther");
    assert_eq!(reasons(&sink), ["OwnershipRefused"]);
}

#[tokio::test]
async fn a_swap_requeues_exactly_at_drain_until() {
    let fake = fake_with_function();
    crate::engine::converge(&*fake, OWNER, &spec(Phase::Development), None, || NOW - 1000, 5)
        .await
        .expect("dev");
    fake.deploy(FUNCTION, "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").expect("deploy");
    crate::engine::converge(&*fake, OWNER, &spec(Phase::Certifying), None, || NOW - 500, 5)
        .await
        .expect("freeze");
    let obj = object(spec(Phase::Certified), true, false);
    let (action, sink, patch) = status_scenario(obj, fake.clone()).await;
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(301)),
        "drainSeconds 300 after the swap, plus one"
    );
    assert_eq!(patch["status"]["live"]["summary"], "PROD2:2");
    assert_eq!(condition(&patch["status"], "Ready")["reason"], "Draining");
    assert!(patch["status"]["drainUntil"].is_string());
    assert!(reasons(&sink).contains(&"RolesSwapped".to_string()));
}

async fn deleted(policy: DeletionPolicy, fake: Arc<FakeLambda>) -> Arc<MemorySink> {
    let mut s = spec(Phase::Development);
    s.deletion_policy = policy;
    let obj = object(s, true, true);
    let reply = serde_json::to_value(object(spec(Phase::Development), false, true)).expect("json");
    let (action, sink, patch) = scenario(obj, fake, |mut h| async move {
        let patch = expect(&mut h, Method::PATCH, PATH, &reply).await;
        (h, patch)
    })
    .await;
    assert_eq!(
        patch,
        json!([
            {"op": "test", "path": "/metadata/finalizers/0", "value": FINALIZER},
            {"op": "remove", "path": "/metadata/finalizers/0"}
        ]),
        "the finalizer is removed last"
    );
    assert_eq!(action, Action::await_change());
    sink
}

#[tokio::test]
async fn deletion_with_retain_releases_ownership_and_keeps_every_alias_where_it_is() {
    let fake = fake_with_function();
    crate::engine::converge(&*fake, OWNER, &spec(Phase::Development), None, || NOW, 5)
        .await
        .expect("converge");
    let before: Vec<(String, String)> =
        fake.aliases(FUNCTION).into_iter().map(|a| (a.name, a.function_version)).collect();
    let sink = deleted(DeletionPolicy::Retain, fake.clone()).await;
    let after: Vec<(String, String)> =
        fake.aliases(FUNCTION).iter().map(|a| (a.name.clone(), a.function_version.clone())).collect();
    assert_eq!(before, after, "nothing re-pointed");
    for alias in fake.aliases(FUNCTION) {
        let marker = crate::plan::Marker::parse(&alias.description).expect("the record of roles stays");
        assert_eq!(marker.owner, None, "{}", alias.description);
    }
    assert!(!fake.statements(FUNCTION, "PROD1").is_empty(), "triggers stay");
    assert_eq!(reasons(&sink), ["OwnershipReleased", "OwnershipReleased"]);
}

#[tokio::test]
async fn deletion_with_delete_removes_the_aliases_but_never_the_function() {
    let fake = fake_with_function();
    crate::engine::converge(&*fake, OWNER, &spec(Phase::Development), None, || NOW, 5)
        .await
        .expect("converge");
    let sink = deleted(DeletionPolicy::Delete, fake.clone()).await;
    assert!(fake.aliases(FUNCTION).is_empty());
    assert!(fake.latest(FUNCTION).is_some(), "the function stays");
    assert_eq!(reasons(&sink), ["AliasDeleted", "AliasDeleted"]);
}

#[tokio::test]
async fn deletion_never_hangs_on_an_error_that_cannot_heal() {
    // The function is gone: nothing to clean up, a Warning, and the object is let go.
    let gone = Arc::new(FakeLambda::new("111122223333", "eu-west-1"));
    let sink = deleted(DeletionPolicy::Delete, gone).await;
    assert_eq!(reasons(&sink), ["CleanupSkipped"]);
    // Access denied: same.
    let denied = fake_with_function();
    crate::engine::converge(&*denied, OWNER, &spec(Phase::Development), None, || NOW, 5)
        .await
        .expect("converge");
    denied.deny(crate::aws::Operation::DeleteAlias);
    let sink = deleted(DeletionPolicy::Delete, denied.clone()).await;
    let events = sink.events();
    assert_eq!(events.last().map(|e| e.1.as_str()), Some("CleanupSkipped"));
    assert!(events.last().is_some_and(|e| e.2.contains("lambda:DeleteAlias")), "{events:?}");
}

#[tokio::test]
async fn deletion_keeps_the_finalizer_on_a_transient_error() {
    let fake = fake_with_function();
    crate::engine::converge(&*fake, OWNER, &spec(Phase::Development), None, || NOW, 5)
        .await
        .expect("converge");
    fake.fail_next_on(crate::aws::Operation::UpdateAlias, 1, crate::aws::fake::Fault::Unavailable);
    let (ctx, mut handle, _sink) = context(fake);
    let obj = object(spec(Phase::Development), true, true);
    let result = reconcile(Arc::new(obj), ctx).await;
    assert!(
        matches!(&result, Err(Error::Cleanup(AwsError::Unavailable { .. }))),
        "the cause, unwrapped: {result:?}"
    );
    assert!(handle.next_request().await.is_none(), "the finalizer was not removed");
}

#[tokio::test]
async fn a_throttled_cleanup_requeues_at_the_hint_and_counts_its_real_reason() {
    let fake = fake_with_function();
    crate::engine::converge(&*fake, OWNER, &spec(Phase::Development), None, || NOW, 5)
        .await
        .expect("converge");
    fake.fail_next_on(
        crate::aws::Operation::UpdateAlias,
        1,
        crate::aws::fake::Fault::Throttled { retry_after: Some(Duration::from_secs(9)) },
    );
    let (ctx, _handle, _sink) = context(fake);
    let obj = Arc::new(object(spec(Phase::Development), true, true));
    let error = reconcile(obj.clone(), ctx.clone()).await.expect_err("throttled");
    assert_eq!(error.metric_label(), "Throttled");
    assert_eq!(error_policy(obj, &error, ctx.clone()), Action::requeue(Duration::from_secs(9)));
    let text = ctx.metrics.render(&ctx.calls, &crate::aws::budget::Budgets::default());
    assert!(text.contains("lac_reconcile_errors_total{reason=\"Throttled\"} 1"), "{text}");
    assert!(text.contains("lac_reconcile_duration_seconds_count 0"), "no zero-duration sample: {text}");
}

#[tokio::test]
async fn an_alexa_aware_set_writes_nothing_while_the_skill_state_is_unknown() {
    let fake = fake_with_function();
    let mut alexa = spec(Phase::Development);
    alexa.alexa = Some(crate::api::AlexaSettings {
        credentials_secret_ref: crate::api::SecretRef { name: "smapi".into() },
        manage_development_endpoint: false,
    });
    let obj = object(alexa, true, false);
    let reply = serde_json::to_value(&obj).expect("json");
    let (ctx, handle, sink) = context_with(fake.clone(), Err("SMAPI answered 503".into()));
    let server = tokio::spawn(async move {
        let mut h = handle;
        let patch = expect(&mut h, Method::PATCH, &format!("{PATH}/status"), &reply).await;
        (h, patch)
    });
    let action = reconcile(Arc::new(obj), ctx).await.expect("reconcile");
    let (mut handle, patch) = server.await.expect("verifier");
    assert!(handle.next_request().await.is_none(), "one status patch, nothing else");
    let ready = condition(&patch["status"], "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("SkillApiUnavailable"))
    );
    assert!(ready["message"].as_str().is_some_and(|m| m.contains("nothing was written")), "{ready}");
    assert_eq!(condition(&patch["status"], "Stalled")["status"], "False", "an outage heals by retrying");
    assert!(fake.calls().is_empty(), "no AWS call without the skill's state: {:?}", fake.calls());
    assert_eq!(action, Action::requeue(Duration::from_secs(30)));
    assert!(sink.events().is_empty(), "no Warning for a transient outage");
}

/// The watch's view of `obj`: its metadata only.
fn meta_of(obj: &LambdaAliasSet) -> Arc<SetMeta> {
    use kube::core::PartialObjectMetaExt;
    Arc::new(obj.metadata.clone().into_response_partial::<LambdaAliasSet>())
}

/// `reconcile_meta` on `meta` while `verify` answers the API server; fails if it is still
/// waiting for an answer nobody sends (an unexpected call).
async fn from_watch<F, Fut>(
    ctx: &Arc<Context<FakeProvider>>,
    meta: Arc<SetMeta>,
    handle: Handle,
    verify: F,
) -> (Action, Handle, Value)
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = (Handle, Value)> + Send + 'static,
{
    let server = tokio::spawn(verify(handle));
    let action = tokio::time::timeout(Duration::from_secs(10), reconcile_meta(meta, ctx.clone()))
        .await
        .expect("reconcile_meta waits for an API answer the test does not give")
        .expect("reconcile succeeds");
    let (mut handle, seen) = server.await.expect("verifier");
    use futures::FutureExt;
    assert!(handle.next_request().now_or_never().is_none(), "an unexpected extra API call");
    (action, handle, seen)
}

/// The API server's side of a reconcile from the watch that reads the set (answered with
/// `reply`) and patches its status once; returns the patch.
async fn read_then_status(mut h: Handle, reply: Value) -> (Handle, Value) {
    expect(&mut h, Method::GET, PATH, &reply).await;
    let patch = expect(&mut h, Method::PATCH, &format!("{PATH}/status"), &reply).await;
    (h, patch)
}

fn requeued(action: &Action) -> bool {
    *action != Action::await_change()
}

#[tokio::test]
async fn the_watch_keeps_metadata_and_a_steady_sets_echo_reads_neither_the_object_nor_aws() {
    let fake = fake_with_function();
    let obj = object(spec(Phase::Development), true, false);
    let (ctx, handle, _sink) = context(fake.clone());
    // First sight: the whole object is read, then reconciled as before.
    let reply = serde_json::to_value(&obj).expect("json");
    let (action, handle, patch) =
        from_watch(&ctx, meta_of(&obj), handle, |h| read_then_status(h, reply)).await;
    assert!(requeued(&action));
    assert_eq!(condition(&patch["status"], "Ready")["reason"], "Converged");
    let calls = fake.calls().len();

    // The echo of that status write (same generation, finalizer in place): no read of the
    // object, no AWS call; it waits for its drift check.
    let (echo, handle, _) =
        from_watch(&ctx, meta_of(&obj), handle, |h| async move { (h, Value::Null) }).await;
    assert!(requeued(&echo), "{echo:?}");
    assert_eq!(fake.calls().len(), calls, "no AWS call");

    // A spec change (a new generation) is read and reconciled at once.
    let mut changed = obj.clone();
    changed.metadata.generation = Some(4);
    changed.spec.certification.phase = Phase::Certifying;
    changed.status = Some(serde_json::from_value(patch["status"].clone()).expect("status"));
    let reply = serde_json::to_value(&changed).expect("json");
    let (_, handle, patch) =
        from_watch(&ctx, meta_of(&changed), handle, |h| read_then_status(h, reply)).await;
    assert_eq!(patch["status"]["observedGeneration"], 4);
    assert_eq!(patch["status"]["phase"], "Certifying");
    // ... and its echo waits again.
    let (_, handle, _) =
        from_watch(&ctx, meta_of(&changed), handle, |h| async move { (h, Value::Null) }).await;

    // Our finalizer removed by hand: read and put back.
    let mut stripped = changed.clone();
    stripped.metadata.finalizers = None;
    let reply = serde_json::to_value(&stripped).expect("json");
    let (action, handle, body) = from_watch(&ctx, meta_of(&stripped), handle, |mut h| async move {
        expect(&mut h, Method::GET, PATH, &reply).await;
        let patch = expect(&mut h, Method::PATCH, PATH, &reply).await;
        (h, patch)
    })
    .await;
    assert_eq!(action, Action::await_change());
    assert_eq!(body[1]["value"], json!([FINALIZER]), "{body}");

    // Gone by the time it is read: nothing else happens.
    let mut deleting = changed.clone();
    deleting.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
    let server = tokio::spawn(async move {
        let mut h = handle;
        let (request, send) = h.next_request().await.expect("a request");
        assert_eq!((request.method(), request.uri().path()), (&Method::GET, PATH));
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
                            "message": "lambdaaliassets.lambda.aliasset.dev \"trivia\" not found"});
        send.send_response(
            Response::builder()
                .status(404)
                .body(Body::from(serde_json::to_vec(&status).expect("json")))
                .expect("response"),
        );
        h
    });
    let action =
        tokio::time::timeout(Duration::from_secs(10), reconcile_meta(meta_of(&deleting), ctx.clone()))
            .await
            .expect("no unanswered call")
            .expect("a set already gone is no error");
    assert_eq!(action, Action::await_change());
    let mut handle = server.await.expect("verifier");
    use futures::FutureExt;
    assert!(handle.next_request().now_or_never().is_none(), "nothing after the 404");
}

#[tokio::test]
async fn a_namespace_whose_rules_changed_has_its_steady_sets_read_again() {
    use crate::tenancy::ALLOWED_FUNCTIONS;
    use std::collections::BTreeMap;
    let caller = crate::tenancy::Caller {
        partition: "aws".into(),
        account: "111122223333".into(),
        default_region: Some("eu-west-1".into()),
    };
    let allowed = BTreeMap::from([(
        ALLOWED_FUNCTIONS.to_string(),
        "arn:aws:lambda:eu-west-1:111122223333:function:trivia-*".to_string(),
    )]);
    let gate = crate::controller::tenancy::Gate::strict("test".into(), caller);
    gate.update(NS, allowed.clone());
    let fake = fake_with_function();
    let obj = object(spec(Phase::Development), true, false);
    let (ctx, handle, _sink) = context_gated(fake.clone(), Ok(Vec::new()), gate);
    let reply = serde_json::to_value(&obj).expect("json");
    let (_, handle, patch) = from_watch(&ctx, meta_of(&obj), handle, |h| read_then_status(h, reply)).await;
    assert_eq!(condition(&patch["status"], "Ready")["reason"], "Converged");
    // The same rules seen again (the Namespace watch's resync): the echo still waits unread.
    ctx.tenancy.update(NS, allowed);
    let (_, handle, _) = from_watch(&ctx, meta_of(&obj), handle, |h| async move { (h, Value::Null) }).await;
    // The annotation removed: the set is read and refused at once, without an AWS call.
    let calls = fake.calls().len();
    ctx.tenancy.update(NS, BTreeMap::new());
    let mut stored = obj.clone();
    stored.status = Some(serde_json::from_value(patch["status"].clone()).expect("status"));
    let reply = serde_json::to_value(&stored).expect("json");
    let (action, _, patch) = from_watch(&ctx, meta_of(&stored), handle, |h| read_then_status(h, reply)).await;
    assert_eq!(action, Action::await_change());
    assert_eq!(condition(&patch["status"], "Ready")["reason"], "NotAllowed");
    assert_eq!(fake.calls().len(), calls, "no AWS call for a refused set");
}

#[tokio::test]
async fn a_reconcile_whose_status_patch_fails_is_timed_and_counted_once() {
    let fake = fake_with_function();
    let obj = Arc::new(object(spec(Phase::Development), true, false));
    let (ctx, handle, _sink) = context(fake);
    let server = tokio::spawn(async move {
        let mut h = handle;
        let (request, send) = h.next_request().await.expect("a request");
        assert_eq!(
            (request.method(), request.uri().path()),
            (&Method::PATCH, format!("{PATH}/status").as_str())
        );
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError",
                            "code": 500, "message": "etcd is having a bad day"});
        send.send_response(
            Response::builder()
                .status(500)
                .body(Body::from(serde_json::to_vec(&status).expect("json")))
                .expect("response"),
        );
        h
    });
    let error = tokio::time::timeout(Duration::from_secs(10), reconcile(obj.clone(), ctx.clone()))
        .await
        .expect("no unanswered call")
        .expect_err("the status patch failed");
    let _handle = server.await.expect("verifier");
    assert_eq!(error.metric_label(), "KubeError");
    assert_eq!(error_policy(obj, &error, ctx.clone()), Action::requeue(Duration::from_secs(15)));
    let text = ctx.metrics.render(&ctx.calls, &crate::aws::budget::Budgets::default());
    assert!(text.contains("lac_reconciles_total 1\n"), "counted once, by error_policy: {text}");
    assert!(text.contains("lac_reconcile_errors_total{reason=\"KubeError\"} 1"), "{text}");
    assert!(text.contains("lac_reconcile_duration_seconds_count 1"), "timed by the reconcile: {text}");
}

/// Answers every API server request with `reply` until the client goes (a context shared by
/// several reconciles).
fn answer_everything(mut handle: Handle, reply: Value) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut answered = 0;
        while let Some((_, send)) = handle.next_request().await {
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&reply).expect("json")))
                    .expect("response"),
            );
            answered += 1;
        }
        answered
    })
}

#[tokio::test]
async fn a_held_step_is_watched_with_the_cheap_reads_and_an_alarm_still_rolls_it_back() {
    use crate::api::{LiveOverride, Rollout};
    use crate::aws::Operation;
    use crate::plan::AlarmState;
    use std::sync::atomic::{AtomicI64, Ordering};

    let fake = fake_with_function();
    fake.oob_publish(FUNCTION, "").expect("publish 1");
    fake.deploy(FUNCTION, "3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").expect("deploy");
    fake.oob_publish(FUNCTION, "").expect("publish 2");
    fake.set_alarm("trivia-errors", AlarmState::Ok);
    let with_live = |version: &str| {
        let mut spec = spec(Phase::Development);
        spec.live = Some(LiveOverride { code_sha256: None, version: Some(version.into()) });
        spec.rollout = Some(Rollout {
            steps: vec![50],
            interval_seconds: 300,
            alarms: vec!["trivia-errors".into()],
            max_error_rate: None,
        });
        spec
    };
    crate::engine::converge(&*fake, OWNER, &with_live("1"), None, || NOW - 1000, 5).await.expect("bootstrap");

    let clock = Arc::new(AtomicI64::new(NOW));
    let ticks = clock.clone();
    let (ctx, handle, sink) = context_clocked(
        fake.clone(),
        Ok(Vec::new()),
        crate::controller::tenancy::Gate::open(),
        Arc::new(move || ticks.load(Ordering::SeqCst)),
    );
    let obj = Arc::new(object(with_live("2"), true, false));
    let server = answer_everything(handle, serde_json::to_value(&*obj).expect("json"));
    let weighted = |fake: &FakeLambda| fake.alias(FUNCTION, "PROD1").map(|a| (a.function_version, a.routing));

    // The step: a full converge writes 50 % on 2.
    let action = reconcile(obj.clone(), ctx.clone()).await.expect("step");
    assert_eq!(action, Action::requeue(Duration::from_secs(10)), "the alarms are read every 10 s");
    assert_eq!(weighted(&fake), Some(("1".into(), vec![("2".into(), 0.5)].into_iter().collect())));

    // Looks while the step is held: the cheap reads and one DescribeAlarms, nothing written.
    for look in 1..=3 {
        clock.store(NOW + 10 * look, Ordering::SeqCst);
        fake.clear_calls();
        let writes = fake.writes();
        let action = reconcile(obj.clone(), ctx.clone()).await.expect("look");
        assert_eq!(action, Action::requeue(Duration::from_secs(10)));
        let calls = fake.calls();
        assert_eq!(fake.writes(), writes, "{calls:?}");
        assert_eq!(fake.calls_of(Operation::ListVersionsByFunction), 0, "no full observe: {calls:?}");
        assert_eq!(fake.calls_of(Operation::ListEventSourceMappings), 0, "{calls:?}");
        assert_eq!(fake.calls_of(Operation::ListAliases), 1, "{calls:?}");
        assert_eq!(fake.calls_of(Operation::DescribeAlarms), 1, "{calls:?}");
    }

    // A hand-made move during the hold is seen by the cheap reads: the full converge puts the
    // step back.
    fake.clear_alias_routing(FUNCTION, "PROD1").expect("by hand");
    clock.store(NOW + 40, Ordering::SeqCst);
    fake.clear_calls();
    reconcile(obj.clone(), ctx.clone()).await.expect("put back");
    assert!(fake.calls_of(Operation::ListVersionsByFunction) >= 1, "{:?}", fake.calls());
    assert_eq!(weighted(&fake), Some(("1".into(), vec![("2".into(), 0.5)].into_iter().collect())));

    // The alarm flips: the next look sees it and the full converge rolls back in one write.
    fake.set_alarm("trivia-errors", AlarmState::Alarm);
    clock.store(NOW + 50, Ordering::SeqCst);
    fake.clear_calls();
    let writes = fake.writes();
    reconcile(obj.clone(), ctx.clone()).await.expect("rollback");
    assert_eq!(weighted(&fake), Some(("1".into(), Default::default())), "back on 1 alone");
    assert_eq!(fake.writes(), writes + 1, "{:?}", fake.calls());
    assert!(reasons(&sink).iter().any(|r| r == "RolledBack"), "{:?}", reasons(&sink));
    drop(ctx);
    assert!(server.await.expect("server") >= 6, "every reconcile patched its status");
}

/// `obj` with a drift event's booking on it, as the feed writes it.
fn booked(obj: &LambdaAliasSet, value: &str) -> LambdaAliasSet {
    let mut obj = obj.clone();
    obj.metadata.annotations = Some([(drift_events::ANNOTATION.to_string(), value.to_string())].into());
    obj
}

#[tokio::test]
async fn a_booked_drift_event_runs_the_cheap_check_at_once_and_clears_its_booking_after() {
    let fake = fake_with_function();
    let obj = object(spec(Phase::Development), true, false);
    let (ctx, handle, sink) = context(fake.clone());
    let reply = serde_json::to_value(&obj).expect("json");
    let (_, handle, patch) = from_watch(&ctx, meta_of(&obj), handle, |h| read_then_status(h, reply)).await;
    let mut steady = obj.clone();
    steady.status = Some(serde_json::from_value(patch["status"].clone()).expect("status"));
    let writes = fake.writes();

    // Booked with nothing changed: read now (not at the check's time), the cheap reads only, no
    // status write, then the booking is removed if it still holds this value.
    let value = "2027-01-15T08:00:00Z|event-1";
    let with = booked(&steady, value);
    let reply = serde_json::to_value(&with).expect("json");
    let calls = fake.calls().len();
    let (action, handle, clear) = from_watch(&ctx, meta_of(&with), handle, |mut h| async move {
        expect(&mut h, Method::GET, PATH, &reply).await;
        let clear = expect(&mut h, Method::PATCH, PATH, &reply).await;
        (h, clear)
    })
    .await;
    assert!(requeued(&action));
    let path = "/metadata/annotations/lambda.aliasset.dev~1drift-event";
    assert_eq!(clear, json!([{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}]));
    let read: Vec<_> = fake.calls()[calls..].to_vec();
    assert!(read.iter().all(|op| op.is_read()), "{read:?}");
    assert!(!read.contains(&crate::aws::Operation::ListVersionsByFunction), "the cheap check: {read:?}");
    assert_eq!(fake.writes(), writes);
    let metrics = ctx.metrics.render(&CallCounter::new(), &crate::aws::budget::Budgets::default());
    assert!(metrics.contains("lac_drift_checks_total{result=\"unchanged\"} 1"), "{metrics}");
    assert!(metrics.contains("lac_drift_event_lag_seconds_count{until=\"checked\"} 1"), "{metrics}");

    // Booked after someone re-pointed PROD1: the check differs, the full converge puts it back,
    // the lag is counted as a repair too.
    fake.oob_update_alias(FUNCTION, "PROD1", "$LATEST").expect("re-point");
    let with = booked(&steady, "2027-01-15T08:01:00Z|event-2");
    let reply = serde_json::to_value(&with).expect("json");
    let (_, handle, _) = from_watch(&ctx, meta_of(&with), handle, |mut h| async move {
        expect(&mut h, Method::GET, PATH, &reply).await;
        let clear = expect(&mut h, Method::PATCH, PATH, &reply).await;
        (h, clear)
    })
    .await;
    assert!(reasons(&sink).contains(&"DriftCorrected".to_string()), "{:?}", reasons(&sink));
    let metrics = ctx.metrics.render(&CallCounter::new(), &crate::aws::budget::Budgets::default());
    assert!(metrics.contains("lac_drift_event_lag_seconds_count{until=\"repaired\"} 1"), "{metrics}");
    drop(handle);
}

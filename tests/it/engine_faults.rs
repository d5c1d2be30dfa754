//! The engine against the faithful fake with injected faults: throttling with retry hints,
//! 5xx and timeouts, concurrent changes (RevisionId / CodeSha256 preconditions), access denied.
//! Each test ends converged, with no duplicate writes.

use std::time::Duration;

use lambda_alias_controller::api::{LambdaAliasSetSpec, Phase, Trigger};
use lambda_alias_controller::aws::budget::{BudgetLimits, Budgets, CallCounter, Metered};
use lambda_alias_controller::aws::fake::{FakeLambda, Fault};
use lambda_alias_controller::aws::{AwsError, Operation};
use lambda_alias_controller::engine::{self, EngineError};
use lambda_alias_controller::plan::Outcome;

const F: &str = "skill";
const OWNER: &str = "skills/trivia";
const NOW: i64 = 1_800_000_000;

fn sha(c: char) -> String {
    format!("{}=", c.to_string().repeat(43))
}

fn spec(phase: Phase) -> LambdaAliasSetSpec {
    let mut spec = LambdaAliasSetSpec::for_function(F);
    spec.certification.phase = phase;
    spec.drain_seconds = 0;
    spec.triggers = vec![Trigger::alexa("alexa", "amzn1.ask.skill.1")];
    spec
}

fn fake() -> FakeLambda {
    let fake = FakeLambda::new("111122223333", "eu-west-1");
    fake.add_function(F, &sha('A'));
    fake
}

async fn converge(
    api: &impl lambda_alias_controller::aws::AwsApi,
    spec: &LambdaAliasSetSpec,
) -> Result<engine::Converged, EngineError> {
    engine::converge(api, OWNER, spec, None, || NOW, 10).await
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_after_the_hint_and_counted() {
    let start = tokio::time::Instant::now();
    let budgets = Budgets::new(BudgetLimits::default());
    let calls = CallCounter::new();
    let api = Metered::new(fake(), "111122223333", "eu-west-1", budgets, calls.clone());
    api.inner().throttle_next(2, Some(Duration::from_secs(3)));
    let done = converge(&api, &spec(Phase::Development)).await.expect("converges despite throttling");
    assert_eq!(done.last.plan.outcome, Outcome::Converged);
    assert_eq!(calls.get(Operation::GetFunction, "Throttled"), 2, "{:?}", calls.snapshot());
    assert!(start.elapsed() >= Duration::from_secs(6), "waited for the hints: {:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn throttling_beyond_the_retry_bound_is_reported_as_throttled() {
    let budgets = Budgets::new(BudgetLimits::default());
    let api = Metered::new(fake(), "111122223333", "eu-west-1", budgets, CallCounter::new());
    api.inner().throttle_next(10, None);
    let err = converge(&api, &spec(Phase::Development)).await.expect_err("gives up");
    assert!(matches!(err.aws(), Some(AwsError::Throttled { .. })), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_5xx_on_a_read_is_retried_and_on_a_write_stops_the_pass() {
    let budgets = Budgets::new(BudgetLimits::default());
    let api = Metered::new(fake(), "111122223333", "eu-west-1", budgets, CallCounter::new());
    api.inner().fail_next_on(Operation::ListAliases, 1, Fault::Unavailable);
    api.inner().fail_next_on(Operation::CreateAlias, 1, Fault::Timeout);
    let err = converge(&api, &spec(Phase::Development)).await.expect_err("the write failed");
    assert!(
        matches!(err.aws(), Some(AwsError::Unavailable { operation: Operation::CreateAlias, .. })),
        "{err}"
    );
    // The next reconcile picks up from what is true: the version published before the failure
    // is reused (an unchanged $LATEST publishes nothing new).
    let done = converge(&api, &spec(Phase::Development)).await.expect("converges");
    assert_eq!(done.last.plan.outcome, Outcome::Converged);
    assert_eq!(api.inner().versions(F).len(), 1, "no duplicate version");
    assert_eq!(api.inner().alias(F, "PROD1").map(|a| a.function_version), Some("1".to_string()));
}

#[tokio::test]
async fn a_concurrent_alias_change_fails_the_revision_precondition_and_is_re_observed() {
    let fake = fake();
    converge(&fake, &spec(Phase::Development)).await.expect("bootstrap");
    fake.deploy(F, &sha('B')).expect("deploy");
    // Someone moves PROD2 between our observation and our write: the plan's RevisionId is stale.
    fake.fail_next_on(Operation::UpdateAlias, 1, Fault::PreconditionFailed);
    let done = converge(&fake, &spec(Phase::Certifying)).await.expect("re-observes and converges");
    assert_eq!(done.last.plan.outcome, Outcome::Converged);
    assert!(done.passes >= 2);
    assert_eq!(fake.alias(F, "PROD2").map(|a| a.function_version), Some("2".to_string()));
}

#[tokio::test]
async fn a_deploy_between_observe_and_publish_is_never_published_by_mistake() {
    let fake = fake();
    converge(&fake, &spec(Phase::Development)).await.expect("bootstrap");
    fake.deploy(F, &sha('B')).expect("deploy B");
    let (snapshot, plan) =
        engine::plan_only(&fake, OWNER, &spec(Phase::Certifying), None, NOW).await.expect("plan");
    // CI deploys C before our PublishVersion(CodeSha256 = B) runs: AWS refuses it.
    fake.deploy(F, &sha('C')).expect("deploy C");
    let err = engine::execute(&fake, &spec(Phase::Certifying), &snapshot, &plan.actions)
        .await
        .expect_err("refused");
    assert!(matches!(err.error, AwsError::PreconditionFailed { .. }), "{}", err.error);
    assert!(err.done.is_empty(), "nothing was written");
    // Reconciling again freezes what is on $LATEST now.
    converge(&fake, &spec(Phase::Certifying)).await.expect("converges");
    let frozen = fake.alias(F, "PROD2").expect("PROD2").function_version;
    let version = fake.versions(F).into_iter().find(|v| v.version.to_string() == frozen).expect("version");
    assert_eq!(version.code_sha256, sha('C'));
}

#[tokio::test]
async fn access_denied_names_the_iam_action() {
    let fake = fake();
    fake.deny(Operation::AddPermission);
    let err = converge(&fake, &spec(Phase::Development)).await.expect_err("denied");
    let text = err.to_string();
    assert!(text.contains("lambda:AddPermission"), "{text}");
}

#[tokio::test]
async fn a_crash_mid_swap_never_swaps_twice_and_the_error_carries_the_swap() {
    let fake = fake();
    converge(&fake, &spec(Phase::Development)).await.expect("bootstrap");
    fake.deploy(F, &sha('B')).expect("deploy");
    converge(&fake, &spec(Phase::Certifying)).await.expect("freeze");
    // The swap is one write; crash right after it.
    fake.crash_after_writes(1);
    let err = converge(&fake, &spec(Phase::Certified)).await.expect_err("the write after the swap fails");
    // The swap was the pass before the failing one: the error still carries it (its Event).
    assert!(err.done().iter().any(|d| d.action.is_swap()), "{:?}", err.done());
    fake.recover();
    let done = converge(&fake, &spec(Phase::Certified)).await.expect("converges");
    assert!(!done.done.iter().any(|d| d.action.is_swap()), "no second swap: {:?}", done.done);
    assert_eq!(done.last.plan.report.live.map(|l| l.summary), Some("PROD2:2".to_string()));
}

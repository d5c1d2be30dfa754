//! `spec.provisionedConcurrency` (README "Provisioned concurrency") through the engine against
//! the faithful fake, which enforces AWS's rules for configs (never on `$LATEST`, one per
//! version, none on a weighted alias) and keeps each IN_PROGRESS for a delay on its clock.
//! After every converge the invariant is checked: the version(s) the live alias serves hold a
//! READY config at the live count, once the first one was allocated.

use lambda_alias_controller::api::{
    LambdaAliasSetSpec, LiveOverride, Phase, ProvisionedConcurrency, Trigger,
};
use lambda_alias_controller::aws::fake::FakeLambda;
use lambda_alias_controller::engine::{self, Converged};
use lambda_alias_controller::plan::{Marker, Outcome, WarmStatus};

const F: &str = "skill";
const OWNER: &str = "skills/trivia";
const START: i64 = 1_800_000_000;
/// Seconds a config stays IN_PROGRESS in the fake (AWS: minutes).
const DELAY: i64 = 120;
const LIVE: u32 = 5;
const CANDIDATE: u32 = 1;

fn sha(c: char) -> String {
    format!("{}=", c.to_string().repeat(43))
}

fn spec(phase: Phase) -> LambdaAliasSetSpec {
    let mut spec = LambdaAliasSetSpec::for_function(F);
    spec.certification.phase = phase;
    spec.drain_seconds = 60;
    spec.triggers = vec![Trigger::alexa("alexa", "amzn1.ask.skill.1")];
    spec.provisioned_concurrency = Some(ProvisionedConcurrency { live: LIVE, candidate: CANDIDATE });
    spec
}

struct World {
    fake: FakeLambda,
    now: i64,
}

impl World {
    fn new() -> World {
        let fake = FakeLambda::new("111122223333", "eu-west-1");
        fake.add_function(F, &sha('A'));
        fake.set_warm_delay(DELAY);
        fake.set_clock(START);
        World { fake, now: START }
    }

    fn wait(&mut self, seconds: i64) {
        self.now += seconds;
        self.fake.set_clock(self.now);
    }

    async fn converge(&self, spec: &LambdaAliasSetSpec) -> Converged {
        let now = self.now;
        let done = engine::converge(&self.fake, OWNER, spec, None, || now, 10).await.expect("converges");
        self.check_live_is_warm();
        done
    }

    /// (version, requested, status) of every config, by version.
    fn configs(&self) -> Vec<(String, u32, WarmStatus)> {
        let mut all: Vec<_> =
            self.fake.warm_configs(F).into_iter().map(|c| (c.qualifier, c.requested, c.status)).collect();
        all.sort();
        all
    }

    fn serving(&self, alias: &str) -> String {
        self.fake.alias(F, alias).expect("alias").function_version
    }

    fn marker(&self, alias: &str) -> Marker {
        Marker::parse(&self.fake.alias(F, alias).expect("alias").description).expect("marker")
    }

    /// The live skill is never cold: once the live alias's version was READY, every version the
    /// live alias serves is READY at the live count.
    fn check_live_is_warm(&self) {
        let live = ["PROD1", "PROD2"]
            .into_iter()
            .filter_map(|name| self.fake.alias(F, name).map(|a| (name, a)))
            .filter_map(|(_, a)| {
                Marker::parse(&a.description)
                    .filter(|m| m.role == lambda_alias_controller::plan::Role::Live)
                    .map(|m| (m.epoch, a))
            })
            .max_by_key(|(epoch, _)| *epoch)
            .map(|(_, a)| a);
        let Some(live) = live else { return };
        let configs = self.fake.warm_configs(F);
        let warm = |v: &str| {
            configs.iter().any(|c| c.qualifier == v && c.status == WarmStatus::Ready && c.requested >= LIVE)
        };
        let versions: Vec<&str> = std::iter::once(live.function_version.as_str())
            .chain(live.routing.keys().map(String::as_str))
            .collect();
        if configs.iter().any(|c| c.status == WarmStatus::Ready) {
            for v in versions {
                assert!(
                    warm(v),
                    "the live alias {} serves version {v} without READY capacity: {configs:?}",
                    live.name
                );
            }
        }
    }
}

fn reason(done: &Converged) -> &'static str {
    done.last.plan.outcome.reason().as_str()
}

#[tokio::test]
async fn a_round_warms_the_candidate_before_the_swap_and_frees_the_old_live_version_after_the_drain() {
    let mut w = World::new();
    let done = w.converge(&spec(Phase::Development)).await;
    assert_eq!(reason(&done), "Warming", "{:?}", done.last.plan.outcome);
    assert_eq!(w.configs(), [("1".into(), LIVE, WarmStatus::InProgress)]);
    assert_eq!(
        w.marker("PROD1").provisioned,
        Some(lambda_alias_controller::plan::marker::Provisioned::Managed)
    );
    w.wait(DELAY);
    let done = w.converge(&spec(Phase::Development)).await;
    assert_eq!(reason(&done), "Converged");
    let live = done.last.plan.report.live.clone().expect("live");
    let pc = live.provisioned_concurrency.expect("live's config in the status");
    assert_eq!((pc.version.as_str(), pc.requested, pc.allocated, pc.status.as_str()), ("1", 5, 5, "READY"));

    // Certifying: the candidate is frozen on 2 with the candidate count.
    w.fake.deploy(F, &sha('B')).expect("deploy");
    let done = w.converge(&spec(Phase::Certifying)).await;
    assert_eq!(w.serving("PROD2"), "2");
    assert_eq!(reason(&done), "Warming");
    assert!(w.configs().contains(&("2".into(), CANDIDATE, WarmStatus::InProgress)), "{:?}", w.configs());
    w.wait(DELAY);
    let done = w.converge(&spec(Phase::Certifying)).await;
    assert_eq!(reason(&done), "Converged");
    let candidate = done.last.plan.report.candidate.clone().expect("candidate");
    let pc = candidate.provisioned_concurrency.expect("the candidate's config in the status");
    assert_eq!((pc.version.as_str(), pc.requested, pc.status.as_str()), ("2", CANDIDATE as i32, "READY"));

    // Certified: warmed to the live count first; the roles swap only once that is READY.
    let done = w.converge(&spec(Phase::Certified)).await;
    assert_eq!(reason(&done), "Warming", "{:?}", done.last.plan.outcome);
    assert!(done.last.plan.outcome.message().contains("swap"), "{}", done.last.plan.outcome.message());
    assert_eq!(w.marker("PROD2").role, lambda_alias_controller::plan::Role::Candidate, "no swap yet");
    assert!(w.configs().contains(&("2".into(), LIVE, WarmStatus::InProgress)), "{:?}", w.configs());
    w.wait(DELAY / 2);
    assert_eq!(reason(&w.converge(&spec(Phase::Certified)).await), "Warming", "still allocating");
    w.wait(DELAY / 2);
    let done = w.converge(&spec(Phase::Certified)).await;
    assert_eq!(reason(&done), "Draining", "{:?}", done.last.plan.outcome);
    assert_eq!(w.marker("PROD2").role, lambda_alias_controller::plan::Role::Live, "swapped");
    // The previously live alias keeps its version's capacity while it drains...
    assert!(w.configs().contains(&("1".into(), LIVE, WarmStatus::Ready)), "{:?}", w.configs());
    // ... and loses it when it goes back to $LATEST.
    w.wait(60);
    let done = w.converge(&spec(Phase::Certified)).await;
    assert_eq!(reason(&done), "Converged");
    assert_eq!(w.serving("PROD1"), "$LATEST");
    assert_eq!(w.configs(), [("2".into(), LIVE, WarmStatus::Ready)]);
    let verbs: Vec<&str> = done.done.iter().map(|d| d.action.verb()).collect();
    let delete = verbs.iter().position(|v| *v == "DeleteProvisionedConcurrencyConfig").expect("deleted");
    let track = verbs.iter().position(|v| *v == "UpdateAlias").expect("tracked");
    assert!(delete < track, "the config goes before the alias tracks $LATEST: {verbs:?}");
}

#[tokio::test]
async fn a_hotfix_warms_the_new_version_first_so_the_live_alias_is_never_cold() {
    let mut w = World::new();
    w.converge(&spec(Phase::Development)).await;
    w.wait(DELAY);
    w.converge(&spec(Phase::Development)).await;
    w.fake.deploy(F, &sha('B')).expect("deploy");
    w.fake.oob_publish(F, "hotfix").expect("publish 2");
    let mut hotfix = spec(Phase::Development);
    hotfix.live = Some(LiveOverride { code_sha256: None, version: Some("2".into()) });

    let done = w.converge(&hotfix).await;
    assert_eq!(reason(&done), "Warming");
    assert_eq!(w.serving("PROD1"), "1", "the live alias waits on its warm version");
    assert_eq!(
        w.marker("PROD1").provisioned,
        Some(lambda_alias_controller::plan::marker::Provisioned::Warming(2)),
        "the version being warmed is recorded before its config is put"
    );
    let verbs: Vec<&str> = done.done.iter().map(|d| d.action.verb()).collect();
    assert_eq!(verbs, ["UpdateAlias", "PutProvisionedConcurrencyConfig"]);
    w.wait(DELAY - 1);
    assert_eq!(reason(&w.converge(&hotfix).await), "Warming");
    assert_eq!(w.serving("PROD1"), "1");
    w.wait(1);
    let done = w.converge(&hotfix).await;
    assert_eq!(reason(&done), "Converged");
    assert_eq!(w.serving("PROD1"), "2");
    assert_eq!(w.configs(), [("2".into(), LIVE, WarmStatus::Ready)], "the old version's config is gone");
    let verbs: Vec<&str> = done.done.iter().map(|d| d.action.verb()).collect();
    assert_eq!(verbs, ["UpdateAlias", "DeleteProvisionedConcurrencyConfig"], "moved, then freed");
}

#[tokio::test]
async fn a_version_that_fails_to_initialise_never_becomes_live() {
    let mut w = World::new();
    w.converge(&spec(Phase::Development)).await;
    w.wait(DELAY);
    w.converge(&spec(Phase::Development)).await;
    w.fake.deploy(F, &sha('B')).expect("deploy");
    w.fake.oob_publish(F, "broken").expect("publish 2");
    w.fake.fail_warm(F, "2", Some("FUNCTION_ERROR_INIT_FAILURE"));
    let mut hotfix = spec(Phase::Development);
    hotfix.live = Some(LiveOverride { code_sha256: None, version: Some("2".into()) });
    w.converge(&hotfix).await;
    w.wait(DELAY);
    let done = w.converge(&hotfix).await;
    assert_eq!(reason(&done), "WarmupFailed", "{:?}", done.last.plan.outcome);
    assert!(done.last.plan.outcome.is_stalled());
    let message = done.last.plan.outcome.message();
    assert!(
        message.contains("FUNCTION_ERROR_INIT_FAILURE") && message.contains("PROD1 stays live"),
        "{message}"
    );
    assert_eq!(w.serving("PROD1"), "1");
    assert!(done.done.is_empty(), "nothing written: {:?}", done.done);
    // Back to version 1: the failed config is the set's, and goes.
    let done = w.converge(&spec(Phase::Development)).await;
    assert_eq!(reason(&done), "Converged", "{:?}", done.last.plan.outcome);
    assert_eq!(w.configs(), [("1".into(), LIVE, WarmStatus::Ready)]);
    assert_eq!(
        w.marker("PROD1").provisioned,
        Some(lambda_alias_controller::plan::marker::Provisioned::Managed)
    );
}

#[tokio::test]
async fn removing_the_field_removes_the_sets_configs_and_drift_is_put_back() {
    let mut w = World::new();
    w.converge(&spec(Phase::Development)).await;
    w.wait(DELAY);
    w.converge(&spec(Phase::Development)).await;
    // Out of band: the count changed, then the config deleted.
    w.fake.oob_put_warm(F, "1", 2).expect("by hand");
    let done = w.converge(&spec(Phase::Development)).await;
    assert_eq!(w.configs(), [("1".into(), LIVE, WarmStatus::InProgress)], "{:?}", done.done);
    w.wait(DELAY);
    w.fake.oob_delete_warm(F, "1").expect("by hand");
    w.converge(&spec(Phase::Development)).await;
    assert_eq!(w.configs(), [("1".into(), LIVE, WarmStatus::InProgress)]);
    // A config on a version nothing of the set serves is not the set's: left alone.
    w.fake.deploy(F, &sha('C')).expect("deploy");
    w.fake.oob_publish(F, "someone's").expect("publish 2");
    w.fake.oob_put_warm(F, "2", 1).expect("someone's config");
    let mut without = spec(Phase::Development);
    without.provisioned_concurrency = None;
    let done = w.converge(&without).await;
    assert_eq!(reason(&done), "Converged", "{:?}", done.last.plan.outcome);
    assert_eq!(w.configs(), [("2".into(), 1, WarmStatus::InProgress)], "only the set's went");
    assert_eq!(w.marker("PROD1").provisioned, None, "the record is cleared once they are gone");
    let again = w.converge(&without).await;
    assert!(again.done.is_empty(), "steady: {:?}", again.done);
}

#[tokio::test]
async fn an_alias_level_config_of_someone_else_stalls_the_set_with_nothing_written() {
    let w = World::new();
    let mut plain = spec(Phase::Development);
    plain.provisioned_concurrency = None;
    w.converge(&plain).await;
    w.fake.oob_publish(F, "").expect("publish");
    w.fake.oob_update_alias(F, "PROD1", "1").expect("PROD1 on 1");
    w.fake.oob_put_warm(F, "PROD1", 2).expect("an alias-level config");
    let writes = w.fake.writes();
    let done =
        engine::converge(&w.fake, OWNER, &spec(Phase::Development), None, || START, 10).await.expect("plans");
    assert_eq!(reason(&done), "WarmupFailed");
    assert!(done.last.plan.outcome.message().contains("alias PROD1 has a provisioned concurrency config"));
    assert_eq!(w.fake.writes(), writes, "nothing written");
}

#[tokio::test]
async fn steady_with_provisioned_concurrency_writes_nothing_and_reads_one_listing() {
    let mut w = World::new();
    w.converge(&spec(Phase::Development)).await;
    w.wait(DELAY);
    w.converge(&spec(Phase::Development)).await;
    w.fake.clear_calls();
    let writes = w.fake.writes();
    let done = w.converge(&spec(Phase::Development)).await;
    assert_eq!(reason(&done), "Converged");
    assert_eq!(w.fake.writes(), writes);
    assert_eq!(
        w.fake.calls_of(lambda_alias_controller::aws::Operation::ListProvisionedConcurrencyConfigs),
        1
    );
    assert!(matches!(done.last.plan.outcome, Outcome::Converged));
}

#[tokio::test]
async fn a_rollout_under_provisioned_concurrency_warms_the_new_version_before_its_first_step() {
    use lambda_alias_controller::api::Rollout;
    let mut w = World::new();
    let mut stepped = spec(Phase::Development);
    stepped.rollout =
        Some(Rollout { steps: vec![10], interval_seconds: 300, alarms: Vec::new(), max_error_rate: None });
    w.converge(&stepped).await;
    w.wait(DELAY);
    w.converge(&stepped).await;
    w.fake.deploy(F, &sha('B')).expect("deploy");
    w.fake.oob_publish(F, "canary").expect("publish 2");
    stepped.live = Some(LiveOverride { code_sha256: None, version: Some("2".into()) });
    assert_eq!(reason(&w.converge(&stepped).await), "Warming");
    assert!(w.fake.alias(F, "PROD1").expect("PROD1").routing.is_empty(), "no traffic on a cold version");
    w.wait(DELAY);
    let done = w.converge(&stepped).await;
    assert_eq!(reason(&done), "RollingOut", "{:?}", done.last.plan.outcome);
    assert_eq!(w.fake.alias(F, "PROD1").expect("PROD1").routing.get("2"), Some(&0.1));
    // Both versions keep the live count while traffic is split (checked after every converge).
    w.wait(300);
    let done = w.converge(&stepped).await;
    assert_eq!(reason(&done), "Converged");
    assert_eq!(w.serving("PROD1"), "2");
    assert_eq!(w.configs(), [("2".into(), LIVE, WarmStatus::Ready)]);
}

#[tokio::test]
async fn deletion_policy_delete_removes_the_sets_configs_and_retain_keeps_them() {
    use lambda_alias_controller::plan::{release, teardown};
    let mut w = World::new();
    w.converge(&spec(Phase::Development)).await;
    w.wait(DELAY);
    w.converge(&spec(Phase::Development)).await;
    // Someone's alias on version 1 too: its capacity stays.
    let snapshot = engine::observe(&w.fake, OWNER, &spec(Phase::Development)).await.expect("observe");
    let retained = release(OWNER, &snapshot);
    assert!(retained.iter().all(|a| a.verb() == "UpdateAlias"), "Retain keeps the configs: {retained:?}");
    let deleted = teardown(OWNER, &snapshot, &Default::default());
    let verbs: Vec<&str> = deleted.iter().map(|a| a.verb()).collect();
    assert_eq!(verbs, ["DeleteProvisionedConcurrencyConfig", "DeleteAlias", "DeleteAlias"]);
    w.fake.oob_create_alias(F, "OTHER", "1", "").expect("someone's alias");
    let snapshot = engine::observe(&w.fake, OWNER, &spec(Phase::Development)).await.expect("observe");
    let deleted = teardown(OWNER, &snapshot, &Default::default());
    assert!(
        deleted.iter().all(|a| a.verb() == "DeleteAlias"),
        "version 1 is served by another alias: {deleted:?}"
    );
}

#[tokio::test]
async fn the_drift_check_lists_the_configs_once_and_sees_a_change_by_hand() {
    use lambda_alias_controller::aws::Operation;
    use lambda_alias_controller::engine::drift::{Baseline, unchanged};
    let mut w = World::new();
    w.converge(&spec(Phase::Development)).await;
    w.wait(DELAY);
    let done = w.converge(&spec(Phase::Development)).await;
    let baseline = Baseline::of(&spec(Phase::Development), OWNER, &done.last.snapshot);
    let cost = baseline.cost();
    eprintln!("drift check with provisioned concurrency, by pool: {cost:?}");
    assert_eq!(cost.shared, 2, "ListAliases and ListProvisionedConcurrencyConfigs: {cost:?}");
    w.fake.clear_calls();
    assert!(unchanged(&w.fake, &spec(Phase::Development), OWNER, &baseline).await.expect("check"));
    let shared: usize = w
        .fake
        .calls()
        .into_iter()
        .filter(|op| !matches!(op, Operation::GetFunction | Operation::GetPolicy))
        .count();
    assert_eq!(shared, 2, "{:?}", w.fake.calls());
    w.fake.oob_put_warm(F, "1", 1).expect("by hand");
    assert!(!unchanged(&w.fake, &spec(Phase::Development), OWNER, &baseline).await.expect("check"));
}

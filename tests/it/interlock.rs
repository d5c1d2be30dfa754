//! The Alexa interlock as a property, on the faithful fake: random Skill Management API
//! histories (submit, certify, fail, cancel, publish, the development stage moved by hand)
//! interleaved with deploys, waits and spec changes (every phase including FromSkill, hotfixes
//! and pins, short and long drains). Across every reconcile, the alias the skill's live stage
//! calls keeps its version — unless the write is a hotfix of the live alias itself — and is
//! never deleted.

use std::sync::atomic::{AtomicUsize, Ordering};

use lambda_alias_controller::api::{
    AlexaSettings, Certification, LambdaAliasSetSpec, LiveOverride, Phase, SecretRef, Trigger,
};
use lambda_alias_controller::aws::fake::FakeLambda;
use lambda_alias_controller::engine;
use lambda_alias_controller::plan::skill::{CertificationStatus, Review, SkillObservation, StageEndpoints};
use lambda_alias_controller::plan::{Action, AliasChange};
use proptest::prelude::*;

const F: &str = "f";
const OWNER: &str = "ns/set";
const SKILL: &str = "amzn1.ask.skill.prop";
const START: i64 = 1_800_000_000;

fn sha(i: u8) -> String {
    format!("{}{}=", (b'A' + i) as char, "x".repeat(42))
}

#[derive(Clone, Debug)]
enum Step {
    Deploy(u8),
    Wait(i64),
    /// phase (0..4), live override (0 none, 1 hash, 2 version), its value, drain choice
    Apply(u8, u8, u8, bool),
    Submit,
    Certify,
    Fail,
    Cancel,
    Publish,
    /// The developer points the development stage at PROD1 or PROD2.
    DevStage(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0u8..4).prop_map(Step::Deploy),
        2 => prop_oneof![Just(10i64), Just(400i64)].prop_map(Step::Wait),
        3 => (0u8..4, prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)], 0u8..4, any::<bool>())
            .prop_map(|(p, l, v, d)| Step::Apply(p, l, v, d)),
        2 => Just(Step::Submit),
        2 => Just(Step::Certify),
        1 => Just(Step::Fail),
        1 => Just(Step::Cancel),
        2 => Just(Step::Publish),
        1 => any::<bool>().prop_map(Step::DevStage),
    ]
}

/// The skill as SMAPI would report it.
#[derive(Clone, Debug)]
struct Skill {
    live: Option<String>,
    development: String,
    review: Option<Review>,
    reviews: usize,
}

struct World {
    fake: FakeLambda,
    now: i64,
    spec: LambdaAliasSetSpec,
    skill: Skill,
}

impl World {
    fn observation(&self) -> SkillObservation {
        let arn = self.fake.function_arn(F);
        let stage = |alias: &str| StageEndpoints { uris: vec![format!("{arn}:{alias}")] };
        SkillObservation {
            skill_id: SKILL.into(),
            live: self.skill.live.as_deref().map(stage),
            development: Some(stage(&self.skill.development)),
            latest_review: self.skill.review.clone(),
        }
    }

    fn version_of(&self, alias: &str) -> Option<String> {
        self.fake.alias(F, alias).map(|a| a.function_version)
    }
}

fn alexa_spec(phase: Phase, live: Option<LiveOverride>, drain: u32) -> LambdaAliasSetSpec {
    LambdaAliasSetSpec {
        certification: Certification { phase, code_sha256: None, description: None },
        live,
        drain_seconds: drain,
        triggers: vec![Trigger::alexa("alexa", SKILL)],
        alexa: Some(AlexaSettings {
            credentials_secret_ref: SecretRef { name: "smapi".into() },
            manage_development_endpoint: false,
        }),
        ..LambdaAliasSetSpec::for_function(F)
    }
}

static RECONCILES: AtomicUsize = AtomicUsize::new(0);
static GUARDED: AtomicUsize = AtomicUsize::new(0);
static HOTFIXES: AtomicUsize = AtomicUsize::new(0);
static HISTORIES: AtomicUsize = AtomicUsize::new(0);

/// One reconcile (converge) with the skill's current state; checks the interlock across it.
fn reconcile(rt: &tokio::runtime::Runtime, world: &World) -> Result<(), TestCaseError> {
    let protected = world.skill.live.clone();
    let before = protected.as_deref().and_then(|a| world.version_of(a));
    let skills = [world.observation()];
    let now = world.now;
    let result =
        rt.block_on(engine::converge(&world.fake, OWNER, &world.spec, Some(&skills), move || now, 12));
    RECONCILES.fetch_add(1, Ordering::Relaxed);
    let Some(alias) = protected else { return Ok(()) };
    GUARDED.fetch_add(1, Ordering::Relaxed);
    let after = world.version_of(&alias);
    let done = match &result {
        Ok(c) => c.done.iter().map(|d| d.action.clone()).collect::<Vec<_>>(),
        Err(e) => return Err(TestCaseError::fail(format!("reconcile failed: {e}"))),
    };
    prop_assert!(
        !done.iter().any(|a| matches!(a, Action::DeleteAlias { alias: n } if *n == alias)),
        "{alias}, called by the live stage, was deleted: {done:?}"
    );
    if before.is_some() && after != before {
        let hotfix = done.iter().any(
            |a| matches!(a, Action::UpdateAlias { alias: n, change: AliasChange::Hotfix, .. } if *n == alias),
        );
        prop_assert!(
            hotfix,
            "{alias}, called by the live stage, moved {before:?} -> {after:?} without a hotfix: {done:?}"
        );
        HOTFIXES.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn run(history: &[Step]) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let fake = FakeLambda::new("123456789012", "us-east-1");
    fake.set_clock(START - 1000);
    fake.add_function(F, &sha(0));
    let mut world = World {
        fake,
        now: START,
        spec: alexa_spec(Phase::Development, None, 300),
        skill: Skill { live: None, development: "PROD2".into(), review: None, reviews: 0 },
    };
    reconcile(&rt, &world)?;
    for step in history {
        match step {
            Step::Deploy(h) => {
                world.fake.set_clock(world.now);
                world.fake.deploy(F, &sha(*h)).expect("deploy");
            }
            Step::Wait(s) => world.now += s,
            Step::Apply(p, l, v, d) => {
                let phase = [Phase::Development, Phase::Certifying, Phase::Certified, Phase::FromSkill]
                    [*p as usize % 4];
                // The CRD's rules: no pin in Certified, and no live hash there without a
                // certified hash.
                let live = match (l, phase) {
                    (_, Phase::Certified) => None,
                    (1, _) => Some(LiveOverride { code_sha256: Some(sha(*v)), version: None }),
                    (2, _) => {
                        Some(LiveOverride { code_sha256: None, version: Some((v % 3 + 1).to_string()) })
                    }
                    _ => None,
                };
                world.spec = alexa_spec(phase, live, if *d { 0 } else { 300 });
            }
            Step::Submit => {
                world.skill.reviews += 1;
                world.skill.review = Some(Review {
                    id: format!("r{}", world.skill.reviews),
                    status: CertificationStatus::InProgress,
                    submitted_at: world.now,
                });
            }
            Step::Certify | Step::Fail | Step::Cancel => {
                if let Some(r) =
                    world.skill.review.as_mut().filter(|r| r.status == CertificationStatus::InProgress)
                {
                    r.status = match step {
                        Step::Certify => CertificationStatus::Succeeded,
                        Step::Fail => CertificationStatus::Failed,
                        _ => CertificationStatus::Cancelled,
                    };
                }
            }
            Step::Publish => {
                // Amazon publishes a certified skill: the live stage becomes the development
                // stage as it was certified.
                if world.skill.review.as_ref().is_some_and(|r| r.status == CertificationStatus::Succeeded) {
                    world.skill.live = Some(world.skill.development.clone());
                }
            }
            Step::DevStage(first) => {
                world.skill.development = if *first { "PROD1" } else { "PROD2" }.into();
            }
        }
        world.now += 1;
        reconcile(&rt, &world)?;
    }
    HISTORIES.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

#[test]
fn the_alias_the_live_stage_calls_never_changes_but_by_a_hotfix() {
    // A runner rather than the proptest! macro, so that the counts can be printed at the end.
    let config = ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    if let Err(e) = runner.run(&prop::collection::vec(step(), 1..40), |history| run(&history)) {
        panic!("{e}");
    }
    let histories = HISTORIES.load(Ordering::Relaxed);
    assert!(histories >= 400, "ran {histories} histories");
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "interlock: {histories} generated histories, {} reconciles ({} with a live stage), 0 cases where the \
         alias the live stage calls changed ({} hotfixes of the live alias itself)",
        RECONCILES.load(Ordering::Relaxed),
        GUARDED.load(Ordering::Relaxed),
        HOTFIXES.load(Ordering::Relaxed),
    );
}

//! Properties of the planner + engine over generated histories, run on the faithful fake:
//! any spec applied to any reachable (and drifted) state converges and a second plan is empty;
//! the live alias moves only by a swap, a hotfix/pin or putting back drift; foreign statements,
//! aliases and mappings are never touched; and stopping after every prefix of a plan, then
//! reconciling again, reaches the same end state with no second swap.

use std::collections::BTreeMap;

use lambda_alias_controller::api::{
    ApiGateway, Certification, EventSourceMapping, LambdaAliasSetSpec, LiveOverride, Phase, Stage, Track,
    Trigger,
};
use lambda_alias_controller::aws::budget::{POOL_SHARED, pool_of};
use lambda_alias_controller::aws::fake::FakeLambda;
use lambda_alias_controller::aws::{CreateMapping, UpdateMapping};
use lambda_alias_controller::controller::is_steady;
use lambda_alias_controller::engine::drift::{self, Baseline};
use lambda_alias_controller::engine::{self, Done};
use lambda_alias_controller::plan::Statement;
use lambda_alias_controller::plan::{Action, AliasChange, Marker};
use proptest::prelude::*;

const F: &str = "f";
const OWNER: &str = "ns/set";
const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:orders";
const FOREIGN_QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:other";
const START: i64 = 1_800_000_000;

fn sha(i: u8) -> String {
    // 43 base64 characters and '=', distinct per i.
    format!("{}{}=", (b'A' + i) as char, "x".repeat(42))
}

#[derive(Clone, Debug)]
struct SpecChoice {
    phase: u8,
    live: u8,
    live_hash: u8,
    live_version: u8,
    cert_hash: Option<u8>,
    drain: u32,
    triggers: u8,
    stages: u8,
    retain: Option<u32>,
}

fn trigger(name: &str) -> Trigger {
    Trigger::named(name)
}

fn build_spec(c: &SpecChoice) -> LambdaAliasSetSpec {
    let phase = [Phase::Development, Phase::Certifying, Phase::Certified][c.phase as usize % 3];
    let cert_hash = c.cert_hash.map(sha);
    let mut live = match c.live % 3 {
        1 => Some(LiveOverride { code_sha256: Some(sha(c.live_hash)), version: None }),
        2 => Some(LiveOverride { code_sha256: None, version: Some((c.live_version % 4 + 1).to_string()) }),
        _ => None,
    };
    // The CRD's rule: in Certified, no pin, and a live hash only if it equals the certified one.
    if phase == Phase::Certified {
        live = match (&live, &cert_hash) {
            (Some(LiveOverride { code_sha256: Some(_), .. }), Some(h)) => {
                Some(LiveOverride { code_sha256: Some(h.clone()), version: None })
            }
            _ => None,
        };
    }
    let mut triggers = Vec::new();
    if c.triggers & 1 != 0 {
        triggers.push(Trigger::alexa("alexa", "amzn1.ask.skill.1"));
    }
    if c.triggers & 2 != 0 {
        triggers.push(Trigger {
            api_gateway: Some(ApiGateway {
                source_arn: "arn:aws:execute-api:us-east-1:123456789012:a/*/GET/x".into(),
            }),
            target: Some("Live".into()),
            ..trigger("api-live")
        });
    }
    if c.triggers & 4 != 0 {
        triggers.push(Trigger {
            event_source_mapping: Some(EventSourceMapping {
                event_source_arn: QUEUE.into(),
                batch_size: Some(if c.triggers & 16 != 0 { 5 } else { 10 }),
                enabled: true,
                starting_position: None,
            }),
            ..trigger("orders")
        });
    }
    let mut stages = Vec::new();
    if c.stages & 1 != 0 {
        stages.push(Stage {
            alias: "DEV".into(),
            code_sha256: None,
            version: None,
            track: Some(Track::Latest),
        });
    }
    if c.stages & 2 != 0 {
        stages.push(Stage { alias: "STG".into(), code_sha256: None, version: Some("1".into()), track: None });
    }
    if c.triggers & 8 != 0 && !stages.is_empty() {
        triggers.push(Trigger {
            api_gateway: Some(ApiGateway {
                source_arn: "arn:aws:execute-api:us-east-1:123456789012:a/*/GET/dev".into(),
            }),
            target: Some(stages[0].alias.clone()),
            ..trigger("api-stage")
        });
    }
    LambdaAliasSetSpec {
        certification: Certification { phase, code_sha256: cert_hash, description: None },
        live,
        drain_seconds: c.drain,
        stages,
        triggers,
        retain_versions: c.retain,
        ..LambdaAliasSetSpec::for_function(F)
    }
}

#[derive(Clone, Debug)]
enum Step {
    Deploy(u8),
    Apply(SpecChoice),
    Wait(i64),
    MoveAlias(u8, u8),
    ForeignStatement(u8),
    RemoveOurStatement(u8),
    ForeignAlias(u8),
    ForeignMapping,
}

fn spec_choice() -> impl Strategy<Value = SpecChoice> {
    // Mostly specs that can be carried out; some that block (unknown hash, missing version).
    let live = prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)];
    let cert_hash = prop_oneof![4 => Just(None), 1 => (0u8..4).prop_map(Some)];
    let phase = prop_oneof![2 => Just(0u8), 3 => Just(1u8), 2 => Just(2u8)];
    (
        phase,
        live,
        0u8..4,
        0u8..2,
        cert_hash,
        prop_oneof![Just(0u32), Just(100u32)],
        0u8..32,
        0u8..4,
        proptest::option::of(0u32..3),
    )
        .prop_map(
            |(phase, live, live_hash, live_version, cert_hash, drain, triggers, stages, retain)| SpecChoice {
                phase,
                live,
                live_hash,
                live_version,
                cert_hash,
                drain,
                triggers,
                stages,
                retain,
            },
        )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..4).prop_map(Step::Deploy),
        5 => spec_choice().prop_map(Step::Apply),
        2 => prop_oneof![Just(10i64), Just(200i64)].prop_map(Step::Wait),
        1 => (0u8..2, 0u8..5).prop_map(|(a, v)| Step::MoveAlias(a, v)),
        1 => (0u8..2).prop_map(Step::ForeignStatement),
        1 => (0u8..2).prop_map(Step::RemoveOurStatement),
        1 => (0u8..4).prop_map(Step::ForeignAlias),
        1 => Just(Step::ForeignMapping),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

struct World {
    fake: FakeLambda,
    now: i64,
}

fn pair(i: u8) -> &'static str {
    if i.is_multiple_of(2) { "PROD1" } else { "PROD2" }
}

fn converge(
    rt: &tokio::runtime::Runtime,
    world: &World,
    spec: &LambdaAliasSetSpec,
) -> Result<engine::Converged, String> {
    let now = world.now;
    rt.block_on(engine::converge(&world.fake, OWNER, spec, None, move || now, 12)).map_err(|e| e.to_string())
}

fn replay(rt: &tokio::runtime::Runtime, history: &[Step]) -> World {
    let world = World { fake: FakeLambda::new("123456789012", "us-east-1"), now: START };
    world.fake.add_function(F, &sha(0));
    replay_steps(rt, world, history)
}

fn replay_steps(rt: &tokio::runtime::Runtime, world: World, history: &[Step]) -> World {
    let mut world = world;
    for step in history {
        match step {
            Step::Deploy(h) => {
                let _ = world.fake.deploy(F, &sha(*h));
            }
            Step::Apply(choice) => {
                if let Err(e) = converge(rt, &world, &build_spec(choice)) {
                    panic!("history apply failed: {e}\nspec: {choice:?}");
                }
            }
            Step::Wait(s) => world.now += s,
            Step::MoveAlias(a, v) => {
                let version = if *v == 0 { "$LATEST".to_string() } else { v.to_string() };
                let _ = world.fake.oob_update_alias(F, pair(*a), &version);
            }
            Step::ForeignStatement(a) => {
                let st = Statement {
                    sid: format!("console-{a}"),
                    principal: "sns.amazonaws.com".into(),
                    action: "lambda:InvokeFunction".into(),
                    source_arn: Some("arn:aws:sns:us-east-1:123456789012:t".into()),
                    ..Statement::default()
                };
                let _ = world.fake.oob_add_statement(F, pair(*a), st);
            }
            Step::RemoveOurStatement(a) => {
                let _ = world.fake.oob_remove_statement(F, pair(*a), "las-alexa");
            }
            Step::ForeignAlias(v) => {
                let version = (*v as u64 % 3 + 1).to_string();
                if world.fake.alias(F, "OTHER").is_none() {
                    let _ = world.fake.oob_create_alias(F, "OTHER", &version, "hand made");
                }
            }
            Step::ForeignMapping => {
                if world.fake.alias(F, "OTHER").is_some() {
                    let _ = world.fake.oob_create_mapping(&CreateMapping {
                        function_arn: world.fake.alias_arn(F, "OTHER"),
                        event_source_arn: FOREIGN_QUEUE.into(),
                        batch_size: Some(3),
                        enabled: true,
                        starting_position: None,
                    });
                }
            }
        }
    }
    world
}

/// Everything the set does not own, which must never change.
fn foreign(world: &World, spec: &LambdaAliasSetSpec) -> String {
    let mut ours: Vec<String> = spec.aliases.clone();
    ours.extend(spec.stages.iter().map(|s| s.alias.clone()));
    let mut out = Vec::new();
    for (qualifier, statements) in world.fake.policies(F) {
        for st in statements.iter().filter(|s| !s.sid.starts_with("las-")) {
            out.push(format!("statement {qualifier} {st:?}"));
        }
    }
    for alias in world.fake.aliases(F) {
        let marked = Marker::parse(&alias.description).is_some_and(|m| m.is_owned_by(OWNER));
        if !ours.contains(&alias.name) && !marked {
            out.push(format!(
                "alias {} {} {} {:?}",
                alias.name, alias.function_version, alias.description, alias.routing
            ));
        }
    }
    for m in world.fake.mappings() {
        if !ours.iter().any(|a| m.function_arn == world.fake.alias_arn(F, a)) {
            out.push(format!("mapping {} {} {:?}", m.function_arn, m.event_source_arn, m.batch_size));
        }
    }
    out.sort();
    out.join("\n")
}

/// The observable end state, without ids that differ between runs by construction.
fn end_state(world: &World) -> String {
    let mut out = Vec::new();
    for v in world.fake.versions(F) {
        out.push(format!("version {} {}", v.version, v.code_sha256));
    }
    for a in world.fake.aliases(F) {
        out.push(format!("alias {} -> {} [{}] {:?}", a.name, a.function_version, a.description, a.routing));
    }
    for (q, mut statements) in world.fake.policies(F) {
        statements.sort();
        out.push(format!("policy {q} {statements:?}"));
    }
    let mut mappings: Vec<String> = world
        .fake
        .mappings()
        .iter()
        .map(|m| {
            format!("mapping {} {} {:?} {}", m.function_arn, m.event_source_arn, m.batch_size, m.enabled)
        })
        .collect();
    mappings.sort();
    out.extend(mappings);
    out.join("\n")
}

fn swaps(done: &[Done]) -> usize {
    done.iter().filter(|d| d.action.is_swap()).count()
}

/// Runs passes one at a time so each executed action can be judged against the roles the
/// plan saw; returns every executed action.
fn checked_converge(rt: &tokio::runtime::Runtime, world: &World, spec: &LambdaAliasSetSpec) -> Vec<Done> {
    let mut all = Vec::new();
    for _ in 0..12 {
        let pass = rt
            .block_on(engine::reconcile_once(&world.fake, OWNER, spec, None, world.now))
            .unwrap_or_else(|e| panic!("reconcile failed: {e}"));
        let live = pass.plan.report.live.as_ref().map(|l| l.alias.clone());
        let draining =
            pass.plan.report.drain_until.and(pass.plan.report.candidate.as_ref().map(|c| c.alias.clone()));
        for d in &pass.done {
            match &d.action {
                Action::UpdateAlias { alias, change, .. } if Some(alias) == draining.as_ref() => {
                    panic!("the draining alias {alias} was re-pointed ({change:?}) before drainUntil");
                }
                Action::UpdateAlias { alias, change, version, .. } if Some(alias) == live.as_ref() => {
                    assert!(
                        matches!(change, AliasChange::Hotfix | AliasChange::Drift | AliasChange::Adopt),
                        "the live alias {alias} was moved by {change:?}"
                    );
                    if *change == AliasChange::Hotfix {
                        assert!(spec.live.is_some(), "a hotfix without spec.live");
                    }
                    if *change == AliasChange::Adopt {
                        let before = pass.snapshot.alias(alias).map(|a| a.function_version.clone());
                        assert_eq!(before, version.resolve(None), "adoption re-pointed the live alias");
                    }
                }
                Action::DeleteAlias { alias } => {
                    assert!(!spec.aliases.contains(alias), "deleted a rotating alias {alias}");
                }
                _ => {}
            }
        }
        let empty = pass.plan.actions.is_empty();
        all.extend(pass.done);
        if empty {
            return all;
        }
    }
    panic!("did not converge in 12 passes");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_spec_on_any_state_converges_safely(
        first in spec_choice(),
        rest in proptest::collection::vec(step(), 0..7),
        last in spec_choice(),
        wait in prop_oneof![Just(0i64), Just(150i64)],
        certify_first in proptest::bool::weighted(0.4),
    ) {
        let rt = runtime();
        // Every history starts from a set that bootstrapped in Development.
        let bootstrap = SpecChoice { phase: 0, live: 0, cert_hash: None, ..first };
        let mut history: Vec<Step> = std::iter::once(Step::Apply(bootstrap)).chain(rest).collect();
        if certify_first {
            // Often the round before: the same set submitted for certification.
            history.push(Step::Apply(SpecChoice { phase: 1, live: 0, cert_hash: None, ..last.clone() }));
        }
        let spec = build_spec(&last);
        let mut world = replay(&rt, &history);
        world.now += wait;
        let foreign_before = foreign(&world, &spec);

        let done = checked_converge(&rt, &world, &spec);
        // A second plan from a fresh observation is empty.
        let (_, again) = rt.block_on(engine::plan_only(&world.fake, OWNER, &spec, None, world.now)).expect("observe");
        prop_assert!(again.actions.is_empty(), "second plan: {:?}", again.actions);
        prop_assert_eq!(foreign(&world, &spec), foreign_before, "foreign things changed");
        prop_assert!(swaps(&done) <= 1, "more than one swap");
        // A swap takes effect: the promoted alias is live on the frozen version, and stays so.
        for d in done.iter().filter(|d| d.action.is_swap()) {
            if let Action::UpdateAlias { alias, version, .. } = &d.action {
                let live = again.report.live.as_ref().map(|l| (l.alias.clone(), l.version.clone()));
                prop_assert_eq!(live, Some((alias.clone(), version.to_string())), "the swap did not make {} live", alias);
            }
        }

        let clean_end = end_state(&world);
        let clean_swaps = swaps(&done);
        // Stop after every prefix of the writes, then reconcile again from what is true.
        for k in 0..done.len() {
            let mut crashed = replay(&rt, &history);
            crashed.now += wait;
            crashed.fake.crash_after_writes(k);
            let first = rt.block_on(engine::converge(&crashed.fake, OWNER, &spec, None, || crashed.now, 12));
            let mut executed = match first {
                Ok(c) => c.done,
                Err(engine::EngineError::Execute(e)) => e.done.clone(),
                Err(e) => panic!("unexpected failure after {k} writes: {e}"),
            };
            crashed.fake.recover();
            let second = converge(&rt, &crashed, &spec).unwrap_or_else(|e| panic!("after a crash at {k}: {e}"));
            executed.extend(second.done);
            prop_assert_eq!(end_state(&crashed), clean_end.clone(), "crash after {} writes", k);
            prop_assert!(swaps(&executed) <= clean_swaps, "a second swap after a crash at {}", k);
        }
    }
}

#[test]
fn steady_state_reads_are_bounded_and_write_nothing() {
    let rt = runtime();
    let choice = SpecChoice {
        phase: 0,
        live: 0,
        live_hash: 0,
        live_version: 0,
        cert_hash: None,
        drain: 0,
        triggers: 1 | 4,
        stages: 0,
        retain: Some(2),
    };
    let world = replay(&rt, &[Step::Apply(choice.clone())]);
    world.fake.clear_calls();
    let writes_before = world.fake.writes();
    let converged = converge(&rt, &world, &build_spec(&choice)).expect("converges");
    assert!(converged.done.is_empty());
    let calls = world.fake.calls();
    // GetFunction, ListVersionsByFunction, ListAliases, and per alias GetPolicy + ListEventSourceMappings.
    assert_eq!(calls.len(), 7, "{calls:?}");
    assert_eq!(world.fake.writes(), writes_before);
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for c in calls {
        *by_op.entry(c.name().to_string()).or_default() += 1;
    }
    assert_eq!(by_op.get("GetPolicy"), Some(&2));
}

/// Out-of-band changes a drift pass must notice when the planner would act on them.
#[derive(Clone, Debug)]
enum Drift {
    Step(Step),
    /// Our mapping's batch size changed, or the mapping disabled or deleted.
    OurMappingBatch(u32),
    OurMappingDisabled,
    OurMappingDeleted,
    /// A second mapping of the declared queue on the other alias of the pair.
    DuplicateMapping(u8),
    /// An alias's marker edited, or its routing set, by hand.
    Description(u8),
    Routing(u8),
    /// A version published by hand after a deploy.
    DeployAndPublish(u8),
}

fn drift() -> impl Strategy<Value = Drift> {
    prop_oneof![
        2 => (0u8..4).prop_map(|h| Drift::Step(Step::Deploy(h))),
        2 => (0u8..2, 0u8..5).prop_map(|(a, v)| Drift::Step(Step::MoveAlias(a, v))),
        1 => (0u8..2).prop_map(|a| Drift::Step(Step::ForeignStatement(a))),
        2 => (0u8..2).prop_map(|a| Drift::Step(Step::RemoveOurStatement(a))),
        1 => (0u8..4).prop_map(|v| Drift::Step(Step::ForeignAlias(v))),
        1 => Just(Drift::Step(Step::ForeignMapping)),
        1 => (1u32..20).prop_map(Drift::OurMappingBatch),
        1 => Just(Drift::OurMappingDisabled),
        1 => Just(Drift::OurMappingDeleted),
        1 => (0u8..2).prop_map(Drift::DuplicateMapping),
        1 => (0u8..2).prop_map(Drift::Description),
        1 => (0u8..2).prop_map(Drift::Routing),
        1 => (0u8..4).prop_map(Drift::DeployAndPublish),
    ]
}

fn apply_drift(rt: &tokio::runtime::Runtime, world: World, drift: &Drift) -> World {
    let ours = || world.fake.mappings().into_iter().find(|m| m.event_source_arn == QUEUE);
    match drift {
        Drift::Step(step) => return replay_steps(rt, world, std::slice::from_ref(step)),
        Drift::OurMappingBatch(n) => {
            if let Some(m) = ours() {
                let _ = world.fake.oob_update_mapping(&UpdateMapping {
                    uuid: m.uuid,
                    function_arn: None,
                    batch_size: Some(*n),
                    enabled: None,
                });
            }
        }
        Drift::OurMappingDisabled => {
            if let Some(m) = ours() {
                let _ = world.fake.oob_update_mapping(&UpdateMapping {
                    uuid: m.uuid,
                    function_arn: None,
                    batch_size: None,
                    enabled: Some(false),
                });
            }
        }
        Drift::OurMappingDeleted => {
            if let Some(m) = ours() {
                let _ = world.fake.oob_delete_mapping(&m.uuid);
            }
        }
        Drift::DuplicateMapping(a) => {
            let _ = world.fake.oob_create_mapping(&CreateMapping {
                function_arn: world.fake.alias_arn(F, pair(*a)),
                event_source_arn: QUEUE.into(),
                batch_size: Some(10),
                enabled: true,
                starting_position: None,
            });
        }
        Drift::Description(a) => {
            let _ = world.fake.oob_set_alias_description(F, pair(*a), "edited by hand");
        }
        Drift::Routing(a) => {
            if let Some(v) = world.fake.versions(F).first() {
                let _ = world.fake.set_alias_routing(F, pair(*a), &v.version.to_string(), 0.1);
            }
        }
        Drift::DeployAndPublish(h) => {
            let _ = world.fake.deploy(F, &sha(*h));
            let _ = world.fake.oob_publish(F, "by hand");
        }
    }
    world
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The drift pass's cheap reads are a cheaper way to detect drift, not less detection:
    /// right after converging they match (prediction included), and after any out-of-band
    /// change that the planner would act on, or that changes the status, they do not.
    #[test]
    fn the_cheap_drift_check_sees_every_drift_the_planner_acts_on(
        first in spec_choice(),
        rest in proptest::collection::vec(step(), 0..5),
        last in spec_choice(),
        drifts in proptest::collection::vec(drift(), 1..4),
    ) {
        let rt = runtime();
        let bootstrap = SpecChoice { phase: 0, live: 0, cert_hash: None, ..first };
        let history: Vec<Step> = std::iter::once(Step::Apply(bootstrap)).chain(rest).collect();
        let spec = build_spec(&last);
        let world = replay(&rt, &history);
        let converged = converge(&rt, &world, &spec).expect("converges");
        prop_assume!(is_steady(&converged.last.plan.outcome));
        let baseline = Baseline::of(&spec, OWNER, &converged.last.snapshot);
        let before = world.fake.calls().len();
        let same = rt.block_on(drift::unchanged(&world.fake, &spec, OWNER, &baseline)).expect("check");
        prop_assert!(same, "the cheap reads differ from the baseline right after converging");
        // Cheap: one shared-pool call, one more per declared source.
        let check: Vec<_> = world.fake.calls()[before..].to_vec();
        let shared = check.iter().filter(|op| pool_of(**op) == POOL_SHARED).count();
        prop_assert_eq!(shared, 1 + usize::from(last.triggers & 4 != 0), "{:?}", check);

        let mut world = world;
        for d in &drifts {
            world = apply_drift(&rt, world, d);
        }
        let (_, plan) = rt.block_on(engine::plan_only(&world.fake, OWNER, &spec, None, world.now)).expect("observe");
        let acts = !plan.actions.is_empty() || plan.report != converged.last.plan.report || plan.outcome != converged.last.plan.outcome;
        let same = rt.block_on(drift::unchanged(&world.fake, &spec, OWNER, &baseline)).expect("check");
        // The one documented gap (README "Drift detection"): mappings are listed by declared
        // source, so a mapping of an undeclared source attached by hand to one of the set's
        // aliases waits for the next full observe.
        let declared = last.triggers & 4 != 0;
        // The other documented gap: a version published by hand without touching `$LATEST` or
        // any alias (a deploy of the code already there, then a publish) is not in the cheap
        // reads; retention deletes it at the next full observe.
        let retention_only = plan.actions.iter().all(|a| matches!(a, Action::DeleteVersion { .. }))
            && plan.report == converged.last.plan.report;
        let gap = drifts.iter().any(|d| matches!(d, Drift::DuplicateMapping(_)) && !declared)
            || (retention_only && drifts.iter().any(|d| matches!(d, Drift::DeployAndPublish(_))));
        if acts && !gap {
            prop_assert!(!same, "missed: {:?} -> plan {:?}", drifts, plan.actions);
        }
    }
}

//! Properties of `spec.rollout` (README "Progressive rollouts") over generated histories, run on
//! the faithful fake: the spec re-pins the live alias and a stage alias, time passes, an alarm
//! flips, the new version's error rate is good or bad, reconciles crash after any number of
//! writes and are retried at the same instant, and someone re-points an alias by hand. Every
//! write the engine executes is checked against a model of the rollout:
//!
//! - an alias serves at most two versions, and never weights `$LATEST` (nor routes from it);
//! - within a rollout the weight only increases, one step of `steps` at a time, from the first;
//! - every step is held `intervalSeconds` before the next step or the completion, so a crash
//!   and a retry at the same instant never shift twice;
//! - the primary version changes only by completing the last step, by a rollback's one write
//!   back to a version served before while an alarm fires, or by putting back a hand-made move;
//! - a version rolled back is not tried again while the spec still asks for it;
//! - once the alarms are OK and time passes, the alias ends on what the spec asks for (or, if
//!   that version was rolled back, on the version it was rolled back to);
//! - a look at a held step with the cheap reads (`engine::hold`, as the controller looks) that
//!   decides to keep holding decides what a full observe at the same instant decides.

use lambda_alias_controller::api::{LambdaAliasSetSpec, LiveOverride, Rollout, Stage};
use lambda_alias_controller::aws::fake::FakeLambda;
use lambda_alias_controller::engine::{self, Done};
use lambda_alias_controller::plan::{Action, AlarmState, AliasChange};
use proptest::prelude::*;

const F: &str = "f";
const OWNER: &str = "ns/set";
const START: i64 = 1_800_000_000;
const ALARM: &str = "f-errors";
const LIVE: &str = "PROD1";
const STAGE: &str = "STG";
/// Versions 1..=VERSIONS are published before the history starts.
const VERSIONS: u8 = 3;

fn sha(i: u8) -> String {
    format!("{}{}=", (b'A' + i) as char, "x".repeat(42))
}

#[derive(Clone, Debug)]
struct Shape {
    steps: Vec<i32>,
    interval: i64,
    alarm: bool,
    max_error_rate: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    let steps = prop_oneof![Just(vec![10]), Just(vec![10, 50]), Just(vec![25, 50, 75]), Just(vec![1, 2, 99])];
    (steps, prop_oneof![Just(60i64), Just(300i64)], proptest::bool::weighted(0.8), proptest::bool::ANY)
        .prop_map(|(steps, interval, alarm, max_error_rate)| Shape { steps, interval, alarm, max_error_rate })
}

#[derive(Clone, Debug)]
enum Event {
    /// `spec.live.version` (1..=VERSIONS).
    Live(u8),
    /// `spec.stages[STG].version`.
    Stage(u8),
    /// Time passes: a fraction of the interval (0: none, 1: half, 2: one, 3: three).
    Wait(u8),
    Alarm(AlarmState),
    /// A minute of invocations of the weighted version: 40, with 0 or 30 errors.
    Traffic {
        bad: bool,
    },
    /// A reconcile that stops after this many writes, then one at the same instant.
    Crash(usize),
    /// Someone re-points an alias by hand (the routing stays, if it is valid there).
    ByHand {
        live: bool,
        version: u8,
    },
}

fn event() -> impl Strategy<Value = Event> {
    let state = prop_oneof![
        3 => Just(AlarmState::Ok),
        2 => Just(AlarmState::Alarm),
        1 => Just(AlarmState::InsufficientData)
    ];
    prop_oneof![
        3 => (1..=VERSIONS).prop_map(Event::Live),
        1 => (1..=VERSIONS).prop_map(Event::Stage),
        4 => (0u8..4).prop_map(Event::Wait),
        2 => state.prop_map(Event::Alarm),
        1 => proptest::bool::ANY.prop_map(|bad| Event::Traffic { bad }),
        2 => (0usize..3).prop_map(Event::Crash),
        1 => (proptest::bool::ANY, 1..=VERSIONS).prop_map(|(live, version)| Event::ByHand { live, version }),
    ]
}

fn build_spec(shape: &Shape, live: u8, stage: u8) -> LambdaAliasSetSpec {
    LambdaAliasSetSpec {
        live: Some(LiveOverride { code_sha256: None, version: Some(live.to_string()) }),
        stages: vec![Stage {
            alias: STAGE.into(),
            code_sha256: None,
            version: Some(stage.to_string()),
            track: None,
        }],
        rollout: Some(Rollout {
            steps: shape.steps.clone(),
            interval_seconds: shape.interval as u32,
            alarms: if shape.alarm { vec![ALARM.into()] } else { vec![] },
            max_error_rate: shape.max_error_rate.then_some(0.2),
        }),
        ..LambdaAliasSetSpec::for_function(F)
    }
}

/// What an alias serves: its primary version and its one weighted version, if any.
#[derive(Clone, Debug, PartialEq)]
struct Serving {
    primary: String,
    weighted: Option<(String, u8)>,
}

/// The model one alias is checked against.
#[derive(Clone, Debug)]
struct Model {
    name: &'static str,
    serving: Option<Serving>,
    /// When the weight being held was written.
    step_began: i64,
    /// Every version this alias has served alone.
    served: Vec<String>,
    /// A version rolled back, until a write made while the spec asks for another.
    rejected: Option<String>,
    /// What the spec asks for.
    wanted: String,
    /// What our last write left (a hand-made move changes `serving`, not this).
    ours: Option<Serving>,
}

impl Model {
    fn new(name: &'static str, wanted: u8) -> Self {
        Model {
            name,
            serving: None,
            step_began: 0,
            served: Vec::new(),
            rejected: None,
            wanted: wanted.to_string(),
            ours: None,
        }
    }

    fn ask(&mut self, version: u8) {
        self.wanted = version.to_string();
    }

    /// Checks one executed UpdateAlias of this alias at `now` and advances the model.
    fn write(
        &mut self,
        shape: &Shape,
        now: i64,
        firing: bool,
        change: AliasChange,
        next: Serving,
    ) -> Result<(), String> {
        let steps: Vec<u8> = shape.steps.iter().map(|s| *s as u8).collect();
        let name = self.name;
        let held = now - self.step_began >= shape.interval;
        if next.primary == "$LATEST" && next.weighted.is_some() {
            return Err(format!("{name}: weights on an alias serving $LATEST: {next:?}"));
        }
        if let Some((w, percent)) = &next.weighted {
            if w == "$LATEST" || *w == next.primary {
                return Err(format!("{name}: weighted {w} over primary {}", next.primary));
            }
            if !steps.contains(percent) {
                return Err(format!("{name}: weight {percent}% is not a step of {steps:?}"));
            }
        }
        // Tried again: weighted, or moved to (a stage re-pointed to it by hand and kept there by
        // a write is the person's choice, not a retry).
        if let Some(rejected) = &self.rejected {
            let on = self.serving.as_ref().is_some_and(|s| s.primary == *rejected);
            let weighted = next.weighted.as_ref().is_some_and(|(w, _)| w == rejected);
            if weighted || (next.primary == *rejected && !on) {
                return Err(format!(
                    "{name}: version {rejected} was rolled back and is tried again ({change:?})"
                ));
            }
        }
        // The record forgets a rejection with the first write made while the spec asks for
        // something else, or that keeps a stage put on it by hand (a hand-made move put back
        // keeps the record as it was).
        if change != AliasChange::Drift
            && self.rejected.as_ref().is_some_and(|r| *r != self.wanted || *r == next.primary)
        {
            self.rejected = None;
        }
        let Some(before) = self.serving.clone() else {
            // Bootstrap: the alias is created on one version.
            if next.weighted.is_some() {
                return Err(format!("{name}: created with weights"));
            }
            self.served.push(next.primary.clone());
            self.ours = Some(next.clone());
            self.serving = Some(next);
            self.step_began = now;
            return Ok(());
        };
        let put_back = change == AliasChange::Drift
            && next.weighted.is_none()
            && self.ours.as_ref().is_some_and(|o| o.primary == next.primary);
        match (&before.weighted, &next.weighted) {
            (_, _) if before == next => {}
            // A hand-made move put back: on the version our last write left, alone.
            (_, None) if put_back => {}
            (None, Some((_, percent))) => {
                if next.primary != before.primary {
                    return Err(format!("{name}: a rollout started from {} over {before:?}", next.primary));
                }
                if *percent != steps[0] {
                    return Err(format!(
                        "{name}: a rollout started at {percent}%, not at the first step {}",
                        steps[0]
                    ));
                }
                self.step_began = now;
            }
            (Some((w0, p0)), Some((w1, p1))) => {
                if next.primary != before.primary || w0 != w1 {
                    return Err(format!(
                        "{name}: one rollout became another in one write: {before:?} -> {next:?}"
                    ));
                }
                if p1 <= p0 {
                    return Err(format!("{name}: the weight went down within a rollout: {p0}% -> {p1}%"));
                }
                let expected = steps.iter().find(|s| **s > *p0);
                if expected != Some(p1) {
                    return Err(format!("{name}: {p0}% -> {p1}% skipped a step of {steps:?}"));
                }
                if !held {
                    return Err(format!(
                        "{name}: {p0}% held {}s of {}s before {p1}% (shifted twice?)",
                        now - self.step_began,
                        shape.interval
                    ));
                }
                self.step_began = now;
            }
            (Some((w0, p0)), None) => {
                if next.primary == *w0 {
                    // Completion: only from the last step, held its interval.
                    if Some(p0) != steps.last() || !held {
                        return Err(format!(
                            "{name}: completed from {p0}% after {}s (steps {steps:?}, interval {}s)",
                            now - self.step_began,
                            shape.interval
                        ));
                    }
                    self.served.push(next.primary.clone());
                } else if next.primary == before.primary {
                    if change == AliasChange::RollBack {
                        self.rejected = Some(w0.clone());
                    }
                } else {
                    return Err(format!("{name}: from {before:?} straight to {next:?}"));
                }
            }
            (None, None) => {
                // One write to another version alone: a rollback while an alarm fires, or a
                // hand-made move put back.
                let back = firing && self.served.contains(&next.primary);
                if !back {
                    return Err(format!(
                        "{name}: {} -> {} in one write by {change:?} (firing: {firing}, served: {:?})",
                        before.primary, next.primary, self.served
                    ));
                }
                self.served.push(next.primary.clone());
            }
        }
        self.ours = Some(next.clone());
        self.serving = Some(next);
        Ok(())
    }

    /// A hand-made move: the model follows AWS without judging it. (A stage records no version,
    /// so a stage put by hand on what its entry asks is kept there: the person chose it.)
    fn by_hand(&mut self, aws: Serving) {
        // It served that version, even if only by hand: a move back to it is a rollback.
        self.served.push(aws.primary.clone());
        self.serving = Some(aws);
    }
}

struct World {
    rt: tokio::runtime::Runtime,
    fake: FakeLambda,
    now: i64,
    shape: Shape,
    live: Model,
    stage: Model,
    alarm: AlarmState,
    counts: Counts,
    /// The step the last reconcile ended holding, for the spec it was held for.
    hold: Option<(LambdaAliasSetSpec, engine::hold::Hold)>,
}

fn serving(fake: &FakeLambda, alias: &str) -> Option<Serving> {
    let a = fake.alias(F, alias)?;
    let mut weights = a.routing.iter();
    let weighted = weights.next().map(|(v, w)| (v.clone(), (w * 100.0).round() as u8));
    assert!(weights.next().is_none(), "{alias} serves more than two versions: {:?}", a.routing);
    Some(Serving { primary: a.function_version, weighted })
}

impl World {
    fn new(shape: Shape) -> Self {
        let fake = FakeLambda::new("123456789012", "us-east-1");
        fake.add_function(F, &sha(0));
        for i in 1..=VERSIONS {
            fake.deploy(F, &sha(i)).expect("deploy");
            fake.oob_publish(F, "").expect("publish");
        }
        fake.set_alarm(ALARM, AlarmState::Ok);
        World {
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"),
            fake,
            now: START,
            shape,
            live: Model::new(LIVE, 1),
            stage: Model::new(STAGE, 1),
            alarm: AlarmState::Ok,
            counts: Counts::default(),
            hold: None,
        }
    }

    fn spec(&self) -> LambdaAliasSetSpec {
        let version = |m: &Model| m.wanted.parse().expect("a number");
        build_spec(&self.shape, version(&self.live), version(&self.stage))
    }

    fn check(&mut self, done: &[Done]) -> Result<(), String> {
        let firing = self.shape.alarm && self.alarm == AlarmState::Alarm;
        for d in done {
            let (alias, version, routing, change) = match &d.action {
                Action::UpdateAlias { alias, version, routing, change, .. } => {
                    (alias, version, *routing, change)
                }
                Action::CreateAlias { alias, version, change, .. } => (alias, version, None, change),
                _ => continue,
            };
            let model = match alias.as_str() {
                LIVE => &mut self.live,
                STAGE => &mut self.stage,
                _ => continue,
            };
            let next = Serving {
                primary: version.resolve(None).ok_or("an unresolved version")?,
                weighted: routing.map(|w| (w.version.resolve(None).unwrap_or_default(), w.percent)),
            };
            self.counts.writes += 1;
            match (change, routing.is_some()) {
                (AliasChange::RollBack, _) => self.counts.rollbacks += 1,
                (AliasChange::Step, true) if model.serving.as_ref().is_some_and(|s| s.weighted.is_none()) => {
                    self.counts.starts += 1
                }
                (AliasChange::Step, true) => self.counts.steps += 1,
                (_, false)
                    if model
                        .serving
                        .as_ref()
                        .and_then(|s| s.weighted.as_ref())
                        .is_some_and(|(w, _)| *w == next.primary) =>
                {
                    self.counts.completions += 1
                }
                _ => {}
            }
            model.write(&self.shape, self.now, firing, *change, next)?;
        }
        for model in [&self.live, &self.stage] {
            let aws = serving(&self.fake, model.name);
            if aws != model.serving {
                return Err(format!("{}: AWS has {aws:?}, the writes say {:?}", model.name, model.serving));
            }
        }
        Ok(())
    }

    fn reconcile(&mut self, crash: Option<usize>) -> Result<(), String> {
        let spec = self.spec();
        let now = self.now;
        if crash.is_none() && self.look_at_hold(&spec)? {
            return Ok(());
        }
        if let Some(k) = crash {
            self.fake.crash_after_writes(k);
        }
        let result = self.rt.block_on(engine::converge(&self.fake, OWNER, &spec, None, || now, 12));
        self.hold = result
            .as_ref()
            .ok()
            .and_then(|c| engine::hold::Hold::of(&spec, OWNER, c))
            .map(|h| (spec.clone(), h));
        let done = match result {
            Ok(c) => c.done,
            Err(engine::EngineError::Execute(e)) if crash.is_some() => e.done.clone(),
            Err(e) => return Err(format!("reconcile failed: {e}")),
        };
        self.fake.recover();
        self.check(&done)?;
        if crash.is_some() {
            // Retried at the same instant: must not shift a second time.
            return self.reconcile(None);
        }
        Ok(())
    }

    /// The controller's look at a held step: true when it decided to keep holding, which a full
    /// observe at the same instant must confirm (nothing to do, the same reason).
    fn look_at_hold(&mut self, spec: &LambdaAliasSetSpec) -> Result<bool, String> {
        let Some((held, hold)) = self.hold.as_ref().filter(|(held, _)| held == spec) else {
            return Ok(false);
        };
        let looked = self.rt.block_on(engine::hold::look(&self.fake, OWNER, held, None, self.now, hold));
        let Some(converged) = looked.map_err(|e| format!("look failed: {e}"))? else { return Ok(false) };
        let (_, full) = self
            .rt
            .block_on(engine::plan_only(&self.fake, OWNER, spec, None, self.now))
            .map_err(|e| format!("observe failed: {e}"))?;
        let held = &converged.last.plan.outcome;
        if !full.actions.is_empty() || full.outcome.reason() != held.reason() {
            return Err(format!(
                "the look held ({held:?}), a full observe plans {:?} ({:?})",
                full.actions, full.outcome
            ));
        }
        self.counts.held += 1;
        self.hold = engine::hold::Hold::of(spec, OWNER, &converged).map(|h| (spec.clone(), h));
        Ok(true)
    }

    fn event(&mut self, event: &Event) -> Result<(), String> {
        match event {
            Event::Live(v) => self.live.ask(*v),
            Event::Stage(v) => self.stage.ask(*v),
            Event::Wait(n) => {
                self.now +=
                    [0, self.shape.interval / 2, self.shape.interval, 3 * self.shape.interval][*n as usize]
            }
            Event::Alarm(state) => {
                self.alarm = *state;
                self.fake.set_alarm(ALARM, *state);
            }
            Event::Traffic { bad } => {
                for model in [&self.live, &self.stage] {
                    if let Some(Serving { weighted: Some((w, _)), .. }) = &model.serving {
                        let errors = if *bad { 30.0 } else { 0.0 };
                        self.fake.put_invocations(
                            F,
                            model.name,
                            w.parse().expect("number"),
                            self.now,
                            40.0,
                            errors,
                        );
                    }
                }
                return Ok(());
            }
            Event::Crash(k) => {
                self.counts.crashes += 1;
                return self.reconcile(Some(*k));
            }
            Event::ByHand { live, version } => {
                let name = if *live { LIVE } else { STAGE };
                if self.fake.oob_update_alias(F, name, &version.to_string()).is_ok() {
                    let aws = serving(&self.fake, name).expect("the alias exists");
                    if *live { self.live.by_hand(aws) } else { self.stage.by_hand(aws) }
                }
                return Ok(());
            }
        }
        self.reconcile(None)
    }
}

/// What the generated histories exercised, summed over every case (printed at the end).
#[derive(Default, Debug)]
struct Counts {
    writes: usize,
    starts: usize,
    steps: usize,
    completions: usize,
    rollbacks: usize,
    crashes: usize,
    /// Looks at a held step the cheap reads decided (each confirmed by a full observe).
    held: usize,
}

fn one_history(shape: Shape, events: Vec<Event>) -> Result<Counts, TestCaseError> {
    let mut world = World::new(shape.clone());
    world.reconcile(None).map_err(|e| TestCaseError::fail(format!("bootstrap: {e}")))?;
    for (i, e) in events.iter().enumerate() {
        world.event(e).map_err(|err| TestCaseError::fail(format!("event {i} {e:?}: {err}")))?;
    }
    // Quiet alarms and good traffic from here: every alias reaches what the spec asks for.
    world.event(&Event::Alarm(AlarmState::Ok)).map_err(TestCaseError::fail)?;
    for _ in 0..=shape.steps.len() + 1 {
        world.event(&Event::Wait(2)).map_err(TestCaseError::fail)?;
    }
    // A version rolled back is still not served (the writes were checked on the way); then
    // the person accepts each rollback by asking for the version served, as the README says.
    for model in [&world.live, &world.stage] {
        // (A stalled set writes nothing but rollbacks, so a hand-made move is put back only
        // once the person has answered.)
        if model.rejected.as_ref() == Some(&model.wanted) && model.serving == model.ours {
            let end = model.serving.clone().expect("the alias exists");
            prop_assert!(end.weighted.is_none(), "{} weighted after its rollback: {:?}", model.name, end);
            prop_assert_ne!(&end.primary, &model.wanted, "{} serves a rolled-back version", model.name);
        }
    }
    for live in [true, false] {
        let model = if live { &world.live } else { &world.stage };
        if model.rejected.as_ref() == Some(&model.wanted) {
            let served: u8 = model.ours.as_ref().expect("exists").primary.parse().expect("a number");
            let accept = if live { Event::Live(served) } else { Event::Stage(served) };
            world.event(&accept).map_err(TestCaseError::fail)?;
        }
    }
    for _ in 0..=shape.steps.len() + 1 {
        world.event(&Event::Wait(2)).map_err(TestCaseError::fail)?;
    }
    for model in [&world.live, &world.stage] {
        let end = model.serving.clone().expect("the alias exists");
        prop_assert_eq!(
            end,
            Serving { primary: model.wanted.clone(), weighted: None },
            "{} does not serve what the spec asks",
            model.name
        );
    }
    Ok(world.counts)
}

#[test]
fn rollouts_step_hold_roll_back_and_survive_crashes() {
    // 512 cases unless PROPTEST_CASES says otherwise; failures are kept next to this file.
    let config = ProptestConfig { source_file: Some(file!()), ..ProptestConfig::with_cases(512) };
    let config = match std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()) {
        Some(cases) => ProptestConfig { cases, ..config },
        None => config,
    };
    let cases = config.cases;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let counts = std::cell::RefCell::new(Counts::default());
    let result = runner.run(&(shape(), proptest::collection::vec(event(), 1..24)), |(shape, events)| {
        let mine = one_history(shape, events)?;
        let mut all = counts.borrow_mut();
        all.writes += mine.writes;
        all.starts += mine.starts;
        all.steps += mine.steps;
        all.completions += mine.completions;
        all.rollbacks += mine.rollbacks;
        all.crashes += mine.crashes;
        all.held += mine.held;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let c = counts.into_inner();
    eprintln!(
        "{cases} histories, 0 violations: {} alias writes checked ({} rollouts started, {} steps, {} completed, \
         {} rolled back), {} crashed reconciles retried at the same instant, {} looks at a held step \
         decided by the cheap reads as a full observe decides",
        c.writes, c.starts, c.steps, c.completions, c.rollbacks, c.crashes, c.held
    );
    assert!(
        c.steps > 0 && c.completions > 0 && c.rollbacks > 0 && c.crashes > 0 && c.held > 0,
        "the histories exercise it all: {c:?}"
    );
}

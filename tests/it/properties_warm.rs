//! Properties of `spec.provisionedConcurrency` (README "Provisioned concurrency") over generated
//! histories on the faithful fake (which refuses a config on `$LATEST`, a second config for one
//! version and one on a weighted alias, and keeps each IN_PROGRESS for a delay): the phase
//! changes, code is deployed, the live alias is pinned to a version or let go, time passes,
//! versions fail to initialise, `retainVersions: 0` deletes what nothing references, and reconciles crash after any number of writes and are retried
//! at the same instant. After every reconcile:
//!
//! - once the live alias was first warm, every version it serves holds a READY config at the live
//!   count: no swap, hotfix or crash ever puts it on a cold (or FAILED) version;
//! - the engine never fails for an AWS rule (a config on `$LATEST` or on an alias would);
//! - `retainVersions` never deletes the version the spec pins (a hotfix target being warmed);
//!
//! and at the end, with the failures healed and the pin let go, the set's configs are exactly
//! the live version's: nothing left behind.

use lambda_alias_controller::api::{LambdaAliasSetSpec, LiveOverride, Phase, ProvisionedConcurrency};
use lambda_alias_controller::aws::fake::FakeLambda;
use lambda_alias_controller::engine;
use lambda_alias_controller::plan::{Marker, Role, WarmStatus};
use proptest::prelude::*;

const F: &str = "f";
const OWNER: &str = "ns/set";
const START: i64 = 1_800_000_000;
const DELAY: i64 = 120;
const LIVE: u32 = 4;

#[derive(Clone, Debug)]
enum Event {
    Phase(Phase),
    Deploy,
    /// Pin the live alias to the n-th published version (modulo how many there are), or let go.
    Pin(Option<u8>),
    Wait(u8),
    Crash(usize),
    /// The next version published fails to initialise.
    FailNext,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => prop_oneof![Just(Phase::Development), Just(Phase::Certifying), Just(Phase::Certified)].prop_map(Event::Phase),
        2 => Just(Event::Deploy),
        2 => proptest::option::of(0u8..6).prop_map(Event::Pin),
        4 => (0u8..4).prop_map(Event::Wait),
        2 => (0usize..4).prop_map(Event::Crash),
        1 => Just(Event::FailNext),
    ]
}

struct World {
    rt: tokio::runtime::Runtime,
    fake: FakeLambda,
    now: i64,
    phase: Phase,
    pin: Option<u8>,
    drain: u32,
    candidate: u32,
    /// `retainVersions: 0`: every version nothing references is deleted.
    retain: bool,
    deploys: u8,
    /// The live alias was warm once: from then on it must always be.
    warm_once: bool,
    counts: Counts,
}

#[derive(Default, Debug)]
struct Counts {
    reconciles: usize,
    crashes: usize,
    swaps: usize,
    hotfixes: usize,
    held: usize,
    failed: usize,
}

impl World {
    fn new(drain: u32, candidate: u32, retain: bool) -> World {
        let fake = FakeLambda::new("123456789012", "us-east-1");
        fake.add_function(F, &sha(0));
        fake.set_warm_delay(DELAY);
        fake.set_clock(START);
        World {
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"),
            fake,
            now: START,
            phase: Phase::Development,
            pin: None,
            drain,
            candidate,
            retain,
            deploys: 0,
            warm_once: false,
            counts: Counts::default(),
        }
    }

    fn spec(&self) -> LambdaAliasSetSpec {
        let mut spec = LambdaAliasSetSpec::for_function(F);
        spec.certification.phase = self.phase;
        spec.drain_seconds = self.drain;
        spec.provisioned_concurrency = Some(ProvisionedConcurrency { live: LIVE, candidate: self.candidate });
        spec.retain_versions = self.retain.then_some(0);
        // Phase Certified refuses a live pin (InvalidSpec): the pin applies in the other phases.
        let versions = self.fake.versions(F);
        if self.phase != Phase::Certified
            && let Some(n) = self.pin
            && !versions.is_empty()
        {
            let v = versions[usize::from(n) % versions.len()].version;
            spec.live = Some(LiveOverride { code_sha256: None, version: Some(v.to_string()) });
        }
        spec
    }

    /// The live alias (the highest live epoch) and the versions it serves.
    fn live(&self) -> Option<(String, Vec<String>)> {
        self.fake
            .aliases(F)
            .into_iter()
            .filter_map(|a| {
                Marker::parse(&a.description).filter(|m| m.role == Role::Live).map(|m| (m.epoch, a))
            })
            .max_by_key(|(epoch, _)| *epoch)
            .map(|(_, a)| {
                let versions =
                    std::iter::once(a.function_version.clone()).chain(a.routing.keys().cloned()).collect();
                (a.name, versions)
            })
    }

    fn check(&mut self) -> Result<(), String> {
        let Some((name, versions)) = self.live() else { return Ok(()) };
        let configs = self.fake.warm_configs(F);
        let warm = |v: &String| {
            configs.iter().any(|c| &c.qualifier == v && c.status == WarmStatus::Ready && c.requested >= LIVE)
        };
        if versions.iter().all(warm) {
            self.warm_once = true;
        } else if self.warm_once {
            return Err(format!(
                "the live alias {name} serves {versions:?} without READY capacity: {configs:?}"
            ));
        }
        if configs.iter().any(|c| c.qualifier.parse::<u64>().is_err()) {
            return Err(format!("a config on an alias: {configs:?}"));
        }
        Ok(())
    }

    fn reconcile(&mut self, crash: Option<usize>) -> Result<(), String> {
        let spec = self.spec();
        let now = self.now;
        if let Some(k) = crash {
            self.fake.crash_after_writes(k);
        }
        let result = self.rt.block_on(engine::converge(&self.fake, OWNER, &spec, None, || now, 12));
        self.counts.reconciles += 1;
        // `retainVersions` never deletes the version the spec pins (warming or not).
        if let Some(pinned) = spec.live.as_ref().and_then(|l| l.version.as_deref())
            && !self.fake.versions(F).iter().any(|v| v.version.to_string() == pinned)
        {
            return Err(format!("version {pinned}, which the spec pins, was deleted"));
        }
        let done = match result {
            Ok(c) => {
                match c.last.plan.outcome.reason().as_str() {
                    "Warming" => self.counts.held += 1,
                    "WarmupFailed" => self.counts.failed += 1,
                    _ => {}
                }
                c.done
            }
            Err(engine::EngineError::Execute(e)) if crash.is_some() => e.done.clone(),
            Err(e) => return Err(format!("reconcile failed: {e}")),
        };
        self.fake.recover();
        for d in &done {
            let change = d.action.to_string();
            if change.contains("swap roles") {
                self.counts.swaps += 1;
            } else if change.contains("hotfix live") {
                self.counts.hotfixes += 1;
            }
        }
        self.check()?;
        if crash.is_some() {
            self.counts.crashes += 1;
            return self.reconcile(None);
        }
        Ok(())
    }

    fn event(&mut self, event: &Event) -> Result<(), String> {
        match event {
            Event::Phase(p) => self.phase = *p,
            Event::Deploy => {
                self.deploys += 1;
                self.fake.deploy(F, &sha(self.deploys)).map_err(|e| e.to_string())?;
            }
            Event::Pin(n) => self.pin = *n,
            Event::Wait(n) => {
                self.now += [0, DELAY / 2, DELAY, 3 * DELAY][usize::from(*n)];
                self.fake.set_clock(self.now);
            }
            Event::Crash(k) => return self.reconcile(Some(*k)),
            Event::FailNext => {
                let next = self.fake.high_water_mark(F) + 1;
                self.fake.fail_warm(F, &next.to_string(), Some("FUNCTION_ERROR_INIT_FAILURE"));
            }
        }
        self.reconcile(None)
    }
}

fn sha(i: u8) -> String {
    format!("{}{}=", (b'A' + i % 26) as char, "y".repeat(42))
}

fn one_history(drain: u32, candidate: u32, retain: bool, events: &[Event]) -> Result<Counts, TestCaseError> {
    let mut w = World::new(drain, candidate, retain);
    w.reconcile(None).map_err(|e| TestCaseError::fail(format!("bootstrap: {e}")))?;
    for (i, e) in events.iter().enumerate() {
        w.event(e).map_err(|err| TestCaseError::fail(format!("event {i} {e:?}: {err}")))?;
    }
    // Heal every failure, let the pin go, back to Development, and let time pass.
    for v in 1..=w.fake.high_water_mark(F) + 1 {
        w.fake.fail_warm(F, &v.to_string(), None);
    }
    w.pin = None;
    w.phase = Phase::Development;
    for _ in 0..4 {
        w.event(&Event::Wait(3)).map_err(TestCaseError::fail)?;
    }
    let (_, versions) = w.live().expect("a live alias");
    let mut configs: Vec<(String, u32, WarmStatus)> =
        w.fake.warm_configs(F).into_iter().map(|c| (c.qualifier, c.requested, c.status)).collect();
    configs.sort();
    let mut expected: Vec<(String, u32, WarmStatus)> =
        versions.into_iter().map(|v| (v, LIVE, WarmStatus::Ready)).collect();
    expected.sort();
    prop_assert_eq!(configs, expected, "only the live version keeps a config");
    Ok(w.counts)
}

#[test]
fn provisioned_concurrency_never_leaves_the_live_alias_cold_and_leaves_nothing_behind() {
    // 256 cases unless PROPTEST_CASES says otherwise; failures are kept next to this file.
    let config = ProptestConfig { source_file: Some(file!()), ..ProptestConfig::with_cases(256) };
    let config = match std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()) {
        Some(cases) => ProptestConfig { cases, ..config },
        None => config,
    };
    let cases = config.cases;
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let all = std::cell::RefCell::new(Counts::default());
    let strategy = (
        prop_oneof![Just(0u32), Just(60u32)],
        0u32..3,
        proptest::bool::ANY,
        proptest::collection::vec(event(), 1..30),
    );
    let result = runner.run(&strategy, |(drain, candidate, retain, events)| {
        let c = one_history(drain, candidate, retain, &events)?;
        let mut all = all.borrow_mut();
        all.reconciles += c.reconciles;
        all.crashes += c.crashes;
        all.swaps += c.swaps;
        all.hotfixes += c.hotfixes;
        all.held += c.held;
        all.failed += c.failed;
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let c = all.into_inner();
    eprintln!(
        "{cases} histories, 0 violations: {} reconciles ({} crashed and retried at the same instant), {} swaps and \
         {} hotfixes onto warm versions, {} reconciles held Warming, {} WarmupFailed",
        c.reconciles, c.crashes, c.swaps, c.hotfixes, c.held, c.failed
    );
    assert!(
        c.swaps > 0 && c.hotfixes > 0 && c.held > 0 && c.failed > 0 && c.crashes > 0,
        "the histories exercise it all: {c:?}"
    );
}

//! `make bench`: the controller's own reconcile loop (`run_with`, the code `run` runs) at scale,
//! against a real API server and a simulated AWS, measured against AWS's quota bounds.
//!
//! - The API server is `KUBECONFIG`'s, else one of our own (`../shared/kube/up`, own state).
//! - The controller runs in a child process (this binary again, `LAC_BENCH_ROLE=controller`)
//!   with the simulated AWS in the same process: the faithful fake behind AWS's quotas (above
//!   a pool's rate it throttles, as AWS does) and a latency per request.
//! - Time is compressed by `SCALE`: AWS's quotas, the controller's budget and 1/latency are
//!   multiplied by it and the resync divided by it, so every ratio is kept. Durations are shown
//!   as measured (wall) and times `SCALE` (what they stand for at AWS's real quotas).
//!
//! Phases: (a) bootstrap N sets; (b) one full drift pass; (c) spec changes during the next
//! pass; (g) out-of-band changes during the pass after, each followed by its drift event, and
//! as many left to polling; then memory, CPU, throttles; (h) the controller restarted with the
//! 6-hour resync of drift events, its steady cost; (f) one set's convergence against moto next
//! to a straight-line script. One table on stdout; the same figures as JSON (path printed).

mod child;
mod cluster;
mod events;
mod handle;
mod measure;
mod moto;
mod phases;
mod probe;
mod report;
mod sets;
mod sim;
/// The test harness's moto and cluster helpers (tests/support); the bench uses a handful of them.
#[path = "../../tests/support"]
#[allow(dead_code, reason = "the bench uses a few of the test harness's helpers, not all")]
mod support {
    #[path = "harness.rs"]
    mod harness;
    pub use harness::*;
    pub mod cluster;
}

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lambda_alias_controller::aws::budget::{BudgetLimits, DEFAULT_DRIFT_SHARE};
use serde_json::{Value, json};

use handle::{Controller, measure_alone};
use measure::MemoryTrack;
use phases::Run;
use probe::Scrape;
use report::Report;
use sim::SimStats;

/// The bench's settings, from the environment (`make bench N=... SCALE=...`).
#[derive(Clone, Debug)]
pub struct Knobs {
    pub n: usize,
    pub scale: f64,
    /// AWS's latency per request at real scale; the simulation waits `latency_ms / scale`.
    pub latency_ms: f64,
    pub concurrency: u16,
    pub changes: usize,
    pub drift_budget: f64,
    pub moto_runs: usize,
    /// `EVENTS=1` (the default): the controller reads a drift-events queue (`--drift-events-queue`)
    /// in every phase, and the drift-events phases (g, h) run; `EVENTS=0`: polling only.
    pub events: bool,
    /// `EVENTS_RESYNC` (real seconds, default 21600 = 6 h, the resync `--drift-events-queue`
    /// defaults to): the resync of the restarted controller whose steady cost is measured (h);
    /// 0 skips that phase.
    pub events_resync: f64,
    /// Set for the children.
    pub namespace: String,
    pub port: u16,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| format!("{name}={v:?} is not valid")),
        _ => Ok(default),
    }
}

impl Knobs {
    fn from_env() -> Result<Knobs, String> {
        let knobs = Knobs {
            n: env("N", 10_000)?,
            scale: env("SCALE", 40.0)?,
            latency_ms: env("LATENCY_MS", 30.0)?,
            concurrency: env("CONCURRENCY", 16)?,
            changes: env("CHANGES", 100)?,
            drift_budget: env("DRIFT_BUDGET", DEFAULT_DRIFT_SHARE)?,
            moto_runs: env("MOTO_RUNS", 20)?,
            events: env("EVENTS", 1u8)? != 0,
            events_resync: env("EVENTS_RESYNC", 21_600.0)?,
            namespace: env("LAC_BENCH_NAMESPACE", String::new())?,
            port: env("LAC_BENCH_PORT", 0)?,
        };
        if knobs.n == 0 || knobs.scale.is_nan() || knobs.scale < 1.0 || knobs.concurrency == 0 {
            return Err("N and CONCURRENCY must be positive and SCALE at least 1".to_string());
        }
        if knobs.events_resync.is_nan() || knobs.events_resync < 0.0 {
            return Err("EVENTS_RESYNC must be 0 (skip) or a resync in seconds".to_string());
        }
        Ok(knobs)
    }

    pub fn sim_latency(&self) -> Duration {
        Duration::from_secs_f64(self.latency_ms / 1000.0 / self.scale)
    }

    /// `--resync`'s default (300 s), compressed.
    pub fn resync(&self) -> Duration {
        Duration::from_secs_f64(300.0 / self.scale)
    }

    /// The controller's budget per pool (requests per second, both lanes), scaled.
    /// The Lambda pools' rates (GetFunction, GetPolicy, shared); the bench's sets have no rollout,
    /// so CloudWatch's pools are not part of it.
    fn budget_rates(&self) -> [f64; 3] {
        let pools = BudgetLimits::default().scaled(self.scale).pools();
        [pools[0].1.per_second, pools[1].1.per_second, pools[2].1.per_second]
    }

    fn class_sizes(&self) -> [usize; 2] {
        let with = (0..self.n).filter(|i| sets::has_mapping(*i)).count();
        [self.n - with, with]
    }

    fn child_env(&self, role: &str) -> Vec<(&'static str, String)> {
        vec![
            ("LAC_BENCH_ROLE", role.to_string()),
            ("N", self.n.to_string()),
            ("SCALE", self.scale.to_string()),
            ("LATENCY_MS", self.latency_ms.to_string()),
            ("CONCURRENCY", self.concurrency.to_string()),
            ("CHANGES", self.changes.to_string()),
            ("DRIFT_BUDGET", self.drift_budget.to_string()),
            ("EVENTS", u8::from(self.events).to_string()),
            ("EVENTS_RESYNC", self.events_resync.to_string()),
            ("LAC_BENCH_NAMESPACE", self.namespace.clone()),
            ("LAC_BENCH_PORT", self.port.to_string()),
        ]
    }
}

fn main() -> ExitCode {
    let role = std::env::var("LAC_BENCH_ROLE").ok();
    // `cargo test --all-targets` runs bench targets too, without `--bench`: nothing to do there.
    if role.is_none() && !std::env::args().any(|a| a == "--bench") {
        println!("benches/scale runs with `make bench` (or `cargo bench --bench scale`)");
        return ExitCode::SUCCESS;
    }
    let knobs = match Knobs::from_env() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match role.as_deref() {
        Some("controller") => return child::controller(&knobs),
        Some("memory") => return child::memory(&knobs),
        Some("parts") => return child::parts(&knobs),
        _ => {}
    }
    let server = match cluster::ApiServer::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if server.is_own() {
        // SAFETY: no other thread exists yet (the runtime is built below), so nothing reads the
        // environment concurrently; the children and kubectl inherit it.
        unsafe { std::env::set_var("KUBECONFIG", &server.kubeconfig) };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let result = runtime.block_on(bench(knobs, server.is_own()));
    runtime.shutdown_timeout(Duration::from_secs(5));
    drop(server);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench")
}

pub fn say(message: impl AsRef<str>) {
    eprintln!("bench: {}", message.as_ref());
}

/// The commit measured, and whether the controller's sources differed from it.
fn code_version() -> Value {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    json!({
        "commit": git(&["rev-parse", "--short", "HEAD"]),
        "uncommitted_changes_in_src": !git(&["status", "--porcelain", "--", "src", "Cargo.toml"]).is_empty(),
    })
}

fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let ram_kb: u64 = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string()))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": cpu,
        "ram_gib": (ram_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
        "rustc": rustc,
    })
}

async fn bench(mut knobs: Knobs, own_server: bool) -> Result<(), String> {
    let started = Instant::now();
    let dir = out_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut report = Report::default();
    let client = kube::Client::try_default().await.map_err(|e| format!("Kubernetes client: {e}"))?;
    support::cluster::apply_crd(&client).await;
    knobs.namespace = support::cluster::create_namespace(&client, "lac-bench").await;
    knobs.port = support::cluster::free_port();
    let resync = knobs.resync().as_secs_f64();
    say(format!(
        "N={} SCALE={} LATENCY_MS={} (simulated {:.2} ms) CONCURRENCY={} resync {resync:.1} s, namespace {}",
        knobs.n,
        knobs.scale,
        knobs.latency_ms,
        knobs.sim_latency().as_secs_f64() * 1000.0,
        knobs.concurrency,
        knobs.namespace
    ));
    report.set(
        "command",
        json!(format!(
            "make bench N={} SCALE={} LATENCY_MS={} CONCURRENCY={} CHANGES={} EVENTS={}",
            knobs.n,
            knobs.scale,
            knobs.latency_ms,
            knobs.concurrency,
            knobs.changes,
            u8::from(knobs.events)
        )),
    );
    report.set(
        "knobs",
        json!({
            "n": knobs.n, "scale": knobs.scale, "latency_ms": knobs.latency_ms,
            "simulated_latency_ms": knobs.sim_latency().as_secs_f64() * 1000.0,
            "concurrency": knobs.concurrency, "changes": knobs.changes, "drift_budget": knobs.drift_budget,
            "resync_seconds": resync, "mapping_every": sets::MAPPING_EVERY,
            "events": knobs.events, "events_resync_seconds": knobs.events_resync,
            "api_server": if own_server { "../shared/kube/up (own state)" } else { "KUBECONFIG" },
        }),
    );
    report.set("machine", machine());
    report.set("code", code_version());

    say("the simulated AWS alone, driven to the end state (its memory)");
    let sim_memory = measure_alone(&knobs, "memory").await?;
    let field = |k: &str| sim_memory[k].as_u64().unwrap_or(0);
    let sim_bytes = sim_memory["peak"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(sim_memory["baseline_rss"].as_u64().unwrap_or(0));

    say(format!("creating {} LambdaAliasSets", knobs.n));
    let t = Instant::now();
    cluster::create_sets(&client, &knobs.namespace, knobs.n, 32).await?;
    report.set("create_seconds", json!(t.elapsed().as_secs_f64()));
    let tracker = cluster::Tracker::start(&client, &knobs.namespace);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !tracker.listed() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    say("starting the controller");
    let log = dir.join("controller.log");
    let ctl = Controller::spawn(&knobs, &log).await?;
    let t0 = Instant::now();
    let cpu0 = probe::cpu_seconds(&ctl.pid);
    let memory_track = MemoryTrack {
        pid: ctl.pid.clone(),
        n: knobs.n,
        sim_initial: field("initial_rss").saturating_sub(field("baseline_rss")),
        sim_end: sim_bytes,
        max_rss: 0,
        max_share: 0,
        timeline: Vec::new(),
        started: t0,
    };

    let mut run = Run {
        knobs,
        client,
        ctl,
        tracker,
        report,
        memory_track,
        t0,
        zero: (t0, Scrape::default(), SimStats::default()),
        cpu0,
        sim_memory,
        own_server,
        booted: false,
        pass: None,
    };
    run.booted = phases::bootstrap(&mut run).await?.is_some();
    if run.booted {
        run.pass = phases::drift_pass(&mut run).await?;
        let pass_seconds = run.pass.map(|p| p.seconds);
        phases::spec_changes(&mut run, pass_seconds).await?;
        if run.knobs.events {
            events::repair_latency(&mut run).await?;
        } else {
            run.report.missing(events::REPAIR_FIGURE, "", "skipped: EVENTS=0");
        }
    } else {
        run.report.missing("drift pass: time", "", "skipped: the bootstrap did not converge");
        run.report.missing("spec-change latency p50 / p99", "", "skipped: the bootstrap did not converge");
        run.report.missing(events::REPAIR_FIGURE, "", "skipped: the bootstrap did not converge");
    }
    let moto_runs = run.knobs.moto_runs;
    let mut report = phases::finish(run).await?;
    moto::rows(&mut report, moto_runs).await;

    report.set("bench_seconds", json!(started.elapsed().as_secs_f64()));
    let path = dir.join("scale.json");
    let text = serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{}", report.table());
    println!("JSON: {}\ncontroller log: {}", path.display(), log.display());
    Ok(())
}

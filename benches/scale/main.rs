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
//! pass; then memory, CPU, throttles; (f) one set's convergence against moto next to a
//! straight-line script. One table on stdout; the same figures as JSON (path printed).

mod child;
mod cluster;
mod moto;
mod probe;
mod report;
mod sets;
mod sim;
#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_alias_controller::aws::budget::{BudgetLimits, DEFAULT_DRIFT_SHARE, Lane};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use probe::Scrape;
use report::{Report, Verdict, duration, mib, percentile};
use sim::{CLASSES, POOLS, SimStats};

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
            scale: env("SCALE", 50.0)?,
            latency_ms: env("LATENCY_MS", 30.0)?,
            concurrency: env("CONCURRENCY", 16)?,
            changes: env("CHANGES", 100)?,
            drift_budget: env("DRIFT_BUDGET", DEFAULT_DRIFT_SHARE)?,
            moto_runs: env("MOTO_RUNS", 20)?,
            namespace: env("LAC_BENCH_NAMESPACE", String::new())?,
            port: env("LAC_BENCH_PORT", 0)?,
        };
        if knobs.n == 0 || knobs.scale.is_nan() || knobs.scale < 1.0 || knobs.concurrency == 0 {
            return Err("N and CONCURRENCY must be positive and SCALE at least 1".to_string());
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
    fn budget_rates(&self) -> [f64; 3] {
        BudgetLimits::default().scaled(self.scale).pools().map(|(_, limit)| limit.per_second)
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
            ("LAC_BENCH_NAMESPACE", self.namespace.clone()),
            ("LAC_BENCH_PORT", self.port.to_string()),
        ]
    }
}

fn main() -> ExitCode {
    let knobs = match Knobs::from_env() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match std::env::var("LAC_BENCH_ROLE").as_deref() {
        Ok("controller") => return child::controller(&knobs),
        Ok("memory") => return child::memory(&knobs),
        Ok("parts") => return child::parts(&knobs),
        _ => {}
    }
    // `cargo test --all-targets` runs bench targets too, without `--bench`: nothing to do there.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/scale runs with `make bench` (or `cargo bench --bench scale`)");
        return ExitCode::SUCCESS;
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

fn say(message: impl AsRef<str>) {
    eprintln!("bench: {}", message.as_ref());
}

/// The controller child and the line protocol on its stdin/stdout.
struct Controller {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pid: String,
    port: u16,
}

impl Controller {
    async fn spawn(knobs: &Knobs, log: &Path) -> Result<Controller, String> {
        let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = tokio::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .envs(knobs.child_env("controller"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("start the controller: {e}"))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let pid = child.id().map(|p| p.to_string()).ok_or("no pid")?;
        let mut controller =
            Controller { child, stdin, lines: BufReader::new(stdout).lines(), pid, port: knobs.port };
        let ready = controller.line(Duration::from_secs(120)).await?;
        if ready != "ready" {
            return Err(format!("the controller said {ready:?} instead of ready"));
        }
        Ok(controller)
    }

    async fn line(&mut self, limit: Duration) -> Result<String, String> {
        match tokio::time::timeout(limit, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err("the controller exited (see target/bench/controller.log)".to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the controller did not answer in time".to_string()),
        }
    }

    async fn ask(&mut self, command: &str) -> Result<String, String> {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.map_err(|e| e.to_string())?;
        self.line(Duration::from_secs(30)).await
    }

    async fn stats(&mut self) -> Result<SimStats, String> {
        let line = self.ask("stats").await?;
        serde_json::from_str(&line).map_err(|e| format!("stats: {e}: {line}"))
    }

    async fn mark(&mut self) -> Result<(), String> {
        self.ask("mark").await.map(|_| ())
    }

    async fn scrape(&self) -> Result<Scrape, String> {
        probe::scrape(self.port).await
    }

    /// Both views at once: the controller's metrics and the simulated AWS's counts.
    async fn snapshot(&mut self) -> Result<(Instant, Scrape, SimStats), String> {
        let at = Instant::now();
        Ok((at, self.scrape().await?, self.stats().await?))
    }

    /// Stops the controller (as SIGTERM would) and returns the simulated AWS's last counts.
    async fn stop(mut self) -> Result<SimStats, String> {
        self.stdin.write_all(b"stop\n").await.map_err(|e| e.to_string())?;
        loop {
            let line = self.line(Duration::from_secs(30)).await?;
            if let Some(stats) = line.strip_prefix("final ") {
                let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
                return serde_json::from_str(stats).map_err(|e| e.to_string());
            }
        }
    }
}

/// A child that measures one thing alone (`memory`: the simulated AWS; `parts`: parts of the
/// controller's memory) and prints it as JSON.
async fn measure_alone(knobs: &Knobs, role: &str) -> Result<Value, String> {
    let out = tokio::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
        .envs(knobs.child_env(role))
        .stderr(Stdio::inherit())
        .output()
        .await
        .map_err(|e| format!("{role} child: {e}"))?;
    if !out.status.success() {
        return Err(format!("the {role} child failed: {}", out.status));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{role} child: {e}"))
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

/// The controller's memory without the simulated AWS's: each sample of the controller process's
/// RSS minus what the simulation holds then, linear between its two states measured alone (the
/// N functions; every set converged) by the number of sets converged.
struct MemoryTrack {
    pid: String,
    n: usize,
    sim_initial: u64,
    sim_end: u64,
    max_rss: u64,
    max_share: u64,
    /// (seconds since the controller started, RSS, sets converged), every sample.
    timeline: Vec<(f64, u64, usize)>,
    started: Instant,
}

impl MemoryTrack {
    fn sim_at(&self, converged: usize) -> u64 {
        let grown = (self.sim_end.saturating_sub(self.sim_initial)) as f64 * converged as f64 / self.n as f64;
        self.sim_initial + grown as u64
    }

    fn sample(&mut self, converged: usize) {
        let rss = probe::memory(&self.pid).rss;
        self.timeline.push((self.started.elapsed().as_secs_f64(), rss, converged));
        self.max_rss = self.max_rss.max(rss);
        self.max_share = self.max_share.max(rss.saturating_sub(self.sim_at(converged)));
    }
}

/// Counters of a window between two snapshots.
struct Window {
    seconds: f64,
    calls: [f64; 3],
    sim: SimStats,
    drift_tokens: [f64; 3],
    reconciles: f64,
    checks: Value,
}

impl Window {
    fn between(a: &(Instant, Scrape, SimStats), b: &(Instant, Scrape, SimStats)) -> Window {
        let (ca, cb) = (a.1.calls_by_pool(), b.1.calls_by_pool());
        let tokens = |s: &Scrape, pool: &str| {
            s.sum("lac_aws_budget_tokens_total", &[("pool", pool), ("lane", Lane::Drift.name())])
        };
        let checks: serde_json::Map<String, Value> = ["unchanged", "changed", "full", "failed"]
            .iter()
            .map(|r| {
                let n = |s: &Scrape| s.sum("lac_drift_checks_total", &[("result", r)]);
                (r.to_string(), json!(n(&b.1) - n(&a.1)))
            })
            .collect();
        Window {
            seconds: b.0.duration_since(a.0).as_secs_f64(),
            calls: std::array::from_fn(|p| cb[p] - ca[p]),
            sim: b.2.since(&a.2),
            drift_tokens: POOLS.map(|p| tokens(&b.1, p) - tokens(&a.1, p)),
            reconciles: b.1.sum("lac_reconciles_total", &[]) - a.1.sum("lac_reconciles_total", &[]),
            checks: Value::Object(checks),
        }
    }
}

/// The budget's queues (`lac_lane_queue_depth`) over a phase, by lane (priority, drift).
#[derive(Default)]
struct Queues {
    max: [f64; 2],
    sum: [f64; 2],
    samples: usize,
}

impl Queues {
    fn sample(&mut self, scrape: &Scrape) {
        for lane in Lane::ALL {
            let depth = scrape.sum("lac_lane_queue_depth", &[("lane", lane.name())]);
            self.max[lane as usize] = self.max[lane as usize].max(depth);
            self.sum[lane as usize] += depth;
        }
        self.samples += 1;
    }

    fn mean(&self, lane: Lane) -> f64 {
        self.sum[lane as usize] / self.samples.max(1) as f64
    }

    fn text(&self) -> String {
        let (p, d) = (Lane::Priority as usize, Lane::Drift as usize);
        format!(
            "priority max {:.0} (mean {:.1}), drift max {:.0} (mean {:.1})",
            self.max[p],
            self.mean(Lane::Priority),
            self.max[d],
            self.mean(Lane::Drift)
        )
    }

    fn json(&self) -> Value {
        let lane = |l: Lane| json!({"max": self.max[l as usize], "mean": self.mean(l)});
        json!({"priority": lane(Lane::Priority), "drift": lane(Lane::Drift), "samples": self.samples})
    }
}

fn per_pool(values: [f64; 3]) -> String {
    format!("GetFunction {:.2}, GetPolicy {:.2}, shared {:.2}", values[0], values[1], values[2])
}

fn pools_json(values: [f64; 3]) -> Value {
    json!({"GetFunction": values[0], "GetPolicy": values[1], "shared": values[2]})
}

/// Wall seconds and what they stand for at AWS's real quotas.
fn both(seconds: f64, scale: f64) -> String {
    format!("{} (real {})", duration(seconds), duration(seconds * scale))
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
            "make bench N={} SCALE={} LATENCY_MS={} CONCURRENCY={} CHANGES={}",
            knobs.n, knobs.scale, knobs.latency_ms, knobs.concurrency, knobs.changes
        )),
    );
    report.set(
        "knobs",
        json!({
            "n": knobs.n, "scale": knobs.scale, "latency_ms": knobs.latency_ms,
            "simulated_latency_ms": knobs.sim_latency().as_secs_f64() * 1000.0,
            "concurrency": knobs.concurrency, "changes": knobs.changes, "drift_budget": knobs.drift_budget,
            "resync_seconds": resync, "mapping_every": sets::MAPPING_EVERY,
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
    let mut ctl = Controller::spawn(&knobs, &log).await?;
    let t0 = Instant::now();
    let cpu0 = probe::cpu_seconds(&ctl.pid);
    let zero = (t0, Scrape::default(), SimStats::default());
    let mut memory_track = MemoryTrack {
        pid: ctl.pid.clone(),
        n: knobs.n,
        sim_initial: field("initial_rss").saturating_sub(field("baseline_rss")),
        sim_end: sim_bytes,
        max_rss: 0,
        max_share: 0,
        timeline: Vec::new(),
        started: t0,
    };

    // (a) Bootstrap.
    let rates = knobs.budget_rates();
    let n = knobs.n as f64;
    let min_bound = 6.0 * n / rates[2];
    let boot_deadline = t0 + Duration::from_secs_f64(120.0 + 6.0 * min_bound);
    let mut last_note = Instant::now();
    let mut queues = Queues::default();
    // No set converging for this long: the bootstrap has stalled, and waiting longer shows nothing.
    let stall_limit = Duration::from_secs_f64(60f64.max(10.0 * knobs.resync().as_secs_f64()));
    let mut progress = (0, Instant::now());
    let mut stalled = false;
    let booted = loop {
        let converged = tracker.converged();
        if converged > progress.0 {
            progress = (converged, Instant::now());
        } else if progress.1.elapsed() > stall_limit {
            stalled = true;
            break None;
        }
        memory_track.sample(converged);
        let scrape = ctl.scrape().await.unwrap_or_default();
        queues.sample(&scrape);
        if converged >= knobs.n {
            break Some(t0.elapsed().as_secs_f64());
        }
        if Instant::now() > boot_deadline {
            break None;
        }
        if last_note.elapsed() > Duration::from_secs(15) {
            last_note = Instant::now();
            let waiting = |lane: Lane| scrape.sum("lac_lane_queue_depth", &[("lane", lane.name())]);
            say(format!(
                "bootstrap: {converged}/{} converged after {}; {} reconciles, waiting for a token: {} priority, {} drift",
                knobs.n,
                duration(t0.elapsed().as_secs_f64()),
                scrape.sum("lac_reconciles_total", &[]),
                waiting(Lane::Priority),
                waiting(Lane::Drift),
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let after_boot = ctl.snapshot().await?;
    let boot = Window::between(&zero, &after_boot);
    let bound = (0..3).map(|p| boot.calls[p] / rates[p]).fold(0.0, f64::max);
    let boot_row = |seconds: Option<f64>| match seconds {
        Some(s) => (both(s, knobs.scale), Verdict::of(s <= 1.1 * bound)),
        None => (
            format!(
                "{} after {} ({} of {}; {} never reconciled)",
                if stalled {
                    format!("stalled (none converged in {})", duration(stall_limit.as_secs_f64()))
                } else {
                    "not converged".to_string()
                },
                duration(t0.elapsed().as_secs_f64()),
                tracker.converged(),
                knobs.n,
                tracker.without_status()
            ),
            Verdict::Fail,
        ),
    };
    let (measured, verdict) = boot_row(booted);
    report.row(
        format!("bootstrap: time to converge {} sets", knobs.n),
        measured,
        format!("<= 1.1 x bound {} (calls made / budget rate; minimum calls: {})", duration(bound), duration(min_bound)),
        verdict,
        json!({"seconds": booted, "bound_seconds": bound, "minimum_calls_bound_seconds": min_bound, "real_seconds": booted.map(|s| s * knobs.scale)}),
    );
    let priority: [f64; 3] = std::array::from_fn(|p| boot.sim.lane_pool(Lane::Priority, p) as f64 / n);
    let all: [f64; 3] = std::array::from_fn(|p| boot.calls[p] / n);
    report.row(
        "bootstrap: calls per set (priority lane)",
        per_pool(priority),
        "shared <= 7.8 (1.3 x 6)",
        // Only a complete bootstrap says what one costs.
        if booted.is_some() { Verdict::of(priority[2] <= 7.8) } else { Verdict::NotMeasured },
        json!({"priority_lane": pools_json(priority), "all_lanes": pools_json(all)}),
    );
    report.row(
        "bootstrap: calls per set (all lanes, drift checks included)",
        per_pool(all),
        "",
        Verdict::Info,
        json!(pools_json(all)),
    );
    report.row(
        "bootstrap: requests waiting for a budget token",
        queues.text(),
        "",
        Verdict::Info,
        queues.json(),
    );
    say(format!("bootstrap done: {:?}", booted.map(duration)));

    // (b) One drift pass, and (c) spec changes during the next one.
    if booted.is_some() {
        let pass_seconds = drift_pass(&knobs, &mut ctl, &mut report, &mut memory_track).await?;
        spec_changes(&knobs, &client, &mut ctl, &tracker, &mut report, pass_seconds, &mut memory_track)
            .await?;
    } else {
        report.missing("drift pass: time", "", "skipped: the bootstrap did not converge");
        report.missing("spec-change latency p50 / p99", "", "skipped: the bootstrap did not converge");
    }

    // (d) Throttles, (e) memory and CPU: read before the controller stops.
    let end = ctl.snapshot().await?;
    let memory = probe::memory(&ctl.pid);
    let in_use: Option<u64> = ctl.ask("trim").await.ok().and_then(|l| l.parse().ok());
    let cpu = probe::cpu_seconds(&ctl.pid) - cpu0;
    let total = Window::between(&zero, &end);
    let object = match tracker.any_converged() {
        Some(name) => cluster::object_size(&client, &knobs.namespace, &name).await.ok(),
        None => None,
    };
    let final_stats = ctl.stop().await?;
    let sim_throttles: u64 = final_stats.throttles.iter().sum();
    let metric_throttles = end.1.sum("lac_aws_throttles_total", &[]);
    report.row(
        "throttles (simulated AWS / lac_aws_throttles_total)",
        format!("{sim_throttles} / {metric_throttles}"),
        "0",
        Verdict::of(sim_throttles == 0 && metric_throttles == 0.0),
        json!({"simulated_aws": final_stats.throttles, "metric": metric_throttles}),
    );
    // The larger of: the peak minus the simulation as large as it got, and the largest sample
    // minus the simulation as large as it was then.
    let converged = tracker.converged();
    memory_track.sample(converged);
    let at_peak = memory.peak.saturating_sub(memory_track.sim_at(converged));
    let controller_share = at_peak.max(memory_track.max_share);
    report.row(
        "peak RSS: controller process (VmHWM)",
        mib(memory.peak),
        "",
        Verdict::Info,
        json!({"bytes": memory.peak, "max_sampled_rss": memory_track.max_rss, "in_use_at_the_end": in_use,
               "timeline_seconds_rss_converged": memory_track.timeline}),
    );
    if let Some(in_use) = in_use {
        report.row(
            "controller process: RSS in use at the end (after malloc_trim), simulated AWS included",
            mib(in_use),
            "",
            Verdict::Info,
            json!({"bytes": in_use}),
        );
    }
    report.row(
        "peak RSS: the simulated AWS alone (N functions -> every set converged)",
        format!("{} -> {}", mib(memory_track.sim_initial), mib(memory_track.sim_end)),
        "",
        Verdict::Info,
        json!({"initial_bytes": memory_track.sim_initial, "end_bytes": memory_track.sim_end, "child": sim_memory,
               "at_the_end_of_this_run_bytes": memory_track.sim_at(converged)}),
    );
    report.row(
        format!("peak RSS: controller (process - simulated AWS), {} sets", knobs.n),
        mib(controller_share),
        "<= 64 MiB",
        Verdict::of(controller_share <= 64 * 1024 * 1024),
        json!({"bytes": controller_share, "peak_minus_simulation_bytes": at_peak,
               "max_sample_minus_simulation_bytes": memory_track.max_share}),
    );
    let reconciles = total.reconciles;
    let fake_cpu = final_stats.fake_cpu_seconds;
    report.row(
        "CPU seconds per 1,000 reconciles",
        format!("{:.2} ({:.0} reconciles, {cpu:.1} s CPU, of which the fake {fake_cpu:.1} s)", (cpu - fake_cpu) / reconciles.max(1.0) * 1000.0, reconciles),
        "",
        Verdict::Info,
        json!({"cpu_seconds": cpu, "fake_cpu_seconds": fake_cpu, "reconciles": reconciles, "per_1000": (cpu - fake_cpu) / reconciles.max(1.0) * 1000.0}),
    );
    let events = cluster::count_events(&client, &knobs.namespace).await;
    match &events {
        Ok(events) => report.row(
            "Kubernetes Events written",
            format!("{events} ({:.1} per set)", *events as f64 / n),
            "",
            Verdict::Info,
            json!({"events": events}),
        ),
        Err(e) => report.missing("Kubernetes Events written", "", e.clone()),
    }
    // Two parts of the controller's memory, each measured alone (after the count above: this
    // publishes Events of its own).
    match (events, measure_alone(&knobs, "parts").await) {
        (Ok(events), Ok(parts)) => {
            let store = parts["store_bytes"].as_u64().unwrap_or(0);
            let list_peak = parts["list_peak_bytes"].as_u64().unwrap_or(0);
            let per_event = parts["bytes_per_event"].as_f64().unwrap_or(0.0);
            report.row(
                format!("controller memory, part: the watch's store of {} sets (alone)", knobs.n),
                format!(
                    "{} in use ({:.1} KiB per set), {} without managedFields; {} while listing them",
                    mib(store),
                    store as f64 / 1024.0 / n,
                    mib(parts["store_without_managed_fields_bytes"].as_u64().unwrap_or(0)),
                    mib(list_peak)
                ),
                "",
                Verdict::Info,
                parts.clone(),
            );
            // kube's Recorder keeps each Event it published for 6 minutes. The whole compressed
            // bootstrap fits in that; at AWS's pace only 6 minutes of it would.
            let cache = per_event * events as f64;
            let real_bootstrap = booted.map(|s| s * knobs.scale);
            let cached_real = real_bootstrap.map(|b| events as f64 * (360.0 / b).min(1.0));
            report.row(
                "controller memory, part: kube's Event recorder cache (6-minute TTL, in use)",
                format!("{:.1} KiB per Event x {events} Events = {}", per_event / 1024.0, mib(cache as u64)),
                "",
                Verdict::Info,
                json!({"bytes_per_event": per_event, "events": events, "bytes": cache}),
            );
            if let Some(cached_real) = cached_real {
                let estimate =
                    controller_share.saturating_sub((per_event * (events as f64 - cached_real)) as u64);
                report.row(
                    "peak RSS: controller at AWS's real pace (estimate: the cache holds 6 minutes of Events)",
                    format!("{} (~{:.0} Events cached)", mib(estimate), cached_real),
                    "",
                    Verdict::Info,
                    json!({"bytes": estimate, "events_cached": cached_real}),
                );
            }
        }
        (_, Err(e)) => report.missing("controller memory, parts", "", e),
        (Err(_), _) => {}
    }
    if let Some((whole, managed)) = object {
        report.row(
            "one set as the watch sends it (managedFields)",
            format!("{whole} B ({managed} B)"),
            "",
            Verdict::Info,
            json!({"bytes": whole, "managed_fields_bytes": managed}),
        );
    }
    if !own_server {
        say("removing the sets from the cluster");
        cluster::remove_sets(&client, &knobs.namespace, knobs.n).await?;
    }

    // (f) One set against moto.
    if knobs.moto_runs > 0 {
        say(format!("one set against moto: {} runs of each", knobs.moto_runs));
        match moto::compare(knobs.moto_runs).await {
            Ok(c) => {
                let (script, free, budgeted) = (
                    report::median(&c.script),
                    report::median(&c.converge),
                    report::median(&c.converge_budgeted),
                );
                report.row(
                    "one set against moto: controller / straight-line script",
                    format!("{} / {} = {:.2}x ({:.1} requests vs 8)", duration(free), duration(script), free / script, c.calls_per_converge),
                    "<= 1.2x",
                    Verdict::of(free / script <= 1.2),
                    json!({"converge_median_seconds": free, "script_median_seconds": script, "ratio": free / script,
                           "requests_per_converge": c.calls_per_converge, "converge": c.converge, "script": c.script}),
                );
                report.row(
                    "one set against moto: with the production budget (12/s, burst 3)",
                    format!("{} = {:.2}x the script", duration(budgeted), budgeted / script),
                    "",
                    Verdict::Info,
                    json!({"median_seconds": budgeted, "ratio": budgeted / script, "runs": c.converge_budgeted}),
                );
            }
            Err(e) => report.missing("one set against moto", "<= 1.2x", e),
        }
    }

    report.set("bench_seconds", json!(started.elapsed().as_secs_f64()));
    let path = dir.join("scale.json");
    let text = serde_json::to_string_pretty(&report.json()).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{}", report.table());
    println!("JSON: {}\ncontroller log: {}", path.display(), log.display());
    Ok(())
}

/// (b) Waits for one complete drift pass and measures it: by `lac_drift_passes_total` (between
/// two increments) when the controller reports passes, else from the simulated AWS's side (from
/// a mark until every function was read again). The pass's duration (wall seconds), if any.
async fn drift_pass(
    knobs: &Knobs,
    ctl: &mut Controller,
    report: &mut Report,
    memory_track: &mut MemoryTrack,
) -> Result<Option<f64>, String> {
    let n = knobs.n as f64;
    let resync = knobs.resync().as_secs_f64();
    let drift_rates = knobs.budget_rates().map(|r| r * knobs.drift_budget);
    // At the target (one shared call per set and pass), a pass takes this long.
    let expected = resync.max(n / drift_rates[2]);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(120.0 + 6.0 * expected);
    ctl.mark().await?;
    let first = ctl.snapshot().await?;
    let passes = |s: &Scrape| s.sum("lac_drift_passes_total", &[]);
    let mut ends: Vec<(Instant, Scrape, SimStats)> = Vec::new();
    let mut covered: Option<(Instant, Scrape, SimStats)> = None;
    let mut last_note = Instant::now();
    let mut queues = Queues::default();
    say(format!("drift: waiting for a complete pass (target pace {})", duration(expected)));
    let window = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        memory_track.sample(knobs.n);
        let now = ctl.snapshot().await?;
        queues.sample(&now.1);
        let previous = ends.last().map_or(passes(&first.1), |e| passes(&e.1));
        if passes(&now.1) > previous {
            ends.push(now.clone());
        }
        if covered.is_none() && now.2.covered >= knobs.n {
            covered = Some(now.clone());
        }
        if ends.len() >= 2 {
            break Some((
                "lac_drift_passes_total",
                Window::between(&ends[0], &ends[1]),
                Some(ends[1].1.sum("lac_drift_pass_duration_seconds", &[])),
            ));
        }
        // The controller reports no passes (or too slowly): the simulated AWS's view.
        if let Some(c) = &covered {
            let sim_seconds = c.0.duration_since(first.0).as_secs_f64();
            if ends.is_empty() && now.0.duration_since(first.0).as_secs_f64() > 3.0 * sim_seconds + 30.0 {
                say("lac_drift_passes_total did not move: measuring the pass from the simulated AWS's side");
                break Some((
                    "simulated AWS: every function read once since a mark",
                    Window::between(&first, c),
                    None,
                ));
            }
        }
        if Instant::now() > deadline {
            // No second report in time: the simulated AWS's view, when it has one.
            break covered.as_ref().map(|c| {
                say("no complete pass reported in time: measuring it from the simulated AWS's side");
                (
                    "simulated AWS (no complete lac_drift_passes_total pass in time)",
                    Window::between(&first, c),
                    None,
                )
            });
        }
        if last_note.elapsed() > Duration::from_secs(15) {
            last_note = Instant::now();
            let late: Vec<String> = now.2.uncovered.iter().map(|i| sets::set_name(*i)).collect();
            say(format!(
                "drift: {} passes reported, {}/{} functions read since the mark (not yet: {})",
                ends.len(),
                now.2.covered,
                knobs.n,
                late.join(" ")
            ));
        }
    };
    let Some((source, w, gauge)) = window else {
        report.missing(
            "drift pass: time",
            format!("within 10 % of its bound (target pace {})", duration(expected)),
            format!("no complete pass in {}", duration(start.elapsed().as_secs_f64())),
        );
        return Ok(None);
    };
    let bound_pools: [f64; 3] = std::array::from_fn(|p| w.calls[p] / drift_rates[p]);
    let bound = bound_pools.iter().copied().fold(resync, f64::max);
    let ratio = w.seconds / bound;
    report.row(
        "drift pass: time",
        format!("{}{}", both(w.seconds, knobs.scale), gauge.map(|g| format!("; gauge {}", duration(g))).unwrap_or_default()),
        format!("bound {} = max(resync, calls / drift rate): within 10 %", duration(bound)),
        Verdict::of((ratio - 1.0).abs() <= 0.1),
        json!({"seconds": w.seconds, "gauge_seconds": gauge, "bound_seconds": bound, "ratio": ratio, "source": source,
               "bound_by_pool_seconds": pools_json(bound_pools), "resync_seconds": resync,
               "reconciles": w.reconciles, "drift_checks": w.checks}),
    );
    let checks: f64 = w.checks.as_object().map_or(0.0, |c| c.values().filter_map(Value::as_f64).sum());
    let aws_side = covered.as_ref().map(|c| c.0.duration_since(first.0).as_secs_f64());
    report.row(
        "drift pass: drift checks per set (lac_drift_checks_total)",
        format!(
            "{:.2}; every function read once (seen by AWS) in {}",
            checks / n,
            aws_side.map_or("-".to_string(), duration)
        ),
        "1 per pass",
        Verdict::Info,
        json!({"per_set": checks / n, "checks": w.checks, "aws_side_pass_seconds": aws_side}),
    );
    let per_set: [f64; 3] = std::array::from_fn(|p| w.calls[p] / n);
    report.row(
        "drift pass: calls per set (all sets)",
        per_pool(per_set),
        "",
        Verdict::Info,
        json!(pools_json(per_set)),
    );
    let sizes = knobs.class_sizes();
    for (class, limit) in [(0, 1.0), (1, 2.0)] {
        let per_set: [f64; 3] =
            std::array::from_fn(|p| w.sim.class_pool(class, p) as f64 / sizes[class].max(1) as f64);
        report.row(
            format!("drift pass: calls per set, {}", CLASSES[class]),
            per_pool(per_set),
            format!("shared <= {limit}"),
            Verdict::of(per_set[2] <= limit),
            json!({"per_set": pools_json(per_set), "sets": sizes[class]}),
        );
    }
    let used: [f64; 3] = std::array::from_fn(|p| w.drift_tokens[p] / w.seconds / drift_rates[p]);
    // The pool that bounds the pass must be (nearly) used up, and no pool used beyond its share
    // (one token of slack: the drift bucket's burst).
    let binding = (0..3).max_by(|a, b| bound_pools[*a].total_cmp(&bound_pools[*b])).unwrap_or(2);
    let budget_bound = bound_pools[binding] >= resync;
    let exceeded = (0..3).any(|p| w.drift_tokens[p] > drift_rates[p] * w.seconds + 1.0);
    report.row(
        "drift pass: drift-lane tokens / (rate x time)",
        per_pool(used),
        format!("<= 1, and >= 0.9 in the pool that bounds the pass ({})", if budget_bound { POOLS[binding] } else { "none: resync bound" }),
        Verdict::of(!exceeded && (!budget_bound || used[binding] >= 0.9)),
        json!({"used": pools_json(used), "drift_tokens": pools_json(w.drift_tokens), "drift_rates": pools_json(drift_rates)}),
    );
    report.row(
        "drift phase: requests waiting for a budget token",
        queues.text(),
        "",
        Verdict::Info,
        queues.json(),
    );
    say(format!("drift pass measured: {} ({source})", duration(w.seconds)));
    Ok(Some(w.seconds))
}

/// (c) `changes` spec changes spread over the next drift pass; latency from each patch until
/// the watch shows `observedGeneration` = the new generation and Ready=True.
///
/// Time compression shortens what AWS does (latency, budget waits), not what Kubernetes does
/// (watch delivery, Events, the status write). So each latency is split at the set's last
/// priority-lane AWS request: the part up to it stands for `SCALE` times as long, the rest
/// (Events, the status write, the watch back) is taken as measured. Everything times `SCALE` is
/// kept as the upper bound.
#[allow(clippy::too_many_arguments)]
async fn spec_changes(
    knobs: &Knobs,
    client: &kube::Client,
    ctl: &mut Controller,
    tracker: &cluster::Tracker,
    report: &mut Report,
    pass_seconds: Option<f64>,
    memory_track: &mut MemoryTrack,
) -> Result<(), String> {
    let changed = sets::changed(knobs.n, knobs.changes);
    // Spread over most of a pass, but no longer than twice the target pace takes.
    let target =
        knobs.resync().as_secs_f64().max(knobs.n as f64 / (knobs.budget_rates()[2] * knobs.drift_budget));
    let spread = 0.8 * pass_seconds.unwrap_or(target).min(2.0 * target);
    let interval = Duration::from_secs_f64(spread / changed.len().max(1) as f64);
    say(format!(
        "{} spec changes (phase Certifying), one every {}",
        changed.len(),
        duration(interval.as_secs_f64())
    ));
    // From here the simulated AWS notes each function's first priority-lane request: the
    // steady sets' drift checks are in the other lane, so that is the spec change's reconcile.
    ctl.mark().await?;
    let before = ctl.snapshot().await?;
    // The patches go out on their own schedule while this loop follows the watch.
    let sent: Arc<Mutex<Vec<(usize, u64, i64)>>> = Arc::default();
    let sender = tokio::spawn({
        let (client, namespace, sent, changed) =
            (client.clone(), knobs.namespace.clone(), sent.clone(), changed.clone());
        async move {
            let mut next = Instant::now();
            for i in changed {
                tokio::time::sleep_until(next.into()).await;
                next += interval;
                let at = probe::monotonic_ns();
                let generation = cluster::set_phase(&client, &namespace, i, "Certifying").await?;
                sent.lock().unwrap_or_else(|e| e.into_inner()).push((i, at, generation));
            }
            Ok::<(), String>(())
        }
    });
    let mut queues = Queues::default();
    // Per set, monotonic ns: patched, converged, its first and last priority-lane AWS request.
    let mut done: HashMap<usize, [u64; 4]> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs_f64(60.0 + 2.0 * spread);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        memory_track.sample(knobs.n);
        if let Ok(scrape) = ctl.scrape().await {
            queues.sample(&scrape);
        }
        let newly: Vec<(usize, u64, u64)> = {
            let sent = sent.lock().unwrap_or_else(|e| e.into_inner());
            sent.iter()
                .filter(|(i, _, _)| !done.contains_key(i))
                .filter_map(|(i, at, g)| tracker.converged_at(&sets::set_name(*i), *g).map(|t| (*i, *at, t)))
                .collect()
        };
        if !newly.is_empty() {
            let list: Vec<String> = newly.iter().map(|(i, _, _)| i.to_string()).collect();
            let answer = ctl.ask(&format!("priority {}", list.join(","))).await?;
            let requests: Vec<(u64, u64)> =
                serde_json::from_str(&answer).map_err(|e| format!("priority: {e}: {answer}"))?;
            for ((i, at, converged), (first, last)) in newly.into_iter().zip(requests) {
                let converged = converged.max(at);
                let first = first.clamp(at, converged);
                done.insert(i, [at, converged, first, last.clamp(first, converged)]);
            }
        }
        let all_sent = sender.is_finished();
        if (all_sent && done.len() == sent.lock().unwrap_or_else(|e| e.into_inner()).len())
            || Instant::now() > deadline
        {
            break;
        }
    }
    if sender.is_finished() {
        sender.await.map_err(|e| e.to_string())??;
    } else {
        sender.abort();
    }
    let after = ctl.snapshot().await?;
    let w = Window::between(&before, &after);
    let scale = knobs.scale;
    let seconds = |ns: u64| ns as f64 / 1e9;
    // Per change (wall seconds): until its first AWS request (watch, queue), its AWS requests,
    // after them (Events, status write, watch back); and the real-time estimate.
    let mut parts: Vec<(usize, [f64; 3], f64)> = done
        .iter()
        .map(|(i, [at, converged, first, last])| {
            let split = [seconds(first - at), seconds(last - first), seconds(converged - last)];
            (*i, split, seconds(last - at) * scale + split[2])
        })
        .collect();
    parts.sort_by(|a, b| a.1.iter().sum::<f64>().total_cmp(&b.1.iter().sum::<f64>()));
    let mut wall: Vec<f64> = parts.iter().map(|(_, split, _)| split.iter().sum()).collect();
    let mut real: Vec<f64> = parts.iter().map(|(_, _, real)| *real).collect();
    let part_quantiles = |k: usize| {
        let mut v: Vec<f64> = parts.iter().map(|(_, split, _)| split[k]).collect();
        v.sort_by(f64::total_cmp);
        json!({"p50": percentile(&v, 50.0), "p99": percentile(&v, 99.0)})
    };
    let split = json!({"until_first_aws_request": part_quantiles(0), "aws_requests": part_quantiles(1),
                       "status_and_watch": part_quantiles(2)});
    let slowest: Vec<Value> = parts
        .iter()
        .rev()
        .take(5)
        .map(|(i, split, real)| json!({"set": sets::set_name(*i), "until_first_aws_request": split[0],
                                       "aws_requests": split[1], "status_and_watch": split[2], "real_seconds": real}))
        .collect();
    let missing = changed.len() - done.len();
    // A change that never converged counts as infinitely slow.
    let quantiles = |values: &mut Vec<f64>| {
        values.extend(std::iter::repeat_n(f64::INFINITY, missing));
        values.sort_by(f64::total_cmp);
        (percentile(values, 50.0), percentile(values, 99.0))
    };
    let (real50, real99) = quantiles(&mut real);
    let (wall50, wall99) = quantiles(&mut wall);
    let drift_requests: u64 = (0..3).map(|p| w.sim.lane_pool(Lane::Drift, p)).sum();
    report.row(
        format!("spec-change latency p50 / p99 ({} changes during a drift pass)", changed.len()),
        format!(
            "{} / {} real (wall {} / {}; all x SCALE {} / {}){}",
            duration(real50),
            duration(real99),
            duration(wall50),
            duration(wall99),
            duration(wall50 * scale),
            duration(wall99 * scale),
            if missing > 0 { format!("; {missing} never converged") } else { String::new() }
        ),
        "p99 <= 5 s",
        Verdict::of(missing == 0 && real99 <= 5.0),
        json!({"p50_real_seconds": real50, "p99_real_seconds": real99, "p50_wall_seconds": wall50,
               "p99_wall_seconds": wall99, "p99_all_scaled_seconds": wall99 * scale,
               "changes": changed.len(), "never_converged": missing, "wall_split_seconds": split,
               "slowest": slowest, "wall_seconds": wall, "real_seconds": real,
               "drift_lane_requests_meanwhile": drift_requests, "all_requests_meanwhile": pools_json(w.calls),
               "drift_passes_meanwhile": after.1.sum("lac_drift_passes_total", &[]) - before.1.sum("lac_drift_passes_total", &[])}),
    );
    let p99 = |k: &str| split[k]["p99"].as_f64().unwrap_or(f64::NAN);
    report.row(
        "spec-change p99 split (wall): until 1st AWS request / AWS / status+watch",
        format!(
            "{} / {} / {}",
            duration(p99("until_first_aws_request")),
            duration(p99("aws_requests")),
            duration(p99("status_and_watch"))
        ),
        "",
        Verdict::Info,
        split.clone(),
    );
    report.row(
        "spec changes: requests waiting for a budget token",
        queues.text(),
        "",
        Verdict::Info,
        queues.json(),
    );
    Ok(())
}

//! What the phases compute from the controller's metrics and the simulated AWS's counts.

use std::time::Instant;

use lambda_alias_controller::aws::budget::Lane;
use serde_json::{Value, json};

use crate::probe::{self, Scrape};
use crate::report::duration;
use crate::sim::{POOLS, SimStats};

/// Both views at one moment: the controller's metrics and the simulated AWS's counts.
pub type Snapshot = (Instant, Scrape, SimStats);

/// The controller's memory without the simulated AWS's: each sample of the controller process's
/// RSS minus what the simulation holds then, linear between its two states measured alone (the
/// N functions; every set converged) by the number of sets converged.
pub struct MemoryTrack {
    pub pid: String,
    pub n: usize,
    pub sim_initial: u64,
    pub sim_end: u64,
    pub max_rss: u64,
    pub max_share: u64,
    /// (seconds since the controller started, RSS, sets converged), every sample.
    pub timeline: Vec<(f64, u64, usize)>,
    pub started: Instant,
}

impl MemoryTrack {
    pub fn sim_at(&self, converged: usize) -> u64 {
        let grown = (self.sim_end.saturating_sub(self.sim_initial)) as f64 * converged as f64 / self.n as f64;
        self.sim_initial + grown as u64
    }

    pub fn sample(&mut self, converged: usize) {
        let rss = probe::memory(&self.pid).rss;
        self.timeline.push((self.started.elapsed().as_secs_f64(), rss, converged));
        self.max_rss = self.max_rss.max(rss);
        self.max_share = self.max_share.max(rss.saturating_sub(self.sim_at(converged)));
    }
}

/// Counters of a window between two snapshots.
pub struct Window {
    pub seconds: f64,
    pub calls: [f64; 3],
    pub sim: SimStats,
    pub drift_tokens: [f64; 3],
    pub reconciles: f64,
    pub checks: Value,
}

impl Window {
    pub fn between(a: &Snapshot, b: &Snapshot) -> Window {
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
pub struct Queues {
    max: [f64; 2],
    sum: [f64; 2],
    samples: usize,
}

impl Queues {
    pub fn sample(&mut self, scrape: &Scrape) {
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

    pub fn text(&self) -> String {
        let (p, d) = (Lane::Priority as usize, Lane::Drift as usize);
        format!(
            "priority max {:.0} (mean {:.1}), drift max {:.0} (mean {:.1})",
            self.max[p],
            self.mean(Lane::Priority),
            self.max[d],
            self.mean(Lane::Drift)
        )
    }

    pub fn json(&self) -> Value {
        let lane = |l: Lane| json!({"max": self.max[l as usize], "mean": self.mean(l)});
        json!({"priority": lane(Lane::Priority), "drift": lane(Lane::Drift), "samples": self.samples})
    }
}

pub fn per_pool(values: [f64; 3]) -> String {
    format!("GetFunction {:.2}, GetPolicy {:.2}, shared {:.2}", values[0], values[1], values[2])
}

pub fn pools_json(values: [f64; 3]) -> Value {
    json!({"GetFunction": values[0], "GetPolicy": values[1], "shared": values[2]})
}

/// Wall seconds and what they stand for at AWS's real quotas.
pub fn both(seconds: f64, scale: f64) -> String {
    format!("{} (real {})", duration(seconds), duration(seconds * scale))
}

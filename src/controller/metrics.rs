//! The controller's Prometheus metrics, served on `/metrics` (README, "The controller": `--http-addr`).
//!
//! Built with prometheus-client and encoded in the Prometheus text format 0.0.4, the format
//! (and so the series names, `le` labels and content type) this endpoint has always served:
//! dashboards, alerts and the README's list keep working, and Prometheus scrapes it as before.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, prometheus_text,
};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Metric, Registry};

use crate::api::Reason;
use crate::aws::budget::{Budgets, CallCounter, Lane};

/// Upper bounds (seconds) of the reconcile duration histogram, without the implicit `+Inf`.
/// From a no-op drift check (tens of ms) to a slow, throttled multi-step rollout.
pub const DURATION_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Upper bounds (seconds) of the drift events' lag histogram: from CloudTrail's `eventTime` to
/// the booked check, the check and the repair. EventBridge delivers CloudTrail's records in
/// seconds to a few minutes; the check follows in under a second.
pub const LAG_BUCKETS: [f64; 10] = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];

type LagHistograms = Family<[(&'static str, &'static str); 1], Histogram, fn() -> Histogram>;

fn lag_histogram() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

/// The outcome label [`CallCounter`] records for a throttled call (`AwsError::reason()`).
pub const THROTTLED_OUTCOME: &str = "Throttled";

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Metric family names as exposed, so that the controller, tests and dashboards agree on them.
/// (prometheus-client adds a counter's `_total` itself: `Shown` hands them over without it.)
pub const AWS_BUDGET_RATE: &str = "lac_aws_budget_rate";
pub const AWS_BUDGET_TOKENS_TOTAL: &str = "lac_aws_budget_tokens_total";
pub const AWS_CALLS_TOTAL: &str = "lac_aws_calls_total";
pub const AWS_THROTTLES_TOTAL: &str = "lac_aws_throttles_total";
pub const DRIFT_CHECKS_TOTAL: &str = "lac_drift_checks_total";
pub const DRIFT_EVENT_LAG_SECONDS: &str = "lac_drift_event_lag_seconds";
pub const DRIFT_EVENTS_QUEUE_UP: &str = "lac_drift_events_queue_up";
pub const DRIFT_EVENTS_RECEIVED_TOTAL: &str = "lac_drift_events_received_total";
pub const DRIFT_EVENTS_TOTAL: &str = "lac_drift_events_total";
pub const DRIFT_PASS_DURATION_SECONDS: &str = "lac_drift_pass_duration_seconds";
pub const DRIFT_PASSES_TOTAL: &str = "lac_drift_passes_total";
pub const LANE_QUEUE_DEPTH: &str = "lac_lane_queue_depth";
pub const LEADER: &str = "lac_leader";
pub const READY_REASONS_TOTAL: &str = "lac_ready_reasons_total";
pub const RECONCILE_DURATION_SECONDS: &str = "lac_reconcile_duration_seconds";
pub const RECONCILE_ERRORS_TOTAL: &str = "lac_reconcile_errors_total";
pub const RECONCILES_TOTAL: &str = "lac_reconciles_total";
pub const RESYNC_SECONDS: &str = "lac_resync_seconds";
pub const ROLLOUT_LOOKS_TOTAL: &str = "lac_rollout_looks_total";
pub const SET_STALLED: &str = "lac_set_stalled";
pub const SETS: &str = "lac_sets";
pub const SMAPI_REQUESTS_TOTAL: &str = "lac_smapi_requests_total";

/// The controller's metrics. Cheap to update from every reconcile; shared behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Counter,
    errors: Family<[(&'static str, String); 1], Counter>,
    reasons: Family<[(&'static str, String); 1], Counter>,
    duration: Histogram,
    /// Drift checks by what they found: `unchanged` (the cheap reads matched), `changed` (they
    /// did not: a full observe followed), `full` (no baseline yet: a full observe).
    drift_checks: Family<[(&'static str, String); 1], Counter>,
    drift_passes: Counter,
    /// Drift events: messages received from the queue, and each one by what became of it.
    drift_events_received: Counter,
    drift_events: Family<[(&'static str, &'static str); 1], Counter>,
    /// Seconds from an event's `eventTime` to its booked check (`booked`), to the check having
    /// read AWS (`checked`) and, when that changed something back, to the repair (`repaired`).
    drift_event_lag: LagHistograms,
    /// Whether the drift events queue could be read the last time it was tried, by queue URL.
    drift_events_queue: Family<[(&'static str, String); 1], prometheus_client::metrics::gauge::Gauge>,
    /// Looks at a held rollout step by result: `held` (the cheap reads and CloudWatch decided:
    /// still holding), `full` (the step is due or something changed: a full converge followed),
    /// `failed`.
    rollout_looks: Family<[(&'static str, String); 1], Counter>,
    /// Seconds the last complete drift pass took (every set checked once).
    drift_pass_seconds: prometheus_client::metrics::gauge::Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Alexa Skill Management API requests by operation and outcome.
    smapi_requests: Family<[(&'static str, &'static str); 2], Counter>,
    /// key ("namespace/name") -> its state: the gauge of sets (and of stalled sets) is counted
    /// from it at each scrape, so that a set that moves or goes is never counted twice or left
    /// behind.
    sets: Mutex<HashMap<String, SetState>>,
    /// The Lease this replica elects its leader with ("" without `--leader-elect`) and whether
    /// it leads; `None` until `run` has decided.
    leader: Mutex<Option<(String, bool)>>,
    /// `--resync`, in seconds (0 until `run` sets it).
    resync_seconds: AtomicU64,
}

/// What the gauges say of one set: its phase, its Ready status and, while `Stalled=True`, the
/// Ready reason (a person must act).
#[derive(Debug)]
struct SetState {
    phase: String,
    ready: String,
    stalled: Option<String>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            errors: Family::default(),
            reasons: Family::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            drift_checks: Family::default(),
            drift_passes: Counter::default(),
            drift_events_received: Counter::default(),
            drift_events: Family::default(),
            drift_event_lag: Family::new_with_constructor(lag_histogram as fn() -> Histogram),
            drift_events_queue: Family::default(),
            rollout_looks: Family::default(),
            drift_pass_seconds: Default::default(),
            smapi_requests: Family::default(),
            sets: Mutex::default(),
            leader: Mutex::default(),
            resync_seconds: AtomicU64::new(0),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The map stays meaningful after a panic elsewhere while the lock was held: keep serving it.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// One request to the Alexa Skill Management API (`crate::alexa`'s request hook).
    pub fn smapi_request(&self, operation: &'static str, outcome: &'static str) {
        self.smapi_requests.get_or_create(&[("operation", operation), ("outcome", outcome)]).inc();
    }

    /// One reconcile finished: duration, the Ready reason it ended with (e.g. "Converged",
    /// "Draining", "InvalidSpec", "AccessDenied"), and whether it was an error.
    pub fn reconciled(&self, duration: Duration, reason: &str, error: bool) {
        self.count(reason, error);
        self.duration.observe(duration.as_secs_f64());
    }

    /// A reconcile failed on the Kubernetes side (or a cleanup on AWS's): counted with its
    /// reason, without a duration sample (`error_policy` does not know how long it ran).
    pub fn failed(&self, reason: &str) {
        self.count(reason, true);
    }

    /// Starts timing one reconcile: see [`ReconcileTimer`].
    pub fn timer(&self) -> ReconcileTimer<'_> {
        ReconcileTimer { metrics: self, started: Instant::now(), end: TimerEnd::Failed }
    }

    fn count(&self, reason: &str, error: bool) {
        let labels = [("reason", reason.to_string())];
        self.reconciles.inc();
        self.reasons.get_or_create(&labels).inc();
        if error {
            self.errors.get_or_create(&labels).inc();
        }
    }

    /// The current phase and readiness of one set (key = "namespace/name"), for the gauge of
    /// sets by phase and readiness, and its Ready reason while it is `Stalled=True` (`None`
    /// otherwise), for the gauge of stalled sets.
    pub fn set_state(&self, key: &str, phase: &str, ready: &str, stalled: Option<&str>) {
        let mut sets = lock(&self.sets);
        let new = || SetState {
            phase: phase.to_string(),
            ready: ready.to_string(),
            stalled: stalled.map(str::to_string),
        };
        match sets.get_mut(key) {
            // The common case on every resync: nothing changed, allocate nothing.
            Some(state)
                if state.phase == phase && state.ready == ready && state.stalled.as_deref() == stalled => {}
            Some(state) => *state = new(),
            None => {
                sets.insert(key.to_string(), new());
            }
        }
    }

    /// Whether this replica leads: `lease` is the Lease it elects its leader with, "" without
    /// `--leader-elect` (then it always leads).
    pub fn leading(&self, lease: &str, leads: bool) {
        *lock(&self.leader) = Some((lease.to_string(), leads));
    }

    /// The `--resync` period, exposed so that an alert can compare a drift pass with it.
    pub fn resync(&self, period: Duration) {
        self.resync_seconds.store(period.as_secs(), Ordering::Relaxed);
    }

    /// One drift check ended: `unchanged`, `changed` or `full`.
    pub fn drift_check(&self, result: &str) {
        self.drift_checks.get_or_create(&[("result", result.to_string())]).inc();
    }

    /// `n` messages received from the drift events queue.
    pub fn drift_events_received(&self, n: u64) {
        self.drift_events_received.inc_by(n);
    }

    /// What became of one drift event: `matched` (its sets' checks booked), `unmatched`,
    /// `own`, `duplicate`, `ignored`, `malformed` or `abandoned`.
    pub fn drift_event(&self, result: &'static str) {
        self.drift_events.get_or_create(&[("result", result)]).inc();
    }

    /// Seconds from an event to `until`: `booked`, `checked` or `repaired`.
    pub fn drift_event_lag(&self, until: &'static str, seconds: f64) {
        self.drift_event_lag.get_or_create(&[("until", until)]).observe(seconds);
    }

    /// Whether the drift events queue could be read just now.
    pub fn drift_events_queue(&self, url: &str, up: bool) {
        self.drift_events_queue.get_or_create(&[("queue", url.to_string())]).set(i64::from(up));
    }

    /// One look at a held rollout step ended: `held`, `full` or `failed`.
    pub fn rollout_look(&self, result: &str) {
        self.rollout_looks.get_or_create(&[("result", result.to_string())]).inc();
    }

    /// A drift pass (every set checked once) took `duration`.
    pub fn drift_pass(&self, duration: Duration) {
        self.drift_passes.inc();
        self.drift_pass_seconds.set(duration.as_secs_f64());
    }

    /// Keeps only these sets in the gauge (the others left the watch without a reconcile).
    pub fn retain(&self, keys: &std::collections::HashSet<String>) {
        lock(&self.sets).retain(|key, _| keys.contains(key));
    }

    /// The set is gone (deleted, or no longer watched): it leaves the gauge.
    pub fn forget(&self, key: &str) {
        lock(&self.sets).remove(key);
    }

    /// Every metric, AWS calls included, in the Prometheus text format 0.0.4 ([`CONTENT_TYPE`]).
    pub fn render(&self, calls: &CallCounter, budgets: &Budgets) -> String {
        // The AWS calls live in the call counter and the sets in our map: both are read into
        // constant metrics of this scrape, in label order. The registry is assembled per scrape
        // (a few Arc clones) so that it can hold them, with the families in name order as before.
        let calls = calls.snapshot();
        let throttles: u64 =
            calls.iter().filter(|((_, outcome), _)| outcome == THROTTLED_OUTCOME).map(|(_, n)| n).sum();
        let aws_calls = Snapshot(
            calls
                .into_iter()
                .map(|((op, outcome), n)| {
                    ([("operation", op.name().to_string()), ("outcome", outcome)], ConstCounter::new(n))
                })
                .collect(),
        );
        let (sets, stalled) = {
            let mut by_state: BTreeMap<[(&'static str, String); 2], i64> = BTreeMap::new();
            let mut stalled: BTreeMap<[(&'static str, String); 2], i64> = BTreeMap::new();
            for (key, state) in lock(&self.sets).iter() {
                *by_state
                    .entry([("phase", state.phase.clone()), ("ready", state.ready.clone())])
                    .or_insert(0) += 1;
                if let Some(reason) = &state.stalled {
                    stalled.insert([("set", key.clone()), ("reason", reason.clone())], 1);
                }
            }
            let gauge = |map: BTreeMap<_, i64>| {
                Snapshot(map.into_iter().map(|(labels, n)| (labels, ConstGauge::new(n))).collect())
            };
            (gauge(by_state), gauge(stalled))
        };
        let leader = Snapshot(
            lock(&self.leader)
                .iter()
                .map(|(lease, leads)| ([("lease", lease.clone())], ConstGauge::new(i64::from(*leads))))
                .collect(),
        );
        let resync = ConstGauge::new(self.resync_seconds.load(Ordering::Relaxed) as i64);

        let usage = budgets.usage();
        let mut tokens = Vec::new();
        let mut queued = [0i64; 2];
        for u in &usage {
            for lane in Lane::ALL {
                let labels = vec![
                    ("account", u.account.clone()),
                    ("region", u.region.clone()),
                    ("pool", u.pool.to_string()),
                    ("lane", lane.name().to_string()),
                ];
                tokens.push((labels, ConstCounter::new(u.taken[lane as usize])));
                queued[lane as usize] += u.waiting[lane as usize] as i64;
            }
        }
        let mut rates = Vec::new();
        for (pool, limit) in budgets.limits().pools() {
            for lane in Lane::ALL {
                let share = if lane == Lane::Drift { budgets.drift_share() } else { 1.0 };
                rates.push((
                    vec![("pool", pool.to_string()), ("lane", lane.name().to_string())],
                    ConstGauge::new(limit.per_second * share),
                ));
            }
        }
        let queue: Vec<_> = Lane::ALL
            .into_iter()
            .map(|lane| (vec![("lane", lane.name().to_string())], ConstGauge::new(queued[lane as usize])))
            .collect();

        let mut registry = Registry::default();
        let mut show = |name: &'static str, help: &'static str, metric: Box<dyn Metric>| {
            registry.register_collector(Box::new(Shown { name, help, metric }));
        };
        show(
            AWS_BUDGET_RATE,
            "Tokens per second of each quota pool's budget, by lane (drift: --drift-budget of it).",
            Box::new(Snapshot(rates)),
        );
        show(
            AWS_BUDGET_TOKENS_TOTAL,
            "Budget tokens taken (one per AWS request) by account, region, quota pool and lane.",
            Box::new(Snapshot(tokens)),
        );
        show(
            AWS_CALLS_TOTAL,
            "AWS Lambda control-plane calls by operation and outcome.",
            Box::new(aws_calls),
        );
        show(
            AWS_THROTTLES_TOTAL,
            "AWS Lambda calls throttled by AWS (TooManyRequests).",
            Box::new(ConstCounter::new(throttles)),
        );
        show(
            DRIFT_CHECKS_TOTAL,
            "Periodic drift checks by result: unchanged (cheap reads matched), changed or full (full observe).",
            Box::new(self.drift_checks.clone()),
        );
        show(
            DRIFT_EVENT_LAG_SECONDS,
            "Seconds from a drift event's eventTime until its check was booked, had read AWS (checked) or had changed something back (repaired).",
            Box::new(self.drift_event_lag.clone()),
        );
        show(
            DRIFT_EVENTS_QUEUE_UP,
            "1 while the drift events queue (--drift-events-queue) can be read, 0 while it cannot (drift is then found by the periodic check only).",
            Box::new(self.drift_events_queue.clone()),
        );
        show(
            DRIFT_EVENTS_RECEIVED_TOTAL,
            "Messages received from the drift events queue.",
            Box::new(self.drift_events_received.clone()),
        );
        show(
            DRIFT_EVENTS_TOTAL,
            "Drift events by result: matched (checks booked), unmatched (no set owns the function), own (the controller's own write), duplicate, ignored (a call that changes nothing a set owns), malformed, abandoned (booking kept failing).",
            Box::new(self.drift_events.clone()),
        );
        show(
            DRIFT_PASS_DURATION_SECONDS,
            "Seconds the last complete drift pass took (every set checked once).",
            Box::new(self.drift_pass_seconds.clone()),
        );
        show(DRIFT_PASSES_TOTAL, "Complete drift passes.", Box::new(self.drift_passes.clone()));
        show(
            LANE_QUEUE_DEPTH,
            "AWS requests waiting for a budget token, by lane (priority, drift).",
            Box::new(Snapshot(queue)),
        );
        show(
            LEADER,
            "1 while this replica leads (holds the Lease named by lease; without --leader-elect, lease is empty and it always leads), 0 while it waits.",
            Box::new(leader),
        );
        show(
            READY_REASONS_TOTAL,
            "Reconciles by the Ready condition reason they ended with.",
            Box::new(self.reasons.clone()),
        );
        show(
            RECONCILE_DURATION_SECONDS,
            "Duration of one reconcile in seconds.",
            Box::new(self.duration.clone()),
        );
        show(
            RECONCILE_ERRORS_TOTAL,
            "Reconciles that ended in an error, by reason.",
            Box::new(self.errors.clone()),
        );
        show(RECONCILES_TOTAL, "Reconciles finished, successful or not.", Box::new(self.reconciles.clone()));
        show(
            RESYNC_SECONDS,
            "The --resync period in seconds: each steady set is checked for drift once per period.",
            Box::new(resync),
        );
        show(
            ROLLOUT_LOOKS_TOTAL,
            "Looks at a held rollout step by result: held (cheap reads and CloudWatch only), full (a full converge followed) or failed.",
            Box::new(self.rollout_looks.clone()),
        );
        show(
            SET_STALLED,
            "1 for each LambdaAliasSet (set: namespace/name) that is Stalled=True, by its Ready reason: a person must act.",
            Box::new(stalled),
        );
        show(SETS, "LambdaAliasSets by phase and Ready status.", Box::new(sets));
        show(
            SMAPI_REQUESTS_TOTAL,
            "Alexa Skill Management API requests by operation and outcome (every attempt, under --smapi-rate).",
            Box::new(self.smapi_requests.clone()),
        );

        let mut out = String::with_capacity(4096);
        if let Err(error) = prometheus_text::encode(&mut out, &registry) {
            // Writing to a String does not fail: an error would be a bug in an encoder, not a
            // reason to stop serving the rest.
            tracing::warn!(%error, "cannot encode the metrics");
        }
        out
    }
}

/// One family with its `# HELP` and `# TYPE` even before its first sample, so that every
/// documented family is on `/metrics` from the start (a registered label family is left out
/// while it is empty).
#[derive(Debug)]
struct Shown {
    /// The exposed name; a counter's goes to the encoder without `_total`, which it adds.
    name: &'static str,
    help: &'static str,
    metric: Box<dyn Metric>,
}

impl Collector for Shown {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let kind = self.metric.metric_type();
        let name = match kind {
            MetricType::Counter => self.name.strip_suffix("_total").unwrap_or(self.name),
            _ => self.name,
        };
        let metric = encoder.encode_descriptor(name, self.help, None, kind)?;
        self.metric.encode(metric)
    }
}

/// Constant samples read at one scrape, in the order given.
#[derive(Debug)]
struct Snapshot<L, M>(Vec<(L, M)>);

impl<L: EncodeLabelSet + fmt::Debug, M: EncodeMetric + TypedMetric + fmt::Debug> EncodeMetric
    for Snapshot<L, M>
{
    fn encode(&self, mut encoder: MetricEncoder) -> fmt::Result {
        for (labels, metric) in &self.0 {
            metric.encode(encoder.encode_family(labels)?)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        M::TYPE
    }
}

/// Times one reconcile from its start to its end, whichever way it ends: it records when it is
/// dropped (the guard of controller-rs's metrics), so the reconcile has one ending.
/// [`ReconcileTimer::ended`] counts the reconcile by the Ready reason it ended with and records
/// its duration; dropped without it (the reconcile failed, and `error_policy` counts it), only the
/// duration is recorded; [`ReconcileTimer::waited`] records nothing, for a steady set that only
/// waited for its drift check (no reconcile ran).
#[must_use = "a timer records when it is dropped"]
pub struct ReconcileTimer<'a> {
    metrics: &'a Metrics,
    started: Instant,
    end: TimerEnd,
}

enum TimerEnd {
    Failed,
    Ended { reason: Reason, error: bool },
    Waited,
}

impl ReconcileTimer<'_> {
    /// The reconcile ended with `reason`; `error`: counted as an error too.
    pub fn ended(mut self, reason: Reason, error: bool) {
        self.end = TimerEnd::Ended { reason, error };
    }

    /// No reconcile ran: the set waits for its turn, and `then` is when it looks again.
    pub fn waited<T>(mut self, then: T) -> T {
        self.end = TimerEnd::Waited;
        then
    }
}

impl Drop for ReconcileTimer<'_> {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        match self.end {
            TimerEnd::Ended { reason, error } => self.metrics.reconciled(elapsed, reason.as_str(), error),
            TimerEnd::Failed => self.metrics.duration.observe(elapsed.as_secs_f64()),
            TimerEnd::Waited => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{AwsError, Operation};

    /// The value of the series `series` (`name` or `name{label="value",...}`, labels in the
    /// exposition's order), if it is there.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    }

    /// The families in the order of their `# TYPE` lines, with their type.
    fn families(text: &str) -> Vec<(&str, &str)> {
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split_once(' ')).collect()
    }

    const DOCUMENTED: [(&str, &str); 22] = [
        (AWS_BUDGET_RATE, "gauge"),
        (AWS_BUDGET_TOKENS_TOTAL, "counter"),
        (AWS_CALLS_TOTAL, "counter"),
        (AWS_THROTTLES_TOTAL, "counter"),
        (DRIFT_CHECKS_TOTAL, "counter"),
        (DRIFT_EVENT_LAG_SECONDS, "histogram"),
        (DRIFT_EVENTS_QUEUE_UP, "gauge"),
        (DRIFT_EVENTS_RECEIVED_TOTAL, "counter"),
        (DRIFT_EVENTS_TOTAL, "counter"),
        (DRIFT_PASS_DURATION_SECONDS, "gauge"),
        (DRIFT_PASSES_TOTAL, "counter"),
        (LANE_QUEUE_DEPTH, "gauge"),
        (LEADER, "gauge"),
        (READY_REASONS_TOTAL, "counter"),
        (RECONCILE_DURATION_SECONDS, "histogram"),
        (RECONCILE_ERRORS_TOTAL, "counter"),
        (RECONCILES_TOTAL, "counter"),
        (RESYNC_SECONDS, "gauge"),
        (ROLLOUT_LOOKS_TOTAL, "counter"),
        (SET_STALLED, "gauge"),
        (SETS, "gauge"),
        (SMAPI_REQUESTS_TOTAL, "counter"),
    ];

    #[test]
    fn every_documented_family_is_present_before_any_sample() {
        let text = Metrics::new().render(&CallCounter::new(), &Budgets::default());
        assert_eq!(families(&text), DOCUMENTED);
        for (name, _) in DOCUMENTED {
            assert_eq!(text.matches(&format!("# HELP {name} ")).count(), 1, "{name}: {text}");
        }
        assert!(text.contains("# HELP lac_reconciles_total Reconciles finished, successful or not.\n"));
        assert_eq!(value(&text, RECONCILES_TOTAL), Some(0.0));
        assert_eq!(value(&text, AWS_THROTTLES_TOTAL), Some(0.0));
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_count"), Some(0.0));
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_bucket{le=\"+Inf\"}"), Some(0.0));
        assert!(!text.lines().any(|l| l.starts_with("lac_sets") || l.starts_with("lac_reconcile_errors")));
        // No counter is exposed with a doubled suffix, and the format is 0.0.4: no `# EOF`.
        assert!(!text.contains("_total_total"), "{text}");
        assert!(!text.contains("# EOF"));
        assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    }

    #[test]
    fn every_documented_family_is_present_when_populated_and_output_is_stable() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(20), "Converged", false);
        metrics.failed("Throttled");
        metrics.set_state("b/two", "Ready", "True", None);
        metrics.smapi_request("GetManifest", "ok");
        metrics.smapi_request("GetManifest", "ok");
        metrics.smapi_request("UpdateManifest", "precondition_failed");
        let calls = CallCounter::new();
        calls.record(Operation::UpdateAlias, "ok");
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(families(&text), DOCUMENTED);
        assert_eq!(text, metrics.render(&calls, &Budgets::default()));
        assert_eq!(
            value(&text, "lac_smapi_requests_total{operation=\"GetManifest\",outcome=\"ok\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(
                &text,
                "lac_smapi_requests_total{operation=\"UpdateManifest\",outcome=\"precondition_failed\"}"
            ),
            Some(1.0)
        );
    }

    #[test]
    fn reconciled_counts_totals_reasons_and_only_errors_as_errors() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(10), "Converged", false);
        metrics.reconciled(Duration::from_millis(10), "Converged", false);
        metrics.reconciled(Duration::from_millis(10), "Draining", false);
        metrics.reconciled(Duration::from_millis(10), "AccessDenied", true);
        metrics.reconciled(Duration::from_millis(10), "InvalidSpec", true);
        let text = metrics.render(&CallCounter::new(), &Budgets::default());

        assert_eq!(value(&text, RECONCILES_TOTAL), Some(5.0));
        assert_eq!(value(&text, "lac_ready_reasons_total{reason=\"Converged\"}"), Some(2.0));
        assert_eq!(value(&text, "lac_ready_reasons_total{reason=\"Draining\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_ready_reasons_total{reason=\"AccessDenied\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_ready_reasons_total{reason=\"InvalidSpec\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_reconcile_errors_total{reason=\"AccessDenied\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_reconcile_errors_total{reason=\"InvalidSpec\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_reconcile_errors_total{reason=\"Converged\"}"), None);
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_count"), Some(5.0));
    }

    #[test]
    fn failed_counts_the_error_without_a_duration_sample() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(300), "Converged", false);
        metrics.failed("Throttled");
        metrics.failed("Throttled");
        let text = metrics.render(&CallCounter::new(), &Budgets::default());
        assert_eq!(value(&text, RECONCILES_TOTAL), Some(3.0));
        assert_eq!(value(&text, "lac_reconcile_errors_total{reason=\"Throttled\"}"), Some(2.0));
        assert_eq!(value(&text, "lac_ready_reasons_total{reason=\"Throttled\"}"), Some(2.0));
        // Only the reconcile that ran has a sample: no zero-second samples for the failures.
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_count"), Some(1.0));
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_bucket{le=\"0.05\"}"), Some(0.0));
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_sum"), Some(0.3));
    }

    #[test]
    fn histogram_buckets_are_todays_cumulative_and_inclusive() {
        let metrics = Metrics::new();
        let observations_ms = [10, 50, 51, 200, 700, 3_000, 3_000, 12_000, 45_000, 120_000];
        for ms in observations_ms {
            metrics.reconciled(Duration::from_millis(ms), "Converged", false);
        }
        let text = metrics.render(&CallCounter::new(), &Budgets::default());
        let buckets: Vec<&str> =
            text.lines().filter(|l| l.starts_with("lac_reconcile_duration_seconds_bucket")).collect();
        // The bounds print as before (`1`, not `1.0`), so every `le` series keeps its identity.
        assert_eq!(
            buckets,
            [
                "lac_reconcile_duration_seconds_bucket{le=\"0.05\"} 2", // 10 and 50 ms: inclusive
                "lac_reconcile_duration_seconds_bucket{le=\"0.1\"} 3",
                "lac_reconcile_duration_seconds_bucket{le=\"0.25\"} 4",
                "lac_reconcile_duration_seconds_bucket{le=\"0.5\"} 4",
                "lac_reconcile_duration_seconds_bucket{le=\"1\"} 5",
                "lac_reconcile_duration_seconds_bucket{le=\"2.5\"} 5",
                "lac_reconcile_duration_seconds_bucket{le=\"5\"} 7",
                "lac_reconcile_duration_seconds_bucket{le=\"10\"} 7",
                "lac_reconcile_duration_seconds_bucket{le=\"30\"} 8",
                "lac_reconcile_duration_seconds_bucket{le=\"+Inf\"} 10",
            ]
        );
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_count"), Some(10.0));
        let sum = value(&text, "lac_reconcile_duration_seconds_sum").unwrap();
        let expected_sum = observations_ms.iter().sum::<u64>() as f64 / 1000.0;
        assert!((sum - expected_sum).abs() < 1e-9, "{sum} != {expected_sum}");
    }

    #[test]
    fn set_state_and_forget_update_the_gauge_of_sets() {
        let metrics = Metrics::new();
        let calls = CallCounter::new();
        metrics.set_state("ns/a", "Ready", "True", None);
        metrics.set_state("ns/b", "Ready", "True", None);
        metrics.set_state("ns/c", "Progressing", "False", None);
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(value(&text, "lac_sets{phase=\"Ready\",ready=\"True\"}"), Some(2.0));
        assert_eq!(value(&text, "lac_sets{phase=\"Progressing\",ready=\"False\"}"), Some(1.0));

        // A set moves: it is counted once, under its new state.
        metrics.set_state("ns/c", "Ready", "True", None);
        metrics.set_state("ns/c", "Ready", "True", None);
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(value(&text, "lac_sets{phase=\"Ready\",ready=\"True\"}"), Some(3.0));
        assert_eq!(value(&text, "lac_sets{phase=\"Progressing\",ready=\"False\"}"), None);

        metrics.forget("ns/a");
        metrics.forget("ns/unknown");
        let text = metrics.render(&calls, &Budgets::default());
        assert!(text.contains("lac_sets{phase=\"Ready\",ready=\"True\"} 2\n"), "{text}");
        metrics.forget("ns/b");
        metrics.forget("ns/c");
        let text = metrics.render(&calls, &Budgets::default());
        assert!(text.contains("# TYPE lac_sets gauge\n"));
        assert!(!text.lines().any(|l| l.starts_with("lac_sets")), "{text}");
    }

    #[test]
    fn stalled_sets_leadership_and_the_resync_period_have_gauges() {
        let metrics = Metrics::new();
        let calls = CallCounter::new();
        let stalled_lines = |text: &str| -> Vec<String> {
            text.lines().filter(|l| l.starts_with("lac_set_stalled")).map(str::to_string).collect()
        };
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(value(&text, RESYNC_SECONDS), Some(0.0));
        assert!(
            !text.lines().any(|l| l.starts_with("lac_leader") || l.starts_with("lac_set_stalled")),
            "{text}"
        );

        metrics.resync(Duration::from_secs(300));
        metrics.leading("lambda-alias-controller", false);
        metrics.set_state("ns/a", "Development", "False", Some("InvalidSpec"));
        metrics.set_state("ns/b", "Certified", "False", Some("RolledBack"));
        metrics.set_state("ns/c", "Certified", "True", None);
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(value(&text, RESYNC_SECONDS), Some(300.0));
        assert_eq!(value(&text, "lac_leader{lease=\"lambda-alias-controller\"}"), Some(0.0));
        assert_eq!(
            stalled_lines(&text),
            [
                "lac_set_stalled{set=\"ns/a\",reason=\"InvalidSpec\"} 1",
                "lac_set_stalled{set=\"ns/b\",reason=\"RolledBack\"} 1",
            ]
        );
        assert_eq!(value(&text, "lac_sets{phase=\"Certified\",ready=\"False\"}"), Some(1.0));

        // A set that recovers leaves the gauge; a new reason replaces the old one.
        metrics.set_state("ns/a", "Development", "True", None);
        metrics.set_state("ns/b", "Certified", "False", Some("WarmupFailed"));
        metrics.leading("lambda-alias-controller", true);
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(stalled_lines(&text), ["lac_set_stalled{set=\"ns/b\",reason=\"WarmupFailed\"} 1"]);
        assert_eq!(value(&text, "lac_leader{lease=\"lambda-alias-controller\"}"), Some(1.0));

        // A set that goes leaves it too; without leader election the Lease is empty.
        metrics.forget("ns/b");
        metrics.leading("", true);
        let text = metrics.render(&calls, &Budgets::default());
        assert_eq!(stalled_lines(&text), Vec::<String>::new());
        assert_eq!(value(&text, "lac_leader{lease=\"\"}"), Some(1.0));
        assert_eq!(text.lines().filter(|l| l.starts_with("lac_leader")).count(), 1, "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        let nasty = "a\\b\"c\nd";
        metrics.reconciled(Duration::ZERO, nasty, true);
        metrics.set_state("ns/x", nasty, "Unknown", Some(nasty));
        let text = metrics.render(&CallCounter::new(), &Budgets::default());
        let escaped = "a\\\\b\\\"c\\nd";
        assert!(text.contains(&format!("lac_ready_reasons_total{{reason=\"{escaped}\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("lac_reconcile_errors_total{{reason=\"{escaped}\"}} 1\n")), "{text}");
        assert!(text.contains(&format!("lac_sets{{phase=\"{escaped}\",ready=\"Unknown\"}} 1\n")), "{text}");
        assert!(
            text.contains(&format!("lac_set_stalled{{set=\"ns/x\",reason=\"{escaped}\"}} 1\n")),
            "{text}"
        );
        // Every line is one sample or one comment: no raw newline escaped the quotes.
        assert!(text.lines().all(|l| l.starts_with('#') || l.starts_with("lac_")), "{text}");
    }

    #[test]
    fn aws_calls_and_throttles_come_from_the_call_counter() {
        let calls = CallCounter::new();
        calls.record(Operation::GetFunction, "ok");
        calls.record(Operation::GetFunction, "ok");
        calls.record(Operation::GetFunction, THROTTLED_OUTCOME);
        calls.record(Operation::UpdateAlias, THROTTLED_OUTCOME);
        calls.record(Operation::UpdateAlias, "PreconditionFailed");
        let text = Metrics::new().render(&calls, &Budgets::default());
        let series = |op: &str, outcome: &str| {
            value(&text, &format!("lac_aws_calls_total{{operation=\"{op}\",outcome=\"{outcome}\"}}"))
        };
        assert_eq!(series("GetFunction", "ok"), Some(2.0));
        assert_eq!(series("GetFunction", "Throttled"), Some(1.0));
        assert_eq!(series("UpdateAlias", "Throttled"), Some(1.0));
        assert_eq!(series("UpdateAlias", "PreconditionFailed"), Some(1.0));
        assert!(text.contains(
            "# HELP lac_aws_calls_total AWS Lambda control-plane calls by operation and outcome.\n\
             # TYPE lac_aws_calls_total counter\n"
        ));
        assert!(text.contains("# TYPE lac_aws_throttles_total counter\nlac_aws_throttles_total 2\n"));
    }

    #[test]
    fn throttled_outcome_is_the_aws_error_reason() {
        let error = AwsError::Throttled { operation: Operation::GetFunction, retry_after: None };
        assert_eq!(error.reason().as_str(), THROTTLED_OUTCOME);
    }

    #[test]
    fn metrics_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
        let metrics = std::sync::Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        metrics.reconciled(Duration::from_millis(1), "Converged", false);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let text = metrics.render(&CallCounter::new(), &Budgets::default());
        assert_eq!(value(&text, RECONCILES_TOTAL), Some(400.0));
        assert_eq!(value(&text, "lac_reconcile_duration_seconds_count"), Some(400.0));
    }

    #[test]
    fn the_timer_records_every_reconcile_once_whichever_way_it_ends() {
        let metrics = Metrics::new();
        metrics.timer().ended(Reason::Converged, false);
        metrics.timer().ended(Reason::AccessDenied, true);
        drop(metrics.timer()); // failed: error_policy counts it
        let action = metrics.timer().waited(7);
        assert_eq!(action, 7);
        let text = metrics.render(&CallCounter::new(), &Budgets::default());
        assert_eq!(value(&text, RECONCILES_TOTAL), Some(2.0), "counted by the reason they ended with");
        assert_eq!(value(&text, "lac_ready_reasons_total{reason=\"Converged\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_reconcile_errors_total{reason=\"AccessDenied\"}"), Some(1.0));
        assert_eq!(value(&text, "lac_reconcile_errors_total{reason=\"Converged\"}"), None);
        assert_eq!(
            value(&text, "lac_reconcile_duration_seconds_count"),
            Some(3.0),
            "the failed one is timed too"
        );
    }
}

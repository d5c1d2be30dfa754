//! The controller's Prometheus metrics, served on `/metrics` (DESIGN §3 `--http-addr`).
//!
//! Rendered by hand in the text exposition format 0.0.4: a handful of counters, one histogram
//! and one gauge do not justify the `prometheus` crate. Every family carries `# HELP` and
//! `# TYPE`; families come in name order and samples in label order, so the output is stable
//! (diffable, and easy to assert on in tests).

use std::collections::{BTreeMap, HashMap};
use std::fmt::{Display, Write as _};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::aws::budget::CallCounter;

/// Upper bounds (seconds) of the reconcile duration histogram, without the implicit `+Inf`.
/// From a no-op drift check (tens of ms) to a slow, throttled multi-step rollout.
pub const DURATION_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The outcome label [`CallCounter`] records for a throttled call (`AwsError::reason()`).
pub const THROTTLED_OUTCOME: &str = "Throttled";

/// Metric family names, so that the controller, tests and dashboards agree on them.
pub const AWS_CALLS_TOTAL: &str = "lac_aws_calls_total";
pub const AWS_THROTTLES_TOTAL: &str = "lac_aws_throttles_total";
pub const READY_REASONS_TOTAL: &str = "lac_ready_reasons_total";
pub const RECONCILE_DURATION_SECONDS: &str = "lac_reconcile_duration_seconds";
pub const RECONCILE_ERRORS_TOTAL: &str = "lac_reconcile_errors_total";
pub const RECONCILES_TOTAL: &str = "lac_reconciles_total";
pub const SETS: &str = "lac_sets";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Counters stay meaningful after a panic elsewhere while the lock was held: keep serving them.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The controller's metrics. Cheap to update from every reconcile; shared behind an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    // One lock for everything: updates are a few map operations, and a single lock makes each
    // render a consistent snapshot (e.g. `_count` always equals `lac_reconciles_total`).
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    reconciles: u64,
    errors: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
    duration: Histogram,
    /// key ("namespace/name") -> (phase, ready).
    sets: HashMap<String, (String, String)>,
}

#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket, not cumulative (the last slot is above every bound); cumulated
    /// when rendered so that an observation costs one increment.
    counts: [u64; DURATION_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        // Bounds are inclusive (`le`); the position is always found for finite values, and the
        // overflow slot takes anything else.
        let slot =
            DURATION_BUCKETS.iter().position(|bound| seconds <= *bound).unwrap_or(DURATION_BUCKETS.len());
        self.counts[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    /// One reconcile finished: duration, the Ready reason it ended with (e.g. "Converged",
    /// "Draining", "InvalidSpec", "AccessDenied"), and whether it was an error.
    pub fn reconciled(&self, duration: Duration, reason: &str, error: bool) {
        let mut inner = lock(&self.inner);
        inner.reconciles += 1;
        *inner.reasons.entry(reason.to_string()).or_insert(0) += 1;
        if error {
            *inner.errors.entry(reason.to_string()).or_insert(0) += 1;
        }
        inner.duration.observe(duration.as_secs_f64());
    }

    /// A reconcile failed on the Kubernetes side (or a cleanup on AWS's): counted with its
    /// reason, without a duration sample (`error_policy` does not know how long it ran).
    pub fn failed(&self, reason: &str) {
        let mut inner = lock(&self.inner);
        inner.reconciles += 1;
        *inner.reasons.entry(reason.to_string()).or_insert(0) += 1;
        *inner.errors.entry(reason.to_string()).or_insert(0) += 1;
    }

    /// The current phase and readiness of one set (key = "namespace/name"), for the gauge of
    /// sets by phase and readiness.
    pub fn set_state(&self, key: &str, phase: &str, ready: &str) {
        let mut inner = lock(&self.inner);
        match inner.sets.get_mut(key) {
            // The common case on every resync: nothing changed, allocate nothing.
            Some(state) if state.0 == phase && state.1 == ready => {}
            Some(state) => *state = (phase.to_string(), ready.to_string()),
            None => {
                inner.sets.insert(key.to_string(), (phase.to_string(), ready.to_string()));
            }
        }
    }

    /// The set is gone (deleted, or no longer watched): it leaves the gauge.
    pub fn forget(&self, key: &str) {
        lock(&self.inner).sets.remove(key);
    }

    /// Every metric, AWS calls included, in the Prometheus text format 0.0.4.
    pub fn render(&self, calls: &CallCounter) -> String {
        // Read the call counter before taking our own lock: never hold two locks at once.
        let aws_calls = calls.render_prometheus(AWS_CALLS_TOTAL);
        let throttles: u64 = calls
            .snapshot()
            .iter()
            .filter(|((_, outcome), _)| outcome == THROTTLED_OUTCOME)
            .map(|(_, n)| *n)
            .sum();

        let inner = lock(&self.inner);
        let mut out = String::with_capacity(4096);

        // Families in name order.
        out.push_str(&aws_calls);

        family(
            &mut out,
            AWS_THROTTLES_TOTAL,
            "counter",
            "AWS Lambda calls throttled by AWS (TooManyRequests).",
        );
        sample(&mut out, AWS_THROTTLES_TOTAL, &[], throttles);

        family(
            &mut out,
            READY_REASONS_TOTAL,
            "counter",
            "Reconciles by the Ready condition reason they ended with.",
        );
        for (reason, n) in &inner.reasons {
            sample(&mut out, READY_REASONS_TOTAL, &[("reason", reason)], n);
        }

        family(&mut out, RECONCILE_DURATION_SECONDS, "histogram", "Duration of one reconcile in seconds.");
        let bucket_name = format!("{RECONCILE_DURATION_SECONDS}_bucket");
        let mut cumulative = 0;
        for (bound, n) in DURATION_BUCKETS.iter().zip(&inner.duration.counts) {
            cumulative += n;
            // f64's Display never uses an exponent: 0.05, 1, 2.5, 30.
            sample(&mut out, &bucket_name, &[("le", &bound.to_string())], cumulative);
        }
        sample(&mut out, &bucket_name, &[("le", "+Inf")], inner.duration.count);
        sample(&mut out, &format!("{RECONCILE_DURATION_SECONDS}_sum"), &[], inner.duration.sum);
        sample(&mut out, &format!("{RECONCILE_DURATION_SECONDS}_count"), &[], inner.duration.count);

        family(&mut out, RECONCILE_ERRORS_TOTAL, "counter", "Reconciles that ended in an error, by reason.");
        for (reason, n) in &inner.errors {
            sample(&mut out, RECONCILE_ERRORS_TOTAL, &[("reason", reason)], n);
        }

        family(&mut out, RECONCILES_TOTAL, "counter", "Reconciles finished, successful or not.");
        sample(&mut out, RECONCILES_TOTAL, &[], inner.reconciles);

        family(&mut out, SETS, "gauge", "LambdaAliasSets by phase and Ready status.");
        let mut by_state: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (phase, ready) in inner.sets.values() {
            *by_state.entry((phase, ready)).or_insert(0) += 1;
        }
        for ((phase, ready), n) in by_state {
            sample(&mut out, SETS, &[("phase", phase), ("ready", ready)], n);
        }

        out
    }
}

/// The `# HELP` and `# TYPE` lines of one family (help texts are constants without `\` or newline).
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    // Writing to a String cannot fail.
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// One sample line: `name{label="value",...} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, value)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(label);
            out.push_str("=\"");
            escape_label_value(out, value);
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and line feed (exposition format 0.0.4); reasons
/// and phases are ours, but a set's status could carry anything.
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{AwsError, Operation};

    /// One parsed sample line.
    #[derive(Debug, PartialEq)]
    struct Sample {
        name: String,
        labels: Labels,
        value: f64,
    }

    fn is_name_start(c: char) -> bool {
        c.is_ascii_alphabetic() || c == '_' || c == ':'
    }

    fn is_name_char(c: char) -> bool {
        is_name_start(c) || c.is_ascii_digit()
    }

    fn parse_name(s: &str) -> Result<(&str, &str), String> {
        let mut chars = s.char_indices();
        match chars.next() {
            Some((_, c)) if is_name_start(c) => {}
            _ => return Err(format!("bad metric name at {s:?}")),
        }
        let end = chars.find(|(_, c)| !is_name_char(*c)).map_or(s.len(), |(i, _)| i);
        Ok((&s[..end], &s[end..]))
    }

    fn parse_value(s: &str) -> Result<f64, String> {
        match s {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => s.parse::<f64>().map_err(|e| format!("bad value {s:?}: {e}")),
        }
    }

    type Labels = Vec<(String, String)>;

    /// `{a="x",b="y"}` -> labels and the rest of the line.
    fn parse_labels(mut s: &str) -> Result<(Labels, &str), String> {
        let mut labels = Vec::new();
        s = s.strip_prefix('{').ok_or("expected {")?;
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((labels, rest));
        }
        loop {
            let (label, rest) = parse_name(s)?;
            s = rest.strip_prefix("=\"").ok_or_else(|| format!("expected =\" after {label}"))?;
            let mut value = String::new();
            let mut chars = s.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, '\n')) => return Err("raw newline in label value".into()),
                    Some((_, c)) => value.push(c),
                    None => return Err("unterminated label value".into()),
                }
            };
            if labels.iter().any(|(l, _)| l == label) {
                return Err(format!("duplicate label {label}"));
            }
            labels.push((label.to_string(), value));
            s = &s[end + 1..];
            if let Some(rest) = s.strip_prefix(',') {
                s = rest;
            } else if let Some(rest) = s.strip_prefix('}') {
                return Ok((labels, rest));
            } else {
                return Err(format!("expected , or }} at {s:?}"));
            }
        }
    }

    /// A small checker of the text format: every line is HELP, TYPE or `name{labels} value`;
    /// each family has HELP and TYPE once, before its samples, and its samples are contiguous.
    fn parse(text: &str) -> Result<Vec<Sample>, String> {
        assert!(text.ends_with('\n'), "the exposition ends with a newline");
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut helps: BTreeMap<String, ()> = BTreeMap::new();
        let mut closed: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        let mut samples = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = parse_name(rest).map_err(at)?;
                if !help.starts_with(' ') || helps.insert(name.to_string(), ()).is_some() {
                    return Err(at("bad or duplicate HELP".into()));
                }
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = parse_name(rest).map_err(at)?;
                let kind = kind.strip_prefix(' ').ok_or_else(|| at("TYPE without type".into()))?;
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(at(format!("unknown type {kind}")));
                }
                if types.insert(name.to_string(), kind.to_string()).is_some() {
                    return Err(at("duplicate TYPE".into()));
                }
                if !helps.contains_key(name) {
                    return Err(at("TYPE before HELP".into()));
                }
                if let Some(previous) = current.replace(name.to_string()) {
                    closed.push(previous);
                }
            } else if line.starts_with('#') || line.is_empty() {
                return Err(at("unexpected comment or blank line".into()));
            } else {
                let (name, rest) = parse_name(line).map_err(at)?;
                let (labels, rest) =
                    if rest.starts_with('{') { parse_labels(rest).map_err(at)? } else { (Vec::new(), rest) };
                let value =
                    rest.strip_prefix(' ').ok_or_else(|| at("expected a space before the value".into()))?;
                let value = parse_value(value).map_err(at)?;
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .filter_map(|suffix| name.strip_suffix(suffix))
                    .find(|base| types.get(*base).is_some_and(|k| k == "histogram"))
                    .unwrap_or(name);
                if current.as_deref() != Some(family) || closed.iter().any(|c| c == family) {
                    return Err(at(format!("sample of {family} outside its family")));
                }
                samples.push(Sample { name: name.to_string(), labels, value });
            }
        }
        Ok(samples)
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(l, v)| s.labels.iter().any(|(sl, sv)| sl == l && sv == v))
            })
            .map(|s| s.value)
    }

    fn families(text: &str) -> Vec<&str> {
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.split(' ').next()).collect()
    }

    #[test]
    fn empty_metrics_render_every_family_and_parse() {
        let text = Metrics::new().render(&CallCounter::new());
        let samples = parse(&text).unwrap();
        assert_eq!(
            families(&text),
            [
                AWS_CALLS_TOTAL,
                AWS_THROTTLES_TOTAL,
                READY_REASONS_TOTAL,
                RECONCILE_DURATION_SECONDS,
                RECONCILE_ERRORS_TOTAL,
                RECONCILES_TOTAL,
                SETS
            ]
        );
        assert_eq!(value(&samples, RECONCILES_TOTAL, &[]), Some(0.0));
        assert_eq!(value(&samples, AWS_THROTTLES_TOTAL, &[]), Some(0.0));
        assert_eq!(value(&samples, "lac_reconcile_duration_seconds_count", &[]), Some(0.0));
        assert_eq!(value(&samples, "lac_reconcile_duration_seconds_bucket", &[("le", "+Inf")]), Some(0.0));
        assert!(!samples.iter().any(|s| s.name == SETS || s.name == RECONCILE_ERRORS_TOTAL));
    }

    #[test]
    fn families_are_sorted_and_output_is_stable() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(20), "Converged", false);
        metrics.set_state("b/two", "Ready", "True");
        metrics.set_state("a/one", "Progressing", "False");
        let calls = CallCounter::new();
        calls.record(Operation::UpdateAlias, "ok");
        let first = metrics.render(&calls);
        assert_eq!(first, metrics.render(&calls));
        let names = families(&first);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }

    #[test]
    fn reconciled_counts_totals_reasons_and_only_errors_as_errors() {
        let metrics = Metrics::new();
        metrics.reconciled(Duration::from_millis(10), "Converged", false);
        metrics.reconciled(Duration::from_millis(10), "Converged", false);
        metrics.reconciled(Duration::from_millis(10), "Draining", false);
        metrics.reconciled(Duration::from_millis(10), "AccessDenied", true);
        metrics.reconciled(Duration::from_millis(10), "InvalidSpec", true);
        let text = metrics.render(&CallCounter::new());
        let samples = parse(&text).unwrap();

        assert_eq!(value(&samples, RECONCILES_TOTAL, &[]), Some(5.0));
        assert_eq!(value(&samples, READY_REASONS_TOTAL, &[("reason", "Converged")]), Some(2.0));
        assert_eq!(value(&samples, READY_REASONS_TOTAL, &[("reason", "Draining")]), Some(1.0));
        assert_eq!(value(&samples, READY_REASONS_TOTAL, &[("reason", "AccessDenied")]), Some(1.0));
        assert_eq!(value(&samples, READY_REASONS_TOTAL, &[("reason", "InvalidSpec")]), Some(1.0));
        assert_eq!(value(&samples, RECONCILE_ERRORS_TOTAL, &[("reason", "AccessDenied")]), Some(1.0));
        assert_eq!(value(&samples, RECONCILE_ERRORS_TOTAL, &[("reason", "InvalidSpec")]), Some(1.0));
        assert_eq!(value(&samples, RECONCILE_ERRORS_TOTAL, &[("reason", "Converged")]), None);
        assert!(text.contains(
            "lac_reconcile_errors_total{reason=\"AccessDenied\"} 1\n\
             lac_reconcile_errors_total{reason=\"InvalidSpec\"} 1\n"
        ));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_count_matches_observations() {
        let metrics = Metrics::new();
        let observations_ms = [10, 50, 51, 200, 700, 3_000, 3_000, 12_000, 45_000, 120_000];
        for ms in observations_ms {
            metrics.reconciled(Duration::from_millis(ms), "Converged", false);
        }
        let samples = parse(&metrics.render(&CallCounter::new())).unwrap();
        let buckets: Vec<(String, f64)> = samples
            .iter()
            .filter(|s| s.name == "lac_reconcile_duration_seconds_bucket")
            .map(|s| (s.labels[0].1.clone(), s.value))
            .collect();
        let expected = [
            ("0.05", 2.0), // 10 ms and 50 ms: bounds are inclusive
            ("0.1", 3.0),
            ("0.25", 4.0),
            ("0.5", 4.0),
            ("1", 5.0),
            ("2.5", 5.0),
            ("5", 7.0),
            ("10", 7.0),
            ("30", 8.0),
            ("+Inf", 10.0),
        ];
        assert_eq!(buckets, expected.map(|(le, n)| (le.to_string(), n)));
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "cumulative");
        let count = value(&samples, "lac_reconcile_duration_seconds_count", &[]);
        assert_eq!(count, Some(observations_ms.len() as f64));
        assert_eq!(count, value(&samples, "lac_reconcile_duration_seconds_bucket", &[("le", "+Inf")]));
        let sum = value(&samples, "lac_reconcile_duration_seconds_sum", &[]).unwrap();
        let expected_sum = observations_ms.iter().sum::<u64>() as f64 / 1000.0;
        assert!((sum - expected_sum).abs() < 1e-9, "{sum} != {expected_sum}");
    }

    #[test]
    fn set_state_and_forget_update_the_gauge() {
        let metrics = Metrics::new();
        let calls = CallCounter::new();
        metrics.set_state("ns/a", "Ready", "True");
        metrics.set_state("ns/b", "Ready", "True");
        metrics.set_state("ns/c", "Progressing", "False");
        let samples = parse(&metrics.render(&calls)).unwrap();
        assert_eq!(value(&samples, SETS, &[("phase", "Ready"), ("ready", "True")]), Some(2.0));
        assert_eq!(value(&samples, SETS, &[("phase", "Progressing"), ("ready", "False")]), Some(1.0));

        // A set moves: it is counted once, under its new state.
        metrics.set_state("ns/c", "Ready", "True");
        metrics.set_state("ns/c", "Ready", "True");
        let samples = parse(&metrics.render(&calls)).unwrap();
        assert_eq!(value(&samples, SETS, &[("phase", "Ready"), ("ready", "True")]), Some(3.0));
        assert_eq!(value(&samples, SETS, &[("phase", "Progressing"), ("ready", "False")]), None);

        metrics.forget("ns/a");
        metrics.forget("ns/unknown");
        let text = metrics.render(&calls);
        assert!(text.contains("lac_sets{phase=\"Ready\",ready=\"True\"} 2\n"), "{text}");
        metrics.forget("ns/b");
        metrics.forget("ns/c");
        let samples = parse(&metrics.render(&calls)).unwrap();
        assert!(!samples.iter().any(|s| s.name == SETS));
    }

    #[test]
    fn label_values_are_escaped() {
        let metrics = Metrics::new();
        let nasty = "a\\b\"c\nd";
        metrics.reconciled(Duration::ZERO, nasty, true);
        metrics.set_state("ns/x", nasty, "Unknown");
        let text = metrics.render(&CallCounter::new());
        assert!(text.contains("lac_ready_reasons_total{reason=\"a\\\\b\\\"c\\nd\"} 1\n"), "{text}");
        assert!(text.contains("lac_sets{phase=\"a\\\\b\\\"c\\nd\",ready=\"Unknown\"} 1\n"), "{text}");
        // And it round-trips through the checker.
        let samples = parse(&text).unwrap();
        assert_eq!(value(&samples, RECONCILE_ERRORS_TOTAL, &[("reason", nasty)]), Some(1.0));
        assert_eq!(value(&samples, SETS, &[("phase", nasty), ("ready", "Unknown")]), Some(1.0));
    }

    #[test]
    fn aws_calls_and_throttles_are_rendered() {
        let calls = CallCounter::new();
        calls.record(Operation::GetFunction, "ok");
        calls.record(Operation::GetFunction, "ok");
        calls.record(Operation::GetFunction, THROTTLED_OUTCOME);
        calls.record(Operation::UpdateAlias, THROTTLED_OUTCOME);
        calls.record(Operation::UpdateAlias, "PreconditionFailed");
        let text = Metrics::new().render(&calls);
        let samples = parse(&text).unwrap();
        assert_eq!(
            value(&samples, AWS_CALLS_TOTAL, &[("operation", "GetFunction"), ("outcome", "ok")]),
            Some(2.0)
        );
        assert_eq!(
            value(&samples, AWS_CALLS_TOTAL, &[("operation", "UpdateAlias"), ("outcome", "Throttled")]),
            Some(1.0)
        );
        assert_eq!(value(&samples, AWS_THROTTLES_TOTAL, &[]), Some(2.0));
        assert!(text.starts_with("# HELP lac_aws_calls_total "), "{text}");
        assert!(text.contains("# TYPE lac_aws_throttles_total counter\nlac_aws_throttles_total 2\n"));
    }

    #[test]
    fn throttled_outcome_is_the_aws_error_reason() {
        let error = AwsError::Throttled { operation: Operation::GetFunction, retry_after: None };
        assert_eq!(error.reason(), THROTTLED_OUTCOME);
    }

    #[test]
    fn every_line_parses_when_populated() {
        let metrics = Metrics::new();
        for (i, reason) in ["Converged", "Draining", "InvalidSpec", "AccessDenied"].iter().enumerate() {
            metrics.reconciled(Duration::from_millis(37 * i as u64 + 1), reason, i >= 2);
            metrics.set_state(&format!("ns/s{i}"), if i % 2 == 0 { "Ready" } else { "Draining" }, "True");
        }
        let calls = CallCounter::new();
        for op in Operation::ALL {
            calls.record(op, "ok");
        }
        let text = metrics.render(&calls);
        let samples = parse(&text).unwrap();
        assert_eq!(samples.len(), text.lines().filter(|l| !l.starts_with('#')).count());
        assert!(samples.iter().all(|s| s.value.is_finite() && s.value >= 0.0));
    }

    #[test]
    fn checker_rejects_malformed_lines() {
        let head = "# HELP m x\n# TYPE m counter\n";
        for bad in [
            "m 1 2\n",
            "m{a=\"x} 1\n",
            "m{a=x} 1\n",
            "m{a=\"\\t\"} 1\n",
            "1m 1\n",
            "m{a=\"x\",a=\"y\"} 1\n",
            "n 1\n",
            "m\n",
        ] {
            assert!(parse(&format!("{head}{bad}")).is_err(), "{bad:?} accepted");
        }
        assert!(parse(&format!("{head}m{{a=\"x\\\"\"}} 1\n")).is_ok());
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
        let samples = parse(&metrics.render(&CallCounter::new())).unwrap();
        assert_eq!(value(&samples, RECONCILES_TOTAL, &[]), Some(400.0));
        assert_eq!(value(&samples, "lac_reconcile_duration_seconds_count", &[]), Some(400.0));
    }
}

//! The phases of a run against the controller child: (a) bootstrap, (b) one drift pass, (c) spec
//! changes during the next, then (d, e) throttles, memory and CPU.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_alias_controller::aws::budget::Lane;
use serde_json::{Value, json};

use crate::handle::{Controller, measure_alone};
use crate::measure::{MemoryTrack, Queues, Snapshot, Window, both, per_pool, pools_json};
use crate::probe::{self, Scrape};
use crate::report::{Report, Verdict, duration, mib, percentile};
use crate::sim::{CLASSES, POOLS, SimStats};
use crate::{Knobs, cluster, say, sets};

/// What every phase reads and writes.
pub struct Run {
    pub knobs: Knobs,
    pub client: kube::Client,
    pub ctl: Controller,
    pub tracker: cluster::Tracker,
    pub report: Report,
    pub memory_track: MemoryTrack,
    /// When the controller said it was ready, and the counts then (all zero).
    pub t0: Instant,
    pub zero: Snapshot,
    pub cpu0: f64,
    /// The simulated AWS measured alone (the `memory` child's report).
    pub sim_memory: Value,
    /// Whether the API server is ours (wiped at the end) or a cluster to leave clean.
    pub own_server: bool,
    /// Whether the bootstrap converged.
    pub booted: bool,
    /// The drift pass measured, if one was.
    pub pass: Option<PassFigures>,
}

/// The drift pass measured (b), for the phases after it.
#[derive(Clone, Copy, Debug)]
pub struct PassFigures {
    /// Wall seconds.
    pub seconds: f64,
    /// Shared-pool calls per set in the pass (`lac_aws_calls_total`), every lane.
    pub shared_per_set: f64,
}

/// (a) From the controller's start until the watch shows every set converged: the time against
/// the quota bound, calls per set, the budget's queues. The time (wall seconds), if it converged.
pub async fn bootstrap(run: &mut Run) -> Result<Option<f64>, String> {
    let Run { knobs, ctl, tracker, report, memory_track, .. } = run;
    let (t0, zero) = (run.t0, &run.zero);
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
    let boot = Window::between(zero, &after_boot);
    let bound = (0..3).map(|p| boot.calls[p] / rates[p]).fold(0.0, f64::max);
    let (measured, verdict) = match booted {
        Some(s) => (both(s, knobs.scale), Verdict::of(s <= 1.1 * bound)),
        None => {
            let why = if stalled {
                format!("stalled (none converged in {})", duration(stall_limit.as_secs_f64()))
            } else {
                "not converged".to_string()
            };
            let (done, never) = (tracker.converged(), tracker.without_status());
            let after = duration(t0.elapsed().as_secs_f64());
            (format!("{why} after {after} ({done} of {}; {never} never reconciled)", knobs.n), Verdict::Fail)
        }
    };
    report.row(
        format!("bootstrap: time to converge {} sets", knobs.n),
        measured,
        format!("<= 1.1 x {} (calls made / budget; at 6 a set: {})", duration(bound), duration(min_bound)),
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
    say(format!("bootstrap: {}", booted.map_or("not converged".to_string(), duration)));
    Ok(booted)
}

/// Which complete drift pass after the bootstrap is measured (1: the first).
const MEASURED_PASS: usize = 2;
/// How often the drift phase reads the controller's metrics and the simulated AWS's counts.
const POLL: Duration = Duration::from_millis(500);

/// (b) Waits for the second complete drift pass and measures it: by `lac_drift_passes_total` (between
/// two increments) when the controller reports passes, else from the simulated AWS's side (from
/// a mark until every function was read again). The pass's duration and calls, if any.
pub async fn drift_pass(run: &mut Run) -> Result<Option<PassFigures>, String> {
    let Run { knobs, ctl, report, memory_track, .. } = run;
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
        tokio::time::sleep(POLL).await;
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
        // The pass measured is the second complete one after the mark: in the first, sets
        // booked during the bootstrap still sit at their phase in the pass; from the second on,
        // each set's check is booked exactly one pass after its last one (the steady state).
        if ends.len() > MEASURED_PASS {
            break Some((
                "lac_drift_passes_total",
                Window::between(&ends[MEASURED_PASS - 1], &ends[MEASURED_PASS]),
                Some(ends[MEASURED_PASS].1.sum("lac_drift_pass_duration_seconds", &[])),
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
    let per_check: [f64; 3] = std::array::from_fn(|p| w.calls[p] / checks.max(1.0));
    report.row(
        "drift pass: calls per drift check (all sets)",
        per_pool(per_check),
        "",
        Verdict::Info,
        json!(pools_json(per_check)),
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
    // The window's ends are polled, so checks of the passes on either side can fall in or out
    // of it: as many as the drift lane checks in two polling intervals.
    let edge = 2.0 * POLL.as_secs_f64() * checks / w.seconds.max(f64::MIN_POSITIVE);
    for (class, limit) in [(0, 1.0), (1, 2.0)] {
        let size = sizes[class].max(1) as f64;
        let per_set: [f64; 3] = std::array::from_fn(|p| w.sim.class_pool(class, p) as f64 / size);
        // Every check reads GetFunction exactly once: checks of this kind of set, and shared
        // calls per check.
        let class_checks = w.sim.class_pool(class, 0) as f64;
        let per_check = w.sim.class_pool(class, 2) as f64 / class_checks.max(1.0);
        let checks_per_set = class_checks / size;
        let tolerance = edge / n;
        // The same edge splits a check's calls: its GetFunction on one side, its shared calls on
        // the other (at most `limit` of them for each check cut by an edge of this kind of set).
        let call_tolerance = limit * edge * size / n / class_checks.max(1.0);
        report.row(
            format!("drift pass: calls per set, {}", CLASSES[class]),
            format!(
                "{}; shared per check {per_check:.3} (±{call_tolerance:.4}), checks per set {checks_per_set:.4} (±{tolerance:.4}: window ends polled every {:.1} s)",
                per_pool(per_set),
                POLL.as_secs_f64()
            ),
            format!("shared <= {limit}: <= {limit} a check, 1 check a set"),
            Verdict::of(per_check <= limit + call_tolerance + 1e-9 && checks_per_set <= 1.0 + tolerance),
            json!({"per_set": pools_json(per_set), "sets": sizes[class], "shared_per_check": per_check,
                   "shared_per_check_tolerance": call_tolerance,
                   "checks_per_set": checks_per_set, "window_edge_tolerance": tolerance}),
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
    Ok(Some(PassFigures { seconds: w.seconds, shared_per_set: w.calls[2] / n }))
}

/// (c) `changes` spec changes spread over the next drift pass; latency from each patch until
/// the watch shows `observedGeneration` = the new generation and Ready=True.
///
/// Time compression shortens what AWS does (latency, budget waits), not what Kubernetes does
/// (watch delivery, Events, the status write). So each latency is split at the set's last
/// priority-lane AWS request: the part up to it stands for `SCALE` times as long, the rest
/// (Events, the status write, the watch back) is taken as measured. Everything times `SCALE` is
/// kept as the upper bound.
pub async fn spec_changes(run: &mut Run, pass_seconds: Option<f64>) -> Result<(), String> {
    let Run { knobs, client, ctl, tracker, report, memory_track, .. } = run;
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

/// (d) Throttles, (e) memory and CPU, read before the controller stops; (h) the controller
/// restarted with drift events' resync (its steady cost); then the Events it wrote and two parts
/// of its memory measured alone. Leaves a cluster it does not own clean.
pub async fn finish(run: Run) -> Result<Report, String> {
    let Run {
        knobs,
        client,
        mut ctl,
        tracker,
        mut report,
        mut memory_track,
        zero,
        cpu0,
        sim_memory,
        own_server,
        booted,
        pass,
        ..
    } = run;
    let n = knobs.n as f64;
    let end = ctl.snapshot().await?;
    let memory = probe::memory(&ctl.pid);
    let in_use: Option<u64> = ctl.ask("trim").await.ok().and_then(|l| l.parse().ok());
    let cpu = probe::cpu_seconds(&ctl.pid) - cpu0;
    let total = Window::between(&zero, &end);
    let object = match tracker.any_converged() {
        Some(name) => cluster::object_size(&client, &knobs.namespace, &name).await.ok(),
        None => None,
    };
    if knobs.events && knobs.events_resync > 0.0 && booted {
        crate::events::steady_cost(&mut ctl, &knobs, &mut report, pass).await?;
    } else {
        let why = if booted {
            "skipped: EVENTS=0 or EVENTS_RESYNC=0"
        } else {
            "skipped: the bootstrap did not converge"
        };
        report.missing(crate::events::STEADY_FIGURE, "<= 0.2", why);
    }
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
    // The fake's own CPU up to the same moment as the process's (the restart phase came after).
    let fake_cpu = end.2.fake_cpu_seconds;
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
            let whole = parts["whole_objects_without_managed_fields_bytes"].as_u64().unwrap_or(0);
            let per_event = parts["bytes_per_event"].as_f64().unwrap_or(0.0);
            report.row(
                format!("controller memory, part: the watch's store of {} sets, metadata only (alone)", knobs.n),
                format!(
                    "{} in use ({:.2} KiB per set); whole objects without managedFields would take {}; {} while listing",
                    mib(store),
                    store as f64 / 1024.0 / n,
                    mib(whole),
                    mib(list_peak)
                ),
                "",
                Verdict::Info,
                parts.clone(),
            );
            // The controller's sink keeps nothing per Event (kube's Recorder, kept, cached each
            // Event for 6 minutes: ≈4 KiB each, 130 MiB in this bench before).
            report.row(
                "controller memory, part: kept per Event published (alone)",
                format!(
                    "{:.0} B per Event ({} published here; {events} in the run)",
                    per_event, parts["events"]
                ),
                "",
                Verdict::Info,
                json!({"bytes_per_event": per_event, "events_in_run": events}),
            );
            let index = parts["drift_events_index_bytes"].as_u64().unwrap_or(0);
            let took = parts["drift_events_index_took_bytes"].as_u64().unwrap_or(0);
            report.row(
                format!("controller memory, part: the drift-events feed's index of {} sets (alone)", knobs.n),
                format!(
                    "{} given back when dropped ({:.2} KiB per set); {} taken while its watch ran{}",
                    mib(index),
                    index as f64 / 1024.0 / n,
                    mib(took),
                    if knobs.events { "" } else { "; not in this run's controller (EVENTS=0)" }
                ),
                "",
                Verdict::Info,
                json!({"bytes": index, "took_bytes": took, "matches": parts["drift_events_index_matches"],
                       "in_this_run": knobs.events}),
            );
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

    Ok(report)
}

//! Drift events (`--drift-events-queue`) against polling, at N sets:
//!
//! - (g) [`repair_latency`]: during a drift pass at today's defaults (`--resync 300`, the pass
//!   bound by the drift budget), `CHANGES` out-of-band changes (PROD1 re-pointed by hand), each
//!   followed by its CloudTrail event in the queue, spread over 80 % of a pass; and as many on
//!   other sets, all at the phase's start, with no event: left to polling. Time from the event's
//!   arrival (or, for polling, from the change) to the write that puts PROD1 back.
//! - (h) [`steady_cost`]: the controller restarted (in its process, on the same simulated AWS)
//!   with drift events' resync (6 h); once its first pass has read every function (a restart
//!   has no baseline: those are full observes), the shared-pool calls of a window of the second
//!   pass, per set per hour at AWS's pace. Polling's at today's defaults comes from (b).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use lambda_alias_controller::aws::budget::Lane;
use serde_json::{Value, json};

use crate::handle::Controller;
use crate::measure::{Queues, Snapshot, Window, per_pool, pools_json};
use crate::phases::{PassFigures, Run};
use crate::probe::Scrape;
use crate::report::{Report, Verdict, duration, percentile};
use crate::sim::{CLASSES, Repair};
use crate::{Knobs, say, sets};

pub const REPAIR_FIGURE: &str = "drift events: event -> repair p50 / p99";
pub const STEADY_FIGURE: &str = "shared-pool calls per steady set per hour, drift events on";

/// How often the phase looks at the changes' repairs (and sends the events due).
const TICK: Duration = Duration::from_millis(50);

fn ns_seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn list(indexes: &[usize]) -> String {
    indexes.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

/// Makes out-of-band changes in the simulated AWS (`event`: each followed by its event).
async fn change(ctl: &mut Controller, kind: &str, indexes: &[usize]) -> Result<(), String> {
    if indexes.is_empty() {
        return Ok(());
    }
    let answer = ctl.ask(&format!("oob {kind} {}", list(indexes))).await?;
    let errors: Vec<Option<String>> =
        serde_json::from_str(&answer).map_err(|e| format!("oob: {e}: {answer}"))?;
    match errors.into_iter().flatten().next() {
        Some(error) => Err(format!("out-of-band change: {error}")),
        None => Ok(()),
    }
}

/// p50 and p99, a change never repaired counting as infinitely slow.
fn quantiles(values: &[f64], missing: usize) -> (f64, f64) {
    let mut v = values.to_vec();
    v.extend(std::iter::repeat_n(f64::INFINITY, missing));
    v.sort_by(f64::total_cmp);
    (percentile(&v, 50.0), percentile(&v, 99.0))
}

fn lag(scrape: &Scrape, until: &str) -> (f64, f64) {
    let only = [("until", until)];
    (
        scrape.sum("lac_drift_event_lag_seconds_count", &only),
        scrape.sum("lac_drift_event_lag_seconds_sum", &only),
    )
}

/// (g) Repair latency with drift events, while a drift pass runs, next to polling's.
pub async fn repair_latency(run: &mut Run) -> Result<(), String> {
    let Run { knobs, ctl, report, memory_track, pass, .. } = run;
    let n = knobs.n;
    let scale = knobs.scale;
    let taken: BTreeSet<usize> = sets::changed(n, knobs.changes).into_iter().collect();
    // Each kind of change on sets of its own, none of them a spec-changed one.
    let evented = sets::others(n, knobs.changes.min(n / 4), 3, &taken);
    let taken: BTreeSet<usize> = taken.into_iter().chain(evented.iter().copied()).collect();
    let polled = sets::others(n, knobs.changes.min(n / 4), 6, &taken);
    let drift_rates = knobs.budget_rates().map(|r| r * knobs.drift_budget);
    let target = knobs.resync().as_secs_f64().max(n as f64 / drift_rates[2]);
    // The pass (b) measured, else the target pace; the changes are spread over 80 % of it, but
    // no longer than twice the target pace takes (as the spec changes are).
    let pass_seconds = pass.map_or(target, |p| p.seconds);
    let spread = 0.8 * pass_seconds.min(2.0 * target);
    let interval = Duration::from_secs_f64(spread / evented.len().max(1) as f64);
    say(format!(
        "drift events: {} out-of-band changes each with its event, one every {}; {} without (polling)",
        evented.len(),
        duration(interval.as_secs_f64()),
        polled.len()
    ));
    let before = ctl.snapshot().await?;
    let queue_before: Value = serde_json::from_str(&ctl.ask("queue").await?).unwrap_or_default();
    // Polling's changes all at once: each set's turn comes somewhere in the next pass.
    change(ctl, "silent", &polled).await?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(60.0 + spread + 2.0 * pass_seconds);
    let mut next = started;
    let mut sent = 0;
    let mut done: HashMap<usize, Repair> = HashMap::new();
    let mut events_done: Option<Snapshot> = None;
    let mut queues = Queues::default();
    let mut last_sample = Instant::now();
    let mut last_note = Instant::now();
    loop {
        let now = Instant::now();
        while sent < evented.len() && now >= next {
            change(ctl, "event", &evented[sent..=sent]).await?;
            sent += 1;
            next += interval;
        }
        let wake = if sent < evented.len() { next.min(now + TICK) } else { now + TICK };
        tokio::time::sleep_until(wake.into()).await;
        if last_sample.elapsed() >= Duration::from_millis(250) {
            last_sample = Instant::now();
            memory_track.sample(n);
            if let Ok(scrape) = ctl.scrape().await {
                queues.sample(&scrape);
            }
        }
        let pending: Vec<usize> =
            evented[..sent].iter().chain(&polled).copied().filter(|i| !done.contains_key(i)).collect();
        if !pending.is_empty() {
            let answer = ctl.ask(&format!("repairs {}", list(&pending))).await?;
            let repairs: Vec<Repair> =
                serde_json::from_str(&answer).map_err(|e| format!("repairs: {e}: {answer}"))?;
            for (i, r) in pending.into_iter().zip(repairs) {
                if r.repaired != 0 {
                    done.insert(i, r);
                }
            }
        }
        let events_repaired = sent == evented.len() && evented.iter().all(|i| done.contains_key(i));
        if events_repaired && events_done.is_none() {
            events_done = Some(ctl.snapshot().await?);
        }
        if (events_repaired && polled.iter().all(|i| done.contains_key(i))) || Instant::now() > deadline {
            break;
        }
        if last_note.elapsed() > Duration::from_secs(15) {
            last_note = Instant::now();
            let fixed = |of: &[usize]| of.iter().filter(|i| done.contains_key(i)).count();
            say(format!(
                "drift events: {sent}/{} events sent, {} repaired; polling {}/{} repaired",
                evented.len(),
                fixed(&evented),
                fixed(&polled),
                polled.len()
            ));
        }
    }
    let after = ctl.snapshot().await?;
    let queue_after: Value = serde_json::from_str(&ctl.ask("queue").await?).unwrap_or_default();
    let phase = Window::between(&before, &after);
    let events_window = Window::between(&before, events_done.as_ref().unwrap_or(&after));

    // Events: the Kubernetes part (queue, booking, watch, the reconcile until its first AWS
    // request) as measured; from that request's entry (before the budget) to the repair's
    // return: AWS's part, times SCALE.
    let mut event_rows: Vec<(usize, [f64; 2], f64, Repair)> = evented
        .iter()
        .filter_map(|i| done.get(i).map(|r| (*i, r.clone())))
        .map(|(i, r)| {
            let arrived = r.sent.max(r.changed);
            let first = r.first.clamp(arrived, r.repaired.max(arrived));
            let split = [ns_seconds(first - arrived), ns_seconds(r.repaired.max(first) - first)];
            (i, split, split[0] + split[1] * scale, r)
        })
        .collect();
    event_rows.sort_by(|a, b| a.2.total_cmp(&b.2));
    let missing_events = evented.len() - event_rows.len();
    let wall: Vec<f64> = event_rows.iter().map(|(_, s, _, _)| s[0] + s[1]).collect();
    let real: Vec<f64> = event_rows.iter().map(|(_, _, real, _)| *real).collect();
    let (real50, real99) = quantiles(&real, missing_events);
    let (wall50, wall99) = quantiles(&wall, missing_events);
    let part = |k: usize| {
        let mut v: Vec<f64> = event_rows.iter().map(|(_, s, _, _)| s[k]).collect();
        v.sort_by(f64::total_cmp);
        json!({"p50": percentile(&v, 50.0), "p99": percentile(&v, 99.0), "max": v.last()})
    };
    let split = json!({"until_first_aws_request": part(0), "aws_until_repaired": part(1)});
    let by_priority = event_rows
        .iter()
        .filter(|(_, _, _, r)| r.repaired_lane.as_deref() == Some(Lane::Priority.name()))
        .count();
    let slowest: Vec<Value> = event_rows
        .iter()
        .rev()
        .take(5)
        .map(|(i, s, real, r)| {
            json!({"set": sets::set_name(*i), "until_first_aws_request": s[0], "aws_until_repaired": s[1],
                   "real_seconds": real, "first_lane": r.first_lane, "repaired_lane": r.repaired_lane})
        })
        .collect();
    report.row(
        format!("{REPAIR_FIGURE} ({} changes during a drift pass, resync {})", evented.len(), duration(knobs.resync().as_secs_f64() * scale)),
        format!(
            "{} / {} real (wall {} / {}; all x SCALE {} / {}); {by_priority} of {} repaired by the booked check{}",
            duration(real50),
            duration(real99),
            duration(wall50),
            duration(wall99),
            duration(wall50 * scale),
            duration(wall99 * scale),
            evented.len(),
            if missing_events > 0 { format!("; {missing_events} never repaired") } else { String::new() }
        ),
        "p99 <= 5 s after the event arrives",
        Verdict::of(missing_events == 0 && real99 <= 5.0),
        json!({"p50_real_seconds": real50, "p99_real_seconds": real99, "p50_wall_seconds": wall50,
               "p99_wall_seconds": wall99, "p99_all_scaled_seconds": wall99 * scale, "changes": evented.len(),
               "never_repaired": missing_events, "repaired_by_priority_lane": by_priority,
               "wall_split_seconds": split, "slowest": slowest, "real_seconds": real, "wall_seconds": wall,
               "interval_seconds": interval.as_secs_f64()}),
    );
    let p = |k: &str, q: &str| split[k][q].as_f64().unwrap_or(f64::NAN);
    report.row(
        "drift events: split p50 / p99 (wall): until the 1st AWS request (queue, booking, watch) / AWS until the repair",
        format!(
            "{} / {}; {} / {}",
            duration(p("until_first_aws_request", "p50")),
            duration(p("until_first_aws_request", "p99")),
            duration(p("aws_until_repaired", "p50")),
            duration(p("aws_until_repaired", "p99"))
        ),
        "",
        Verdict::Info,
        split.clone(),
    );

    // Polling: from the change to its repair, which waits for the set's turn in the pass (the
    // drift budget's schedule): all of it compressed, times SCALE.
    let poll_wall: Vec<f64> = polled
        .iter()
        .filter_map(|i| done.get(i))
        .map(|r| ns_seconds(r.repaired.saturating_sub(r.changed)))
        .collect();
    let missing_polled = polled.len() - poll_wall.len();
    let (poll50, poll99) = quantiles(&poll_wall, missing_polled);
    let poll_max = poll_wall.iter().copied().fold(0.0, f64::max);
    let by_drift = polled
        .iter()
        .filter_map(|i| done.get(i))
        .filter(|r| r.repaired_lane.as_deref() == Some(Lane::Drift.name()))
        .count();
    report.row(
        format!("polling (no event): change -> repair p50 / p99 ({} changes, same pass)", polled.len()),
        format!(
            "{} / {} real (wall {} / {}, max {}); the pass: {} real, so expected ~{} / ~{}; {by_drift} of {} repaired by the drift lane{}",
            duration(poll50 * scale),
            duration(poll99 * scale),
            duration(poll50),
            duration(poll99),
            duration(poll_max),
            duration(pass_seconds * scale),
            duration(pass_seconds * scale / 2.0),
            duration(pass_seconds * scale * 0.99),
            polled.len(),
            if missing_polled > 0 { format!("; {missing_polled} never repaired") } else { String::new() }
        ),
        "",
        Verdict::Info,
        json!({"p50_real_seconds": poll50 * scale, "p99_real_seconds": poll99 * scale, "p50_wall_seconds": poll50,
               "p99_wall_seconds": poll99, "max_wall_seconds": poll_max, "changes": polled.len(),
               "never_repaired": missing_polled, "repaired_by_drift_lane": by_drift,
               "pass_wall_seconds": pass_seconds, "wall_seconds": poll_wall}),
    );

    // What the controller says: events by result, lag histograms (whole seconds of the system
    // clock: a count, not a latency, at this compression).
    let delta = |name: &str, only: &[(&str, &str)]| after.1.sum(name, only) - before.1.sum(name, only);
    let results: serde_json::Map<String, Value> =
        ["matched", "unmatched", "own", "duplicate", "ignored", "malformed", "abandoned"]
            .iter()
            .map(|r| (r.to_string(), json!(delta("lac_drift_events_total", &[("result", r)]))))
            .collect();
    let lags: serde_json::Map<String, Value> = ["booked", "checked", "repaired"]
        .iter()
        .map(|u| {
            let (c1, s1) = lag(&after.1, u);
            let (c0, s0) = lag(&before.1, u);
            (u.to_string(), json!({"count": c1 - c0, "sum_seconds": s1 - s0}))
        })
        .collect();
    let received = delta("lac_drift_events_received_total", &[]);
    report.row(
        "drift events: lac_drift_events_total by result; lag histogram counts booked / checked / repaired",
        format!(
            "received {received:.0}, matched {:.0}, other {:.0}; {:.0} / {:.0} / {:.0}; queue: {} left",
            results["matched"].as_f64().unwrap_or(0.0),
            results.iter().filter(|(k, _)| *k != "matched").filter_map(|(_, v)| v.as_f64()).sum::<f64>(),
            lags["booked"]["count"].as_f64().unwrap_or(0.0),
            lags["checked"]["count"].as_f64().unwrap_or(0.0),
            lags["repaired"]["count"].as_f64().unwrap_or(0.0),
            queue_after["left"],
        ),
        format!("matched = {}", evented.len()),
        Verdict::of(results["matched"].as_f64() == Some(evented.len() as f64)),
        json!({"received": received, "results": results, "lag": lags, "queue_before": queue_before, "queue_after": queue_after}),
    );

    // The drift lane meanwhile (the whole phase: polling's repairs included) and what the
    // events' checks and repairs cost in the priority lane.
    let used: [f64; 3] = std::array::from_fn(|p| phase.drift_tokens[p] / phase.seconds / drift_rates[p]);
    let exceeded = (0..3).any(|p| phase.drift_tokens[p] > drift_rates[p] * phase.seconds + 1.0);
    report.row(
        "drift events phase: drift-lane tokens / (rate x time) (the drift share used)",
        format!("{} over {}", per_pool(used), duration(phase.seconds)),
        "<= 1",
        Verdict::of(!exceeded),
        json!({"used": pools_json(used), "seconds": phase.seconds, "drift_tokens": pools_json(phase.drift_tokens),
               "drift_rates": pools_json(drift_rates), "drift_checks": phase.checks}),
    );
    let per_event: [f64; 3] = std::array::from_fn(|p| {
        events_window.sim.lane_pool(Lane::Priority, p) as f64 / evented.len().max(1) as f64
    });
    report.row(
        "drift events: priority-lane calls per event (check + repair)",
        per_pool(per_event),
        "",
        Verdict::Info,
        json!(pools_json(per_event)),
    );
    report.row(
        "drift events phase: requests waiting for a budget token",
        queues.text(),
        "",
        Verdict::Info,
        queues.json(),
    );
    say(format!(
        "drift events: p50 {} / p99 {} real; polling p50 {} / p99 {} real",
        duration(real50),
        duration(real99),
        duration(poll50 * scale),
        duration(poll99 * scale)
    ));
    Ok(())
}

/// (h) The steady cost with drift events and their resync: the controller restarted with
/// `EVENTS_RESYNC`, its first pass (full observes: a restart has no baseline) waited out, then
/// the shared-pool calls of a window of its second pass. Next to it, polling's at today's
/// defaults from the drift pass (b).
pub async fn steady_cost(
    ctl: &mut Controller,
    knobs: &Knobs,
    report: &mut Report,
    polling: Option<PassFigures>,
) -> Result<(), String> {
    let n = knobs.n as f64;
    let scale = knobs.scale;
    let hours = |wall: f64| wall * scale / 3600.0;
    match polling {
        Some(p) => report.row(
            format!(
                "shared-pool calls per steady set per hour, polling at today's defaults (resync {}, {} sets)",
                duration(knobs.resync().as_secs_f64() * scale),
                knobs.n
            ),
            format!(
                "{:.3} ({:.3} a set a pass / a pass of {} real)",
                p.shared_per_set / hours(p.seconds),
                p.shared_per_set,
                duration(p.seconds * scale)
            ),
            "",
            Verdict::Info,
            json!({"per_set_per_hour": p.shared_per_set / hours(p.seconds), "shared_per_set_per_pass": p.shared_per_set,
                   "pass_real_seconds": p.seconds * scale}),
        ),
        None => report.missing("shared-pool calls per steady set per hour, polling at today's defaults", "", "no drift pass measured"),
    }
    let resync = knobs.events_resync / scale;
    say(format!(
        "drift events: restarting the controller with --resync {} ({} wall); its first pass, then a window",
        duration(knobs.events_resync),
        duration(resync)
    ));
    let answer = ctl.ask(&format!("restart {resync}")).await?;
    if answer != "ok" {
        return Err(format!("restart: {answer}"));
    }
    let restarted = Instant::now();
    let up = restarted + Duration::from_secs(60);
    while ctl.scrape().await.is_err() {
        if Instant::now() > up {
            return Err("the restarted controller's /metrics did not answer in 60 s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ctl.mark().await?;
    // The first pass, seen from AWS's side: every function read since the restart.
    let deadline = restarted + Duration::from_secs_f64(120.0 + 2.0 * resync);
    let mut last_note = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stats = ctl.stats().await?;
        if stats.covered >= knobs.n {
            break;
        }
        if Instant::now() > deadline {
            report.missing(
                STEADY_FIGURE,
                "<= 0.2",
                format!(
                    "the restarted controller's first pass did not cover every set ({}/{})",
                    stats.covered, knobs.n
                ),
            );
            return Ok(());
        }
        if last_note.elapsed() > Duration::from_secs(30) {
            last_note = Instant::now();
            say(format!(
                "drift events: first pass after the restart: {}/{} functions read in {}",
                stats.covered,
                knobs.n,
                duration(restarted.elapsed().as_secs_f64())
            ));
        }
    }
    let first_pass = restarted.elapsed().as_secs_f64();
    // From here every set's check is booked one pass after its first (full) one: the second
    // pass, the steady state. A window of a fifth of it.
    let window = (0.2 * resync).max(20.0);
    say(format!(
        "drift events: first pass {}; a steady window of {}",
        duration(first_pass),
        duration(window)
    ));
    let a = ctl.snapshot().await?;
    tokio::time::sleep(Duration::from_secs_f64(window)).await;
    let b = ctl.snapshot().await?;
    let w = Window::between(&a, &b);
    let all_lanes =
        |pool: usize| (w.sim.lane_pool(Lane::Priority, pool) + w.sim.lane_pool(Lane::Drift, pool)) as f64;
    let per_hour: [f64; 3] = std::array::from_fn(|p| all_lanes(p) / n / hours(w.seconds));
    let checks: f64 = w.checks.as_object().map_or(0.0, |c| c.values().filter_map(Value::as_f64).sum());
    let unchanged = w.checks["unchanged"].as_f64().unwrap_or(0.0);
    let sizes = knobs.class_sizes();
    let per_class: Vec<f64> =
        (0..2).map(|c| w.sim.class_pool(c, 2) as f64 / sizes[c].max(1) as f64 / hours(w.seconds)).collect();
    let lane_calls = |lane: Lane| [0, 1, 2].map(|p| w.sim.lane_pool(lane, p));
    // At one check a set a pass: this many checks in the window.
    let expected_checks = n * w.seconds / resync;
    report.row(
        format!("{STEADY_FIGURE} and resync {} ({} sets)", duration(knobs.events_resync), knobs.n),
        format!(
            "{:.3} (window of {} real in the 2nd pass: {:.0} shared calls, {checks:.0} drift checks, {unchanged:.0} unchanged, expected {expected_checks:.0}; {} {:.3}, {} {:.3})",
            per_hour[2],
            duration(w.seconds * scale),
            all_lanes(2),
            CLASSES[0],
            per_class[0],
            CLASSES[1],
            per_class[1],
        ),
        "<= 0.2",
        Verdict::of(per_hour[2] <= 0.2 && w.sim.throttles.iter().sum::<u64>() == 0),
        json!({"per_set_per_hour": pools_json(per_hour), "per_class_shared_per_set_per_hour": per_class,
               "window_wall_seconds": w.seconds, "window_real_hours": hours(w.seconds),
               "first_pass_wall_seconds": first_pass, "resync_real_seconds": knobs.events_resync,
               "calls": {"priority": lane_calls(Lane::Priority), "drift": lane_calls(Lane::Drift)},
               "drift_checks": w.checks, "expected_checks": expected_checks, "throttles": w.sim.throttles,
               "reconciles": w.reconciles}),
    );
    say(format!("drift events: {:.3} shared calls per steady set per hour", per_hour[2]));
    Ok(())
}

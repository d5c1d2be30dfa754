//! One token bucket, kept as GCRA: the state is an instant, the arithmetic is exact (no float
//! drift, no busy loop), and a waiter sleeps once until its slot.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::lock;

/// A sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// `tat` is the theoretical arrival time of the next request: a request may go `tolerance`
/// ahead of it.
#[derive(Debug)]
pub struct Bucket {
    /// Time per token.
    interval: Duration,
    /// How far ahead of `tat` a request may run: (burst - 1) intervals.
    tolerance: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// `None` until first used: a full bucket.
    tat: Option<Instant>,
    paused_until: Option<Instant>,
}

impl Bucket {
    pub fn new(limit: BucketLimit) -> Self {
        // A zero, negative or NaN rate would divide badly: fall back to one request a second.
        let interval = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            Duration::try_from_secs_f64(1.0 / limit.per_second).unwrap_or(Duration::from_secs(1))
        } else {
            Duration::from_secs(1)
        };
        let tolerance = interval.saturating_mul(limit.burst.max(1) - 1);
        Bucket { interval, tolerance, state: Mutex::new(State::default()) }
    }

    /// Time per token.
    pub(super) fn interval(&self) -> Duration {
        self.interval
    }

    /// Takes the next slot and returns when it may be used (FIFO: each waiter sleeps once).
    fn reserve(&self, now: Instant) -> Instant {
        let mut state = lock(&self.state);
        let tat = state.tat.map_or(now, |t| t.max(now));
        let earliest = now + self.tolerance;
        let ready = if tat <= earliest { now } else { now + (tat - earliest) };
        state.tat = Some(tat + self.interval);
        ready
    }

    /// No request before `until`, and then only one at once followed by the sustained rate.
    pub fn pause_until(&self, until: Instant) {
        let mut state = lock(&self.state);
        let floor = until + self.tolerance;
        state.tat = Some(state.tat.map_or(floor, |t| t.max(floor)));
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    fn is_paused(&self, now: Instant) -> bool {
        lock(&self.state).paused_until.is_some_and(|p| p > now)
    }

    /// Waits for a token (tokio's clock: paused time in tests applies).
    pub async fn acquire(&self) {
        loop {
            let now = Instant::now();
            let ready = self.reserve(now);
            if ready > now {
                tokio::time::sleep_until(ready).await;
            }
            // A throttle elsewhere may have paused the bucket while this one slept: queue again
            // behind the pause rather than add to the load AWS just refused.
            if !self.is_paused(Instant::now()) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn bucket(per_second: f64, burst: u32) -> Bucket {
        Bucket::new(BucketLimit { per_second, burst })
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_the_rate() {
        let b = bucket(10.0, 3);
        let t0 = Instant::now();
        let ready: Vec<Duration> = (0..6).map(|_| b.reserve(t0) - t0).collect();
        assert_eq!(ready, [Duration::ZERO, Duration::ZERO, Duration::ZERO, MS * 100, MS * 200, MS * 300]);
    }

    #[test]
    fn an_idle_bucket_refills_up_to_the_burst_only() {
        let b = bucket(10.0, 2);
        let t0 = Instant::now();
        for _ in 0..4 {
            b.reserve(t0);
        }
        // A long quiet spell refills two tokens, not twenty.
        let later = t0 + Duration::from_secs(2);
        let ready: Vec<Duration> = (0..3).map(|_| b.reserve(later) - later).collect();
        assert_eq!(ready, [Duration::ZERO, Duration::ZERO, MS * 100]);
    }

    #[test]
    fn a_pause_holds_everything_back_then_lets_one_through_and_resumes_the_rate() {
        let b = bucket(10.0, 5);
        let t0 = Instant::now();
        b.pause_until(t0 + Duration::from_secs(2));
        assert!(b.is_paused(t0 + Duration::from_secs(1)));
        assert!(!b.is_paused(t0 + Duration::from_secs(2)));
        let ready: Vec<Duration> = (0..3).map(|_| b.reserve(t0) - t0).collect();
        assert_eq!(ready, [MS * 2000, MS * 2100, MS * 2200], "no burst right after a pause");
    }

    #[test]
    fn nonsense_limits_fall_back_to_one_a_second() {
        for per_second in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            let b = bucket(per_second, 0);
            let t0 = Instant::now();
            b.reserve(t0);
            assert_eq!(b.reserve(t0) - t0, Duration::from_secs(1), "{per_second}");
        }
    }
}

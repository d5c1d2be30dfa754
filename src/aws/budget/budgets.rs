//! The registry of call budgets: one set of buckets (pools) per (account, region), shared by
//! every client of the process.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::bucket::{Bucket, BucketLimit};
use super::lock;
use crate::aws::Operation;

/// `--drift-budget`'s default: periodic drift checks use at most a quarter of each pool.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.25;

/// Which lane a request is in. Periodic drift checks are `Drift`: they use at most the drift
/// share of each pool and wait while a `Priority` request waits. Everything else (a spec change,
/// a drain timer, a retry after AWS's hint, deletion, the CLI) is `Priority`, up to the whole
/// budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Priority,
    Drift,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Priority, Lane::Drift];

    pub fn name(self) -> &'static str {
        match self {
            Lane::Priority => "priority",
            Lane::Drift => "drift",
        }
    }

    /// The lane of the running task: what [`in_lane`] set, else `Priority`.
    pub fn current() -> Lane {
        LANE.try_with(|l| *l).unwrap_or(Lane::Priority)
    }
}

tokio::task_local! {
    static LANE: Lane;
}

/// Runs `future` with its AWS requests in `lane` (a task-local: the adapter below the engine
/// needs no parameter for it).
pub async fn in_lane<F: Future>(lane: Lane, future: F) -> F::Output {
    LANE.scope(lane, future).await
}

/// Counts a waiter for as long as it lives (cancellation included).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One quota pool of one (account, region): the whole budget, and the drift lane's share of it.
#[derive(Debug)]
pub(super) struct Pool {
    main: Bucket,
    drift: Bucket,
    /// Requests waiting for a token, by lane.
    waiting: [AtomicUsize; 2],
    /// Tokens taken, by lane.
    taken: [AtomicU64; 2],
}

impl Pool {
    fn new(limit: BucketLimit, drift_share: f64) -> Self {
        // The drift lane's bucket has no burst: its share is spread evenly, never spent at once.
        let drift = BucketLimit { per_second: limit.per_second * drift_share, burst: 1 };
        Pool {
            main: Bucket::new(limit),
            drift: Bucket::new(drift),
            waiting: Default::default(),
            taken: Default::default(),
        }
    }

    /// Waits for a token in the running task's lane. A drift request takes one from the drift
    /// share first, then from the whole budget, and lets every waiting priority request go first.
    pub(super) async fn acquire(&self) {
        let lane = Lane::current();
        let _waiting = Waiting::enter(&self.waiting[lane as usize]);
        if lane == Lane::Drift {
            self.drift.acquire().await;
            while self.waiting[Lane::Priority as usize].load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(self.main.interval()).await;
            }
        }
        self.main.acquire().await;
        self.taken[lane as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// AWS throttled this pool: both lanes hold back until `until`.
    pub(super) fn pause_until(&self, until: Instant) {
        self.main.pause_until(until);
        self.drift.pause_until(until);
    }
}

/// The limits of the pools of one (account, region).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetLimits {
    /// GetFunction: AWS allows 100 req/s.
    pub get_function: BucketLimit,
    /// GetPolicy: AWS allows 15 req/s, a quota of its own.
    pub get_policy: BucketLimit,
    /// Every other control-plane operation: AWS allows 15 req/s for all of them together.
    pub other: BucketLimit,
    /// CloudWatch's DescribeAlarms (`spec.rollout`'s alarms): 9 req/s by default per account and
    /// region, shared with every other client of the account.
    pub describe_alarms: BucketLimit,
    /// CloudWatch's GetMetricData (`maxErrorRate`): 50 req/s by default.
    pub get_metric_data: BucketLimit,
    /// SQS (drift events' queue): its standard queues allow a nearly unlimited rate; the feed
    /// sends about one long poll per 20 s and one DeleteMessage per event. A pool of its own, so
    /// that the queue never waits for Lambda's tokens, nor Lambda for the queue's.
    pub sqs: BucketLimit,
}

impl BudgetLimits {
    /// Every pool's rate and burst times `share` (`--budget-share`: shards split the account's
    /// budget; the benchmark scales AWS's quotas and the budget alike). Bursts stay at least 1.
    pub fn scaled(self, share: f64) -> Self {
        let scale = |l: BucketLimit| BucketLimit {
            per_second: l.per_second * share,
            burst: ((f64::from(l.burst) * share).floor() as u32).max(1),
        };
        BudgetLimits {
            get_function: scale(self.get_function),
            get_policy: scale(self.get_policy),
            other: scale(self.other),
            describe_alarms: scale(self.describe_alarms),
            get_metric_data: scale(self.get_metric_data),
            sqs: scale(self.sqs),
        }
    }

    /// The same limit for every pool (tests and benchmarks that reason about one rate).
    pub fn uniform(limit: BucketLimit) -> Self {
        BudgetLimits {
            get_function: limit,
            get_policy: limit,
            other: limit,
            describe_alarms: limit,
            get_metric_data: limit,
            sqs: limit,
        }
    }

    /// The pools by name, as metrics show them.
    pub fn pools(&self) -> [(&'static str, BucketLimit); 6] {
        [
            (POOL_GET_FUNCTION, self.get_function),
            (POOL_GET_POLICY, self.get_policy),
            (POOL_SHARED, self.other),
            (POOL_DESCRIBE_ALARMS, self.describe_alarms),
            (POOL_GET_METRIC_DATA, self.get_metric_data),
            (POOL_SQS, self.sqs),
        ]
    }
}

/// Pool names, as the metrics label them.
pub const POOL_GET_FUNCTION: &str = "GetFunction";
pub const POOL_GET_POLICY: &str = "GetPolicy";
pub const POOL_SHARED: &str = "shared";
pub const POOL_DESCRIBE_ALARMS: &str = "DescribeAlarms";
pub const POOL_GET_METRIC_DATA: &str = "GetMetricData";
pub const POOL_SQS: &str = "sqs";

/// The pool an operation spends from.
pub fn pool_of(op: Operation) -> &'static str {
    match op {
        Operation::GetFunction => POOL_GET_FUNCTION,
        Operation::GetPolicy => POOL_GET_POLICY,
        Operation::DescribeAlarms => POOL_DESCRIBE_ALARMS,
        Operation::GetMetricData => POOL_GET_METRIC_DATA,
        Operation::ReceiveMessage | Operation::DeleteMessage | Operation::GetQueueAttributes => POOL_SQS,
        _ => POOL_SHARED,
    }
}

/// What one pool of one (account, region) has spent and has waiting, by lane
/// (indexed by `Lane as usize`).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolUsage {
    pub account: String,
    pub region: String,
    pub pool: &'static str,
    pub taken: [u64; 2],
    pub waiting: [usize; 2],
}

impl Default for BudgetLimits {
    /// Below the AWS quotas by a margin in the long run, so that other clients of the account
    /// still fit; and never above them in any one second: a full bucket's burst plus one second
    /// of its rate stays within the quota (80 + 20 = 100, 12 + 3 = 15).
    fn default() -> Self {
        BudgetLimits {
            get_function: BucketLimit { per_second: 80.0, burst: 20 },
            get_policy: BucketLimit { per_second: 12.0, burst: 3 },
            other: BucketLimit { per_second: 12.0, burst: 3 },
            describe_alarms: BucketLimit { per_second: 6.0, burst: 3 },
            get_metric_data: BucketLimit { per_second: 40.0, burst: 10 },
            sqs: BucketLimit { per_second: 50.0, burst: 10 },
        }
    }
}

/// The buckets of one (account, region), one per quota pool.
#[derive(Debug)]
pub(super) struct Pools {
    get_function: Pool,
    get_policy: Pool,
    other: Pool,
    describe_alarms: Pool,
    get_metric_data: Pool,
    sqs: Pool,
}

impl Pools {
    fn new(limits: &BudgetLimits, drift_share: f64) -> Self {
        Pools {
            get_function: Pool::new(limits.get_function, drift_share),
            get_policy: Pool::new(limits.get_policy, drift_share),
            other: Pool::new(limits.other, drift_share),
            describe_alarms: Pool::new(limits.describe_alarms, drift_share),
            get_metric_data: Pool::new(limits.get_metric_data, drift_share),
            sqs: Pool::new(limits.sqs, drift_share),
        }
    }

    pub(super) fn for_operation(&self, op: Operation) -> &Pool {
        match op {
            Operation::GetFunction => &self.get_function,
            Operation::GetPolicy => &self.get_policy,
            Operation::DescribeAlarms => &self.describe_alarms,
            Operation::GetMetricData => &self.get_metric_data,
            Operation::ReceiveMessage | Operation::DeleteMessage | Operation::GetQueueAttributes => &self.sqs,
            _ => &self.other,
        }
    }

    fn named(&self) -> [(&'static str, &Pool); 6] {
        [
            (POOL_GET_FUNCTION, &self.get_function),
            (POOL_GET_POLICY, &self.get_policy),
            (POOL_SHARED, &self.other),
            (POOL_DESCRIBE_ALARMS, &self.describe_alarms),
            (POOL_GET_METRIC_DATA, &self.get_metric_data),
            (POOL_SQS, &self.sqs),
        ]
    }
}

/// The registry of call budgets, one per (account, region), shared by every client of the
/// process. Cheap to clone: clones share the buckets. Time is tokio's (paused time in tests).
#[derive(Clone, Debug)]
pub struct Budgets {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: BudgetLimits,
    drift_share: f64,
    keys: Mutex<HashMap<(String, String), Arc<Pools>>>,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(BudgetLimits::default())
    }
}

impl Budgets {
    pub fn new(limits: BudgetLimits) -> Self {
        Budgets::with_drift_share(limits, DEFAULT_DRIFT_SHARE)
    }

    /// `limits` for the whole budget, of which drift checks use at most `drift_share`.
    pub fn with_drift_share(limits: BudgetLimits, drift_share: f64) -> Self {
        let drift_share =
            if drift_share.is_finite() { drift_share.clamp(0.001, 1.0) } else { DEFAULT_DRIFT_SHARE };
        Budgets { inner: Arc::new(Inner { limits, drift_share, keys: Mutex::new(HashMap::new()) }) }
    }

    pub fn limits(&self) -> BudgetLimits {
        self.inner.limits
    }

    pub fn drift_share(&self) -> f64 {
        self.inner.drift_share
    }

    pub(super) fn pools(&self, account: &str, region: &str) -> Arc<Pools> {
        let mut keys = lock(&self.inner.keys);
        keys.entry((account.to_string(), region.to_string()))
            .or_insert_with(|| Arc::new(Pools::new(&self.inner.limits, self.inner.drift_share)))
            .clone()
    }

    /// Tokens taken and requests waiting, per (account, region) and pool, in a stable order.
    pub fn usage(&self) -> Vec<PoolUsage> {
        let keys = lock(&self.inner.keys);
        let mut out = Vec::new();
        for ((account, region), pools) in keys.iter() {
            for (pool, p) in pools.named() {
                out.push(PoolUsage {
                    account: account.clone(),
                    region: region.clone(),
                    pool,
                    taken: [0, 1].map(|i| p.taken[i].load(Ordering::Relaxed)),
                    waiting: [0, 1].map(|i| p.waiting[i].load(Ordering::SeqCst)),
                });
            }
        }
        out.sort_by(|a, b| (&a.account, &a.region, a.pool).cmp(&(&b.account, &b.region, b.pool)));
        out
    }

    /// Waits for a token for `op` in the budget of (account, region).
    pub async fn acquire(&self, account: &str, region: &str, op: Operation) {
        self.pools(account, region).for_operation(op).acquire().await;
    }

    /// AWS throttled `op`: nobody sharing (account, region) sends from its pool for `duration`.
    pub fn pause(&self, account: &str, region: &str, op: Operation, duration: Duration) {
        self.pools(account, region).for_operation(op).pause_until(Instant::now() + duration);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_defaults_never_exceed_an_aws_quota_in_any_second() {
        let d = BudgetLimits::default();
        // A full bucket spends its burst at once, then its rate for the rest of the second.
        for (limit, quota) in [
            (d.get_function, 100.0),
            (d.get_policy, 15.0),
            (d.other, 15.0),
            (d.describe_alarms, 9.0),
            (d.get_metric_data, 50.0),
        ] {
            assert!(limit.per_second + f64::from(limit.burst) <= quota, "{limit:?} over {quota}/s");
            assert!(limit.per_second < quota, "{limit:?} leaves room for the account's other clients");
        }
    }

    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "eu-west-1";

    fn tight() -> BudgetLimits {
        let one = BucketLimit { per_second: 1.0, burst: 1 };
        BudgetLimits::uniform(one)
    }

    #[tokio::test(start_paused = true)]
    async fn keys_and_pools_are_apart() {
        let budgets = Budgets::new(tight());
        let start = Instant::now();
        for (account, region, op) in [
            (ACCOUNT, REGION, Operation::ListAliases),
            (ACCOUNT, REGION, Operation::GetFunction),
            (ACCOUNT, REGION, Operation::GetPolicy),
            (ACCOUNT, "us-east-1", Operation::ListAliases),
            ("210987654321", REGION, Operation::ListAliases),
        ] {
            budgets.acquire(account, region, op).await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "five pools, one token each");
        // Every operation but GetFunction and GetPolicy shares one pool.
        // CloudWatch's operations have pools of their own.
        budgets.acquire(ACCOUNT, REGION, Operation::DescribeAlarms).await;
        budgets.acquire(ACCOUNT, REGION, Operation::GetMetricData).await;
        // So do SQS's, together: the drift-event feed never waits for Lambda's tokens.
        budgets.acquire(ACCOUNT, REGION, Operation::ReceiveMessage).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        budgets.clone().acquire(ACCOUNT, REGION, Operation::DeleteAlias).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_every_client_of_the_pool() {
        let budgets = Budgets::new(BudgetLimits::default());
        let start = Instant::now();
        budgets.pause(ACCOUNT, REGION, Operation::CreateAlias, Duration::from_secs(3));
        budgets.acquire(ACCOUNT, REGION, Operation::GetFunction).await;
        assert_eq!(start.elapsed(), Duration::ZERO, "GetFunction has a pool of its own");
        budgets.acquire(ACCOUNT, REGION, Operation::ListAliases).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_during_a_wait_sends_the_waiter_back_in_the_queue() {
        let budgets = Budgets::new(tight());
        let start = Instant::now();
        budgets.acquire(ACCOUNT, REGION, Operation::ListAliases).await;
        let waiter = {
            let budgets = budgets.clone();
            tokio::spawn(async move { budgets.acquire(ACCOUNT, REGION, Operation::ListAliases).await })
        };
        // The waiter has its slot at 1s; a throttle at 0.5s pauses the pool for 2s.
        tokio::time::sleep(Duration::from_millis(500)).await;
        budgets.pause(ACCOUNT, REGION, Operation::ListAliases, Duration::from_secs(2));
        waiter.await.expect("waiter");
        assert!(start.elapsed() >= Duration::from_millis(2500), "{:?}", start.elapsed());
    }
}

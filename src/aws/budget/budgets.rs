//! The registry of call budgets: one set of buckets (pools) per (account, region), shared by
//! every client of the process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::bucket::{Bucket, BucketLimit};
use super::lock;
use crate::aws::api::Operation;

/// The limits of the pools of one (account, region).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetLimits {
    /// GetFunction: AWS allows 100 req/s.
    pub get_function: BucketLimit,
    /// GetPolicy: AWS allows 15 req/s, a quota of its own.
    pub get_policy: BucketLimit,
    /// Every other control-plane operation: AWS allows 15 req/s for all of them together.
    pub other: BucketLimit,
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
        }
    }
}

/// The buckets of one (account, region), one per quota pool.
#[derive(Debug)]
pub(super) struct Pools {
    get_function: Bucket,
    get_policy: Bucket,
    other: Bucket,
}

impl Pools {
    fn new(limits: &BudgetLimits) -> Self {
        Pools {
            get_function: Bucket::new(limits.get_function),
            get_policy: Bucket::new(limits.get_policy),
            other: Bucket::new(limits.other),
        }
    }

    pub(super) fn for_operation(&self, op: Operation) -> &Bucket {
        match op {
            Operation::GetFunction => &self.get_function,
            Operation::GetPolicy => &self.get_policy,
            _ => &self.other,
        }
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
    keys: Mutex<HashMap<(String, String), Arc<Pools>>>,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(BudgetLimits::default())
    }
}

impl Budgets {
    pub fn new(limits: BudgetLimits) -> Self {
        Budgets { inner: Arc::new(Inner { limits, keys: Mutex::new(HashMap::new()) }) }
    }

    pub fn limits(&self) -> BudgetLimits {
        self.inner.limits
    }

    pub(super) fn pools(&self, account: &str, region: &str) -> Arc<Pools> {
        let mut keys = lock(&self.inner.keys);
        keys.entry((account.to_string(), region.to_string()))
            .or_insert_with(|| Arc::new(Pools::new(&self.inner.limits)))
            .clone()
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
        for (limit, quota) in [(d.get_function, 100.0), (d.get_policy, 15.0), (d.other, 15.0)] {
            assert!(limit.per_second + f64::from(limit.burst) <= quota, "{limit:?} over {quota}/s");
            assert!(limit.per_second < quota, "{limit:?} leaves room for the account's other clients");
        }
    }

    use super::*;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "eu-west-1";

    fn tight() -> BudgetLimits {
        let one = BucketLimit { per_second: 1.0, burst: 1 };
        BudgetLimits { get_function: one, get_policy: one, other: one }
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

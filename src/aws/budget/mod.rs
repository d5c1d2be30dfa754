//! The AWS call budget (README, "The controller"; ARCHITECTURE.md, "Invariants").
//!
//! Lambda's control-plane quotas are per account and region and cannot be raised: GetFunction
//! 100 req/s, GetPolicy 15 req/s, every other operation 15 req/s together. [`Budgets`] holds one
//! set of client-side token buckets per (account, region), shared by every set the controller
//! reconciles, with a safety margin so that the controller is never the cause of throttling.
//! [`Metered`] wraps any [`LambdaApi`](crate::aws::LambdaApi) and is the one retry layer (the
//! SDK's own retries are off, see [`crate::aws::client`]): it waits for a token before each
//! request, counts each request in a [`CallCounter`] by operation and outcome, and retries what
//! is safe to retry.
//!
//! - `bucket`: one token bucket (GCRA);
//! - `budgets`: the pools of each (account, region);
//! - `retry`: what is retried, how often, the backoff and its jitter;
//! - `calls`: the counts (`/metrics` renders them: `crate::controller::metrics`);
//! - `metered`: the wrapper that puts them together.
//!
//! Time is tokio's: tests run on paused time (`#[tokio::test(start_paused = true)]`).

use std::sync::{Mutex, MutexGuard};

mod bucket;
mod budgets;
mod calls;
mod metered;
mod retry;

pub use bucket::{Bucket, BucketLimit};
pub use budgets::{
    BudgetLimits, Budgets, DEFAULT_DRIFT_SHARE, Lane, POOL_DESCRIBE_ALARMS, POOL_GET_FUNCTION,
    POOL_GET_METRIC_DATA, POOL_GET_POLICY, POOL_SHARED, POOL_SQS, PoolUsage, in_lane, pool_of,
};
pub use calls::{CallCounter, OUTCOME_OK};
pub use metered::Metered;
pub use retry::{BASE_BACKOFF, MAX_BACKOFF, MAX_THROTTLE_RETRIES, MAX_UNAVAILABLE_RETRIES, backoff};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent across a panic elsewhere: keep counting.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

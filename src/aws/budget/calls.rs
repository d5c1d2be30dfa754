//! Counting AWS requests by operation and outcome.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::lock;
use crate::aws::Operation;

/// The outcome label of a successful request.
pub const OUTCOME_OK: &str = "ok";

/// AWS requests by (operation, outcome), where the outcome is [`OUTCOME_OK`] or
/// [`crate::aws::AwsError::reason`]. Clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    counts: Arc<Mutex<BTreeMap<(Operation, String), u64>>>,
}

impl CallCounter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record(&self, op: Operation, outcome: &str) {
        *lock(&self.counts).entry((op, outcome.to_string())).or_insert(0) += 1;
    }

    /// The count of one (operation, outcome).
    pub fn get(&self, op: Operation, outcome: &str) -> u64 {
        lock(&self.counts).get(&(op, outcome.to_string())).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        lock(&self.counts).values().sum()
    }

    pub fn by_operation(&self) -> BTreeMap<Operation, u64> {
        let mut by_op = BTreeMap::new();
        for ((op, _), n) in lock(&self.counts).iter() {
            *by_op.entry(*op).or_insert(0) += n;
        }
        by_op
    }

    pub fn snapshot(&self) -> BTreeMap<(Operation, String), u64> {
        lock(&self.counts).clone()
    }

    pub fn reset(&self) {
        lock(&self.counts).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_counter_aggregates_and_resets() {
        let calls = CallCounter::new();
        let shared = calls.clone();
        shared.record(Operation::ListAliases, OUTCOME_OK);
        shared.record(Operation::ListAliases, "Throttled");
        shared.record(Operation::GetFunction, OUTCOME_OK);
        assert_eq!(calls.total(), 3);
        assert_eq!(calls.get(Operation::ListAliases, "Throttled"), 1);
        assert_eq!(calls.get(Operation::GetPolicy, OUTCOME_OK), 0);
        assert_eq!(
            calls.by_operation(),
            BTreeMap::from([(Operation::GetFunction, 1), (Operation::ListAliases, 2)])
        );
        calls.reset();
        assert_eq!(shared.total(), 0);
        assert!(shared.snapshot().is_empty());
    }
}

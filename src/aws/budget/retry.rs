//! What is retried, how often, and how long to wait first.

use std::time::Duration;

use crate::aws::{AwsError, Operation};

/// Retries after `Throttled` before the error is returned.
pub const MAX_THROTTLE_RETRIES: u32 = 3;
/// Retries of a read after `Unavailable` (writes are never retried: the engine re-observes).
pub const MAX_UNAVAILABLE_RETRIES: u32 = 2;
/// First backoff when AWS gives no retry hint; doubles with each retry.
pub const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Upper bound of one backoff without a hint.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The wait before retry `attempt` (1-based) without a hint: 200ms doubling, capped, plus up to
/// half again of jitter so that clients throttled together do not retry together.
pub fn backoff(attempt: u32) -> Duration {
    let base = BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF);
    base + base.mul_f64(0.5 * fastrand::f64())
}

/// The retries one request has had so far.
#[derive(Debug, Default)]
pub(super) struct Attempts {
    throttled: u32,
    unavailable: u32,
}

/// What follows a failed request.
#[derive(Debug, PartialEq)]
pub(super) struct Next {
    /// Throttled: how long the pool stops sending (AWS's hint, or a backoff), even when the
    /// error is returned.
    pub pause: Option<Duration>,
    /// When to send the request again; `None`: return the error.
    pub retry_in: Option<Duration>,
}

impl Attempts {
    /// Throttles are retried after the hint (or a jittered backoff) up to
    /// [`MAX_THROTTLE_RETRIES`] times, and `Unavailable` on reads up to
    /// [`MAX_UNAVAILABLE_RETRIES`] times. Preconditions, conflicts, not-found, access denied and
    /// invalid requests are answers, not accidents: they are returned at once. So are failed
    /// writes: the engine re-observes.
    pub(super) fn after(&mut self, op: Operation, error: &AwsError) -> Next {
        match error {
            AwsError::Throttled { retry_after, .. } => {
                self.throttled += 1;
                let wait = retry_after.unwrap_or_else(|| backoff(self.throttled));
                Next { pause: Some(wait), retry_in: (self.throttled <= MAX_THROTTLE_RETRIES).then_some(wait) }
            }
            AwsError::Unavailable { .. } if op.is_read() && self.unavailable < MAX_UNAVAILABLE_RETRIES => {
                self.unavailable += 1;
                Next { pause: None, retry_in: Some(backoff(self.unavailable)) }
            }
            _ => Next { pause: None, retry_in: None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(retry_after: Option<Duration>) -> AwsError {
        AwsError::Throttled { operation: Operation::ListAliases, retry_after }
    }

    fn unavailable(operation: Operation) -> AwsError {
        AwsError::Unavailable { operation, message: "503".into() }
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        for attempt in 1..=10 {
            let base = BASE_BACKOFF.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
            let wait = backoff(attempt);
            assert!(wait >= base && wait < base + base / 2, "attempt {attempt}: {wait:?}");
        }
        let waits: std::collections::BTreeSet<Duration> = (0..20).map(|_| backoff(1)).collect();
        assert!(waits.len() > 1, "jitter varies from call to call");
    }

    #[test]
    fn a_throttle_pauses_for_the_hint_and_is_retried_a_bounded_number_of_times() {
        let hint = Some(Duration::from_secs(2));
        let mut attempts = Attempts::default();
        for _ in 0..MAX_THROTTLE_RETRIES {
            assert_eq!(
                attempts.after(Operation::ListAliases, &throttled(hint)),
                Next { pause: hint, retry_in: hint }
            );
        }
        assert_eq!(
            attempts.after(Operation::ListAliases, &throttled(hint)),
            Next { pause: hint, retry_in: None }
        );
    }

    #[test]
    fn only_reads_are_retried_when_unavailable() {
        let mut attempts = Attempts::default();
        for _ in 0..MAX_UNAVAILABLE_RETRIES {
            let next = attempts.after(Operation::GetFunction, &unavailable(Operation::GetFunction));
            assert!(next.retry_in.is_some() && next.pause.is_none(), "{next:?}");
        }
        assert_eq!(
            attempts.after(Operation::GetFunction, &unavailable(Operation::GetFunction)).retry_in,
            None
        );
        let write = Attempts::default().after(Operation::CreateAlias, &unavailable(Operation::CreateAlias));
        assert_eq!(write, Next { pause: None, retry_in: None });
    }
}

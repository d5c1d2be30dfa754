//! [`Metered`]: the one retry layer. Every request — first attempts, retries and each page of a
//! listing — takes a token from the budget of its (account, region) and is counted.

use std::sync::Arc;

use super::budgets::{Budgets, Pools};
use super::calls::{CallCounter, OUTCOME_OK};
use super::retry::{Attempts, Next};
use crate::aws::AwsResult;
use crate::aws::seam::{Call, Request};

/// Wraps the seam ([`Call`]) of any AWS service: each request spends from the budget of its
/// (account, region), is counted by operation and outcome, and is retried when that is safe (see
/// `Attempts::after`). Each page of a listing is one request ([`crate::aws::List`]). A throttle pauses the
/// pool for every client of the (account, region), not only this caller.
#[derive(Debug)]
pub struct Metered<A> {
    inner: A,
    key: (String, String),
    budgets: Budgets,
    calls: CallCounter,
    /// The pools of `key`, looked up once.
    pools: Arc<Pools>,
}

impl<A> Metered<A> {
    pub fn new(
        inner: A,
        account: impl Into<String>,
        region: impl Into<String>,
        budgets: Budgets,
        calls: CallCounter,
    ) -> Self {
        let key = (account.into(), region.into());
        let pools = budgets.pools(&key.0, &key.1);
        Metered { inner, key, budgets, calls, pools }
    }

    pub fn inner(&self) -> &A {
        &self.inner
    }

    pub fn into_inner(self) -> A {
        self.inner
    }

    /// (account, region).
    pub fn key(&self) -> (&str, &str) {
        (&self.key.0, &self.key.1)
    }

    pub fn calls(&self) -> &CallCounter {
        &self.calls
    }

    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }
}

impl<A, R> Call<R> for Metered<A>
where
    A: Call<R>,
    R: Request,
{
    async fn call(&self, request: &R) -> AwsResult<R::Output> {
        let op = R::OPERATION;
        let pool = self.pools.for_operation(op);
        let mut attempts = Attempts::default();
        loop {
            pool.acquire().await;
            let error = match self.inner.call(request).await {
                Ok(value) => {
                    self.calls.record(op, OUTCOME_OK);
                    return Ok(value);
                }
                Err(error) => error,
            };
            self.calls.record(op, error.reason().as_str());
            let Next { pause, retry_in } = attempts.after(op, &error);
            if let Some(pause) = pause {
                pool.pause_until(tokio::time::Instant::now() + pause);
            }
            let Some(wait) = retry_in else {
                return Err(error);
            };
            tracing::debug!(operation = %op, reason = error.reason().as_str(), wait_ms = wait.as_millis() as u64, "retrying AWS request");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::time::Instant;

    use super::*;
    use crate::aws::budget::{BucketLimit, BudgetLimits, MAX_THROTTLE_RETRIES, MAX_UNAVAILABLE_RETRIES};
    use crate::aws::fake::{FakeLambda, Fault};
    use crate::aws::lambda::*;
    use crate::aws::{AwsError, List, Operation, Page};
    use crate::plan::AliasInfo;

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "eu-west-1";
    const FN: &str = "skill";

    /// The AWS quota itself, without margin: 15 other calls a second, all at once if need be.
    fn aws_limits() -> BudgetLimits {
        BudgetLimits {
            get_function: BucketLimit { per_second: 100.0, burst: 100 },
            get_policy: BucketLimit { per_second: 15.0, burst: 15 },
            other: BucketLimit { per_second: 15.0, burst: 15 },
            describe_alarms: BucketLimit { per_second: 9.0, burst: 9 },
            get_metric_data: BucketLimit { per_second: 50.0, burst: 50 },
            sqs: BucketLimit { per_second: 50.0, burst: 50 },
        }
    }

    /// Shared budgets and counts, and the (paused) time the test started.
    struct Rig {
        start: Instant,
        budgets: Budgets,
        calls: CallCounter,
    }

    impl Rig {
        fn new(limits: BudgetLimits) -> Self {
            Rig { start: Instant::now(), budgets: Budgets::new(limits), calls: CallCounter::new() }
        }

        fn client(&self, account: &str, region: &str) -> Metered<FakeLambda> {
            let fake = FakeLambda::new(account, region);
            fake.add_function(FN, "sha-a");
            Metered::new(fake, account, region, self.budgets.clone(), self.calls.clone())
        }

        fn elapsed(&self) -> Duration {
            self.start.elapsed()
        }

        /// Tokio's timer wakes on whole milliseconds, at or after the deadline.
        #[track_caller]
        fn assert_elapsed(&self, expected: Duration, why: &str) {
            let elapsed = self.elapsed();
            assert!(
                elapsed >= expected && elapsed < expected + Duration::from_millis(1),
                "{why}: {elapsed:?}, expected {expected:?}"
            );
        }
    }

    fn interval(per_second: f64) -> Duration {
        Duration::from_secs_f64(1.0 / per_second)
    }

    #[tokio::test(start_paused = true)]
    async fn same_key_shares_one_bucket() {
        let rig = Rig::new(aws_limits());
        let a = rig.client(ACCOUNT, REGION);
        let b = rig.client(ACCOUNT, REGION);
        for i in 0..15 {
            let client = if i % 2 == 0 { &a } else { &b };
            client.list(ListAliases::new(FN)).await.unwrap();
        }
        rig.assert_elapsed(Duration::ZERO, "15 calls fit in the burst");
        b.list(ListVersions::new(FN)).await.unwrap();
        rig.assert_elapsed(interval(15.0), "the 16th waits for one token");
        assert_eq!(rig.calls.total(), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn different_keys_do_not_share() {
        let rig = Rig::new(aws_limits());
        let here = rig.client(ACCOUNT, REGION);
        let other_region = rig.client(ACCOUNT, "us-east-1");
        let other_account = rig.client("210987654321", REGION);
        for client in [&here, &other_region, &other_account] {
            for _ in 0..15 {
                client.list(ListAliases::new(FN)).await.unwrap();
            }
        }
        rig.assert_elapsed(Duration::ZERO, "no wait");
    }

    #[tokio::test(start_paused = true)]
    async fn get_function_uses_its_own_larger_bucket() {
        let limits = BudgetLimits::default();
        let rig = Rig::new(limits);
        let client = rig.client(ACCOUNT, REGION);
        for _ in 0..limits.other.burst {
            client.list(ListAliases::new(FN)).await.unwrap();
        }
        for _ in 0..limits.get_function.burst {
            client.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
        }
        rig.assert_elapsed(Duration::ZERO, "the shared bucket's burst is spent, not GetFunction's");
        client.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
        rig.assert_elapsed(interval(80.0), "GetFunction's burst is spent");
        client.list(ListAliases::new(FN)).await.unwrap();
        rig.assert_elapsed(interval(12.0), "the shared bucket refills at its own rate");
    }

    #[tokio::test(start_paused = true)]
    async fn get_policy_uses_its_own_bucket() {
        let limits = BudgetLimits::default();
        let rig = Rig::new(limits);
        let client = rig.client(ACCOUNT, REGION);
        client.inner().oob_create_alias(FN, "PROD1", "$LATEST", "").unwrap();
        for _ in 0..limits.get_policy.burst.min(limits.other.burst) {
            client.list(ListAliases::new(FN)).await.unwrap();
            client.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() }).await.unwrap();
        }
        rig.assert_elapsed(Duration::ZERO, "no wait");
        client.call(&GetPolicy { function: FN.to_owned(), qualifier: "PROD1".to_owned() }).await.unwrap();
        rig.assert_elapsed(interval(12.0), "GetPolicy's burst is spent");
    }

    #[tokio::test(start_paused = true)]
    async fn sustained_rate_is_respected() {
        let limits = BudgetLimits::default();
        let rig = Rig::new(limits);
        let client = rig.client(ACCOUNT, REGION);
        for _ in 0..limits.other.burst + 120 {
            client.list(ListAliases::new(FN)).await.unwrap();
        }
        // After the burst, 120 more at 12/s take 10 seconds.
        rig.assert_elapsed(interval(12.0) * 120, "after the burst, 120 more at 12/s");
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_the_budget() {
        let rig = Rig::new(aws_limits());
        let a = rig.client(ACCOUNT, REGION);
        let b = rig.client(ACCOUNT, REGION);
        async fn run(client: &Metered<FakeLambda>) {
            for _ in 0..15 {
                client.list(ListAliases::new(FN)).await.unwrap();
            }
        }
        tokio::join!(run(&a), run(&b));
        // 30 calls: 15 from the burst, then 15 more at 15/s.
        rig.assert_elapsed(interval(15.0) * 15, "15 from the burst, 15 more at 15/s");
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_with_hint_is_retried_after_the_hint() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().throttle_next(1, Some(Duration::from_secs(2)));
        client.list(ListAliases::new(FN)).await.unwrap();
        rig.assert_elapsed(Duration::from_secs(2), "the hint");
        assert_eq!(client.inner().calls(), vec![Operation::ListAliases; 2]);
        assert_eq!(rig.calls.get(Operation::ListAliases, "Throttled"), 1);
        assert_eq!(rig.calls.get(Operation::ListAliases, OUTCOME_OK), 1);
        assert_eq!(rig.calls.total(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_slows_every_client_of_the_key() {
        let rig = Rig::new(BudgetLimits::default());
        let a = rig.client(ACCOUNT, REGION);
        let b = rig.client(ACCOUNT, REGION);
        let elsewhere = rig.client(ACCOUNT, "us-east-1");
        // Throttled on every attempt: three retries a second apart, then the error; the bucket
        // stays paused for the last hint.
        a.inner().throttle_next(4, Some(Duration::from_secs(1)));
        let error = a
            .call(&CreateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: "$LATEST".to_owned(),
                description: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(
            error,
            AwsError::Throttled {
                operation: Operation::CreateAlias,
                retry_after: Some(Duration::from_secs(1))
            }
        );
        rig.assert_elapsed(Duration::from_secs(3), "three hints of 1s");
        elsewhere.list(ListAliases::new(FN)).await.unwrap();
        rig.assert_elapsed(Duration::from_secs(3), "another region is not paused");
        b.list(ListAliases::new(FN)).await.unwrap();
        rig.assert_elapsed(Duration::from_secs(4), "the same key waits out the pause");
        // GetFunction has its own quota and is not held back by a throttled shared bucket.
        b.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
        rig.assert_elapsed(Duration::from_secs(4), "GetFunction is not paused");
    }

    #[tokio::test(start_paused = true)]
    async fn throttle_retries_are_bounded() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().throttle_next(10, None);
        let error = client.list(ListAliases::new(FN)).await.unwrap_err();
        assert_eq!(error.reason(), "Throttled");
        assert_eq!(client.inner().calls().len(), 1 + MAX_THROTTLE_RETRIES as usize);
        assert_eq!(rig.calls.get(Operation::ListAliases, "Throttled"), 4);
        // Backoffs of 200, 400 and 800ms, each with up to half again of jitter.
        let elapsed = rig.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn precondition_failed_is_not_retried() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        let error = client
            .call(&PublishVersion {
                function: FN.to_owned(),
                code_sha256: "sha-a".to_owned(),
                revision_id: Some("stale".to_owned()),
                description: None,
            })
            .await
            .unwrap_err();
        assert_eq!(error.reason(), "PreconditionFailed");
        assert_eq!(client.inner().calls().len(), 1);
        assert_eq!(
            rig.calls.snapshot(),
            BTreeMap::from([((Operation::PublishVersion, "PreconditionFailed".into()), 1)])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn answers_are_not_retried() {
        // AWS's own rates: the four calls fit in the burst, so any wait would be a retry's.
        let rig = Rig::new(aws_limits());
        let client = rig.client(ACCOUNT, REGION);
        for fault in [Fault::Conflict, Fault::NotFound, Fault::AccessDenied, Fault::Invalid] {
            client.inner().fail_next(1, fault);
            client.list(ListAliases::new(FN)).await.unwrap_err();
        }
        assert_eq!(client.inner().calls().len(), 4);
        rig.assert_elapsed(Duration::ZERO, "no wait");
    }

    #[tokio::test(start_paused = true)]
    async fn writes_are_not_retried_on_unavailable() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().fail_next(1, Fault::Timeout);
        let error = client
            .call(&CreateAlias {
                function: FN.to_owned(),
                name: "PROD1".to_owned(),
                version: "$LATEST".to_owned(),
                description: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(error.reason(), "Unavailable");
        assert_eq!(client.inner().calls(), vec![Operation::CreateAlias]);
        assert!(client.inner().aliases(FN).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn reads_are_retried_on_unavailable_at_most_twice() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().fail_next(1, Fault::Unavailable);
        client.call(&GetFunction { function: FN.to_owned() }).await.unwrap();
        assert_eq!(client.inner().calls().len(), 2);

        client.inner().clear_calls();
        client.inner().fail_next(5, Fault::Timeout);
        let error = client.call(&GetFunction { function: FN.to_owned() }).await.unwrap_err();
        assert_eq!(error.reason(), "Unavailable");
        assert_eq!(client.inner().calls().len(), 1 + MAX_UNAVAILABLE_RETRIES as usize);
        assert_eq!(rig.calls.get(Operation::GetFunction, "Unavailable"), 4);
        assert_eq!(rig.calls.get(Operation::GetFunction, OUTCOME_OK), 1);
    }

    /// A listing of three pages, the second throttled once: each page is one request through
    /// the budget, and the retry resends the throttled page only.
    struct Paged {
        requests: std::sync::Mutex<Vec<Option<String>>>,
        throttle_page_two: std::sync::atomic::AtomicBool,
    }

    impl Call<ListAliases> for Paged {
        async fn call(&self, request: &ListAliases) -> AwsResult<Page<AliasInfo>> {
            let marker = request.marker.clone();
            self.requests.lock().unwrap().push(marker.clone());
            let alias = |name: &str| AliasInfo {
                name: name.into(),
                alias_arn: format!("arn:{name}"),
                function_version: "1".into(),
                description: String::new(),
                routing: BTreeMap::new(),
                revision_id: String::new(),
            };
            let page = |name: &str, next: Option<&str>| Page {
                items: vec![alias(name)],
                next_marker: next.map(Into::into),
            };
            match marker.as_deref() {
                None => Ok(page("A", Some("m1"))),
                Some("m1") if self.throttle_page_two.swap(false, std::sync::atomic::Ordering::SeqCst) => {
                    Err(AwsError::Throttled {
                        operation: Operation::ListAliases,
                        retry_after: Some(Duration::from_secs(2)),
                    })
                }
                Some("m1") => Ok(page("B", Some("m2"))),
                _ => Ok(page("C", None)),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_page_is_a_request_of_its_own() {
        let rig = Rig::new(BudgetLimits::default());
        let paged = Paged { requests: Default::default(), throttle_page_two: true.into() };
        let client = Metered::new(paged, ACCOUNT, REGION, rig.budgets.clone(), rig.calls.clone());
        let names: Vec<String> =
            client.list(ListAliases::new(FN)).await.unwrap().into_iter().map(|a| a.name).collect();
        let paged = client.inner();
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(
            *paged.requests.lock().unwrap(),
            [None, Some("m1".into()), Some("m1".into()), Some("m2".into())]
        );
        assert_eq!(rig.calls.get(Operation::ListAliases, OUTCOME_OK), 3);
        assert_eq!(rig.calls.get(Operation::ListAliases, "Throttled"), 1);
        rig.assert_elapsed(
            Duration::from_secs(2) + interval(12.0),
            "the hint, then one token after the pause",
        );
    }
}

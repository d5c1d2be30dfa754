//! The AWS call budget (DESIGN §5).
//!
//! Lambda's control-plane quotas are per account and region and cannot be raised: GetFunction
//! 100 req/s, GetPolicy 15 req/s, every other operation 15 req/s together. [`Budgets`] holds one
//! set of client-side token buckets per (account, region), shared by every set the controller
//! reconciles, with a safety margin so that the controller is never the cause of throttling.
//! [`Metered`] wraps any [`LambdaApi`]: it waits for a token before each call, counts each call
//! in a [`CallCounter`] by operation and outcome, and retries what is safe to retry.
//!
//! Time comes from a [`Clock`]: tokio's clock by default (so `tokio::time::pause()` applies
//! when tokio's `test-util` is enabled), or a [`VirtualClock`] that tests advance instantly.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::api::{
    AliasInfo, AwsError, AwsResult, CreateMapping, FunctionInfo, LambdaApi, MappingInfo, Operation,
    PolicyInfo, Statement, UpdateMapping, VersionInfo,
};

/// Retries after `Throttled` before the error is returned.
pub const MAX_THROTTLE_RETRIES: u32 = 3;
/// Retries of a read after `Unavailable` (writes are never retried: the engine re-observes).
pub const MAX_UNAVAILABLE_RETRIES: u32 = 2;
/// First backoff when AWS gives no retry hint; doubles with each retry.
pub const BASE_BACKOFF: Duration = Duration::from_millis(200);
/// Upper bound of one backoff without a hint.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The outcome label of a successful call.
pub const OUTCOME_OK: &str = "ok";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent across a panic elsewhere: keep counting.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The operations that only read, and so may be retried after a transient failure.
pub fn is_read(op: Operation) -> bool {
    matches!(
        op,
        Operation::GetFunction
            | Operation::ListVersionsByFunction
            | Operation::ListAliases
            | Operation::GetPolicy
            | Operation::ListEventSourceMappings
    )
}

// ----- time -----

/// Where the budget reads the time and sleeps.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// `tokio::time`: real time, or paused time under `tokio::time::pause()`.
    #[default]
    Tokio,
    /// A clock that only moves when something sleeps on it or [`VirtualClock::advance`] is called.
    Virtual(VirtualClock),
}

impl Clock {
    pub fn now(&self) -> Instant {
        match self {
            Clock::Tokio => Instant::now(),
            Clock::Virtual(clock) => clock.now(),
        }
    }

    pub async fn sleep_until(&self, deadline: Instant) {
        match self {
            Clock::Tokio => tokio::time::sleep_until(deadline).await,
            Clock::Virtual(clock) => clock.sleep_until(deadline).await,
        }
    }

    pub async fn sleep(&self, duration: Duration) {
        let deadline = self.now() + duration;
        self.sleep_until(deadline).await;
    }
}

/// Deterministic time for tests: sleeping jumps the clock forward to the deadline at once, so a
/// test asserts on [`VirtualClock::elapsed`] instead of the wall clock and never really waits.
#[derive(Clone, Debug)]
pub struct VirtualClock {
    base: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    pub fn new() -> Self {
        VirtualClock { base: Instant::now(), offset: Arc::new(Mutex::new(Duration::ZERO)) }
    }

    pub fn now(&self) -> Instant {
        self.base + *lock(&self.offset)
    }

    /// Virtual time since the clock was created.
    pub fn elapsed(&self) -> Duration {
        *lock(&self.offset)
    }

    pub fn advance(&self, by: Duration) {
        *lock(&self.offset) += by;
    }

    pub async fn sleep_until(&self, deadline: Instant) {
        {
            let mut offset = lock(&self.offset);
            let target = deadline.saturating_duration_since(self.base);
            if target > *offset {
                *offset = target;
            }
        }
        // Still a suspension point, as a real sleep would be.
        tokio::task::yield_now().await;
    }
}

// ----- token buckets -----

/// One token bucket: a sustained rate and a burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BucketLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// The limits of the buckets of one (account, region).
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
    /// Below the AWS quotas by a margin, so that other clients of the account still fit.
    fn default() -> Self {
        BudgetLimits {
            get_function: BucketLimit { per_second: 80.0, burst: 20 },
            get_policy: BucketLimit { per_second: 12.0, burst: 5 },
            other: BucketLimit { per_second: 12.0, burst: 5 },
        }
    }
}

/// A token bucket kept as GCRA: `tat` is the theoretical arrival time of the next request, so
/// the state is two instants and the arithmetic is exact (no float drift, no busy loop).
#[derive(Debug)]
struct Bucket {
    /// Time per token.
    interval: Duration,
    /// How far ahead of `tat` a request may run: (burst - 1) intervals.
    tolerance: Duration,
    state: Mutex<BucketState>,
}

#[derive(Debug, Default)]
struct BucketState {
    /// `None` until first used: a full bucket.
    tat: Option<Instant>,
    paused_until: Option<Instant>,
}

impl Bucket {
    fn new(limit: BucketLimit) -> Self {
        // A zero, negative or NaN rate would divide badly: fall back to one request a second.
        let interval = if limit.per_second.is_finite() && limit.per_second > 0.0 {
            Duration::try_from_secs_f64(1.0 / limit.per_second).unwrap_or(Duration::from_secs(1))
        } else {
            Duration::from_secs(1)
        };
        let tolerance = interval.saturating_mul(limit.burst.max(1) - 1);
        Bucket { interval, tolerance, state: Mutex::new(BucketState::default()) }
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
    fn pause_until(&self, until: Instant) {
        let mut state = lock(&self.state);
        let floor = until + self.tolerance;
        state.tat = Some(state.tat.map_or(floor, |t| t.max(floor)));
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }

    fn is_paused(&self, now: Instant) -> bool {
        lock(&self.state).paused_until.is_some_and(|p| p > now)
    }

    async fn acquire(&self, clock: &Clock) {
        loop {
            let now = clock.now();
            let ready = self.reserve(now);
            if ready > now {
                clock.sleep_until(ready).await;
            }
            // A throttle elsewhere may have paused the bucket while this one slept: queue again
            // behind the pause rather than add to the load AWS just refused.
            if !self.is_paused(clock.now()) {
                return;
            }
        }
    }
}

/// The buckets of one (account, region).
#[derive(Debug)]
struct KeyBuckets {
    get_function: Bucket,
    get_policy: Bucket,
    other: Bucket,
}

impl KeyBuckets {
    fn new(limits: &BudgetLimits) -> Self {
        KeyBuckets {
            get_function: Bucket::new(limits.get_function),
            get_policy: Bucket::new(limits.get_policy),
            other: Bucket::new(limits.other),
        }
    }

    fn for_operation(&self, op: Operation) -> &Bucket {
        match op {
            Operation::GetFunction => &self.get_function,
            Operation::GetPolicy => &self.get_policy,
            _ => &self.other,
        }
    }
}

/// The registry of call budgets, one per (account, region), shared by every client of the
/// process. Cheap to clone: clones share the buckets.
#[derive(Clone, Debug)]
pub struct Budgets {
    inner: Arc<BudgetsInner>,
}

#[derive(Debug)]
struct BudgetsInner {
    limits: BudgetLimits,
    clock: Clock,
    keys: Mutex<HashMap<(String, String), Arc<KeyBuckets>>>,
    /// Jitter source: a counter run through a mixer, seeded from the clock so that replicas
    /// started together do not back off in step.
    jitter: AtomicU64,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets::new(BudgetLimits::default())
    }
}

impl Budgets {
    pub fn new(limits: BudgetLimits) -> Self {
        Budgets::with_clock(limits, Clock::Tokio)
    }

    pub fn with_clock(limits: BudgetLimits, clock: Clock) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64 ^ u64::from(std::process::id()));
        Budgets {
            inner: Arc::new(BudgetsInner {
                limits,
                clock,
                keys: Mutex::new(HashMap::new()),
                jitter: AtomicU64::new(seed),
            }),
        }
    }

    pub fn limits(&self) -> BudgetLimits {
        self.inner.limits
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    fn buckets(&self, account: &str, region: &str) -> Arc<KeyBuckets> {
        let mut keys = lock(&self.inner.keys);
        keys.entry((account.to_string(), region.to_string()))
            .or_insert_with(|| Arc::new(KeyBuckets::new(&self.inner.limits)))
            .clone()
    }

    /// Waits for a token for `op` in the budget of (account, region).
    pub async fn acquire(&self, account: &str, region: &str, op: Operation) {
        let buckets = self.buckets(account, region);
        buckets.for_operation(op).acquire(&self.inner.clock).await;
    }

    /// AWS throttled `op`: nobody sharing (account, region) sends it for `duration`.
    pub fn pause(&self, account: &str, region: &str, op: Operation, duration: Duration) {
        let until = self.inner.clock.now() + duration;
        self.buckets(account, region).for_operation(op).pause_until(until);
    }

    /// A number in [0, 1) that differs from call to call.
    fn jitter(&self) -> f64 {
        let n = self.inner.jitter.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        // splitmix64's finaliser: consecutive counters give unrelated outputs.
        let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The wait before retry `attempt` (1-based) without a hint: 200ms doubling, capped, plus
    /// up to half again of jitter so that clients throttled together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = BASE_BACKOFF.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(MAX_BACKOFF);
        base + base.mul_f64(0.5 * self.jitter())
    }
}

// ----- call counter -----

/// AWS calls by (operation, outcome), where the outcome is `ok` or [`AwsError::reason`].
/// Clones share the counts.
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

    /// The counts in the Prometheus text format, one sample per (operation, outcome), sorted by
    /// operation name then outcome so that the output is stable.
    pub fn render_prometheus(&self, metric_name: &str) -> String {
        let mut samples: Vec<(&'static str, String, u64)> =
            lock(&self.counts).iter().map(|((op, outcome), n)| (op.name(), outcome.clone(), *n)).collect();
        samples.sort();
        let mut out = format!(
            "# HELP {metric_name} AWS Lambda control-plane calls by operation and outcome.\n\
             # TYPE {metric_name} counter\n"
        );
        for (op, outcome, n) in samples {
            out.push_str(&format!("{metric_name}{{operation=\"{op}\",outcome=\"{outcome}\"}} {n}\n"));
        }
        out
    }
}

// ----- the metered client -----

/// A [`LambdaApi`] that spends from the budget of its (account, region), counts every call and
/// retries what is safe: `Throttled` (after the hint, or a jittered backoff) up to
/// [`MAX_THROTTLE_RETRIES`] times, and `Unavailable` on reads up to [`MAX_UNAVAILABLE_RETRIES`]
/// times. Preconditions, conflicts, not-found, access denied and invalid requests are answers,
/// not accidents: they are returned at once. So are failed writes: the engine re-observes.
#[derive(Debug)]
pub struct Metered<A: LambdaApi> {
    inner: A,
    key: (String, String),
    budgets: Budgets,
    calls: CallCounter,
    /// The buckets of `key`, looked up once.
    buckets: Arc<KeyBuckets>,
}

impl<A: LambdaApi> Metered<A> {
    pub fn new(
        inner: A,
        account: impl Into<String>,
        region: impl Into<String>,
        budgets: Budgets,
        calls: CallCounter,
    ) -> Self {
        let key = (account.into(), region.into());
        let buckets = budgets.buckets(&key.0, &key.1);
        Metered { inner, key, budgets, calls, buckets }
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

    async fn call<T, F, Fut>(&self, op: Operation, mut attempt: F) -> AwsResult<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = AwsResult<T>>,
    {
        let bucket = self.buckets.for_operation(op);
        let clock = self.budgets.clock();
        let mut throttled = 0;
        let mut unavailable = 0;
        loop {
            bucket.acquire(clock).await;
            let error = match attempt().await {
                Ok(value) => {
                    self.calls.record(op, OUTCOME_OK);
                    return Ok(value);
                }
                Err(error) => error,
            };
            self.calls.record(op, error.reason());
            let wait = match &error {
                AwsError::Throttled { retry_after, .. } => {
                    throttled += 1;
                    let wait = retry_after.unwrap_or_else(|| self.budgets.backoff(throttled));
                    // Every client of this account+region slows down, not only this caller.
                    bucket.pause_until(clock.now() + wait);
                    if throttled > MAX_THROTTLE_RETRIES {
                        return Err(error);
                    }
                    wait
                }
                AwsError::Unavailable { .. } if is_read(op) && unavailable < MAX_UNAVAILABLE_RETRIES => {
                    unavailable += 1;
                    self.budgets.backoff(unavailable)
                }
                _ => return Err(error),
            };
            tracing::debug!(operation = %op, reason = error.reason(), wait_ms = wait.as_millis() as u64, "retrying AWS call");
            clock.sleep(wait).await;
        }
    }
}

impl<A: LambdaApi> LambdaApi for Metered<A> {
    async fn get_function(&self, function: &str) -> AwsResult<FunctionInfo> {
        self.call(Operation::GetFunction, || self.inner.get_function(function)).await
    }

    async fn list_versions(&self, function: &str) -> AwsResult<Vec<VersionInfo>> {
        self.call(Operation::ListVersionsByFunction, || self.inner.list_versions(function)).await
    }

    async fn list_aliases(&self, function: &str) -> AwsResult<Vec<AliasInfo>> {
        self.call(Operation::ListAliases, || self.inner.list_aliases(function)).await
    }

    async fn get_policy(&self, function: &str, qualifier: &str) -> AwsResult<Option<PolicyInfo>> {
        self.call(Operation::GetPolicy, || self.inner.get_policy(function, qualifier)).await
    }

    async fn list_mappings(&self, qualified_arn: &str) -> AwsResult<Vec<MappingInfo>> {
        self.call(Operation::ListEventSourceMappings, || self.inner.list_mappings(qualified_arn)).await
    }

    async fn publish_version(
        &self,
        function: &str,
        code_sha256: &str,
        revision_id: Option<&str>,
        description: Option<&str>,
    ) -> AwsResult<VersionInfo> {
        self.call(Operation::PublishVersion, || {
            self.inner.publish_version(function, code_sha256, revision_id, description)
        })
        .await
    }

    async fn create_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
    ) -> AwsResult<AliasInfo> {
        self.call(Operation::CreateAlias, || self.inner.create_alias(function, name, version, description))
            .await
    }

    async fn update_alias(
        &self,
        function: &str,
        name: &str,
        version: &str,
        description: &str,
        revision_id: Option<&str>,
    ) -> AwsResult<AliasInfo> {
        self.call(Operation::UpdateAlias, || {
            self.inner.update_alias(function, name, version, description, revision_id)
        })
        .await
    }

    async fn delete_alias(&self, function: &str, name: &str) -> AwsResult<()> {
        self.call(Operation::DeleteAlias, || self.inner.delete_alias(function, name)).await
    }

    async fn add_permission(
        &self,
        function: &str,
        qualifier: &str,
        statement: &Statement,
        revision_id: Option<&str>,
    ) -> AwsResult<()> {
        self.call(Operation::AddPermission, || {
            self.inner.add_permission(function, qualifier, statement, revision_id)
        })
        .await
    }

    async fn remove_permission(&self, function: &str, qualifier: &str, sid: &str) -> AwsResult<()> {
        self.call(Operation::RemovePermission, || self.inner.remove_permission(function, qualifier, sid))
            .await
    }

    async fn create_mapping(&self, request: &CreateMapping) -> AwsResult<MappingInfo> {
        self.call(Operation::CreateEventSourceMapping, || self.inner.create_mapping(request)).await
    }

    async fn update_mapping(&self, request: &UpdateMapping) -> AwsResult<MappingInfo> {
        self.call(Operation::UpdateEventSourceMapping, || self.inner.update_mapping(request)).await
    }

    async fn delete_mapping(&self, uuid: &str) -> AwsResult<()> {
        self.call(Operation::DeleteEventSourceMapping, || self.inner.delete_mapping(uuid)).await
    }

    async fn delete_version(&self, function: &str, version: u64) -> AwsResult<()> {
        self.call(Operation::DeleteFunction, || self.inner.delete_version(function, version)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::fake::{FakeLambda, Fault};

    const ACCOUNT: &str = "123456789012";
    const REGION: &str = "eu-west-1";
    const FN: &str = "skill";

    /// The AWS quota itself, without margin: 15 other calls a second, all at once if need be.
    fn aws_limits() -> BudgetLimits {
        BudgetLimits {
            get_function: BucketLimit { per_second: 100.0, burst: 100 },
            get_policy: BucketLimit { per_second: 15.0, burst: 15 },
            other: BucketLimit { per_second: 15.0, burst: 15 },
        }
    }

    struct Rig {
        clock: VirtualClock,
        budgets: Budgets,
        calls: CallCounter,
    }

    impl Rig {
        fn new(limits: BudgetLimits) -> Self {
            let clock = VirtualClock::new();
            Rig {
                budgets: Budgets::with_clock(limits, Clock::Virtual(clock.clone())),
                clock,
                calls: CallCounter::new(),
            }
        }

        fn client(&self, account: &str, region: &str) -> Metered<FakeLambda> {
            let fake = FakeLambda::new(account, region);
            fake.add_function(FN, "sha-a");
            Metered::new(fake, account, region, self.budgets.clone(), self.calls.clone())
        }
    }

    fn interval(per_second: f64) -> Duration {
        Duration::from_secs_f64(1.0 / per_second)
    }

    #[tokio::test]
    async fn same_key_shares_one_bucket() {
        let rig = Rig::new(aws_limits());
        let a = rig.client(ACCOUNT, REGION);
        let b = rig.client(ACCOUNT, REGION);
        for i in 0..15 {
            let client = if i % 2 == 0 { &a } else { &b };
            client.list_aliases(FN).await.unwrap();
        }
        assert_eq!(rig.clock.elapsed(), Duration::ZERO, "15 calls fit in the burst");
        b.list_versions(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), interval(15.0), "the 16th waits for one token");
        assert_eq!(rig.calls.total(), 16);
    }

    #[tokio::test]
    async fn different_keys_do_not_share() {
        let rig = Rig::new(aws_limits());
        let here = rig.client(ACCOUNT, REGION);
        let other_region = rig.client(ACCOUNT, "us-east-1");
        let other_account = rig.client("210987654321", REGION);
        for client in [&here, &other_region, &other_account] {
            for _ in 0..15 {
                client.list_aliases(FN).await.unwrap();
            }
        }
        assert_eq!(rig.clock.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn get_function_uses_its_own_larger_bucket() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        for _ in 0..5 {
            client.list_aliases(FN).await.unwrap();
        }
        for _ in 0..20 {
            client.get_function(FN).await.unwrap();
        }
        assert_eq!(
            rig.clock.elapsed(),
            Duration::ZERO,
            "the shared bucket's burst is spent, not GetFunction's"
        );
        client.get_function(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), interval(80.0));
        client.list_aliases(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), interval(12.0), "the shared bucket refills at its own rate");
    }

    #[tokio::test]
    async fn get_policy_uses_its_own_bucket() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().oob_create_alias(FN, "PROD1", "$LATEST", "").unwrap();
        for _ in 0..5 {
            client.list_aliases(FN).await.unwrap();
            client.get_policy(FN, "PROD1").await.unwrap();
        }
        assert_eq!(rig.clock.elapsed(), Duration::ZERO);
        client.get_policy(FN, "PROD1").await.unwrap();
        assert_eq!(rig.clock.elapsed(), interval(12.0));
    }

    #[tokio::test]
    async fn sustained_rate_is_respected() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        for _ in 0..5 + 120 {
            client.list_aliases(FN).await.unwrap();
        }
        // After the burst of 5, 120 more at 12/s take 10 seconds.
        assert_eq!(rig.clock.elapsed(), interval(12.0) * 120);
    }

    #[tokio::test]
    async fn concurrent_callers_share_the_budget() {
        let rig = Rig::new(aws_limits());
        let a = rig.client(ACCOUNT, REGION);
        let b = rig.client(ACCOUNT, REGION);
        async fn run(client: &Metered<FakeLambda>) {
            for _ in 0..15 {
                client.list_aliases(FN).await.unwrap();
            }
        }
        tokio::join!(run(&a), run(&b));
        // 30 calls: 15 from the burst, then 15 more at 15/s.
        assert_eq!(rig.clock.elapsed(), interval(15.0) * 15);
    }

    #[tokio::test]
    async fn throttle_with_hint_is_retried_after_the_hint() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().throttle_next(1, Some(Duration::from_secs(2)));
        client.list_aliases(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), Duration::from_secs(2));
        assert_eq!(client.inner().calls(), vec![Operation::ListAliases; 2]);
        assert_eq!(rig.calls.get(Operation::ListAliases, "Throttled"), 1);
        assert_eq!(rig.calls.get(Operation::ListAliases, OUTCOME_OK), 1);
        assert_eq!(rig.calls.total(), 2);
    }

    #[tokio::test]
    async fn throttle_slows_every_client_of_the_key() {
        let rig = Rig::new(BudgetLimits::default());
        let a = rig.client(ACCOUNT, REGION);
        let b = rig.client(ACCOUNT, REGION);
        let elsewhere = rig.client(ACCOUNT, "us-east-1");
        // Throttled on every attempt: three retries a second apart, then the error; the bucket
        // stays paused for the last hint.
        a.inner().throttle_next(4, Some(Duration::from_secs(1)));
        let error = a.create_alias(FN, "PROD1", "$LATEST", "").await.unwrap_err();
        assert_eq!(error.reason(), "Throttled");
        assert_eq!(rig.clock.elapsed(), Duration::from_secs(3));
        elsewhere.list_aliases(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), Duration::from_secs(3), "another region is not paused");
        b.list_aliases(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), Duration::from_secs(4), "the same key waits out the pause");
        // GetFunction has its own quota and is not held back by a throttled shared bucket.
        b.get_function(FN).await.unwrap();
        assert_eq!(rig.clock.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test]
    async fn throttle_retries_are_bounded() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().throttle_next(10, None);
        let error = client.list_aliases(FN).await.unwrap_err();
        assert_eq!(error.reason(), "Throttled");
        assert_eq!(client.inner().calls().len(), 1 + MAX_THROTTLE_RETRIES as usize);
        assert_eq!(rig.calls.get(Operation::ListAliases, "Throttled"), 4);
        // Backoffs of 200, 400 and 800ms, each with up to half again of jitter.
        let elapsed = rig.clock.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_millis(2100),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn precondition_failed_is_not_retried() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        let error = client.publish_version(FN, "sha-a", Some("stale"), None).await.unwrap_err();
        assert_eq!(error.reason(), "PreconditionFailed");
        assert_eq!(client.inner().calls().len(), 1);
        assert_eq!(
            rig.calls.snapshot(),
            BTreeMap::from([((Operation::PublishVersion, "PreconditionFailed".into()), 1)])
        );
    }

    #[tokio::test]
    async fn answers_are_not_retried() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        for fault in [Fault::Conflict, Fault::NotFound, Fault::AccessDenied, Fault::Invalid] {
            client.inner().fail_next(1, fault);
            client.list_aliases(FN).await.unwrap_err();
        }
        assert_eq!(client.inner().calls().len(), 4);
        assert_eq!(rig.clock.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn writes_are_not_retried_on_unavailable() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().fail_next(1, Fault::Timeout);
        let error = client.create_alias(FN, "PROD1", "$LATEST", "").await.unwrap_err();
        assert_eq!(error.reason(), "Unavailable");
        assert_eq!(client.inner().calls(), vec![Operation::CreateAlias]);
        assert!(client.inner().aliases(FN).is_empty());
    }

    #[tokio::test]
    async fn reads_are_retried_on_unavailable_at_most_twice() {
        let rig = Rig::new(BudgetLimits::default());
        let client = rig.client(ACCOUNT, REGION);
        client.inner().fail_next(1, Fault::Unavailable);
        client.get_function(FN).await.unwrap();
        assert_eq!(client.inner().calls().len(), 2);

        client.inner().clear_calls();
        client.inner().fail_next(5, Fault::Timeout);
        let error = client.get_function(FN).await.unwrap_err();
        assert_eq!(error.reason(), "Unavailable");
        assert_eq!(client.inner().calls().len(), 1 + MAX_UNAVAILABLE_RETRIES as usize);
        assert_eq!(rig.calls.get(Operation::GetFunction, "Unavailable"), 4);
        assert_eq!(rig.calls.get(Operation::GetFunction, OUTCOME_OK), 1);
    }

    #[test]
    fn backoff_doubles_with_bounded_jitter() {
        let budgets = Budgets::default();
        for attempt in 1..=10 {
            let base = BASE_BACKOFF.saturating_mul(1 << (attempt - 1)).min(MAX_BACKOFF);
            let wait = budgets.backoff(attempt);
            assert!(wait >= base && wait < base + base / 2, "attempt {attempt}: {wait:?}");
        }
        let waits: std::collections::BTreeSet<Duration> = (0..20).map(|_| budgets.backoff(1)).collect();
        assert!(waits.len() > 1, "jitter varies from call to call");
    }

    #[test]
    fn call_counter_aggregates_and_resets() {
        let calls = CallCounter::new();
        let shared = calls.clone();
        shared.record(Operation::ListAliases, OUTCOME_OK);
        shared.record(Operation::ListAliases, "Throttled");
        shared.record(Operation::GetFunction, OUTCOME_OK);
        assert_eq!(calls.total(), 3);
        assert_eq!(
            calls.by_operation(),
            BTreeMap::from([(Operation::GetFunction, 1), (Operation::ListAliases, 2)])
        );
        calls.reset();
        assert_eq!(shared.total(), 0);
        assert!(shared.snapshot().is_empty());
    }

    #[test]
    fn prometheus_rendering_is_sorted_and_stable() {
        let calls = CallCounter::new();
        calls.record(Operation::UpdateAlias, "PreconditionFailed");
        for _ in 0..3 {
            calls.record(Operation::GetFunction, OUTCOME_OK);
        }
        calls.record(Operation::AddPermission, OUTCOME_OK);
        calls.record(Operation::GetFunction, "Throttled");
        let text = calls.render_prometheus("lac_aws_calls_total");
        assert_eq!(
            text,
            "# HELP lac_aws_calls_total AWS Lambda control-plane calls by operation and outcome.\n\
             # TYPE lac_aws_calls_total counter\n\
             lac_aws_calls_total{operation=\"AddPermission\",outcome=\"ok\"} 1\n\
             lac_aws_calls_total{operation=\"GetFunction\",outcome=\"Throttled\"} 1\n\
             lac_aws_calls_total{operation=\"GetFunction\",outcome=\"ok\"} 3\n\
             lac_aws_calls_total{operation=\"UpdateAlias\",outcome=\"PreconditionFailed\"} 1\n"
        );
        assert_eq!(calls.render_prometheus("lac_aws_calls_total"), text);
    }
}

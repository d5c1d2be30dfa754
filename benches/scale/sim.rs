//! The simulated AWS: the faithful fake ([`FakeLambda`]) behind AWS Lambda's quotas and a
//! latency, in the controller's own process. Above a pool's quota it answers `Throttled`, as
//! AWS does, and counts it; it counts every request by lane (read from the task, as the budget
//! does), by kind of set (with or without an event source mapping) and by pool; it remembers
//! which functions were read since a mark, so that a drift pass can be seen from AWS's side.
//! It also makes out-of-band changes (PROD1 re-pointed by hand) and notes, for each, when the
//! controller's first request on that function entered and when the write that put PROD1 back
//! returned (the drift-events phase).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lambda_alias_controller::api::LambdaAliasSetSpec;
use lambda_alias_controller::aws::budget::{Lane, Metered, pool_of};
use lambda_alias_controller::aws::fake::FakeLambda;
use lambda_alias_controller::aws::{AwsError, AwsResult, Call, Operation, Request};
use lambda_alias_controller::controller::LambdaProvider;
use serde::{Deserialize, Serialize};

use crate::sets;

pub const ACCOUNT: &str = "111122223333";
pub const REGION: &str = "eu-west-1";

/// The pools as the controller's metrics name them, in the order of every per-pool array here.
pub const POOLS: [&str; 3] = ["GetFunction", "GetPolicy", "shared"];
/// AWS Lambda's quotas per account and region, requests per second, by pool.
pub const AWS_QUOTAS: [f64; 3] = [100.0, 15.0, 15.0];

/// Kinds of set, the index of every per-class array: without and with an event source mapping.
pub const CLASSES: [&str; 2] = ["without mappings", "with mappings"];

pub fn pool_index(op: Operation) -> usize {
    let name = pool_of(op);
    POOLS.iter().position(|p| *p == name).unwrap_or(2)
}

/// AWS's side of one pool: a token bucket holding one second of quota (`quota × scale`),
/// refilled at that rate. Strict: a request finding no token is throttled.
#[derive(Debug)]
struct Quota {
    per_second: f64,
    /// (tokens, when last refilled)
    state: Mutex<(f64, Instant)>,
}

impl Quota {
    fn new(per_second: f64) -> Self {
        Quota { per_second, state: Mutex::new((per_second, Instant::now())) }
    }

    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let tokens =
            (state.0 + now.duration_since(state.1).as_secs_f64() * self.per_second).min(self.per_second);
        let granted = tokens >= 1.0;
        *state = (if granted { tokens - 1.0 } else { tokens }, now);
        granted
    }
}

/// What the simulated AWS saw, as the controller child reports it to the bench.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SimStats {
    /// Requests (throttled ones included) by lane (priority, drift), class and pool.
    pub calls: [[[u64; 3]; 2]; 2],
    /// Requests AWS refused with a throttle, by pool.
    pub throttles: [u64; 3],
    /// CPU seconds the fake itself spent answering (per-thread CPU clock around each call).
    pub fake_cpu_seconds: f64,
    /// Functions read or written at least once since the last mark.
    pub covered: usize,
    /// A few of the functions not touched since the mark (by index), to tell who is late.
    pub uncovered: Vec<usize>,
    pub functions: usize,
}

impl SimStats {
    /// Requests of one lane in `pool`, both classes.
    pub fn lane_pool(&self, lane: Lane, pool: usize) -> u64 {
        self.calls[lane as usize].iter().map(|class| class[pool]).sum()
    }

    /// Requests of one class in `pool`, both lanes.
    pub fn class_pool(&self, class: usize, pool: usize) -> u64 {
        self.calls.iter().map(|lane| lane[class][pool]).sum()
    }

    /// `self - earlier`, counter by counter (coverage and sizes are kept from `self`).
    pub fn since(&self, earlier: &SimStats) -> SimStats {
        let mut out = self.clone();
        for (lane, l) in out.calls.iter_mut().enumerate() {
            for (class, c) in l.iter_mut().enumerate() {
                for (pool, n) in c.iter_mut().enumerate() {
                    *n -= earlier.calls[lane][class][pool];
                }
            }
        }
        for (pool, n) in out.throttles.iter_mut().enumerate() {
            *n -= earlier.throttles[pool];
        }
        out.fake_cpu_seconds -= earlier.fake_cpu_seconds;
        out
    }
}

/// One out-of-band change and what followed it ([`crate::probe::monotonic_ns`], 0: not yet).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Repair {
    /// PROD1 re-pointed by hand (from `from` to `to`).
    pub changed: u64,
    /// Its event sent to the queue, visible at once (0: none, left to polling).
    pub sent: u64,
    /// The controller's first request on the function after the change entered, before the
    /// budget (its lane).
    pub first: u64,
    pub first_lane: Option<String>,
    /// The write that put PROD1 back on `from` returned (its lane).
    pub repaired: u64,
    pub repaired_lane: Option<String>,
    pub from: String,
    pub to: String,
}

/// The fake with AWS's quotas (`None`: unlimited) and latency in front of it.
pub struct SimAws {
    fake: FakeLambda,
    latency: Duration,
    quotas: Option<[Quota; 3]>,
    calls: [[[AtomicU64; 3]; 2]; 2],
    throttles: [AtomicU64; 3],
    fake_cpu_ns: AtomicU64,
    served: AtomicU64,
    /// Per function index: the mark epoch it was last touched in.
    touched: Vec<AtomicU32>,
    /// Per function index: when its first priority-lane request since the mark and its last one
    /// arrived ([`crate::probe::monotonic_ns`], 0: none).
    first_priority: Vec<AtomicU64>,
    last_priority: Vec<AtomicU64>,
    epoch: AtomicU32,
    /// Out-of-band changes by function index, and how many are not repaired yet (the requests'
    /// fast path looks no further while none is).
    repairs: Mutex<HashMap<usize, Repair>>,
    unrepaired: AtomicUsize,
}

impl SimAws {
    /// A fake holding the `n` benchmark functions (`$LATEST` only), with AWS's quotas times
    /// `scale` (`None`: no quotas) and `latency` per request.
    pub fn new(n: usize, quota_scale: Option<f64>, latency: Duration) -> Self {
        let fake = FakeLambda::new(ACCOUNT, REGION);
        for i in 0..n {
            fake.add_function(&sets::function_name(i), sets::CODE_SHA256);
        }
        SimAws {
            fake,
            latency,
            quotas: quota_scale.map(|scale| AWS_QUOTAS.map(|q| Quota::new(q * scale))),
            calls: Default::default(),
            throttles: Default::default(),
            fake_cpu_ns: AtomicU64::new(0),
            served: AtomicU64::new(0),
            touched: (0..n).map(|_| AtomicU32::new(0)).collect(),
            first_priority: (0..n).map(|_| AtomicU64::new(0)).collect(),
            last_priority: (0..n).map(|_| AtomicU64::new(0)).collect(),
            epoch: AtomicU32::new(1),
            repairs: Mutex::new(HashMap::new()),
            unrepaired: AtomicUsize::new(0),
        }
    }

    fn repairs(&self) -> std::sync::MutexGuard<'_, HashMap<usize, Repair>> {
        self.repairs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Someone re-points function `i`'s PROD1 by hand, keeping its description (the
    /// controller's marker), as a console user does: to `$LATEST`. Watched from now on until
    /// a write of the controller puts it back.
    pub fn oob_repoint(&self, i: usize) -> Result<(), String> {
        let name = sets::function_name(i);
        let from = self.fake.alias(&name, "PROD1").ok_or(format!("{name} has no PROD1"))?.function_version;
        let to = "$LATEST";
        if from == to {
            return Err(format!("{name}'s PROD1 is on {to} already"));
        }
        let mut repairs = self.repairs();
        if repairs.get(&i).is_some_and(|r| r.repaired == 0) {
            return Err(format!("{name} is changed already"));
        }
        self.fake.oob_update_alias(&name, "PROD1", to).map_err(|e| format!("{name}: {e}"))?;
        let changed = crate::probe::monotonic_ns();
        repairs.insert(i, Repair { changed, from, to: to.to_string(), ..Repair::default() });
        self.unrepaired.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// The change of function `i` was announced: its event is in the queue.
    pub fn note_sent(&self, i: usize) {
        if let Some(r) = self.repairs().get_mut(&i) {
            r.sent = crate::probe::monotonic_ns();
        }
    }

    /// What became of these functions' out-of-band changes (the default: none made).
    pub fn repairs_of(&self, functions: &[usize]) -> Vec<Repair> {
        let repairs = self.repairs();
        functions.iter().map(|i| repairs.get(i).cloned().unwrap_or_default()).collect()
    }

    /// A request on function `i` enters (before the budget): the first after its change?
    fn entered(&self, i: usize) {
        if self.unrepaired.load(Ordering::Relaxed) == 0 {
            return;
        }
        if let Some(r) = self.repairs().get_mut(&i)
            && r.first == 0
        {
            r.first = crate::probe::monotonic_ns();
            r.first_lane = Some(Lane::current().name().to_string());
        }
    }

    /// A write on function `i` returned: did it put PROD1 back?
    fn wrote(&self, i: usize) {
        if self.unrepaired.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut repairs = self.repairs();
        let Some(r) = repairs.get_mut(&i).filter(|r| r.repaired == 0) else { return };
        let now = self.fake.alias(&sets::function_name(i), "PROD1").map(|a| a.function_version);
        if now.as_deref() == Some(r.from.as_str()) {
            r.repaired = crate::probe::monotonic_ns();
            r.repaired_lane = Some(Lane::current().name().to_string());
            self.unrepaired.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Starts a new window: `covered` counts functions touched from now on, and the first
    /// priority-lane request of each function is looked for again.
    pub fn mark(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        for t in &self.first_priority {
            t.store(0, Ordering::Relaxed);
        }
    }

    pub fn stats(&self) -> SimStats {
        let epoch = self.epoch.load(Ordering::SeqCst);
        SimStats {
            calls: std::array::from_fn(|l| {
                std::array::from_fn(|c| std::array::from_fn(|p| self.calls[l][c][p].load(Ordering::Relaxed)))
            }),
            throttles: std::array::from_fn(|p| self.throttles[p].load(Ordering::Relaxed)),
            fake_cpu_seconds: self.fake_cpu_ns.load(Ordering::Relaxed) as f64 / 1e9,
            covered: self.touched.iter().filter(|t| t.load(Ordering::Relaxed) == epoch).count(),
            uncovered: (self.touched.iter().enumerate())
                .filter(|(_, t)| t.load(Ordering::Relaxed) != epoch)
                .map(|(i, _)| i)
                .take(10)
                .collect(),
            functions: self.touched.len(),
        }
    }

    /// When the first priority-lane request since the mark and the last one arrived for each
    /// of these functions (monotonic ns, 0: none).
    pub fn priority_requests(&self, functions: &[usize]) -> Vec<(u64, u64)> {
        let at = |v: &[AtomicU64], i: usize| v.get(i).map_or(0, |t| t.load(Ordering::Relaxed));
        functions.iter().map(|i| (at(&self.first_priority, *i), at(&self.last_priority, *i))).collect()
    }

    /// One request: the latency, AWS's quota, the counts, then the fake.
    async fn request<T>(
        &self,
        op: Operation,
        ident: Option<&str>,
        call: impl Future<Output = AwsResult<T>>,
    ) -> AwsResult<T> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        let (index, class) = ident.and_then(sets::parse_function).unzip();
        let pool = pool_index(op);
        let lane = Lane::current();
        self.calls[lane as usize][class.unwrap_or(0)][pool].fetch_add(1, Ordering::Relaxed);
        if let Some(quotas) = &self.quotas
            && !quotas[pool].take()
        {
            self.throttles[pool].fetch_add(1, Ordering::Relaxed);
            return Err(AwsError::Throttled { operation: op, retry_after: None });
        }
        if let Some(i) = index.filter(|i| *i < self.touched.len()) {
            self.touched[i].store(self.epoch.load(Ordering::Relaxed), Ordering::Relaxed);
            if lane == Lane::Priority {
                let now = crate::probe::monotonic_ns();
                let _ = self.first_priority[i].compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                self.last_priority[i].store(now, Ordering::Relaxed);
            }
        }
        let started = thread_cpu_ns();
        let result = call.await;
        self.fake_cpu_ns.fetch_add(thread_cpu_ns().saturating_sub(started), Ordering::Relaxed);
        if let Some(i) = index
            && !op.is_read()
            && result.is_ok()
        {
            self.wrote(i);
        }
        // The fake records every call for tests; here that log would only grow.
        if self.served.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            self.fake.clear_calls();
        }
        result
    }
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own; no other memory is touched.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The seam of the simulated AWS, for every request the fake answers: the latency, AWS's quota
/// and the counts of [`SimAws::request`], then the fake. A handle, so that the bench keeps the
/// simulation's counts while [`Metered`] owns the client.
#[derive(Clone)]
pub struct SimClient(pub Arc<SimAws>);

impl<R: Request> Call<R> for SimClient
where
    FakeLambda: Call<R>,
{
    async fn call(&self, request: &R) -> AwsResult<R::Output> {
        self.0.request(R::OPERATION, request.resource(), self.0.fake.call(request)).await
    }
}

/// In front of the controller's [`Metered`]: notes when a request on a function changed out of
/// band enters, before it waits for a budget token, so that the drift-events phase can tell
/// the AWS part of a repair (budget, latency) from what came before it (queue, booking, watch).
pub struct SimFront {
    pub metered: Metered<SimClient>,
    pub sim: Arc<SimAws>,
}

impl<R: Request> Call<R> for SimFront
where
    Metered<SimClient>: Call<R>,
{
    async fn call(&self, request: &R) -> AwsResult<R::Output> {
        if self.sim.unrepaired.load(Ordering::Relaxed) > 0
            && let Some((i, _)) = request.resource().and_then(sets::parse_function)
        {
            self.sim.entered(i);
        }
        self.metered.call(request).await
    }
}

/// Every set's client: one [`Metered`] (the production budget and retry layer) for the one
/// simulated account and region.
pub struct SimProvider(pub Arc<SimFront>);

impl LambdaProvider for SimProvider {
    type Api = SimFront;

    fn client_for<'a>(
        &'a self,
        _spec: &'a LambdaAliasSetSpec,
    ) -> impl Future<Output = Arc<Self::Api>> + Send + 'a {
        std::future::ready(self.0.clone())
    }
}

//! The inference pool and its fair queue.
//!
//! Every inference on the node runs here, on a fixed set of OS threads (one per core by default), never on an
//! async worker: a guest's `compute` enqueues a [`Job`] and awaits its result, so the HTTP side keeps
//! answering while models run.
//!
//! Fairness is start-time fair queuing by cost: each tenant has a virtual clock that advances by the time
//! its jobs actually ran on the pool, and the next free thread takes the oldest job of the tenant whose clock
//! is furthest behind. A tenant that becomes busy starts at the current clock, so idling earns no credit.
//! A job is charged an estimate (its tenant's recent average) when it starts and the truth when it ends.
//! While another tenant is active (it has a job queued or running, or had one within the last
//! [`ACTIVE_FOR`]), one tenant may hold at most `threads - 1` threads: a flood from one tenant never takes the
//! whole pool, and a tenant with a light steady load finds a thread free instead of waiting for a heavy job to
//! finish (jobs cannot be pre-empted). A tenant alone on the node uses every thread.
//!
//! A job may run other tenants' work along with its own (a batch, see `batching.rs`): it then says how many
//! items it ran for each tenant ([`Shares`]), and its cost is charged to each in proportion.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a tenant counts as active after its last job: while another tenant is active, no tenant holds
/// more than `threads - 1` threads.
pub const ACTIVE_FOR: Duration = Duration::from_secs(1);

/// A unit of work for the pool, tagged with the tenant it is charged to.
pub struct Job {
    tenant: Arc<str>,
    work: Box<dyn FnOnce() -> Shares + Send>,
}

/// What a job ran for whom: items per tenant. Empty means everything was for the job's own tenant.
pub type Shares = Vec<(Arc<str>, usize)>;

impl Job {
    /// A job charged to `tenant`.
    pub fn new(tenant: &str, work: impl FnOnce() + Send + 'static) -> Self {
        Self::shared(tenant, move || {
            work();
            Shares::new()
        })
    }

    /// A job queued as `tenant`'s that may also run work of other tenants; its cost is split by the
    /// [`Shares`] it returns.
    pub fn shared(tenant: &str, work: impl FnOnce() -> Shares + Send + 'static) -> Self {
        Self { tenant: tenant.into(), work: Box::new(work) }
    }
}

/// Where a job's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobTiming {
    /// Waiting for a pool thread.
    pub queue_wait: std::time::Duration,
    /// Running.
    pub run: std::time::Duration,
}

/// A snapshot of the pool, for metrics and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulerStats {
    /// Threads in the pool.
    pub threads: usize,
    /// Jobs running now.
    pub running: usize,
    /// Jobs waiting for a thread.
    pub queued: usize,
}

/// The inference pool. Dropping it lets running jobs finish, drops queued ones (their callers get an error)
/// and stops the threads.
pub struct Scheduler {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

struct Shared {
    threads: usize,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    tenants: HashMap<Arc<str>, TenantQueue>,
    /// The virtual time of the last job started: where a newly busy tenant's clock begins.
    clock: u64,
    running: usize,
    stopping: bool,
}

#[derive(Default)]
struct TenantQueue {
    jobs: VecDeque<Job>,
    running: usize,
    /// Virtual time: microseconds of pool time charged to this tenant.
    vtime: u64,
    /// Recent average job cost in microseconds, charged up front when a job starts.
    estimate: u64,
    /// When a job of this tenant was last queued or finished.
    last_seen: Option<Instant>,
}

impl Scheduler {
    /// A pool of `threads` threads (at least one).
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        let shared = Arc::new(Shared { threads, state: Mutex::default(), wake: Condvar::new() });
        let handles = (0..threads)
            .map(|i| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("edge-infer-nn-{i}"))
                    .spawn(move || shared.work())
                    .expect("spawn an inference thread")
            })
            .collect();
        Self { shared, threads: handles }
    }

    /// Queues a job.
    pub fn submit(&self, job: Job) {
        let mut state = self.shared.lock();
        let clock = state.clock;
        let queue = state.tenants.entry(job.tenant.clone()).or_default();
        if queue.jobs.is_empty() && queue.running == 0 {
            queue.vtime = queue.vtime.max(clock);
        }
        queue.jobs.push_back(job);
        queue.last_seen = Some(Instant::now());
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Runs `f` on the pool, charged to `tenant`, and waits for its result without blocking the async worker.
    pub async fn run<R: Send + 'static>(
        &self,
        tenant: &str,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, crate::NnError> {
        self.run_timed(tenant, f).await.map(|(result, _)| result)
    }

    /// Like [`Scheduler::run`], also saying how long the job waited for a thread and how long it ran.
    pub async fn run_timed<R: Send + 'static>(
        &self,
        tenant: &str,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<(R, JobTiming), crate::NnError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = Instant::now();
        self.submit(Job::new(tenant, move || {
            let started = Instant::now();
            let result = f();
            let timing = JobTiming { queue_wait: started - queued, run: started.elapsed() };
            // The receiver may be gone (the request timed out): the work is done and charged all the same.
            let _ = tx.send((result, timing));
        }));
        rx.await.map_err(|_| no_answer())
    }

    /// Threads, running and queued jobs now.
    pub fn stats(&self) -> SchedulerStats {
        let state = self.shared.lock();
        SchedulerStats {
            threads: self.shared.threads,
            running: state.running,
            queued: state.tenants.values().map(|q| q.jobs.len()).sum(),
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A job runs outside the lock, so a poisoned lock means a bug in this file: keep serving regardless.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn work(&self) {
        let mut state = self.lock();
        loop {
            if state.stopping {
                return;
            }
            let now = Instant::now();
            state.forget_idle(now);
            let Some(tenant) = state.pick(self.threads, now) else {
                // A tenant going quiet (ACTIVE_FOR) may let another take more threads: look again by then.
                state = self.wake.wait_timeout(state, ACTIVE_FOR).unwrap_or_else(|p| p.into_inner()).0;
                continue;
            };
            let queue = state.tenants.get_mut(&tenant).expect("picked tenant exists");
            let job = queue.jobs.pop_front().expect("picked tenant has a job");
            queue.running += 1;
            let charged = queue.estimate.max(1);
            queue.vtime += charged;
            let started_at = queue.vtime - charged;
            state.clock = state.clock.max(started_at);
            state.running += 1;
            drop(state);

            let started = Instant::now();
            // A panicking backend must not take a pool thread with it: the job's caller sees its result
            // channel close (an error), and the thread goes on serving.
            let shares = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.work)).unwrap_or_else(|_| {
                tracing::error!(tenant = %tenant, "an inference job panicked");
                Shares::new()
            });
            let cost = (started.elapsed().as_micros() as u64).max(1);

            state = self.lock();
            state.running -= 1;
            let cost = state.charge_others(&tenant, cost, &shares);
            let queue = state.tenants.get_mut(&tenant).expect("running tenant exists");
            queue.running -= 1;
            queue.vtime = queue.vtime - charged + cost;
            queue.estimate = if queue.estimate == 0 { cost } else { (queue.estimate * 7 + cost) / 8 };
            queue.last_seen = Some(Instant::now());
            // A finished job may make another tenant's job eligible (the per-tenant cap).
            self.wake.notify_all();
        }
    }
}

impl TenantQueue {
    fn active(&self, now: Instant) -> bool {
        !self.jobs.is_empty() || self.running > 0 || self.last_seen.is_some_and(|t| now - t < ACTIVE_FOR)
    }
}

impl State {
    /// The tenant whose next job runs now: the one furthest behind among those allowed another thread.
    fn pick(&self, threads: usize, now: Instant) -> Option<Arc<str>> {
        let cap = threads.saturating_sub(1).max(1);
        let active = self.tenants.values().filter(|q| q.active(now)).count();
        self.tenants
            .iter()
            .filter(|(_, q)| !q.jobs.is_empty() && (q.running < cap || active == 1))
            .min_by_key(|(_, q)| q.vtime)
            .map(|(tenant, _)| tenant.clone())
    }

    /// Charges other tenants their part of a shared job's `cost`, and returns the part left for its own tenant.
    fn charge_others(&mut self, own: &Arc<str>, cost: u64, shares: &Shares) -> u64 {
        let total: usize = shares.iter().map(|(_, items)| items).sum();
        if total == 0 {
            return cost;
        }
        let part = |items: usize| (cost as u128 * items as u128 / total as u128) as u64;
        let mut own_items = 0;
        for (tenant, items) in shares {
            if tenant == own {
                own_items += items;
            } else if let Some(queue) = self.tenants.get_mut(tenant) {
                queue.vtime += part(*items);
            }
        }
        part(own_items).max(1)
    }

    /// Drops the tenants that are neither active nor owed time (idling earns no credit).
    fn forget_idle(&mut self, now: Instant) {
        let clock = self.clock;
        self.tenants.retain(|_, q| q.active(now) || q.vtime > clock);
    }
}

/// A job's caller whose answer never came: the job panicked outside a backend's own guard (logged), or the
/// pool shut down.
pub(crate) fn no_answer() -> crate::NnError {
    crate::NnError::runtime("the inference job ended without an answer (the node's log says why)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A job that reports when it starts and then waits for its gate.
    fn gated(tenant: &str, name: &'static str, started: &mpsc::Sender<&'static str>) -> (Job, mpsc::Sender<()>) {
        let (open, gate) = mpsc::channel::<()>();
        let started = started.clone();
        let job = Job::new(tenant, move || {
            started.send(name).unwrap();
            let _ = gate.recv_timeout(Duration::from_secs(30));
        });
        (job, open)
    }

    const WAIT: Duration = Duration::from_secs(10);

    #[test]
    fn runs_no_more_jobs_than_threads() {
        let pool = Scheduler::new(2);
        let (started, starts) = mpsc::channel();
        let (a, open_a) = gated("t", "a", &started);
        let (b, open_b) = gated("t", "b", &started);
        let (c, open_c) = gated("t", "c", &started);
        pool.submit(a);
        pool.submit(b);
        pool.submit(c);
        let mut first = vec![starts.recv_timeout(WAIT).unwrap(), starts.recv_timeout(WAIT).unwrap()];
        first.sort();
        assert_eq!(first, ["a", "b"]);
        assert!(starts.recv_timeout(Duration::from_millis(200)).is_err(), "a third job started");
        assert_eq!(pool.stats(), SchedulerStats { threads: 2, running: 2, queued: 1 });
        open_a.send(()).unwrap();
        assert_eq!(starts.recv_timeout(WAIT).unwrap(), "c");
        open_b.send(()).unwrap();
        open_c.send(()).unwrap();
    }

    #[test]
    fn a_busy_tenant_leaves_a_thread_for_others() {
        let pool = Scheduler::new(2);
        let (started, starts) = mpsc::channel();
        let mut gates = Vec::new();
        for name in ["a1", "a2", "a3"] {
            let (job, gate) = gated("a", name, &started);
            pool.submit(job);
            gates.push(gate);
        }
        // Alone, tenant a may use both threads.
        starts.recv_timeout(WAIT).unwrap();
        starts.recv_timeout(WAIT).unwrap();
        let (b, open_b) = gated("b", "b1", &started);
        pool.submit(b);
        // a1 finishes: the freed thread goes to b, not to a's queued a3.
        gates.remove(0).send(()).unwrap();
        assert_eq!(starts.recv_timeout(WAIT).unwrap(), "b1");
        open_b.send(()).unwrap();
        for gate in gates {
            let _ = gate.send(());
        }
        assert_eq!(starts.recv_timeout(WAIT).unwrap(), "a3");
    }

    #[test]
    fn a_recently_active_tenant_keeps_a_thread_free_until_it_goes_quiet() {
        let pool = Scheduler::new(2);
        let (started, starts) = mpsc::channel();
        // Tenant b runs one short job and is done: it still counts as active for ACTIVE_FOR.
        let (b, open_b) = gated("b", "b1", &started);
        pool.submit(b);
        assert_eq!(starts.recv_timeout(WAIT).unwrap(), "b1");
        open_b.send(()).unwrap();
        let b_done = Instant::now();
        let (a1, open_a1) = gated("a", "a1", &started);
        let (a2, open_a2) = gated("a", "a2", &started);
        pool.submit(a1);
        pool.submit(a2);
        assert_eq!(starts.recv_timeout(WAIT).unwrap(), "a1");
        // a2 waits although a thread is idle, until b has been quiet for ACTIVE_FOR.
        assert_eq!(starts.recv_timeout(WAIT).unwrap(), "a2");
        assert!(b_done.elapsed() >= ACTIVE_FOR, "a took the second thread while b was active");
        open_a1.send(()).unwrap();
        open_a2.send(()).unwrap();
    }

    #[test]
    fn one_job_behind_a_flood_starts_within_pool_plus_one_dispatches() {
        let pool = Scheduler::new(2);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started, starts) = mpsc::channel();
        // Hold both threads while tenant a queues 100 jobs and b queues one.
        let (hold_1, open_1) = gated("x", "hold", &started);
        let (hold_2, open_2) = gated("x", "hold", &started);
        pool.submit(hold_1);
        pool.submit(hold_2);
        starts.recv_timeout(WAIT).unwrap();
        starts.recv_timeout(WAIT).unwrap();
        for i in 0..100 {
            let order = order.clone();
            pool.submit(Job::new("a", move || {
                order.lock().unwrap().push(format!("a{i}"));
                std::thread::sleep(Duration::from_millis(1));
            }));
        }
        let order_b = order.clone();
        pool.submit(Job::new("b", move || order_b.lock().unwrap().push("b".into())));
        open_1.send(()).unwrap();
        open_2.send(()).unwrap();
        let deadline = Instant::now() + WAIT;
        while order.lock().unwrap().len() < 101 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let order = order.lock().unwrap().clone();
        let b_at = order.iter().position(|j| j == "b").expect("b ran");
        assert!(b_at <= 2 + 1, "b started only after {b_at} dispatches: {:?}", &order[..b_at + 1]);
        assert_eq!(order.len(), 101);
    }

    #[test]
    fn tenants_alternate_by_cost() {
        let pool = Scheduler::new(1);
        let order = Arc::new(Mutex::new(Vec::new()));
        let (started, starts) = mpsc::channel();
        // Hold the only thread while both tenants queue up.
        let (hold, open) = gated("x", "hold", &started);
        pool.submit(hold);
        starts.recv_timeout(WAIT).unwrap();
        for i in 0..4 {
            for tenant in ["a", "b"] {
                let order = order.clone();
                pool.submit(Job::new(tenant, move || {
                    std::thread::sleep(Duration::from_millis(2));
                    order.lock().unwrap().push(format!("{tenant}{i}"));
                }));
            }
        }
        open.send(()).unwrap();
        let deadline = Instant::now() + WAIT;
        while order.lock().unwrap().len() < 8 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let order = order.lock().unwrap().clone();
        // Queued 4 deep each, neither tenant ever gets more than one job ahead of the other.
        let mut lead = 0i32;
        for job in &order {
            lead += if job.starts_with('a') { 1 } else { -1 };
            assert!(lead.abs() <= 2, "unfair order {order:?}");
        }
        assert_eq!(order.len(), 8);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panicking_job_is_an_error_and_the_pool_keeps_its_threads() {
        let pool = Scheduler::new(1);
        let failed = pool.run("t", || -> u32 { panic!("backend bug") }).await;
        assert!(failed.is_err());
        assert_eq!(pool.run("t", || 5).await.unwrap(), 5);
        // The result is sent from inside the job, so the thread books the job's end a moment later.
        let deadline = Instant::now() + WAIT;
        while pool.stats().running != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.stats(), SchedulerStats { threads: 1, running: 0, queued: 0 });
    }

    #[tokio::test(flavor = "current_thread")]
    async fn run_awaits_the_result_without_blocking_the_runtime() {
        let pool = Scheduler::new(1);
        let slow = pool.run("t", || {
            std::thread::sleep(Duration::from_millis(50));
            7
        });
        let tick = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            "ticked"
        };
        let (slow, tick) = tokio::join!(slow, tick);
        assert_eq!((slow.unwrap(), tick), (7, "ticked"));
    }

    #[test]
    fn a_shared_job_charges_each_tenant_its_items() {
        let mut state = State::default();
        for tenant in ["a", "b"] {
            state.tenants.insert(tenant.into(), TenantQueue::default());
        }
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        // 4 items: 1 for a (whose job it is), 3 for b.
        let own = state.charge_others(&a, 400, &vec![(a.clone(), 1), (b.clone(), 3)]);
        assert_eq!((own, state.tenants[&b].vtime), (100, 300));
        // A job that ran only its own work keeps the whole cost.
        assert_eq!(state.charge_others(&a, 400, &Shares::new()), 400);
    }
}

//! Dynamic batching that pays for itself.
//!
//! Concurrent runs of one model on inputs of one shape (but for the leading, free batch axis), from any
//! tenant, can be merged into one run and split back. Whether that is worth it depends on the model and the
//! backend: on a CPU, tract and onnxruntime run a batch of N in about N times one run, or worse (FACTS.md),
//! while a GPU or a wide intra-op pool runs it in much less. So nothing is assumed: each model keeps a
//! [`CostCurve`], the measured time per item at batch sizes 1, 2, 4, 8, …, learnt from live runs (each size
//! tried only while the one below it paid), and a batch is formed only at a size whose cost per item is
//! lower than running the items one by one.
//!
//! Batches form without waiting: every call queues its inputs in its model's group and a job of its own
//! tenant on the fair [`Scheduler`]. Whichever of those jobs a pool thread picks first takes its own inputs
//! and, if the curve says so, other queued inputs of the group along; the jobs whose inputs were taken find
//! nothing left and end at once. A batch's cost is charged to each tenant by the items it ran for them, so
//! batching never lets one tenant ride on another's share of the pool. Where batching pays, a call may also
//! wait up to `max_queue_delay` for company before queuing its job.
//!
//! A free leading axis is not always a batch: a model may take a sequence there and mix its rows. So a
//! group's first batch is checked against its items run alone, and a group whose batch failed, did not
//! split, or changed an answer never batches again.

use crate::elements::Elements;
use crate::scheduler::{Job, Shares};
use crate::{Dim, ElementType, JobTiming, LoadedModel, NnError, Scheduler, Tensor};
use edge_infer_metrics::{BatchCostLabels, Metrics, ModelLabels};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// Runs measured at a batch size before its cost counts. The first run at a size, which may build a plan for
/// the new shape, is not measured; the cost is the median of the last [`KEEP`] runs, so one slow run (a
/// plan built by two threads at once, a busy machine) does not decide.
const SAMPLES: usize = 3;
/// Runs a size's median is taken over.
const KEEP: usize = 5;
/// A batch size is chosen only when its cost per item is at most this fraction of a single run's.
const PAYS_BELOW: f64 = 0.95;
/// After this many decisions against batching, one batched size is measured again: the curve follows the
/// machine's load instead of keeping its first verdict forever.
const REMEASURE_EVERY: u32 = 2_000;
/// Groups (model × input shape) remembered at once; beyond it, idle ones are forgotten.
const MAX_GROUPS: usize = 1_024;

/// How far batching may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most items in one run; 1 turns batching off.
    pub max_batch_size: usize,
    /// How long a call may wait for others to batch with, where batching pays for its model.
    pub max_queue_delay: Duration,
    /// Whether batch sizes follow the measured costs, or every waiting call is taken along.
    pub mode: BatchMode,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self { max_batch_size: 16, max_queue_delay: Duration::ZERO, mode: BatchMode::Measured }
    }
}

/// How batch sizes are chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BatchMode {
    /// Batch only at sizes measured to cost less per item than single runs (the default).
    #[default]
    Measured,
    /// Batch whatever waits, up to `max_batch_size`, as Triton's dynamic batcher does: for hardware known to
    /// gain from it, where the node need not find out.
    Always,
}

/// The measured cost per item of one model at batch sizes 1, 2, 4, … (index = log2 of the size).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostCurve {
    sizes: Vec<SizeCost>,
    /// Decisions against batching since the last re-measurement.
    declined: u32,
    /// The group's first batch was checked against its items run alone, and agreed.
    verified: bool,
    /// A batched run failed, did not split by the batch axis, or changed the answers (the items of a batch
    /// influenced each other: the leading axis is not a batch axis): it never batches again.
    unbatchable: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct SizeCost {
    /// Whether the size has run once (its unmeasured warm-up).
    warm: bool,
    /// The last runs' time per item, in microseconds, oldest first.
    recent: VecDeque<f64>,
}

impl SizeCost {
    fn measured(&self) -> bool {
        self.recent.len() >= SAMPLES
    }

    /// The median time per item of the last runs.
    fn per_item_us(&self) -> f64 {
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::INFINITY)
    }
}

impl CostCurve {
    /// `(batch size, microseconds per item)` for every size measured so far.
    pub fn points(&self) -> Vec<(usize, f64)> {
        (self.sizes.iter().enumerate())
            .filter(|(_, c)| !c.recent.is_empty())
            .map(|(k, c)| (1 << k, c.per_item_us()))
            .collect()
    }

    /// The batch size to run when `available` items wait (and at most `max` may go together).
    fn choose(&mut self, available: usize, max: usize) -> usize {
        let limit = available.min(max);
        if limit <= 1 || self.unbatchable || !self.measured(0) {
            return 1;
        }
        let single = self.sizes[0].per_item_us();
        let sizes = (1..).map(|k| (k, 1usize << k)).take_while(|&(_, size)| size <= limit);
        // Explore upward while the curve keeps paying: a size is tried only if the one below it cost no
        // more per item than a single run (on a CPU where a batch of 2 costs more, 4 and 8 are never tried).
        for (k, size) in sizes.clone() {
            if !self.measured(k) {
                if k == 1 || self.sizes[k - 1].per_item_us() <= single {
                    return size;
                }
                break;
            }
        }
        let best = (sizes.filter(|&(k, _)| self.measured(k)))
            .map(|(k, size)| (size, self.sizes[k].per_item_us()))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((size, cost)) if cost <= single * PAYS_BELOW => size,
            _ => {
                self.declined += 1;
                if self.declined >= REMEASURE_EVERY {
                    self.declined = 0;
                    self.sizes[1].recent.clear();
                }
                1
            }
        }
    }

    /// Whether batching has shown it pays at some size up to `max`.
    fn pays(&self, max: usize) -> bool {
        let Some(single) = self.sizes.first().filter(|c| c.measured()).map(SizeCost::per_item_us) else {
            return false;
        };
        (self.sizes.iter().enumerate().skip(1))
            .any(|(k, c)| (1 << k) <= max && c.measured() && c.per_item_us() <= single * PAYS_BELOW)
    }

    fn measured(&self, k: usize) -> bool {
        self.sizes.get(k).is_some_and(SizeCost::measured)
    }

    /// Books a run of `items` that took `elapsed`, under the largest power of two not above `items`. Returns
    /// that size and its cost per item in microseconds, once measured.
    fn record(&mut self, items: usize, elapsed: Duration) -> Option<(usize, f64)> {
        let k = items.max(1).ilog2() as usize;
        if self.sizes.len() <= k {
            self.sizes.resize(k + 1, SizeCost::default());
        }
        let cost = &mut self.sizes[k];
        if !std::mem::replace(&mut cost.warm, true) {
            return None;
        }
        if cost.recent.len() == KEEP {
            cost.recent.pop_front();
        }
        cost.recent.push_back(elapsed.as_secs_f64() * 1e6 / items.max(1) as f64);
        cost.measured().then(|| (1 << k, cost.per_item_us()))
    }
}

/// What the node learnt of one model on inputs of one shape.
pub struct LearntCurve {
    /// The model.
    pub model: Arc<dyn LoadedModel>,
    /// Its inputs' shapes without the batch axis.
    pub shapes: Vec<Vec<usize>>,
    /// Cost per item at each batch size.
    pub curve: CostCurve,
}

/// Inputs that may run together: one model (by identity), one element type and trailing shape per input.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    model: usize,
    shapes: Vec<Vec<usize>>,
}

struct Group {
    model: Weak<dyn LoadedModel>,
    waiting: VecDeque<Waiting>,
    curve: CostCurve,
    last_used: Instant,
    /// The points of its curve exported as metrics, removed with the group (its shapes come from requests).
    exported: Vec<BatchCostLabels>,
}

/// One call's inputs, waiting for a pool thread.
struct Waiting {
    id: u64,
    tenant: Arc<str>,
    inputs: Vec<Tensor>,
    items: usize,
    queued: Instant,
    reply: tokio::sync::oneshot::Sender<Answer>,
}

type Answer = (Result<Vec<Tensor>, NnError>, JobTiming);

/// The node's batcher: a group per model and input shape, and its cost curve.
pub(crate) struct Batcher {
    policy: BatchPolicy,
    metrics: Arc<Metrics>,
    groups: Mutex<HashMap<GroupKey, Group>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Batcher {
    pub(crate) fn new(policy: BatchPolicy, metrics: Arc<Metrics>) -> Self {
        Self { policy, metrics, groups: Mutex::default(), next_id: Default::default() }
    }

    /// Whether runs of `model` on `inputs` may batch: every input and output has a free leading axis, and
    /// every input is numeric with at least one item.
    pub(crate) fn may_batch(&self, model: &dyn LoadedModel, inputs: &[Tensor]) -> bool {
        let info = model.info();
        let free_lead = |dims: &[Dim]| matches!(dims.first(), Some(Dim::Free(_)));
        self.policy.max_batch_size > 1
            && info.inputs.iter().all(|spec| free_lead(&spec.dims))
            && info.outputs.iter().all(|spec| free_lead(&spec.dims))
            && !inputs.is_empty()
            && inputs.iter().all(|t| t.bytes().is_some() && t.shape().first().is_some_and(|&n| n > 0))
            && inputs.iter().all(|t| t.shape()[0] == inputs[0].shape()[0])
    }

    /// Runs `model` on `inputs` (checked, in the model's order) for `tenant`, alone or in a batch.
    pub(crate) async fn run(
        self: &Arc<Self>,
        scheduler: &Scheduler,
        tenant: &str,
        model: Arc<dyn LoadedModel>,
        inputs: Vec<Tensor>,
    ) -> Result<Answer, NnError> {
        let key = GroupKey {
            model: Arc::as_ptr(&model) as *const () as usize,
            shapes: inputs.iter().map(|t| t.shape()[1..].to_vec()).collect(),
        };
        let id = self.next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let tenant: Arc<str> = tenant.into();
        let items = inputs[0].shape()[0];
        let pays = {
            let mut groups = self.lock();
            let group = groups.group(&key, &model);
            let queued = Instant::now();
            group.waiting.push_back(Waiting { id, tenant: tenant.clone(), inputs, items, queued, reply });
            self.policy.mode == BatchMode::Always || group.curve.pays(self.policy.max_batch_size)
        };
        if pays && !self.policy.max_queue_delay.is_zero() {
            tokio::time::sleep(self.policy.max_queue_delay).await;
        }
        let batcher = self.clone();
        scheduler.submit(Job::shared(&tenant, move || batcher.run_group(&key, id)));
        answer.await.map_err(|_| crate::scheduler::no_answer())
    }

    /// The cost curve of every model and input shape seen, for benchmarks and diagnostics.
    pub(crate) fn curves(&self) -> Vec<LearntCurve> {
        let groups = self.lock();
        (groups.map.iter())
            .filter_map(|(key, g)| {
                Some(LearntCurve { model: g.model.upgrade()?, shapes: key.shapes.clone(), curve: g.curve.clone() })
            })
            .collect()
    }

    fn lock(&self) -> Groups<'_> {
        Groups { map: self.groups.lock().unwrap_or_else(|p| p.into_inner()), metrics: &self.metrics }
    }

    /// On a pool thread: runs call `id` — and, where it pays, others of its group — unless another job
    /// already did.
    fn run_group(&self, key: &GroupKey, id: u64) -> Shares {
        let (model, mut batch, verify) = {
            let mut groups = self.lock();
            let Some(group) = groups.map.get_mut(key) else { return Shares::new() };
            let Some(own) = group.waiting.iter().position(|w| w.id == id) else { return Shares::new() };
            let Some(model) = group.model.upgrade() else { return Shares::new() };
            let available = group.waiting.iter().map(|w| w.items).sum();
            let size = match self.policy.mode {
                _ if group.curve.unbatchable => 1,
                BatchMode::Measured => group.curve.choose(available, self.policy.max_batch_size),
                BatchMode::Always => available.min(self.policy.max_batch_size),
            };
            let own = group.waiting.remove(own).expect("found above");
            let mut items = own.items;
            let mut batch = vec![own];
            while let Some(next) = group.waiting.front().filter(|w| items + w.items <= size) {
                items += next.items;
                batch.extend(group.waiting.pop_front());
            }
            (model, batch, !group.curve.verified)
        };
        let started = Instant::now();
        let items: usize = batch.iter().map(|w| w.items).sum();
        let shares = batch.iter().map(|w| (w.tenant.clone(), w.items)).collect();
        // Each call's inputs run alone: after a batch, when it failed or is being checked.
        let alone = |batch: &mut [Waiting]| -> Vec<_> {
            batch.iter_mut().map(|w| model.run(std::mem::take(&mut w.inputs))).collect()
        };
        // What this run taught about the group: `Some(true)` its batches are safe, `Some(false)` never again.
        let (answers, cost, batchable) = if batch.len() == 1 {
            (alone(&mut batch), started.elapsed(), None)
        } else {
            let batched = run_batch(model.as_ref(), &batch);
            let cost = started.elapsed();
            match batched {
                Ok(outputs) if !verify => (outputs.into_iter().map(Ok).collect(), cost, None),
                Ok(outputs) => {
                    // A group's first batch is checked against its items run alone: a model whose leading axis
                    // is not a batch (a sequence, say) would mix its items and still split.
                    let single = alone(&mut batch);
                    let agree = outputs.iter().zip(&single).all(|(b, a)| a.as_ref().is_ok_and(|a| same_outputs(b, a)));
                    if !agree {
                        tracing::warn!(
                            model = model.id(),
                            "batched outputs differ from the items run alone: not batching it"
                        );
                    }
                    (single, cost, Some(agree))
                }
                Err(error) => {
                    // One call's bad luck must not fail the others: run each alone, as if never batched.
                    tracing::warn!(model = model.id(), %error, "a batched run failed: not batching it");
                    (alone(&mut batch), cost, Some(false))
                }
            }
        };
        let run = started.elapsed();
        let labels = ModelLabels { model: model.id().into(), backend: model.backend().into() };
        if let Some(group) = self.lock().map.get_mut(key) {
            if let Some((batch, per_item_us)) = group.curve.record(items, cost) {
                let batch = u32::try_from(batch).unwrap_or(u32::MAX);
                // The labels are made once per point: later runs only set its gauge.
                let at = group.exported.iter().position(|p| p.batch == batch).unwrap_or_else(|| {
                    let item = key.shapes.iter().map(|s| s.iter().map(usize::to_string).collect::<Vec<_>>());
                    group.exported.push(BatchCostLabels {
                        model: labels.model.clone(),
                        backend: labels.backend.clone(),
                        item: item.map(|dims| dims.join("x")).collect::<Vec<_>>().join(";"),
                        batch,
                    });
                    group.exported.len() - 1
                });
                self.metrics.batch_item_seconds.get_or_create(&group.exported[at]).set(per_item_us / 1e6);
            }
            match batchable {
                Some(true) => group.curve.verified = true,
                Some(false) => group.curve.unbatchable = true,
                None => {}
            }
        }
        self.metrics.batch_size.get_or_create(&labels).observe(items as f64);
        for (waiting, answer) in batch.into_iter().zip(answers) {
            let timing = JobTiming { queue_wait: started - waiting.queued, run };
            // The caller may be gone (its request timed out): the work is done and charged all the same.
            let _ = waiting.reply.send((answer, timing));
        }
        shares
    }
}

/// Whether two runs' outputs agree: the same shapes and types, floats within float noise (kernels may sum
/// in another order for another batch size), everything else bit for bit.
fn same_outputs(batched: &[Tensor], alone: &[Tensor]) -> bool {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-4 * (1.0 + b.abs()) || (a.is_nan() && b.is_nan());
    batched.len() == alone.len()
        && batched.iter().zip(alone).all(|(b, a)| {
            b.ty() == a.ty()
                && b.shape() == a.shape()
                && match (b.ty(), b.bytes(), a.bytes()) {
                    (ElementType::F32, Some(x), Some(y)) => (x.chunks_exact(4).zip(y.chunks_exact(4)))
                        .all(|(x, y)| close(f32_at(x).into(), f32_at(y).into())),
                    (ElementType::F64, Some(x), Some(y)) => {
                        (x.chunks_exact(8).zip(y.chunks_exact(8))).all(|(x, y)| close(f64_at(x), f64_at(y)))
                    }
                    _ => b == a,
                }
        })
}

fn f32_at(bytes: &[u8]) -> f32 {
    f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

fn f64_at(bytes: &[u8]) -> f64 {
    f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

struct Groups<'a> {
    map: MutexGuard<'a, HashMap<GroupKey, Group>>,
    metrics: &'a Metrics,
}

impl Groups<'_> {
    /// The group of `key`, made when needed. The key's model address cannot be reused by another model
    /// while the group lives: its `Weak` keeps the old allocation.
    fn group(&mut self, key: &GroupKey, model: &Arc<dyn LoadedModel>) -> &mut Group {
        if !self.map.contains_key(key) {
            if self.map.len() >= MAX_GROUPS {
                let idle = self.map.iter().filter(|(_, g)| g.waiting.is_empty()).min_by_key(|(_, g)| g.last_used);
                if let Some(oldest) = idle.map(|(k, _)| k.clone()) {
                    for labels in self.map.remove(&oldest).map(|g| g.exported).unwrap_or_default() {
                        self.metrics.batch_item_seconds.remove(&labels);
                    }
                }
            }
            let group = Group {
                model: Arc::downgrade(model),
                waiting: VecDeque::new(),
                curve: CostCurve::default(),
                last_used: Instant::now(),
                exported: Vec::new(),
            };
            self.map.insert(key.clone(), group);
        }
        let group = self.map.get_mut(key).expect("inserted above");
        group.last_used = Instant::now();
        group
    }
}

/// Runs the calls of `batch` as one: inputs joined along the leading axis, outputs split back by items.
fn run_batch(model: &dyn LoadedModel, batch: &[Waiting]) -> Result<Vec<Vec<Tensor>>, NnError> {
    let items: usize = batch.iter().map(|w| w.items).sum();
    let joined = (0..batch[0].inputs.len())
        .map(|i| {
            let first = &batch[0].inputs[i];
            let mut shape = first.shape().to_vec();
            shape[0] = items;
            let parts = batch.iter().map(|w| w.inputs[i].bytes().expect("numeric inputs only (may_batch)"));
            Tensor::from_elements(first.ty(), shape, Elements::concatenated(parts))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let outputs = model.run(joined)?;
    let mut split: Vec<Vec<Tensor>> = batch.iter().map(|_| Vec::with_capacity(outputs.len())).collect();
    for output in outputs {
        let (ty, shape) = (output.ty(), output.shape().to_vec());
        let bytes = output.bytes().filter(|_| shape.first() == Some(&items)).ok_or_else(|| {
            NnError::runtime(format!("an output of shape {shape:?} does not split into a batch of {items}"))
        })?;
        let per_item = bytes.len() / items;
        let mut offset = 0;
        for (waiting, outputs) in batch.iter().zip(&mut split) {
            let mut item_shape = shape.clone();
            item_shape[0] = waiting.items;
            let end = offset + per_item * waiting.items;
            outputs.push(Tensor::from_bytes(ty, item_shape, &bytes[offset..end])?);
            offset = end;
        }
    }
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ElementType, ModelInfo, TensorSpec};
    use std::sync::Condvar;

    /// What a [`Doubler`] does with a batch.
    #[derive(Clone, Copy, PartialEq)]
    enum Rows {
        /// `y = 2x`, row by row: a real batch axis.
        Apart,
        /// Answers one row whatever N is: outputs that do not split.
        One,
        /// `y = 2x + the sum of every row's first value`: the rows influence each other.
        Mixed,
    }

    /// `y = 2x` per item on `[N, 2]` f32 (or as [`Rows`] says), recording the batch sizes it ran; the first run
    /// waits for the gate, so calls pile up behind it.
    struct Doubler {
        info: ModelInfo,
        runs: Mutex<Vec<usize>>,
        gate: (Mutex<bool>, Condvar),
        rows: Rows,
    }

    impl Doubler {
        fn new(rows: Rows) -> Arc<Self> {
            let spec = |name: &str| TensorSpec {
                name: name.into(),
                ty: ElementType::F32,
                dims: vec![Dim::Free(Some("N".into())), Dim::Fixed(2)],
            };
            let info = ModelInfo { inputs: vec![spec("x")], outputs: vec![spec("y")], ..Default::default() };
            Arc::new(Self { info, runs: Mutex::default(), gate: Default::default(), rows })
        }

        fn open(&self) {
            *self.gate.0.lock().unwrap() = true;
            self.gate.1.notify_all();
        }

        fn runs(&self) -> Vec<usize> {
            self.runs.lock().unwrap().clone()
        }
    }

    impl LoadedModel for Doubler {
        fn info(&self) -> &ModelInfo {
            &self.info
        }

        fn backend(&self) -> &'static str {
            "doubler"
        }

        fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
            let n = inputs[0].shape()[0];
            let first = {
                let mut runs = self.runs.lock().unwrap();
                runs.push(n);
                runs.len() == 1
            };
            if first {
                let open = self.gate.0.lock().unwrap();
                drop(self.gate.1.wait_timeout_while(open, Duration::from_secs(30), |open| !*open).unwrap());
            }
            let x = inputs[0].to_f32().unwrap();
            let shift = if self.rows == Rows::Mixed { x.iter().step_by(2).sum() } else { 0.0 };
            let mut values: Vec<f32> = x.iter().map(|v| v * 2.0 + shift).collect();
            let rows = if self.rows == Rows::One { 1 } else { n };
            values.truncate(rows * 2);
            Ok(vec![Tensor::from_f32(vec![rows, 2], &values)?])
        }
    }

    fn batcher(mode: BatchMode) -> Arc<Batcher> {
        let policy = BatchPolicy { max_batch_size: 8, max_queue_delay: Duration::ZERO, mode };
        Arc::new(Batcher::new(policy, Arc::new(Metrics::new())))
    }

    fn waiting(batcher: &Batcher) -> usize {
        batcher.lock().map.values().map(|g| g.waiting.len()).sum()
    }

    /// Calls pile up behind a gated first run, then go: each answer must be its own input doubled.
    async fn pile_up(batcher: Arc<Batcher>, model: Arc<Doubler>) {
        let scheduler = Arc::new(Scheduler::new(1));
        let call = |i: usize| {
            let (batcher, scheduler, model) = (batcher.clone(), scheduler.clone(), model.clone());
            tokio::spawn(async move {
                let input = Tensor::from_f32(vec![1, 2], &[i as f32, -(i as f32)]).unwrap();
                let tenant = ["even", "odd"][i % 2];
                batcher.run(&scheduler, tenant, model, vec![input]).await.unwrap().0
            })
        };
        let first = call(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        while model.runs().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let rest: Vec<_> = (1..=5).map(call).collect();
        while waiting(&batcher) < 5 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        model.open();
        for (i, call) in std::iter::once(first).chain(rest).enumerate() {
            let answer = call.await.unwrap().unwrap();
            assert_eq!(answer[0].shape(), [1, 2]);
            let shift = if model.rows == Rows::Mixed { i as f32 } else { 0.0 };
            assert_eq!(answer[0].to_f32().unwrap(), [2.0 * i as f32 + shift, -2.0 * i as f32 + shift], "call {i}");
        }
    }

    #[tokio::test]
    async fn waiting_calls_of_any_tenant_run_as_one_batch_and_each_gets_its_own_rows() {
        let (batcher, model) = (batcher(BatchMode::Always), Doubler::new(Rows::Apart));
        pile_up(batcher.clone(), model.clone()).await;
        // The group's first batch is checked against its five items run alone, and agrees.
        assert_eq!(model.runs(), [1, 5, 1, 1, 1, 1, 1]);
        let curve = &batcher.curves()[0].curve;
        assert!(curve.verified && !curve.unbatchable);
    }

    #[tokio::test]
    async fn outputs_that_do_not_split_by_item_fall_back_to_single_runs() {
        let (batcher, model) = (batcher(BatchMode::Always), Doubler::new(Rows::One));
        pile_up(batcher.clone(), model.clone()).await;
        assert_eq!(model.runs(), [1, 5, 1, 1, 1, 1, 1]);
        assert!(batcher.curves()[0].curve.unbatchable, "the model is marked as one that does not batch");
    }

    #[tokio::test]
    async fn a_model_whose_rows_mix_is_never_batched_and_answers_as_if_alone() {
        let (batcher, model) = (batcher(BatchMode::Always), Doubler::new(Rows::Mixed));
        pile_up(batcher.clone(), model.clone()).await;
        // The batch of five split fine but changed the answers: every call got its own run's answer instead.
        assert_eq!(model.runs(), [1, 5, 1, 1, 1, 1, 1]);
        assert!(batcher.curves()[0].curve.unbatchable);
    }

    #[tokio::test]
    async fn measured_mode_measures_single_runs_before_it_tries_a_batch() {
        let (batcher, model) = (batcher(BatchMode::Measured), Doubler::new(Rows::Apart));
        pile_up(batcher.clone(), model.clone()).await;
        // A warm-up and SAMPLES measured single runs, then the smallest batch is tried on the two waiting calls
        // (and, being the group's first, checked against them run alone).
        assert_eq!(model.runs(), [1, 1, 1, 1, 2, 1, 1]);
        // The measured point of the curve is exported; the batch of 2 ran once, its unmeasured warm-up.
        let text = batcher.metrics.encode();
        let point = |batch: &str| {
            text.lines().any(|l| {
                l.starts_with("edge_infer_batch_item_seconds{")
                    && l.contains("backend=\"doubler\"")
                    && l.contains("item=\"2\"")
                    && l.contains(&format!("batch=\"{batch}\""))
            })
        };
        assert!(point("1") && !point("2"), "{text}");
    }

    fn curve(points: &[(usize, u64)]) -> CostCurve {
        let mut curve = CostCurve::default();
        for &(size, micros_per_item) in points {
            for _ in 0..=SAMPLES {
                curve.record(size, Duration::from_micros(micros_per_item * size as u64));
            }
        }
        curve
    }

    #[test]
    fn a_curve_explores_each_size_once_single_runs_are_known_then_batches_only_where_it_pays() {
        let mut empty = CostCurve::default();
        assert_eq!(empty.choose(16, 16), 1, "single runs are measured first");
        let mut single = curve(&[(1, 100)]);
        assert_eq!(single.choose(1, 16), 1, "one waiting item is never a batch");
        assert_eq!(single.choose(16, 16), 2, "the smallest unmeasured size is tried");
        assert_eq!(curve(&[(1, 100), (2, 90)]).choose(16, 16), 4, "a size that pays opens the next one");
        assert_eq!(curve(&[(1, 100), (2, 90)]).choose(3, 16), 2, "only sizes that fit are considered");
        let mut cpu = curve(&[(1, 100), (2, 150)]);
        assert_eq!(cpu.choose(16, 16), 1, "a batch of 2 costs more per item: larger ones are not tried");
        assert!(!cpu.pays(16));
        assert_eq!(cpu.points(), [(1, 100.0), (2, 150.0)]);
        let mut gpu = curve(&[(1, 100), (2, 60), (4, 30), (8, 20), (16, 25)]);
        assert_eq!(gpu.choose(16, 16), 8, "the cheapest size per item");
        assert_eq!(gpu.choose(5, 16), 4);
        assert_eq!(gpu.choose(16, 4), 4, "max_batch_size caps it");
        assert!(gpu.pays(16));
        assert_eq!(gpu.points(), [(1, 100.0), (2, 60.0), (4, 30.0), (8, 20.0), (16, 25.0)]);
    }

    #[test]
    fn a_curve_ignores_the_first_run_at_a_size_and_remeasures_now_and_then() {
        let mut curve = CostCurve::default();
        curve.record(2, Duration::from_millis(100));
        assert!(curve.points().is_empty(), "the first run at a size may build a plan: not measured");
        let mut slow_start = CostCurve::default();
        for micros in [1_000_000, 1_500_000, 100, 100] {
            slow_start.record(1, Duration::from_micros(micros));
        }
        assert_eq!(slow_start.points(), [(1, 100.0)], "one slow run does not decide");
        let mut cpu = self::curve(&[(1, 100), (2, 150)]);
        for _ in 1..REMEASURE_EVERY {
            assert_eq!(cpu.choose(2, 16), 1);
        }
        assert_eq!(cpu.choose(2, 16), 1);
        assert_eq!(cpu.choose(2, 16), 2, "after many declines, size 2 is measured again");
    }
}

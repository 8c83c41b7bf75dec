//! Loaded models, one per (digest, backend, config) on the node: every tenant that uploaded the same bytes
//! shares one loaded, optimised model, and concurrent first requests load it once. The node unloads the
//! models its catalog stops naming ([`ModelCache::retain`]) and, past its memory budget, the least recently
//! used models no request holds ([`ModelCache::with_memory_budget`]); the next use of one loads it again.

use crate::{Backends, LoadedModel, ModelConfig, ModelInfo, NnError, Tensor, heap};
use bytes::Bytes;
use edge_infer_metrics::{Metrics, OutcomeLabels};
use lru::LruCache;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::{OnceCell, Semaphore};

/// A check that model bytes from outside the operator's hands (an upload, a guest's raw `load`) pass before
/// the node loads them: the server's test load in a child process.
pub trait LoadCheck: Send + Sync {
    /// Whether `bytes` load as `config` where a failure cannot hurt the node; the error is the caller's answer.
    fn check<'a>(
        &'a self,
        bytes: Bytes,
        config: &'a ModelConfig,
    ) -> Pin<Box<dyn Future<Output = Result<(), NnError>> + Send + 'a>>;
}

/// What identifies a loaded model: the sha256 of its bytes and how it is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    /// The hex sha256 of the model file.
    pub digest: String,
    /// The model's settings (backend, pinned shapes).
    pub config: ModelConfig,
}

/// A loaded model and what it weighs.
struct Loaded {
    model: Arc<dyn LoadedModel>,
    /// The size of its file.
    file_bytes: u64,
    /// What its load kept of the heap, and at least its file's size.
    memory_bytes: u64,
}

/// A model being loaded or loaded.
type Slot = Arc<OnceCell<Loaded>>;

/// The node's loaded models.
pub struct ModelCache {
    backends: Backends,
    /// Most recently used first.
    slots: Mutex<LruCache<ModelKey, Slot>>,
    metrics: Arc<Metrics>,
    check: Option<Arc<dyn LoadCheck>>,
    memory_budget: Option<u64>,
    /// One load at a time: a load's growth of the heap is then its own, and loads do not stack their peaks.
    loading: Semaphore,
}

/// A loaded model that knows the digest it was loaded from.
struct Identified {
    inner: Arc<dyn LoadedModel>,
    id: String,
}

impl LoadedModel for Identified {
    fn info(&self) -> &ModelInfo {
        self.inner.info()
    }

    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
        self.inner.run(inputs)
    }
}

impl ModelCache {
    /// An empty cache that loads with `backends`, with metrics of its own.
    pub fn new(backends: Backends) -> Self {
        Self::with_metrics(backends, Arc::default())
    }

    /// An empty cache that loads with `backends` and counts into the node's `metrics`.
    pub fn with_metrics(backends: Backends, metrics: Arc<Metrics>) -> Self {
        Self {
            backends,
            slots: Mutex::new(LruCache::unbounded()),
            metrics,
            check: None,
            memory_budget: None,
            loading: Semaphore::new(1),
        }
    }

    /// This cache, with `check` run before it loads bytes from outside ([`ModelCache::get_or_load_checked`]).
    pub fn with_load_check(self, check: Arc<dyn LoadCheck>) -> Self {
        Self { check: Some(check), ..self }
    }

    /// This cache, keeping its loaded models within `bytes` of memory: after each load, it unloads the least
    /// recently used models that no request or guest holds until the rest fit. A model in use stays, so the
    /// cache may hold more while they are; a model larger than the budget still loads, alone.
    pub fn with_memory_budget(self, bytes: u64) -> Self {
        Self { memory_budget: Some(bytes), ..self }
    }

    /// The metrics of the node this cache belongs to.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The backends models are loaded with.
    pub fn backends(&self) -> &Backends {
        &self.backends
    }

    /// The loaded model for `key`, if it is loaded.
    pub fn get(&self, key: &ModelKey) -> Option<Arc<dyn LoadedModel>> {
        let slot = self.lock().get(key).cloned();
        slot.and_then(|s| s.get().map(|loaded| loaded.model.clone()))
    }

    /// The loaded model for `key`, loading it from `bytes` on a blocking thread if needed. Concurrent callers
    /// for the same key wait for one load; a failed load is not remembered, so a later call tries again.
    pub async fn get_or_load<F, B>(&self, key: &ModelKey, bytes: F) -> Result<Arc<dyn LoadedModel>, NnError>
    where
        F: FnOnce() -> Result<B, NnError> + Send + 'static,
        B: AsRef<[u8]>,
    {
        let slot = self.lock().get_or_insert_ref(key, Slot::default).clone();
        let mut loaded_here = false;
        let loaded = slot
            .get_or_try_init(|| async {
                let _one = self.loading.acquire().await.map_err(|_| NnError::runtime("the model cache is closed"))?;
                loaded_here = true;
                self.load(key, bytes).await
            })
            .await?;
        let model = loaded.model.clone();
        if loaded_here {
            let unloaded = self.make_room(key);
            if !unloaded.is_empty() {
                tokio::task::spawn_blocking(move || drop(unloaded));
            }
        }
        Ok(model)
    }

    /// Loads `key` from `bytes` on a blocking thread, weighing what the load kept, and counts it.
    async fn load<F, B>(&self, key: &ModelKey, bytes: F) -> Result<Loaded, NnError>
    where
        F: FnOnce() -> Result<B, NnError> + Send + 'static,
        B: AsRef<[u8]>,
    {
        let backend = self.backends.select(&key.config)?.clone();
        let (config, id) = (key.config.clone(), key.digest.chars().take(12).collect::<String>());
        let op = backend.name().to_string();
        let started = Instant::now();
        let load = move || -> Result<Loaded, NnError> {
            let bytes = bytes()?;
            let before = heap::in_use();
            let inner = backend.load(bytes.as_ref(), &config)?;
            let kept = heap::in_use().zip(before).map_or(0, |(after, before)| after.saturating_sub(before));
            let file_bytes = bytes.as_ref().len() as u64;
            let model: Arc<dyn LoadedModel> = Arc::new(Identified { inner, id });
            Ok(Loaded { model, file_bytes, memory_bytes: kept.max(file_bytes) })
        };
        let loaded = tokio::task::spawn_blocking(load)
            .await
            .map_err(|e| NnError::runtime(format!("model load task failed: {e}")))?;
        let outcome = if loaded.is_ok() { "ok" } else { "error" };
        self.metrics.model_loads.get_or_create(&OutcomeLabels { op, outcome: outcome.into() }).inc();
        let loaded = loaded?;
        self.metrics.model_load_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.models_loaded.inc();
        self.metrics.model_bytes.inc_by(loaded.file_bytes as i64);
        self.metrics.model_memory_bytes.inc_by(loaded.memory_bytes as i64);
        Ok(loaded)
    }

    /// [`ModelCache::get_or_load`] for bytes from outside the operator's hands: unless `key` is loaded
    /// already, they pass the cache's [`LoadCheck`] first (when it has one).
    pub async fn get_or_load_checked(&self, key: &ModelKey, bytes: Bytes) -> Result<Arc<dyn LoadedModel>, NnError> {
        if let Some(model) = self.get(key) {
            return Ok(model);
        }
        if let Some(check) = &self.check {
            check.check(bytes.clone(), &key.config).await?;
        }
        self.get_or_load(key, move || Ok(bytes)).await
    }

    /// Unloads the least recently used idle models, other than `keep`, until the loaded ones fit the budget,
    /// and returns them for the caller to drop where freeing may block.
    fn make_room(&self, keep: &ModelKey) -> Vec<Arc<dyn LoadedModel>> {
        let Some(budget) = self.memory_budget else { return Vec::new() };
        let mut slots = self.lock();
        let mut held = memory_held(&slots);
        let mut unloaded = Vec::new();
        while held > budget {
            // Idle: only the cache holds its slot (no caller is between finding and cloning it) and its model.
            let idle = slots.iter().rev().find(|(key, slot)| {
                *key != keep
                    && Arc::strong_count(slot) == 1
                    && slot.get().is_some_and(|loaded| Arc::strong_count(&loaded.model) == 1)
            });
            let Some(key) = idle.map(|(key, _)| key.clone()) else {
                tracing::warn!(
                    held_mib = held >> 20,
                    budget_mib = budget >> 20,
                    "the loaded models are over the node's model memory budget, and every other one is in use"
                );
                break;
            };
            let slot = slots.pop(&key).expect("found above");
            let loaded = slot.get().expect("idle slots are loaded");
            held -= loaded.memory_bytes;
            self.forget(loaded);
            self.metrics.model_evictions.inc();
            tracing::info!(model = loaded.model.id(), memory_mib = loaded.memory_bytes >> 20, "unloaded to make room");
            unloaded.push(loaded.model.clone());
        }
        unloaded
    }

    /// Unloads every loaded model whose key `keep` refuses, and returns them, for the caller to drop where
    /// freeing a large model may block. A model still in use (by a request, a guest's graph) lives on until
    /// its last user drops it; the next load of it loads it again. Models being loaded are left alone; the
    /// empty slots of failed loads go.
    pub fn retain(&self, keep: impl Fn(&ModelKey) -> bool) -> Vec<Arc<dyn LoadedModel>> {
        let mut slots = self.lock();
        let gone: Vec<ModelKey> = (slots.iter())
            .filter(|(key, slot)| match slot.get() {
                Some(_) => !keep(key),
                // A load in progress holds a clone of its slot.
                None => Arc::strong_count(slot) == 1,
            })
            .map(|(key, _)| key.clone())
            .collect();
        let mut unloaded = Vec::new();
        for key in gone {
            let slot = slots.pop(&key).expect("listed above");
            if let Some(loaded) = slot.get() {
                self.forget(loaded);
                unloaded.push(loaded.model.clone());
            }
        }
        unloaded
    }

    /// Takes an unloaded model out of the gauges.
    fn forget(&self, loaded: &Loaded) {
        self.metrics.models_loaded.dec();
        self.metrics.model_bytes.dec_by(loaded.file_bytes as i64);
        self.metrics.model_memory_bytes.dec_by(loaded.memory_bytes as i64);
    }

    /// Whether another model may load without unloading one: the loaded models are under the budget, or
    /// there is none.
    pub fn has_room(&self) -> bool {
        self.memory_budget.is_none_or(|budget| memory_held(&self.lock()) < budget)
    }

    /// The memory budget of the loaded models, in bytes, if the cache has one.
    pub fn memory_budget(&self) -> Option<u64> {
        self.memory_budget
    }

    /// What the loaded models hold in memory, by the heap each load kept (at least its file's size).
    pub fn memory_bytes(&self) -> u64 {
        memory_held(&self.lock())
    }

    /// How many models are loaded.
    pub fn len(&self) -> usize {
        self.lock().iter().filter(|(_, s)| s.initialized()).count()
    }

    /// Whether no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<ModelKey, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn memory_held(slots: &LruCache<ModelKey, Slot>) -> u64 {
    slots.iter().filter_map(|(_, slot)| slot.get()).map(|loaded| loaded.memory_bytes).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::testing::fixture;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Refuses models whose first byte is odd, counting its calls.
    #[derive(Default)]
    struct OddRefused(AtomicUsize);

    impl LoadCheck for OddRefused {
        fn check<'a>(
            &'a self,
            bytes: Bytes,
            _config: &'a ModelConfig,
        ) -> Pin<Box<dyn Future<Output = Result<(), NnError>> + Send + 'a>> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Box::pin(async move {
                match bytes.first() {
                    Some(b) if b % 2 == 1 => Err(NnError::new(ErrorKind::TooLarge, "odd")),
                    _ => Ok(()),
                }
            })
        }
    }

    fn key(digest: &str) -> ModelKey {
        ModelKey { digest: digest.into(), config: ModelConfig::default() }
    }

    #[tokio::test]
    async fn checked_bytes_are_loaded_only_once_they_pass_and_only_once_at_all() {
        let check = Arc::new(OddRefused::default());
        let cache = ModelCache::new(Backends::default()).with_load_check(check.clone());
        let mlp = Bytes::from(fixture("mlp.onnx"));
        assert_eq!(mlp[0] % 2, 0, "the fixture passes the fake check");
        cache.get_or_load_checked(&key("mlp"), mlp.clone()).await.unwrap();
        cache.get_or_load_checked(&key("mlp"), mlp.clone()).await.unwrap();
        assert_eq!(check.0.load(Ordering::Relaxed), 1, "a loaded model is not checked again");

        let mut refused = mlp.to_vec();
        refused[0] |= 1;
        let e = cache.get_or_load_checked(&key("refused"), refused.into()).await.err().unwrap();
        assert_eq!(e, NnError::new(ErrorKind::TooLarge, "odd"));
        assert_eq!(cache.len(), 1, "a refused model is never loaded");

        let unchecked = ModelCache::new(Backends::default());
        unchecked.get_or_load_checked(&key("mlp"), mlp).await.unwrap();
    }

    /// Loads fixture `name` as `key(name)`, counting the loads in `loads`.
    async fn load(cache: &ModelCache, name: &'static str, loads: &Arc<AtomicUsize>) -> Arc<dyn LoadedModel> {
        let loads = loads.clone();
        let bytes = move || {
            loads.fetch_add(1, Ordering::Relaxed);
            Ok(fixture(name))
        };
        cache.get_or_load(&key(name), bytes).await.unwrap()
    }

    #[tokio::test]
    async fn past_its_budget_the_cache_unloads_the_least_recently_used_idle_models() {
        // Every model weighs at least its file, so a budget of a byte holds one model at a time.
        let cache = ModelCache::new(Backends::default()).with_memory_budget(1);
        let loads = Arc::new(AtomicUsize::new(0));
        assert!(cache.has_room());
        drop(load(&cache, "mlp.onnx", &loads).await);
        assert!(!cache.has_room(), "one model fills the budget");
        drop(load(&cache, "identity_f32.onnx", &loads).await);
        assert_eq!(cache.len(), 1, "loading the second unloaded the first");
        assert!(cache.get(&key("mlp.onnx")).is_none());
        assert_eq!(cache.metrics().model_evictions.get(), 1);

        // A model in use stays loaded, over the budget.
        let in_use = load(&cache, "identity_f32.onnx", &loads).await;
        assert_eq!(loads.load(Ordering::Relaxed), 2, "a loaded model is not loaded again");
        let mlp = load(&cache, "mlp.onnx", &loads).await;
        assert_eq!(loads.load(Ordering::Relaxed), 3, "an unloaded model loads again on its next use");
        assert_eq!(cache.len(), 2, "neither is idle");
        assert_eq!(cache.metrics().model_evictions.get(), 1);

        // Once idle, they go in order of last use: the identity was used before the mlp.
        drop((in_use, mlp));
        drop(load(&cache, "add_batch.onnx", &loads).await);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&key("add_batch.onnx")).is_some());
        assert_eq!(cache.metrics().model_evictions.get(), 3);
        assert_eq!(cache.metrics().models_loaded.get(), 1);
        assert_eq!(cache.metrics().model_memory_bytes.get() as u64, cache.memory_bytes());
    }

    /// Models that each hold 64 MiB of heap (mapped, never touched), whatever their bytes.
    struct Ballast;

    struct Ballasted {
        _ballast: Vec<u8>,
        info: ModelInfo,
    }

    const BALLAST: u64 = 64 << 20;

    impl crate::Backend for Ballast {
        fn name(&self) -> &'static str {
            "ballast"
        }

        fn load(&self, _: &[u8], _: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
            Ok(Arc::new(Ballasted { _ballast: vec![0; BALLAST as usize], info: ModelInfo::default() }))
        }
    }

    impl LoadedModel for Ballasted {
        fn info(&self) -> &ModelInfo {
            &self.info
        }

        fn backend(&self) -> &'static str {
            "ballast"
        }

        fn run(&self, _: Vec<Tensor>) -> Result<Vec<Tensor>, NnError> {
            Ok(Vec::new())
        }
    }

    #[tokio::test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    async fn models_weigh_what_their_loads_kept_and_the_least_recently_used_goes_first() {
        let mut backends = Backends::default();
        backends.register(Arc::new(Ballast));
        // Room for two models of 64 MiB, with room to spare for other tests' allocations meanwhile.
        let cache = ModelCache::new(backends).with_memory_budget(BALLAST * 5 / 2);
        let ballast = |digest: &str| ModelKey {
            digest: digest.into(),
            config: ModelConfig { backend: Some("ballast".into()), ..ModelConfig::default() },
        };
        for digest in ["a", "b", "a"] {
            cache.get_or_load(&ballast(digest), || Ok(b"x")).await.unwrap();
        }
        assert_eq!(cache.len(), 2);
        let held = cache.memory_bytes();
        assert!(held > BALLAST * 3 / 2 && held < BALLAST * 5 / 2, "two models of 64 MiB: {held}");
        cache.get_or_load(&ballast("c"), || Ok(b"x")).await.unwrap();
        assert!(cache.get(&ballast("b")).is_none(), "b was the least recently used");
        assert!(cache.get(&ballast("a")).is_some() && cache.get(&ballast("c")).is_some());
        assert_eq!(cache.metrics().model_evictions.get(), 1);
        assert_eq!(cache.metrics().model_memory_bytes.get() as u64, cache.memory_bytes());
        assert_eq!(cache.metrics().model_bytes.get(), 2, "two files of a byte");

        drop(cache.retain(|_| false));
        assert_eq!((cache.memory_bytes(), cache.metrics().model_memory_bytes.get()), (0, 0));
        assert!(cache.has_room());
    }
}

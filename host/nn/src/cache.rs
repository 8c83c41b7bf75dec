//! Loaded models, one per (digest, backend, config) on the node: every tenant that uploaded the same bytes
//! shares one loaded, optimised model, and concurrent first requests load it once. The node unloads the
//! models its catalog stops naming ([`ModelCache::retain`]).

use crate::{Backends, LoadedModel, ModelConfig, ModelInfo, NnError, Tensor};
use bytes::Bytes;
use edge_infer_metrics::{Metrics, OutcomeLabels};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;

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

/// A model being loaded or loaded, with the size of its file.
type Slot = Arc<OnceCell<(Arc<dyn LoadedModel>, usize)>>;

/// The node's loaded models.
#[derive(Default)]
pub struct ModelCache {
    backends: Backends,
    slots: Mutex<HashMap<ModelKey, Slot>>,
    metrics: Arc<Metrics>,
    check: Option<Arc<dyn LoadCheck>>,
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
        Self { backends, slots: Mutex::default(), metrics, check: None }
    }

    /// This cache, with `check` run before it loads bytes from outside ([`ModelCache::get_or_load_checked`]).
    pub fn with_load_check(self, check: Arc<dyn LoadCheck>) -> Self {
        Self { check: Some(check), ..self }
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
        let slot = self.slots.lock().expect("model cache lock").get(key).cloned();
        slot.and_then(|s| s.get().map(|(model, _)| model.clone()))
    }

    /// The loaded model for `key`, loading it from `bytes` on a blocking thread if needed. Concurrent callers
    /// for the same key wait for one load; a failed load is not remembered, so a later call tries again.
    pub async fn get_or_load<F, B>(&self, key: &ModelKey, bytes: F) -> Result<Arc<dyn LoadedModel>, NnError>
    where
        F: FnOnce() -> Result<B, NnError> + Send + 'static,
        B: AsRef<[u8]>,
    {
        let slot = self.slots.lock().expect("model cache lock").entry(key.clone()).or_default().clone();
        let model = slot
            .get_or_try_init(|| async {
                let backend = self.backends.select(&key.config)?.clone();
                let (config, id) = (key.config.clone(), key.digest.chars().take(12).collect::<String>());
                let started = Instant::now();
                let load = move || -> Result<(Arc<dyn LoadedModel>, usize), NnError> {
                    let bytes = bytes()?;
                    let inner = backend.load(bytes.as_ref(), &config)?;
                    Ok((Arc::new(Identified { inner, id }), bytes.as_ref().len()))
                };
                let loaded = tokio::task::spawn_blocking(load)
                    .await
                    .map_err(|e| NnError::runtime(format!("model load task failed: {e}")))?;
                let outcome = if loaded.is_ok() { "ok" } else { "error" };
                let op = self.backends.select(&key.config).map(|b| b.name()).unwrap_or("-").to_string();
                self.metrics.model_loads.get_or_create(&OutcomeLabels { op, outcome: outcome.into() }).inc();
                let (model, size) = loaded?;
                self.metrics.model_load_seconds.observe(started.elapsed().as_secs_f64());
                self.metrics.models_loaded.inc();
                self.metrics.model_bytes.inc_by(size as i64);
                Ok::<_, NnError>((model, size))
            })
            .await?;
        Ok(model.0.clone())
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

    /// Unloads every loaded model whose key `keep` refuses, and returns them, for the caller to drop where
    /// freeing a large model may block. A model still in use (by a request, a guest's graph) lives on until
    /// its last user drops it; the next load of it loads it again. Models being loaded are left alone; the
    /// empty slots of failed loads go.
    pub fn retain(&self, keep: impl Fn(&ModelKey) -> bool) -> Vec<Arc<dyn LoadedModel>> {
        let mut slots = self.slots.lock().expect("model cache lock");
        let mut unloaded = Vec::new();
        slots.retain(|key, slot| {
            // A load in progress holds a clone of its slot.
            let Some((model, size)) = slot.get() else { return Arc::strong_count(slot) > 1 };
            if keep(key) {
                return true;
            }
            self.metrics.models_loaded.dec();
            self.metrics.model_bytes.dec_by(*size as i64);
            unloaded.push(model.clone());
            false
        });
        unloaded
    }

    /// How many models are loaded.
    pub fn len(&self) -> usize {
        self.slots.lock().expect("model cache lock").values().filter(|s| s.initialized()).count()
    }

    /// Whether no model is loaded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
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
}

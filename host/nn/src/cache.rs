//! Loaded models, one per (digest, backend, config) on the node: every tenant that uploaded the same bytes
//! shares one loaded, optimised model, and concurrent first requests load it once.

use crate::{Backends, LoadedModel, ModelConfig, ModelInfo, NnError, Tensor};
use edge_infer_metrics::{Metrics, OutcomeLabels};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::OnceCell;

/// What identifies a loaded model: the sha256 of its bytes and how it is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelKey {
    /// The hex sha256 of the model file.
    pub digest: String,
    /// The model's settings (backend, pinned shapes).
    pub config: ModelConfig,
}

type Slot = Arc<OnceCell<Arc<dyn LoadedModel>>>;

/// The node's loaded models.
#[derive(Default)]
pub struct ModelCache {
    backends: Backends,
    slots: Mutex<HashMap<ModelKey, Slot>>,
    metrics: Arc<Metrics>,
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
        Self { backends, slots: Mutex::default(), metrics }
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
        slot.and_then(|s| s.get().cloned())
    }

    /// The loaded model for `key`, loading it from `bytes` on a blocking thread if needed. Concurrent callers
    /// for the same key wait for one load; a failed load is not remembered, so a later call tries again.
    pub async fn get_or_load<F>(&self, key: &ModelKey, bytes: F) -> Result<Arc<dyn LoadedModel>, NnError>
    where
        F: FnOnce() -> Result<Vec<u8>, NnError> + Send + 'static,
    {
        let slot = self.slots.lock().expect("model cache lock").entry(key.clone()).or_default().clone();
        let model = slot
            .get_or_try_init(|| async {
                let backend = self.backends.select(&key.config)?.clone();
                let (config, id) = (key.config.clone(), key.digest.chars().take(12).collect::<String>());
                let started = Instant::now();
                let load = move || -> Result<(Arc<dyn LoadedModel>, usize), NnError> {
                    let bytes = bytes()?;
                    let inner = backend.load(&bytes, &config)?;
                    Ok((Arc::new(Identified { inner, id }), bytes.len()))
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
                Ok::<_, NnError>(model)
            })
            .await?;
        Ok(model.clone())
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

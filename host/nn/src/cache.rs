//! Loaded models, one per (digest, backend, config) on the node: every tenant that uploaded the same bytes
//! shares one loaded, optimised model, and concurrent first requests load it once.

use crate::{Backends, LoadedModel, ModelConfig, NnError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
}

impl ModelCache {
    /// An empty cache that loads with `backends`.
    pub fn new(backends: Backends) -> Self {
        Self { backends, slots: Mutex::default() }
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
                let config = key.config.clone();
                let load = move || backend.load(&bytes()?, &config);
                tokio::task::spawn_blocking(load)
                    .await
                    .map_err(|e| NnError::runtime(format!("model load task failed: {e}")))?
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

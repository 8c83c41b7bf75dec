//! The backend trait: what an inference engine must do to serve models on the node, and the set of backends
//! compiled into this build. tract is always there; ONNX Runtime and OpenVINO join behind cargo features.

use crate::{ModelInfo, NnError, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Per-model settings a tenant gives with the model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The backend to run the model on (`tract`, …); the node's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Input shapes to pin, by input name. A pinned input has no free dimensions left, so its plan is
    /// optimised once at load.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Vec<u64>>,
}

/// A model loaded into a backend, shared by every request and tenant that uses the same bytes.
pub trait LoadedModel: Send + Sync + 'static {
    /// The declared interface, with any pinned shapes applied.
    fn info(&self) -> &ModelInfo;

    /// The backend that runs it.
    fn backend(&self) -> &'static str;

    /// Runs the model on inputs already checked against [`LoadedModel::info`], in the model's input order,
    /// and returns the outputs in the model's output order. Blocks: call it on the inference pool only.
    fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<Tensor>, NnError>;
}

/// An inference engine.
pub trait Backend: Send + Sync + 'static {
    /// The name models ask for in [`ModelConfig::backend`].
    fn name(&self) -> &'static str;

    /// Reads, checks and prepares a model. Slow (it may optimise the graph): call it off the async workers.
    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError>;
}

/// The backends of this node, the first one being the default.
#[derive(Clone)]
pub struct Backends {
    list: Vec<Arc<dyn Backend>>,
}

impl Default for Backends {
    /// The backends compiled into this build: tract first.
    fn default() -> Self {
        Self { list: vec![Arc::new(crate::tract::TractBackend)] }
    }
}

impl Backends {
    /// Adds a backend (a plugin, or a test double); a backend of the same name is replaced.
    pub fn register(&mut self, backend: Arc<dyn Backend>) {
        self.list.retain(|b| b.name() != backend.name());
        self.list.push(backend);
    }

    /// The names of the available backends, the default first.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|b| b.name()).collect()
    }

    /// The backend a model's config asks for, or the default one.
    pub fn select(&self, config: &ModelConfig) -> Result<&Arc<dyn Backend>, NnError> {
        match &config.backend {
            None => self.list.first().ok_or_else(|| NnError::unsupported("this node has no backend")),
            Some(name) => self.list.iter().find(|b| b.name() == name).ok_or_else(|| {
                NnError::unsupported(format!(
                    "backend \"{name}\" is not available on this node (available: {})",
                    self.names().join(", ")
                ))
            }),
        }
    }
}

//! The backend trait: what an inference engine must do to serve models on the node, and the set of backends
//! of this node. tract is always there; ONNX Runtime and OpenVINO join behind cargo features ([`compiled_in`])
//! when their library is found at start.
//!
//! A model names its backend in its [`ModelConfig`], or takes the node's default; `auto` takes the first
//! backend of the node's [`AUTO_ORDER`] that is available and accepts the model.

use crate::{ErrorKind, ModelInfo, NnError, Tensor};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The backend name that picks the best available backend for a model.
pub const AUTO: &str = "auto";

/// The order `auto` tries backends in, unless the node's config says otherwise: ONNX Runtime first (the
/// reference implementation of ONNX: the widest operator and type coverage, and the numerics the references
/// are computed with), then OpenVINO (often the fastest on Intel CPUs, but it converts the graph and carries
/// no strings), then tract (pure Rust, always built, slower).
pub const AUTO_ORDER: [&str; 3] = ["onnxruntime", "openvino", "tract"];

/// The backends compiled into this build, whether or not their library is present.
pub fn compiled_in() -> Vec<&'static str> {
    let mut names = vec!["tract"];
    if cfg!(feature = "onnxruntime") {
        names.push("onnxruntime");
    }
    if cfg!(feature = "openvino") {
        names.push("openvino");
    }
    names
}

/// Every backend name this code knows, compiled in or not.
const KNOWN: [&str; 3] = ["tract", "onnxruntime", "openvino"];

/// Where a model asks to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The CPU (every backend).
    #[default]
    Cpu,
    /// A GPU: ONNX Runtime's CUDA execution provider or OpenVINO's GPU device. A model that asks for one
    /// fails to load where there is none; it never falls back to the CPU silently.
    Gpu,
}

/// How ONNX Runtime's CUDA execution provider picks cuDNN's convolution algorithm for input shapes it has not
/// seen (its `cudnn_conv_algo_search`). Each shape is planned once per session; batching brings a few shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CudaConvSearch {
    /// Time every algorithm (ONNX Runtime's default): the fastest kernels; a new shape costs the most.
    #[default]
    Exhaustive,
    /// Take cuDNN's heuristic pick: a new shape costs little, the kernels may be slower.
    Heuristic,
}

/// The lowest floating-point precision a backend may compute a model in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// The model's own precision (OpenVINO is told so: it would otherwise run bf16 on CPUs with AMX).
    #[default]
    F32,
    /// Half precision where the engine offers it (OpenVINO only).
    F16,
    /// bfloat16 where the engine offers it (OpenVINO only).
    Bf16,
}

impl Precision {
    /// The lowercase name used in configs and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        }
    }
}

/// Per-model settings a tenant gives with the model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The backend to run the model on (`tract`, `onnxruntime`, `openvino`, or `auto`); the node's default when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Input shapes to pin, by input name. A pinned input has no free dimensions left, so its plan is
    /// optimised once at load.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Vec<u64>>,
    /// Where to run: `cpu` (the default) or `gpu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// The lowest precision the backend may compute in: `f32` (the default), `f16` or `bf16` (OpenVINO only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
}

impl ModelConfig {
    /// The target asked for, the CPU by default.
    pub fn target(&self) -> Target {
        self.target.unwrap_or_default()
    }

    /// The precision asked for, f32 by default.
    pub fn precision(&self) -> Precision {
        self.precision.unwrap_or_default()
    }

    /// Refuses a GPU target or a lowered precision, for a backend that offers neither.
    pub(crate) fn require_cpu_f32(&self, backend: &str) -> Result<(), NnError> {
        if self.target() == Target::Gpu {
            return Err(NnError::unsupported(format!(
                "the model asks for target = \"gpu\", and the {backend} backend runs on the CPU only"
            )));
        }
        if self.precision() != Precision::F32 {
            return Err(NnError::unsupported(format!(
                "the model asks for precision = \"{}\", which only the openvino backend offers; the {backend} \
                 backend computes in the model's own types",
                self.precision().name()
            )));
        }
        Ok(())
    }
}

/// A model loaded into a backend, shared by every request and tenant that uses the same bytes.
pub trait LoadedModel: Send + Sync + 'static {
    /// The declared interface, with any pinned shapes applied.
    fn info(&self) -> &ModelInfo;

    /// The backend that runs it.
    fn backend(&self) -> &'static str;

    /// A short, stable name for metrics and logs: the model cache sets it to the start of the file's digest.
    fn id(&self) -> &str {
        "-"
    }

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

/// The backends of this node: the default one, the `auto` order, and each available backend by name.
#[derive(Clone)]
pub struct Backends {
    list: Vec<Arc<dyn Backend>>,
    /// The backend of models that name none (a name or [`AUTO`]); the first registered when `None`.
    default: Option<String>,
    auto_order: Vec<String>,
    auto: Arc<dyn Backend>,
}

impl Default for Backends {
    /// The tract backend alone, and the default `auto` order.
    fn default() -> Self {
        let mut backends = Self {
            list: vec![Arc::new(crate::tract::TractBackend)],
            default: None,
            auto_order: AUTO_ORDER.iter().map(|s| s.to_string()).collect(),
            auto: Arc::new(AutoBackend { candidates: Vec::new() }),
        };
        backends.rebuild_auto();
        backends
    }
}

impl Backends {
    /// Adds a backend (a plugin, or a test double); a backend of the same name is replaced.
    pub fn register(&mut self, backend: Arc<dyn Backend>) {
        self.list.retain(|b| b.name() != backend.name());
        self.list.push(backend);
        self.rebuild_auto();
    }

    /// The names of the available backends, the first registered first.
    pub fn names(&self) -> Vec<&'static str> {
        self.list.iter().map(|b| b.name()).collect()
    }

    /// The backend of models that name none: a backend name or `auto`.
    pub fn default_name(&self) -> &str {
        self.default.as_deref().or_else(|| self.list.first().map(|b| b.name())).unwrap_or("none")
    }

    /// Makes `name` (an available backend, or `auto`) the backend of models that name none.
    pub fn set_default(&mut self, name: &str) -> Result<(), NnError> {
        if name != AUTO {
            self.by_name(name)?;
        }
        self.default = Some(name.to_string());
        Ok(())
    }

    /// The order `auto` tries backends in (names this build does not know are refused; known but absent ones
    /// are skipped).
    pub fn set_auto_order(&mut self, order: &[String]) -> Result<(), NnError> {
        if let Some(unknown) = order.iter().find(|n| !KNOWN.contains(&n.as_str())) {
            return Err(NnError::invalid(format!(
                "the auto order names \"{unknown}\", which is not a backend (backends: {})",
                KNOWN.join(", ")
            )));
        }
        self.auto_order = order.to_vec();
        self.rebuild_auto();
        Ok(())
    }

    /// The order `auto` tries backends in, available or not.
    pub fn auto_order(&self) -> &[String] {
        &self.auto_order
    }

    /// The available backends `auto` tries, in order.
    pub fn auto_candidates(&self) -> Vec<&'static str> {
        self.auto_order.iter().filter_map(|n| self.list.iter().find(|b| b.name() == n)).map(|b| b.name()).collect()
    }

    /// The backend a model's config asks for, or the default one.
    pub fn select(&self, config: &ModelConfig) -> Result<&Arc<dyn Backend>, NnError> {
        match config.backend.as_deref().or(self.default.as_deref()) {
            None => self.list.first().ok_or_else(|| NnError::unsupported("this node has no backend")),
            Some(AUTO) => Ok(&self.auto),
            Some(name) => self.by_name(name),
        }
    }

    fn by_name(&self, name: &str) -> Result<&Arc<dyn Backend>, NnError> {
        self.list.iter().find(|b| b.name() == name).ok_or_else(|| {
            let why = if compiled_in().contains(&name) {
                "is built in but not available on this node: its library was not found at start (see \
                 `edge-infer backends`)"
                    .to_string()
            } else if KNOWN.contains(&name) {
                format!("is not in this build of edge-infer (it needs the cargo feature \"{name}\")")
            } else {
                "is not a backend".to_string()
            };
            NnError::unsupported(format!(
                "backend \"{name}\" {why}; available on this node: {}, or \"{AUTO}\"",
                self.names().join(", ")
            ))
        })
    }

    fn rebuild_auto(&mut self) {
        let candidates =
            self.auto_order.iter().filter_map(|n| self.list.iter().find(|b| b.name() == n)).cloned().collect();
        self.auto = Arc::new(AutoBackend { candidates });
    }
}

/// `auto`: the first candidate that accepts the model. A candidate that refuses it as unsupported (an
/// operator, an element type, a GPU it lacks) passes it on; any other failure is the answer.
struct AutoBackend {
    candidates: Vec<Arc<dyn Backend>>,
}

impl Backend for AutoBackend {
    fn name(&self) -> &'static str {
        AUTO
    }

    fn load(&self, bytes: &[u8], config: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
        let mut refusals = Vec::new();
        for backend in &self.candidates {
            match backend.load(bytes, config) {
                Ok(model) => return Ok(model),
                Err(e) if e.kind == ErrorKind::UnsupportedOperation => {
                    refusals.push(format!("{}: {}", backend.name(), e.message));
                }
                Err(e) => return Err(e),
            }
        }
        if refusals.is_empty() {
            return Err(NnError::unsupported("no backend of the auto order is available on this node"));
        }
        Err(NnError::unsupported(format!("no available backend can run the model ({})", refusals.join("; "))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuses(&'static str, ErrorKind);

    impl Backend for Refuses {
        fn name(&self) -> &'static str {
            self.0
        }

        fn load(&self, _: &[u8], _: &ModelConfig) -> Result<Arc<dyn LoadedModel>, NnError> {
            Err(NnError::new(self.1, format!("{} says no", self.0)))
        }
    }

    fn named(backend: &str) -> ModelConfig {
        ModelConfig { backend: Some(backend.into()), ..ModelConfig::default() }
    }

    #[test]
    fn absent_backends_are_named_with_the_reason() {
        let backends = Backends::default();
        let err = backends.select(&named("tensorrt")).err().unwrap();
        assert_eq!(err.kind, ErrorKind::UnsupportedOperation);
        assert!(err.message.contains("\"tensorrt\" is not a backend"), "{err}");
        assert!(err.message.contains("available on this node: tract"), "{err}");
        let err = backends.select(&named("onnxruntime")).err().unwrap();
        let why = if cfg!(feature = "onnxruntime") { "not available on this node" } else { "not in this build" };
        assert!(err.message.contains(why), "{err}");
    }

    #[test]
    fn auto_passes_an_unsupported_model_on_and_stops_at_other_failures() {
        let mut backends = Backends::default();
        backends.register(Arc::new(Refuses("onnxruntime", ErrorKind::UnsupportedOperation)));
        assert_eq!(backends.auto_candidates(), vec!["onnxruntime", "tract"]);
        let model = backends.select(&named(AUTO)).unwrap().load(&crate::testing::fixture("mlp.onnx"), &named(AUTO));
        assert_eq!(model.unwrap().backend(), "tract");

        backends.register(Arc::new(Refuses("openvino", ErrorKind::InvalidEncoding)));
        let err = backends.select(&named(AUTO)).unwrap().load(b"x", &named(AUTO)).err().unwrap();
        assert_eq!(err.message, "openvino says no");

        let gpu = ModelConfig { target: Some(Target::Gpu), ..named(AUTO) };
        let mut backends = Backends::default();
        backends.register(Arc::new(Refuses("onnxruntime", ErrorKind::UnsupportedOperation)));
        let err = backends.select(&gpu).unwrap().load(&crate::testing::fixture("mlp.onnx"), &gpu).err().unwrap();
        assert!(err.message.starts_with("no available backend can run the model (onnxruntime: "), "{err}");
        assert!(err.message.contains("tract: the model asks for target = \"gpu\""), "{err}");
    }

    #[test]
    fn the_default_may_be_auto_and_must_be_available() {
        let mut backends = Backends::default();
        assert_eq!(backends.default_name(), "tract");
        backends.set_default(AUTO).unwrap();
        assert_eq!(backends.select(&ModelConfig::default()).unwrap().name(), AUTO);
        assert!(backends.set_default("openvino").is_err());
        assert!(backends.set_auto_order(&["tract".into(), "cuda".into()]).is_err());
        backends.set_auto_order(&["tract".into()]).unwrap();
        assert_eq!(backends.auto_candidates(), vec!["tract"]);
    }

    #[test]
    fn model_configs_parse_targets_and_precisions_and_refuse_typos() {
        let config: ModelConfig =
            serde_json::from_str(r#"{"backend": "openvino", "target": "gpu", "precision": "bf16"}"#).unwrap();
        assert_eq!((config.target(), config.precision()), (Target::Gpu, Precision::Bf16));
        assert!(serde_json::from_str::<ModelConfig>(r#"{"target": "tpu"}"#).is_err());
        assert_eq!(serde_json::to_string(&ModelConfig::default()).unwrap(), "{}");
    }
}

//! Node configuration: one TOML file, typed; environment variables and CLI flags override it. Every setting's
//! environment name is a constant here, and `edge-infer serve --help` lists them.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Address to listen on.
pub const ENV_LISTEN: &str = "EDGE_INFER_LISTEN";
/// Directory for the store, the catalog and the compile cache.
pub const ENV_DATA_DIR: &str = "EDGE_INFER_DATA_DIR";
/// Path of the TOML config file.
pub const ENV_CONFIG: &str = "EDGE_INFER_CONFIG";
/// Path of a seed catalog (TOML) to import at start.
pub const ENV_CATALOG: &str = "EDGE_INFER_CATALOG";
/// The operator token for `/admin`.
pub const ENV_ADMIN_TOKEN: &str = "EDGE_INFER_ADMIN_TOKEN";
/// Log filter (`info`, `edge_infer=debug,…`).
pub const ENV_LOG: &str = "EDGE_INFER_LOG";
/// Log format: `text` or `json`.
pub const ENV_LOG_FORMAT: &str = "EDGE_INFER_LOG_FORMAT";
/// The ONNX Runtime library, when `[backends.onnxruntime] library` is not set (the name `ort` itself reads).
pub const ENV_ORT_DYLIB_PATH: &str = "ORT_DYLIB_PATH";
/// A directory holding OpenVINO's `libopenvino_c.so`, when `[backends.openvino] library` is not set (the
/// `openvino` crate's search also tries `INTEL_OPENVINO_DIR`, `LD_LIBRARY_PATH` and the usual install places).
pub const ENV_OPENVINO_INSTALL_DIR: &str = "OPENVINO_INSTALL_DIR";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, with the request's span fields.
    Json,
}

/// Everything a node is told at start.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the store, the catalog and the compile cache.
    pub data_dir: PathBuf,
    /// A seed catalog (TOML) imported at start; relative paths in it are relative to the file.
    pub catalog: Option<PathBuf>,
    /// The operator token for `/admin`.
    pub admin_token: Option<String>,
    /// Largest request body accepted by an endpoint, in bytes.
    pub body_limit: u64,
    /// Largest model or component upload accepted, in bytes.
    pub upload_limit: u64,
    /// Memory, in MiB, that the test load of an uploaded model may use (its whole child process, the model's
    /// bytes included); a model that needs more is refused. 0 loads uploads in the node without a test load.
    pub model_load_memory_mib: u64,
    /// How long the test load of an uploaded model may take, in milliseconds.
    pub model_load_timeout_ms: u64,
    /// Memory, in MiB, the node's loaded models may hold together (what each load kept of the heap); past
    /// it, the least recently used models no request holds are unloaded, and load again on their next use.
    /// 0: no limit, every model the catalog serves stays loaded.
    pub model_memory_mib: u64,
    /// Inference pool threads; 0 means one per core.
    pub inference_threads: usize,
    /// Wall-clock budget of one guest call, in milliseconds (a tenant's or endpoint's own deadline wins).
    pub deadline_ms: u64,
    /// Fuel (about one unit per wasm instruction) one guest call may burn; 0 turns metering off.
    pub guest_fuel: u64,
    /// Linear memory one guest may use, in MiB.
    pub guest_memory_mib: usize,
    /// Guest instances alive at once.
    pub max_instances: u32,
    /// How long an idle instance of an endpoint with `max_instance_reuse` > 1 waits for its next request, in
    /// milliseconds.
    pub idle_instance_timeout_ms: u64,
    /// The node's compile cache on disk, in MiB (least recently used out first).
    pub compile_cache_mib: u64,
    /// Linear memory, in KiB, each pool slot keeps mapped between guests and zeroes in place instead of
    /// giving back to the kernel: spares a request the page faults of touching fresh memory, at the cost of
    /// that much resident memory per slot that has run a guest.
    pub guest_keep_resident_kib: usize,
    /// Whether guests may load model bytes of their own with raw `wasi:nn/graph.load`.
    pub allow_raw_load: bool,
    /// How long a graceful shutdown waits for in-flight requests, in milliseconds.
    pub shutdown_grace_ms: u64,
    /// Log format.
    pub log_format: LogFormat,
    /// PEM certificate chain for HTTPS; with `tls_key`, the node serves TLS (HTTP/2 and HTTP/1.1 by ALPN) and
    /// reloads both files on SIGHUP. Plain HTTP otherwise.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The inference backends (`[backends]`): the default one, the `auto` order, and where ONNX Runtime's and
    /// OpenVINO's libraries are.
    pub backends: BackendsConfig,
    /// Where uploads and the catalog live (`[store]`): the data directory, or a bucket a fleet shares.
    pub store: StoreConfig,
    /// Dynamic batching (`[batching]`): how far concurrent runs of one model may be merged.
    pub batching: BatchingConfig,
}

/// `[batching]`: concurrent runs of one model on same-shaped inputs, from any tenant, may run as one batch.
/// The node measures each model's cost per item at each batch size and batches only where it is lower.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BatchingConfig {
    /// Most items in one run; 1 turns batching off.
    pub max_batch_size: usize,
    /// How long a run may wait for others to batch with, in milliseconds — only for models where batching
    /// has been measured to pay.
    pub max_queue_delay_ms: u64,
    /// `measured` (batch only where it was measured to pay) or `always` (batch whatever waits).
    pub mode: edge_infer_nn::BatchMode,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        let policy = edge_infer_nn::BatchPolicy::default();
        Self {
            max_batch_size: policy.max_batch_size,
            max_queue_delay_ms: policy.max_queue_delay.as_millis() as u64,
            mode: policy.mode,
        }
    }
}

impl BatchingConfig {
    /// The policy the inference layer applies.
    pub fn policy(&self) -> edge_infer_nn::BatchPolicy {
        edge_infer_nn::BatchPolicy {
            max_batch_size: self.max_batch_size.max(1),
            max_queue_delay: Duration::from_millis(self.max_queue_delay_ms),
            mode: self.mode,
        }
    }
}

/// `[store]`: the data directory (one node), or an S3-compatible bucket that every node of a fleet shares.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `local` (the default) or `s3`.
    pub kind: StoreKind,
    /// The bucket (`[store.s3]`), for `kind = "s3"`.
    pub s3: Option<edge_infer_fleet::S3Settings>,
    /// How often a fleet node looks for a changed catalog, in milliseconds.
    pub poll_ms: u64,
    /// The local cache of blobs read from the bucket, in MiB (least recently used out first).
    pub cache_mib: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { kind: StoreKind::Local, s3: None, poll_ms: 2_000, cache_mib: 4_096 }
    }
}

/// Which store a node uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Blobs and `catalog.json` in the data directory.
    #[default]
    Local,
    /// An S3-compatible bucket shared by a fleet, with a local blob cache in the data directory.
    S3,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            catalog: None,
            admin_token: None,
            body_limit: 16 << 20,
            upload_limit: 512 << 20,
            model_load_memory_mib: 4096,
            model_load_timeout_ms: 120_000,
            model_memory_mib: 0,
            inference_threads: 0,
            deadline_ms: 10_000,
            guest_fuel: 0,
            guest_memory_mib: 256,
            max_instances: 256,
            idle_instance_timeout_ms: 1000,
            compile_cache_mib: 4096,
            guest_keep_resident_kib: 4096,
            allow_raw_load: false,
            shutdown_grace_ms: 30_000,
            log_format: LogFormat::Text,
            tls_cert: None,
            tls_key: None,
            backends: BackendsConfig::default(),
            store: StoreConfig::default(),
            batching: BatchingConfig::default(),
        }
    }
}

impl Config {
    /// Reads a TOML config file; unknown keys are an error, missing ones take their defaults.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))
    }

    /// The settings as TOML, the admin token masked.
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        if shown.admin_token.is_some() {
            shown.admin_token = Some("********".into());
        }
        if let Some(s3) = shown.store.s3.as_mut()
            && s3.secret_access_key.is_some()
        {
            s3.secret_access_key = Some("********".into());
        }
        toml::to_string(&shown).expect("the config serialises")
    }

    /// The guest deadline.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Inference threads, with 0 resolved to the number of cores.
    pub fn threads(&self) -> usize {
        match self.inference_threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }
}

/// `[backends]`: which engines a node offers and how they are set up. A backend missing from this build or
/// whose library is not found is simply not available (`edge-infer backends` says why); a library configured
/// here that fails to load stops the node at start.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackendsConfig {
    /// The backend of models that name none: `tract`, `onnxruntime`, `openvino` or `auto`.
    pub default: String,
    /// The order `auto` tries the available backends in.
    pub auto: Vec<String>,
    /// ONNX Runtime (`--features onnxruntime`).
    pub onnxruntime: OnnxRuntimeConfig,
    /// OpenVINO (`--features openvino`).
    pub openvino: OpenVinoConfig,
}

impl Default for BackendsConfig {
    fn default() -> Self {
        Self {
            default: "tract".into(),
            auto: edge_infer_nn::AUTO_ORDER.iter().map(|s| s.to_string()).collect(),
            onnxruntime: OnnxRuntimeConfig::default(),
            openvino: OpenVinoConfig::default(),
        }
    }
}

/// `[backends.onnxruntime]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnnxRuntimeConfig {
    /// The ONNX Runtime shared library (`libonnxruntime.so.1.*`); `ORT_DYLIB_PATH` when not set.
    pub library: Option<PathBuf>,
    /// Threads one inference may use (intra-op threads per session).
    pub intra_threads: usize,
    /// How the CUDA execution provider picks convolution algorithms for new input shapes (`"exhaustive"`, its
    /// default, or `"heuristic"`), for models with `target = "gpu"`.
    pub cuda_conv_search: edge_infer_nn::CudaConvSearch,
}

impl Default for OnnxRuntimeConfig {
    fn default() -> Self {
        Self { library: None, intra_threads: 1, cuda_conv_search: edge_infer_nn::CudaConvSearch::default() }
    }
}

/// `[backends.openvino]`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OpenVinoConfig {
    /// `libopenvino_c.so*`, or the directory holding it (the PyPI wheel's `openvino/libs`); when not set,
    /// `OPENVINO_INSTALL_DIR`, `LD_LIBRARY_PATH` and the usual install places are searched for `libopenvino_c.so`.
    pub library: Option<PathBuf>,
    /// Threads one inference may use.
    pub threads: usize,
    /// Inferences one model runs at once (OpenVINO streams); 0 means the inference pool's size.
    pub streams: usize,
}

impl Default for OpenVinoConfig {
    fn default() -> Self {
        Self { library: None, threads: 1, streams: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_node_toml_has_every_key_with_its_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/node.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let file: toml::Table = toml::from_str(&text).unwrap();
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        let keys = |t: &toml::Table| -> Vec<String> {
            let mut keys = Vec::new();
            for (k, v) in t {
                keys.push(k.clone());
                if let Some(inner) = v.as_table() {
                    keys.extend(inner.keys().map(|i| format!("{k}.{i}")));
                }
            }
            keys.sort();
            keys
        };
        assert_eq!(keys(&file), keys(&defaults), "examples/node.toml lists every key");
        assert_eq!(Config::from_file(&path).unwrap().to_toml(), Config::default().to_toml());
    }

    #[test]
    fn a_partial_file_keeps_defaults_and_unknown_keys_fail() {
        let config: Config = toml::from_str("listen = \"0.0.0.0:9000\"\nbody_limit = 1024\n").unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.body_limit, 1024);
        assert_eq!(config.deadline_ms, 10_000);
        assert!(toml::from_str::<Config>("listne = \"x\"").is_err());
    }

    #[test]
    fn backends_have_defaults_and_refuse_unknown_keys() {
        let config: Config = toml::from_str(
            "[backends]\ndefault = \"auto\"\n[backends.onnxruntime]\nlibrary = \"/opt/ort/libonnxruntime.so\"\n",
        )
        .unwrap();
        assert_eq!(config.backends.default, "auto");
        assert_eq!(config.backends.auto, ["onnxruntime", "openvino", "tract"]);
        assert_eq!(config.backends.onnxruntime.intra_threads, 1);
        assert_eq!(config.backends.openvino.streams, 0);
        assert!(toml::from_str::<Config>("[backends.openvino]\nlib = \"x\"").is_err());
    }
}

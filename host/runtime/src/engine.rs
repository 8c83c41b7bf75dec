//! The wasmtime engine of the node and the [`Runtime`] that owns it: pooling allocator, epoch ticker,
//! linker with exactly the imports of the `edge:infer/endpoint` world.

use crate::compile::{CompileStats, ComponentCache};
use crate::nn_host::ModelSource;
use crate::state::GuestState;
use crate::warm::WarmInstances;
use anyhow::Context as _;
use edge_infer_catalog::{BlobStore, Digest};
use edge_infer_nn::Inference;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::Linker;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of guest time slices and deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Epoch ticks between two sweeps of idle warm instances (100 ms).
const IDLE_SWEEP_TICKS: u32 = 10;

/// Table memory each pool slot keeps mapped and resets in place between guests (tables are small: a Rust
/// guest's fit in a few KiB), sparing the next instantiation the page faults of fresh pages.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Limits and settings of the sandbox.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Where compiled components are cached (node-local; never shared between machines).
    pub cache_dir: PathBuf,
    /// How many bytes of compiled code the cache directory keeps; the least recently used files go first.
    pub cache_bytes: u64,
    /// Linear memory one guest instance may grow to, in bytes.
    pub memory_limit: usize,
    /// Guest instances alive at once (pool slots).
    pub max_instances: u32,
    /// Bytes of each slot's linear memory kept resident and zeroed in place between guests, instead of being
    /// returned to the kernel (which makes the next guest fault in fresh pages).
    pub keep_resident: usize,
    /// Fuel (roughly, wasm instructions) one guest call may burn; `None` turns fuel metering off.
    pub fuel: Option<u64>,
    /// Whether guests may use raw `wasi:nn/graph.load` with model bytes of their own.
    pub allow_raw_load: bool,
    /// Bytes of a guest's stdout and stderr kept for the log, each.
    pub output_capture: usize,
    /// How long an instance of an endpoint that reuses instances is kept idle for its next request.
    pub idle_instance_timeout: Duration,
}

impl RuntimeConfig {
    /// Defaults for a node whose caches live under `data_dir`.
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            cache_dir: data_dir.join("compiled"),
            cache_bytes: 4 << 30,
            memory_limit: 256 << 20,
            max_instances: 256,
            keep_resident: 4 << 20,
            fuel: None,
            allow_raw_load: false,
            output_capture: 16 << 10,
            idle_instance_timeout: Duration::from_secs(1),
        }
    }
}

/// The node's wasm runtime.
pub struct Runtime {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<GuestState>,
    /// The linker of preview 1 (CGI) modules.
    pub(crate) cgi_linker: wasmtime::Linker<crate::cgi::CgiState>,
    pub(crate) config: RuntimeConfig,
    pub(crate) components: ComponentCache,
    pub(crate) store: Arc<dyn BlobStore>,
    pub(crate) models: ModelSource,
    /// Idle instances of endpoints that reuse them.
    pub(crate) warm: Arc<WarmInstances>,
    ticker: Arc<AtomicBool>,
}

impl Runtime {
    /// A runtime with `config` that reads artifacts from `store` and runs models on `inference`; starts the
    /// epoch ticker thread.
    pub fn new(config: RuntimeConfig, store: Arc<dyn BlobStore>, inference: Arc<Inference>) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances * 4)
            .total_memories(config.max_instances * 2)
            .total_tables(config.max_instances * 4)
            .max_memory_size(config.memory_limit)
            .linear_memory_keep_resident(config.keep_resident.min(config.memory_limit))
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut wasm = wasmtime::Config::new();
        wasm.wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(config.fuel.is_some())
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(anyhow::Error::from).context("configuring wasmtime")?;
        let linker = crate::state::linker(&engine)?;
        let cgi_linker = crate::cgi::linker(&engine)?;
        let components = ComponentCache::new(&engine, &config.cache_dir, config.cache_bytes)?;

        let warm = Arc::new(WarmInstances::new(config.idle_instance_timeout));
        let ticker = Arc::new(AtomicBool::new(true));
        let (running, ticking, idle) = (ticker.clone(), engine.weak(), Arc::downgrade(&warm));
        let idle_gauge = inference.metrics().idle_instances.clone();
        std::thread::Builder::new().name("edge-infer-epoch".into()).spawn(move || {
            let mut ticks = 0u32;
            while running.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match ticking.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
                ticks = ticks.wrapping_add(1);
                // Idle instances past their timeout go (their slots' reset runs here, off the request threads).
                if ticks.is_multiple_of(IDLE_SWEEP_TICKS)
                    && let Some(warm) = idle.upgrade()
                {
                    warm.expire(std::time::Instant::now());
                    idle_gauge.set(warm.len() as i64);
                }
            }
        })?;
        let models = ModelSource::new(inference, store.clone());
        Ok(Self { engine, linker, cgi_linker, config, components, store, models, warm, ticker })
    }

    /// The sandbox settings.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Compiles (or loads from the node's cache) the component `digest`, so its first request does not pay for
    /// it. Fails with the reason when the bytes are not a component this node can run.
    pub async fn prepare(&self, digest: &Digest) -> anyhow::Result<()> {
        self.components.get(self, digest).await.map(drop)
    }

    /// The models guests load, and the inference service behind them.
    pub fn models(&self) -> &ModelSource {
        &self.models
    }

    /// How many components were compiled and loaded from the cache since start.
    pub fn compile_stats(&self) -> CompileStats {
        self.components.stats()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

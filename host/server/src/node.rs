//! A node: the store, the catalog, the inference service and the wasm runtime, wired together once at start.
//! Everything the catalog names is made ready before the node reports ready: blobs stored, components
//! compiled (or loaded from the compile cache), models loaded.

use crate::Config;
use anyhow::Context as _;
use edge_infer_catalog::{BlobStore, Catalog, LocalStore};
use edge_infer_nn::{Backends, Inference, ModelCache};
use edge_infer_runtime::{Runtime, RuntimeConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// How to build a node beyond its config.
#[derive(Clone, Default)]
pub struct NodeOptions {
    /// The inference backends; tract alone by default. Tests add a gated fake here.
    pub backends: Backends,
}

/// A running node's state, shared by every request.
pub struct Node {
    config: Config,
    catalog: RwLock<Arc<Catalog>>,
    runtime: Runtime,
    ready: AtomicBool,
}

impl Node {
    /// Opens the store, imports the seed catalog if one is configured, and prepares everything it names.
    pub async fn start(config: Config, options: NodeOptions) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let store: Arc<dyn BlobStore> = Arc::new(LocalStore::open(&config.data_dir)?);
        let catalog = match &config.catalog {
            Some(path) => edge_infer_catalog::load_seed(path, store.as_ref())?,
            None => Catalog::default(),
        };
        let inference = Arc::new(Inference::new(ModelCache::new(options.backends), config.threads()));
        let runtime_config = RuntimeConfig {
            memory_limit: config.guest_memory_mib << 20,
            max_instances: config.max_instances,
            deadline: config.deadline(),
            allow_raw_load: config.allow_raw_load,
            ..RuntimeConfig::new(&config.data_dir)
        };
        let runtime = Runtime::new(runtime_config, store, inference)?;
        let node =
            Arc::new(Self { config, catalog: RwLock::new(Arc::new(catalog)), runtime, ready: AtomicBool::new(false) });
        node.prepare_all().await?;
        node.ready.store(true, Ordering::Release);
        Ok(node)
    }

    /// Compiles every component and loads every model of the catalog.
    async fn prepare_all(&self) -> anyhow::Result<()> {
        let catalog = self.catalog();
        for (tenant_name, tenant) in &catalog.tenants {
            for (name, versions) in &tenant.components {
                for version in &versions.versions {
                    self.runtime
                        .prepare(&version.digest)
                        .await
                        .with_context(|| format!("tenant {tenant_name}: component {name}"))?;
                }
            }
            for (name, versions) in &tenant.models {
                let current = versions.get(None).expect("a model has a current version");
                let model = edge_infer_catalog::ResolvedModel {
                    digest: current.digest.clone(),
                    config: current.config.clone(),
                };
                self.runtime
                    .models()
                    .load(&model)
                    .await
                    .with_context(|| format!("tenant {tenant_name}: model {name}"))?;
            }
        }
        Ok(())
    }

    /// The config the node started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The catalog as of now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("catalog lock").clone()
    }

    /// The wasm runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Whether everything the catalog names is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

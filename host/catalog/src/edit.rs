//! Changes to the catalog, each one whole or not at all: the caller edits a copy, persists it, and swaps it
//! in. Every refusal says which tenant, artifact or reference is at fault.

use crate::{ArtifactRef, Catalog, ComponentVersion, Digest, EndpointVersion, ModelVersion, Tenant, Versions};

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// The tenant or artifact does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the catalog (exists already, still in use, nothing to roll back to).
    #[error("{0}")]
    Conflict(String),
    /// The change itself is malformed (a reference to nothing).
    #[error("{0}")]
    Invalid(String),
}

/// A fresh API key: two random v4 UUIDs (244 random bits), prefixed so leaked keys are easy to spot.
pub fn generate_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("ei_{a}{b}")
}

/// What the catalog keeps of a key: its sha256.
pub fn hash_key(key: &str) -> String {
    Digest::of(key.as_bytes()).as_str().to_string()
}

impl Catalog {
    /// The tenant whose API key this is.
    pub fn tenant_for_key(&self, key: &str) -> Option<(&str, &Tenant)> {
        let hash = hash_key(key);
        self.tenants.iter().find(|(_, t)| t.key_hashes.contains(&hash)).map(|(n, t)| (n.as_str(), t))
    }

    /// Adds a tenant and returns its first API key.
    pub fn create_tenant(&mut self, name: &str) -> Result<String, EditError> {
        crate::check_name(name).map_err(|e| EditError::Invalid(e.to_string()))?;
        if self.tenants.contains_key(name) {
            return Err(EditError::Conflict(format!("tenant {name} exists already")));
        }
        let key = generate_key();
        self.tenants.insert(name.to_string(), Tenant { key_hashes: vec![hash_key(&key)], ..Tenant::default() });
        Ok(key)
    }

    /// Removes a tenant and everything it owns from the catalog (blobs stay in the store).
    pub fn delete_tenant(&mut self, name: &str) -> Result<(), EditError> {
        self.tenants.remove(name).map(drop).ok_or_else(|| EditError::NotFound(format!("no tenant {name}")))
    }

    /// Replaces a tenant's keys with one new key, which is returned.
    pub fn rotate_key(&mut self, name: &str) -> Result<String, EditError> {
        let tenant = self.tenant_mut(name)?;
        let key = generate_key();
        tenant.key_hashes = vec![hash_key(&key)];
        Ok(key)
    }

    /// The tenant `name`, for changing.
    pub fn tenant_mut(&mut self, name: &str) -> Result<&mut Tenant, EditError> {
        self.tenants.get_mut(name).ok_or_else(|| EditError::NotFound(format!("no tenant {name}")))
    }
}

/// The outcome of putting an artifact: its version, and whether that version is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    /// The version now current.
    pub version: u32,
    /// False when the upload was identical to the current version, which stays.
    pub created: bool,
}

fn put<T: PartialEq>(map: &mut std::collections::BTreeMap<String, Versions<T>>, name: &str, item: T) -> Put {
    match map.get_mut(name) {
        Some(versions) if *versions.current() == item => Put { version: versions.current, created: false },
        Some(versions) => Put { version: versions.push(item), created: true },
        None => {
            map.insert(name.to_string(), Versions::first(item));
            Put { version: 1, created: true }
        }
    }
}

impl Tenant {
    /// Adds a model version (or keeps the current one if identical).
    pub fn put_model(&mut self, name: &str, version: ModelVersion) -> Put {
        put(&mut self.models, name, version)
    }

    /// Adds a component version (or keeps the current one if identical).
    pub fn put_component(&mut self, name: &str, version: ComponentVersion) -> Put {
        put(&mut self.components, name, version)
    }

    /// Adds an endpoint version after checking that everything it names exists; it becomes current at once.
    pub fn put_endpoint(&mut self, name: &str, endpoint: EndpointVersion) -> Result<Put, EditError> {
        let exists = |r: &ArtifactRef, kind: &str, found: bool| {
            if found {
                Ok(())
            } else {
                Err(EditError::Invalid(format!("{kind} {} does not exist", String::from(r.clone()))))
            }
        };
        let c = &endpoint.component;
        exists(c, "component", self.components.get(&c.name).and_then(|v| v.get(c.version)).is_some())?;
        for (alias, m) in &endpoint.models {
            crate::check_name(alias).map_err(|e| EditError::Invalid(format!("alias: {e}")))?;
            exists(m, "model", self.resolve_model(m).is_some())?;
        }
        Ok(put(&mut self.endpoints, name, endpoint))
    }

    /// Makes the version before the current one current again.
    pub fn rollback_endpoint(&mut self, name: &str) -> Result<u32, EditError> {
        let versions =
            self.endpoints.get_mut(name).ok_or_else(|| EditError::NotFound(format!("no endpoint {name}")))?;
        if versions.current <= 1 {
            return Err(EditError::Conflict(format!(
                "endpoint {name} is at its first version: nothing to roll back to"
            )));
        }
        let previous = versions.current - 1;
        // The previous version may name an artifact deleted since: refuse rather than break the endpoint.
        versions.current = previous;
        if let Err(dangling) = self.resolve_endpoint(name).expect("the endpoint exists") {
            self.endpoints.get_mut(name).expect("the endpoint exists").current = previous + 1;
            return Err(EditError::Conflict(format!(
                "cannot roll endpoint {name} back to version {previous}: {dangling}"
            )));
        }
        Ok(previous)
    }

    /// Removes a model, unless an endpoint's current version uses it.
    pub fn delete_model(&mut self, name: &str) -> Result<(), EditError> {
        if !self.models.contains_key(name) {
            return Err(EditError::NotFound(format!("no model {name}")));
        }
        let users: Vec<&String> = self
            .endpoints
            .iter()
            .filter(|(_, e)| e.current().models.values().any(|m| m.name == name))
            .map(|(n, _)| n)
            .collect();
        if !users.is_empty() {
            return Err(EditError::Conflict(format!("model {name} is used by endpoint(s) {users:?}")));
        }
        self.models.remove(name);
        Ok(())
    }

    /// Removes a component, unless an endpoint's current version uses it.
    pub fn delete_component(&mut self, name: &str) -> Result<(), EditError> {
        if !self.components.contains_key(name) {
            return Err(EditError::NotFound(format!("no component {name}")));
        }
        let users: Vec<&String> =
            self.endpoints.iter().filter(|(_, e)| e.current().component.name == name).map(|(n, _)| n).collect();
        if !users.is_empty() {
            return Err(EditError::Conflict(format!("component {name} is used by endpoint(s) {users:?}")));
        }
        self.components.remove(name);
        Ok(())
    }

    /// Removes an endpoint and its history.
    pub fn delete_endpoint(&mut self, name: &str) -> Result<(), EditError> {
        self.endpoints.remove(name).map(drop).ok_or_else(|| EditError::NotFound(format!("no endpoint {name}")))
    }
}

impl Catalog {
    /// Brings in a seed catalog: new tenants and keys are added; an artifact that differs from the current
    /// version becomes a new version. Applying the same seed twice changes nothing.
    pub fn merge_seed(&mut self, seed: Catalog) {
        for (name, seeded) in seed.tenants {
            let tenant = self.tenants.entry(name).or_default();
            if seeded.limits != crate::Limits::default() {
                tenant.limits = seeded.limits;
            }
            for hash in seeded.key_hashes {
                if !tenant.key_hashes.contains(&hash) {
                    tenant.key_hashes.push(hash);
                }
            }
            for (name, versions) in seeded.models {
                tenant.put_model(&name, versions.current().clone());
            }
            for (name, versions) in seeded.components {
                tenant.put_component(&name, versions.current().clone());
            }
            for (name, versions) in seeded.endpoints {
                put(&mut tenant.endpoints, &name, versions.current().clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_infer_nn::ModelConfig;

    fn model(s: &str) -> ModelVersion {
        ModelVersion { digest: Digest::of(s.as_bytes()), size: 1, config: ModelConfig::default() }
    }

    fn endpoint(component: &str, model: Option<&str>) -> EndpointVersion {
        EndpointVersion {
            component: ArtifactRef { name: component.into(), version: None },
            models: model
                .map(|m| ("alias".to_string(), ArtifactRef { name: m.into(), version: None }))
                .into_iter()
                .collect(),
            config: Default::default(),
            public: false,
            deadline_ms: None,
            max_instance_reuse: None,
        }
    }

    #[test]
    fn keys_identify_their_tenant_until_rotated() {
        let mut catalog = Catalog::default();
        let key = catalog.create_tenant("acme").unwrap();
        assert_eq!(catalog.tenant_for_key(&key).unwrap().0, "acme");
        assert!(matches!(catalog.create_tenant("acme"), Err(EditError::Conflict(_))));
        let new_key = catalog.rotate_key("acme").unwrap();
        assert!(catalog.tenant_for_key(&key).is_none());
        assert_eq!(catalog.tenant_for_key(&new_key).unwrap().0, "acme");
    }

    #[test]
    fn versions_switch_roll_back_and_guard_deletes() {
        let mut tenant = Tenant::default();
        assert_eq!(tenant.put_model("m", model("1")), Put { version: 1, created: true });
        assert_eq!(tenant.put_model("m", model("1")), Put { version: 1, created: false });
        assert_eq!(tenant.put_model("m", model("2")), Put { version: 2, created: true });
        tenant.put_component("c", ComponentVersion { digest: Digest::of(b"c"), size: 1 });
        assert!(matches!(tenant.put_endpoint("e", endpoint("nope", None)), Err(EditError::Invalid(_))));
        assert!(matches!(tenant.put_endpoint("e", endpoint("c", Some("nope"))), Err(EditError::Invalid(_))));
        assert_eq!(tenant.put_endpoint("e", endpoint("c", Some("m"))).unwrap().version, 1);
        assert_eq!(tenant.put_endpoint("e", endpoint("c", None)).unwrap().version, 2);
        assert!(matches!(tenant.delete_component("c"), Err(EditError::Conflict(_))));
        assert!(tenant.delete_model("m").is_ok(), "version 2 of e does not use m");
        // Version 1 of the endpoint used m, which is gone: rolling back would break it.
        assert!(matches!(tenant.rollback_endpoint("e"), Err(EditError::Conflict(_))));
        assert_eq!(tenant.endpoints["e"].current, 2);
        tenant.put_model("m", model("3"));
        assert_eq!(tenant.rollback_endpoint("e").unwrap(), 1);
        assert!(matches!(tenant.rollback_endpoint("e"), Err(EditError::Conflict(_))));
    }
}

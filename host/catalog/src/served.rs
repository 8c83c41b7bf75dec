//! A catalog as requests read it: every endpoint resolved once per catalog version, not once per request.
//!
//! Resolving an endpoint builds the map of every model name its guest may load; on the `/run` path that was
//! work (and allocation) repeated by every request. A [`ServedCatalog`] is built when a catalog version is
//! swapped in, and each request takes its endpoint as an `Arc`: the same `Arc` for every request until the
//! catalog changes, which also lets warm instances recognise their endpoint by pointer.

use crate::{Catalog, ResolvedEndpoint};
use std::collections::HashMap;
use std::sync::Arc;

/// One catalog version with its endpoints resolved.
#[derive(Debug, Default)]
pub struct ServedCatalog {
    catalog: Arc<Catalog>,
    endpoints: HashMap<String, HashMap<String, ServedEndpoint>>,
}

/// An endpoint of the served catalog.
#[derive(Debug, Clone)]
pub struct ServedEndpoint {
    /// The tenant's name, shared by its endpoints.
    pub tenant: Arc<str>,
    /// The current version, resolved; `Err` names a dangling reference.
    pub resolved: Result<Arc<ResolvedEndpoint>, String>,
}

impl ServedCatalog {
    /// Resolves every endpoint of `catalog`.
    pub fn new(catalog: Catalog) -> Self {
        let endpoints = catalog
            .tenants
            .iter()
            .map(|(tenant_name, tenant)| {
                let shared: Arc<str> = Arc::from(tenant_name.as_str());
                let endpoints = tenant
                    .endpoints
                    .keys()
                    .filter_map(|name| {
                        let resolved = tenant.resolve_endpoint(name)?.map(Arc::new);
                        Some((name.clone(), ServedEndpoint { tenant: shared.clone(), resolved }))
                    })
                    .collect();
                (tenant_name.clone(), endpoints)
            })
            .collect();
        Self { catalog: Arc::new(catalog), endpoints }
    }

    /// The catalog itself.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Endpoint `name` of `tenant`, if both exist (and the endpoint has a current version).
    pub fn endpoint(&self, tenant: &str, name: &str) -> Option<&ServedEndpoint> {
        self.endpoints.get(tenant)?.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactRef, ComponentVersion, Digest, EndpointVersion, Tenant, Versions};
    use std::collections::BTreeMap;

    fn endpoint(component: &str) -> Versions<EndpointVersion> {
        Versions::first(EndpointVersion {
            component: ArtifactRef { name: component.into(), version: None },
            models: BTreeMap::new(),
            config: BTreeMap::new(),
            public: true,
            deadline_ms: None,
            max_instance_reuse: None,
        })
    }

    #[test]
    fn endpoints_resolve_once_and_dangling_ones_say_why() {
        let mut tenant = Tenant::default();
        let component = ComponentVersion { digest: Digest::of(b"c"), size: 1 };
        tenant.components.insert("c".into(), Versions::first(component));
        tenant.endpoints.insert("good".into(), endpoint("c"));
        tenant.endpoints.insert("dangling".into(), endpoint("missing"));
        let mut catalog = Catalog::default();
        catalog.tenants.insert("acme".into(), tenant);
        let served = ServedCatalog::new(catalog);

        let good = served.endpoint("acme", "good").expect("exists");
        assert_eq!(&*good.tenant, "acme");
        let resolved = good.resolved.as_ref().expect("resolves");
        assert_eq!(resolved.component, Digest::of(b"c"));
        let again = served.endpoint("acme", "good").unwrap().resolved.as_ref().unwrap();
        assert!(Arc::ptr_eq(resolved, again), "every request gets the same resolved endpoint");
        let dangling = served.endpoint("acme", "dangling").unwrap().resolved.as_ref().unwrap_err();
        assert!(dangling.contains("component missing"), "{dangling}");
        assert!(served.endpoint("acme", "nope").is_none());
        assert!(served.endpoint("other", "good").is_none());
        assert_eq!(served.catalog().tenants.len(), 1);
    }
}

//! Warm instances: an endpoint that allows it (`max_instance_reuse` > 1) answers several requests, one after
//! another, from one guest instance, sparing each later request a new `Store`, an instantiation and the pool
//! slot's reset. The reused instance keeps its memory between requests (a guest may cache a loaded graph in
//! it, and a buggy one may leak one caller's data to the next), so it is the endpoint owner's choice, never
//! the default — as in `wasmtime serve --max-instance-reuse-count`.
//!
//! An instance goes back only if its call answered in time without trapping and closed every resource of its
//! request (a leaked outgoing body would otherwise never end). Idle instances hold pool slots: they are
//! dropped after the idle timeout, and all of them at once when a new instantiation finds the pool full.

use crate::state::GuestState;
use edge_infer_catalog::{Digest, ResolvedEndpoint};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::p2::bindings::Proxy;

/// Idle instances kept for one endpoint at most; more concurrency than this instantiates anew.
const MAX_IDLE_PER_ENDPOINT: usize = 64;

/// A guest instance between two requests.
pub(crate) struct Warm {
    pub(crate) store: Store<GuestState>,
    pub(crate) proxy: Proxy,
    /// Requests it has answered.
    pub(crate) uses: u32,
    /// What it was made for: it serves only requests to an endpoint resolved exactly alike.
    endpoint: Arc<ResolvedEndpoint>,
    idle_since: Instant,
}

/// Idle instances are kept by tenant and component.
type WarmKey = (Arc<str>, Digest);

/// The idle instances of the node.
pub(crate) struct WarmInstances {
    idle: Mutex<HashMap<WarmKey, Vec<Warm>>>,
    idle_timeout: Duration,
}

impl WarmInstances {
    pub(crate) fn new(idle_timeout: Duration) -> Self {
        Self { idle: Mutex::new(HashMap::new()), idle_timeout }
    }

    /// The most recently used idle instance of `endpoint`, if one is there.
    pub(crate) fn take(&self, tenant: &Arc<str>, endpoint: &Arc<ResolvedEndpoint>) -> Option<Warm> {
        let mut idle = self.idle.lock().expect("warm instances lock");
        let list = idle.get_mut(&(tenant.clone(), endpoint.component.clone()))?;
        // Instances of an older version of the endpoint (other config or models) never serve it again. Until
        // the catalog changes, every request carries the very `Arc` the instance was made for.
        let stale: Vec<Warm> =
            list.extract_if(.., |w| !Arc::ptr_eq(&w.endpoint, endpoint) && *w.endpoint != **endpoint).collect();
        let warm = list.pop();
        drop(idle);
        drop(stale);
        warm
    }

    /// Keeps `store` for the next request of `endpoint`, unless it has answered `max_uses` requests, the
    /// endpoint has enough idle instances already, or its request left resources open.
    pub(crate) fn put(
        &self,
        tenant: Arc<str>,
        endpoint: Arc<ResolvedEndpoint>,
        mut store: Store<GuestState>,
        proxy: Proxy,
        uses: u32,
    ) {
        if uses >= endpoint.max_instance_reuse || !request_closed(&mut store.data_mut().table) {
            return;
        }
        let key = (tenant, endpoint.component.clone());
        let warm = Warm { store, proxy, uses, endpoint, idle_since: Instant::now() };
        let mut idle = self.idle.lock().expect("warm instances lock");
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE_PER_ENDPOINT {
            list.push(warm);
        }
    }

    /// Drops the instances idle for longer than the timeout; returns how many.
    pub(crate) fn expire(&self, now: Instant) -> usize {
        let timeout = self.idle_timeout;
        self.drop_where(|w| now.saturating_duration_since(w.idle_since) >= timeout)
    }

    /// Drops every idle instance, freeing their pool slots; returns how many.
    pub(crate) fn clear(&self) -> usize {
        self.drop_where(|_| true)
    }

    /// How many instances are idle.
    pub(crate) fn len(&self) -> usize {
        self.idle.lock().expect("warm instances lock").values().map(Vec::len).sum()
    }

    fn drop_where(&self, condition: impl Fn(&Warm) -> bool) -> usize {
        let mut gone = Vec::new();
        {
            let mut idle = self.idle.lock().expect("warm instances lock");
            for list in idle.values_mut() {
                gone.extend(list.extract_if(.., |w| condition(w)));
            }
            idle.retain(|_, list| !list.is_empty());
        }
        // Dropping a store resets its pool slot: done outside the lock.
        gone.len()
    }
}

/// Whether the guest closed everything of its request: the request and its body, the response, its body and
/// the outparam. Other resources (a cached stdout stream, a loaded graph) may stay.
fn request_closed(table: &mut ResourceTable) -> bool {
    use wasmtime_wasi_http::p2::body::{HostFutureTrailers, HostIncomingBody, HostOutgoingBody};
    use wasmtime_wasi_http::p2::types::{HostIncomingRequest, HostOutgoingResponse, HostResponseOutparam};
    !table.iter_mut().any(|entry| {
        let entry: &dyn std::any::Any = entry;
        entry.is::<HostIncomingRequest>()
            || entry.is::<HostIncomingBody>()
            || entry.is::<HostFutureTrailers>()
            || entry.is::<HostResponseOutparam>()
            || entry.is::<HostOutgoingResponse>()
            || entry.is::<HostOutgoingBody>()
    })
}

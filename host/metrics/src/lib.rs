//! The node's metrics, in one place: every family the node exports, with the labels it may carry. Labels
//! are bounded by the catalog (tenants, endpoints, model digests) or by small fixed sets (status classes,
//! trap kinds) — never request ids or raw paths. Each node owns its [`Metrics`], so several nodes in one
//! process (the tests) count separately.
#![deny(missing_docs)]

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// Labels of a model, across tenants.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// The model's short digest.
    pub model: String,
    /// The backend that runs it.
    pub backend: String,
}

/// Labels of one point of a model's batch cost curve.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BatchCostLabels {
    /// The model's short digest.
    pub model: String,
    /// The backend that runs it.
    pub backend: String,
    /// The inputs' shapes without the batch axis, as `3x48x192` (`;` between inputs).
    pub item: String,
    /// The batch size: 1, 2, 4, 8, …
    pub batch: u32,
}

/// Labels of a request to an endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The tenant.
    pub tenant: String,
    /// The endpoint (or `-` for a request that matched none).
    pub endpoint: String,
    /// The HTTP status code.
    pub status: u16,
}

/// Labels naming a tenant and an endpoint.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The tenant.
    pub tenant: String,
    /// The endpoint.
    pub endpoint: String,
}

/// Labels of one model run.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InferenceLabels {
    /// The tenant charged for it.
    pub tenant: String,
    /// The first 12 hex digits of the model's digest: one per distinct model file.
    pub model: String,
    /// The backend that ran it.
    pub backend: String,
}

/// Labels naming a tenant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    /// The tenant.
    pub tenant: String,
}

/// Labels of something that happened to a tenant, by kind (trap kind, quota reason).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The tenant.
    pub tenant: String,
    /// A small fixed vocabulary: `stack_overflow`, `out_of_memory`, `concurrency`, `rate`, …
    pub kind: String,
}

/// Labels of a backend operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// What was done (`load`, `put`, `get`, or a backend name).
    pub op: String,
    /// `ok` or `error`.
    pub outcome: String,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    // 50 µs to ~26 s.
    exponential_buckets(0.000_05, 2.0, 20)
}

fn histogram() -> Histogram {
    Histogram::new(seconds_buckets())
}

fn batch_size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 8))
}

/// Every metric family of a node.
pub struct Metrics {
    registry: Registry,
    /// Requests to `/run` by tenant, endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Whole-request time of `/run` by tenant and endpoint.
    pub request_seconds: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    /// Time one model run took on the pool.
    pub inference_seconds: Family<InferenceLabels, Histogram, fn() -> Histogram>,
    /// Time a model run waited for a pool thread.
    pub queue_wait_seconds: Family<TenantLabels, Histogram, fn() -> Histogram>,
    /// Inference jobs queued or running now.
    pub queued_jobs: Gauge,
    /// Items per model run (1 when a run was not batched).
    pub batch_size: Family<ModelLabels, Histogram, fn() -> Histogram>,
    /// The batcher's learnt time per item of a model's runs, by batch size (its cost curve).
    pub batch_item_seconds: Family<BatchCostLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Time to instantiate a guest for a request.
    pub instantiate_seconds: Histogram,
    /// Guest instances alive now.
    pub active_instances: Gauge,
    /// Guest instances kept between requests of endpoints that reuse them.
    pub idle_instances: Gauge,
    /// Guests that trapped, by kind.
    pub guest_traps: Family<KindLabels, Counter>,
    /// Guests stopped at their deadline.
    pub deadline_kills: Family<TenantLabels, Counter>,
    /// Requests refused by a tenant's quota, by reason.
    pub quota_rejections: Family<KindLabels, Counter>,
    /// Model loads by backend and outcome.
    pub model_loads: Family<OutcomeLabels, Counter>,
    /// Time to load (read, check, optimise) a model.
    pub model_load_seconds: Histogram,
    /// Distinct models loaded now.
    pub models_loaded: Gauge,
    /// Bytes of the model files loaded now.
    pub model_bytes: Gauge,
    /// What the loaded models hold in memory: the heap each load kept (at least its file's size).
    pub model_memory_bytes: Gauge,
    /// Models unloaded to keep the loaded ones within the node's model memory budget.
    pub model_evictions: Counter,
    /// Components compiled, and loaded from the node's compile cache.
    pub components_compiled: Counter,
    /// Components loaded from the node's compile cache instead of compiled.
    pub components_from_cache: Counter,
    /// Blob and catalog store operations by kind and outcome.
    pub store_operations: Family<OutcomeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered under the `edge_infer` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("edge_infer");
        let metrics = Self {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(histogram),
            inference_seconds: Family::new_with_constructor(histogram),
            queue_wait_seconds: Family::new_with_constructor(histogram),
            queued_jobs: Gauge::default(),
            batch_size: Family::new_with_constructor(batch_size_histogram),
            batch_item_seconds: Family::default(),
            instantiate_seconds: histogram(),
            active_instances: Gauge::default(),
            idle_instances: Gauge::default(),
            guest_traps: Family::default(),
            deadline_kills: Family::default(),
            quota_rejections: Family::default(),
            model_loads: Family::default(),
            model_load_seconds: histogram(),
            models_loaded: Gauge::default(),
            model_bytes: Gauge::default(),
            model_memory_bytes: Gauge::default(),
            model_evictions: Counter::default(),
            components_compiled: Counter::default(),
            components_from_cache: Counter::default(),
            store_operations: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("requests", "Requests to /run by tenant, endpoint and status", metrics.requests.clone());
        r.register("request_seconds", "Time to answer a /run request", metrics.request_seconds.clone());
        r.register(
            "inference_seconds",
            "Time of one model run on the inference pool",
            metrics.inference_seconds.clone(),
        );
        r.register(
            "queue_wait_seconds",
            "Time a model run waited for a pool thread",
            metrics.queue_wait_seconds.clone(),
        );
        r.register("batch_size", "Items per model run, by model and backend", metrics.batch_size.clone());
        r.register(
            "batch_item_seconds",
            "Learnt time per item of a model run at each batch size (the batcher's cost curve)",
            metrics.batch_item_seconds.clone(),
        );
        r.register("inference_jobs", "Inference jobs queued or running", metrics.queued_jobs.clone());
        r.register("instantiate_seconds", "Time to instantiate a guest", metrics.instantiate_seconds.clone());
        r.register("active_instances", "Guest instances alive", metrics.active_instances.clone());
        r.register(
            "idle_instances",
            "Guest instances kept for the next request of an endpoint that reuses them",
            metrics.idle_instances.clone(),
        );
        r.register("guest_traps", "Guests that trapped, by kind", metrics.guest_traps.clone());
        r.register("deadline_kills", "Guests stopped at their deadline", metrics.deadline_kills.clone());
        r.register("quota_rejections", "Requests refused by a tenant quota", metrics.quota_rejections.clone());
        r.register("model_loads", "Model loads by backend and outcome", metrics.model_loads.clone());
        r.register("model_load_seconds", "Time to load and optimise a model", metrics.model_load_seconds.clone());
        r.register("models_loaded", "Distinct models loaded", metrics.models_loaded.clone());
        r.register("model_bytes", "Bytes of the model files loaded", metrics.model_bytes.clone());
        r.register(
            "model_memory_bytes",
            "Memory the loaded models hold (the heap each load kept)",
            metrics.model_memory_bytes.clone(),
        );
        r.register(
            "model_evictions",
            "Models unloaded to stay within the model memory budget",
            metrics.model_evictions.clone(),
        );
        r.register("components_compiled", "Components compiled from wasm", metrics.components_compiled.clone());
        r.register(
            "components_from_cache",
            "Components loaded from the compile cache",
            metrics.components_from_cache.clone(),
        );
        r.register("store_operations", "Store operations by kind and outcome", metrics.store_operations.clone());
        Self { registry, ..metrics }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }

    /// The classic Prometheus text format (0.0.4), for scrapers and tools that do not speak OpenMetrics.
    pub fn encode_prometheus(&self) -> String {
        to_prometheus_text(&self.encode())
    }
}

/// Rewrites an OpenMetrics exposition in the Prometheus 0.0.4 text format: a counter's `HELP` and `TYPE` name
/// its `_total` series, and the OpenMetrics-only `UNIT` and `EOF` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// A duration as the seconds a histogram observes.
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_appear_in_the_exposition() {
        let metrics = Metrics::new();
        let labels = RequestLabels { tenant: "acme".into(), endpoint: "e".into(), status: 200 };
        metrics.requests.get_or_create(&labels).inc();
        metrics.instantiate_seconds.observe(0.001);
        let text = metrics.encode();
        assert!(text.contains(r#"edge_infer_requests_total{tenant="acme",endpoint="e",status="200"} 1"#), "{text}");
        assert!(text.contains("edge_infer_instantiate_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        let classic = metrics.encode_prometheus();
        assert!(classic.contains("# TYPE edge_infer_requests_total counter"), "{classic}");
        assert!(classic.contains("# HELP edge_infer_requests_total Requests"), "{classic}");
        assert!(!classic.contains("# EOF"));
    }
}

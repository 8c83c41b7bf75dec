//! Where a trivial guest request's CPU goes on the node, without TCP (issue #8, target 3).
//!
//! The `http_throughput` bench measures whole requests over loopback TCP, where the kernel, hyper and the load
//! generator share the two cores and `perf` shows no symbol above 2 %. These rows take the same request apart,
//! in process, on a current-thread runtime:
//!
//! - `router_healthz`: `edge_infer::http::route` answering `GET /healthz`, the bare route — the router's own
//!   cost (request id, span, path split, `x-request-id`);
//! - `router_run_reused_echo`: `route` answering `GET /run/bench/reused/echo`, the probe guest's `/echo` on an
//!   endpoint that reuses its instances, body collected — the whole `/run` path;
//! - `sandbox_reused_echo`: `Runtime::handle` on the guest request that path builds, body collected — the
//!   sandbox alone (`router_run_reused_echo` minus this is the `/run` path around the guest);
//! - `*_with_log_subscriber`: the two router rows under the subscriber `edge-infer serve` installs (`fmt` at
//!   `info`, writing to a sink here): the request span is then recorded, as on a real node.
//!
//! `cargo bench -p edge-infer-tests --bench run_path`; results in `BENCHMARKS.md`.

use bytes::Bytes;
use criterion::{BatchSize, Criterion};
use edge_infer::{Node, http::route};
use edge_infer_runtime::GuestCall;
use edge_infer_tests::{TestNode, guests, toml_path};
use http_body_util::{BodyExt, Full};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A request as hyper hands it to the router: the headers reqwest sends in `http_throughput`.
fn request(path: &str) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .uri(path)
        .header("host", "127.0.0.1:8080")
        .header("accept", "*/*")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

/// The router's answer, body collected.
async fn routed(node: &Arc<Node>, path: &str) -> Bytes {
    let response = route(node.clone(), request(path)).await;
    assert_eq!(response.status(), 200, "{path}");
    response.into_body().collect().await.expect("the body ends cleanly").to_bytes()
}

/// The guest request `/run/bench/reused/echo` becomes, as the `/run` path hands it to the runtime.
fn guest_request() -> hyper::Request<Full<Bytes>> {
    hyper::Request::builder()
        .uri("http://127.0.0.1:8080/echo")
        .header("host", "127.0.0.1:8080")
        .header("accept", "*/*")
        .header("x-request-id", "bench-sandbox")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let catalog = format!(
        r#"
[tenants.bench.components.probe]
path = {}
[tenants.bench.endpoints.reused]
component = "probe"
public = true
max_instance_reuse = 1000000
"#,
        toml_path(Path::new(guests::PROBE))
    );
    let test_node = rt.block_on(TestNode::start(&catalog, |_| {}));
    let node = test_node.node.clone();
    let endpoint = node.catalog().tenants["bench"].resolve_endpoint("reused").expect("exists").expect("resolves");
    let call = GuestCall {
        tenant: Arc::from("bench"),
        endpoint: Arc::new(endpoint),
        request_id: "bench-sandbox".into(),
        deadline: Duration::from_secs(30),
    };
    let echo: serde_json::Value =
        serde_json::from_slice(&rt.block_on(routed(&node, "/run/bench/reused/echo"))).unwrap();
    assert_eq!(echo["path"], "/echo", "{echo}");

    let mut group = c.benchmark_group("run_path");
    group.bench_function("router_healthz", |b| b.iter(|| rt.block_on(routed(&node, "/healthz"))));
    group.bench_function("router_run_reused_echo", |b| b.iter(|| rt.block_on(routed(&node, "/run/bench/reused/echo"))));
    group.bench_function("sandbox_reused_echo", |b| {
        b.iter_batched(
            guest_request,
            |request| {
                rt.block_on(async {
                    let response = node.runtime().handle(call.clone(), request).await.expect("the guest answers");
                    response.into_body().collect().await.expect("the body ends cleanly").to_bytes()
                })
            },
            BatchSize::SmallInput,
        )
    });
    let subscriber = tracing_subscriber::fmt().with_writer(std::io::sink).with_env_filter("info").finish();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("router_healthz_with_log_subscriber", |b| {
            b.iter(|| rt.block_on(routed(&node, "/healthz")))
        });
        group.bench_function("router_run_reused_echo_with_log_subscriber", |b| {
            b.iter(|| rt.block_on(routed(&node, "/run/bench/reused/echo")))
        });
    });
    group.finish();
    drop(test_node);
    c.final_summary();
}

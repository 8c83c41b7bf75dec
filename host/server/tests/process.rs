//! The `edge-infer` binary as an operator runs it: a real process, killed with SIGKILL in the middle of its
//! work. Everything it acknowledged is there after a restart, served without compiling again; an upload cut
//! short leaves nothing behind. And a hostile upload is refused by the test load in a child process.

use edge_infer_tests::{fixture, guests};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "process-admin";

/// A running `edge-infer serve` on a free loopback port.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(data: &Path) -> Self {
        Self::start_with(data, &[])
    }

    /// `start` with more arguments for `serve`.
    fn start_with(data: &Path, args: &[&std::ffi::OsStr]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_edge-infer"))
            .args(["serve", "--listen", &addr.to_string(), "--admin-token", ADMIN, "--data-dir"])
            .arg(data)
            .args(args)
            .env("EDGE_INFER_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start edge-infer");
        let server = Self { child, addr };
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "edge-infer did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGKILL: no shutdown, no flushing, nothing.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_uploads_survive_kill_9_and_a_cut_upload_leaves_nothing() {
    let data = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let server = Server::start(data.path());

    let (status, tenant) =
        send(http.post(server.url("/admin/tenants")).bearer_auth(ADMIN).json(&json!({"name": "acme"}))).await;
    assert_eq!(status, 201, "{tenant}");
    let key = tenant["api_key"].as_str().unwrap().to_string();
    let model = std::fs::read(fixture("tenant_a_m.onnx")).unwrap();
    assert_eq!(send(http.put(server.url("/v1/models/m")).bearer_auth(&key).body(model)).await.0, 201);
    let wasm = std::fs::read(guests::TENSOR).unwrap();
    assert_eq!(send(http.put(server.url("/v1/components/tensor")).bearer_auth(&key).body(wasm)).await.0, 201);
    let endpoint = json!({"component": "tensor", "config": {"model": "m"}, "public": true});
    assert_eq!(send(http.put(server.url("/v1/endpoints/e")).bearer_auth(&key).json(&endpoint)).await.0, 201);

    // An upload cut off halfway: the head announces 1 MiB, 100 KiB arrive, then the node dies.
    let head = format!(
        "PUT /v1/models/partial HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-length: {}\r\n\r\n",
        1 << 20
    );
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut stream, head.as_bytes()).unwrap();
    std::io::Write::write_all(&mut stream, &vec![7u8; 100 << 10]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.kill_9();
    drop(stream);

    let server = Server::start(data.path());
    let (status, models) = send(http.get(server.url("/v1/models")).bearer_auth(&key)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = models["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["m"], "the cut upload must not be visible");
    let x = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    let started = Instant::now();
    let (status, out) = send(http.post(server.url("/run/acme/e")).json(&x)).await;
    let first_request = started.elapsed();
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["outputs"][0]["data"], json!([3.0, -4.0]));
    let (_, stats) = send(http.get(server.url("/admin/stats")).bearer_auth(ADMIN)).await;
    assert_eq!(stats["components_compiled"], 0, "served from the compile cache: {stats}");
    println!("first request after restart: {first_request:?}");
    // No stray temporary files among the blobs.
    let stray: Vec<_> = walk(&data.path().join("blobs")).into_iter().filter(|name| name.starts_with(".tmp")).collect();
    assert!(stray.is_empty(), "{stray:?}");
}

/// A node on `dir` with `config` (TOML) and a tenant `acme`: the node, a client and the tenant's key.
async fn node_with_tenant(dir: &Path, config: &str) -> (Server, reqwest::Client, String) {
    let path = dir.join("node.toml");
    std::fs::write(&path, config).unwrap();
    let server = Server::start_with(&dir.join("data"), &["--config".as_ref(), path.as_os_str()]);
    let http = reqwest::Client::new();
    let (status, tenant) =
        send(http.post(server.url("/admin/tenants")).bearer_auth(ADMIN).json(&json!({"name": "acme"}))).await;
    assert_eq!(status, 201, "{tenant}");
    let key = tenant["api_key"].as_str().unwrap().to_string();
    (server, http, key)
}

/// The most resident memory process `pid` has had, in bytes (Linux's `VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() << 10
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_needs_more_memory_than_a_test_load_may_use_is_refused_before_the_node_loads_it() {
    let data = tempfile::tempdir().unwrap();
    let (server, http, key) = node_with_tenant(data.path(), "model_load_memory_mib = 256\n").await;

    // 256 bytes whose constant is 1 GiB, which tract folds at load.
    let bomb = std::fs::read(fixture("gigabyte_constant.onnx")).unwrap();
    let (status, answer) = send(http.put(server.url("/v1/models/bomb")).bearer_auth(&key).body(bomb)).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_model", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("failed to allocate"), "{message}");
    assert!(message.ends_with("the node's test load may use 256 MiB, model_load_memory_mib"), "{message}");
    let peak = peak_rss(server.child.id());
    assert!(peak < 768 << 20, "the node itself never held the constant: peak RSS {} MiB", peak >> 20);

    // A model that fits loads under the same limit, and it is the only one the tenant has.
    let mlp = std::fs::read(fixture("mlp.onnx")).unwrap();
    let (status, answer) = send(http.put(server.url("/v1/models/m")).bearer_auth(&key).body(mlp)).await;
    assert_eq!(status, 201, "{answer}");
    let (_, models) = send(http.get(server.url("/v1/models")).bearer_auth(&key)).await;
    let names: Vec<&str> = models["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["m"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_s_raw_load_passes_the_same_test_load_as_an_upload() {
    let data = tempfile::tempdir().unwrap();
    let (server, http, key) =
        node_with_tenant(data.path(), "model_load_memory_mib = 256\nallow_raw_load = true\n").await;
    let wasm = std::fs::read(guests::PROBE).unwrap();
    assert_eq!(send(http.put(server.url("/v1/components/probe")).bearer_auth(&key).body(wasm)).await.0, 201);
    let endpoint = json!({"component": "probe", "public": true});
    assert_eq!(send(http.put(server.url("/v1/endpoints/p")).bearer_auth(&key).json(&endpoint)).await.0, 201);

    let bomb = std::fs::read(fixture("gigabyte_constant.onnx")).unwrap();
    let (status, answer) = send(http.post(server.url("/run/acme/p/raw-load")).body(bomb)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["error"], "ErrorCode::InvalidEncoding", "{answer}");
    let message = answer["data"].as_str().unwrap();
    assert!(message.ends_with("the node's test load may use 256 MiB, model_load_memory_mib"), "{message}");
    let peak = peak_rss(server.child.id());
    assert!(peak < 768 << 20, "the node itself never held the constant: peak RSS {} MiB", peak >> 20);

    let mlp = std::fs::read(fixture("mlp.onnx")).unwrap();
    let (status, answer) = send(http.post(server.url("/run/acme/p/raw-load")).body(mlp)).await;
    assert_eq!((status, answer), (200, json!({"loaded": true})));
}

/// The names of the files under `dir`.
fn walk(dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    files
}

/// Runs the `edge-infer` client verb `args` against `server`; returns (success, stdout, stderr).
fn cli(server: &Server, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_edge-infer"))
        .args(args)
        .env("EDGE_INFER_SERVER", format!("http://{}", server.addr))
        .envs(env.iter().copied())
        .output()
        .expect("run the edge-infer client");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (output.status.success(), text(output.stdout), text(output.stderr))
}

#[test]
fn the_cli_drives_the_whole_flow() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let admin = [("EDGE_INFER_ADMIN_TOKEN", ADMIN)];
    let (ok, out, err) = cli(&server, &["tenant", "create", "acme"], &admin);
    assert!(ok, "{err}");
    let key = out.lines().find_map(|l| l.strip_prefix("api key: ")).expect("the key is printed").trim().to_string();
    let tenant = [("EDGE_INFER_KEY", key.as_str())];

    let model = fixture("tenant_a_m.onnx").display().to_string();
    let (ok, out, err) = cli(&server, &["model", "push", "m", &model], &tenant);
    assert!(ok && out.contains('x'), "{out}{err}");
    let (ok, _, err) = cli(&server, &["component", "push", "tensor", guests::TENSOR], &tenant);
    assert!(ok, "{err}");
    let (ok, _, err) = cli(
        &server,
        &["endpoint", "set", "e", "--component", "tensor", "--model", "m=m", "--config", "model=m"],
        &tenant,
    );
    assert!(ok, "{err}");
    let (ok, out, _) = cli(&server, &["model", "list"], &tenant);
    assert!(ok && out.contains('m'), "{out}");
    let (ok, out, _) = cli(&server, &["tenant", "list"], &admin);
    assert!(ok && out.contains("acme"), "{out}");

    let x = r#"{"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]}"#;
    let (ok, out, err) = cli(&server, &["call", "acme", "e", "--json", x], &tenant);
    assert!(ok, "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["outputs"][0]["data"], json!([3.0, -4.0]));

    // Errors reach the user as one clear line and a failing exit code.
    let (ok, _, err) = cli(&server, &["model", "rm", "m"], &tenant);
    assert!(!ok && err.contains("used by endpoint"), "{err}");
    let (ok, _, err) = cli(&server, &["model", "list"], &[("EDGE_INFER_KEY", "ei_wrong")]);
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, _, err) = cli(&server, &["call", "acme", "e", "--json", x], &[]);
    assert!(!ok && err.contains("401"), "{err}");
}

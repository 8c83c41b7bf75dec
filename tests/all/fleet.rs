//! A fleet: two nodes on one S3-compatible bucket (moto's S3 on 127.0.0.1, `tests/s3_server.py`). Uploads
//! through one node are served by the other; concurrent catalog writes from both lose nothing; a version
//! switch under load drops no request; a bucket that goes away stops writes (503) and readiness, not serving.
//!
//! Waits for convergence use generous bounds (many poll intervals) and print the measured delay.

use edge_infer::config::{StoreConfig, StoreKind};
use edge_infer_fleet::S3Settings;
use edge_infer_tests::{TestNode, client, fixture, guests, repo};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-secret";
const POLL_MS: u64 = 200;
/// Convergence bound: 50 poll intervals, far beyond what it takes.
const CONVERGE: Duration = Duration::from_secs(10);

/// moto's S3 on a free port of 127.0.0.1, stopped when dropped.
struct S3Server {
    child: Child,
    url: String,
}

impl S3Server {
    async fn start(bucket: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let python = repo().join(".venv/bin/python");
        let mut child = Command::new(&python)
            .arg(repo().join("tests/s3_server.py"))
            .arg(port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run `bash scripts/prepare-test-data.sh`)", python.display()));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "listening", "the S3 server did not start");
        let url = format!("http://127.0.0.1:{port}");
        let created = client().put(format!("{url}/{bucket}")).send().await.unwrap();
        assert!(created.status().is_success(), "creating the bucket: {}", created.status());
        Self { child, url }
    }

    /// Freezes (`STOP`) or thaws (`CONT`) the server: unreachable, with its state kept.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.signal("CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn node(s3: &S3Server, bucket: &str) -> TestNode {
    let mut settings = S3Settings::new(bucket, Some(&s3.url));
    settings.access_key_id = Some("test".into());
    settings.secret_access_key = Some("test".into());
    settings.timeout_ms = 1_000;
    TestNode::start("", |c| {
        c.admin_token = Some(ADMIN.into());
        c.store = StoreConfig { kind: StoreKind::S3, s3: Some(settings), poll_ms: POLL_MS, cache_mib: 64 };
    })
    .await
}

async fn call(node: &TestNode, method: Method, path: &str, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let response = client().request(method, node.url(path)).bearer_auth(token).body(body).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn create_tenant(node: &TestNode, name: &str) -> String {
    let (status, body) =
        call(node, Method::POST, "/admin/tenants", ADMIN, json!({"name": name}).to_string().into()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_key"].as_str().unwrap().to_string()
}

/// Uploads the models `a` (×2) and `b` (+100), the `tensor` guest, and endpoint `e` over `model`.
async fn upload(node: &TestNode, key: &str, model: &str) {
    for (name, file) in [("a", "tenant_a_m.onnx"), ("b", "tenant_b_m.onnx")] {
        let bytes = std::fs::read(fixture(file)).unwrap();
        let (status, body) = call(node, Method::PUT, &format!("/v1/models/{name}"), key, bytes).await;
        assert!(status.is_success(), "{body}");
    }
    let wasm = std::fs::read(guests::TENSOR).unwrap();
    let (status, body) = call(node, Method::PUT, "/v1/components/tensor", key, wasm).await;
    assert!(status.is_success(), "{body}");
    set_endpoint(node, key, model).await;
}

async fn set_endpoint(node: &TestNode, key: &str, model: &str) {
    let endpoint =
        json!({"component": "tensor", "models": {"model": model}, "config": {"model": "model"}, "public": true});
    let (status, body) = call(node, Method::PUT, "/v1/endpoints/e", key, endpoint.to_string().into()).await;
    assert!(status.is_success(), "{body}");
}

/// One inference through endpoint `e`: its output, or the status it failed with.
async fn infer(node: &TestNode, tenant: &str) -> Result<Vec<f64>, StatusCode> {
    let request = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    let response = client().post(node.url(&format!("/run/{tenant}/e"))).json(&request).send().await.unwrap();
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let body: Value = response.json().await.unwrap();
    Ok(body["outputs"][0]["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
}

const DOUBLED: [f64; 2] = [3.0, -4.0];
const PLUS_100: [f64; 2] = [101.5, 98.0];

/// Waits until `check` holds, up to [`CONVERGE`]; returns how long it took.
async fn converge<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) -> Duration {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < CONVERGE, "{what}: not within {CONVERGE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    eprintln!("{what}: {took:?} (poll interval {POLL_MS} ms)");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_node_uploads_the_other_serves_and_deletes_go_both_ways() {
    let s3 = S3Server::start("fleet-a").await;
    let (a, b) = (node(&s3, "fleet-a").await, node(&s3, "fleet-a").await);
    let key = create_tenant(&a, "acme").await;
    upload(&a, &key, "a").await;
    assert_eq!(infer(&a, "acme").await, Ok(DOUBLED.to_vec()));
    converge("node B serves node A's upload", || async { infer(&b, "acme").await == Ok(DOUBLED.to_vec()) }).await;

    let (status, body) = call(&b, Method::DELETE, "/v1/endpoints/e", &key, Vec::new()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(infer(&b, "acme").await, Err(StatusCode::NOT_FOUND));
    converge("node A sees node B's delete", || async { infer(&a, "acme").await == Err(StatusCode::NOT_FOUND) }).await;

    // A third node starting now syncs the catalog and prepares it before it reports ready.
    let c = node(&s3, "fleet-a").await;
    let ready = client().get(c.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(c.node.catalog().tenants["acme"].models.contains_key("b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_catalog_writes_from_two_nodes_lose_nothing() {
    let s3 = S3Server::start("fleet-b").await;
    let (a, b) = (node(&s3, "fleet-b").await, node(&s3, "fleet-b").await);
    let names: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let writes = names.iter().enumerate().map(|(i, name)| create_tenant(if i % 2 == 0 { &a } else { &b }, name));
    futures_util::future::join_all(writes).await;
    for node in [&a, &b] {
        converge("every tenant on both nodes", || async {
            let (_, body) = call(node, Method::GET, "/admin/tenants", ADMIN, Vec::new()).await;
            body["tenants"].as_array().is_some_and(|t| t.len() == 8)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_switch_under_load_drops_no_request() {
    let s3 = S3Server::start("fleet-c").await;
    let (a, b) = (node(&s3, "fleet-c").await, node(&s3, "fleet-c").await);
    let key = create_tenant(&a, "acme").await;
    upload(&a, &key, "a").await;
    converge("node B serves the first version", || async { infer(&b, "acme").await == Ok(DOUBLED.to_vec()) }).await;

    // A steady, bounded load on B; halfway through, A switches the endpoint to model b.
    let mut answers = Vec::new();
    let started = Instant::now();
    let (mut switched, mut new_from) = (None, None);
    for i in 0..300 {
        if i == 100 {
            set_endpoint(&a, &key, "b").await;
            switched = Some(Instant::now());
        }
        let answer = infer(&b, "acme").await;
        if new_from.is_none() && answer == Ok(PLUS_100.to_vec()) {
            new_from = Some(Instant::now());
        }
        answers.push(answer);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(answers.iter().all(Result::is_ok), "failed requests: {:?}", answers.iter().filter(|a| a.is_err()).count());
    let answers: Vec<Vec<f64>> = answers.into_iter().map(Result::unwrap).collect();
    assert!(answers.iter().all(|a| *a == DOUBLED || *a == PLUS_100), "answers from neither version");
    let first_new = answers.iter().position(|a| *a == PLUS_100).expect("the new version was never served");
    assert!(answers[first_new..].iter().all(|a| *a == PLUS_100), "an old answer after the switch");
    eprintln!(
        "{} requests in {:?}, none failed; node B served the new version {:?} after the switch",
        answers.len(),
        started.elapsed(),
        new_from.unwrap() - switched.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_bucket_is_away_nodes_serve_refuse_writes_and_recover() {
    let s3 = S3Server::start("fleet-d").await;
    let (a, b) = (node(&s3, "fleet-d").await, node(&s3, "fleet-d").await);
    let key = create_tenant(&a, "acme").await;
    upload(&a, &key, "a").await;
    converge("node B serves", || async { infer(&b, "acme").await == Ok(DOUBLED.to_vec()) }).await;

    s3.signal("STOP");
    assert_eq!(infer(&b, "acme").await, Ok(DOUBLED.to_vec()), "serving goes on from what the node has");
    let ready = client().get(b.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let (status, body) =
        call(&a, Method::PUT, "/v1/models/c", &key, std::fs::read(fixture("tenant_b_m.onnx")).unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");

    s3.signal("CONT");
    converge("node B ready again", || async {
        client().get(b.url("/readyz")).send().await.unwrap().status() == StatusCode::OK
    })
    .await;
    let (status, body) =
        call(&a, Method::PUT, "/v1/models/c", &key, std::fs::read(fixture("tenant_b_m.onnx")).unwrap()).await;
    assert!(status.is_success(), "{body}");
    converge("node B sees the upload made after the outage", || async {
        b.node.catalog().tenants["acme"].models.contains_key("c")
    })
    .await;
}

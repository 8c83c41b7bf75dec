//! What an operator relies on: metrics that count what happened (and pass `promtool`), Server-Timing and
//! request ids on answers, and a readiness probe that tells the truth about the store.

use crate::sandbox::probe_catalog;
use edge_infer_tests::{TestNode, client, fixture, tensor_tenant};
use serde_json::json;
use std::process::{Command, Stdio};

async fn metrics(node: &TestNode) -> String {
    let response = client().get(node.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of the series `name{labels}` in an exposition.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_known_sequence_and_pass_promtool() {
    let catalog = format!("{}\n{}", probe_catalog(), tensor_tenant("m", &[("m", &fixture("tenant_a_m.onnx"))]));
    let node = TestNode::start(&catalog, |_| {}).await;
    for _ in 0..3 {
        assert_eq!(client().get(node.url("/run/t/probe/echo")).send().await.unwrap().status(), 200);
    }
    for path in ["/run/t/nope", "/run/made-up/paths/never/become/labels"] {
        assert_eq!(client().get(node.url(path)).send().await.unwrap().status(), 404);
    }
    let x = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    let response = client().post(node.url("/run/m/tensor?model=m")).json(&x).send().await.unwrap();
    assert_eq!(response.status(), 200);

    let text = metrics(&node).await;
    assert_eq!(
        value(&text, r#"edge_infer_requests_total{tenant="t",endpoint="probe",status="200"}"#),
        Some(3.0),
        "{text}"
    );
    assert_eq!(value(&text, r#"edge_infer_requests_total{tenant="-",endpoint="-",status="404"}"#), Some(2.0), "{text}");
    assert!(!text.contains("made-up"), "raw paths must not become labels");
    assert_eq!(value(&text, r#"edge_infer_request_seconds_count{tenant="t",endpoint="probe"}"#), Some(3.0));
    assert_eq!(value(&text, "edge_infer_instantiate_seconds_count"), Some(4.0), "{text}");
    let model = edge_infer_catalog::Digest::of(&std::fs::read(fixture("tenant_a_m.onnx")).unwrap());
    let series = format!(
        r#"edge_infer_inference_seconds_count{{tenant="m",model="{}",backend="tract"}}"#,
        &model.as_str()[..12]
    );
    assert_eq!(value(&text, &series), Some(1.0), "{text}");
    assert_eq!(value(&text, r#"edge_infer_queue_wait_seconds_count{tenant="m"}"#), Some(1.0));
    assert_eq!(value(&text, "edge_infer_models_loaded"), Some(1.0));
    assert_eq!(value(&text, "edge_infer_components_compiled_total"), Some(2.0), "{text}");
    assert_eq!(value(&text, "edge_infer_active_instances"), Some(0.0));

    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/install-deps.sh installs it)");
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let checked = promtool.wait_with_output().unwrap();
    let complaints = String::from_utf8_lossy(&checked.stdout).to_string() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "promtool: {complaints}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_answers_carry_server_timing_and_the_request_id() {
    let node = TestNode::start(&tensor_tenant("m", &[("m", &fixture("tenant_a_m.onnx"))]), |_| {}).await;
    let x = json!({"inputs": [{"name": "x", "type": "f32", "shape": [1, 2], "data": [1.5, -2.0]}]});
    let response = client()
        .post(node.url("/run/m/tensor?model=m"))
        .header("x-request-id", "trace-me-42")
        .json(&x)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
    let timing = response.headers()["server-timing"].to_str().unwrap().to_string();
    for part in ["instantiate;dur=", "queue;dur=", "inference;dur=", "1 compute", "guest;dur="] {
        assert!(timing.contains(part), "{timing}");
    }
    // A generated id when the caller sends none.
    let response = client().get(node.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"].len(), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_store() {
    let node = TestNode::start(&probe_catalog(), |_| {}).await;
    assert_eq!(client().get(node.url("/readyz")).send().await.unwrap().status(), 200);
    // Make the blob store unwritable in a way that holds even for root: its directory becomes a file.
    let blobs = node.node.config().data_dir.join("blobs").join("sha256");
    let aside = node.node.config().data_dir.join("blobs").join("aside");
    std::fs::rename(&blobs, &aside).unwrap();
    std::fs::write(&blobs, b"not a directory").unwrap();
    let response = client().get(node.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    std::fs::remove_file(&blobs).unwrap();
    std::fs::rename(&aside, &blobs).unwrap();
    assert_eq!(client().get(node.url("/readyz")).send().await.unwrap().status(), 200);
    // Liveness never depends on the store.
    assert_eq!(client().get(node.url("/healthz")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_http2_and_http1_with_a_self_signed_certificate() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let node = TestNode::start(&probe_catalog(), |c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
    })
    .await;
    let root = reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap();
    let url = format!("https://localhost:{}/run/t/probe/echo", node.addr.port());
    let h2 = reqwest::Client::builder().use_rustls_tls().add_root_certificate(root.clone()).build().unwrap();
    let response = h2.get(&url).send().await.unwrap();
    assert_eq!((response.status(), response.version()), (reqwest::StatusCode::OK, reqwest::Version::HTTP_2));
    let h1 = reqwest::Client::builder().use_rustls_tls().add_root_certificate(root).http1_only().build().unwrap();
    let response = h1.get(&url).send().await.unwrap();
    assert_eq!((response.status(), response.version()), (reqwest::StatusCode::OK, reqwest::Version::HTTP_11));
    // Plain HTTP on a TLS port is not served.
    assert!(client().get(node.url("/healthz")).send().await.is_err());
}

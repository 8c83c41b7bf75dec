//! Tensors through the generic `tensor` guest: every element type wasi:nn carries goes through byte for
//! byte; a type the model does not take and wrong shapes come back as errors that say what was wrong.

use edge_infer_tests::{TestNode, client, fixture, raw_tensor, tensor_tenant};
use serde_json::Value;

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

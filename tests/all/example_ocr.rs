//! The `ocr` example: PP-OCR's direction classifier and PP-OCRv4 recogniser (rapidocr-onnxruntime 1.4.4
//! from PyPI) behind the `ocr` guest, which decodes and resizes the line image, runs the two models in
//! sequence and decodes the characters with the list the recogniser carries in its metadata. Checked
//! against the rapidocr package itself (`tests/reference/ocr_reference.py`) on lines rendered with Pillow.

use edge_infer_tests::{TestNode, client, guests, prepared, toml_path};
use serde_json::Value;
use std::path::Path;

/// Largest difference allowed in a score (the guest resizes like OpenCV to within 1 in a byte).
const SCORE_TOLERANCE: f64 = 0.01;

fn catalog() -> String {
    format!(
        r#"
[tenants.demo.models.cls]
path = {cls}
[tenants.demo.models.rec]
path = {rec}
[tenants.demo.components.ocr]
path = {ocr}
[tenants.demo.endpoints.ocr]
component = "ocr"
models = {{ cls = "cls", rec = "rec" }}
public = true
[tenants.demo.endpoints.no_characters]
component = "ocr"
models = {{ cls = "cls", rec = "cls" }}
public = true
"#,
        cls = toml_path(&prepared("models/ch_ppocr_mobile_v2.0_cls_infer.onnx")),
        rec = toml_path(&prepared("models/ch_PP-OCRv4_rec_infer.onnx")),
        ocr = toml_path(Path::new(guests::OCR)),
    )
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(prepared("tests/data/generated/ocr/ocr.json")).unwrap()).unwrap()
}

fn image(name: &str) -> Vec<u8> {
    std::fs::read(prepared(&format!("tests/data/generated/ocr/{name}"))).unwrap()
}

async fn post(node: &TestNode, path: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client().post(node.url(path)).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocr_reads_each_line_as_the_rapidocr_package_does() {
    let reference = reference();
    let node = TestNode::start(&catalog(), |_| {}).await;
    let lines = reference["lines"].as_object().unwrap();
    assert!(lines.len() >= 6);
    let (mut worst_angle, mut worst_score) = (0.0f64, 0.0f64);
    for (name, want) in lines {
        let (status, answer) = post(&node, "/run/demo/ocr", image(name)).await;
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["angle"], want["angle"], "{name}: {answer}");
        let angle_diff = (answer["angle_score"].as_f64().unwrap() - want["angle_score"].as_f64().unwrap()).abs();
        let rotated =
            want["angle"] == "180" && want["angle_score"].as_f64().unwrap() > reference["cls_thresh"].as_f64().unwrap();
        assert_eq!(answer["rotated"], rotated, "{name}");
        assert_eq!(answer["text"], want["text"], "{name}: the package read {}", want["text"]);
        let score_diff = (answer["score"].as_f64().unwrap() - want["score"].as_f64().unwrap()).abs();
        assert!(angle_diff <= SCORE_TOLERANCE && score_diff <= SCORE_TOLERANCE, "{name}: {answer} vs {want}");
        worst_angle = worst_angle.max(angle_diff);
        worst_score = worst_score.max(score_diff);
        println!(
            "{name}: {} ({:.4}), angle {} ({:.4})",
            answer["text"],
            answer["score"].as_f64().unwrap(),
            answer["angle"],
            answer["angle_score"].as_f64().unwrap()
        );
    }
    println!(
        "ocr: {} lines, same text; max |score - package| {worst_score:.2e}, max |angle score - package| {worst_angle:.2e}",
        lines.len()
    );
}

#[tokio::test]
async fn the_classifier_can_be_skipped() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let (status, answer) = post(&node, "/run/demo/ocr?cls=false", image("edge_48.png")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("angle").is_none(), "{answer}");
    assert_eq!(answer["rotated"], false);
    assert_eq!(answer["text"], reference()["lines"]["edge_48.png"]["text"]);
}

#[tokio::test]
async fn bad_images_are_4xx_and_a_recogniser_without_characters_says_so() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let mut truncated = image("edge_48.png");
    truncated.truncate(truncated.len() / 2);
    for (query, body, status, code) in [
        ("", Vec::new(), 400, "bad_image"),
        ("", b"GIF89a not supported".to_vec(), 400, "bad_image"),
        ("", truncated, 400, "bad_image"),
        // 4000x8: 24000 pixels wide at a height of 48, far past one line of text.
        ("", image("too_wide.png"), 400, "bad_image"),
        ("?cls=perhaps", image("edge_48.png"), 400, "bad_request"),
    ] {
        let (got_status, answer) = post(&node, &format!("/run/demo/ocr{query}"), body).await;
        assert_eq!((got_status, answer["error"]["code"].as_str().unwrap()), (status, code), "{query}: {answer}");
    }
    let (status, answer) = post(&node, "/run/demo/no_characters", image("edge_48.png")).await;
    assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (500, "bad_model"), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("character"), "{answer}");
}

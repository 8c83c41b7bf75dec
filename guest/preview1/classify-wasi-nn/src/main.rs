//! Image classification as a plain WASI preview 1 program written against the `wasi-nn` crate — the way the
//! wasmtime and WasmEdge examples are written — run by the node CGI-style: the request body on stdin, the
//! request in environment variables, the answer (a CGI header block, a blank line, the body) on stdout.
//!
//! It answers exactly what the `classify` component answers for the same image: the same pre-processing (the
//! very same source file), the same model through `load_by_name`, the same JSON. A preview 1 program has no
//! `edge:infer/models`, so the labels come from the endpoint's config instead of the model's metadata.
//!
//! Config (environment `EDGE_INFER_CONFIG_<KEY>`): `model` (the alias to load, default `model`), `labels`
//! (comma-separated, by class index), `top_k` (default 5; `?top_k=N` overrides it).

#[path = "../../../examples/classify/src/preprocess.rs"]
#[allow(dead_code)]
mod preprocess;
#[path = "../../../examples/classify/src/ranking.rs"]
mod ranking;

use ranking::{Prediction, predictions};
use serde::Serialize;
use serde_json::json;
use std::io::{Read, Write};
use wasi_nn::{ExecutionTarget, GraphBuilder, GraphEncoding, TensorType};

/// The answer, serialised straight to text (through a `Value` the f32s would be widened to f64).
#[derive(Serialize)]
struct Answer {
    model: String,
    predictions: Vec<Prediction>,
}

/// Outputs larger than this many f32 values are not class scores.
const MAX_CLASSES: usize = 100_000;

fn main() {
    let (status, body) = match run() {
        Ok(answer) => ("200 OK", serde_json::to_string(&answer).expect("an answer serialises")),
        Err((status, code, message)) => (status, json!({"error": {"code": code, "message": message}}).to_string()),
    };
    let mut out = std::io::stdout().lock();
    // CGI: a header block, a blank line, the body.
    let _ = write!(out, "Status: {status}\r\nContent-Type: application/json\r\n\r\n{body}");
    let _ = out.flush();
}

type Failure = (&'static str, &'static str, String);

fn config(key: &str) -> Option<String> {
    std::env::var(format!("EDGE_INFER_CONFIG_{}", key.to_uppercase())).ok()
}

fn run() -> Result<Answer, Failure> {
    let alias = config("model").unwrap_or_else(|| "model".to_owned());
    let top_k = top_k()?;
    let mut image = Vec::new();
    std::io::stdin().read_to_end(&mut image).map_err(|e| bad_request(format!("reading the body: {e}")))?;
    if image.is_empty() {
        return Err(("400 Bad Request", "bad_image", "the body is empty: send the image's PNG or JPEG bytes".into()));
    }
    let pixels = preprocess::imagenet_224(&image)
        .map_err(|e| ("400 Bad Request", "bad_image", format!("the body is not a PNG or JPEG image: {e}")))?;

    let nn = |step: &str, e: wasi_nn::Error| ("502 Bad Gateway", "nn_error", format!("wasi-nn {step}: {e}"));
    let graph = GraphBuilder::new(GraphEncoding::Onnx, ExecutionTarget::CPU)
        .build_from_cache(&alias)
        .map_err(|e| nn("load_by_name", e))?;
    let mut context = graph.init_execution_context().map_err(|e| nn("init_execution_context", e))?;
    let shape: Vec<usize> = preprocess::SHAPE.iter().map(|&d| d as usize).collect();
    context.set_input(0, TensorType::F32, &shape, &pixels).map_err(|e| nn("set_input", e))?;
    context.compute().map_err(|e| nn("compute", e))?;
    let mut scores = vec![0f32; MAX_CLASSES];
    let written = context.get_output(0, &mut scores).map_err(|e| nn("get_output", e))?;
    scores.truncate(written / 4);

    let labels: Vec<String> =
        config("labels").map(|l| l.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default();
    Ok(Answer { predictions: predictions(&scores, &labels, top_k), model: alias })
}

fn bad_request(message: String) -> Failure {
    ("400 Bad Request", "bad_request", message)
}

/// `?top_k=N` from `QUERY_STRING`, else config `top_k`, else 5.
fn top_k() -> Result<usize, Failure> {
    let query = std::env::var("QUERY_STRING").unwrap_or_default();
    let from_query = query.split('&').find_map(|pair| pair.strip_prefix("top_k=").map(str::to_owned));
    let Some(value) = from_query.or_else(|| config("top_k")) else {
        return Ok(5);
    };
    match value.trim().parse::<usize>() {
        Ok(k) if k > 0 => Ok(k),
        _ => Err(bad_request(format!("top_k must be a whole number of at least 1, got {value:?}"))),
    }
}

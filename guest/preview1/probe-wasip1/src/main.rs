//! Test guest: a WASI preview 1 program that drives the node's `wasi_ephemeral_nn` host functions and its
//! sandbox into one case chosen by `?case=`, and prints what it saw as JSON — the `wasi-nn` crate's error, or
//! what it got — so the tests can check that each failure reaches the guest as a wasi-nn error, never a host
//! panic, and that a preview 1 guest is held to the same limits as a component.
//!
//! wasi-nn cases, on a model `m` that doubles a [1,2] f32 input: `ok`, `unknown_model`, `wrong_size` (data
//! shorter than the shape), `bad_index` (input 7), `small_buffer` (an output buffer of one byte), `no_input`
//! (compute without `set_input`), `raw_load` (model bytes of its own). Sandbox and CGI cases: `env` (the
//! environment it was given), `files` (list `/`), `echo` (stdin back under a header block of its own),
//! `exit` (status 3), `loop` (forever), `alloc` (until memory runs out).

use serde_json::{Value, json};
use std::io::{Read, Write};
use wasi_nn::{ExecutionTarget, GraphBuilder, GraphEncoding, TensorType};

fn main() {
    let query = std::env::var("QUERY_STRING").unwrap_or_default();
    let case = query.split('&').find_map(|p| p.strip_prefix("case=")).unwrap_or("ok").to_owned();
    let answer = match case.as_str() {
        "echo" => {
            let mut body = Vec::new();
            std::io::stdin().read_to_end(&mut body).unwrap();
            print!("Content-Type: text/plain\nX-Echo-Length: {}\n\n", body.len());
            std::io::stdout().write_all(&body).unwrap();
            return;
        }
        "exit" => {
            eprintln!("exiting with status 3 on purpose");
            std::process::exit(3);
        }
        "loop" => {
            let mut n = 0u64;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
            }
        }
        "env" => json!(std::env::vars().collect::<std::collections::BTreeMap<_, _>>()),
        "files" => match std::fs::read_dir("/") {
            Ok(entries) => json!({"ok": entries.count()}),
            Err(e) => json!({"error": e.to_string()}),
        },
        "raw_load" => outcome(
            GraphBuilder::new(GraphEncoding::Onnx, ExecutionTarget::CPU)
                .build_from_bytes([b"not onnx".as_slice()])
                .map(|_| json!("loaded")),
        ),
        other => outcome(run(other)),
    };
    // No header block: the node answers the whole output as the body.
    print!("{answer}");
}

fn run(case: &str) -> Result<Value, wasi_nn::Error> {
    let name = if case == "unknown_model" { "nothing-here" } else { "m" };
    let graph = GraphBuilder::new(GraphEncoding::Onnx, ExecutionTarget::CPU).build_from_cache(name)?;
    let mut context = graph.init_execution_context()?;
    match case {
        "wrong_size" => context.set_input(0, TensorType::F32, &[1, 2], [1.5f32])?,
        "bad_index" => context.set_input(7, TensorType::F32, &[1, 2], [1.5f32, -2.0])?,
        "no_input" => {}
        _ => context.set_input(0, TensorType::F32, &[1, 2], [1.5f32, -2.0])?,
    }
    context.compute()?;
    let mut out = if case == "small_buffer" { vec![0u8; 1] } else { vec![0u8; 64] };
    let written = context.get_output(0, &mut out)?;
    let values: Vec<f32> =
        out[..written].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(json!(values))
}

/// `{"ok": value}`, or `{"error": "TooLarge"}` with the crate's name for the errno.
fn outcome(result: Result<Value, wasi_nn::Error>) -> Value {
    match result {
        Ok(value) => json!({"ok": value}),
        Err(wasi_nn::Error::BackendError(e)) => json!({"error": format!("{e:?}")}),
        Err(e) => json!({"error": e.to_string()}),
    }
}

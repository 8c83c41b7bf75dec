//! Sentence embeddings: sentences in, one L2-normalised vector each out — all-MiniLM-L6-v2 and
//! every other BERT-style sentence-transformers model exported to ONNX.
//!
//! Each sentence is tokenized in the guest ([`tokenizer`]: BERT normalisation and WordPiece over the
//! vocabulary the model carries in its metadata), run through the model on its own as i64
//! `[1, tokens]` (`input_ids`, `attention_mask` all ones, `token_type_ids` all zeros; the length is
//! padded up to a multiple of `pad_to` so that the node reuses a few optimised plans), and the
//! output `[1, tokens, dims]` is mean-pooled over the real tokens and L2-normalised, as
//! sentence-transformers does.
//!
//! Body: JSON `{"sentences": ["…", …]}`, or `text/plain` with one sentence per line.
//! Config keys: `model` (alias, default `model`), `vocab_key` (the metadata key holding vocab.txt,
//! default `vocab`), `max_tokens` (default 256, the model's `max_seq_length`; longer sentences are
//! truncated), `lowercase` (default `true`), `normalize` (default `true`), `pad_to` (default 16),
//! `max_sentences` (default 64). `?tokens=true` adds each sentence's token ids to the answer.

mod tokenizer;

use edge_infer_guest::nn::{ElementType, Model, Tensor};
use edge_infer_guest::{Request, Response, config, models};
use serde::{Deserialize, Serialize};

use crate::tokenizer::Tokenizer;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    sentences: Vec<String>,
}

#[derive(Serialize)]
struct Answer {
    model: String,
    dimensions: usize,
    embeddings: Vec<Vec<f32>>,
    /// Tokens per sentence, `[CLS]` and `[SEP]` included.
    tokens: Vec<usize>,
    /// Whether each sentence was cut at `max_tokens`.
    truncated: Vec<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_ids: Option<Vec<Vec<u32>>>,
}

struct Settings {
    alias: String,
    vocab_key: String,
    max_tokens: usize,
    lowercase: bool,
    normalize: bool,
    pad_to: usize,
    max_sentences: usize,
}

fn handle(req: Request) -> Response {
    run(&req).unwrap_or_else(|error| error)
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    Response::error(400, "bad_request", message)
}

fn bad_model(message: impl std::fmt::Display) -> Response {
    Response::error(500, "bad_model", message)
}

fn run(req: &Request) -> Result<Response, Response> {
    let settings = settings()?;
    let with_ids = match req.query("tokens").as_deref().map(str::trim) {
        None | Some("false" | "0") => false,
        Some("" | "true" | "1") => true,
        Some(other) => return Err(bad_request(format!("tokens must be true or false, got {other:?}"))),
    };
    let sentences = sentences(req)?;
    if sentences.is_empty() {
        return Err(bad_request("no sentences: send {\"sentences\": [\"…\"]}"));
    }
    if sentences.len() > settings.max_sentences {
        return Err(Response::error(
            413,
            "too_many_sentences",
            format!(
                "{} sentences; this endpoint takes at most {} per request",
                sentences.len(),
                settings.max_sentences
            ),
        ));
    }

    let info = models::info(&settings.alias)?;
    let vocab = info.metadata(&settings.vocab_key).ok_or_else(|| {
        bad_model(format!(
            "model {} has no metadata {:?}: add the tokenizer's vocab.txt to the ONNX file's metadata_props \
             under that key (models/derive.py, recipe `metadata`)",
            settings.alias, settings.vocab_key
        ))
    })?;
    let tokenizer = Tokenizer::from_vocab_txt(vocab, settings.lowercase)
        .map_err(|e| bad_model(format!("model {}: metadata {:?}: {e}", settings.alias, settings.vocab_key)))?;
    let inputs = InputNames::of(&settings.alias, &info)?;
    let model = Model::load(&settings.alias)?;

    let mut answer = Answer {
        model: settings.alias.clone(),
        dimensions: 0,
        embeddings: Vec::with_capacity(sentences.len()),
        tokens: Vec::with_capacity(sentences.len()),
        truncated: Vec::with_capacity(sentences.len()),
        token_ids: with_ids.then(Vec::new),
    };
    for sentence in &sentences {
        let encoding = tokenizer.encode(sentence, settings.max_tokens);
        let embedding = embed(&model, &inputs, &encoding.ids, settings.pad_to, tokenizer.len())?;
        let embedding = if settings.normalize { l2_normalized(embedding) } else { embedding };
        answer.dimensions = embedding.len();
        answer.embeddings.push(embedding);
        answer.tokens.push(encoding.ids.len());
        answer.truncated.push(encoding.truncated);
        if let Some(ids) = answer.token_ids.as_mut() {
            ids.push(encoding.ids);
        }
    }
    Ok(Response::json(200, &answer))
}

fn sentences(req: &Request) -> Result<Vec<String>, Response> {
    let plain = match req.content_type().as_deref() {
        Some("text/plain") => true,
        None | Some("application/json") => false,
        Some(other) => {
            return Err(Response::error(
                415,
                "unsupported_media_type",
                format!(
                    "content-type {other}: send application/json ({{\"sentences\": […]}}) or text/plain (one per line)"
                ),
            ));
        }
    };
    let text = std::str::from_utf8(&req.body).map_err(|e| bad_request(format!("the body is not UTF-8: {e}")))?;
    if !plain {
        return serde_json::from_str::<Body>(text)
            .map(|body| body.sentences)
            .map_err(|e| bad_request(format!("the body is not {{\"sentences\": [\"…\", …]}}: {e}")));
    }
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Ok(Vec::new());
    }
    Ok(text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line).to_owned()).collect())
}

/// The model's three inputs, found by their usual names.
struct InputNames {
    ids: String,
    mask: Option<String>,
    types: Option<String>,
}

impl InputNames {
    fn of(alias: &str, info: &models::ModelInfo) -> Result<InputNames, Response> {
        let find = |name: &str| info.inputs.iter().find(|i| i.name == name).map(|i| i.name.clone());
        let ids = find("input_ids").ok_or_else(|| {
            let names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
            bad_model(format!("model {alias} has no input_ids input (it has {names:?})"))
        })?;
        for input in &info.inputs {
            if input.element_type != models::ElementType::I64 {
                return Err(bad_model(format!(
                    "model {alias}: input {} is {}, not i64",
                    input.name, input.element_type
                )));
            }
        }
        Ok(InputNames { ids, mask: find("attention_mask"), types: find("token_type_ids") })
    }
}

fn i64_tensor(values: &[i64]) -> Tensor {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    Tensor::new(&[1, values.len() as u32], ElementType::I64, data)
}

/// The mean of the model's output over the sentence's real tokens.
fn embed(model: &Model, inputs: &InputNames, ids: &[u32], pad_to: usize, vocab: usize) -> Result<Vec<f32>, Response> {
    let len = ids.len();
    // Padding is only harmless when the model can be told which tokens are real.
    let pad_to = if inputs.mask.is_some() { pad_to } else { 1 };
    let padded = len.div_ceil(pad_to) * pad_to;
    let mut input_ids = vec![0i64; padded];
    let mut mask = vec![0i64; padded];
    for (i, &id) in ids.iter().enumerate() {
        debug_assert!((id as usize) < vocab);
        input_ids[i] = i64::from(id);
        mask[i] = 1;
    }
    let mut named = vec![(inputs.ids.clone(), i64_tensor(&input_ids))];
    if let Some(name) = &inputs.mask {
        named.push((name.clone(), i64_tensor(&mask)));
    }
    if let Some(name) = &inputs.types {
        named.push((name.clone(), i64_tensor(&vec![0; padded])));
    }
    let outputs = model.compute(named)?;
    let (name, hidden) = outputs.first().ok_or_else(|| bad_model("the model returned no outputs"))?;
    let dims = hidden.dims();
    let [1, tokens, width] = *dims else {
        return Err(bad_model(format!("output {name} has dims {dims:?}, expected [1, tokens, width]")));
    };
    if tokens as usize != padded {
        return Err(bad_model(format!("output {name} has {tokens} tokens for {padded} in")));
    }
    let values = hidden.to_f32().ok_or_else(|| bad_model(format!("output {name} is {}, not f32", hidden.ty())))?;
    let width = width as usize;
    let mut sum = vec![0.0f64; width];
    for row in values.chunks_exact(width).take(len) {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += f64::from(*v);
        }
    }
    Ok(sum.into_iter().map(|s| (s / len as f64) as f32).collect())
}

fn l2_normalized(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    // sentence-transformers divides by max(norm, 1e-12).
    let norm = norm.max(1e-12);
    v.into_iter().map(|x| (f64::from(x) / norm) as f32).collect()
}

/// A whole number from config `name`, at least `min`.
fn number(name: &str, default: usize, min: usize) -> Result<usize, Response> {
    let Some(value) = config::get(name) else {
        return Ok(default);
    };
    match value.trim().parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(bad_model(format!("endpoint config {name} must be a whole number of at least {min}, got {value:?}"))),
    }
}

fn boolean(name: &str, default: bool) -> Result<bool, Response> {
    match config::get(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(bad_model(format!("endpoint config {name} must be true or false, got {other:?}"))),
    }
}

fn settings() -> Result<Settings, Response> {
    Ok(Settings {
        alias: config::get("model").unwrap_or_else(|| "model".to_owned()),
        vocab_key: config::get("vocab_key").unwrap_or_else(|| "vocab".to_owned()),
        max_tokens: number("max_tokens", 256, 2)?,
        lowercase: boolean("lowercase", true)?,
        normalize: boolean("normalize", true)?,
        pad_to: number("pad_to", 16, 1)?,
        max_sentences: number("max_sentences", 64, 1)?,
    })
}

edge_infer_guest::endpoint!(handle);

#[cfg(test)]
mod tests;

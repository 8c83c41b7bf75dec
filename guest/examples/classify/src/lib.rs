//! Image classification: a PNG or JPEG in, the top-k labels out.
//!
//! The body is decoded, resized so its short side is 256 (Lanczos3), centre-cropped to 224×224,
//! scaled to 0–1 and normalised with the ImageNet mean and deviation, and fed as f32
//! `[1,3,224,224]` (RGB planes) to the model's first input. The first output holds the class
//! probabilities, labelled from the model's metadata.
//!
//! Config keys: `model` (the alias to load, default `model`), `labels_key` (the metadata key
//! holding the labels, default `character`), `top_k` (default 5), `softmax` (`true` when the
//! model outputs logits). `?top_k=N` overrides the config.
//!
//! Answers `{"model":ALIAS,"predictions":[{"label","index","probability"},…]}`, most probable
//! first; a body that is not an image is a 400 `bad_image`.

mod labels;
mod preprocess;
mod ranking;

use edge_infer_guest::nn::{Model, Tensor};
use edge_infer_guest::{Request, Response, config, models};
use ranking::{Prediction, predictions};
use serde::Serialize;

#[derive(Serialize)]
struct Answer<'a> {
    model: &'a str,
    predictions: Vec<Prediction>,
}

fn handle(req: Request) -> Response {
    run(&req).unwrap_or_else(|error| error)
}

fn run(req: &Request) -> Result<Response, Response> {
    let alias = config::get("model").unwrap_or_else(|| "model".to_owned());
    let top_k = top_k(req)?;
    if req.body.is_empty() {
        return Err(Response::error(400, "bad_image", "the body is empty: send the image's PNG or JPEG bytes"));
    }
    let pixels = preprocess::imagenet_224(&req.body)
        .map_err(|e| Response::error(400, "bad_image", format!("the body is not a PNG or JPEG image: {e}")))?;

    let model = Model::load(&alias)?;
    let info = models::info(&alias)?;
    let input = info
        .inputs
        .first()
        .ok_or_else(|| Response::error(500, "bad_model", format!("model {alias} declares no inputs")))?;
    let tensor = Tensor::from_f32(&preprocess::SHAPE, &pixels);
    let outputs = model.compute(vec![(input.name.clone(), tensor)])?;
    let (output_name, output) = outputs
        .first()
        .ok_or_else(|| Response::error(500, "bad_model", format!("model {alias} returned no outputs")))?;
    let mut scores = output.to_f32().ok_or_else(|| {
        Response::error(500, "bad_model", format!("output {output_name} is {}, not f32", output.ty()))
    })?;
    if config::get("softmax").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        softmax(&mut scores);
    }

    let labels_key = config::get("labels_key").unwrap_or_else(|| "character".to_owned());
    let labels = info.metadata(&labels_key).map(labels::split).unwrap_or_default();
    Ok(Response::json(200, &Answer { model: &alias, predictions: predictions(&scores, &labels, top_k) }))
}

/// `?top_k=N`, else config `top_k`, else 5.
fn top_k(req: &Request) -> Result<usize, Response> {
    let Some(value) = req.query("top_k").or_else(|| config::get("top_k")) else {
        return Ok(5);
    };
    match value.trim().parse::<usize>() {
        Ok(k) if k > 0 => Ok(k),
        _ => Err(Response::error(
            400,
            "bad_request",
            format!("top_k must be a whole number of at least 1, got {value:?}"),
        )),
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    if sum > 0.0 {
        scores.iter_mut().for_each(|s| *s /= sum);
    }
}

edge_infer_guest::endpoint!(handle);

#[cfg(test)]
mod tests;

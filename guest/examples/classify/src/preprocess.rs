//! ImageNet-style pre-processing, exactly as the models we serve were trained with:
//! short side to 256 (Lanczos3), centre crop 224×224, `(pixel/255 - mean) / std`, RGB planes.

use image::RgbImage;
use image::imageops::{self, FilterType};

/// The side of the square the model sees.
const SIDE: u32 = 224;
/// The short side the image is resized to before cropping.
const SHORT_SIDE: u32 = 256;
const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The input tensor's shape: one image, three planes of 224×224.
pub(crate) const SHAPE: [u32; 4] = [1, 3, SIDE, SIDE];

/// Decodes a PNG or JPEG and returns the NCHW f32 values for [`SHAPE`].
pub(crate) fn imagenet_224(bytes: &[u8]) -> Result<Vec<f32>, String> {
    let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?;
    if image.width() == 0 || image.height() == 0 {
        return Err(format!("the image is {}x{}", image.width(), image.height()));
    }
    Ok(normalise(&resize_and_crop(&image.to_rgb8())))
}

/// The size with the short side at 256 and the long side scaled to match, rounded.
pub(crate) fn resized_size(width: u32, height: u32) -> (u32, u32) {
    // round(long * 256 / short), in integers: exact, and halves round up as f64::round does.
    let scale = |long: u32, short: u32| {
        let (long, short) = (u64::from(long), u64::from(short));
        let rounded = (2 * long * u64::from(SHORT_SIDE) + short) / (2 * short);
        u32::try_from(rounded).unwrap_or(u32::MAX)
    };
    if width <= height { (SHORT_SIDE, scale(height, width)) } else { (scale(width, height), SHORT_SIDE) }
}

pub(crate) fn resize_and_crop(image: &RgbImage) -> RgbImage {
    let (width, height) = resized_size(image.width(), image.height());
    let resized = imageops::resize(image, width, height, FilterType::Lanczos3);
    let left = (width - SIDE) / 2;
    let top = (height - SIDE) / 2;
    imageops::crop_imm(&resized, left, top, SIDE, SIDE).to_image()
}

/// `(pixel/255 - mean) / std`, laid out as three planes R, G, B.
pub(crate) fn normalise(image: &RgbImage) -> Vec<f32> {
    let plane = (image.width() * image.height()) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            let v = f32::from(pixel[c]) / 255.0;
            out[c * plane + i] = (v - MEAN[c]) / STD[c];
        }
    }
    out
}

//! The image work of PP-OCR's pre-processing, as rapidocr does it with OpenCV: a BGR byte image,
//! `cv2.resize` (bilinear, half-pixel centres, no anti-aliasing) to a height of 48, `cv2.rotate` by
//! 180°, and the `(x/255 - 0.5) / 0.5` planes zero-padded on the right.

/// An 8-bit, 3-channel image in BGR order, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bgr {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) data: Vec<u8>,
}

impl Bgr {
    /// Decodes a PNG or JPEG; grey images are repeated into three channels, alpha is dropped.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Bgr, String> {
        let image = image::load_from_memory(bytes).map_err(|e| e.to_string())?.to_rgb8();
        let (width, height) = (image.width() as usize, image.height() as usize);
        if width == 0 || height == 0 {
            return Err(format!("the image is {width}x{height}"));
        }
        let mut data = image.into_raw();
        for pixel in data.chunks_exact_mut(3) {
            pixel.swap(0, 2);
        }
        Ok(Bgr { width, height, data })
    }

    /// The image turned by 180° (`cv2.rotate(img, cv2.ROTATE_180)`).
    pub(crate) fn rotated_180(&self) -> Bgr {
        let mut data = Vec::with_capacity(self.data.len());
        for pixel in self.data.chunks_exact(3).rev() {
            data.extend_from_slice(pixel);
        }
        Bgr { width: self.width, height: self.height, data }
    }

    /// `cv2.resize(img, (width, height))` with the default bilinear filter: each output pixel samples
    /// the source at `(x + 0.5) * scale - 0.5`, clamped at the edges, and is rounded to a byte. OpenCV
    /// computes in fixed point; this agrees with it to ±1 in a byte.
    pub(crate) fn resized(&self, width: usize, height: usize) -> Bgr {
        let xs = taps(width, self.width);
        let ys = taps(height, self.height);
        let row_len = self.width * 3;
        let mut data = vec![0u8; width * height * 3];
        let mut row = vec![0f32; width * 3];
        let mut next = vec![0f32; width * 3];
        for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
            horizontal(&self.data[y0 * row_len..(y0 + 1) * row_len], &xs, &mut row);
            horizontal(&self.data[y1 * row_len..(y1 + 1) * row_len], &xs, &mut next);
            let out = &mut data[y * width * 3..(y + 1) * width * 3];
            for ((o, a), b) in out.iter_mut().zip(&row).zip(&next) {
                *o = (a * (1.0 - fy) + b * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
        Bgr { width, height, data }
    }

    /// `(x/255 - 0.5) / 0.5` as three planes (B, G, R) of `height × padded_width`, the image on the left
    /// and zeros to its right.
    pub(crate) fn normalized_planes(&self, padded_width: usize) -> Vec<f32> {
        debug_assert!(padded_width >= self.width);
        let plane = self.height * padded_width;
        let mut out = vec![0.0f32; 3 * plane];
        for y in 0..self.height {
            for x in 0..self.width {
                let at = (y * self.width + x) * 3;
                for c in 0..3 {
                    let v = f32::from(self.data[at + c]) / 255.0;
                    out[c * plane + y * padded_width + x] = (v - 0.5) / 0.5;
                }
            }
        }
        out
    }
}

/// For each output position: the two source positions and the weight of the second, as OpenCV's
/// `INTER_LINEAR` picks them.
fn taps(out: usize, src: usize) -> Vec<(usize, usize, f32)> {
    let scale = src as f64 / out as f64;
    (0..out)
        .map(|i| {
            let f = ((i as f64 + 0.5) * scale - 0.5) as f32;
            let s = f.floor();
            let (s, f) = if s < 0.0 {
                (0, 0.0)
            } else if s as usize >= src - 1 {
                (src - 1, 0.0)
            } else {
                (s as usize, f - s)
            };
            (s, (s + 1).min(src - 1), f)
        })
        .collect()
}

fn horizontal(src: &[u8], xs: &[(usize, usize, f32)], out: &mut [f32]) {
    for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
        for c in 0..3 {
            let a = f32::from(src[x0 * 3 + c]);
            let b = f32::from(src[x1 * 3 + c]);
            out[x * 3 + c] = a * (1.0 - fx) + b * fx;
        }
    }
}

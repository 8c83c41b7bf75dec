//! Byte images with 1 to 4 interleaved channels, and OpenCV's bilinear resize (`cv2.resize` with
//! `INTER_LINEAR`: half-pixel centres, edges clamped, no anti-aliasing, rounded to bytes).

/// An 8-bit image, row-major, `channels` interleaved bytes per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pixels {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) channels: usize,
    pub(crate) data: Vec<u8>,
}

impl Pixels {
    /// The image resized to `width × height`; agrees with OpenCV's fixed point to ±1 in a byte.
    pub(crate) fn resized(&self, width: usize, height: usize) -> Pixels {
        let c = self.channels;
        let xs = taps(width, self.width);
        let ys = taps(height, self.height);
        let row_len = self.width * c;
        let mut data = vec![0u8; width * height * c];
        let mut top = vec![0f32; width * c];
        let mut bottom = vec![0f32; width * c];
        for (y, &(y0, y1, fy)) in ys.iter().enumerate() {
            horizontal(&self.data[y0 * row_len..(y0 + 1) * row_len], c, &xs, &mut top);
            horizontal(&self.data[y1 * row_len..(y1 + 1) * row_len], c, &xs, &mut bottom);
            let out = &mut data[y * width * c..(y + 1) * width * c];
            for ((o, a), b) in out.iter_mut().zip(&top).zip(&bottom) {
                *o = (a * (1.0 - fy) + b * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
        Pixels { width, height, channels: c, data }
    }
}

/// For each output position: the two source positions and the weight of the second.
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

fn horizontal(src: &[u8], channels: usize, xs: &[(usize, usize, f32)], out: &mut [f32]) {
    for (x, &(x0, x1, fx)) in xs.iter().enumerate() {
        for c in 0..channels {
            let a = f32::from(src[x0 * channels + c]);
            let b = f32::from(src[x1 * channels + c]);
            out[x * channels + c] = a * (1.0 - fx) + b * fx;
        }
    }
}

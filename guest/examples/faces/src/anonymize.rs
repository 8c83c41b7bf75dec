//! deface's anonymisation, on the photo itself: each face's box, cut to whole pixels, is grown by the
//! mask scale (1.3: 30% of its size on every side, rounded half to even as `np.round`) and clipped to
//! the photo; then either an ellipse inscribed in it (or the whole rectangle) is replaced by a box blur
//! of the region with a kernel half its size (`cv2.blur`, reflected borders inside the region), or the
//! region becomes a mosaic of 20-pixel cells, each filled with the colour of its top-left pixel
//! (`cv2.rectangle` with both corners included, as deface draws it).

use crate::pixels::Pixels;

/// How faces are hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    Blur { ellipse: bool },
    Mosaic { cell: usize },
}

/// deface's region for a face box: `[x1, y1, x2, y2]`, `x2`/`y2` at most the last column/row.
pub(crate) fn region(bbox: [f32; 4], mask_scale: f64, width: usize, height: usize) -> [i64; 4] {
    // boxes.astype(int), then scale_bb in float64, then np.round.
    let [x1, y1, x2, y2] = bbox.map(|v| v as i64);
    let s = mask_scale - 1.0;
    let (h, w) = ((y2 - y1) as f64, (x2 - x1) as f64);
    let grow = |v: i64, by: f64| (v as f64 + by).round_ties_even() as i64;
    let (x1, y1, x2, y2) = (grow(x1, -w * s), grow(y1, -h * s), grow(x2, w * s), grow(y2, h * s));
    [x1.max(0), y1.max(0), x2.min(width as i64 - 1), y2.min(height as i64 - 1)]
}

/// Hides one region of `image` (all channels but an alpha channel).
pub(crate) fn apply(image: &mut Pixels, region: [i64; 4], filter: Filter) {
    let [x1, y1, x2, y2] = region;
    if x2 <= x1 || y2 <= y1 {
        return;
    }
    let (x1, y1, x2, y2) = (x1 as usize, y1 as usize, x2 as usize, y2 as usize);
    match filter {
        Filter::Blur { ellipse } => blur(image, x1, y1, x2, y2, ellipse),
        Filter::Mosaic { cell } => mosaic(image, x1, y1, x2, y2, cell.max(1)),
    }
}

/// The colour channels: all of them, or all but the last for grey+alpha and RGBA.
fn colour_channels(channels: usize) -> usize {
    match channels {
        2 | 4 => channels - 1,
        c => c,
    }
}

/// `cv2.blur(frame[y1:y2, x1:x2], (w // 2, h // 2))`, pasted back inside the inscribed ellipse
/// (`skimage.draw.ellipse(h//2, w//2, h//2, w//2)`) or everywhere.
fn blur(image: &mut Pixels, x1: usize, y1: usize, x2: usize, y2: usize, ellipse: bool) {
    let (w, h) = (x2 - x1, y2 - y1);
    let (kw, kh) = (w / 2, h / 2);
    if kw == 0 || kh == 0 {
        return;
    }
    let c = image.channels;
    let colours = colour_channels(c);
    // Reflect-101 inside the region: -1 -> 1, n -> n - 2.
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        if n == 1 {
            return 0;
        }
        while i < 0 || i >= n {
            i = if i < 0 { -i } else { 2 * n - 2 - i };
        }
        i as usize
    };
    let (ax, ay) = ((kw / 2) as isize, (kh / 2) as isize);
    let at = |x: usize, y: usize, ch: usize| ((y1 + y) * image.width + x1 + x) * c + ch;
    // Horizontal sums, then vertical sums of those.
    let mut rows = vec![0u32; w * h * colours];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..colours {
                let mut sum = 0u32;
                for k in 0..kw as isize {
                    sum += u32::from(image.data[at(reflect(x as isize - ax + k, w), y, ch)]);
                }
                rows[(y * w + x) * colours + ch] = sum;
            }
        }
    }
    let area = (kw * kh) as f64;
    let (ry, rx) = (h / 2, w / 2);
    for y in 0..h {
        for x in 0..w {
            if ellipse && !inside_ellipse(x, y, rx, ry) {
                continue;
            }
            for ch in 0..colours {
                let mut sum = 0u32;
                for k in 0..kh as isize {
                    sum += rows[(reflect(y as isize - ay + k, h) * w + x) * colours + ch];
                }
                image.data[at(x, y, ch)] = (f64::from(sum) / area).round_ties_even().min(255.0) as u8;
            }
        }
    }
}

/// skimage's ellipse of centre and radii `(ry, rx)`: `((y-ry)/ry)² + ((x-rx)/rx)² < 1`.
fn inside_ellipse(x: usize, y: usize, rx: usize, ry: usize) -> bool {
    if rx == 0 || ry == 0 {
        return false;
    }
    let dy = (y as f64 - ry as f64) / ry as f64;
    let dx = (x as f64 - rx as f64) / rx as f64;
    dy * dy + dx * dx < 1.0
}

fn mosaic(image: &mut Pixels, x1: usize, y1: usize, x2: usize, y2: usize, cell: usize) {
    let c = image.channels;
    let colours = colour_channels(c);
    for y in (y1..y2).step_by(cell) {
        for x in (x1..x2).step_by(cell) {
            let start = (y * image.width + x) * c;
            let colour: Vec<u8> = image.data[start..start + colours].to_vec();
            for yy in y..=(y + cell - 1).min(y2) {
                for xx in x..=(x + cell - 1).min(x2) {
                    let p = (yy * image.width + xx) * c;
                    image.data[p..p + colours].copy_from_slice(&colour);
                }
            }
        }
    }
}

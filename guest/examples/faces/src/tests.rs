//! Decoding, suppression and the anonymisation regions, checked natively (`cargo test --target` your
//! host triple).

use crate::anonymize::{Filter, apply, region};
use crate::detect::{Face, Maps, faces, input_size, nms};
use crate::pixels::Pixels;

fn face(bbox: [f32; 4], score: f32) -> Face {
    Face { bbox, score, landmarks: [[0.0; 2]; 5] }
}

#[test]
fn inputs_are_rounded_up_to_multiples_of_32() {
    assert_eq!(input_size(512, 512), (512, 512));
    assert_eq!(input_size(700, 430), (704, 448));
    assert_eq!(input_size(1, 33), (32, 64));
}

#[test]
fn suppression_keeps_the_best_of_overlapping_faces_in_their_order() {
    let faces = [
        face([0.0, 0.0, 10.0, 10.0], 0.5),
        face([1.0, 1.0, 11.0, 11.0], 0.9),
        face([50.0, 50.0, 60.0, 60.0], 0.3),
        face([0.0, 0.0, 10.0, 2.0], 0.4),
    ];
    // 0 overlaps 1 with IoU 81/119 > 0.3; 3 overlaps 0 by 20/100 = 0.2 and 1 by 9/111: both < 0.3.
    assert_eq!(nms(&faces, 0.3), [false, true, true, true]);
}

#[test]
fn one_heatmap_peak_is_one_face_scaled_back_to_the_photo() {
    // 2x2 maps (an 8x8 input) for a 4x8 photo: one cell above the threshold at row 1, column 0.
    let heatmap = [0.1, 0.1, 0.9, 0.1];
    let scale = [0.0, 0.0, 2f32.ln(), 0.0, 0.0, 0.0, 1f32.ln(), 0.0]; // s0 = 8, s1 = 4
    let offset = [0.0, 0.0, 0.25, 0.0, 0.0, 0.0, 0.5, 0.0];
    let mut landmarks = [0.0f32; 40];
    landmarks[2] = 0.5; // y of point 0 at cell 2: 0.5 * s0
    landmarks[4 + 2] = 0.25; // x of point 0: 0.25 * s1
    let maps = Maps { heatmap: &heatmap, scale: &scale, offset: &offset, landmarks: &landmarks, rows: 2, cols: 2 };
    let found = faces(&maps, 0.2, (8, 8), (4, 8));
    assert_eq!(found.len(), 1);
    let f = &found[0];
    // x1 = (0 + 0.5 + 0.5) * 4 - 2 = 2, y1 = (1 + 0.25 + 0.5) * 4 - 4 = 3; x2 = min(6, 8), y2 = min(11, 8).
    // Scaled back: x by 8/4 = 2, y by 1.
    assert_eq!(f.bbox, [1.0, 3.0, 3.0, 8.0]);
    assert_eq!(f.score, 0.9);
    assert_eq!(f.landmarks[0], [(0.25 * 4.0 + 2.0) / 2.0, 0.5 * 8.0 + 3.0]);
}

#[test]
fn regions_grow_by_the_mask_scale_and_stay_inside() {
    // A 10x20 box grows by 30% on each side: 3 and 6 pixels. A 10x5 one by 3 and 1.5000000000000002
    // (1.3 - 1 in f64), so y1 = 2 - 1.5… rounds to 0 and y2 = 8.5 to 8 (half to even, as np.round).
    assert_eq!(region([10.9, 20.0, 20.0, 40.0], 1.3, 100, 100), [7, 14, 23, 46]);
    assert_eq!(region([5.0, 2.5, 15.0, 7.5], 1.3, 100, 100), [2, 0, 18, 8]);
    assert_eq!(region([0.0, 0.0, 100.0, 50.0], 1.3, 100, 50), [0, 0, 99, 49]);
}

fn ramp(width: usize, height: usize, channels: usize) -> Pixels {
    let data = (0..width * height * channels).map(|i| (i * 37 % 251) as u8).collect();
    Pixels { width, height, channels, data }
}

fn changed_outside(a: &Pixels, b: &Pixels, [x1, y1, x2, y2]: [i64; 4]) -> bool {
    (0..a.height).any(|y| {
        (0..a.width).any(|x| {
            let inside = (x1..=x2).contains(&(x as i64)) && (y1..=y2).contains(&(y as i64));
            let p = (y * a.width + x) * a.channels;
            !inside && a.data[p..p + a.channels] != b.data[p..p + a.channels]
        })
    })
}

#[test]
fn blur_and_mosaic_change_only_the_region() {
    let original = ramp(40, 30, 3);
    let r = [5, 4, 25, 20];
    for filter in [Filter::Blur { ellipse: true }, Filter::Blur { ellipse: false }, Filter::Mosaic { cell: 6 }] {
        let mut image = original.clone();
        apply(&mut image, r, filter);
        assert_ne!(image, original, "{filter:?}");
        assert!(!changed_outside(&original, &image, r), "{filter:?}");
    }
    // A flat region blurs to itself.
    let mut flat = Pixels { width: 10, height: 10, channels: 1, data: vec![77; 100] };
    apply(&mut flat, [0, 0, 9, 9], Filter::Blur { ellipse: false });
    assert!(flat.data.iter().all(|&v| v == 77));
    // Alpha is left alone.
    let mut rgba = ramp(12, 12, 4);
    let before = rgba.clone();
    apply(&mut rgba, [0, 0, 11, 11], Filter::Mosaic { cell: 4 });
    assert!(rgba.data.chunks(4).zip(before.data.chunks(4)).all(|(a, b)| a[3] == b[3]));
}

#[test]
fn resize_is_opencv_bilinear() {
    let row = Pixels { width: 3, height: 1, channels: 1, data: vec![0, 100, 200] };
    assert_eq!(row.resized(6, 1).data, [0, 25, 75, 125, 175, 200]);
}

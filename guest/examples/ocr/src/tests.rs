//! Decoding and pixel work, checked natively (`cargo test --target` your host triple).

use crate::ctc::{classes, decode, split_lines};
use crate::pixels::Bgr;
use crate::resized_width;

#[test]
fn the_character_list_splits_like_python_splitlines() {
    assert_eq!(split_lines("a\nb\r\nc\rd\u{2028}e\n"), ["a", "b", "c", "d", "e"]);
    assert_eq!(split_lines("a\n\nb"), ["a", "", "b"]);
    assert!(split_lines("").is_empty());
    assert_eq!(classes("x\ny"), ["blank", "x", "y", " "]);
}

#[test]
fn ctc_collapses_repeats_and_drops_blanks() {
    let classes = classes("a\nb");
    // steps: a a blank a b b blank -> "aab"; a space at the end is a class too.
    let p = |best: usize, prob: f32| {
        let mut row = vec![0.0; 4];
        row[best] = prob;
        row
    };
    let probs: Vec<f32> =
        [p(1, 0.9), p(1, 0.5), p(0, 0.8), p(1, 0.7), p(2, 0.6), p(2, 0.9), p(0, 0.9), p(3, 0.8)].concat();
    let (text, score) = decode(&probs, &classes);
    assert_eq!(text, "aab ");
    assert!((score - (0.9 + 0.7 + 0.6 + 0.8) / 4.0).abs() < 1e-6, "{score}");
    assert_eq!(decode(&[0.9, 0.1, 0.0, 0.0], &classes), (String::new(), 0.0));
}

#[test]
fn resize_is_opencv_bilinear() {
    // One row 0, 100, 200 (every channel): doubled, OpenCV gives 0 25 75 125 175 200.
    let data: Vec<u8> = [0u8, 100, 200].iter().flat_map(|&v| [v, v, v]).collect();
    let row = Bgr { width: 3, height: 1, data };
    let wide = row.resized(6, 1);
    let got: Vec<u8> = wide.data.chunks(3).map(|p| p[0]).collect();
    assert_eq!(got, [0, 25, 75, 125, 175, 200]);
    // Halved: the mean of each pair.
    let data: Vec<u8> = [10u8, 20, 30, 40].iter().flat_map(|&v| [v, v, v]).collect();
    let got: Vec<u8> = Bgr { width: 4, height: 1, data }.resized(2, 1).data.chunks(3).map(|p| p[0]).collect();
    assert_eq!(got, [15, 35]);
}

#[test]
fn planes_are_bgr_normalised_and_padded() {
    let line = Bgr { width: 2, height: 1, data: vec![255, 0, 51, 0, 255, 0] };
    let planes = line.normalized_planes(3);
    assert_eq!(planes, [1.0, -1.0, 0.0, -1.0, 1.0, 0.0, -0.6, -1.0, 0.0]);
    let turned = line.rotated_180();
    assert_eq!(turned.data, [0, 255, 0, 255, 0, 51]);
}

#[test]
fn widths_follow_rapidocr() {
    assert_eq!(resized_width(438, 48), 438);
    assert_eq!(resized_width(177, 32), 266);
    assert_eq!(resized_width(784, 64), 588);
}

#[test]
fn a_png_decodes_to_bgr() {
    let image = image::RgbImage::from_pixel(2, 1, image::Rgb([10, 20, 30]));
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    assert_eq!(Bgr::decode(&png).unwrap().data, [30, 20, 10, 30, 20, 10]);
    assert!(Bgr::decode(b"no").is_err());
}

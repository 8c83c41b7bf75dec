//! Pre-processing, label parsing and ranking, checked natively (`cargo test --target` your host triple).

use image::{ImageFormat, Rgb, RgbImage};

use crate::{Prediction, labels, predictions, preprocess, softmax};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn labels_come_in_every_format() {
    let four = strings(&["0", "90", "180", "270"]);
    for value in [
        "0 90 180 270",
        "0\n90\n180\n270\n",
        "0\r\n90\r\n180\r\n270",
        "0,90,180,270",
        "0, 90, 180, 270,",
        r#"["0","90","180","270"]"#,
        "[0, 90, 180, 270]",
        "['0', '90', '180', '270']",
        r#"{"0":"0","1":"90","2":"180","3":"270"}"#,
        "  0   90\t180 270  ",
    ] {
        assert_eq!(labels::split(value), four, "{value:?}");
    }
    assert_eq!(labels::split("cat\n\ndog"), strings(&["cat", "", "dog"]));
    assert_eq!(labels::split("tabby cat\ngolden retriever"), strings(&["tabby cat", "golden retriever"]));
    assert!(labels::split("").is_empty());
}

#[test]
fn predictions_rank_cap_and_fall_back_to_indices() {
    let scores = [0.1, 0.6, 0.05, 0.25];
    let labels = strings(&["0", "90", ""]);
    let top = predictions(&scores, &labels, 10);
    let expected = [("90", 1, 0.6), ("3", 3, 0.25), ("0", 0, 0.1), ("2", 2, 0.05)];
    assert_eq!(top.len(), 4);
    for (p, (label, index, probability)) in top.iter().zip(expected) {
        assert_eq!(p, &Prediction { label: label.to_owned(), index, probability });
    }
    assert_eq!(predictions(&scores, &[], 1)[0].label, "1");
}

#[test]
fn softmax_sums_to_one() {
    let mut s = [1.0, 2.0, 3.0];
    softmax(&mut s);
    assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    assert!(s[2] > s[1] && s[1] > s[0]);
}

#[test]
fn the_short_side_becomes_256() {
    assert_eq!(preprocess::resized_size(640, 480), (341, 256)); // 341.33
    assert_eq!(preprocess::resized_size(480, 640), (256, 341));
    assert_eq!(preprocess::resized_size(300, 300), (256, 256));
    assert_eq!(preprocess::resized_size(200, 1000), (256, 1280));
    assert_eq!(preprocess::resized_size(3, 2), (384, 256));
    assert_eq!(preprocess::resized_size(1024, 683), (384, 256)); // 383.76
}

#[test]
fn a_png_becomes_normalised_planes() {
    // Left half red, right half blue: after the centre crop the halves stay put.
    let image = RgbImage::from_fn(400, 300, |x, _| if x < 200 { Rgb([255, 0, 0]) } else { Rgb([0, 0, 255]) });
    let mut png = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
    let values = preprocess::imagenet_224(&png).unwrap();
    assert_eq!(values.len(), 3 * 224 * 224);
    let at = |c: usize, y: usize, x: usize| values[c * 224 * 224 + y * 224 + x];
    let red_r = (1.0 - 0.485) / 0.229;
    let red_b = (0.0 - 0.406) / 0.225;
    assert!((at(0, 100, 10) - red_r).abs() < 1e-5, "{}", at(0, 100, 10));
    assert!((at(2, 100, 10) - red_b).abs() < 1e-5);
    assert!((at(0, 100, 213) - (0.0 - 0.485) / 0.229).abs() < 1e-5);
    assert!(preprocess::imagenet_224(b"not an image").is_err());
}

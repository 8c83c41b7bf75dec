//! The top-k classes of a score vector, as `classify` answers them. Shared, as source, with the preview 1
//! `classify-wasi-nn` example (`#[path]`), so that both answer byte for byte alike.

use serde::Serialize;

/// One class of the answer.
#[derive(Serialize, Debug, PartialEq)]
pub(crate) struct Prediction {
    pub(crate) label: String,
    pub(crate) index: usize,
    pub(crate) probability: f32,
}

/// The `k` most probable classes (at most all of them), most probable first; ties keep index order.
/// A class without a label (or with an empty one) is labelled with its index.
pub(crate) fn predictions(scores: &[f32], labels: &[String], k: usize) -> Vec<Prediction> {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .into_iter()
        .take(k)
        .map(|(index, probability)| Prediction {
            label: labels.get(index).filter(|l| !l.is_empty()).cloned().unwrap_or_else(|| index.to_string()),
            index,
            probability,
        })
        .collect()
}

//! Class labels from a model's metadata value, whatever list format its exporter chose.
//!
//! Seen in the wild: one label per line (PaddleOCR character sets), space- or comma-separated
//! (`0 90 180 270`), JSON lists (`["0","90"]`), Python reprs (`['0', '90']`) and JSON maps
//! from index to label (`{"0": "cat", "1": "dog"}`, Hugging Face's `id2label`).

use serde_json::Value;

/// Splits a metadata value into labels, index by index. An entry may be empty where the list
/// has a gap; the caller labels such a class with its index.
pub(crate) fn split(value: &str) -> Vec<String> {
    let trimmed = value.trim();
    if let Some(inner) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        if let Ok(items) = serde_json::from_str::<Vec<Value>>(trimmed) {
            return items.into_iter().map(label_of).collect();
        }
        let unquote = |s: &str| s.trim().trim_matches(|c| c == '\'' || c == '"').to_owned();
        return without_trailing_empty(inner.split(',').map(unquote).collect());
    }
    if trimmed.starts_with('{')
        && let Ok(map) = serde_json::from_str::<serde_json::Map<String, Value>>(trimmed)
    {
        return from_index_map(map);
    }
    if trimmed.contains('\n') {
        let lines = trimmed.lines().map(|l| l.trim().to_owned()).collect();
        return without_trailing_empty(lines);
    }
    if trimmed.contains(',') {
        let items = trimmed.split(',').map(|l| l.trim().to_owned()).collect();
        return without_trailing_empty(items);
    }
    trimmed.split_whitespace().map(str::to_owned).collect()
}

fn label_of(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn from_index_map(map: serde_json::Map<String, Value>) -> Vec<String> {
    let mut labels = Vec::new();
    for (key, value) in map {
        // An index past any sensible class count is a key we do not understand: skip it.
        let Some(index) = key.trim().parse::<usize>().ok().filter(|&i| i < 1 << 20) else {
            continue;
        };
        if labels.len() <= index {
            labels.resize(index + 1, String::new());
        }
        labels[index] = label_of(value);
    }
    labels
}

fn without_trailing_empty(mut labels: Vec<String>) -> Vec<String> {
    while labels.last().is_some_and(String::is_empty) {
        labels.pop();
    }
    labels
}

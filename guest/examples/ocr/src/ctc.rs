//! CTC greedy decoding, as PaddleOCR's `CTCLabelDecode`: the best class per time step, repeats
//! collapsed, blanks (class 0) dropped; the score is the mean of the kept steps' probabilities.

/// The classes of a recogniser whose model lists its characters: `blank`, the characters, then a space.
pub(crate) fn classes(character_metadata: &str) -> Vec<String> {
    let mut classes = vec!["blank".to_owned()];
    classes.extend(split_lines(character_metadata).into_iter().map(str::to_owned));
    classes.push(" ".to_owned());
    classes
}

/// Python's `str.splitlines()`, which rapidocr reads the `character` metadata with: every Unicode line
/// boundary ends a line, `\r\n` is one boundary, and a final boundary starts no empty line.
pub(crate) fn split_lines(text: &str) -> Vec<&str> {
    const BOUNDARIES: [char; 10] =
        ['\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}', '\u{2029}'];
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if BOUNDARIES.contains(&c) {
            lines.push(&text[start..i]);
            start = i + c.len_utf8();
            if c == '\r' && chars.peek().is_some_and(|&(_, n)| n == '\n') {
                chars.next();
                start += 1;
            }
        }
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// The decoded text and its score from `probs`, `steps × classes.len()` row-major.
pub(crate) fn decode(probs: &[f32], classes: &[String]) -> (String, f32) {
    let width = classes.len();
    let mut text = String::new();
    let mut kept = Vec::new();
    let mut previous = None;
    for step in probs.chunks_exact(width) {
        // The first maximum, as numpy's argmax.
        let (best, p) =
            step.iter().enumerate().fold((0, f32::NEG_INFINITY), |acc, (i, &p)| if p > acc.1 { (i, p) } else { acc });
        if best != 0 && previous != Some(best) {
            text.push_str(&classes[best]);
            kept.push(p);
        }
        previous = Some(best);
    }
    let score = if kept.is_empty() {
        0.0
    } else {
        (kept.iter().map(|&p| f64::from(p)).sum::<f64>() / kept.len() as f64) as f32
    };
    (text, score)
}

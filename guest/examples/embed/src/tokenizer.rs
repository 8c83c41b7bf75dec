//! A BERT WordPiece tokenizer that splits text exactly as Hugging Face's `tokenizers` does for
//! `BertNormalizer` + `BertPreTokenizer` + `WordPiece` + the `[CLS] … [SEP]` template (the
//! `tokenizer.json` of all-MiniLM-L6-v2 and of every BERT-uncased model):
//!
//! 1. clean: drop NUL, U+FFFD and control/format/unassigned/private-use characters, turn every
//!    whitespace character (tab, newline and Unicode spaces included) into a space;
//! 2. put spaces around CJK ideographs, so that each is a word;
//! 3. when lower-casing: decompose (NFD) and drop non-spacing marks (accents), then lower-case
//!    character by character;
//! 4. split on whitespace and isolate every punctuation character (ASCII punctuation and Unicode `P*`);
//! 5. WordPiece: the longest vocabulary entry first, continuations prefixed `##`; a word with a piece
//!    not in the vocabulary, or longer than 100 characters, becomes `[UNK]`;
//! 6. truncate to `max_tokens - 2` pieces and wrap them in `[CLS]` … `[SEP]`.
//!
//! The character classes come from the same `unicode_categories` tables `tokenizers` uses.

use std::collections::HashMap;

use unicode_categories::UnicodeCategories;
use unicode_normalization::UnicodeNormalization;

/// Words longer than this (in characters) are `[UNK]`, as in BERT.
const MAX_CHARS_PER_WORD: usize = 100;
const CONTINUATION: &str = "##";

/// A vocabulary and the special tokens' ids.
#[derive(Debug)]
pub(crate) struct Tokenizer {
    vocab: HashMap<String, u32>,
    unk: u32,
    cls: u32,
    sep: u32,
    lowercase: bool,
}

/// One sentence's token ids, `[CLS]` and `[SEP]` included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Encoding {
    pub(crate) ids: Vec<u32>,
    /// Whether pieces were cut off at the end to fit.
    pub(crate) truncated: bool,
}

impl Tokenizer {
    /// A tokenizer over a `vocab.txt`: one token per line, its id the line's index.
    pub(crate) fn from_vocab_txt(text: &str, lowercase: bool) -> Result<Tokenizer, String> {
        let mut vocab = HashMap::with_capacity(text.len() / 7);
        // As `tokenizers` reads vocab.txt: trailing whitespace trimmed, a later duplicate wins.
        for (id, line) in text.lines().enumerate() {
            let id = u32::try_from(id).map_err(|_| "the vocabulary has more than 2^32 entries".to_owned())?;
            vocab.insert(line.trim_end().to_owned(), id);
        }
        let special =
            |token: &str| vocab.get(token).copied().ok_or_else(|| format!("the vocabulary has no {token} token"));
        Ok(Tokenizer { unk: special("[UNK]")?, cls: special("[CLS]")?, sep: special("[SEP]")?, vocab, lowercase })
    }

    /// How many entries the vocabulary has.
    pub(crate) fn len(&self) -> usize {
        self.vocab.len()
    }

    /// Token ids of `text`, at most `max_tokens` (at least 2) of them.
    pub(crate) fn encode(&self, text: &str, max_tokens: usize) -> Encoding {
        let normalized = normalize(text, self.lowercase);
        let budget = max_tokens.saturating_sub(2);
        let mut ids = vec![self.cls];
        let mut truncated = false;
        let mut piece = String::new();
        for word in pre_tokenize(&normalized) {
            let before = ids.len();
            self.word_pieces(word, &mut piece, &mut ids);
            if ids.len() - 1 > budget {
                truncated = true;
                ids.truncate(1 + budget);
                break;
            }
            debug_assert!(ids.len() > before);
        }
        ids.push(self.sep);
        Encoding { ids, truncated }
    }

    /// Appends the WordPiece ids of one word (or `[UNK]`), longest match first.
    fn word_pieces(&self, word: &str, piece: &mut String, out: &mut Vec<u32>) {
        if word.chars().count() > MAX_CHARS_PER_WORD {
            out.push(self.unk);
            return;
        }
        let first = out.len();
        let mut start = 0;
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                piece.clear();
                if start > 0 {
                    piece.push_str(CONTINUATION);
                }
                piece.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(piece.as_str()) {
                    found = Some(id);
                    break;
                }
                end -= word[start..end].chars().next_back().map_or(1, char::len_utf8);
            }
            let Some(id) = found else {
                out.truncate(first);
                out.push(self.unk);
                return;
            };
            out.push(id);
            start = end;
        }
    }
}

/// `BertNormalizer` with `clean_text`, `handle_chinese_chars`, and accents stripped when lower-casing.
pub(crate) fn normalize(text: &str, lowercase: bool) -> String {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\0' || c == '\u{FFFD}' || is_control(c) {
            continue;
        }
        if is_whitespace(c) {
            cleaned.push(' ');
        } else if is_chinese_char(c) {
            cleaned.push(' ');
            cleaned.push(c);
            cleaned.push(' ');
        } else {
            cleaned.push(c);
        }
    }
    if !lowercase {
        return cleaned;
    }
    let mut out = String::with_capacity(cleaned.len());
    for c in cleaned.nfd().filter(|c| !c.is_mark_nonspacing()) {
        out.extend(c.to_lowercase());
    }
    out
}

/// `BertPreTokenizer`: words split on whitespace, each punctuation character a word of its own.
pub(crate) fn pre_tokenize(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(|chunk| {
        let mut words = Vec::new();
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < i {
                    words.push(&chunk[start..i]);
                }
                words.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            words.push(&chunk[start..]);
        }
        words
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control, format, unassigned, private use and surrogate code points (tab, newline, return excepted).
fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK ideograph blocks BERT treats as one word per character.
fn is_chinese_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

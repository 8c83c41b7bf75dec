//! The tokenizer and pooling, checked natively (`cargo test --target` your host triple). The
//! end-to-end test (`tests/all/example_embed.rs`) compares token ids and vectors with Hugging Face's
//! tokenizer and onnxruntime on the real vocabulary.

use crate::l2_normalized;
use crate::tokenizer::{Tokenizer, normalize, pre_tokenize};

const VOCAB: &str = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\ncafe\nun\n##aff\n##able\n##a\n,\n!\n東\n京\nrun\n##ning\n";

fn tokenizer() -> Tokenizer {
    Tokenizer::from_vocab_txt(VOCAB, true).unwrap()
}

#[test]
fn normalisation_cleans_spaces_cjk_accents_and_case() {
    assert_eq!(normalize("Café\tNAÏVE\r\nx", true), "cafe naive  x");
    assert_eq!(normalize("Café", false), "Café");
    assert_eq!(normalize("a\u{0}b\u{7}c\u{200b}d\u{feff}e\u{fffd}f", true), "abcdef");
    assert_eq!(normalize("東京x", true), " 東  京 x");
    assert_eq!(normalize("a\u{a0}b\u{3000}c", true), "a b c");
    assert_eq!(normalize("İ ΣΑΣ", true), "i σασ", "per-character lower case: no final sigma");
}

#[test]
fn pre_tokenization_isolates_every_punctuation_mark() {
    let words: Vec<&str> = pre_tokenize("hello,world!! ¿que? a—b $5 €5  x").collect();
    assert_eq!(words, ["hello", ",", "world", "!", "!", "¿", "que", "?", "a", "—", "b", "$", "5", "€5", "x"]);
}

#[test]
fn wordpiece_takes_the_longest_piece_first_and_unknowns_whole_words() {
    let t = tokenizer();
    // [CLS]=2 the=4 un=6 ##aff=7 ##able=8 ,=10 running=14,15 !=11 [SEP]=3
    assert_eq!(t.encode("The unaffable, running!", 256).ids, [2, 4, 6, 7, 8, 10, 14, 15, 11, 3]);
    // "unaffablex" has no piece for the trailing "x": the whole word is [UNK].
    assert_eq!(t.encode("unaffablex the", 256).ids, [2, 1, 4, 3]);
    assert_eq!(t.encode("CAFÉ 東京", 256).ids, [2, 5, 12, 13, 3]);
    assert_eq!(t.encode(&"a".repeat(101), 256).ids, [2, 1, 3], "over 100 characters");
    assert_eq!(t.encode("", 256).ids, [2, 3]);
}

#[test]
fn long_sentences_are_truncated_to_max_tokens() {
    let t = tokenizer();
    let e = t.encode("the the the unaffable", 5);
    assert_eq!(e.ids, [2, 4, 4, 4, 3]);
    assert!(e.truncated);
    let e = t.encode("the unaffable", 5);
    assert_eq!(e.ids, [2, 4, 6, 7, 3], "cut inside a word, as tokenizers does");
    assert!(e.truncated);
    assert!(!t.encode("the the the", 5).truncated);
}

#[test]
fn a_vocabulary_without_special_tokens_is_refused() {
    let error = Tokenizer::from_vocab_txt("a\nb\n", true).unwrap_err();
    assert!(error.contains("[UNK]"), "{error}");
    assert_eq!(tokenizer().len(), 16);
}

#[test]
fn vectors_are_l2_normalised() {
    let v = l2_normalized(vec![3.0, 4.0]);
    assert_eq!(v, [0.6, 0.8]);
    assert_eq!(l2_normalized(vec![0.0, 0.0]), [0.0, 0.0]);
}

#!/usr/bin/env python3
"""Reference sentence embeddings of all-MiniLM-L6-v2 (int8) for the `embed` example.

    .venv/bin/python tests/reference/embed_reference.py \\
        --model models/all_minilm_l6_v2_int8.onnx \\
        --tokenizer models/files/all-MiniLM-L6-v2-tokenizer.json --dir tests/data/generated/embed

What sentence-transformers does for this model, without sentence-transformers (and torch):
  - tokenize with the model's own Hugging Face tokenizer (`tokenizer.json` through the `tokenizers`
    package: BERT normalisation, lower case, accents stripped, WordPiece, [CLS] ... [SEP]), truncated to
    256 tokens (the model's `max_seq_length`), not padded;
  - onnxruntime (CPUExecutionProvider, one thread) on each sentence alone: input_ids, attention_mask
    (ones), token_type_ids (zeros), i64 [1, tokens];
  - mean pooling over the tokens, then L2 normalisation.
Writes --dir/embed.json: the sentences, their token ids, their 384-dim embeddings, and the cosine
similarity of the issue's sanity pair (which must be 0.753 +- 0.01). The sentences cover what a
tokenizer port gets wrong: accents, case, CJK, punctuation of every script, symbols, emoji, control
characters, odd whitespace, words longer than the vocabulary has, an empty sentence and one past the
256-token limit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
MAX_TOKENS = 256
SANITY = ("A man is eating food.", "A man is eating a piece of bread.", 0.753)
SENTENCES = [
    SANITY[0],
    SANITY[1],
    "The girl is carrying a baby.",
    "A man is riding a white horse on an enclosed ground.",
    "Café naïve résumé: Ångström façade — ŒUVRE «déjà vu»!",
    "東京は日本の首都です。北京也是首都。",
    "Hello,world!!!How's it going?(fine)[ok]{yes}<no>",
    "Price: $45.99 + 7% tax = €49.21 (approx.) #deal @shop ~ ^_^ `code`",
    "I love pizza 🍕 and coffee ☕ so much😀!",
    "Tabs\tand\nnewlines\r\nand\u00a0non-breaking\u3000spaces   collapse.",
    "Control\u0000chars\u0007and\u200bzero\ufeffwidth\ufffdmarks vanish.",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 120 + " short",
    "¿Qué tal? ¡Muy bien! Dąbrowski Łódź Ñandú İstanbul ß straße ΑΘΗΝΑ ΟΔΥΣΣΕΥΣ Ελληνικά Привет мир",
    "한국어 텍스트와 ﬁ ligature and Ⅻ numerals",
    "",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 30),
]


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "all_minilm_l6_v2_int8.onnx")
    ap.add_argument("--tokenizer", type=Path, default=ROOT / "models" / "files" / "all-MiniLM-L6-v2-tokenizer.json")
    ap.add_argument("--dir", type=Path, default=ROOT / "tests" / "data" / "generated" / "embed")
    args = ap.parse_args(argv)
    for f in (args.model, args.tokenizer):
        if not f.is_file():
            sys.exit(f"embed_reference: error: {f} missing; run models/fetch.py and models/derive.py")
    args.dir.mkdir(parents=True, exist_ok=True)

    tokenizer = Tokenizer.from_file(str(args.tokenizer))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(args.model), so, providers=["CPUExecutionProvider"])

    token_ids, embeddings = [], []
    for sentence in SENTENCES:
        ids = np.array([tokenizer.encode(sentence).ids], dtype=np.int64)
        mask = np.ones_like(ids)
        (hidden,) = sess.run(["last_hidden_state"],
                             {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
        pooled = hidden[0].astype(np.float64).mean(axis=0)
        embeddings.append(pooled / np.linalg.norm(pooled))
        token_ids.append([int(i) for i in ids[0]])

    cosine = float(embeddings[0] @ embeddings[1])
    print(f"embed_reference: {len(SENTENCES)} sentences, {sum(map(len, token_ids))} tokens; "
          f"cos({SANITY[0]!r}, {SANITY[1]!r}) = {cosine:.4f}")
    doc = {
        "model": args.model.name,
        "model_sha256": hashlib.sha256(args.model.read_bytes()).hexdigest(),
        "max_tokens": MAX_TOKENS,
        "onnxruntime": ort.__version__,
        "sanity_cosine": cosine,
        "sentences": SENTENCES,
        "token_ids": token_ids,
        "embeddings": [[float(v) for v in e.astype(np.float32)] for e in embeddings],
    }
    write_atomic(args.dir / "embed.json", (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())
    print(f"embed_reference: wrote {args.dir / 'embed.json'}")
    if abs(cosine - SANITY[2]) > 0.01:
        print(f"embed_reference: error: the sanity pair's cosine is {cosine:.4f}, expected {SANITY[2]}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Text-line images for the `ocr` example and the answers of the rapidocr-onnxruntime package on them.

    .venv/bin/python tests/reference/ocr_reference.py \\
        --cls models/ch_ppocr_mobile_v2.0_cls_infer.onnx --rec models/ch_PP-OCRv4_rec_infer.onnx \\
        --dir tests/data/generated/ocr

Renders single lines of text with Pillow (DejaVu Sans, Debian fonts-dejavu-core) at several heights, so
that the recogniser's 48-pixel input is reached by enlarging, by shrinking and as it is; some lines are
turned by 180 degrees, one is a JPEG with coloured text on a tinted background (BGR order matters), one is
wider than the recogniser's default 320 pixels. too_wide.png (4000x8, blank) is not a line of text: the
endpoint must refuse it.

The reference is the package itself (rapidocr-onnxruntime 1.4.4, onnxruntime): its LoadImage (Pillow ->
BGR), its TextClassifier (3x48x192, label "180" with a score above 0.9 turns the line) and its
TextRecognizer (height 48, width ceil(48*w/h) padded to at least 320, (x/255-0.5)/0.5, CTC greedy
decoding with the `character` list from the model's metadata, blank first and a space last), one image at
a time — what `RapidOCR()(path, use_det=False)` does for these sizes. Writes --dir/ocr.json with, per
image: the classifier's label and score, the text and its score (mean of the kept characters' maxima).
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
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

# name -> (text, font size, height, rotated by 180, text colour, background, format)
LINES = {
    "edge_48.png": ("Edge inference at every node", 28, 48, False, "black", "white", "PNG"),
    "edge_180.png": ("Edge inference at every node", 28, 48, True, "black", "white", "PNG"),
    "invoice_64.png": ("Invoice 2026-11-29: total 1,234.56 EUR", 38, 64, False, "black", "white", "PNG"),
    "hello_32.png": ("HELLO WORLD 42", 18, 32, False, "black", "white", "PNG"),
    "fox_180.png": ("The quick brown fox jumps over the lazy dog.", 28, 48, True, "black", "white", "PNG"),
    "long_40.png": ("Edge inference moves the model to the data instead of moving the data to the model.",
                    24, 40, False, "black", "white", "PNG"),
    "colour_56.jpg": ("Sandboxed wasm guests, shared models", 32, 56, False, (150, 20, 30), (210, 230, 250), "JPEG"),
}


def write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def render(text: str, size: int, height: int, rotated: bool, ink, paper, fmt: str) -> bytes:
    font = ImageFont.truetype(str(FONT), size)
    left, top, right, bottom = font.getbbox(text)
    pad = height // 4
    image = Image.new("RGB", (right + 2 * pad, height), paper)
    # Centre the glyphs' box vertically.
    ImageDraw.Draw(image).text((pad, (height - (bottom - top)) // 2 - top), text, font=font, fill=ink)
    if rotated:
        image = image.transpose(Image.Transpose.ROTATE_180)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x.{fmt.lower()}"
        image.save(path, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
        return path.read_bytes()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cls", type=Path, default=ROOT / "models" / "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    ap.add_argument("--rec", type=Path, default=ROOT / "models" / "ch_PP-OCRv4_rec_infer.onnx")
    ap.add_argument("--dir", type=Path, default=ROOT / "tests" / "data" / "generated" / "ocr")
    args = ap.parse_args(argv)
    for f in (args.cls, args.rec):
        if not f.is_file():
            sys.exit(f"ocr_reference: error: {f} missing; run .venv/bin/python models/fetch.py")
    if not FONT.is_file():
        sys.exit(f"ocr_reference: error: {FONT} missing (Debian: apt-get install fonts-dejavu-core)")
    args.dir.mkdir(parents=True, exist_ok=True)

    # The package, configured as RapidOCR() configures it, with our pinned model files. Imported late:
    # it pulls in OpenCV.
    import rapidocr_onnxruntime
    from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
    from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
    from rapidocr_onnxruntime.utils import LoadImage, read_yaml

    config = read_yaml(str(Path(rapidocr_onnxruntime.__file__).parent / "config.yaml"))
    for part, model in (("Cls", args.cls), ("Rec", args.rec)):
        config[part]["model_path"] = str(model)
        config[part]["intra_op_num_threads"] = 1
        config[part]["inter_op_num_threads"] = 1
    classifier = TextClassifier(config["Cls"])
    recognizer = TextRecognizer(config["Rec"])
    load = LoadImage()

    # Not a line of text: 24000 pixels wide at a height of 48, which the endpoint refuses.
    with tempfile.TemporaryDirectory() as tmp:
        Image.new("L", (4000, 8), 255).save(Path(tmp) / "w.png")
        write_atomic(args.dir / "too_wide.png", (Path(tmp) / "w.png").read_bytes())

    lines = {}
    failures = []
    for name, (text, size, height, rotated, ink, paper, fmt) in LINES.items():
        data = render(text, size, height, rotated, ink, paper, fmt)
        write_atomic(args.dir / name, data)
        image = load(data)
        turned, cls_res, _ = classifier([image])
        (label, cls_score), = cls_res
        ((found, score),), _ = recognizer(turned)
        lines[name] = {
            "rendered": text,
            "rotated": rotated,
            "height": int(image.shape[0]),
            "width": int(image.shape[1]),
            "angle": label,
            "angle_score": float(cls_score),
            "text": found,
            "score": float(score),
        }
        print(f"ocr_reference: {name:15s} {image.shape[1]:4d}x{image.shape[0]:<3d} angle {label:>3s} "
              f"({cls_score:.3f})  {found!r} ({score:.4f})")
        if not rotated and found.strip() != text:
            failures.append(f"{name}: the package reads {found!r}, rendered {text!r}")

    doc = {
        "cls_model": args.cls.name,
        "cls_sha256": hashlib.sha256(args.cls.read_bytes()).hexdigest(),
        "rec_model": args.rec.name,
        "rec_sha256": hashlib.sha256(args.rec.read_bytes()).hexdigest(),
        "cls_labels": config["Cls"]["label_list"],
        "cls_thresh": config["Cls"]["cls_thresh"],
        "lines": lines,
    }
    write_atomic(args.dir / "ocr.json", (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode())
    print(f"ocr_reference: wrote {args.dir / 'ocr.json'}")
    if failures:
        print("ocr_reference: error:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
